/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The outbox of the online cache: which entities the worker must push.
 *
 * fs_backfill.online_queue holds one row per pending (feature set, entity),
 * written in the transaction of the backfill that touched the entity, so
 * the queue commits or rolls back with the data.  A backfill of [start,
 * stop) queues the entities whose latest row lies in the interval, looked
 * at before the replacement and again after it: an entity with a row at or
 * after stop has a newer latest value the backfill did not change, so a
 * backfill of last year leaves its cache alone.  A reset, or a resync,
 * queues every entity.
 *
 * Pending entries merge (ON CONFLICT): an entity is pushed once however
 * many runs queued it, with the latest guard.  The guard is the run's stop,
 * in the _ts format: a value in Redis later than it is newer than the run
 * and is kept.  Entries a backfill queues carry run_id 0 until the run is
 * recorded, then its run id.
 *
 * The target is read as its owner, in a security-restricted operation: a key
 * type's cast to text or its equality operator may be that role's code, and
 * must never run with the rights of whoever runs the backfill (or the
 * worker's, in a resync after Redis lost its data).  Only the key and time
 * columns are read.  The queue is written as the extension owner (ordinary
 * roles cannot write it), a chunk of entities at a time, by the statements
 * of catalog_queue.c.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_online_resync);

/* The guard of a resync or reset: later than any _ts. */
#define FSB_GUARD_ALWAYS "9999-12-31T23:59:59.999999Z"

/* The _ts of times before year 1: earlier than any other. */
#define FSB_TS_EARLIEST "0000-01-01T00:00:00.000000Z"

/*
 * An instant as Redis field _ts: YYYY-MM-DDTHH:MI:SS.USZ, in UTC, fixed
 * width so that strings sort as instants.
 */
char *
fsb_redis_ts(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_IS_NOBEGIN(t))
		return pstrdup(FSB_TS_EARLIEST);
	if (TIMESTAMP_IS_NOEND(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		return pstrdup(FSB_GUARD_ALWAYS);
	if (tm.tm_year < 1)
		return pstrdup(FSB_TS_EARLIEST);
	if (tm.tm_year > 9999)
		return pstrdup(FSB_GUARD_ALWAYS);
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* Entities read from the target and inserted into the queue at a time. */
#define FSB_QUEUE_CHUNK 10000

/*
 * The rows entities are read from: the target, and with it the new heaps
 * of swapped partitions not yet exchanged ("new_heaps", OIDs), as one
 * relation of the key and time columns.
 */
static char *
rows_sql(Relation target, const FsbFeatureSet *fs, List *new_heaps)
{
	StringInfoData cols;
	StringInfoData sql;
	ListCell   *lc;

	if (new_heaps == NIL)
		return fsb_relation_name(target);
	initStringInfo(&cols);
	foreach(lc, fs->entity_columns)
		appendStringInfo(&cols, "%s, ", quote_identifier(lfirst(lc)));
	appendStringInfoString(&cols, quote_identifier(fs->time_column));
	initStringInfo(&sql);
	appendStringInfo(&sql, "(SELECT %s FROM %s", cols.data, fsb_relation_name(target));
	foreach(lc, new_heaps)
		appendStringInfo(&sql, " UNION ALL SELECT %s FROM %s", cols.data,
						 fsb_qualified_name(get_rel_namespace(lfirst_oid(lc)),
											get_rel_name(lfirst_oid(lc))));
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

/*
 * The entities to queue, read from the target (and new heaps, see
 * rows_sql()): each entity's key values as text, in key order; with
 * "everything" false, only the entities whose latest row lies in [$1, $2).
 * Rows at or after $2 are never in a new heap: a swapped partition lies
 * inside the interval.
 */
static char *
entities_sql(Relation target, const FsbFeatureSet *fs, bool everything,
			 List *new_heaps)
{
	const char *rel = fsb_relation_name(target);
	const char *time = quote_identifier(fs->time_column);
	StringInfoData keys;
	StringInfoData texts;
	StringInfoData same;
	StringInfoData notnull;
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&keys);
	initStringInfo(&texts);
	initStringInfo(&same);
	initStringInfo(&notnull);
	foreach(lc, fs->entity_columns)
	{
		const char *k = quote_identifier(lfirst(lc));
		bool		first = foreach_current_index(lc) == 0;

		appendStringInfo(&keys, "%st.%s", first ? "" : ", ", k);
		appendStringInfo(&texts, "%st.%s::pg_catalog.text", first ? "" : ", ", k);
		appendStringInfo(&same, " AND n.%s = t.%s", k, k);
		appendStringInfo(&notnull, " AND t.%s IS NOT NULL", k);
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s t WHERE true%s", texts.data,
					 rows_sql(target, fs, new_heaps), notnull.data);
	if (!everything)
		appendStringInfo(&sql,
						 " AND t.%s >= $1 AND t.%s < $2"
						 " AND NOT EXISTS (SELECT 1 FROM %s n WHERE n.%s >= $2%s)",
						 time, time, rel, time, same.data);

	/*
	 * In key order: two transactions queueing overlapping entities (a
	 * backfill and a resync) then wait for each other in the same order,
	 * never in a cycle.
	 */
	appendStringInfo(&sql, " GROUP BY %s ORDER BY %s", keys.data, keys.data);
	return sql.data;
}

/*
 * Reads the next chunk of entities from the cursor as the target's owner,
 * in a security-restricted operation: the key columns' casts to text and
 * their equality operators may be functions that role wrote, and must never
 * run with more rights than its own.  Key values become text the same way
 * whatever the session's settings.  Fills "columns" (one text[] per key
 * column, in the current memory context) and returns the number read.
 */
static uint64
fetch_entities(Portal cursor, Oid owner, int nkeys, Datum *columns)
{
	static const char *const fixed[][2] = {
		{"DateStyle", "ISO, YMD"}, {"TimeZone", "UTC"},
		{"IntervalStyle", "postgres"}, {"extra_float_digits", "1"},
		{"bytea_output", "hex"}, {"lc_monetary", "C"}
	};
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	uint64		n;

	fsb_become_user(owner, &saved);
	for (int i = 0; i < lengthof(fixed); i++)
		(void) set_config_option(fixed[i][0], fixed[i][1], PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SPI_cursor_fetch(cursor, true, FSB_QUEUE_CHUNK);
	fsb_restore_user(&saved);
	MemoryContextSwitchTo(cxt); /* SPI returns in its own */

	n = SPI_processed;
	for (int k = 0; k < nkeys; k++)
	{
		ArrayBuildState *astate = initArrayResult(TEXTOID, cxt, false);

		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, k + 1, &isnull);

			astate = accumArrayResult(astate, d, isnull, TEXTOID, cxt);
		}
		columns[k] = makeArrayResult(astate, cxt);
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * Queues entities of a feature set: those whose latest row lies in
 * [start, stop), or every entity.  run_marker 0 tags the entries for the
 * running backfill; a negative marker leaves run_id NULL (a resync).
 * Returns how many entries were queued or refreshed.
 *
 * The target is read as its owner (fetch_entities), the queue written as
 * the extension owner, a chunk at a time.
 */
static int64
queue_entities(Relation target, const FsbFeatureSet *fs, TimestampTz start,
			   TimestampTz stop, bool everything, List *new_heaps,
			   const char *guard, int64 run_marker)
{
	int			nkeys = list_length(fs->entity_columns);
	Oid			owner = target->rd_rel->relowner;
	Oid			extension_owner = fsb_extension_owner();
	char	   *select = entities_sql(target, fs, everything, new_heaps);
	Datum	   *keys = palloc(sizeof(Datum) * nkeys);
	Oid			range_types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		range[2] = {TimestampTzGetDatum(start), TimestampTzGetDatum(stop)};
	MemoryContext chunk_cxt;
	MemoryContext old;
	FsbSavedUser saved;
	Portal		cursor;
	int64		queued = 0;
	uint64		n;

	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "fs_backfill queue chunk",
									  ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	fsb_become_user(owner, &saved);
	cursor = SPI_cursor_open_with_args(NULL, select, everything ? 0 : 2,
									   range_types, range, NULL, false, 0);
	fsb_restore_user(&saved);
	for (;;)
	{
		old = MemoryContextSwitchTo(chunk_cxt);
		n = fetch_entities(cursor, owner, nkeys, keys);
		if (n == 0)
			break;
		fsb_become_user(extension_owner, &saved);
		queued += fsb_catalog_queue_insert(fs->name, guard, run_marker, nkeys, keys);
		fsb_restore_user(&saved);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}
	MemoryContextSwitchTo(old);
	SPI_cursor_close(cursor);
	SPI_finish();
	MemoryContextDelete(chunk_cxt);

	if (queued > 0)
		fsb_wake_worker_at_commit();
	return queued;
}

/*
 * A backfill queues the entities whose latest row is in [start, stop)
 * (every entity, for a reset), before it replaces anything and again after.
 * The second time, before the swapped partitions are exchanged, so that
 * readers do not wait for it: their new rows are read from "new_heaps",
 * their old rows, still in the target then, only queue entities the first
 * time queued already.
 */
void
fsb_queue_touched(Relation target, const FsbFeatureSet *fs, TimestampTz start,
				  TimestampTz stop, bool everything, List *new_heaps)
{
	(void) queue_entities(target, fs, start, stop, everything, new_heaps,
						  everything ? FSB_GUARD_ALWAYS : fsb_redis_ts(stop), 0);
}

/*
 * Tags the entries the running backfill queued with its run id; returns how
 * many, for the run's record.
 */
int64
fsb_queue_seal(const FsbFeatureSet *fs, int64 run_id)
{
	return fsb_catalog_queue_seal(fs->name, run_id);
}

/*
 * Queues every entity of a feature set with a guard that always writes;
 * for fs_online_resync() and the worker after Redis lost its data.
 */
int64
fsb_queue_everything(const FsbFeatureSet *fs)
{
	Relation	target = fsb_open_target(fs, AccessShareLock);
	int64		n;

	n = queue_entities(target, fs, 0, 0, true, NIL, FSB_GUARD_ALWAYS, -1);
	table_close(target, NoLock);
	return n;
}

/*
 * fs_online_resync(feature_set): queues every entity of the feature set for
 * the online cache; returns how many.  Needs what running the feature set
 * needs (privilege.c).
 */
Datum
fs_online_resync(PG_FUNCTION_ARGS)
{
	FsbFeatureSet *fs;

	fsb_require_arg(fcinfo, 0, "feature_set");
	fs = fsb_catalog_load(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	fsb_privilege_check_use(fs);
	if (!fs->online)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feature set \"%s\" is not online", fs->name),
				 errhint("Register it with online => true to keep its latest values in Redis.")));
	PG_RETURN_INT64(fsb_queue_everything(fs));
}
