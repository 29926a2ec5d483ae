/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Live progress of running backfills, for fs_backfill_progress().
 *
 * One slot per backend in shared memory (when fs_backfill is preloaded),
 * written only by its backend: the feature set, the run id, the phase, the
 * slices done of the total and the rows written.  Readers copy a slot under
 * its spinlock.  A slot is cleared when fs_backfill() returns, at the end of
 * the transaction, and when the subtransaction it began in aborts, so an
 * error never leaves a stale one.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_progress);

typedef struct ProgressSlot
{
	slock_t		mutex;
	pid_t		pid;			/* 0: no backfill running */
	char		feature_set[NAMEDATALEN];
	int64		run_id;
	char		phase[32];
	int32		done;
	int32		total;
	int64		rows_written;
	TimestampTz started_at;
} ProgressSlot;

static ProgressSlot *slots = NULL;
static int	nslots = 0;
static ProgressSlot *mine = NULL;	/* set while this backend reports */
static SubTransactionId mine_subid;	/* where fs_backfill() began */

/* A backfill that failed inside a savepoint (an EXCEPTION block) ends there. */
static void
progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && mine != NULL && mySubid <= mine_subid)
		fsb_progress_end();
}

Size
fsb_progress_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(ProgressSlot));
}

/* At shared memory startup, under AddinShmemInitLock. */
void
fsb_progress_shmem_init(void)
{
	bool		found;

	nslots = MaxBackends;
	slots = ShmemInitStruct("fs_backfill progress", fsb_progress_shmem_size(), &found);
	if (!found)
	{
		memset(slots, 0, fsb_progress_shmem_size());
		for (int i = 0; i < nslots; i++)
			SpinLockInit(&slots[i].mutex);
	}
}

/* Starts reporting a run; its slices are counted as it plans them. */
void
fsb_progress_begin(const char *feature_set, int64 run_id)
{
	static bool callback_registered = false;

	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > nslots)
		return;
	if (!callback_registered)
	{
		RegisterSubXactCallback(progress_subxact_callback, NULL);
		callback_registered = true;
	}
	mine = &slots[MyBackendId - 1];
	mine_subid = GetCurrentSubTransactionId();
	SpinLockAcquire(&mine->mutex);
	mine->pid = MyProcPid;
	strlcpy(mine->feature_set, feature_set, sizeof(mine->feature_set));
	mine->run_id = run_id;
	strlcpy(mine->phase, "planning", sizeof(mine->phase));
	mine->done = 0;
	mine->total = 0;
	mine->rows_written = 0;
	mine->started_at = GetCurrentTimestamp();
	SpinLockRelease(&mine->mutex);
}

void
fsb_progress_phase(const char *phase, int total)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	strlcpy(mine->phase, phase, sizeof(mine->phase));
	if (total >= 0)
		mine->total = total;
	SpinLockRelease(&mine->mutex);
}

/* A slice is done; "rows" more were written. */
void
fsb_progress_slice_done(int64 rows)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->done++;
	mine->rows_written += rows;
	SpinLockRelease(&mine->mutex);
}

/* Stops reporting; harmless when not reporting. */
void
fsb_progress_end(void)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->pid = 0;
	SpinLockRelease(&mine->mutex);
	mine = NULL;
}

/*
 * fs_backfill_progress(): one row per running backfill in the cluster.
 */
Datum
fs_backfill_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; slots != NULL && i < nslots; i++)
	{
		ProgressSlot copy;
		Datum		values[8];
		bool		nulls[8] = {false};

		SpinLockAcquire(&slots[i].mutex);
		memcpy(&copy, &slots[i], sizeof(copy));
		SpinLockRelease(&slots[i].mutex);
		if (copy.pid == 0)
			continue;
		values[0] = Int32GetDatum(copy.pid);
		values[1] = CStringGetTextDatum(copy.feature_set);
		values[2] = Int64GetDatum(copy.run_id);
		values[3] = CStringGetTextDatum(copy.phase);
		values[4] = Int32GetDatum(copy.done);
		values[5] = Int32GetDatum(copy.total);
		values[6] = Int64GetDatum(copy.rows_written);
		values[7] = TimestampTzGetDatum(copy.started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
