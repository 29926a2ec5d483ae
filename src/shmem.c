/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared state of the online worker, and waking it at commit.
 *
 * One small struct in shared memory, allocated when fs_backfill is in
 * shared_preload_libraries: the worker's pid and latch, its counters, the
 * state of its Redis connection and its last error, for
 * fs_backfill.worker_status().  A backend that queued entities sets the
 * worker's latch when its transaction commits (a transaction callback), so
 * the worker pushes right away instead of at its next nap's end.  Without
 * preloading there is no worker, and nothing to wake.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_worker_status);

typedef struct FsbShared
{
	slock_t		mutex;
	pid_t		worker_pid;
	Latch	   *worker_latch;
	int64		pushed;
	int64		batches;
	TimestampTz last_push;
	TimestampTz last_error_at;
	char		redis_state[32];
	char		last_error[256];
} FsbShared;

static FsbShared *fsb_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_at_commit = false;
static bool wake_now = false;	/* committed: wake once its locks are gone */

static void
fsb_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(FsbShared)));
	RequestAddinShmemSpace(fsb_progress_shmem_size());
	RequestAddinShmemSpace(fsb_stage_shmem_size());
}

static void
fsb_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	fsb_shared = ShmemInitStruct("fs_backfill", sizeof(FsbShared), &found);
	if (!found)
	{
		memset(fsb_shared, 0, sizeof(FsbShared));
		SpinLockInit(&fsb_shared->mutex);
		strlcpy(fsb_shared->redis_state, "not started", sizeof(fsb_shared->redis_state));
	}
	fsb_progress_shmem_init();
	fsb_stage_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

static void
fsb_xact_callback(XactEvent event, void *arg)
{
	/* a run's progress ends with its transaction, whatever happened */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		fsb_progress_end();

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* too early: see fsb_resource_callback() */
			wake_now = wake_at_commit;
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's commit comes later: naptime wakes it */
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Wakes the worker for a committed transaction that queued entities, once
 * the transaction has sent its invalidation messages and released its
 * locks.  The commit callback comes before both: a worker woken there could
 * read the queued entries (already visible) with a relcache that does not
 * know yet of a partition the backfill created, and push an entity's old
 * latest row.
 */
static void
fsb_resource_callback(ResourceReleasePhase phase, bool isCommit,
					  bool isTopLevel, void *arg)
{
	Latch	   *latch;

	if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel || !wake_now)
		return;
	wake_now = false;
	if (!isCommit || fsb_shared == NULL)
		return;
	SpinLockAcquire(&fsb_shared->mutex);
	latch = fsb_shared->worker_latch;
	SpinLockRelease(&fsb_shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * Called from _PG_init: hooks for shared memory when preloading, and the
 * commit callbacks in every backend.
 */
void
fsb_shmem_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = fsb_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = fsb_shmem_startup;
	}
	RegisterXactCallback(fsb_xact_callback, NULL);
	RegisterResourceReleaseCallback(fsb_resource_callback, NULL);
}

/* This transaction queued entities: wake the worker if it commits. */
void
fsb_wake_worker_at_commit(void)
{
	wake_at_commit = true;
}

/* The worker leaves: no one may set its latch any more. */
static void
fsb_worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&fsb_shared->mutex);
	fsb_shared->worker_pid = 0;
	fsb_shared->worker_latch = NULL;
	strlcpy(fsb_shared->redis_state, "not running", sizeof(fsb_shared->redis_state));
	SpinLockRelease(&fsb_shared->mutex);
}

/* The worker announces itself, until it exits. */
void
fsb_worker_attach(void)
{
	if (fsb_shared == NULL)
		elog(ERROR, "fs_backfill shared memory is not initialized");
	SpinLockAcquire(&fsb_shared->mutex);
	fsb_shared->worker_pid = MyProcPid;
	fsb_shared->worker_latch = &MyProc->procLatch;
	SpinLockRelease(&fsb_shared->mutex);
	on_shmem_exit(fsb_worker_detach, (Datum) 0);
}

/* The worker reports a finished batch or an error (error may be NULL). */
void
fsb_worker_report(int64 pushed, bool batch, const char *error)
{
	SpinLockAcquire(&fsb_shared->mutex);
	fsb_shared->pushed += pushed;
	if (batch)
	{
		fsb_shared->batches++;
		fsb_shared->last_push = GetCurrentTimestamp();
	}
	if (error)
	{
		strlcpy(fsb_shared->last_error, error, sizeof(fsb_shared->last_error));
		fsb_shared->last_error_at = GetCurrentTimestamp();
	}
	SpinLockRelease(&fsb_shared->mutex);
}

void
fsb_worker_set_redis_state(const char *state)
{
	SpinLockAcquire(&fsb_shared->mutex);
	strlcpy(fsb_shared->redis_state, state, sizeof(fsb_shared->redis_state));
	SpinLockRelease(&fsb_shared->mutex);
}

/*
 * fs_backfill.worker_status(): the worker as shared memory shows it.
 *
 * The Redis state and the last error name the Redis endpoint (and the
 * password file's path): those two are for superusers and members of
 * pg_monitor, NULL for other roles.  Each feature set's own error is in
 * fs_backfill.online_status, for the roles that may see the feature set.
 */
Datum
fs_backfill_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	FsbShared	copy;
	bool		monitor;

	if (fsb_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fs_backfill must be loaded via shared_preload_libraries"),
				 errhint("Add fs_backfill to shared_preload_libraries and restart the server.")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SpinLockAcquire(&fsb_shared->mutex);
	memcpy(&copy, fsb_shared, sizeof(copy));
	SpinLockRelease(&fsb_shared->mutex);

	values[0] = Int32GetDatum(copy.worker_pid);
	nulls[0] = copy.worker_pid == 0;
	monitor = has_privs_of_role(GetUserId(), ROLE_PG_MONITOR);
	values[1] = CStringGetTextDatum(copy.redis_state);
	nulls[1] = !monitor;
	values[2] = Int64GetDatum(copy.pushed);
	values[3] = Int64GetDatum(copy.batches);
	values[4] = TimestampTzGetDatum(copy.last_push);
	nulls[4] = copy.last_push == 0;
	values[5] = CStringGetTextDatum(copy.last_error);
	nulls[5] = copy.last_error[0] == '\0' || !monitor;
	values[6] = TimestampTzGetDatum(copy.last_error_at);
	nulls[6] = copy.last_error_at == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
