/*-------------------------------------------------------------------------
 *
 * swap.c
 *	  The swap strategy: build a partition's new contents beside it, heap and
 *	  indexes, then exchange the storage under a short lock.
 *
 * Build.  The partition is locked in EXCLUSIVE mode, so readers go on and
 * writers wait; a new heap with its exact physical layout (make_new_heap,
 * as CLUSTER and REFRESH MATERIALIZED VIEW use) is filled from the source
 * through slice_dest.c.  Then, still before any lock that stops readers,
 * every index of the partition gets a copy built on the new heap: same
 * access method, columns, expressions, predicate, operator classes and
 * their options, collations, column options, reloptions and tablespace,
 * taken from the catalogs (index_create, then index_build with sorted
 * and, for btree, parallel builds).  A copy is a plain index: it checks
 * uniqueness, and an exclusion constraint's operators are handed to its
 * build so that they are checked too, but it has no pg_constraint row and
 * is attached to no parent index.  It is named "<new heap>_<index OID>" in
 * the partition's schema, the new heap being "pg_temp_<partition OID>" (as
 * make_new_heap() names it) or, for a staged run, the name the run gave it;
 * that is how the exchange finds it again.  An error of its build names the
 * partition's index instead, as REINDEX would.
 *
 * A staged run (stage_build.c) builds the same way in a transaction of its
 * own and keeps what it built until publish.c exchanges it; a slice that
 * covers only part of its partition, or that the swap cannot take, is built
 * as a heap without index copies and copied in by delete_insert.
 *
 * Exchange, at the end of the backfill.  ACCESS EXCLUSIVE on every swapped
 * partition is taken by polling ConditionalLockRelationOid(), all within one
 * fs_backfill.swap_lock_timeout: we never sit in a lock queue, so readers
 * never wait behind us while we wait.  (Before polling, the WAL the builds
 * wrote is flushed, so that the commit has little left to flush.)  Readers of
 * a locked partition wait from there to commit, so with the lock only
 * catalog rows change, as in pg_repack's swap and CLUSTER's
 * swap_relation_files(): the pg_class rows of the partition and of its new
 * heap trade the fields that describe storage (relfilenode, reltablespace,
 * relpages, reltuples, relallvisible, relfrozenxid, relminmxid, and the
 * TOAST table link), and so do those of each index and its copy (without the
 * xid horizons, which indexes do not have).  Everything else stays: the
 * partition and its indexes keep their OIDs, names, owner, grants, comments,
 * pg_index rows (validity, primary key, replica identity, clustering), the
 * constraints that point at them (conindid), their parent indexes, defaults
 * and partition bound.  The updates queue the relcache invalidation of each
 * relation, so other backends see the new storage at commit; predicate locks
 * on the heap and on each index become a lock on the partition, as TRUNCATE
 * and REINDEX do.  Each index is locked ACCESS EXCLUSIVE too, as REINDEX did
 * here before: with the partition locked, only a session that reads an index
 * without its table (pgstattuple, say) can make us wait.  The new heap,
 * which now owns the old storage, is dropped with the copies and the old
 * TOAST table: the files go at commit, or stay with the partition on abort.
 *
 * TOAST moves by link, not by content.  A toast pointer carries the OID of
 * the TOAST table that holds its value, and the copies are built, and the
 * fallback below reads, from the new heap before the exchange: its pointers
 * must name its own TOAST table.  So the partition's reltoastrelid becomes
 * the new heap's TOAST table, whose dependency, name (pg_toast_<partition
 * OID>) and index name follow, as CLUSTER does when only one side has one.
 *
 * Persistence.  The new heap is made with the partition's persistence, and
 * its copies take the heap's, so both sides of every pair match (checked
 * again at the exchange); unlogged storage carries its init fork along.
 * Under wal_level = minimal the new storage was written without WAL and is
 * synced at commit: the relcache learns, as after CLUSTER, that the
 * partition's and each index's relfilenode are new in this transaction.
 *
 * A partition whose lock is not had in time gets its new heap copied in by
 * delete_insert (replace.c) instead, and the heap dropped with its copies:
 * the source is not re-run.
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

#include "access/genam.h"
#include "access/multixact.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/toast_internals.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/cluster.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/params.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
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
 * The name of the copy of an index on a new heap: "<new heap>_<index OID>",
 * so that the copies of one index on two new heaps (a swap's and a staged
 * run's, say) never clash.
 */
static char *
copy_name(Oid heapoid, Oid indexoid)
{
	return psprintf("%s_%u", get_rel_name(heapoid), indexoid);
}

/*
 * "text" with every quoted occurrence of name "from" replaced by "to", or
 * NULL when text is.
 */
static char *
replace_quoted_name(const char *text, const char *from, const char *to)
{
	char	   *quoted = psprintf("\"%s\"", from);
	StringInfoData buf;
	const char *p = text;
	const char *hit;

	if (text == NULL)
		return NULL;
	initStringInfo(&buf);
	while ((hit = strstr(p, quoted)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfo(&buf, "\"%s\"", to);
		p = hit + strlen(quoted);
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * Creates on "heap", empty, a copy of "index", an index of the partition
 * heap was made from, and returns its OID.  "model" is the index's
 * IndexInfo.  Expressions and predicate are read as stored, not as the
 * planner flattened them into model; their attribute numbers hold on heap,
 * which has the partition's exact layout.
 */
static Oid
create_copy(Relation heap, Relation index, const IndexInfo *model)
{
	Oid			indexoid = RelationGetRelid(index);
	HeapTuple	indtup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	HeapTuple	reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
	Datum		indclass;
	Datum		indoption;
	Datum		reloptions;
	Datum		datum;
	bool		isnull;
	List	   *exprs = NIL;
	List	   *preds = NIL;
	List	   *colnames = NIL;
	IndexInfo  *info;
	Oid			copy;

	if (!HeapTupleIsValid(indtup) || !HeapTupleIsValid(reltup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	indclass = SysCacheGetAttr(INDEXRELID, indtup, Anum_pg_index_indclass, &isnull);
	Assert(!isnull);
	indoption = SysCacheGetAttr(INDEXRELID, indtup, Anum_pg_index_indoption, &isnull);
	Assert(!isnull);
	reloptions = SysCacheGetAttr(RELOID, reltup, Anum_pg_class_reloptions, &isnull);
	if (isnull)
		reloptions = (Datum) 0;
	datum = SysCacheGetAttr(INDEXRELID, indtup, Anum_pg_index_indexprs, &isnull);
	if (!isnull)
		exprs = (List *) stringToNode(TextDatumGetCString(datum));
	datum = SysCacheGetAttr(INDEXRELID, indtup, Anum_pg_index_indpred, &isnull);
	if (!isnull)
		preds = make_ands_implicit((Expr *) stringToNode(TextDatumGetCString(datum)));

	info = makeIndexInfo(model->ii_NumIndexAttrs, model->ii_NumIndexKeyAttrs,
						 model->ii_Am, exprs, preds, model->ii_Unique,
						 model->ii_NullsNotDistinct, true, false);
	for (int i = 0; i < model->ii_NumIndexAttrs; i++)
	{
		info->ii_IndexAttrNumbers[i] = model->ii_IndexAttrNumbers[i];
		colnames = lappend(colnames,
						   NameStr(TupleDescAttr(RelationGetDescr(index), i)->attname));
	}
	info->ii_OpclassOptions = RelationGetIndexRawAttOptions(index);

	copy = index_create(heap, copy_name(RelationGetRelid(heap), indexoid), InvalidOid, InvalidOid,
						InvalidOid, InvalidOid, info, colnames,
						index->rd_rel->relam, index->rd_rel->reltablespace,
						index->rd_indcollation,
						((oidvector *) DatumGetPointer(indclass))->values,
						((int2vector *) DatumGetPointer(indoption))->values,
						reloptions, INDEX_CREATE_SKIP_BUILD, 0, false, true, NULL);
	ReleaseSysCache(indtup);
	ReleaseSysCache(reltup);
	return copy;
}

/*
 * Fills "copy" from the rows of "heap", checking uniqueness and, with the
 * operators of the copied index's exclusion constraint if it has one,
 * exclusion, as REINDEX of that index would.  An error names that index
 * ("index_name"), not the copy.
 */
static void
build_copy(Relation heap, Relation copy, const IndexInfo *model,
		   const char *index_name)
{
	IndexInfo  *info = BuildIndexInfo(copy);
	MemoryContext cxt = CurrentMemoryContext;

	info->ii_ExclusionOps = model->ii_ExclusionOps;
	info->ii_ExclusionProcs = model->ii_ExclusionProcs;
	info->ii_ExclusionStrats = model->ii_ExclusionStrats;

	PG_TRY();
	{
		index_build(heap, copy, info, false, true);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		const char *name = RelationGetRelationName(copy);

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->message = replace_quoted_name(edata->message, name, index_name);
		edata->detail = replace_quoted_name(edata->detail, name, index_name);
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * Builds on "heap", the new heap of partition "part", a copy of each of the
 * partition's indexes.
 */
static void
build_index_copies(Relation part, Relation heap)
{
	List	   *indexes = RelationGetIndexList(part);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		IndexInfo  *model = BuildIndexInfo(index);
		Relation	copy;

		CHECK_FOR_INTERRUPTS();
		copy = index_open(create_copy(heap, index, model), NoLock);
		build_copy(heap, copy, model, RelationGetRelationName(index));
		index_close(copy, NoLock);
		index_close(index, NoLock);
	}
	list_free(indexes);
}

/*
 * Records in the new heap's pg_class row the size of what was built, which
 * the exchange hands to the partition along with the storage.  Done before
 * the index builds, which plan their parallel workers from it.
 */
static void
set_heap_stats(Relation heap, uint64 rows)
{
	Relation	pg_class = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(RELOID,
										  ObjectIdGetDatum(RelationGetRelid(heap)));
	Form_pg_class form;
	BlockNumber allvisible;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", RelationGetRelid(heap));
	form = (Form_pg_class) GETSTRUCT(tup);
	visibilitymap_count(heap, &allvisible, NULL);
	form->relpages = (int32) RelationGetNumberOfBlocks(heap);
	form->reltuples = (float4) rows;
	form->relallvisible = (int32) allvisible;
	CatalogTupleUpdate(pg_class, &tup->t_self, tup);
	heap_freetuple(tup);
	table_close(pg_class, RowExclusiveLock);
	CommandCounterIncrement();
}

/*
* Builds the new contents of step's slice from the source into a new heap
 * beside its partition, named "name" (NULL: "pg_temp_<partition OID>"), with
 * a copy of each of the partition's indexes when "with_indexes"; returns its
 * OID, the rows it replaces (counted under the lock that keeps writers out:
 * the whole partition for a swap, else the slice's) and the rows built.  The
 * partition stays locked against writers until the transaction ends.
 */
Oid
fsb_swap_build(Relation target, const FsbStep *step, const FsbSource *src,
			   const FsbFeatureSet *fs, const char *name, bool with_indexes,
			   int64 *rows_before, int64 *rows_after)
{
	Relation	part = table_open(step->partition, ExclusiveLock);
	Oid			transient;
	Relation	into;
	DestReceiver *dest;
	ParamListInfo params = makeParamList(2);
	SPIExecuteOptions options;
	int			rc;

	if (step->strategy == FSB_STRATEGY_SWAP)
		*rows_before = count_partition(part);
	else
		*rows_before = fsb_count_rows(target, fs->time_column,
									  step->slice_start, step->slice_stop);
	transient = make_new_heap(step->partition, part->rd_rel->reltablespace,
							  part->rd_rel->relam,
							  part->rd_rel->relpersistence, ExclusiveLock);
	if (name != NULL)
	{
		RenameRelationInternal(transient, name, true, false);
		CommandCounterIncrement();
	}
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
	set_heap_stats(into, (uint64) *rows_after);
	if (with_indexes)
		build_index_copies(part, into);
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
	bool		any = false;

	for (int i = 0; i < n; i++)
		any |= OidIsValid(partitions[i]);
	if (!any)
		return;

	/*
	 * The new heaps and indexes wrote much WAL, some of it not yet flushed:
	 * flush it now, so that the commit, which readers will wait for, has
	 * little left to flush.  (Up to the end of our last record: the insert
	 * position can lie past the end of the WAL generated so far, at a page
	 * boundary, which XLogFlush() refuses.)
	 */
	if (!XLogRecPtrIsInvalid(XactLastRecEnd))
		XLogFlush(XactLastRecEnd);

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
 * The copy on new heap "heapoid" of index "indexoid".
 */
static Oid
copy_of(Oid indexoid, Oid heapoid)
{
	Oid			copy = get_relname_relid(copy_name(heapoid, indexoid),
										 get_rel_namespace(heapoid));

	if (!OidIsValid(copy) || IndexGetRelation(copy, true) != heapoid)
		elog(ERROR, "index %u has no copy on new heap %u", indexoid, heapoid);
	return copy;
}

/*
 * After TOAST links were traded, makes "toast" (if any) depend on "owner":
 * a TOAST table's only dependency is the one on the table that owns it.
 */
static void
relink_toast(Oid toast, Oid owner)
{
	ObjectAddress toast_address;
	ObjectAddress owner_address;

	if (!OidIsValid(toast))
		return;
	if (deleteDependencyRecordsFor(RelationRelationId, toast, false) != 1)
		elog(ERROR, "expected one dependency record for TOAST table %u", toast);
	ObjectAddressSet(toast_address, RelationRelationId, toast);
	ObjectAddressSet(owner_address, RelationRelationId, owner);
	recordDependencyOn(&toast_address, &owner_address, DEPENDENCY_INTERNAL);
}

#define SWAP_FIELD(type, a, b) \
	do { type swap_tmp = (a); (a) = (b); (b) = swap_tmp; } while (0)

/*
 * Trades the storage of relation "relid" (the partition or one of its
 * indexes, locked ACCESS EXCLUSIVE) and of "newid" (its new heap or copy):
 * the pg_class fields that describe the storage, and for heaps the TOAST
 * links and their dependencies.  Both are of one kind, access method and
 * persistence, and not mapped.
 */
static void
swap_storage(Oid relid, Oid newid)
{
	Relation	pg_class = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	HeapTuple	newtup = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(newid));
	Form_pg_class a;
	Form_pg_class b;
	Relation	rel;
	Relation	newrel;
	bool		made_here;

	if (!HeapTupleIsValid(tup) || !HeapTupleIsValid(newtup))
		elog(ERROR, "cache lookup failed for relation %u or %u", relid, newid);
	a = (Form_pg_class) GETSTRUCT(tup);
	b = (Form_pg_class) GETSTRUCT(newtup);
	if (a->relkind != b->relkind || a->relam != b->relam ||
		a->relpersistence != b->relpersistence ||
		!OidIsValid(a->relfilenode) || !OidIsValid(b->relfilenode))
		elog(ERROR, "cannot exchange the storage of relations %u and %u",
			 relid, newid);

	SWAP_FIELD(Oid, a->relfilenode, b->relfilenode);
	SWAP_FIELD(Oid, a->reltablespace, b->reltablespace);
	SWAP_FIELD(int32, a->relpages, b->relpages);
	SWAP_FIELD(float4, a->reltuples, b->reltuples);
	SWAP_FIELD(int32, a->relallvisible, b->relallvisible);
	SWAP_FIELD(TransactionId, a->relfrozenxid, b->relfrozenxid);
	SWAP_FIELD(MultiXactId, a->relminmxid, b->relminmxid);
	SWAP_FIELD(Oid, a->reltoastrelid, b->reltoastrelid);

	/*
	 * The relcache's marks of storage made in this (sub)transaction go with
	 * the storage: newid gets what relid had, and relid's storage is new
	 * here if newid's was.  Under wal_level = minimal they decide whether
	 * changes are WAL-logged, the storage being synced at commit instead.
	 */
	rel = relation_open(relid, NoLock);
	newrel = relation_open(newid, NoLock);
	made_here = newrel->rd_createSubid != InvalidSubTransactionId ||
		newrel->rd_firstRelfilenodeSubid != InvalidSubTransactionId;
	newrel->rd_createSubid = rel->rd_createSubid;
	newrel->rd_newRelfilenodeSubid = rel->rd_newRelfilenodeSubid;
	newrel->rd_firstRelfilenodeSubid = rel->rd_firstRelfilenodeSubid;
	if (made_here)
		RelationAssumeNewRelfilenode(rel);
	relation_close(newrel, NoLock);
	relation_close(rel, NoLock);

	/* Each update queues the relcache invalidation of its relation. */
	CatalogTupleUpdate(pg_class, &tup->t_self, tup);
	CatalogTupleUpdate(pg_class, &newtup->t_self, newtup);
	relink_toast(a->reltoastrelid, relid);
	relink_toast(b->reltoastrelid, newid);

	heap_freetuple(tup);
	heap_freetuple(newtup);
	table_close(pg_class, RowExclusiveLock);

	/* Both smgr links go stale at the next CommandCounterIncrement(). */
	RelationCloseSmgrByOid(relid);
	RelationCloseSmgrByOid(newid);
}

/*
 * Names the partition's TOAST table, which came from its new heap, and the
 * TOAST index after the partition, as before the exchange (the old ones went
 * with the new heap), and forgets that it was made for a rewrite.
 */
static void
name_toast(Relation part)
{
	Oid			toast = part->rd_rel->reltoastrelid;
	Oid			toast_index;

	if (!OidIsValid(toast))
		return;
	toast_index = toast_get_valid_index(toast, AccessExclusiveLock);
	RenameRelationInternal(toast, psprintf("pg_toast_%u", RelationGetRelid(part)),
						   true, false);
	RenameRelationInternal(toast_index,
						   psprintf("pg_toast_%u_index", RelationGetRelid(part)),
						   true, true);
	CommandCounterIncrement();
	ResetRelRewrite(toast);
}

/*
 * Exchanges the storage of a partition locked ACCESS EXCLUSIVE, heap and
 * indexes, with its new heap and the copies built on it, then drops the new
 * heap (and with it the copies and the old TOAST table), which own the old
 * storage now.
 */
static void
exchange(Oid partition, Oid transient)
{
	Relation	part = table_open(partition, NoLock);
	Relation	heap = table_open(transient, NoLock);
	List	   *indexes = RelationGetIndexList(part);
	List	   *copies = RelationGetIndexList(heap);
	ListCell   *lc;
	ObjectAddress object;

	if (part->rd_rel->relpersistence != heap->rd_rel->relpersistence ||
		list_length(indexes) != list_length(copies))
		elog(ERROR, "new heap of partition \"%s\" does not match it",
			 RelationGetRelationName(part));
	table_close(heap, NoLock);

	CheckTableNotInUse(part, "fs_backfill");
	/* Like TRUNCATE and CLUSTER: serializable readers see a conflict. */
	CheckTableForSerializableConflictIn(part);
	TransferPredicateLocksToHeapRelation(part);

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	index = index_open(indexoid, AccessExclusiveLock);

		CheckTableNotInUse(index, "fs_backfill");
		TransferPredicateLocksToHeapRelation(index);
		index_close(index, NoLock);
		swap_storage(indexoid, copy_of(indexoid, transient));
	}
	swap_storage(partition, transient);
	CommandCounterIncrement();

	ObjectAddressSet(object, RelationRelationId, transient);
	performDeletion(&object, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
	name_toast(part);
	/* Every row has every column now, as after CLUSTER. */
	RelationClearMissing(part);
	table_close(part, NoLock);
	list_free(indexes);
	list_free(copies);
}

/*
 * A source that reads every row of a built new heap (which has its
 * partition's columns, by name), for checks and copies.
 */
FsbSource *
fsb_swap_heap_source(Relation target, const FsbFeatureSet *fs, Oid heap)
{
	TupleDesc	desc = RelationGetDescr(target);
	FsbSource  *src = palloc0(sizeof(FsbSource));
	StringInfoData sql;
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
			src->time_index = n;
		appendStringInfo(&sql, "%s%s", n > 0 ? ", " : "",
						 quote_identifier(NameStr(attr->attname)));
		attnums[n++] = attr->attnum;
	}
	appendStringInfo(&sql, " FROM %s",
					 fsb_qualified_name(get_rel_namespace(heap), get_rel_name(heap)));
	src->text = sql.data;
	src->natts = n;
	src->target_attnum = attnums;
	src->fits_heap = true;
	return src;
}

/*
 * Copies a built new heap into its partition's slice by delete_insert, then
 * drops it.
 */
void
fsb_swap_copy_in(Relation target, const FsbStep *step, const FsbFeatureSet *fs,
				 Oid transient, int64 *deleted, int64 *inserted)
{
	ObjectAddress object;

	fsb_replace_delete_insert(target, step,
							  fsb_swap_heap_source(target, fs, transient), fs,
							  deleted, inserted);
	ObjectAddressSet(object, RelationRelationId, transient);
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
			fsb_swap_copy_in(target, step, fs, transients[i],
					&results[i].rows_before, &results[i].rows_after);
			results[i].strategy = FSB_STRATEGY_DELETE_INSERT;
		}
		results[i].seconds += waited +
			(GetCurrentTimestamp() - t1) / (double) USECS_PER_SEC;
	}
}
