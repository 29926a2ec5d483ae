/*-------------------------------------------------------------------------
 *
 * stage_worker.c
 *	  The background workers of staged runs: launcher, resumer,
 *	  coordinator and slice builder.
 *
 * Coordinator.  One per run, started when the transaction that staged or
 * resumed the run commits (from the resource-release callback, once its
 * locks are gone), connected to the run's database as the role that staged
 * it.  It loops until the run is over: it reads the run's slices, starts a
 * builder for each pending slice while fewer than the run's "parallel" are
 * building and the cluster has a builder's slot free (stage_shmem.c),
 * retries a slice whose builder failed with a transient error after a
 * backoff (one second, doubling, at most thirty), counts a builder that
 * exited without saying how it went as such a failure, and once every slice
 * is staged either publishes the run (publish => 'auto': status
 * 'publishing', then publish.c) or leaves it 'staged'.  It sleeps on its
 * latch, which the postmaster sets when a builder it started exits.
 *
 * Builder.  One per slice attempt, connected as the same role: it takes its
 * slice (status 'building', one more attempt) in a transaction of its own,
 * then builds it in another (stage_build.c).  An error there is recorded in
 * a third: transient ones (serialization failure, deadlock, lock not
 * available, connection exceptions) make the slice pending again while it
 * has attempts left; any other fails the slice and the run.  SIGTERM (a
 * cancel) ends it at the next interrupt check, and its transaction aborts:
 * what it was staging goes with it.
 *
 * Launcher and resumer.  After a restart (or a crash, which restarts every
 * worker), nothing remembers which runs were staging: the launcher, a
 * static worker connected to no database, starts one resumer per database
 * that allows connections, one after the other; each, connected as the
 * bootstrap superuser, makes the slices that were building pending again
 * and starts a coordinator for every run that was staging or publishing.
 * The launcher then sleeps until the server stops.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "stage.h"

PGDLLEXPORT void fsb_stage_launcher_main(Datum arg);
PGDLLEXPORT void fsb_stage_resumer_main(Datum arg);
PGDLLEXPORT void fsb_stage_coordinator_main(Datum arg);
PGDLLEXPORT void fsb_stage_builder_main(Datum arg);

/* Backoff before a slice's next attempt, in milliseconds. */
#define FSB_STAGE_BACKOFF_FIRST_MS 1000
#define FSB_STAGE_BACKOFF_MAX_MS 30000

/* What a staged run's worker needs besides its run id (bgw_extra). */
typedef struct FsbStageWorkerArgs
{
	Oid			dbid;
	Oid			role;
	int64		run_id;
	int			slice;			/* a builder's */
	int			slot;			/* a builder's, in stage_shmem.c */
	uint32		generation;
} FsbStageWorkerArgs;

static void stage_resource_callback(ResourceReleasePhase phase, bool isCommit,
									bool isTopLevel, void *arg);

/* Runs to start and to stop when the current transaction commits. */
static List *launch_at_commit = NIL;	/* of FsbAtCommit */
static List *signal_at_commit = NIL;	/* of FsbAtCommit (run_by unused) */

/* Fills a worker's registration, with its arguments. */
static void
worker_init(BackgroundWorker *worker, const char *function, const char *type,
			const char *name, const FsbStageWorkerArgs *args)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "fs_backfill");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", name);
	if (args)
		memcpy(worker->bgw_extra, args, sizeof(*args));
	worker->bgw_notify_pid = MyProcPid;
}

/* Called from _PG_init when preloading. */
void
fsb_stage_launcher_register(void)
{
	BackgroundWorker worker;

	worker_init(&worker, "fsb_stage_launcher_main", "fs_backfill stage launcher",
				"fs_backfill stage launcher", NULL);
	worker.bgw_restart_time = 10;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Starts the coordinator of a run; false when no background worker slot is
 * free (fs_backfill_resume starts it later).
 */
bool
fsb_stage_start_coordinator(Oid dbid, Oid role, int64 run_id)
{
	BackgroundWorker worker;
	FsbStageWorkerArgs args;

	memset(&args, 0, sizeof(args));
	args.dbid = dbid;
	args.role = role;
	args.run_id = run_id;
	worker_init(&worker, "fsb_stage_coordinator_main",
				"fs_backfill stage coordinator",
				psprintf("fs_backfill stage coordinator of run " INT64_FORMAT, run_id),
				&args);
	worker.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}

/* What remember() keeps: the run, and the subtransaction that asked. */
typedef struct FsbAtCommit
{
	FsbRunRef	ref;
	int			nest_level;
} FsbAtCommit;

/* Forgets what an aborted subtransaction asked for. */
static List *
forget_aborted(List *list, int nest_level)
{
	List	   *kept = NIL;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach(lc, list)
	{
		FsbAtCommit *entry = lfirst(lc);

		if (entry->nest_level >= nest_level)
			pfree(entry);
		else
			kept = lappend(kept, entry);
	}
	list_free(list);
	MemoryContextSwitchTo(old);
	return kept;
}

static void
stage_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	launch_at_commit = forget_aborted(launch_at_commit, GetCurrentTransactionNestLevel());
	signal_at_commit = forget_aborted(signal_at_commit, GetCurrentTransactionNestLevel());
}

/*
 * A prepared transaction commits later, in another session: nothing would
 * start or stop its runs' workers then.
 */
static void
stage_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_PREPARE &&
		(launch_at_commit != NIL || signal_at_commit != NIL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that staged, resumed or cancelled a staged run")));
}

static void
remember(List **list, int64 run_id, Oid role)
{
	static bool callbacks = false;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	FsbAtCommit *entry = palloc(sizeof(FsbAtCommit));

	if (!callbacks)
	{
		RegisterXactCallback(stage_xact_callback, NULL);
		RegisterSubXactCallback(stage_subxact_callback, NULL);
		RegisterResourceReleaseCallback(stage_resource_callback, NULL);
		callbacks = true;
	}
	entry->ref.run_id = run_id;
	entry->ref.run_by = role;
	entry->nest_level = GetCurrentTransactionNestLevel();
	*list = lappend(*list, entry);
	MemoryContextSwitchTo(old);
}

/* Starts the run's coordinator, as "role", if the transaction commits. */
void
fsb_stage_launch_at_commit(int64 run_id, Oid role)
{
	remember(&launch_at_commit, run_id, role);
}

/* Stops the run's workers if the transaction commits. */
void
fsb_stage_signal_at_commit(int64 run_id)
{
	remember(&signal_at_commit, run_id, InvalidOid);
}

/*
 * The end of a top-level transaction, after its locks were released (a
 * coordinator started earlier could find the run's rows locked): on commit,
 * stops and starts what it asked for.
 */
static void
stage_resource_callback(ResourceReleasePhase phase, bool isCommit,
						bool isTopLevel, void *arg)
{
	ListCell   *lc;

	if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel ||
		(launch_at_commit == NIL && signal_at_commit == NIL))
		return;
	if (isCommit)
	{
		foreach(lc, signal_at_commit)
			fsb_stage_signal_run(MyDatabaseId, ((FsbAtCommit *) lfirst(lc))->ref.run_id);
		foreach(lc, launch_at_commit)
		{
			FsbRunRef  *ref = &((FsbAtCommit *) lfirst(lc))->ref;

			if (!fsb_stage_start_coordinator(MyDatabaseId, ref->run_by, ref->run_id))
				ereport(WARNING,
						(errmsg("could not start the coordinator of staged run " INT64_FORMAT,
								ref->run_id),
						 errdetail("No background worker slot is free."),
						 errhint("Raise max_worker_processes, or call fs_backfill_resume(" INT64_FORMAT ") later.",
								 ref->run_id)));
		}
	}
	list_free_deep(signal_at_commit);
	list_free_deep(launch_at_commit);
	signal_at_commit = NIL;
	launch_at_commit = NIL;
}

/* A transaction of a staged run's worker, with a snapshot. */
static void
xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
xact_commit(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* The message of the error being handled, then the error forgotten. */
static ErrorData *
catch_error(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	return edata;
}

/*
 * The launcher: starts a resumer in each database that allows connections,
 * one at a time, then sleeps until the server stops.
 */
void
fsb_stage_launcher_main(Datum arg)
{
	List	   *databases = NIL;
	ListCell   *lc;
	TableScanDesc scan;
	Relation	rel;
	HeapTuple	tup;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn)
			continue;
		old = MemoryContextSwitchTo(TopMemoryContext);
		databases = lappend_oid(databases, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	foreach(lc, databases)
	{
		BackgroundWorker worker;
		BackgroundWorkerHandle *handle;
		FsbStageWorkerArgs args;
		pid_t		pid;

		memset(&args, 0, sizeof(args));
		args.dbid = lfirst_oid(lc);
		worker_init(&worker, "fsb_stage_resumer_main", "fs_backfill stage resumer",
					"fs_backfill stage resumer", &args);
		if (!RegisterDynamicBackgroundWorker(&worker, &handle) ||
			WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		{
			ereport(LOG,
					(errmsg("fs_backfill could not look for staged runs to resume in database %u",
							args.dbid)));
			continue;
		}
		(void) WaitForBackgroundWorkerShutdown(handle);
	}

	while (!ShutdownRequestPending)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* barriers: DROP DATABASE waits for every process to absorb one */
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	proc_exit(0);
}

/* A resumer: starts a coordinator for each run of its database under way. */
void
fsb_stage_resumer_main(Datum arg)
{
	FsbStageWorkerArgs args;
	List	   *runs = NIL;
	ListCell   *lc;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dbid, InvalidOid, 0);

	xact_begin("fs_backfill: looking for staged runs to resume");
	if (OidIsValid(get_extension_oid("fs_backfill", true)))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		runs = fsb_catalog_runs_to_resume();
		MemoryContextSwitchTo(old);
	}
	xact_commit();

	foreach(lc, runs)
	{
		FsbRunRef  *ref = lfirst(lc);

		if (fsb_stage_start_coordinator(MyDatabaseId, ref->run_by, ref->run_id))
			ereport(LOG,
					(errmsg("fs_backfill resumes staged run " INT64_FORMAT, ref->run_id)));
		else
			ereport(WARNING,
					(errmsg("could not start the coordinator of staged run " INT64_FORMAT,
							ref->run_id),
					 errhint("Raise max_worker_processes, or call fs_backfill_resume(" INT64_FORMAT ").",
							 ref->run_id)));
	}
	proc_exit(0);
}

/* What the coordinator knows of a slice's builders. */
typedef struct Builder
{
	BackgroundWorkerHandle *handle; /* the running one, or NULL */
	int			slot;
	uint32		generation;
	int			launches;		/* builders started for the slice */
	TimestampTz not_before;		/* no attempt before (backoff) */
} Builder;

/* Starts a builder for slice "slice"; false when none can start now. */
static bool
start_builder(int64 run_id, Oid role, int slice, Builder *builder)
{
	BackgroundWorker worker;
	FsbStageWorkerArgs args;
	uint32		generation;
	int			slot = fsb_stage_builder_reserve(run_id, slice, &generation);
	MemoryContext old;
	bool		registered;

	if (slot < 0)
		return false;
	memset(&args, 0, sizeof(args));
	args.dbid = MyDatabaseId;
	args.role = role;
	args.run_id = run_id;
	args.slice = slice;
	args.slot = slot;
	args.generation = generation;
	worker_init(&worker, "fsb_stage_builder_main", "fs_backfill slice builder",
				psprintf("fs_backfill slice builder of run " INT64_FORMAT " slice %d",
						 run_id, slice),
				&args);
	old = MemoryContextSwitchTo(TopMemoryContext);	/* the handle outlives */
	registered = RegisterDynamicBackgroundWorker(&worker, &builder->handle);
	MemoryContextSwitchTo(old);
	if (!registered)
	{
		fsb_stage_builder_release(slot, generation);
		return false;
	}
	builder->slot = slot;
	builder->generation = generation;
	return true;
}

/* The backoff before attempt "attempts" + 1 of a slice. */
static int
backoff_ms(int attempts)
{
	int			ms = FSB_STAGE_BACKOFF_FIRST_MS;

	for (int i = 1; i < attempts && ms < FSB_STAGE_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return Min(ms, FSB_STAGE_BACKOFF_MAX_MS);
}

/*
 * Publishes a run whose slices are all staged: status 'publishing'
 * committed first, so that a restart publishes it again; a failure fails
 * the run, with its message.
 */
static void
coordinator_publish(int64 run_id)
{
	MemoryContext cxt = CurrentMemoryContext;

	xact_begin("fs_backfill: publishing a staged run");
	fsb_catalog_run_status(run_id, "publishing", NULL);
	xact_commit();

	PG_TRY();
	{
		xact_begin("fs_backfill: publishing a staged run");
		fsb_publish_run(run_id, true);
		xact_commit();
	}
	PG_CATCH();
	{
		ErrorData  *edata = catch_error(cxt);

		xact_begin("fs_backfill: recording a failed publish");
		fsb_catalog_run_status(run_id, "failed", edata->message);
		xact_commit();
	}
	PG_END_TRY();
}

/*
 * One look at the run: returns false when the coordinator's work is over,
 * else starts the builders it may, and sets "wait_ms" to the longest sleep
 * before the next look.
 */
static bool
coordinate(int64 run_id, Oid role, Builder *builders, int *nslices_seen,
		   long *wait_ms)
{
	FsbStagedRun *sr;
	FsbSlice   *slices;
	int			nslices;
	int			running = 0;
	int			staged = 0;
	bool		publish = false;
	TimestampTz now = GetCurrentTimestamp();

	/* Builders that exited: their slot is free (if they never took it). */
	for (int i = 0; i < *nslices_seen; i++)
	{
		pid_t		pid;

		if (builders[i].handle == NULL)
			continue;
		if (GetBackgroundWorkerPid(builders[i].handle, &pid) == BGWH_STOPPED)
		{
			fsb_stage_builder_release(builders[i].slot, builders[i].generation);
			pfree(builders[i].handle);
			builders[i].handle = NULL;
		}
		else
			running++;
	}

	xact_begin("fs_backfill: coordinating a staged run");
	sr = fsb_catalog_staged_run(run_id, false);
	if (strcmp(sr->status, "publishing") == 0)
		publish = true;
	else if (strcmp(sr->status, "staging") != 0)
	{
		xact_commit();
		return false;
	}
	slices = fsb_catalog_slices(run_id, &nslices);
	Assert(nslices <= *nslices_seen);
	for (int i = 0; i < nslices && !publish; i++)
	{
		FsbSlice   *slice = &slices[i];

		if (strcmp(slice->status, "staged") == 0)
			staged++;
		else if (strcmp(slice->status, "building") == 0 && builders[i].handle == NULL)
		{
			if (fsb_stage_builder_alive(run_id, slice->slice))
				running++;		/* started by a coordinator before us */
			else
			{
				/* its builder exited without a word: FATAL, killed, crashed */
				fsb_catalog_slice_failed(run_id, slice->slice, 0,
										 "its slice builder exited unexpectedly",
										 true);
				builders[i].not_before = 0;
			}
		}
		else if (strcmp(slice->status, "pending") == 0 && builders[i].handle == NULL)
		{
			if (builders[i].launches > slice->attempts + 2)
			{
				/* builders start but never take it: they cannot connect */
				fsb_catalog_run_status(run_id, "failed",
									   psprintf("slice %d: its slice builders exit before they start; see the server log",
												slice->slice));
				xact_commit();
				return false;
			}
			if (slice->attempts > 0 && builders[i].not_before == 0)
				builders[i].not_before = TimestampTzPlusMilliseconds(now, backoff_ms(slice->attempts));
			if (now < builders[i].not_before)
				*wait_ms = Min(*wait_ms, (long) ((builders[i].not_before - now) / 1000) + 1);
			else if (running < sr->parallel &&
					 start_builder(run_id, role, slice->slice, &builders[i]))
			{
				running++;
				builders[i].launches++;
				builders[i].not_before = 0;
			}
		}
	}
	if (!publish && staged == nslices && sr->manual)
		fsb_catalog_run_status(run_id, "staged", NULL);
	xact_commit();

	if (!publish && staged < nslices)
		return true;
	if (!publish && sr->manual)
		return false;
	coordinator_publish(run_id);
	return false;
}

/* The coordinator of one run. */
void
fsb_stage_coordinator_main(Datum arg)
{
	FsbStageWorkerArgs args;
	Builder    *builders;
	int			nslices;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dbid, args.role, 0);
	SetConfigOption("application_name", "fs_backfill stage coordinator",
					PGC_SUSET, PGC_S_OVERRIDE);
	if (!fsb_stage_coordinator_attach(args.run_id))
		proc_exit(0);

	xact_begin("fs_backfill: coordinating a staged run");
	(void) fsb_catalog_slices(args.run_id, &nslices);
	xact_commit();
	builders = MemoryContextAllocZero(TopMemoryContext, sizeof(Builder) * Max(1, nslices));

	for (;;)
	{
		long		wait_ms = 1000;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!coordinate(args.run_id, args.role, builders, &nslices, &wait_ms))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* A failed or cancelled run: its builders still running stop. */
	for (int i = 0; i < nslices; i++)
		if (builders[i].handle != NULL)
			TerminateBackgroundWorker(builders[i].handle);
	proc_exit(0);
}

/* Whether an error is worth another attempt of the slice. */
static bool
transient_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_CONNECTION_EXCEPTION;
}

/* A slice builder: one attempt at one slice. */
void
fsb_stage_builder_main(Datum arg)
{
	FsbStageWorkerArgs args;
	MemoryContext cxt;
	FsbStagedRun *sr;
	int			attempt;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	fsb_stage_builder_attach(args.slot, args.generation);
	BackgroundWorkerInitializeConnectionByOid(args.dbid, args.role, 0);
	SetConfigOption("application_name", "fs_backfill slice builder",
					PGC_SUSET, PGC_S_OVERRIDE);
	cxt = AllocSetContextCreate(TopMemoryContext, "fs_backfill slice builder",
								ALLOCSET_DEFAULT_SIZES);

	xact_begin("fs_backfill: taking a slice");
	attempt = fsb_catalog_slice_begin(args.run_id, args.slice);
	xact_commit();
	if (attempt == 0)
		proc_exit(0);

	PG_TRY();
	{
		xact_begin("fs_backfill: building a slice");
		MemoryContextSwitchTo(cxt);
		sr = fsb_catalog_staged_run(args.run_id, false);
		fsb_stage_build_slice(sr, args.slice, attempt);
		xact_commit();
	}
	PG_CATCH();
	{
		ErrorData  *edata = catch_error(cxt);

		xact_begin("fs_backfill: recording a failed slice");
		fsb_catalog_slice_failed(args.run_id, args.slice, attempt,
								 edata->message,
								 transient_error(edata->sqlerrcode));
		xact_commit();
	}
	PG_END_TRY();
	proc_exit(0);
}
