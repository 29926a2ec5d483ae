/*-------------------------------------------------------------------------
 *
 * stage.c
 *	  fs_backfill_stage(): record a staged run, to be built by background
 *	  workers once the caller's transaction commits.
 *
 * Staging checks everything fs_backfill() checks before it changes
 * anything (the feature set, the caller's privileges, the interval, the
 * source, the checks), under the feature set's backfill lock, then plans
 * the run, creates the partitions it misses (empty: readers see no
 * difference), and records the run, its options and its slices
 * (catalog_stage.c).  Its coordinator starts at commit (stage_worker.c);
 * nothing starts if the transaction rolls back.
 *
 * The workers run as the calling role, never as anyone else, so the role
 * must be one that may log in (PostgreSQL 15 refuses a background worker
 * any other).  A feature set has at most one staged run of an interval at a
 * time: a run whose interval overlaps one still under way (staging, staged,
 * publishing, or failed and not cancelled) is refused.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "stage.h"

PG_FUNCTION_INFO_V1(fs_backfill_stage_text);
PG_FUNCTION_INFO_V1(fs_backfill_stage_timestamptz);

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
	ARG_CHECKS,
	ARG_ALLOW_EMPTY,
	ARG_PARALLEL,
	ARG_RETRIES,
	ARG_PUBLISH
};

/* The workers will connect as the caller: it must be allowed to. */
static void
check_can_login(Oid role)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	bool		can_login;
	char	   *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", role);
	can_login = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	name = pstrdup(NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname));
	ReleaseSysCache(tup);
	if (!can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot stage a run because it cannot log in", name),
				 errdetail("The workers of a staged run connect as the role that stages it."),
				 errhint("Stage the run as a role with LOGIN, or use fs_backfill().")));
}

/* Refuses a run that overlaps one of the feature set still under way. */
static void
check_no_overlap(const FsbRun *run)
{
	FsbSavedUser saved;
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID};
	Datum		values[4];
	int64		other = 0;
	char	   *status = NULL;
	bool		isnull;

	values[0] = CStringGetTextDatum(run->fs->name);
	values[1] = TimestampTzGetDatum(run->start);
	values[2] = TimestampTzGetDatum(run->stop);
	values[3] = BoolGetDatum(run->opts->reset);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT run_id, status FROM fs_backfill.runs r"
				 " WHERE feature_set = $1"
				 " AND status IN ('staging', 'staged', 'publishing', 'failed')"
				 " AND EXISTS (SELECT FROM fs_backfill.staged_runs s"
				 " WHERE s.run_id = r.run_id)"
				 " AND ($4 OR reset OR start_time < $3 AND $2 < stop_time)"
				 " ORDER BY run_id LIMIT 1",
				 4, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		other = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	fsb_owner_spi_end(&saved);
	if (other != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("feature set \"%s\" has staged run " INT64_FORMAT " (%s) over an overlapping interval",
						run->fs->name, other, status),
				 errhint("Publish or cancel run " INT64_FORMAT " first (fs_backfill_publish, fs_backfill_cancel).",
						 other)));
}

/* Reads the options of a staged run from the arguments. */
static void
stage_options(FunctionCallInfo fcinfo, FsbRunOptions *opts, FsbStagedRun *sr)
{
	const char *publish;

	fsb_require_arg(fcinfo, ARG_FEATURE_SET, "feature_set");
	fsb_require_arg(fcinfo, ARG_RESET, "reset");
	fsb_require_arg(fcinfo, ARG_ALLOW_EMPTY, "allow_empty");
	fsb_require_arg(fcinfo, ARG_PARALLEL, "parallel");
	fsb_require_arg(fcinfo, ARG_RETRIES, "retries");
	fsb_require_arg(fcinfo, ARG_PUBLISH, "publish");
	memset(opts, 0, sizeof(*opts));
	memset(sr, 0, sizeof(*sr));
	opts->feature_set = text_to_cstring(PG_GETARG_TEXT_PP(ARG_FEATURE_SET));
	opts->reset = PG_GETARG_BOOL(ARG_RESET);
	opts->allow_empty = PG_GETARG_BOOL(ARG_ALLOW_EMPTY);
	opts->strategy = FSB_STRATEGY_AUTO;
	if (!PG_ARGISNULL(ARG_SOURCE))
		opts->source = text_to_cstring(PG_GETARG_TEXT_PP(ARG_SOURCE));
	if (!PG_ARGISNULL(ARG_PROFILE))
		opts->resource_profile = text_to_cstring(PG_GETARG_TEXT_PP(ARG_PROFILE));
	if (!PG_ARGISNULL(ARG_COMMENT))
		opts->comment = text_to_cstring(PG_GETARG_TEXT_PP(ARG_COMMENT));
	if (!PG_ARGISNULL(ARG_CHECKS))
		opts->checks = PG_GETARG_JSONB_P(ARG_CHECKS);

	sr->parallel = PG_GETARG_INT32(ARG_PARALLEL);
	sr->retries = PG_GETARG_INT32(ARG_RETRIES);
	publish = text_to_cstring(PG_GETARG_TEXT_PP(ARG_PUBLISH));
	if (sr->parallel < 1 || sr->parallel > MAX_BACKENDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parallel must be at least 1, not %d", sr->parallel)));
	if (sr->retries < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retries must not be negative, not %d", sr->retries)));
	if (strcmp(publish, "auto") != 0 && strcmp(publish, "manual") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid publish mode \"%s\"", publish),
				 errhint("Valid modes are \"auto\" and \"manual\".")));
	sr->manual = strcmp(publish, "manual") == 0;
	sr->allow_empty = opts->allow_empty;
}

/* Records a staged run of [start, stop) and returns its id. */
static int64
stage_run(const FsbRunOptions *opts, FsbStagedRun *sr, TimestampTz start,
		  TimestampTz stop)
{
	int			nest = NewGUCNestLevel();	/* the resource profile's */
	FsbRun		run;

	if (!fsb_stage_workers_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("staged runs need fs_backfill in shared_preload_libraries"),
				 errhint("Add fs_backfill to shared_preload_libraries and restart the server, or use fs_backfill().")));
	check_can_login(GetUserId());

	fsb_run_open(&run, opts, start, stop);
	fsb_run_plan(&run);
	check_no_overlap(&run);
	fsb_run_create_partitions(&run);

	sr->run_id = run.info.run_id;
	sr->feature_set = run.fs->name;
	sr->start = run.start;
	sr->stop = run.stop;
	sr->reset = opts->reset;
	sr->source = (char *) run.info.source;
	sr->resource_profile = (char *) run.info.resource_profile;
	sr->comment = (char *) run.info.comment;
	sr->started_at = run.info.started_at;
	sr->run_by = GetUserId();
	sr->checks = opts->checks ? opts->checks : run.fs->checks;
	sr->settings = fsb_stage_capture_settings();
	fsb_catalog_stage_run(&run, sr);
	fsb_stage_launch_at_commit(sr->run_id, sr->run_by);

	AtEOXact_GUC(true, nest);
	fsb_run_close(&run);
	return sr->run_id;
}

/*
 * fs_backfill_stage(feature_set, start_time text, stop_time text, reset,
 *					 source, resource_profile, comment, checks, allow_empty,
 *					 parallel, retries, publish)
 */
Datum
fs_backfill_stage_text(PG_FUNCTION_ARGS)
{
	FsbRunOptions opts;
	FsbStagedRun sr;
	TimestampTz start;
	TimestampTz stop;

	stage_options(fcinfo, &opts, &sr);
	fsb_time_args(fcinfo, ARG_START, &start, &stop);
	PG_RETURN_INT64(stage_run(&opts, &sr, start, stop));
}

/*
 * fs_backfill_stage(feature_set, start_time timestamptz, stop_time
 *					 timestamptz, ...)
 */
Datum
fs_backfill_stage_timestamptz(PG_FUNCTION_ARGS)
{
	FsbRunOptions opts;
	FsbStagedRun sr;
	TimestampTz start = DT_NOBEGIN;
	TimestampTz stop = DT_NOBEGIN;

	stage_options(fcinfo, &opts, &sr);
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
	PG_RETURN_INT64(stage_run(&opts, &sr, start, stop));
}
