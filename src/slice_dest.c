/*-------------------------------------------------------------------------
 *
 * slice_dest.c
 *	  DestReceiver that writes a source's rows into a swap's new heap.
 *
 * The swap strategy runs the source through SPI with this receiver, which
 * does for each row what INSERT INTO the target would do for the partition
 * ("model") the row is routed to: checks the feature time against the
 * slice, lays the columns out in the partition's order (which may differ
 * from the parent's: dropped columns, attach order), fills the parent's
 * defaults for columns the source leaves out, checks NOT NULL and CHECK
 * constraints under the partition's own names, and then writes the row into
 * the new heap ("into"), which has the partition's physical layout.  Rows
 * are buffered and written with table_multi_insert(), frozen, through a
 * bulk-insert state, as COPY FREEZE does: the heap was created in this
 * transaction.  Indexes are built once the heap is full (swap.c).
 *
 * Per-row memory lives in the executor state's per-tuple context, reset
 * after every row; buffered rows are materialized in their own slots.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/slice_dest.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/attmap.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "rewrite/rewriteHandler.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

/* Rows buffered for one table_multi_insert() call, as COPY FROM does. */
#define FSB_MULTI_INSERT_ROWS 1000

#define FSB_INSERT_OPTIONS (TABLE_INSERT_SKIP_FSM | TABLE_INSERT_FROZEN)

typedef struct SliceDest
{
	DestReceiver pub;
	Relation	target;			/* the parent: column names and defaults */
	Relation	model;			/* the partition being replaced */
	Relation	into;			/* the new heap, laid out like model */
	const FsbSource *src;
	TimestampTz slice_start;
	TimestampTz slice_stop;
	const char *feature_set;

	AttrNumber *positions;		/* per source column, attnum in model */
	ExprState **defaults;		/* per attribute of model, or NULL */
	EState	   *estate;
	ResultRelInfo *rri;
	bool		check_constraints;
	BulkInsertState bistate;
	CommandId	cid;
	TupleTableSlot *slots[FSB_MULTI_INSERT_ROWS];
	int			nbuffered;
	uint64		rows;
} SliceDest;

static void
slice_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	SliceDest  *d = (SliceDest *) self;
	TupleDesc	desc = RelationGetDescr(d->model);
	AttrMap    *map = build_attrmap_by_name(RelationGetDescr(d->target), desc);
	bool	   *supplied = palloc0(sizeof(bool) * (RelationGetDescr(d->target)->natts + 1));
	MemoryContext old;

	if (typeinfo->natts != d->src->natts)
		elog(ERROR, "source returned %d columns, expected %d",
			 typeinfo->natts, d->src->natts);

	d->estate = CreateExecutorState();
	d->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d->rri, d->model, 0, NULL, 0);
	d->check_constraints = desc->constr != NULL;
	d->bistate = GetBulkInsertState();
	d->cid = GetCurrentCommandId(true);
	for (int i = 0; i < FSB_MULTI_INSERT_ROWS; i++)
		d->slots[i] = table_slot_create(d->into, NULL);

	old = MemoryContextSwitchTo(d->estate->es_query_cxt);

	/* map->attnums[i] is the parent's attnum of model's attribute i + 1 */
	d->positions = palloc0(sizeof(AttrNumber) * d->src->natts);
	for (int j = 0; j < d->src->natts; j++)
	{
		supplied[d->src->target_attnum[j]] = true;
		for (int i = 0; i < map->maplen; i++)
			if (map->attnums[i] == d->src->target_attnum[j])
				d->positions[j] = i + 1;
		if (d->positions[j] == 0)
			elog(ERROR, "column %d of the source has no place in partition \"%s\"",
				 j + 1, RelationGetRelationName(d->model));
	}

	/* Omitted columns get the parent's defaults, as INSERT INTO it would. */
	d->defaults = palloc0(sizeof(ExprState *) * desc->natts);
	for (int i = 0; i < map->maplen; i++)
	{
		Node	   *expr;

		if (map->attnums[i] == 0 || supplied[map->attnums[i]])
			continue;
		expr = build_column_default(d->target, map->attnums[i]);
		if (expr != NULL)
			d->defaults[i] = ExecPrepareExpr((Expr *) expr, d->estate);
	}
	MemoryContextSwitchTo(old);
}

/* Writes the buffered rows. */
static void
flush_rows(SliceDest *d)
{
	if (d->nbuffered == 0)
		return;
	table_multi_insert(d->into, d->slots, d->nbuffered, d->cid,
					   FSB_INSERT_OPTIONS, d->bistate);
	for (int i = 0; i < d->nbuffered; i++)
		ExecClearTuple(d->slots[i]);
	d->nbuffered = 0;
}

static bool
slice_receive(TupleTableSlot *slot, DestReceiver *self)
{
	SliceDest  *d = (SliceDest *) self;
	TupleTableSlot *out = d->slots[d->nbuffered];
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
	for (int j = 0; j < d->src->natts; j++)
	{
		out->tts_values[d->positions[j] - 1] = slot->tts_values[j];
		out->tts_isnull[d->positions[j] - 1] = slot->tts_isnull[j];
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

	/* The source's slot is reused for its next row: keep a copy. */
	ExecMaterializeSlot(out);
	ResetPerTupleExprContext(d->estate);
	d->rows++;
	if (++d->nbuffered == FSB_MULTI_INSERT_ROWS)
		flush_rows(d);
	return true;
}

static void
slice_shutdown(DestReceiver *self)
{
	SliceDest  *d = (SliceDest *) self;

	flush_rows(d);
	FreeBulkInsertState(d->bistate);
	table_finish_bulk_insert(d->into, FSB_INSERT_OPTIONS);
	for (int i = 0; i < FSB_MULTI_INSERT_ROWS; i++)
		ExecDropSingleTupleTableSlot(d->slots[i]);
	FreeExecutorState(d->estate);
	d->estate = NULL;
}

static void
slice_destroy(DestReceiver *self)
{
	pfree(self);
}

/*
 * A receiver writing rows shaped like "src" (columns of "target") into
 * "into", a new heap with the layout of partition "model".  All three
 * relations stay open and locked by the caller.
 */
DestReceiver *
fsb_slice_dest_create(Relation target, Relation model, Relation into,
					  const FsbSource *src, TimestampTz slice_start,
					  TimestampTz slice_stop, const char *feature_set)
{
	SliceDest  *d = palloc0(sizeof(SliceDest));

	d->pub.receiveSlot = slice_receive;
	d->pub.rStartup = slice_startup;
	d->pub.rShutdown = slice_shutdown;
	d->pub.rDestroy = slice_destroy;
	d->pub.mydest = DestNone;
	d->target = target;
	d->model = model;
	d->into = into;
	d->src = src;
	d->slice_start = slice_start;
	d->slice_stop = slice_stop;
	d->feature_set = feature_set;
	return &d->pub;
}

/* Rows received so far. */
uint64
fsb_slice_dest_rows(DestReceiver *dest)
{
	return ((SliceDest *) dest)->rows;
}
