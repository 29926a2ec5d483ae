/*-------------------------------------------------------------------------
 *
 * swap.c
 *	  The swap strategy: build a partition's new contents beside it, then
 *	  exchange the storage.
 *
 * Build.  The partition is locked in EXCLUSIVE mode, so readers go on and
 * writers wait; a new heap with its exact physical layout (make_new_heap,
 * as CLUSTER and REFRESH MATERIALIZED VIEW use) is filled from the source
 * through slice_dest.c, without indexes.
 *
 * Exchange, at the end of the backfill.  ACCESS EXCLUSIVE on every swapped
 * partition is taken by polling ConditionalLockRelationOid(), all within one
 * fs_backfill.swap_lock_timeout: we never sit in a lock queue, so readers
 * never wait behind us while we wait.  With the lock, finish_heap_swap()
 * exchanges the relfilenodes, rebuilds the partition's indexes on the new
 * data with sorted builds, and drops the new heap (now holding the old
 * storage, freed at commit).  The partition keeps its OID, name, owner,
 * grants, constraints, indexes, defaults and partition bound: only its
 * storage changes.  Readers of that partition wait from here to commit.
 *
 * A partition whose lock is not had in time gets its new heap copied in by
 * delete_insert (replace.c) instead, and the heap dropped: the source is not re-run.
 *
 * Like TRUNCATE, a swap is not MVCC-safe: a REPEATABLE READ transaction that
 * started before the commit sees the new rows (they are frozen) if it reads
 * the partition after the commit.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/swap.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/multixact.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/cluster.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

/* How often a waiting exchange retries its lock, in milliseconds. */
#define FSB_SWAP_LOCK_RETRY_MS 10

/*
 * Counts the rows of a partition the caller owns and has locked against
 * writers.  A page marked all-visible holds only rows every snapshot sees,
 * one per normal line pointer, so while every page is all-visible (as after
 * a swap or a VACUUM) the count reads no tuple; otherwise it is a plain
 * SELECT count(*).  A swapped slice is the whole partition: no filter.
 */
static int64
count_partition(Relation part)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(part);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	int64		rows = 0;
	bool		all_visible = true;

	for (BlockNumber blkno = 0; blkno < nblocks && all_visible; blkno++)
	{
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(part, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		all_visible = PageIsAllVisible(page);
		for (OffsetNumber off = FirstOffsetNumber;
			 all_visible && off <= PageGetMaxOffsetNumber(page); off++)
			if (ItemIdIsNormal(PageGetItemId(page, off)))
				rows++;
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);
	if (all_visible)
		return rows;

	return fsb_spi_count(psprintf("SELECT count(*) FROM ONLY %s",
								  fsb_relation_name(part)),
						 0, NULL, NULL);
}

/*
 * Builds the new contents of step's partition from the source; returns the
 * OID of the new heap, the partition's rows before (counted under the lock
 * that keeps writers out) and the rows built.
 */
Oid
fsb_swap_build(Relation target, const FsbStep *step, const FsbSource *src,
			   const FsbFeatureSet *fs, int64 *rows_before, int64 *rows_after)
{
	Relation	part = table_open(step->partition, ExclusiveLock);
	Oid			transient;
	Relation	into;
	DestReceiver *dest;
	ParamListInfo params = makeParamList(2);
	SPIExecuteOptions options;
	int			rc;

	*rows_before = count_partition(part);
	transient = make_new_heap(step->partition, part->rd_rel->reltablespace,
							  part->rd_rel->relam,
							  part->rd_rel->relpersistence, ExclusiveLock);
	into = table_open(transient, AccessExclusiveLock);
	dest = fsb_slice_dest_create(target, part, into, src, step->slice_start,
								 step->slice_stop, fs->name);

	for (int i = 0; i < 2; i++)
	{
		params->params[i].ptype = TIMESTAMPTZOID;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].isnull = false;
	}
	params->params[0].value = TimestampTzGetDatum(step->slice_start);
	params->params[1].value = TimestampTzGetDatum(step->slice_stop);

	memset(&options, 0, sizeof(options));
	options.params = params;
	options.dest = dest;

	/* The source is the caller's query: caller's rights and search_path. */
	SPI_connect();
	rc = SPI_execute_extended(src->text, &options);
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute_extended failed: %s",
			 SPI_result_code_string(rc));
	SPI_finish();

	*rows_after = (int64) fsb_slice_dest_rows(dest);
	dest->rDestroy(dest);
	table_close(into, NoLock);
	table_close(part, NoLock);
	return transient;
}

/*
 * Takes ACCESS EXCLUSIVE on as many of the n partitions as it can within one
 * fs_backfill.swap_lock_timeout, without ever joining a lock queue; sets
 * locked[i] for those it got.
 */
static void
lock_partitions(const Oid *partitions, int n, bool *locked)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   fsb_swap_lock_timeout);

	for (;;)
	{
		bool		missing = false;

		for (int i = 0; i < n; i++)
		{
			if (!locked[i] && OidIsValid(partitions[i]))
			{
				locked[i] = ConditionalLockRelationOid(partitions[i],
													   AccessExclusiveLock);
				missing |= !locked[i];
			}
		}
		if (!missing || GetCurrentTimestamp() >= deadline)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 FSB_SWAP_LOCK_RETRY_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Exchanges a locked partition's storage with its new heap and rebuilds its
 * indexes on the new rows.
 */
static void
exchange(Oid partition, Oid transient)
{
	Relation	part = table_open(partition, NoLock);
	char		relpersistence = part->rd_rel->relpersistence;

	CheckTableNotInUse(part, "fs_backfill");
	/* Like TRUNCATE and CLUSTER: serializable readers see a conflict. */
	CheckTableForSerializableConflictIn(part);
	TransferPredicateLocksToHeapRelation(part);
	table_close(part, NoLock);

	finish_heap_swap(partition, transient, false, false, true, true,
					 RecentXmin, ReadNextMultiXactId(), relpersistence);
}

/*
 * Copies a built new heap into its partition by delete_insert, then drops it.
 */
static void
abandon(Relation target, const FsbStep *step, const FsbFeatureSet *fs,
		Oid transient, int64 *deleted, int64 *inserted)
{
	TupleDesc	desc = RelationGetDescr(target);
	FsbSource	copy;
	StringInfoData sql;
	ObjectAddress object;
	AttrNumber *attnums = palloc(sizeof(AttrNumber) * desc->natts);
	int			n = 0;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped)
			continue;
		if (strcmp(NameStr(attr->attname), fs->time_column) == 0)
			copy.time_index = n;
		appendStringInfo(&sql, "%s%s", n > 0 ? ", " : "",
						 quote_identifier(NameStr(attr->attname)));
		attnums[n++] = attr->attnum;
	}
	appendStringInfo(&sql, " FROM %s",
					 fsb_qualified_name(get_rel_namespace(transient),
										get_rel_name(transient)));
	copy.text = sql.data;
	copy.natts = n;
	copy.target_attnum = attnums;
	copy.fits_heap = true;

	fsb_replace_delete_insert(target, step, &copy, fs, deleted, inserted);

	object.classId = RelationRelationId;
	object.objectId = transient;
	object.objectSubId = 0;
	performDeletion(&object, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
}

/*
 * Exchanges the swapped partitions whose locks are had within the swap lock
 * timeout; copies the others' new heaps in by delete_insert.
 */
void
fsb_swap_exchange_all(Relation target, const FsbPlan *plan,
					  const FsbFeatureSet *fs, const Oid *transients,
					  FsbStepResult *results)
{
	TimestampTz t0 = GetCurrentTimestamp();
	Oid		   *partitions = palloc0(sizeof(Oid) * plan->nsteps);
	bool	   *locked = palloc0(sizeof(bool) * plan->nsteps);
	double		waited;

	for (int i = 0; i < plan->nsteps; i++)
		if (OidIsValid(transients[i]))
			partitions[i] = plan->steps[i].partition;
	lock_partitions(partitions, plan->nsteps, locked);
	waited = (GetCurrentTimestamp() - t0) / (double) USECS_PER_SEC;

	for (int i = 0; i < plan->nsteps; i++)
	{
		const FsbStep *step = &plan->steps[i];
		TimestampTz t1 = GetCurrentTimestamp();

		if (!OidIsValid(transients[i]))
			continue;
		if (locked[i])
			exchange(step->partition, transients[i]);
		else
		{
			ereport(NOTICE,
					(errmsg("could not lock partition \"%s\" within fs_backfill.swap_lock_timeout; replacing it by delete_insert",
							get_rel_name(step->partition))));
			abandon(target, step, fs, transients[i],
					&results[i].rows_before, &results[i].rows_after);
			results[i].strategy = FSB_STRATEGY_DELETE_INSERT;
		}
		results[i].seconds += waited +
			(GetCurrentTimestamp() - t1) / (double) USECS_PER_SEC;
	}
}
