/*-------------------------------------------------------------------------
 *
 * slice_dest.c
 *	  DestReceiver that writes a source's rows into a swap's new heap.
 *
 * The swap strategy runs the source through SPI with this receiver, which
 * does for each row what INSERT would do on the old partition ("model"):
 * checks the feature time against the slice, lays the columns out in the
 * table's order, fills defaults for columns the source leaves out, checks
 * NOT NULL and CHECK constraints under the partition's own names, and then
 * writes the row into the new heap ("into") with a bulk-insert state, frozen
 * (the heap was created in this transaction, as in REFRESH MATERIALIZED
 * VIEW).  Indexes are built later, once, by the exchange.
 *
 * Per-row memory lives in the executor state's per-tuple context, reset
 * after every row.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/slice_dest.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "rewrite/rewriteHandler.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

typedef struct SliceDest
{
	DestReceiver pub;
	Relation	model;
	Relation	into;
	const FsbSource *src;
	TimestampTz slice_start;
	TimestampTz slice_stop;
	const char *feature_set;

	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *out;
	ExprState **defaults;		/* per attribute of model, or NULL */
	BulkInsertState bistate;
	CommandId	cid;
	bool		check_constraints;
	uint64		rows;
} SliceDest;

static void
slice_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	SliceDest  *d = (SliceDest *) self;
	TupleDesc	desc = RelationGetDescr(d->model);
	bool	   *supplied = palloc0(sizeof(bool) * desc->natts);
	MemoryContext old;

	if (typeinfo->natts != d->src->natts)
		elog(ERROR, "source returned %d columns, expected %d",
			 typeinfo->natts, d->src->natts);

	d->estate = CreateExecutorState();
	d->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d->rri, d->model, 0, NULL, 0);
	d->out = table_slot_create(d->into, NULL);
	d->bistate = GetBulkInsertState();
	d->cid = GetCurrentCommandId(true);
	d->check_constraints = desc->constr != NULL;

	for (int i = 0; i < d->src->natts; i++)
		supplied[d->src->target_attnum[i] - 1] = true;

	old = MemoryContextSwitchTo(d->estate->es_query_cxt);
	d->defaults = palloc0(sizeof(ExprState *) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Node	   *expr;

		if (supplied[i] || TupleDescAttr(desc, i)->attisdropped)
			continue;
		expr = build_column_default(d->model, i + 1);
		if (expr != NULL)
			d->defaults[i] = ExecPrepareExpr((Expr *) expr, d->estate);
	}
	MemoryContextSwitchTo(old);
}

static bool
slice_receive(TupleTableSlot *slot, DestReceiver *self)
{
	SliceDest  *d = (SliceDest *) self;
	TupleTableSlot *out = d->out;
	ExprContext *econtext = GetPerTupleExprContext(d->estate);
	int			natts = out->tts_tupleDescriptor->natts;
	int			t = d->src->time_index;

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	fsb_check_row_time(DatumGetTimestampTz(slot->tts_values[t]),
					   slot->tts_isnull[t], d->slice_start, d->slice_stop,
					   d->feature_set);

	ExecClearTuple(out);
	for (int i = 0; i < natts; i++)
	{
		out->tts_values[i] = (Datum) 0;
		out->tts_isnull[i] = true;
	}
	for (int i = 0; i < d->src->natts; i++)
	{
		AttrNumber	attnum = d->src->target_attnum[i];

		out->tts_values[attnum - 1] = slot->tts_values[i];
		out->tts_isnull[attnum - 1] = slot->tts_isnull[i];
	}
	for (int i = 0; i < natts; i++)
	{
		if (d->defaults[i] != NULL)
			out->tts_values[i] = ExecEvalExprSwitchContext(d->defaults[i],
														   econtext,
														   &out->tts_isnull[i]);
	}
	ExecStoreVirtualTuple(out);

	if (d->check_constraints)
		ExecConstraints(d->rri, out, d->estate);

	table_tuple_insert(d->into, out, d->cid,
					   TABLE_INSERT_SKIP_FSM | TABLE_INSERT_FROZEN, d->bistate);
	d->rows++;
	ResetPerTupleExprContext(d->estate);
	return true;
}

static void
slice_shutdown(DestReceiver *self)
{
	SliceDest  *d = (SliceDest *) self;

	FreeBulkInsertState(d->bistate);
	table_finish_bulk_insert(d->into, TABLE_INSERT_SKIP_FSM | TABLE_INSERT_FROZEN);
	ExecDropSingleTupleTableSlot(d->out);
	FreeExecutorState(d->estate);
	d->estate = NULL;
}

static void
slice_destroy(DestReceiver *self)
{
	pfree(self);
}

/*
 * A receiver writing rows shaped like "src" into "into", a new heap with the
 * layout of "model".  Both relations stay open and locked by the caller.
 */
DestReceiver *
fsb_slice_dest_create(Relation model, Relation into, const FsbSource *src,
					  TimestampTz slice_start, TimestampTz slice_stop,
					  const char *feature_set)
{
	SliceDest  *d = palloc0(sizeof(SliceDest));

	d->pub.receiveSlot = slice_receive;
	d->pub.rStartup = slice_startup;
	d->pub.rShutdown = slice_shutdown;
	d->pub.rDestroy = slice_destroy;
	d->pub.mydest = DestNone;
	d->model = model;
	d->into = into;
	d->src = src;
	d->slice_start = slice_start;
	d->slice_stop = slice_stop;
	d->feature_set = feature_set;
	return &d->pub;
}

/* Rows written so far. */
uint64
fsb_slice_dest_rows(DestReceiver *dest)
{
	return ((SliceDest *) dest)->rows;
}
