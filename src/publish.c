/*-------------------------------------------------------------------------
 *
 * publish.c
 *	  fs_backfill_publish(): make a staged run's slices the feature set's
 *	  rows, in one short transaction.
 *
 * Publish follows the pipeline of fs_backfill() (execute.c), with the plan
 * read from the run's slices instead of made, and the slices already built:
 *
 *	1. lock the run's row, open the run as fs_backfill() would: the feature
 *	   set's backfill lock, the caller's privileges (whoever publishes needs
 *	   the rights a run needs), the source and checks checked again;
 *	2. lock every staged partition against writers (readers go on) and each
 *	   staged relation, then refuse, naming them, partitions written since
 *	   their slice was staged (serialization_failure: fs_backfill_resume
 *	   builds them again) or whose columns, constraints or indexes changed;
 *	3. queue the entities whose latest row is in the interval now, copy the
 *	   slices that are not swapped in by delete_insert, delete a reset's rows
 *	   outside the interval, queue the entities of the new rows (read from
 *	   the staged relations), exchange the swapped partitions' storage with
 *	   the staged relations', heap and indexes, under ACCESS EXCLUSIVE held
 *	   only for the catalog updates (swap.c), and record the run.
 *
 * Readers see the old rows until this commits, then all the new ones.  The
 * staged relations are gone with the exchange (they own the old storage
 * then) or the copy.  The coordinator publishes a run staged with publish
 * => 'auto' the same way, as the role that staged it.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/publish.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "stage.h"

PG_FUNCTION_INFO_V1(fs_backfill_publish);

/* The slices of a run and, for a reset, the deletions outside it. */
static void
plan_from_slices(FsbRun *run, const FsbStagedRun *sr, const FsbSlice *slices,
				 int nslices)
{
	FsbPlan    *plan = palloc0(sizeof(FsbPlan));
	FsbStep    *outside = NULL;
	int			noutside = 0;

	if (sr->reset)
		outside = fsb_partition_outside(run->target, run->start, run->stop, &noutside);
	plan->fs = run->fs;
	plan->start = run->start;
	plan->stop = run->stop;
	plan->reset = sr->reset;
	plan->nsteps = nslices + noutside;
	plan->steps = palloc0(sizeof(FsbStep) * Max(1, plan->nsteps));
	run->results = palloc0(sizeof(FsbStepResult) * Max(1, plan->nsteps));
	run->transients = palloc0(sizeof(Oid) * Max(1, plan->nsteps));
	for (int i = 0; i < nslices; i++)
	{
		FsbStep    *step = &plan->steps[i];

		step->partition = slices[i].partition;
		step->slice_start = slices[i].slice_start;
		step->slice_stop = slices[i].slice_stop;
		step->strategy = slices[i].strategy;
		run->results[i].strategy = slices[i].strategy;
		run->results[i].rows_before = slices[i].rows_before;
		run->results[i].rows_after = slices[i].rows;
		if (slices[i].strategy == FSB_STRATEGY_SWAP)
			run->transients[i] = slices[i].staged;
	}
	for (int i = 0; i < noutside; i++)
	{
		plan->steps[nslices + i] = outside[i];
		run->results[nslices + i].strategy = FSB_STRATEGY_DELETE;
	}
	run->plan = plan;
}

/*
 * Locks the staged partitions against writers and the staged relations
 * entirely, then refuses partitions written since they were staged, and
 * those whose layout changed.
 */
static void
check_slices(const FsbRun *run, const FsbStagedRun *sr, const FsbSlice *slices,
			 int nslices)
{
	StringInfoData written;
	int			nwritten = 0;

	for (int i = 0; i < nslices; i++)
	{
		const FsbSlice *slice = &slices[i];

		if (strcmp(slice->status, "staged") != 0 || !OidIsValid(slice->staged) ||
			get_rel_name(slice->staged) == NULL || slice->mark == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("slice %d of staged run " INT64_FORMAT " is not staged",
							slice->slice, sr->run_id),
					 errhint("Resume the run with fs_backfill_resume(" INT64_FORMAT ") to build it.",
							 sr->run_id)));
		LockRelationOid(slice->partition, ExclusiveLock);
		LockRelationOid(slice->staged, AccessExclusiveLock);
		/* copied in by the publisher when it is not (or cannot be) swapped */
		fsb_stage_grant_select(slice->staged, GetUserId());
	}

	initStringInfo(&written);
	for (int i = 0; i < nslices; i++)
	{
		const FsbSlice *slice = &slices[i];
		Relation	part = try_table_open(slice->partition, NoLock);
		const char *mark;

		if (part == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("partition %u of slice %d of staged run " INT64_FORMAT " no longer exists",
							slice->partition, slice->slice, sr->run_id),
					 errhint("Cancel the run and stage it again.")));
		mark = strchr(slice->mark, ':');
		if (mark == NULL ||
			strncmp(slice->mark, fsb_stage_layout(part), mark - slice->mark) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("partition \"%s\" changed its columns, constraints or indexes since staged run " INT64_FORMAT " staged it",
							RelationGetRelationName(part), sr->run_id),
					 errhint("Resume the run with fs_backfill_resume(" INT64_FORMAT ") to stage it again, or cancel it.",
							 sr->run_id)));
		if (fsb_stage_mark_written(part, mark + 1))
			appendStringInfo(&written, "%s\"%s\"", nwritten++ > 0 ? ", " : "",
							 RelationGetRelationName(part));
		table_close(part, NoLock);
	}
	if (nwritten > 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg_plural("partition %s of feature set \"%s\" was written since staged run " INT64_FORMAT " staged it",
							   "partitions %s of feature set \"%s\" were written since staged run " INT64_FORMAT " staged them",
							   nwritten, written.data, run->fs->name, sr->run_id),
				 errdetail("Publishing would discard what was written."),
				 errhint("Resume the run with fs_backfill_resume(" INT64_FORMAT ") to stage what was written again, or cancel it.",
						 sr->run_id)));
}

/* Says why a run whose status is not the one publish wants cannot be. */
static void
refuse_status(const FsbStagedRun *sr)
{
	if (strcmp(sr->status, "succeeded") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("staged run " INT64_FORMAT " is published already", sr->run_id)));
	if (strcmp(sr->status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("staged run " INT64_FORMAT " was cancelled", sr->run_id),
				 errhint("Stage the interval again.")));
	if (strcmp(sr->status, "failed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("staged run " INT64_FORMAT " failed", sr->run_id),
				 errhint("fs_backfill.run_slices says why; fs_backfill_resume(" INT64_FORMAT ") builds its unstaged slices again.",
						 sr->run_id)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("staged run " INT64_FORMAT " is %s, not staged", sr->run_id, sr->status),
			 errhint("fs_backfill_wait(" INT64_FORMAT ") waits until its slices are staged.",
					 sr->run_id)));
}

/*
 * Publishes staged run "run_id" in the current transaction: a user's
 * fs_backfill_publish() (status 'staged'), or its coordinator ("from_worker",
 * status 'publishing').
 */
void
fsb_publish_run(int64 run_id, bool from_worker)
{
	int			nest = NewGUCNestLevel();	/* the resource profile's */
	FsbStagedRun *sr = fsb_catalog_staged_run(run_id, true);
	const char *expected = from_worker ? "publishing" : "staged";
	FsbRunOptions opts;
	FsbRun		run;
	FsbSlice   *slices;
	int			nslices;

	if (strcmp(sr->status, expected) != 0)
		refuse_status(sr);

	memset(&opts, 0, sizeof(opts));
	opts.feature_set = sr->feature_set;
	opts.reset = sr->reset;
	opts.source = sr->source;
	opts.resource_profile = sr->resource_profile;
	opts.comment = sr->comment;
	opts.strategy = FSB_STRATEGY_AUTO;
	opts.allow_empty = sr->allow_empty;
	opts.checks = sr->checks;
	fsb_run_open(&run, &opts, sr->start, sr->stop);
	run.info.run_id = run_id;
	run.info.staged = true;
	run.info.started_at = sr->started_at;
	fsb_progress_begin(sr->feature_set, run_id);

	slices = fsb_catalog_slices(run_id, &nslices);
	check_slices(&run, sr, slices, nslices);
	plan_from_slices(&run, sr, slices, nslices);

	fsb_run_queue_before(&run);
	fsb_progress_phase("publishing slices", run.plan->nsteps);
	for (int i = 0; i < run.plan->nsteps; i++)
	{
		FsbStep    *step = &run.plan->steps[i];
		FsbStepResult *result = &run.results[i];

		CHECK_FOR_INTERRUPTS();
		if (step->strategy == FSB_STRATEGY_DELETE)
			result->rows_before = fsb_replace_outside(run.target, step,
													  run.fs->time_column);
		else if (step->strategy == FSB_STRATEGY_DELETE_INSERT)
			fsb_swap_copy_in(run.target, step, run.fs, slices[i].staged,
							 &result->rows_before, &result->rows_after);
		fsb_progress_slice_done(result->rows_after);
	}
	fsb_run_queue_after(&run);
	fsb_run_exchange(&run);
	(void) fsb_run_record(&run);
	fsb_catalog_slices_published(run_id);

	AtEOXact_GUC(true, nest);
	fsb_run_close(&run);
}

/* fs_backfill_publish(run_id) */
Datum
fs_backfill_publish(PG_FUNCTION_ARGS)
{
	int64		run_id;

	fsb_require_arg(fcinfo, 0, "run_id");
	run_id = PG_GETARG_INT64(0);
	fsb_publish_run(run_id, false);
	PG_RETURN_INT64(run_id);
}
