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
 * "fs_backfill batch", reset after every batch.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

/* Entries drained since the last VACUUM of the queue that call for one. */
#define FSB_VACUUM_AFTER 10000

static MemoryContext worker_cxt;
static MemoryContext batch_cxt;
static FsbRedis *redis = NULL;
static char *redis_url_in_use = NULL;
static bool reconnect_wanted = false;	/* after a reload */

/* One claimed queue entry. */
typedef struct Claim
{
	int64		id;
	char	   *feature_set;
	Datum		entity;			/* text[] */
	char	   *guard;
} Claim;

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
 * Builds the pushes for the claims of one feature set: reads each entity's
 * latest row.  Caller is in a transaction, connected to SPI; the pushes live
 * in SPI's procedure memory, until SPI_finish.
 */
static int
build_pushes(const FsbFeatureSet *fs, Claim *claims, int nclaims,
			 FsbPush *pushes)
{
	Relation	target = fsb_open_target(fs, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(target);
	int			nkeys = list_length(fs->entity_columns);
	TimestampTz now = GetCurrentTimestamp();
	StringInfoData sql;
	StringInfoData cols;
	StringInfoData unnest;
	StringInfoData names;
	StringInfoData match;
	List	   *value_names = NIL;
	Oid		   *types = palloc(sizeof(Oid) * nkeys);
	Datum	   *values = palloc(sizeof(Datum) * nkeys);
	ListCell   *lc;
	FmgrInfo   *outputs;
	int			nest;
	int			n = 0;

	/* value columns: all but the keys and the time */
	initStringInfo(&cols);
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, a);
		const char *name = NameStr(attr->attname);
		bool		is_key = false;

		if (attr->attisdropped || strcmp(name, fs->time_column) == 0)
			continue;
		foreach(lc, fs->entity_columns)
			is_key |= strcmp(lfirst(lc), name) == 0;
		if (is_key)
			continue;
		value_names = lappend(value_names, pstrdup(name));
		appendStringInfo(&cols, ", t.%s", quote_identifier(name));
	}

	/* one text[] parameter per key column, zipped by unnest */
	initStringInfo(&unnest);
	initStringInfo(&names);
	initStringInfo(&match);
	foreach(lc, fs->entity_columns)
	{
		int			k = foreach_current_index(lc);
		AttrNumber	attnum = get_attnum(fs->target, lfirst(lc));
		Oid			type = TupleDescAttr(desc, attnum - 1)->atttypid;
		ArrayBuildState *astate = NULL;

		for (int i = 0; i < nclaims; i++)
		{
			ArrayType  *entity = DatumGetArrayTypeP(claims[i].entity);
			bool		isnull;
			int			idx = k + 1;
			Datum		v = array_get_element(PointerGetDatum(entity), 1, &idx,
											  -1, -1, false, TYPALIGN_INT, &isnull);

			astate = accumArrayResult(astate, v, isnull, TEXTOID, CurrentMemoryContext);
		}
		types[k] = TEXTARRAYOID;
		values[k] = makeArrayResult(astate, CurrentMemoryContext);
		appendStringInfo(&unnest, "%s$%d", k > 0 ? ", " : "", k + 1);
		appendStringInfo(&names, "%sk%d", k > 0 ? ", " : "", k + 1);
		appendStringInfo(&match, "%st.%s = CAST(u.k%d AS %s)", k > 0 ? " AND " : "",
						 quote_identifier(lfirst(lc)), k + 1,
						 format_type_be_qualified(type));
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
	fsb_spi_exec(sql.data, nkeys, types, values, NULL, SPI_OK_SELECT);
	fsb_unpin_search_path(nest);
	if (SPI_processed != (uint64) nclaims)
		elog(ERROR, "latest rows: expected %d, got " UINT64_FORMAT, nclaims, SPI_processed);

	/* output functions of the value columns, looked up once */
	{
		TupleDesc	rdesc = SPI_tuptable->tupdesc;

		outputs = palloc(sizeof(FmgrInfo) * list_length(value_names));
		for (int v = 0; v < list_length(value_names); v++)
		{
			Oid			func;
			bool		varlena;

			getTypeOutputInfo(TupleDescAttr(rdesc, 2 + v)->atttypid, &func, &varlena);
			fmgr_info(func, &outputs[v]);
		}
	}

	for (int i = 0; i < nclaims; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	rdesc = SPI_tuptable->tupdesc;
		FsbPush    *p = &pushes[n++];
		bool		isnull;
		Datum		time = SPI_getbinval(row, rdesc, 2, &isnull);
		StringInfoData key;
		ArrayType  *entity = DatumGetArrayTypeP(claims[i].entity);
		Datum	   *parts;
		int			nparts;
		int			f = 0;

		deconstruct_array(entity, TEXTOID, -1, false, TYPALIGN_INT, &parts, NULL, &nparts);
		initStringInfo(&key);
		appendStringInfo(&key, "fs:%s", fs->name);
		for (int k = 0; k < nparts; k++)
			appendStringInfo(&key, ":%s", TextDatumGetCString(parts[k]));

		memset(p, 0, sizeof(FsbPush));
		p->key = key.data;
		p->guard = claims[i].guard;
		p->fields = palloc(sizeof(char *) * (list_length(value_names) + 1));
		p->values = palloc(sizeof(char *) * (list_length(value_names) + 1));
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
		foreach(lc, value_names)
		{
			int			v = foreach_current_index(lc);
			Datum		d = SPI_getbinval(row, rdesc, 3 + v, &isnull);

			if (isnull)
				continue;		/* a NULL column is absent */
			p->fields[f] = lfirst(lc);
			p->values[f++] = OutputFunctionCall(&outputs[v], d);
		}
		p->fields[f] = "_ts";
		p->values[f++] = fsb_redis_ts(DatumGetTimestampTz(time));
		p->nfields = f;
	}
	return n;
}

/* Records a push or an error per feature set, for fs_backfill.online_status. */
static void
record_state(const char *feature_set, int64 pushed, const char *error)
{
	Oid			types[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(feature_set);
	values[1] = Int64GetDatum(pushed);
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[2] = error ? ' ' : 'n';
	fsb_spi_exec(error ?
				 "INSERT INTO fs_backfill.online_state AS s (feature_set, last_error, last_error_at)"
				 " SELECT $1, $3, now() WHERE $2 >= 0"
				 " AND EXISTS (SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1)"
				 " ON CONFLICT (feature_set) DO UPDATE SET last_error = $3, last_error_at = now()" :
				 "INSERT INTO fs_backfill.online_state AS s (feature_set, pushed, last_push)"
				 " SELECT $1, $2, now() WHERE $3 IS NULL"
				 " AND EXISTS (SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1)"
				 " ON CONFLICT (feature_set) DO UPDATE SET pushed = s.pushed + $2, last_push = now()",
				 3, types, values, nulls, SPI_OK_INSERT);
}

/*
 * Drains one batch.  Returns the number of entries done, or -1 when Redis
 * failed (the transaction rolled back; the error is in *error).
 */
static int
drain_batch(char **error)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(fsb_online_batch_size)};
	Claim	   *claims;
	FsbPush    *pushes;
	int			nclaims;
	int			npushes = 0;
	int			nest;
	List	   *sets = NIL;
	ListCell   *lc;

	begin_transaction("fs_backfill: pushing to Redis");
	nest = fsb_pin_search_path();
	/* the CTE claims once; as an IN (...) the planner may rescan it */
	fsb_spi_exec("WITH claimed AS MATERIALIZED"
				 " (SELECT id FROM fs_backfill.online_queue"
				 "   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
				 " DELETE FROM fs_backfill.online_queue q USING claimed"
				 " WHERE q.id = claimed.id"
				 " RETURNING q.id, q.feature_set, q.entity, q.guard_ts",
				 1, types, values, NULL, SPI_OK_DELETE_RETURNING);
	fsb_unpin_search_path(nest);
	nclaims = (int) SPI_processed;
	if (nclaims == 0)
	{
		commit_transaction();
		return 0;
	}

	claims = palloc(sizeof(Claim) * nclaims);
	for (int i = 0; i < nclaims; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		claims[i].id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		claims[i].feature_set = SPI_getvalue(row, desc, 2);
		claims[i].entity = datumCopy(SPI_getbinval(row, desc, 3, &isnull), false, -1);
		claims[i].guard = SPI_getvalue(row, desc, 4);
		if (!list_member(sets, makeString(claims[i].feature_set)))
			sets = lappend(sets, makeString(claims[i].feature_set));
	}

	/* latest rows, feature set by feature set */
	pushes = palloc(sizeof(FsbPush) * nclaims);
	foreach(lc, sets)
	{
		const char *name = strVal(lfirst(lc));
		FsbFeatureSet *fs = fsb_catalog_find(name);
		Claim	   *mine = palloc(sizeof(Claim) * nclaims);
		int			nmine = 0;

		/* dropped, no longer online, or its table gone: just forget */
		if (fs == NULL || !fs->online || get_rel_name(fs->target) == NULL)
			continue;
		for (int i = 0; i < nclaims; i++)
			if (strcmp(claims[i].feature_set, name) == 0)
				mine[nmine++] = claims[i];
		npushes += build_pushes(fs, mine, nmine, pushes + npushes);
	}

	if (npushes > 0 && !fsb_redis_push(redis, pushes, npushes, error))
	{
		/* the message lives in SPI's memory, which SPI_finish frees */
		*error = MemoryContextStrdup(batch_cxt, *error);
		SPI_finish();
		PopActiveSnapshot();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		return -1;
	}

	/* Redis acknowledged: the entries' deletion may commit */
	foreach(lc, sets)
	{
		int64		count = 0;

		for (int i = 0; i < nclaims; i++)
			count += strcmp(claims[i].feature_set, strVal(lfirst(lc))) == 0;
		record_state(strVal(lfirst(lc)), count, NULL);
	}
	commit_transaction();
	fsb_worker_report(npushes, true, NULL);
	return nclaims;
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

	begin_transaction("fs_backfill: truncating the drained queue");
	queue = get_relname_relid("online_queue", get_namespace_oid(FSB_SCHEMA, false));
	if (ConditionalLockRelationOid(queue, AccessExclusiveLock) &&
		fsb_spi_count("SELECT count(*) FROM (SELECT FROM fs_backfill.online_queue LIMIT 1) q",
					  0, NULL, NULL) == 0)
	{
		FsbSavedUser saved;

		fsb_become_user(fsb_extension_owner(), &saved);
		fsb_spi_exec("TRUNCATE fs_backfill.online_queue", 0, NULL, NULL, NULL,
					 SPI_OK_UTILITY);
		fsb_restore_user(&saved);
		truncated = true;
	}
	commit_transaction();
	return truncated;
}

/*
 * VACUUMs the queue, so that its next fill reuses the space instead of
 * growing the table: autovacuum may not come by between a drain and the
 * next fill.  Runs outside any transaction block, as autovacuum's vacuum()
 * does, as the worker's role (VACUUM skips a table it does not own).
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

	begin_transaction("fs_backfill: resync after Redis lost its data");
	fsb_spi_exec("SELECT name FROM fs_backfill.feature_sets WHERE online ORDER BY name",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, names)
	{
		FsbFeatureSet *fs = fsb_catalog_load(lfirst(lc));

		if (get_rel_name(fs->target) != NULL)
			total += fsb_queue_everything(fs);
	}
	commit_transaction();
	ereport(LOG,
			(errmsg("Redis at %s holds no fs_backfill data; queued " INT64_FORMAT " entities of %d feature sets",
					fsb_redis_endpoint(fsb_redis_url), total, list_length(names))));
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

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "fs_backfill worker",
									   ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(worker_cxt, "fs_backfill batch",
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

			MemoryContextReset(batch_cxt);
			if (ready)
			{
				MemoryContext old = MemoryContextSwitchTo(batch_cxt);
				bool		up = ensure_redis(&error);

				while (up)
				{
					CHECK_FOR_INTERRUPTS();
					MemoryContextReset(batch_cxt);
					done = drain_batch(&error);
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
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("fs_backfill online worker could not push a batch: %s",
							edata->message)));
			fsb_worker_report(0, false, edata->message);
			FreeErrorData(edata);
			backoff_ms = Min(FSB_BACKOFF_MAX_MS, Max(100, backoff_ms * 2));
		}
		PG_END_TRY();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff_ms > 0 ? backoff_ms : fsb_online_naptime,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
