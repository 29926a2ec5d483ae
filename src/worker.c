/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The online worker: drains fs_backfill.online_queue into Redis.
 *
 * One worker per cluster, registered when fs_backfill is preloaded,
 * connected to fs_backfill.database as fs_backfill.worker_role (the
 * bootstrap superuser when empty).  Its loop: wait on the latch (a commit
 * that queued entities sets it, else fs_backfill.online_naptime passes),
 * reload the configuration if asked, make sure Redis is connected, then
 * push batches while they come back full.
 *
 * A batch is one transaction: claim up to fs_backfill.online_batch_size
 * entries (DELETE ... RETURNING over FOR UPDATE SKIP LOCKED, so concurrent
 * claimers never take the same entry), read each entity's latest row from
 * its target (one LATERAL query per feature set), push them to Redis in one
 * pipeline, and commit only after Redis acknowledged them all: the entries'
 * removal becomes visible then and not before.  When Redis fails, the
 * transaction rolls back: the entries stay (delivery is at least once) and
 * the worker backs off, doubling its wait up to 10 s, logging once per
 * change of state, not per attempt.
 *
 * Once the queue ran empty after many entries the worker TRUNCATEs it (or,
 * when a backfill is queueing entries just then, VACUUMs it), so that its
 * size stays bounded however often it is filled and drained.
 *
 * A Redis that lost its data (restarted empty, flushed) has lost the
 * sentinel key: the worker then queues every entity of every online
 * feature set, and sets the sentinel again once that has committed.
 *
 * Memory: the worker's state lives in "fs_backfill worker"; each batch's in
 * "fs_backfill batch", reset after every batch; each chunk's claims and
 * pushes in "fs_backfill chunk" (not a child of the batch's: a reset would
 * delete it), reset once the chunk is sent.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"
#include "redis_sink.h"

PGDLLEXPORT void fsb_worker_main(Datum main_arg);

/* Longest wait between attempts while Redis is down. */
#define FSB_BACKOFF_MAX_MS 10000

/*
 * Entries claimed and sent at a time, within a batch.  The first chunk is
 * smaller: Redis, done with the last batch, waits for it.
 */
#define FSB_CHUNK 1000
#define FSB_FIRST_CHUNK 100

/* drain_batch(): Redis had lost the push script; do the batch again. */
#define FSB_BATCH_AGAIN (-2)

/* Full batches after which a drain starts again from the queue's head. */
#define FSB_RESTART_BATCHES 100

/* Entries drained since the last VACUUM of the queue that call for one. */
#define FSB_VACUUM_AFTER 10000

static MemoryContext worker_cxt;
static MemoryContext batch_cxt;
static MemoryContext chunk_cxt;
static FsbRedis *redis = NULL;
static char *redis_url_in_use = NULL;
static bool reconnect_wanted = false;	/* after a reload */

/*
 * A feature set whose entries could not be pushed (its target unreadable, a
 * key column gone): parked.  Its entries stay queued and the claims skip
 * them until retry_at, so that the other feature sets drain meanwhile; each
 * failure doubles its wait, up to FSB_BACKOFF_MAX_MS.  Lives in worker_cxt.
 */
typedef struct ParkedSet
{
	char	   *name;
	char	   *error;
	bool		error_recorded; /* in fs_backfill.online_state */
	int			wait_ms;
	TimestampTz retry_at;
} ParkedSet;

static List *parked_sets = NIL;

/* The feature set whose entries are being read, to blame for an error. */
static const char *set_at_work = NULL;

/* One claimed queue entry. */
typedef struct Claim
{
	int64		id;
	char	   *feature_set;
	Datum		entity;			/* text[] */
	char	   *guard;
} Claim;

/* A feature set met in a batch: what its chunks need, looked up once. */
typedef struct BatchSet
{
	char	   *name;
	FsbFeatureSet *fs;			/* NULL: its entries are just dropped */
	SPIPlanPtr	latest;			/* latest rows of a chunk's entities */
	int			nkeys;
	List	   *value_names;	/* the non-key, non-time columns */
	FmgrInfo   *outputs;		/* their output functions */
	int64		claimed;
} BatchSet;

void
fsb_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "fs_backfill");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "fsb_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "fs_backfill online worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "fs_backfill online worker");
	RegisterBackgroundWorker(&worker);
}

/* Is the extension installed in our database?  In a transaction. */
static bool
extension_ready(void)
{
	return OidIsValid(get_namespace_oid(FSB_SCHEMA, true)) &&
		OidIsValid(get_relname_relid("online_queue",
									 get_namespace_oid(FSB_SCHEMA, true)));
}

static void
begin_transaction(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
commit_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Unix milliseconds of an instant. */
static int64
unix_ms(TimestampTz t)
{
	return t / 1000 + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

/*
 * Looks up a feature set met in a batch and prepares the query of its
 * entities' latest rows: one text[] parameter per key column, zipped by
 * unnest, each entity's row found by a LATERAL backward index scan.  Caller
 * is in a transaction, connected to SPI; all lives until SPI_finish.
 */
static BatchSet *
batch_set(const char *name)
{
	BatchSet   *set = palloc0(sizeof(BatchSet));
	FsbFeatureSet *fs = fsb_catalog_find(name);
	Relation	target;
	TupleDesc	desc;
	StringInfoData sql;
	StringInfoData cols;
	StringInfoData unnest;
	StringInfoData names;
	StringInfoData match;
	Oid		   *types;
	ListCell   *lc;
	List	   *value_types = NIL;
	int			nest;

	set->name = pstrdup(name);
	/* dropped, no longer online, or its table gone: its entries are dropped */
	if (fs == NULL || !fs->online || get_rel_name(fs->target) == NULL)
		return set;
	set->fs = fs;
	set->nkeys = list_length(fs->entity_columns);
	target = fsb_open_target(fs, AccessShareLock);
	desc = RelationGetDescr(target);

	/* value columns: all but the keys and the time */
	initStringInfo(&cols);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		const char *attname = NameStr(attr->attname);
		bool		is_key = false;

		if (attr->attisdropped || strcmp(attname, fs->time_column) == 0)
			continue;
		foreach(lc, fs->entity_columns)
			is_key |= strcmp(lfirst(lc), attname) == 0;
		if (is_key)
			continue;
		set->value_names = lappend(set->value_names, pstrdup(attname));
		value_types = lappend_oid(value_types, attr->atttypid);
		appendStringInfo(&cols, ", t.%s", quote_identifier(attname));
	}
	set->outputs = palloc(sizeof(FmgrInfo) * Max(1, list_length(value_types)));
	foreach(lc, value_types)
	{
		Oid			func;
		bool		varlena;

		getTypeOutputInfo(lfirst_oid(lc), &func, &varlena);
		fmgr_info(func, &set->outputs[foreach_current_index(lc)]);
	}

	initStringInfo(&unnest);
	initStringInfo(&names);
	initStringInfo(&match);
	types = palloc(sizeof(Oid) * set->nkeys);
	foreach(lc, fs->entity_columns)
	{
		int			k = foreach_current_index(lc);
		AttrNumber	attnum = get_attnum(fs->target, lfirst(lc));

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("entity column \"%s\" of feature set \"%s\" does not exist",
							(char *) lfirst(lc), fs->name),
					 errhint("Fix the feature set with fs_alter_feature_set(), or drop it.")));

		types[k] = TEXTARRAYOID;
		appendStringInfo(&unnest, "%s$%d", k > 0 ? ", " : "", k + 1);
		appendStringInfo(&names, "%sk%d", k > 0 ? ", " : "", k + 1);
		appendStringInfo(&match, "%st.%s = CAST(u.k%d AS %s)", k > 0 ? " AND " : "",
						 quote_identifier(lfirst(lc)), k + 1,
						 format_type_be_qualified(TupleDescAttr(desc, attnum - 1)->atttypid));
	}
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT u.ord, l.* FROM unnest(%s) WITH ORDINALITY AS u(%s, ord)"
					 " LEFT JOIN LATERAL (SELECT t.%s%s FROM %s t WHERE %s"
					 " AND t.%s IS NOT NULL ORDER BY t.%s DESC LIMIT 1) l ON true"
					 " ORDER BY u.ord",
					 unnest.data, names.data, quote_identifier(fs->time_column),
					 cols.data,
					 fsb_qualified_name(RelationGetNamespace(target),
										RelationGetRelationName(target)),
					 match.data, quote_identifier(fs->time_column),
					 quote_identifier(fs->time_column));
	table_close(target, NoLock);

	nest = fsb_pin_search_path();
	/* one plan for all chunks: the custom plans of the first ones cost more */
	set->latest = SPI_prepare_cursor(sql.data, set->nkeys, types, CURSOR_OPT_GENERIC_PLAN);
	fsb_unpin_search_path(nest);
	if (set->latest == NULL)
		elog(ERROR, "SPI_prepare failed: %s: %s", SPI_result_code_string(SPI_result), sql.data);
	return set;
}

/* fs:<feature set>:<value 1>[:<value 2>...], from the entity's text values. */
static char *
entity_key(const char *feature_set, const Datum *parts, int nparts)
{
	size_t		name_len = strlen(feature_set);
	size_t		len = 3 + name_len;
	char	   *key;
	char	   *p;

	for (int k = 0; k < nparts; k++)
		len += 1 + VARSIZE_ANY_EXHDR(DatumGetPointer(parts[k]));
	key = palloc(len + 1);
	memcpy(key, "fs:", 3);
	memcpy(key + 3, feature_set, name_len);
	p = key + 3 + name_len;
	for (int k = 0; k < nparts; k++)
	{
		text	   *part = (text *) DatumGetPointer(parts[k]);

		*p++ = ':';
		memcpy(p, VARDATA_ANY(part), VARSIZE_ANY_EXHDR(part));
		p += VARSIZE_ANY_EXHDR(part);
	}
	*p = '\0';
	return key;
}

/*
 * Builds the pushes for the claims of one feature set, in the current
 * memory context: reads each entity's latest row.
 */
static int
build_pushes(const BatchSet *set, Claim *claims, int nclaims, FsbPush *pushes)
{
	const FsbFeatureSet *fs = set->fs;
	int			nvalues = list_length(set->value_names);
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;
	Datum	   *keys = palloc(sizeof(Datum) * set->nkeys);
	ArrayBuildState **columns = palloc0(sizeof(ArrayBuildState *) * set->nkeys);
	Datum	  **parts = palloc(sizeof(Datum *) * nclaims);
	int		   *nparts = palloc(sizeof(int) * nclaims);
	SPITupleTable *rows;
	int			nest;
	int			rc;

	/* each entity's key values, once: a text[] per key column, and the key */
	for (int i = 0; i < nclaims; i++)
	{
		deconstruct_array(DatumGetArrayTypeP(claims[i].entity), TEXTOID, -1, false,
						  TYPALIGN_INT, &parts[i], NULL, &nparts[i]);
		/* an entry queued before the key columns changed matches nothing */
		for (int k = 0; k < set->nkeys; k++)
			columns[k] = accumArrayResult(columns[k],
										  k < nparts[i] ? parts[i][k] : (Datum) 0,
										  k >= nparts[i], TEXTOID, cxt);
	}
	for (int k = 0; k < set->nkeys; k++)
		keys[k] = makeArrayResult(columns[k], cxt);

	nest = fsb_pin_search_path();
	/* a fresh snapshot: an entry claimed now may come from a commit since */
	rc = SPI_execute_plan(set->latest, keys, NULL, false, 0);
	fsb_unpin_search_path(nest);
	MemoryContextSwitchTo(cxt); /* SPI returns in its own */
	if (rc != SPI_OK_SELECT || SPI_processed != (uint64) nclaims)
		elog(ERROR, "latest rows: expected %d, got " UINT64_FORMAT " (%s)",
			 nclaims, SPI_processed, SPI_result_code_string(rc));
	rows = SPI_tuptable;

	for (int i = 0; i < nclaims; i++)
	{
		HeapTuple	row = rows->vals[i];
		TupleDesc	rdesc = rows->tupdesc;
		FsbPush    *p = &pushes[i];
		bool		isnull;
		Datum		time = heap_getattr(row, 2, rdesc, &isnull);
		int			f = 0;
		ListCell   *lc;

		memset(p, 0, sizeof(FsbPush));
		p->key = entity_key(fs->name, parts[i], nparts[i]);
		p->guard = claims[i].guard;
		if (isnull)
		{
			p->delete = true;	/* no row left */
			continue;
		}
		if (fs->online_ttl)
		{
			TimestampTz expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																		  time, IntervalPGetDatum(fs->online_ttl)));

			if (expires <= now)
			{
				p->delete = true;	/* already expired: not written */
				continue;
			}
			p->expire_at_ms = unix_ms(expires);
		}
		p->fields = palloc(sizeof(char *) * (nvalues + 1));
		p->values = palloc(sizeof(char *) * (nvalues + 1));
		foreach(lc, set->value_names)
		{
			int			v = foreach_current_index(lc);
			Datum		d = heap_getattr(row, 3 + v, rdesc, &isnull);

			if (isnull)
				continue;		/* a NULL column is absent */
			p->fields[f] = lfirst(lc);
			p->values[f++] = OutputFunctionCall(&set->outputs[v], d);
		}
		p->fields[f] = "_ts";
		p->values[f++] = fsb_redis_ts(DatumGetTimestampTz(time));
		p->nfields = f;
	}
	SPI_freetuptable(rows);
	return nclaims;
}

/* Counts a feature set's pushes, for fs_backfill.online_status. */
static void
record_pushes(const char *feature_set, int64 pushed)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(feature_set);
	values[1] = Int64GetDatum(pushed);
	fsb_spi_exec("INSERT INTO fs_backfill.online_state AS s (feature_set, pushed, last_push)"
				 " SELECT $1, $2, now()"
				 " WHERE EXISTS (SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1)"
				 " ON CONFLICT (feature_set) DO UPDATE SET pushed = s.pushed + $2, last_push = now()",
				 2, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Claims up to "limit" entries with an id above "after", but none of the
 * feature sets in "skipped" (a text[]), in the current memory context.  The locking subquery runs once, as an InitPlan (as an
 * IN (...) the planner may rescan it), and the deletion finds the locked
 * rows by ctid, which cannot change while we hold their lock.
 *
 * The plan is kept, generic, for the worker's life, and replanned when the
 * queue is recreated; the queue may be empty then and hold a million
 * entries the next minute.  So it is planned (and, in case of a replan,
 * run) with sequential scans and sorts disabled: the subquery must walk the
 * primary key from "after" on, never scan and sort the whole queue.
 */
static int
claim_entries(int limit, int64 after, Datum skipped, Claim *claims)
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
									   " RETURNING id, feature_set, entity, guard_ts",
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

		claims[i].id = DatumGetInt64(heap_getattr(row, 1, desc, &isnull));
		claims[i].feature_set = TextDatumGetCString(heap_getattr(row, 2, desc, &isnull));
		claims[i].entity = datumCopy(heap_getattr(row, 3, desc, &isnull), false, -1);
		claims[i].guard = TextDatumGetCString(heap_getattr(row, 4, desc, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/* The batch's state of a feature set, made on first sight. */
static BatchSet *
find_batch_set(List **sets, const char *name)
{
	ListCell   *lc;
	MemoryContext old;
	BatchSet   *set;

	foreach(lc, *sets)
	{
		set = lfirst(lc);
		if (strcmp(set->name, name) == 0)
			return set;
	}
	old = MemoryContextSwitchTo(batch_cxt);
	set = batch_set(name);
	MemoryContextSwitchTo(batch_cxt);
	*sets = lappend(*sets, set);
	MemoryContextSwitchTo(old);
	return set;
}

/*
 * The parked feature sets still waiting for their retry, as a text[] for the
 * claim, in the current memory context.  In a transaction.
 */
static Datum
skipped_sets(void)
{
	TimestampTz now = GetCurrentTimestamp();
	ArrayBuildState *names = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	ListCell   *lc;

	foreach(lc, parked_sets)
	{
		ParkedSet  *parked = lfirst(lc);

		if (parked->retry_at > now)
			accumArrayResult(names, CStringGetTextDatum(parked->name), false,
							 TEXTOID, CurrentMemoryContext);
	}
	return makeArrayResult(names, CurrentMemoryContext);
}

static ParkedSet *
find_parked_set(const char *name)
{
	ListCell   *lc;

	foreach(lc, parked_sets)
	{
		ParkedSet  *parked = lfirst(lc);

		if (strcmp(parked->name, name) == 0)
			return parked;
	}
	return NULL;
}

/*
 * Parks a feature set whose entries could not be pushed, or parks it longer.
 * Warns on its first failure only, not on every retry.  Takes no lock and
 * runs no SQL: the caller is cleaning up after an error.
 */
static void
park_set(const char *name, int sqlerrcode, const char *error)
{
	ParkedSet  *parked = find_parked_set(name);
	MemoryContext old = MemoryContextSwitchTo(worker_cxt);

	if (parked == NULL)
	{
		parked = palloc0(sizeof(ParkedSet));
		parked->name = pstrdup(name);
		parked->wait_ms = 1000;
		parked_sets = lappend(parked_sets, parked);
		ereport(WARNING,
				(errcode(sqlerrcode),
				 errmsg("fs_backfill online worker could not push feature set \"%s\": %s",
						name, error),
				 errdetail("Its entries stay queued and are tried again, at most every %d s; the other feature sets go on.",
						   FSB_BACKOFF_MAX_MS / 1000)));
	}
	else
	{
		pfree(parked->error);
		parked->wait_ms = Min(FSB_BACKOFF_MAX_MS, parked->wait_ms * 2);
	}
	parked->error = pstrdup(error);
	parked->error_recorded = false;
	parked->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), parked->wait_ms);
	MemoryContextSwitchTo(old);
}

/* A parked feature set whose entries were pushed is parked no more. */
static void
unpark_set(const char *name)
{
	ParkedSet  *parked = find_parked_set(name);

	if (parked == NULL)
		return;
	parked_sets = list_delete_ptr(parked_sets, parked);
	ereport(LOG,
			(errmsg("fs_backfill online worker pushes feature set \"%s\" again", name)));
	pfree(parked->name);
	pfree(parked->error);
	pfree(parked);
}

/*
 * Shows the parked feature sets' errors in fs_backfill.online_status: one
 * transaction, as the extension owner, for the errors not recorded yet.
 */
static void
record_set_errors(void)
{
	ListCell   *lc;
	bool		any = false;
	FsbSavedUser saved;

	foreach(lc, parked_sets)
		any |= !((ParkedSet *) lfirst(lc))->error_recorded;
	if (!any)
		return;

	begin_transaction("fs_backfill: recording a feature set's error");
	fsb_become_user(fsb_extension_owner(), &saved);
	foreach(lc, parked_sets)
	{
		ParkedSet  *parked = lfirst(lc);
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2];

		if (parked->error_recorded)
			continue;
		values[0] = CStringGetTextDatum(parked->name);
		values[1] = CStringGetTextDatum(parked->error);
		fsb_spi_exec("INSERT INTO fs_backfill.online_state AS s (feature_set, last_error, last_error_at)"
					 " SELECT $1, $2, now()"
					 " WHERE EXISTS (SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1)"
					 " ON CONFLICT (feature_set) DO UPDATE SET last_error = $2, last_error_at = now()",
					 2, types, values, NULL, SPI_OK_INSERT);
		parked->error_recorded = true;
	}
	fsb_restore_user(&saved);
	commit_transaction();
}

/*
 * Claims and pushes one chunk of entries, in chunk_cxt.  Returns how many it
 * claimed; 0 means the queue has nothing more for this batch.
 */
static int
push_chunk(int limit, int64 *after, Datum skipped, List **sets, int *pushed,
		   char **error, bool *failed)
{
	MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
	Claim	   *claims = palloc(sizeof(Claim) * limit);
	Claim	   *mine = palloc(sizeof(Claim) * limit);
	FsbPush    *pushes = palloc(sizeof(FsbPush) * limit);
	int			nclaims = claim_entries(limit, *after, skipped, claims);
	int			npushes = 0;
	ListCell   *lc;

	/* the sets of this chunk, each met first in it or before */
	for (int i = 0; i < nclaims; i++)
	{
		set_at_work = claims[i].feature_set;
		(void) find_batch_set(sets, claims[i].feature_set);
	}

	foreach(lc, *sets)
	{
		BatchSet   *set = lfirst(lc);
		int			nmine = 0;

		for (int i = 0; i < nclaims; i++)
			if (strcmp(claims[i].feature_set, set->name) == 0)
				mine[nmine++] = claims[i];
		set->claimed += nmine;
		set_at_work = set->name;
		if (set->fs != NULL && nmine > 0)
			npushes += build_pushes(set, mine, nmine, pushes + npushes);
	}
	set_at_work = NULL;
	for (int i = 0; i < nclaims; i++)
		*after = Max(*after, claims[i].id);
	*pushed += npushes;
	*failed = npushes > 0 && !fsb_redis_send(redis, pushes, npushes, error);
	if (*failed)
		*error = MemoryContextStrdup(batch_cxt, *error);
	MemoryContextSwitchTo(old);
	MemoryContextReset(chunk_cxt);
	return nclaims;
}

/*
 * Drains one batch: up to fs_backfill.online_batch_size entries in one
 * transaction, claimed and sent in chunks of FSB_CHUNK entries, so that Redis
 * applies one chunk while the next one is read.  The claims are ordered by
 * id, from "after" on, each chunk after the last; *last is set to the
 * highest id claimed once the batch committed.  Returns the number of
 * entries done; -1 when Redis failed (the transaction rolled back; the error
 * is in *error), or FSB_BATCH_AGAIN when it had to be given the push script
 * again.
 *
 * The commit need not wait for its WAL to reach disk: if a crash loses it,
 * its entries come back and are pushed again, which delivery at least once
 * allows.
 */
static int
drain_batch(int64 after, int64 *last, char **error)
{
	List	   *sets = NIL;
	ListCell   *lc;
	int			claimed = 0;
	int			pushed = 0;
	bool		failed = false;
	FsbSavedUser saved;
	FsbPushResult result;
	Datum		skipped;

	begin_transaction("fs_backfill: pushing to Redis");
	skipped = skipped_sets();
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	while (claimed < fsb_online_batch_size && !failed)
	{
		int			limit = Min(claimed == 0 ? FSB_FIRST_CHUNK : FSB_CHUNK,
								fsb_online_batch_size - claimed);
		int			n = push_chunk(limit, &after, skipped, &sets, &pushed, error,
								   &failed);

		claimed += n;
		if (n < limit)
			break;
	}
	result = failed ? FSB_PUSH_FAILED : fsb_redis_wait(redis, error);
	if (result != FSB_PUSH_DONE)
	{
		/* the message lives in SPI's memory, which SPI_finish frees */
		if (!failed && *error != NULL)
			*error = MemoryContextStrdup(batch_cxt, *error);
		SPI_finish();
		PopActiveSnapshot();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		return result == FSB_PUSH_AGAIN ? FSB_BATCH_AGAIN : -1;
	}

	/* Redis acknowledged: the entries' deletion may commit */
	fsb_become_user(fsb_extension_owner(), &saved);
	foreach(lc, sets)
	{
		BatchSet   *set = lfirst(lc);

		record_pushes(set->name, set->claimed);
	}
	fsb_restore_user(&saved);
	commit_transaction();
	*last = after;
	fsb_worker_report(pushed, true, NULL);
	foreach(lc, sets)
	{
		BatchSet   *set = lfirst(lc);

		if (set->claimed > 0)
			unpark_set(set->name);
	}
	return claimed;
}

/*
 * Empties the queue's files once it ran empty: TRUNCATE, as the extension
 * owner, when the queue can be locked at once and holds no entry.  Holding
 * ACCESS EXCLUSIVE, no transaction can be inserting entries meanwhile.
 * Returns whether it did; a backfill queueing entries just then, or entries
 * left behind, make it give up (the queue is VACUUMed instead).
 */
static bool
truncate_empty_queue(void)
{
	bool		truncated = false;
	Oid			queue;
	FsbSavedUser saved;

	begin_transaction("fs_backfill: truncating the drained queue");
	queue = get_relname_relid("online_queue", get_namespace_oid(FSB_SCHEMA, false));
	fsb_become_user(fsb_extension_owner(), &saved);
	if (ConditionalLockRelationOid(queue, AccessExclusiveLock) &&
		fsb_spi_count("SELECT count(*) FROM (SELECT FROM fs_backfill.online_queue LIMIT 1) q",
					  0, NULL, NULL) == 0)
	{
		fsb_spi_exec("TRUNCATE fs_backfill.online_queue", 0, NULL, NULL, NULL,
					 SPI_OK_UTILITY);
		truncated = true;
	}
	fsb_restore_user(&saved);
	commit_transaction();
	return truncated;
}

/*
 * VACUUMs the queue, so that its next fill reuses the space instead of
 * growing the table: autovacuum may not come by between a drain and the
 * next fill.  Runs outside any transaction block, as autovacuum's vacuum()
 * does, as the worker's role, and only if that role owns the queue (or is a
 * superuser).
 */
static void
vacuum_queue(void)
{
	VacuumStmt *stmt = makeNode(VacuumStmt);
	ParseState *pstate = make_parsestate(NULL);

	stmt->options = NIL;
	stmt->is_vacuumcmd = true;
	stmt->rels = list_make1(makeVacuumRelation(makeRangeVar(FSB_SCHEMA, "online_queue", -1),
											   InvalidOid, NIL));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (!pg_class_ownercheck(get_relname_relid("online_queue",
											   get_namespace_oid(FSB_SCHEMA, false)),
							 GetUserId()))
	{
		/* VACUUM would skip it with a warning: leave it to autovacuum */
		CommitTransactionCommand();
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "fs_backfill: vacuum of the drained queue");
	ExecVacuum(pstate, stmt, true);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Queues every entity of every online feature set (Redis lost its data). */
static void
resync_all(void)
{
	List	   *names = NIL;
	ListCell   *lc;
	int64		total = 0;
	int			nsets;
	FsbSavedUser saved;

	begin_transaction("fs_backfill: resync after Redis lost its data");
	fsb_become_user(fsb_extension_owner(), &saved);
	fsb_spi_exec("SELECT name FROM fs_backfill.feature_sets WHERE online ORDER BY name",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	fsb_restore_user(&saved);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, names)
	{
		FsbFeatureSet *fs = fsb_catalog_load(lfirst(lc));

		if (get_rel_name(fs->target) != NULL)
			total += fsb_queue_everything(fs);
	}
	nsets = list_length(names);	/* the list is in SPI's memory */
	commit_transaction();
	ereport(LOG,
			(errmsg("Redis at %s holds no fs_backfill data; queued " INT64_FORMAT " entities of %d feature sets",
					fsb_redis_endpoint(fsb_redis_url), total, nsets)));
}

/* Logs a change of Redis state once; quiet while it stays the same. */
static void
redis_state_changed(bool up, const char *error)
{
	static int	last = -1;		/* -1 unknown, 0 down, 1 up */

	if (up && last != 1)
	{
		if (last == 0)
			ereport(LOG,
					(errmsg("connected to Redis at %s again", fsb_redis_endpoint(fsb_redis_url))));
		fsb_worker_set_redis_state("connected");
	}
	else if (!up && last != 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("%s", error),
				 errdetail("Queued entities are kept and pushed when Redis is back.")));
		fsb_worker_set_redis_state("down");
	}
	if (!up)
		fsb_worker_report(0, false, error);
	last = up ? 1 : 0;
}

/* Connects if needed and handles a lost sentinel.  False when Redis is down. */
static bool
ensure_redis(char **error)
{
	int			present;

	if (redis_url_in_use == NULL || strcmp(redis_url_in_use, fsb_redis_url) != 0 ||
		reconnect_wanted)
	{
		reconnect_wanted = false;
		fsb_redis_close(redis);
		redis = NULL;
		if (redis_url_in_use)
			pfree(redis_url_in_use);
		redis_url_in_use = MemoryContextStrdup(worker_cxt, fsb_redis_url);
	}
	if (redis == NULL &&
		(redis = fsb_redis_connect(fsb_redis_url, fsb_redis_password_file,
								   fsb_redis_timeout, error)) == NULL)
		return false;

	present = fsb_redis_sentinel_present(redis, error);
	if (present < 0)
		return false;
	if (present == 0)
	{
		resync_all();
		if (!fsb_redis_set_sentinel(redis, error))
			return false;
	}
	return true;
}

void
fsb_worker_main(Datum main_arg)
{
	volatile int backoff_ms = 0;
	volatile int64 drained = 0;	/* since the last VACUUM of the queue */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	fsb_worker_attach();
	BackgroundWorkerInitializeConnection(fsb_database,
										 fsb_worker_role[0] ? fsb_worker_role : NULL, 0);
	/* values reach Redis as text, the same way whatever postgresql.conf says */
	SetConfigOption("DateStyle", "ISO, YMD", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("TimeZone", "UTC", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("extra_float_digits", "1", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "fs_backfill online worker", PGC_SUSET, PGC_S_OVERRIDE);

#ifdef __GLIBC__

	/*
	 * Each chunk allocates and frees a few megabytes.  By default glibc gives
	 * them back to the kernel every time, and the next chunk faults them in
	 * again: about 15% of the worker's time while draining.  Keep them.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
#endif

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "fs_backfill worker",
									   ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(worker_cxt, "fs_backfill batch",
									  ALLOCSET_DEFAULT_SIZES);
	chunk_cxt = AllocSetContextCreate(worker_cxt, "fs_backfill chunk",
									  ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("fs_backfill online worker started in database \"%s\"", fsb_database)));

	for (;;)
	{
		bool		ready;
		char	   *error = NULL;
		int			done;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			reconnect_wanted = true;
		}

		/*
		 * An error in a batch (a target dropped meanwhile, say) rolls it
		 * back; the worker reports it and carries on after a pause.
		 */
		PG_TRY();
		{
			StartTransactionCommand();
			ready = extension_ready();
			CommitTransactionCommand();

			/* shown in online_status also while Redis is down */
			if (ready)
				record_set_errors();

			MemoryContextReset(batch_cxt);
			if (ready)
			{
				MemoryContext old = MemoryContextSwitchTo(batch_cxt);
				bool		up = ensure_redis(&error);
				bool		script_reloaded = false;
				int64		after = 0;
				int			batches = 0;

				/*
				 * Each batch goes on from the last one's highest id: starting
				 * from the queue's head every time would walk the index
				 * entries of every entry drained so far.  An entry committed
				 * meanwhile with a lower id is found when the drain starts
				 * again from the head: at the next wake-up, or after
				 * FSB_RESTART_BATCHES batches while the queue stays full.
				 */
				while (up)
				{
					CHECK_FOR_INTERRUPTS();
					MemoryContextReset(batch_cxt);
					if (++batches % FSB_RESTART_BATCHES == 0)
						after = 0;
					done = drain_batch(after, &after, &error);
					/* the script was loaded again: once, not forever */
					if (done == FSB_BATCH_AGAIN && !script_reloaded)
					{
						script_reloaded = true;
						continue;
					}
					if (done == FSB_BATCH_AGAIN)
					{
						error = psprintf("Redis at %s keeps forgetting the push script",
										 fsb_redis_endpoint(fsb_redis_url));
						done = -1;
					}
					script_reloaded = false;
					if (done < 0)
						up = false;
					else
						drained += done;
					if (done >= 0 && done < fsb_online_batch_size)
						break;
				}
				if (up && drained >= FSB_VACUUM_AFTER)
				{
					MemoryContextSwitchTo(old);
					if (!truncate_empty_queue())
						vacuum_queue();
					drained = 0;
				}
				MemoryContextSwitchTo(old);
				if (!up)
				{
					fsb_redis_close(redis);
					redis = NULL;
					backoff_ms = Min(FSB_BACKOFF_MAX_MS, Max(100, backoff_ms * 2));
				}
				else
					backoff_ms = 0;
				redis_state_changed(up, error);
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(worker_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);
			/* replies of the failed batch are unread: start afresh */
			if (redis && fsb_redis_busy(redis))
			{
				fsb_redis_close(redis);
				redis = NULL;
			}
			fsb_worker_report(0, false, edata->message);
			if (set_at_work != NULL)
			{
				/* one feature set's fault: the others go on at once */
				park_set(set_at_work, edata->sqlerrcode, edata->message);
				set_at_work = NULL;
				SetLatch(MyLatch);
			}
			else
			{
				ereport(WARNING,
						(errcode(edata->sqlerrcode),
						 errmsg("fs_backfill online worker could not push a batch: %s",
								edata->message)));
				backoff_ms = Min(FSB_BACKOFF_MAX_MS, Max(100, backoff_ms * 2));
			}
			FreeErrorData(edata);
		}
		PG_END_TRY();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff_ms > 0 ? backoff_ms : fsb_online_naptime,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
