/*-------------------------------------------------------------------------
 *
 * catalog_queue.c
 *	  The home of every statement on fs_backfill.online_queue.
 *
 * The online cache's outbox is read and written here only: a chunk of
 * entities queued (queue.c decides which), a run's entries tagged with its
 * id, a batch's entries claimed (drain.c pushes them), and the drained
 * queue's files emptied (worker.c decides when).  Its column list and its
 * decoder (FsbQueueEntry) are here; catalog.c holds the statements on the
 * other tables of the extension.
 *
 * Every function runs in the caller's transaction, so what it writes
 * commits or rolls back with the caller's work.  Its comment says whether it
 * connects to SPI itself and as whom it runs; the queue is only ever written
 * as the extension owner (ordinary roles cannot write it), with a pinned
 * search_path (guard.c).
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/catalog_queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"

#include "fs_backfill.h"

/*
 * The insertion of a chunk of entities into the queue: $4 .. $(3 + nkeys)
 * hold the key values, one text[] per key column, zipped by unnest in
 * their order.
 */
static char *
insert_sql(int nkeys)
{
	StringInfoData args;
	StringInfoData names;
	StringInfoData entity;

	initStringInfo(&args);
	initStringInfo(&names);
	initStringInfo(&entity);
	for (int k = 0; k < nkeys; k++)
	{
		appendStringInfo(&args, "%s$%d", k > 0 ? ", " : "", k + 4);
		appendStringInfo(&names, "k%d, ", k + 1);
		appendStringInfo(&entity, "%su.k%d", k > 0 ? ", " : "", k + 1);
	}
	return psprintf("INSERT INTO fs_backfill.online_queue AS q"
					" (feature_set, entity, guard_ts, run_id)"
					" SELECT $1, ARRAY[%s], $2, $3"
					" FROM unnest(%s) WITH ORDINALITY AS u(%sord) ORDER BY u.ord"
					" ON CONFLICT (feature_set, entity) DO UPDATE"
					" SET guard_ts = greatest(q.guard_ts, excluded.guard_ts),"
					" run_id = excluded.run_id",
					entity.data, args.data, names.data);
}

/*
 * Queues a chunk of a feature set's entities, or merges them into their
 * pending entries (the latest guard wins): "keys" holds one text[] per key
 * column, in key order, zipped by position.  "guard" is the _ts guard;
 * run_marker 0 tags the entries for the running backfill, a negative one
 * leaves run_id NULL.  Returns how many entries were queued or refreshed.
 * Caller is connected to SPI, as the extension owner.
 */
int64
fsb_catalog_queue_insert(const char *feature_set, const char *guard,
						 int64 run_marker, int nkeys, const Datum *keys)
{
	Oid		   *types = palloc(sizeof(Oid) * (3 + nkeys));
	Datum	   *values = palloc(sizeof(Datum) * (3 + nkeys));
	char	   *nulls = palloc(3 + nkeys);

	types[0] = TEXTOID;
	types[1] = TEXTOID;
	types[2] = INT8OID;
	values[0] = CStringGetTextDatum(feature_set);
	values[1] = CStringGetTextDatum(guard);
	values[2] = Int64GetDatum(run_marker);
	memset(nulls, ' ', 3 + nkeys);
	nulls[2] = run_marker < 0 ? 'n' : ' ';
	for (int k = 0; k < nkeys; k++)
	{
		types[3 + k] = TEXTARRAYOID;
		values[3 + k] = keys[k];
	}
	fsb_spi_exec(insert_sql(nkeys), 3 + nkeys, types, values, nulls,
				 SPI_OK_INSERT);
	return (int64) SPI_processed;
}

/*
 * Tags the entries the running backfill queued (run_id 0) with its run id;
 * returns how many.  Connects to SPI itself, as the extension owner.
 */
int64
fsb_catalog_queue_seal(const char *feature_set, int64 run_id)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	FsbSavedUser saved;
	int64		n;

	values[0] = CStringGetTextDatum(feature_set);
	values[1] = Int64GetDatum(run_id);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("UPDATE fs_backfill.online_queue SET run_id = $2"
				 " WHERE feature_set = $1 AND run_id = 0",
				 2, types, values, NULL, SPI_OK_UPDATE);
	n = (int64) SPI_processed;
	fsb_owner_spi_end(&saved);
	return n;
}

/*
 * Claims up to "limit" entries with an id above "after", but none of the
 * feature sets in "skipped" (a text[]), in the current memory context, into
 * "entries"; returns how many.  Caller is in a transaction, connected to
 * SPI; the claim runs as the extension owner.  The locking subquery runs
 * once, as an InitPlan (as an IN (...) the planner may rescan it), and the
 * deletion finds the locked rows by ctid, which cannot change while we hold
 * their lock.  An entry a backfill updated (ON CONFLICT) and committed after
 * the statement's snapshot is locked in its new version, which that snapshot
 * does not see: it is neither deleted nor returned, and stays queued for a
 * later batch (that commit woke the worker, whose next drain starts from the
 * head).
 *
 * The plan is kept, generic, for the worker's life, and replanned when the
 * queue is recreated; the queue may be empty then and hold a million
 * entries the next minute.  So it is planned (and, in case of a replan,
 * run) with sequential scans and sorts disabled: the subquery must walk the
 * primary key from "after" on, never scan and sort the whole queue.
 */
int
fsb_catalog_queue_claim(int limit, int64 after, Datum skipped,
						FsbQueueEntry *entries)
{
	static SPIPlanPtr plan = NULL;
	static const char *const plan_settings[] = {"enable_seqscan", "enable_sort",
	"enable_bitmapscan"};
	MemoryContext cxt = CurrentMemoryContext;
	Datum		values[3] = {Int32GetDatum(limit), Int64GetDatum(after), skipped};
	FsbSavedUser saved;
	int			rc;
	int			n;

	/* fsb_restore_user() undoes these settings too */
	fsb_become_user(fsb_extension_owner(), &saved);
	for (int i = 0; i < lengthof(plan_settings); i++)
		(void) set_config_option(plan_settings[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

	if (plan == NULL)
	{
		Oid			types[3] = {INT4OID, INT8OID, TEXTARRAYOID};
		SPIPlanPtr	p = SPI_prepare_cursor("DELETE FROM fs_backfill.online_queue"
									   " WHERE ctid = ANY (ARRAY("
									   "   SELECT ctid FROM fs_backfill.online_queue"
									   "    WHERE id > $2 AND feature_set <> ALL ($3)"
									   "    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))"
									   " RETURNING id, feature_set, entity, guard_ts, xmin",
									   3, types, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the claim of queued entities: %s",
				 SPI_result_code_string(SPI_result));
		plan = p;
	}
	rc = SPI_execute_plan(plan, values, NULL, false, 0);
	fsb_restore_user(&saved);
	MemoryContextSwitchTo(cxt); /* SPI returns in its own */
	if (rc != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "claim of queued entities failed: %s", SPI_result_code_string(rc));

	n = (int) SPI_processed;
	for (int i = 0; i < n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		entries[i].id = DatumGetInt64(heap_getattr(row, 1, desc, &isnull));
		entries[i].feature_set = TextDatumGetCString(heap_getattr(row, 2, desc, &isnull));
		entries[i].entity = datumCopy(heap_getattr(row, 3, desc, &isnull), false, -1);
		entries[i].guard = TextDatumGetCString(heap_getattr(row, 4, desc, &isnull));
		entries[i].queued_by = DatumGetTransactionId(heap_getattr(row, 5, desc, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * TRUNCATEs the queue if it holds no entry; returns whether it did.  Caller
 * is in a transaction, connected to SPI, as the extension owner, and holds
 * the queue's ACCESS EXCLUSIVE lock, so that no entry can be queued
 * meanwhile.
 */
bool
fsb_catalog_queue_truncate_empty(void)
{
	if (fsb_spi_count("SELECT count(*) FROM (SELECT FROM fs_backfill.online_queue LIMIT 1) q",
					  0, NULL, NULL) != 0)
		return false;
	fsb_spi_exec("TRUNCATE fs_backfill.online_queue", 0, NULL, NULL, NULL,
				 SPI_OK_UTILITY);
	return true;
}
