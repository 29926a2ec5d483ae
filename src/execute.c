/*-------------------------------------------------------------------------
 *
 * execute.c
 *	  fs_backfill(): replace a feature set's rows in an interval.
 *
 * Everything runs in the caller's transaction, with the caller's rights:
 * an error anywhere leaves nothing changed.  The order is
 *
 *	1. check the arguments, the interval and the caller's privileges (it
 *	   may use the feature set, privilege.c, and may select from, insert
 *	   into and delete from the target) before any lock is taken, so that
 *	   a role refused holds nothing;
 *	2. take the feature set's target lock (two backfills of one target
 *	   never interleave; the second runs on the committed result of the
 *	   first, so REPEATABLE READ callers that had to wait get a
 *	   serialization failure);
 *	3. check the privileges again (as committed by whoever we waited for)
 *	   and the source: every bad input is refused before anything changes;
 *	4. plan, create missing partitions, and replace each slice in ascending
 *	   time order: delete_insert in place, or swap into a new heap;
 *	5. exchange the swapped partitions, last, after taking all their locks
 *	   within one fs_backfill.swap_lock_timeout, so that readers wait for
 *	   them as briefly as possible;
 *	6. record the run, and queue for the online cache the entities whose
 *	   latest row lies in the interval before or after it (queue.c).
 *
 * A resource profile's settings are applied at a GUC nest level of their
 * own, undone on return and by abort.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/execute.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_text);
PG_FUNCTION_INFO_V1(fs_backfill_timestamptz);

/* Argument positions, shared by both SQL signatures. */
enum
{
	ARG_FEATURE_SET,
	ARG_START,
	ARG_STOP,
	ARG_RESET,
	ARG_SOURCE,
	ARG_PROFILE,
	ARG_COMMENT,
	ARG_STRATEGY,
	ARG_ALLOW_EMPTY,
	ARG_CHECKS
};

/* Refuses to let an empty source wipe rows unless allow_empty. */
void
fsb_run_check_not_emptied(const FsbRun *run, const FsbStep *step,
						  int64 before, int64 after)
{
	if (after > 0 || before == 0 || run->opts->allow_empty)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("source of feature set \"%s\" returned no rows for slice [%s, %s) of \"%s\"",
					run->fs->name, fsb_format_time(step->slice_start),
					fsb_format_time(step->slice_stop),
					get_rel_name(step->partition)),
			 errdetail_plural("The slice holds %lld row now.",
							  "The slice holds %lld rows now.",
							  before, (long long) before),
			 errhint("Pass allow_empty => true to empty the slice on purpose.")));
}

/*
 * Raises insufficient_privilege unless the caller may use the feature set
 * and has the table privileges a run needs.  Takes no lock, so it comes
 * before the target's lock: a role refused here holds nothing.  A table
 * gone is left to fsb_open_target(), which says so.
 */
static void
check_privileges(const FsbFeatureSet *fs)
{
	static const AclMode modes[] = {ACL_SELECT, ACL_INSERT, ACL_DELETE};

	fsb_privilege_check_use(fs);
	for (int i = 0; i < lengthof(modes); i++)
	{
		bool		missing = false;
		AclResult	result = pg_class_aclcheck_ext(fs->target, GetUserId(),
												   modes[i], &missing);

		if (!missing && result != ACLCHECK_OK)
			aclcheck_error(result, OBJECT_TABLE, get_rel_name(fs->target));
	}
}

/*
 * Waits for the target's backfill lock, held until the transaction ends.
 */
void
fsb_lock_target(const FsbFeatureSet *fs)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) fs->target, 0,
						 FSB_ADVISORY_LOCK_FIELD4);
	if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return;
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent backfill of feature set \"%s\"",
						fs->name),
				 errhint("Retry the transaction.")));
	/* Whatever the other backfill changed is visible from here on. */
	AcceptInvalidationMessages();
}

/* One NOTICE per finished slice, so a psql user sees a run advance. */
static void
report_slice(const FsbFeatureSet *fs, const FsbPlan *plan, int i,
			 const FsbStepResult *result)
{
	const FsbStep *step = &plan->steps[i];

	fsb_progress_slice_done(result->rows_after);
	ereport(NOTICE,
			(errmsg("feature set \"%s\": slice %d of %d [%s, %s) done by %s, %lld rows",
					fs->name, i + 1, plan->nsteps,
					fsb_format_time(step->slice_start),
					fsb_format_time(step->slice_stop),
					fsb_strategy_name(result->strategy),
					(long long) result->rows_after),
			 errdetail("It took %.3f s.", result->seconds)));
}

/*
 * Takes the feature set's backfill lock and reads it again: what another
 * backfill committed meanwhile (even a new target) counts.
 */
static void
run_lock(FsbRun *run)
{
	FsbFeatureSet *now;

	fsb_lock_target(run->fs);
	now = fsb_catalog_load(run->fs->name);
	if (now->target != run->fs->target)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("feature set \"%s\" was registered again while this backfill waited",
						run->fs->name),
				 errhint("Retry the backfill.")));
	run->fs = now;
	if (run->opts->source == NULL)
		run->info.source = now->source;
}

/*
 * Everything before the plan: the feature set, its profile applied (at the
 * caller's GUC nest level), its lock, the caller's privileges, the source
 * and checks.  Every bad input is refused here or in fsb_run_plan().
 */
void
fsb_run_open(FsbRun *run, const FsbRunOptions *opts, TimestampTz start,
			 TimestampTz stop)
{
	FsbFeatureSet *fs = fsb_catalog_load(opts->feature_set);

	memset(run, 0, sizeof(*run));
	run->opts = opts;
	run->fs = fs;
	run->info.source = opts->source ? opts->source : fs->source;
	run->info.resource_profile = opts->resource_profile ? opts->resource_profile :
		fs->resource_profile;
	run->info.comment = opts->comment;
	run->info.started_at = GetCurrentTimestamp();
	fsb_resolve_interval(fs, &start, &stop);
	run->start = start;
	run->stop = stop;

	check_privileges(fs);
	fsb_catalog_apply_profile(run->info.resource_profile);
	if (!opts->unlocked)
		run_lock(run);
	fs = run->fs;
	check_privileges(fs);		/* registered again by another role? */
	run->target = fsb_open_target(fs, AccessShareLock);
	run->src = fsb_source_analyze(run->info.source, run->target,
								  fs->entity_columns, fs->time_column, fs->name);
	run->checks = fsb_checks_parse(opts->checks ? opts->checks : fs->checks,
								   run->target, fs->name);
}

/* A new run id, and the plan: the slices of the interval. */
void
fsb_run_plan(FsbRun *run)
{
	run->info.run_id = fsb_catalog_next_run_id();
	fsb_progress_begin(run->fs->name, run->info.run_id);
	run->plan = fsb_plan_build(run->fs, run->target, run->src, run->start,
							   run->stop, run->opts->reset, run->opts->strategy);
	run->results = palloc0(sizeof(FsbStepResult) * run->plan->nsteps);
	run->transients = palloc0(sizeof(Oid) * run->plan->nsteps);
}

/* The online cache: entities whose latest row is in the interval now. */
void
fsb_run_queue_before(FsbRun *run)
{
	if (!run->fs->online)
		return;
	fsb_progress_phase("queueing entities", run->plan->nsteps);
	fsb_queue_touched(run->target, run->fs, run->start, run->stop,
					  run->opts->reset, NIL);
}

/* Creates the partitions the plan misses. */
void
fsb_run_create_partitions(FsbRun *run)
{
	/* ATTACH PARTITION wants the parent not in use here: close it meanwhile. */
	table_close(run->target, NoLock);
	for (int i = 0; i < run->plan->nsteps; i++)
	{
		FsbStep    *step = &run->plan->steps[i];

		if (run->opts->strategy == FSB_STRATEGY_SWAP && step->swap_refusal != NULL)
			ereport(NOTICE,
					(errmsg("slice [%s, %s) is replaced by delete_insert: %s",
							fsb_format_time(step->slice_start),
							fsb_format_time(step->slice_stop),
							step->swap_refusal)));
		if (step->creates_partition)
			step->partition = fsb_partition_create(run->fs->target,
												   step->range_start,
												   step->range_stop);
	}
	run->target = table_open(run->fs->target, NoLock);
}

/*
 * Replaces step i's slice: its checks, then delete_insert in place, a new
 * heap for a swap (exchanged later), or a reset's deletion.
 */
static void
run_replace_slice(FsbRun *run, int i)
{
	FsbStep    *step = &run->plan->steps[i];
	FsbStepResult *result = &run->results[i];
	FsbFeatureSet *fs = run->fs;
	TimestampTz t0 = GetCurrentTimestamp();

	CHECK_FOR_INTERRUPTS();
	result->strategy = step->strategy;
	if (step->strategy != FSB_STRATEGY_DELETE)
		fsb_checks_run(run->checks, step, run->src, run->target, fs->name,
					   fs->entity_columns, fs->time_column,
					   fsb_checks_need_rows_now(run->checks) ?
					   fsb_count_rows(run->target, fs->time_column,
									  step->slice_start, step->slice_stop) : 0);
	switch (step->strategy)
	{
		case FSB_STRATEGY_DELETE:
			result->rows_before = fsb_replace_outside(run->target, step,
													  fs->time_column);
			break;
		case FSB_STRATEGY_SWAP:
			run->transients[i] = fsb_swap_build(run->target, step, run->src, fs,
												NULL, true,
												&result->rows_before,
												&result->rows_after);
			break;
		default:
			fsb_replace_delete_insert(run->target, step, run->src, fs,
									  &result->rows_before, &result->rows_after);
			break;
	}
	if (step->strategy != FSB_STRATEGY_DELETE)
		fsb_run_check_not_emptied(run, step, result->rows_before,
								  result->rows_after);
	result->seconds = (GetCurrentTimestamp() - t0) / (double) USECS_PER_SEC;
	report_slice(fs, run->plan, i, result);
}

/*
 * Queues the entities whose latest row is in the interval after the run,
 * and tags the run's entries with its id, before the exchange: readers of
 * the swapped partitions do not wait for it.  Their new rows are read from
 * the new heaps.
 */
void
fsb_run_queue_after(FsbRun *run)
{
	List	   *new_heaps = NIL;

	if (!run->fs->online)
		return;
	for (int i = 0; i < run->plan->nsteps; i++)
		if (OidIsValid(run->transients[i]))
			new_heaps = lappend_oid(new_heaps, run->transients[i]);
	fsb_progress_phase("queueing entities", -1);
	fsb_queue_touched(run->target, run->fs, run->start, run->stop, false,
					  new_heaps);
	run->info.online_entities = fsb_queue_seal(run->fs, run->info.run_id);
}

/* Exchanges the swapped partitions, last: readers wait only for this. */
void
fsb_run_exchange(FsbRun *run)
{
	fsb_progress_phase("exchanging partitions", -1);
	fsb_swap_exchange_all(run->target, run->plan, run->fs, run->transients,
						  run->results);
}

/* Records the run and its slices; returns the run id. */
int64
fsb_run_record(FsbRun *run)
{
	fsb_progress_phase("recording the run", -1);
	return fsb_catalog_record_run(run->plan, &run->info, run->results);
}

/* Closes the target; the profile's settings go with the caller's nest. */
void
fsb_run_close(FsbRun *run)
{
	table_close(run->target, NoLock);
	fsb_progress_end();
}

/*
 * Runs a backfill of [start, stop) (DT_NOBEGIN: not given) in the caller's
 * transaction and returns its run id: open, plan, replace each slice, queue
 * the entities it touched, exchange the swapped partitions, record.
 */
int64
fsb_run_backfill(const FsbRunOptions *opts, TimestampTz start, TimestampTz stop)
{
	int			nest = NewGUCNestLevel();	/* the resource profile's */
	FsbRun		run;
	int64		run_id;

	fsb_run_open(&run, opts, start, stop);
	fsb_run_plan(&run);
	fsb_run_queue_before(&run);
	fsb_run_create_partitions(&run);
	fsb_progress_phase("replacing slices", run.plan->nsteps);
	for (int i = 0; i < run.plan->nsteps; i++)
		run_replace_slice(&run, i);
	fsb_run_queue_after(&run);
	fsb_run_exchange(&run);
	run_id = fsb_run_record(&run);

	AtEOXact_GUC(true, nest);
	fsb_run_close(&run);
	return run_id;
}

/* fs_backfill's arguments after the bounds, as run options. */
static void
run_options(FunctionCallInfo fcinfo, FsbRunOptions *opts)
{
	fsb_require_arg(fcinfo, ARG_FEATURE_SET, "feature_set");
	fsb_require_arg(fcinfo, ARG_RESET, "reset");
	fsb_require_arg(fcinfo, ARG_STRATEGY, "strategy");
	fsb_require_arg(fcinfo, ARG_ALLOW_EMPTY, "allow_empty");
	memset(opts, 0, sizeof(*opts));
	opts->feature_set = text_to_cstring(PG_GETARG_TEXT_PP(ARG_FEATURE_SET));
	opts->reset = PG_GETARG_BOOL(ARG_RESET);
	opts->allow_empty = PG_GETARG_BOOL(ARG_ALLOW_EMPTY);
	opts->strategy = fsb_strategy_from_text(text_to_cstring(PG_GETARG_TEXT_PP(ARG_STRATEGY)));
	if (!PG_ARGISNULL(ARG_SOURCE))
		opts->source = text_to_cstring(PG_GETARG_TEXT_PP(ARG_SOURCE));
	if (!PG_ARGISNULL(ARG_PROFILE))
		opts->resource_profile = text_to_cstring(PG_GETARG_TEXT_PP(ARG_PROFILE));
	if (!PG_ARGISNULL(ARG_COMMENT))
		opts->comment = text_to_cstring(PG_GETARG_TEXT_PP(ARG_COMMENT));
	if (!PG_ARGISNULL(ARG_CHECKS))
		opts->checks = PG_GETARG_JSONB_P(ARG_CHECKS);
}

/*
 * fs_backfill(feature_set, start_time text, stop_time text, reset, source,
 *			   resource_profile, comment, strategy, allow_empty, checks)
 */
Datum
fs_backfill_text(PG_FUNCTION_ARGS)
{
	FsbRunOptions opts;
	TimestampTz start;
	TimestampTz stop;

	run_options(fcinfo, &opts);
	fsb_time_args(fcinfo, ARG_START, &start, &stop);
	PG_RETURN_INT64(fsb_run_backfill(&opts, start, stop));
}

/*
 * fs_backfill(feature_set, start_time timestamptz, stop_time timestamptz, ...)
 */
Datum
fs_backfill_timestamptz(PG_FUNCTION_ARGS)
{
	FsbRunOptions opts;
	TimestampTz start = DT_NOBEGIN;
	TimestampTz stop = DT_NOBEGIN;

	run_options(fcinfo, &opts);
	if (!PG_ARGISNULL(ARG_START))
	{
		start = PG_GETARG_TIMESTAMPTZ(ARG_START);
		fsb_check_finite(start, "start_time");
	}
	if (!PG_ARGISNULL(ARG_STOP))
	{
		stop = PG_GETARG_TIMESTAMPTZ(ARG_STOP);
		fsb_check_finite(stop, "stop_time");
	}
	PG_RETURN_INT64(fsb_run_backfill(&opts, start, stop));
}
