/*-------------------------------------------------------------------------
 *
 * catalog_stage.c
 *	  Every SPI read and write of the tables of staged runs:
 *	  fs_backfill.runs (while a staged run is under way), staged_runs and
 *	  run_slices.
 *
 * As in catalog.c, each function connects to SPI, runs fixed statements as
 * the extension owner with a pinned search_path, copies what it returns into
 * the caller's memory context, and disconnects; every write is part of the
 * caller's transaction.  The slice builders and the coordinator (which run
 * as the role that staged the run) call them in transactions of their own,
 * so that a slice's status is seen as soon as it changes.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/catalog_stage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "stage.h"

/* Column "column" of row "row" of the last SPI result, or NULL. */
static Datum
get_datum(int row, int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 column, isnull);
}

static char *
get_text(int row, int column)
{
	bool		isnull;
	Datum		d = get_datum(row, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Records a staged run about to start: its row in runs (status 'staging'),
 * its options, and its slices (every step of the plan but a reset's
 * deletions, which publish does).
 */
void
fsb_catalog_stage_run(const FsbRun *run, const FsbStagedRun *sr)
{
	FsbSavedUser saved;
	const FsbPlan *plan = run->plan;
	Oid			types[12] = {INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		BOOLOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		values[12];
	char		nulls[12];
	Oid			opt_types[8] = {INT8OID, OIDOID, INT4OID, INT4OID, TEXTOID,
		BOOLOID, JSONBOID, JSONBOID};
	Datum		opt_values[8];
	Oid			slice_types[6] = {INT8OID, INT4OID, REGCLASSOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TEXTOID};
	Datum		slice_values[6];
	int			nslices = 0;

	for (int i = 0; i < plan->nsteps; i++)
		nslices += plan->steps[i].strategy != FSB_STRATEGY_DELETE;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(sr->run_id);
	values[1] = CStringGetTextDatum(sr->feature_set);
	values[2] = TimestampTzGetDatum(sr->start);
	values[3] = TimestampTzGetDatum(sr->stop);
	values[4] = BoolGetDatum(sr->reset);
	values[5] = CStringGetTextDatum(sr->source);
	values[6] = CStringGetTextDatum(sr->resource_profile);
	values[7] = sr->comment ? CStringGetTextDatum(sr->comment) : (Datum) 0;
	nulls[7] = sr->comment ? ' ' : 'n';
	values[8] = CStringGetTextDatum(GetUserNameFromId(sr->run_by, false));
	values[9] = TimestampTzGetDatum(sr->started_at);
	values[10] = Int32GetDatum(nslices);

	opt_values[0] = Int64GetDatum(sr->run_id);
	opt_values[1] = ObjectIdGetDatum(sr->run_by);
	opt_values[2] = Int32GetDatum(sr->parallel);
	opt_values[3] = Int32GetDatum(sr->retries);
	opt_values[4] = CStringGetTextDatum(sr->manual ? "manual" : "auto");
	opt_values[5] = BoolGetDatum(sr->allow_empty);
	opt_values[6] = JsonbPGetDatum(sr->checks);
	opt_values[7] = JsonbPGetDatum(sr->settings);

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("INSERT INTO fs_backfill.runs (run_id, feature_set, start_time,"
				 " stop_time, reset, source, source_md5, resource_profile,"
				 " comment, run_by, started_at, finished_at, partitions,"
				 " rows_deleted, rows_inserted, status) OVERRIDING SYSTEM VALUE"
				 " VALUES ($1, $2, $3, $4, $5, $6, md5($6), $7, $8, $9, $10,"
				 " NULL, $11, 0, 0, 'staging')",
				 11, types, values, nulls, SPI_OK_INSERT);
	fsb_spi_exec("INSERT INTO fs_backfill.staged_runs (run_id, run_by_oid,"
				 " parallel, retries, publish, allow_empty, checks, settings)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				 8, opt_types, opt_values, NULL, SPI_OK_INSERT);
	for (int i = 0, n = 0; i < plan->nsteps; i++)
	{
		const FsbStep *step = &plan->steps[i];

		if (step->strategy == FSB_STRATEGY_DELETE)
			continue;
		slice_values[0] = Int64GetDatum(sr->run_id);
		slice_values[1] = Int32GetDatum(++n);
		slice_values[2] = ObjectIdGetDatum(step->partition);
		slice_values[3] = TimestampTzGetDatum(step->slice_start);
		slice_values[4] = TimestampTzGetDatum(step->slice_stop);
		slice_values[5] = CStringGetTextDatum(fsb_strategy_name(step->strategy));
		fsb_spi_exec("INSERT INTO fs_backfill.run_slices (run_id, slice,"
					 " partition, slice_start, slice_stop, strategy)"
					 " VALUES ($1, $2, $3, $4, $5, $6)",
					 6, slice_types, slice_values, NULL, SPI_OK_INSERT);
	}
	fsb_owner_spi_end(&saved);
}

/*
 * Reads a staged run, its row locked FOR UPDATE if asked; raises
 * undefined_object when there is no such run, or when it is not a staged run.
 * The result lives in the caller's memory context.
 */
FsbStagedRun *
fsb_catalog_staged_run(int64 run_id, bool for_update)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	FsbStagedRun *sr = NULL;
	bool		staged;
	bool		isnull;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec(psprintf("SELECT r.feature_set, r.start_time, r.stop_time, r.reset,"
						  " r.source, r.resource_profile, r.comment, r.status,"
						  " r.started_at, s.run_by_oid, s.parallel, s.retries,"
						  " s.publish = 'manual', s.allow_empty, s.checks, s.settings,"
						  " s.run_id IS NOT NULL"
						  " FROM fs_backfill.runs r"
						  " LEFT JOIN fs_backfill.staged_runs s USING (run_id)"
						  " WHERE r.run_id = $1%s",
						  for_update ? " FOR UPDATE OF r" : ""),
				 1, types, values, NULL, SPI_OK_SELECT);
	staged = SPI_processed == 1 && DatumGetBool(get_datum(0, 17, &isnull));
	if (staged)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		sr = palloc0(sizeof(FsbStagedRun));
		sr->run_id = run_id;
		sr->feature_set = get_text(0, 1);
		sr->start = DatumGetTimestampTz(get_datum(0, 2, &isnull));
		sr->stop = DatumGetTimestampTz(get_datum(0, 3, &isnull));
		sr->reset = DatumGetBool(get_datum(0, 4, &isnull));
		sr->source = get_text(0, 5);
		sr->resource_profile = get_text(0, 6);
		sr->comment = get_text(0, 7);
		sr->status = get_text(0, 8);
		sr->started_at = DatumGetTimestampTz(get_datum(0, 9, &isnull));
		sr->run_by = DatumGetObjectId(get_datum(0, 10, &isnull));
		sr->parallel = DatumGetInt32(get_datum(0, 11, &isnull));
		sr->retries = DatumGetInt32(get_datum(0, 12, &isnull));
		sr->manual = DatumGetBool(get_datum(0, 13, &isnull));
		sr->allow_empty = DatumGetBool(get_datum(0, 14, &isnull));
		sr->checks = DatumGetJsonbPCopy(get_datum(0, 15, &isnull));
		sr->settings = DatumGetJsonbPCopy(get_datum(0, 16, &isnull));
		MemoryContextSwitchTo(old);
	}
	fsb_owner_spi_end(&saved);

	if (sr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("staged run " INT64_FORMAT " does not exist", run_id),
				 errhint("fs_backfill.runs lists the runs; only runs of fs_backfill_stage() are staged.")));
	return sr;
}

/* The slices of a staged run, in order, in the caller's memory context. */
FsbSlice *
fsb_catalog_slices(int64 run_id, int *nslices)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	FsbSlice   *slices;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT slice, partition, slice_start, slice_stop, strategy,"
				 " status, attempts, rows_before, rows, staged_relation,"
				 " stage_mark, builds"
				 " FROM fs_backfill.run_slices WHERE run_id = $1 ORDER BY slice",
				 1, types, values, NULL, SPI_OK_SELECT);
	*nslices = (int) SPI_processed;
	slices = MemoryContextAllocZero(cxt, sizeof(FsbSlice) * Max(1, SPI_processed));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		FsbSlice   *s = &slices[i];
		MemoryContext old;
		bool		isnull;
		char	   *text;

		s->slice = DatumGetInt32(get_datum(i, 1, &isnull));
		s->partition = DatumGetObjectId(get_datum(i, 2, &isnull));
		s->slice_start = DatumGetTimestampTz(get_datum(i, 3, &isnull));
		s->slice_stop = DatumGetTimestampTz(get_datum(i, 4, &isnull));
		s->strategy = fsb_strategy_from_text(get_text(i, 5));
		strlcpy(s->status, get_text(i, 6), sizeof(s->status));
		s->attempts = DatumGetInt32(get_datum(i, 7, &isnull));
		s->rows_before = DatumGetInt64(get_datum(i, 8, &isnull));
		if (isnull)
			s->rows_before = 0;
		s->rows = DatumGetInt64(get_datum(i, 9, &isnull));
		if (isnull)
			s->rows = 0;
		s->staged = DatumGetObjectId(get_datum(i, 10, &isnull));
		if (isnull)
			s->staged = InvalidOid;
		s->builds = DatumGetInt32(get_datum(i, 12, &isnull));
		text = get_text(i, 11);
		old = MemoryContextSwitchTo(cxt);
		s->mark = text ? pstrdup(text) : NULL;
		MemoryContextSwitchTo(old);
	}
	fsb_owner_spi_end(&saved);
	return slices;
}

/*
 * Moves a run from status "from" to "to"; a final one (succeeded, failed,
 * cancelled) also sets its finish time, and a failure its error.  False,
 * changing nothing, when the run is not in "from" (any more).
 */
bool
fsb_catalog_run_status(int64 run_id, const char *from, const char *to,
					   const char *error)
{
	FsbSavedUser saved;
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', error ? ' ' : 'n', ' '};
	bool		moved;

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(to);
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	values[3] = CStringGetTextDatum(from);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("UPDATE fs_backfill.runs SET status = $2,"
				 " finished_at = CASE WHEN $2 IN ('succeeded', 'failed', 'cancelled')"
				 " THEN clock_timestamp() END"
				 " WHERE run_id = $1 AND status = $4",
				 4, types, values, nulls, SPI_OK_UPDATE);
	moved = SPI_processed == 1;
	if (moved)
		fsb_spi_exec("UPDATE fs_backfill.staged_runs SET error = $3 WHERE run_id = $1",
					 3, types, values, nulls, SPI_OK_UPDATE);
	fsb_owner_spi_end(&saved);
	return moved;
}

/*
 * A builder takes a pending slice of a run that is staging: status
 * 'building', one more attempt and one more build.  Returns the build's
 * number (never reused: resume counts attempts from zero again, not
 * builds), which tells this builder's records from another's; 0 when the
 * slice is not there to take.
 */
int
fsb_catalog_slice_begin(int64 run_id, int slice)
{
	FsbSavedUser saved;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int32GetDatum(slice)};
	int			attempt = 0;
	bool		isnull;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("UPDATE fs_backfill.run_slices s SET status = 'building',"
				 " attempts = attempts + 1, builds = builds + 1,"
				 " started_at = clock_timestamp(), finished_at = NULL"
				 " FROM fs_backfill.runs r"
				 " WHERE s.run_id = $1 AND s.slice = $2 AND s.status = 'pending'"
				 " AND r.run_id = s.run_id AND r.status = 'staging'"
				 " RETURNING s.builds",
				 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1)
		attempt = DatumGetInt32(get_datum(0, 1, &isnull));
	fsb_owner_spi_end(&saved);
	return attempt;
}

/*
 * Records build "build" of a slice as staged, if its run is still staging
 * and the slice still that build's: the run's row is locked FOR
 * SHARE first, so that a cancel either waits for this commit (and then drops
 * what it staged) or has committed already (and this refuses).  False when
 * the slice is no longer this attempt's to record.
 */
bool
fsb_catalog_slice_staged(int64 run_id, const FsbSlice *slice, int build)
{
	FsbSavedUser saved;
	Oid			types[7] = {INT8OID, INT4OID, INT8OID, INT8OID, REGCLASSOID,
		TEXTOID, INT4OID};
	Datum		values[7];
	bool		recorded = false;

	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(slice->slice);
	values[2] = Int64GetDatum(slice->rows_before);
	values[3] = Int64GetDatum(slice->rows);
	values[4] = ObjectIdGetDatum(slice->staged);
	values[5] = CStringGetTextDatum(slice->mark);
	values[6] = Int32GetDatum(build);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT FROM fs_backfill.runs WHERE run_id = $1"
				 " AND status = 'staging' FOR SHARE",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		fsb_spi_exec("UPDATE fs_backfill.run_slices SET status = 'staged',"
					 " rows_before = $3, rows = $4, staged_relation = $5,"
					 " stage_mark = $6, error = NULL, finished_at = clock_timestamp()"
					 " WHERE run_id = $1 AND slice = $2 AND status = 'building'"
					 " AND builds = $7",
					 7, types, values, NULL, SPI_OK_UPDATE);
		recorded = SPI_processed == 1;
	}
	fsb_owner_spi_end(&saved);
	return recorded;
}

/*
 * Records a failed build of a slice (build 0: whichever is building).
 * A transient error makes it pending again while it has attempts left
 * (retries + 1 in all); otherwise the slice fails, and its run with it.
 */
void
fsb_catalog_slice_failed(int64 run_id, int slice, int build,
						 const char *error, bool transient)
{
	FsbSavedUser saved;
	Oid			types[5] = {INT8OID, INT4OID, TEXTOID, BOOLOID, INT4OID};
	Datum		values[5];
	bool		isnull;

	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(slice);
	values[2] = CStringGetTextDatum(error);
	values[3] = BoolGetDatum(transient);
	values[4] = Int32GetDatum(build);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("UPDATE fs_backfill.run_slices s SET error = $3,"
				 " finished_at = clock_timestamp(),"
				 " status = CASE WHEN $4 AND s.attempts <= o.retries"
				 " THEN 'pending' ELSE 'failed' END"
				 " FROM fs_backfill.staged_runs o"
				 " WHERE s.run_id = $1 AND s.slice = $2 AND s.status = 'building'"
				 " AND ($5 = 0 OR s.builds = $5) AND o.run_id = s.run_id"
				 " RETURNING s.status = 'failed'",
				 5, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1 && DatumGetBool(get_datum(0, 1, &isnull)))
	{
		values[2] = CStringGetTextDatum(psprintf("slice %d: %s", slice, error));
		fsb_spi_exec("UPDATE fs_backfill.runs SET status = 'failed',"
					 " finished_at = clock_timestamp()"
					 " WHERE run_id = $1 AND status = 'staging'",
					 1, types, values, NULL, SPI_OK_UPDATE);
		if (SPI_processed == 1)
			fsb_spi_exec("UPDATE fs_backfill.staged_runs SET error = $3"
						 " WHERE run_id = $1",
						 3, types, values, NULL, SPI_OK_UPDATE);
	}
	fsb_owner_spi_end(&saved);
}

/*
 * Makes a slice pending again, forgetting what it staged (the caller drops
 * it), with its attempts counted from zero unless "keep_attempts".
 */
void
fsb_catalog_slice_reset(int64 run_id, int slice, bool keep_attempts)
{
	FsbSavedUser saved;
	Oid			types[3] = {INT8OID, INT4OID, BOOLOID};
	Datum		values[3];

	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(slice);
	values[2] = BoolGetDatum(keep_attempts);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("UPDATE fs_backfill.run_slices SET status = 'pending',"
				 " attempts = CASE WHEN $3 THEN attempts ELSE 0 END,"
				 " staged_relation = NULL, stage_mark = NULL"
				 " WHERE run_id = $1 AND slice = $2",
				 3, types, values, NULL, SPI_OK_UPDATE);
	fsb_owner_spi_end(&saved);
}

/* Runs one statement of ours on the run whose id is $1. */
static void
exec_for_run(const char *sql, int64 run_id)
{
	FsbSavedUser saved;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec(sql, 1, types, values, NULL, SPI_OK_UPDATE);
	fsb_owner_spi_end(&saved);
}

/* A published run's slices: what they staged is gone. */
void
fsb_catalog_slices_published(int64 run_id)
{
	exec_for_run("UPDATE fs_backfill.run_slices SET staged_relation = NULL,"
				 " stage_mark = NULL WHERE run_id = $1", run_id);
}

/* Marks every slice of a cancelled run cancelled; the caller drops them. */
void
fsb_catalog_slices_cancel(int64 run_id)
{
	exec_for_run("UPDATE fs_backfill.run_slices SET status = 'cancelled',"
				 " staged_relation = NULL, stage_mark = NULL,"
				 " finished_at = coalesce(finished_at, clock_timestamp())"
				 " WHERE run_id = $1", run_id);
}

/*
 * The (run id, role) pairs a query of ours on runs and staged_runs returns,
 * in the caller's memory context.
 */
static List *
run_refs(const char *sql, int nargs, Oid *types, Datum *values)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	List	   *refs = NIL;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec(sql, nargs, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		FsbRunRef  *ref = MemoryContextAlloc(cxt, sizeof(FsbRunRef));
		MemoryContext old;

		ref->run_id = DatumGetInt64(get_datum(i, 1, &isnull));
		ref->run_by = DatumGetObjectId(get_datum(i, 2, &isnull));
		old = MemoryContextSwitchTo(cxt);
		refs = lappend(refs, ref);
		MemoryContextSwitchTo(old);
	}
	fsb_owner_spi_end(&saved);
	return refs;
}

/* The runs that are staging or publishing. */
List *
fsb_catalog_runs_to_resume(void)
{
	return run_refs("SELECT r.run_id, s.run_by_oid FROM fs_backfill.runs r"
					" JOIN fs_backfill.staged_runs s USING (run_id)"
					" WHERE r.status IN ('staging', 'publishing') ORDER BY r.run_id",
					0, NULL, NULL);
}

/*
 * The staged runs of a feature set that still hold or build slices (any
 * status but succeeded and cancelled), locked FOR UPDATE.
 */
List *
fsb_catalog_active_runs(const char *feature_set)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(feature_set)};

	return run_refs("SELECT r.run_id, s.run_by_oid FROM fs_backfill.runs r"
					" JOIN fs_backfill.staged_runs s USING (run_id)"
					" WHERE r.feature_set = $1"
					" AND r.status IN ('staging', 'staged', 'publishing', 'failed')"
					" ORDER BY r.run_id FOR UPDATE OF r",
					1, types, values);
}

/*
 * A run's status as committed now, whatever the transaction's snapshot, as
 * the calling role sees it (NULL: no run it may see); "manual" tells whether
 * it waits for a manual publish.
 */
char *
fsb_catalog_run_status_now(int64 run_id, bool *manual)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	SPIPlanPtr	plan;
	char	   *status = NULL;
	int			nest;

	SPI_connect();
	nest = fsb_pin_search_path();
	plan = SPI_prepare("SELECT r.status, s.publish = 'manual'"
					   " FROM fs_backfill.runs r"
					   " LEFT JOIN fs_backfill.staged_runs s USING (run_id)"
					   " WHERE r.run_id = $1", 1, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_snapshot failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = get_datum(0, 2, &isnull);

		status = MemoryContextStrdup(cxt, get_text(0, 1));
		*manual = !isnull && DatumGetBool(d);
	}
	fsb_unpin_search_path(nest);
	SPI_finish();
	return status;
}

/*
 * The first staged run of a feature set still under way (staging, staged,
 * publishing or failed) whose interval overlaps [start, stop) (any, for a
 * reset, and a reset run overlaps all), and its status; 0 when none.
 */
int64
fsb_catalog_overlapping_run(const char *feature_set, TimestampTz start,
							TimestampTz stop, bool reset, char **status)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID};
	Datum		values[4];
	int64		other = 0;
	bool		isnull;

	values[0] = CStringGetTextDatum(feature_set);
	values[1] = TimestampTzGetDatum(start);
	values[2] = TimestampTzGetDatum(stop);
	values[3] = BoolGetDatum(reset);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT r.run_id, r.status FROM fs_backfill.runs r"
				 " JOIN fs_backfill.staged_runs s USING (run_id)"
				 " WHERE r.feature_set = $1"
				 " AND r.status IN ('staging', 'staged', 'publishing', 'failed')"
				 " AND ($4 OR r.reset OR r.start_time < $3 AND $2 < r.stop_time)"
				 " ORDER BY r.run_id LIMIT 1",
				 4, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		other = DatumGetInt64(get_datum(0, 1, &isnull));
		*status = MemoryContextStrdup(cxt, get_text(0, 2));
	}
	fsb_owner_spi_end(&saved);
	return other;
}
