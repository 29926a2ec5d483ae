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

/*
 * Deletes the rows of target in the step's slice, then inserts the source's
 * rows for it.  The DELETE is ours (pinned search_path); the INSERT embeds
 * the caller's source and so runs with the caller's search_path, every name
 * of ours in it qualified.
 */
void
fsb_delete_insert(Relation target, const FsbStep *step, const FsbSource *src,
				  const FsbFeatureSet *fs, int64 *deleted, int64 *inserted)
{
	char	   *delete_sql = psprintf("DELETE FROM %s WHERE %s",
									  fsb_relation_name(target),
									  fsb_time_range_sql(fs->time_column,
														 step->slice_stop));
	char	   *insert_sql = fsb_source_insert_sql(src, target, target,
												   fs->time_column);
	Oid			types[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3];
	int			nest;

	values[0] = TimestampTzGetDatum(step->slice_start);
	values[1] = TimestampTzGetDatum(step->slice_stop);
	values[2] = CStringGetTextDatum(fs->name);

	SPI_connect();
	nest = fsb_pin_search_path();
	fsb_spi_exec(delete_sql, 2, types, values, NULL, SPI_OK_DELETE);
	*deleted = (int64) SPI_processed;
	fsb_unpin_search_path(nest);
	fsb_spi_exec(insert_sql, 3, types, values, NULL, SPI_OK_INSERT);
	*inserted = (int64) SPI_processed;
	SPI_finish();
}

/*
 * Reset: deletes the rows of the step's slice, which lies outside the
 * interval.  On a plain table the first such slice also takes the rows
 * whose time is null.
 */
static int64
delete_outside(Relation target, const FsbStep *step, const FsbPlan *plan)
{
	const char *col = quote_identifier(plan->fs->time_column);
	bool		with_nulls = TIMESTAMP_IS_NOBEGIN(step->slice_start);
	char	   *sql = psprintf("DELETE FROM %s WHERE (%s)%s",
							   fsb_relation_name(target),
							   fsb_time_range_sql(plan->fs->time_column,
												  step->slice_stop),
							   with_nulls ? psprintf(" OR %s IS NULL", col) : "");
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			nest;
	int64		deleted;

	values[0] = TimestampTzGetDatum(step->slice_start);
	values[1] = TimestampTzGetDatum(step->slice_stop);

	SPI_connect();
	nest = fsb_pin_search_path();
	fsb_spi_exec(sql, 2, types, values, NULL, SPI_OK_DELETE);
	deleted = (int64) SPI_processed;
	fsb_unpin_search_path(nest);
	SPI_finish();
	return deleted;
}

/* Refuses to let an empty source wipe rows unless allow_empty. */
static void
check_not_emptied(const FsbPlan *plan, const FsbStep *step, Relation target,
				  int64 before, int64 after, bool allow_empty)
{
	if (after > 0 || before == 0 || allow_empty)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("source of feature set \"%s\" returned no rows for slice [%s, %s) of \"%s\"",
					plan->fs->name, fsb_format_time(step->slice_start),
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

/*
 * Exchanges the swapped partitions whose locks are had within the swap lock
 * timeout; copies the others' new heaps in by delete_insert.
 */
static void
exchange_swaps(Relation target, const FsbPlan *plan, const FsbFeatureSet *fs,
			   const Oid *transients, FsbStepResult *results)
{
	TimestampTz t0 = GetCurrentTimestamp();
	Oid		   *partitions = palloc0(sizeof(Oid) * plan->nsteps);
	bool	   *locked = palloc0(sizeof(bool) * plan->nsteps);
	double		waited;

	for (int i = 0; i < plan->nsteps; i++)
		if (OidIsValid(transients[i]))
			partitions[i] = plan->steps[i].partition;
	fsb_swap_lock(partitions, plan->nsteps, locked);
	waited = (GetCurrentTimestamp() - t0) / (double) USECS_PER_SEC;

	for (int i = 0; i < plan->nsteps; i++)
	{
		const FsbStep *step = &plan->steps[i];
		TimestampTz t1 = GetCurrentTimestamp();

		if (!OidIsValid(transients[i]))
			continue;
		if (locked[i])
			fsb_swap_exchange(step->partition, transients[i]);
		else
		{
			ereport(NOTICE,
					(errmsg("could not lock partition \"%s\" within fs_backfill.swap_lock_timeout; replacing it by delete_insert",
							get_rel_name(step->partition))));
			fsb_swap_abandon(target, step, fs, transients[i],
							 &results[i].rows_before, &results[i].rows_after);
			results[i].strategy = FSB_STRATEGY_DELETE_INSERT;
		}
		results[i].seconds += waited +
			(GetCurrentTimestamp() - t1) / (double) USECS_PER_SEC;
	}
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
 * Runs a backfill of [start, stop) (DT_NOBEGIN: not given) in the caller's
 * transaction and returns its run id.
 */
int64
fsb_run_backfill(const FsbRunOptions *opts, TimestampTz start, TimestampTz stop)
{
	TimestampTz started_at = GetCurrentTimestamp();
	FsbFeatureSet *fs;
	FsbRunInfo	run;
	Relation	target;
	FsbSource  *src;
	FsbPlan    *plan;
	FsbChecks  *checks;
	FsbStepResult *results;
	Oid		   *transients;
	int			nest;
	int64		run_id;

	fs = fsb_catalog_load(opts->feature_set);
	run.source = opts->source ? opts->source : fs->source;
	run.resource_profile = opts->resource_profile ? opts->resource_profile :
		fs->resource_profile;
	run.comment = opts->comment;
	run.started_at = started_at;
	fsb_resolve_interval(fs, &start, &stop);

	check_privileges(fs);
	nest = NewGUCNestLevel();
	fsb_catalog_apply_profile(run.resource_profile);

	fsb_lock_target(fs);
	/* What another backfill committed meanwhile (even a new target) counts. */
	{
		FsbFeatureSet *now = fsb_catalog_load(fs->name);

		if (now->target != fs->target)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("feature set \"%s\" was registered again while this backfill waited",
							fs->name),
					 errhint("Retry the backfill.")));
		fs = now;
		if (opts->source == NULL)
			run.source = fs->source;
	}
	check_privileges(fs);		/* registered again by another role? */
	target = fsb_open_target(fs, AccessShareLock);
	src = fsb_source_analyze(run.source, target, fs->entity_columns,
							 fs->time_column, fs->name);
	checks = fsb_checks_parse(opts->checks ? opts->checks : fs->checks, target,
							  fs->name);

	run.run_id = fsb_catalog_next_run_id();
	fsb_progress_begin(fs->name, run.run_id);
	plan = fsb_plan_build(fs, target, src, start, stop, opts->reset,
						  opts->strategy);
	results = palloc0(sizeof(FsbStepResult) * plan->nsteps);
	transients = palloc0(sizeof(Oid) * plan->nsteps);

	/* The online cache: entities whose latest row is in the interval now. */
	if (fs->online)
	{
		fsb_progress_phase("queueing entities", plan->nsteps);
		fsb_queue_touched(target, fs, start, stop, opts->reset);
	}

	/* ATTACH PARTITION wants the parent not in use here: close it meanwhile. */
	table_close(target, NoLock);
	for (int i = 0; i < plan->nsteps; i++)
	{
		FsbStep    *step = &plan->steps[i];

		if (opts->strategy == FSB_STRATEGY_SWAP && step->swap_refusal != NULL)
			ereport(NOTICE,
					(errmsg("slice [%s, %s) is replaced by delete_insert: %s",
							fsb_format_time(step->slice_start),
							fsb_format_time(step->slice_stop),
							step->swap_refusal)));
		if (step->creates_partition)
			step->partition = fsb_partition_create(fs->target,
												   step->range_start,
												   step->range_stop);
	}
	target = table_open(fs->target, NoLock);

	fsb_progress_phase("replacing slices", plan->nsteps);
	for (int i = 0; i < plan->nsteps; i++)
	{
		FsbStep    *step = &plan->steps[i];
		FsbStepResult *result = &results[i];
		TimestampTz t0 = GetCurrentTimestamp();

		CHECK_FOR_INTERRUPTS();
		result->strategy = step->strategy;
		if (step->strategy != FSB_STRATEGY_DELETE)
			fsb_checks_run(checks, step, src, target, fs->name,
						   fs->entity_columns, fs->time_column,
						   fsb_checks_need_rows_now(checks) ?
						   fsb_count_rows(target, fs->time_column, step->slice_start,
										  step->slice_stop) : 0);
		switch (step->strategy)
		{
			case FSB_STRATEGY_DELETE:
				result->rows_before = delete_outside(target, step, plan);
				break;
			case FSB_STRATEGY_SWAP:
				transients[i] = fsb_swap_build(target, step, src, fs,
											   &result->rows_before,
											   &result->rows_after);
				break;
			default:
				fsb_delete_insert(target, step, src, fs, &result->rows_before,
								  &result->rows_after);
				break;
		}
		if (step->strategy != FSB_STRATEGY_DELETE)
			check_not_emptied(plan, step, target, result->rows_before,
							  result->rows_after, opts->allow_empty);
		result->seconds = (GetCurrentTimestamp() - t0) / (double) USECS_PER_SEC;
		report_slice(fs, plan, i, result);
	}

	fsb_progress_phase("exchanging partitions", -1);
	exchange_swaps(target, plan, fs, transients, results);

	/* ... and those whose latest row is in it after the run. */
	fsb_progress_phase("recording the run", -1);
	if (fs->online)
		fsb_queue_touched(target, fs, start, stop, false);

	run_id = fsb_catalog_record_run(plan, &run, results);
	if (fs->online)
		(void) fsb_queue_seal(fs, run_id);
	AtEOXact_GUC(true, nest);
	table_close(target, NoLock);
	fsb_progress_end();
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
