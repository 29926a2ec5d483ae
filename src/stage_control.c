/*-------------------------------------------------------------------------
 *
 * stage_control.c
 *	  fs_backfill_wait(), fs_backfill_cancel(), fs_backfill_resume(), and
 *	  what dropping a feature set does to its staged runs.
 *
 * Cancel and resume lock the run's row first, so they wait for a publish
 * (which holds it) and for a builder recording its slice (which shares it),
 * and they act on what is committed then.  Who may: the role that staged the
 * run (or one with its privileges), or one that may run the feature set.
 *
 * Cancel drops what the run staged, marks the run and its slices
 * cancelled, and stops its workers once the transaction commits.  Resume
 * restarts a run from its unstaged slices: a failed run (its failed slices
 * get their attempts again), a run whose coordinator is gone, or a staged
 * run whose partitions were written since (publish refused it): a slice
 * whose partition was written, or whose staged relation is gone, is built
 * again.  Dropping a feature set cancels its runs under way, so that
 * nothing they staged outlives them.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage_control.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "stage.h"

PG_FUNCTION_INFO_V1(fs_backfill_wait);
PG_FUNCTION_INFO_V1(fs_backfill_cancel);
PG_FUNCTION_INFO_V1(fs_backfill_resume);

/* How often fs_backfill_wait() looks at the run, in milliseconds. */
#define FSB_WAIT_POLL_MS 100

/* Raises insufficient_privilege unless the caller may control the run. */
static void
check_control(const FsbStagedRun *sr)
{
	if (has_privs_of_role(GetUserId(), sr->run_by))
		return;
	fsb_privilege_check_use(fsb_catalog_load(sr->feature_set));
}

/* Drops what a slice staged, if it is still there. */
void
fsb_stage_drop_staged(int64 run_id, const FsbSlice *slice)
{
	ObjectAddress object;

	if (!OidIsValid(slice->staged))
		return;
	LockRelationOid(slice->staged, AccessExclusiveLock);
	if (get_rel_name(slice->staged) == NULL)
		return;
	ObjectAddressSet(object, RelationRelationId, slice->staged);
	performDeletion(&object, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
}

/* Cancels a run whose row the caller locked; false when it was over. */
static bool
cancel_run(const FsbStagedRun *sr)
{
	FsbSlice   *slices;
	int			nslices;

	if (!FSB_RUN_ACTIVE(sr->status))
		return false;
	slices = fsb_catalog_slices(sr->run_id, &nslices);
	for (int i = 0; i < nslices; i++)
		fsb_stage_drop_staged(sr->run_id, &slices[i]);
	fsb_catalog_slices_cancel(sr->run_id);
	fsb_catalog_run_status(sr->run_id, "cancelled", NULL);
	fsb_stage_signal_at_commit(sr->run_id);
	return true;
}

/*
 * Makes pending again, dropping what they staged, the staged slices whose
 * partition was written since, or whose staged relation is gone; returns
 * whether there was any.  Each partition is locked against writers while it
 * is looked at, until the transaction ends.
 */
bool
fsb_stage_restage_written(int64 run_id)
{
	FsbSlice   *slices;
	int			nslices;
	bool		any = false;

	slices = fsb_catalog_slices(run_id, &nslices);
	for (int i = 0; i < nslices; i++)
	{
		FsbSlice   *slice = &slices[i];
		Relation	part;
		bool		written;
		const char *mark;

		if (strcmp(slice->status, "staged") != 0)
			continue;
		part = try_table_open(slice->partition, ExclusiveLock);
		if (part == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("partition %u of slice %d of staged run " INT64_FORMAT " no longer exists",
							slice->partition, slice->slice, run_id),
					 errhint("Cancel the run and stage it again.")));
		mark = slice->mark ? strchr(slice->mark, ':') : NULL;
		written = !OidIsValid(slice->staged) || get_rel_name(slice->staged) == NULL ||
			mark == NULL ||
			strncmp(slice->mark, fsb_stage_layout(part), mark - slice->mark) != 0 ||
			fsb_stage_mark_written(part, mark + 1);
		table_close(part, NoLock);
		if (!written)
			continue;
		fsb_stage_drop_staged(run_id, slice);
		fsb_catalog_slice_reset(run_id, slice->slice, false);
		any = true;
	}
	return any;
}

/* fs_backfill_cancel(run_id) */
Datum
fs_backfill_cancel(PG_FUNCTION_ARGS)
{
	FsbStagedRun *sr;

	fsb_require_arg(fcinfo, 0, "run_id");
	sr = fsb_catalog_staged_run(PG_GETARG_INT64(0), true);
	check_control(sr);
	PG_RETURN_BOOL(cancel_run(sr));
}

/* fs_backfill_resume(run_id) */
Datum
fs_backfill_resume(PG_FUNCTION_ARGS)
{
	FsbStagedRun *sr;
	FsbSlice   *slices;
	int			nslices;
	bool		restart = false;

	fsb_require_arg(fcinfo, 0, "run_id");
	sr = fsb_catalog_staged_run(PG_GETARG_INT64(0), true);
	check_control(sr);
	if (!fsb_stage_workers_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("staged runs need fs_backfill in shared_preload_libraries"),
				 errhint("Add fs_backfill to shared_preload_libraries and restart the server.")));

	if (strcmp(sr->status, "failed") == 0)
	{
		slices = fsb_catalog_slices(sr->run_id, &nslices);
		for (int i = 0; i < nslices; i++)
			if (strcmp(slices[i].status, "staged") != 0)
				fsb_catalog_slice_reset(sr->run_id, slices[i].slice, false);
		(void) fsb_stage_restage_written(sr->run_id);
		restart = true;
	}
	else if (strcmp(sr->status, "staged") == 0)
		restart = fsb_stage_restage_written(sr->run_id);
	else if (strcmp(sr->status, "staging") == 0 ||
			 strcmp(sr->status, "publishing") == 0)
		restart = !fsb_stage_run_has_coordinator(MyDatabaseId, sr->run_id);

	if (!restart)
		PG_RETURN_BOOL(false);
	if (strcmp(sr->status, "publishing") != 0)
		fsb_catalog_run_status(sr->run_id, "staging", NULL);
	fsb_stage_launch_at_commit(sr->run_id, sr->run_by);
	PG_RETURN_BOOL(true);
}

/* fs_backfill_wait(run_id, timeout) */
Datum
fs_backfill_wait(PG_FUNCTION_ARGS)
{
	int64		run_id;
	TimestampTz deadline = DT_NOEND;
	bool		manual = false;
	char	   *status;

	fsb_require_arg(fcinfo, 0, "run_id");
	run_id = PG_GETARG_INT64(0);
	if (!PG_ARGISNULL(1))
	{
		Interval   *timeout = PG_GETARG_INTERVAL_P(1);

		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   IntervalPGetDatum(timeout)));
	}

	for (;;)
	{
		status = fsb_catalog_run_status_now(run_id, &manual);
		if (status == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("run " INT64_FORMAT " does not exist", run_id),
					 errhint("fs_backfill.runs lists the runs you may see.")));
		if (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
			strcmp(status, "cancelled") == 0 ||
			(strcmp(status, "staged") == 0 && manual) ||
			GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 FSB_WAIT_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/*
 * A feature set about to be dropped: its staged runs under way are
 * cancelled, and what they staged dropped.
 */
void
fsb_stage_forget_runs(const char *feature_set)
{
	List	   *runs = fsb_catalog_active_runs(feature_set);
	ListCell   *lc;

	foreach(lc, runs)
		(void) cancel_run(fsb_catalog_staged_run(((FsbRunRef *) lfirst(lc))->run_id, true));
}
