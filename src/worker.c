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
 * Each batch is one transaction, drained by drain.c: the worker pushes
 * batches while they come back full.  When Redis fails, the batch rolls
 * back, its entries stay (delivery is at least once) and the worker backs
 * off, doubling its wait up to 10 s, logging once per change of state, not
 * per attempt.  When one feature set's entries fail, that feature set is
 * parked and the others go on at once.
 *
 * Once the queue ran empty after many entries the worker TRUNCATEs it (or,
 * when a backfill is queueing entries just then, VACUUMs it), so that its
 * size stays bounded however often it is filled and drained.
 *
 * A Redis that lost its data (restarted empty, flushed) has lost the
 * sentinel key: the worker then queues every entity of every online
 * feature set, and sets the sentinel again once that has committed.  Each
 * feature set is queued in a subtransaction of its own: one that cannot be
 * (its target unreadable, a key column renamed) shows its error in
 * online_status and is tried again later, with a backoff, while the others
 * are queued at once.
 *
 * Values reach Redis as text the same way whatever the server's settings:
 * the worker pins every setting that changes the text of a value.
 *
 * Memory: the worker's state lives in "fs_backfill worker"; what one pass
 * of its loop needs (messages, mostly) in "fs_backfill worker loop", reset
 * at the start of each pass.
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

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/vacuum.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "fs_backfill.h"
#include "worker.h"

PGDLLEXPORT void fsb_worker_main(Datum main_arg);

/* Full batches after which a drain starts again from the queue's head. */
#define FSB_RESTART_BATCHES 100

/* Entries drained since the last VACUUM of the queue that call for one. */
#define FSB_VACUUM_AFTER 10000

static MemoryContext worker_cxt;
static MemoryContext loop_cxt;
static FsbRedis *redis = NULL;
static char *redis_url_in_use = NULL;
static bool reconnect_wanted = false;	/* after a reload */

/* Feature sets not queued again after Redis lost its data: in worker_cxt. */
static List *resync_failed = NIL;
static int	resync_wait_ms = 0;
static TimestampTz resync_retry_at = 0;

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

/* The queue, or InvalidOid when the extension is not installed.  In a transaction. */
static Oid
queue_relid(void)
{
	Oid			schema = get_namespace_oid(FSB_SCHEMA, true);

	return OidIsValid(schema) ? get_relname_relid("online_queue", schema) : InvalidOid;
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

	fsb_worker_xact_begin("fs_backfill: truncating the drained queue");
	queue = queue_relid();
	fsb_become_user(fsb_extension_owner(), &saved);
	if (ConditionalLockRelationOid(queue, AccessExclusiveLock))
		truncated = fsb_catalog_queue_truncate_empty();
	fsb_restore_user(&saved);
	fsb_worker_xact_commit();
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
	if (!pg_class_ownercheck(queue_relid(), GetUserId()))
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

/*
 * Queues every entity of one feature set again, in a subtransaction, so that
 * one that cannot be queued rolls back alone: its error is logged and shown
 * in online_status.  Returns how many were queued, or -1 then.  Caller is in
 * a transaction, connected to SPI.
 */
static int64
resync_set(const char *name)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile int64 queued = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		FsbFeatureSet *fs = fsb_catalog_find(name);

		if (fs != NULL && fs->online && get_rel_name(fs->target) != NULL)
			queued = fsb_queue_everything(fs);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		FsbSavedUser saved;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("fs_backfill online worker could not queue feature set \"%s\" again after Redis lost its data: %s",
						name, edata->message),
				 errdetail("The other feature sets are queued; this one is tried again, at most every %d s.",
						   FSB_BACKOFF_MAX_MS / 1000)));
		fsb_become_user(fsb_extension_owner(), &saved);
		fsb_catalog_online_error(name,
							   psprintf("could not queue feature set \"%s\" again after Redis lost its data: %s",
										name, edata->message));
		fsb_restore_user(&saved);
		FreeErrorData(edata);
		queued = -1;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return queued;
}

/*
 * Queues every entity of every online feature set (Redis lost its data) or,
 * with "retry", of those that could not be queued last time.  Those that
 * cannot be queued now are kept in resync_failed, for a retry after a
 * backoff.
 */
static void
resync(bool retry)
{
	List	   *names;
	List	   *failed = NIL;
	ListCell   *lc;
	int64		total = 0;
	int			nsets;

	fsb_worker_xact_begin("fs_backfill: resync after Redis lost its data");
	names = retry ? resync_failed : fsb_catalog_online_set_names();
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		int64		queued = resync_set(name);
		MemoryContext old = MemoryContextSwitchTo(worker_cxt);

		if (queued < 0)
			failed = lappend(failed, pstrdup(name));
		else
			total += queued;
		if (retry && queued >= 0)
			ereport(LOG,
					(errmsg("fs_backfill online worker queued feature set \"%s\" again: " INT64_FORMAT " entities",
							name, queued)));
		MemoryContextSwitchTo(old);
	}
	nsets = list_length(names);	/* the list may be in SPI's memory */
	fsb_worker_xact_commit();
	list_free_deep(resync_failed);
	resync_failed = failed;
	resync_wait_ms = failed ? fsb_next_backoff(retry ? resync_wait_ms : 0, 1000) : 0;
	resync_retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), resync_wait_ms);
	if (!retry)
		ereport(LOG,
				(errmsg("Redis at %s holds no fs_backfill data; queued " INT64_FORMAT " entities of %d feature sets",
						fsb_redis_endpoint(fsb_redis_url), total, nsets - list_length(failed))));
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
		resync(false);
		if (!fsb_redis_set_sentinel(redis, error))
			return false;
	}
	else if (resync_failed != NIL && GetCurrentTimestamp() >= resync_retry_at)
		resync(true);
	return true;
}

/*
 * Values reach Redis as text the same way whatever postgresql.conf, a
 * reload or the worker's role say: every setting that changes the output of
 * a value is pinned, as the queue pins the text of entity keys.
 */
static void
pin_output_settings(void)
{
	static const char *const pinned[][2] = {
		{"DateStyle", "ISO, YMD"}, {"TimeZone", "UTC"},
		{"IntervalStyle", "postgres"}, {"extra_float_digits", "1"},
		{"bytea_output", "hex"}, {"lc_monetary", "C"}
	};

	for (int i = 0; i < lengthof(pinned); i++)
		SetConfigOption(pinned[i][0], pinned[i][1], PGC_SUSET, PGC_S_OVERRIDE);
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
	pin_output_settings();
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
	loop_cxt = AllocSetContextCreate(worker_cxt, "fs_backfill worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	fsb_drain_init(worker_cxt);
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
		 * An error in a batch rolls it back; the worker reports it.  When
		 * one feature set is to blame (its target unreadable, say), the
		 * worker parks it and goes on with the others at once; otherwise it
		 * carries on after a pause.
		 */
		PG_TRY();
		{
			StartTransactionCommand();
			ready = OidIsValid(queue_relid());
			CommitTransactionCommand();

			/* shown in online_status also while Redis is down */
			if (ready)
				fsb_drain_record_errors();

			MemoryContextReset(loop_cxt);
			if (ready)
			{
				MemoryContext old = MemoryContextSwitchTo(loop_cxt);
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
					if (++batches % FSB_RESTART_BATCHES == 0)
						after = 0;
					done = fsb_drain_batch(redis, after, &after, &error);
					MemoryContextSwitchTo(loop_cxt);	/* a commit left us elsewhere */
					/* Redis refused feature sets, now parked: show why, go on */
					if (done == FSB_BATCH_PARKED)
					{
						fsb_drain_record_errors();
						MemoryContextSwitchTo(loop_cxt);
						continue;
					}
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
					if (!truncate_empty_queue())
						vacuum_queue();
					drained = 0;
				}
				MemoryContextSwitchTo(old);
				if (!up)
				{
					fsb_redis_close(redis);
					redis = NULL;
					backoff_ms = fsb_next_backoff(backoff_ms, 100);
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
			if (fsb_drain_blame(edata->sqlerrcode, edata->message))
			{
				/* one feature set's fault: the others go on at once */
				SetLatch(MyLatch);
			}
			else
			{
				ereport(WARNING,
						(errcode(edata->sqlerrcode),
						 errmsg("fs_backfill online worker could not push a batch: %s",
								edata->message)));
				backoff_ms = fsb_next_backoff(backoff_ms, 100);
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
