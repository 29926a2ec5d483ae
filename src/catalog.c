/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Every SPI read and write of the fs_backfill.* tables, but the online
 *	  queue's (catalog_queue.c).
 *
 * Each function connects to SPI, runs its fixed statements as the extension
 * owner with a pinned search_path (guard.c), copies what it returns into the
 * caller's memory context, and disconnects.  All writes happen in the
 * caller's transaction, so a run is recorded only if it commits.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

/* Settings a resource profile may change for the duration of a run. */
static const char *const profile_settings[] = {
	"work_mem",
	"maintenance_work_mem",
	"max_parallel_workers_per_gather",
	"statement_timeout",
};

static char *
get_text(int column, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  column, &isnull);
	MemoryContext old;
	char	   *result;

	if (isnull)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	result = TextDatumGetCString(d);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * Reads a feature set; raises undefined_object when there is none.
 * The result lives in the caller's memory context.
 */
FsbFeatureSet *
fsb_catalog_load(const char *name)
{
	FsbFeatureSet *fs = fsb_catalog_find(name);

	if (fs == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feature set \"%s\" does not exist", name),
				 errhint("Register it with fs_create_feature_set(), or list them in fs_backfill.feature_sets.")));
	return fs;
}

/*
 * Reads a feature set, or returns NULL when there is none.
 * The result lives in the caller's memory context.
 */
FsbFeatureSet *
fsb_catalog_find(const char *name)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	FsbFeatureSet *fs;
	bool		isnull;
	ArrayType  *entities;
	Datum	   *elems;
	int			nelems;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT target, entity_columns, time_column, source,"
				 " backfill_start, partition_interval, resource_profile,"
				 " (SELECT r.oid FROM pg_roles r WHERE r.rolname = created_by),"
				 " online, online_ttl, checks, catchup_delay, reprocess_partitions"
				 " FROM fs_backfill.feature_sets WHERE name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		fsb_owner_spi_end(&saved);
		return NULL;
	}

	fs = MemoryContextAllocZero(cxt, sizeof(FsbFeatureSet));
	fs->name = MemoryContextStrdup(cxt, name);
	fs->target = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1,
												&isnull));
	entities = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2,
												&isnull));
	deconstruct_array(entities, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		fs->entity_columns = lappend(fs->entity_columns,
									 TextDatumGetCString(elems[i]));
		MemoryContextSwitchTo(old);
	}
	fs->time_column = get_text(3, cxt);
	fs->source = get_text(4, cxt);
	fs->backfill_start = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc,
														   5, &isnull));
	fs->partition_interval = *DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc,
															  6, &isnull));
	fs->resource_profile = get_text(7, cxt);
	fs->created_by = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 8,
													&isnull));
	if (isnull)
		fs->created_by = InvalidOid;
	fs->online = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 9, &isnull));
	{
		Datum		ttl = SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 10, &isnull);

		if (!isnull)
		{
			fs->online_ttl = MemoryContextAlloc(cxt, sizeof(Interval));
			memcpy(fs->online_ttl, DatumGetIntervalP(ttl), sizeof(Interval));
		}
	}
	{
		Jsonb	   *checks = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 11,
														  &isnull));

		fs->checks = MemoryContextAlloc(cxt, VARSIZE(checks));
		memcpy(fs->checks, checks, VARSIZE(checks));
	}
	fs->catchup_delay = *DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc,
														 12, &isnull));
	fs->reprocess_partitions = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc,
														   13, &isnull));
	fsb_owner_spi_end(&saved);
	return fs;
}

/*
 * Stores a new feature set, or with "replace" the new settings of an existing
 * one.  The caller has validated every argument.
 */
void
fsb_catalog_store(const FsbFeatureSet *fs, bool online, Datum online_ttl,
				  bool online_ttl_null, Datum checks, Datum catchup_delay,
				  int32 reprocess_partitions, bool replace)
{
	FsbSavedUser saved;
	char	   *created_by = GetUserNameFromId(GetUserId(), false);
	Datum	   *elems;
	int			nelems = list_length(fs->entity_columns);
	ListCell   *lc;
	int			i = 0;
	Oid			types[14] = {TEXTOID, REGCLASSOID, TEXTARRAYOID, TEXTOID,
		TEXTOID, TIMESTAMPTZOID, INTERVALOID, BOOLOID, INTERVALOID, JSONBOID,
	TEXTOID, INTERVALOID, INT4OID, TEXTOID};
	Datum		values[14];
	char		nulls[14];

	elems = palloc(sizeof(Datum) * nelems);
	foreach(lc, fs->entity_columns)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(fs->name);
	values[1] = ObjectIdGetDatum(fs->target);
	values[2] = PointerGetDatum(construct_array(elems, nelems, TEXTOID, -1,
												false, TYPALIGN_INT));
	values[3] = CStringGetTextDatum(fs->time_column);
	values[4] = CStringGetTextDatum(fs->source);
	values[5] = TimestampTzGetDatum(fs->backfill_start);
	values[6] = IntervalPGetDatum(&fs->partition_interval);
	values[7] = BoolGetDatum(online);
	values[8] = online_ttl;
	nulls[8] = online_ttl_null ? 'n' : ' ';
	values[9] = checks;
	values[10] = CStringGetTextDatum(fs->resource_profile);
	values[11] = catchup_delay;
	values[12] = Int32GetDatum(reprocess_partitions);
	values[13] = CStringGetTextDatum(created_by);

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT 1 FROM fs_backfill.resource_profiles WHERE name = $1",
				 1, &types[10], &values[10], NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("resource profile \"%s\" does not exist",
						fs->resource_profile),
				 errhint("Pick one of fs_backfill.resource_profiles.")));
	if (replace)
	{
		/*
		 * Settings but name and target.  Who changes the source becomes the
		 * registrant: the one before may not run a source it did not write.
		 */
		fsb_spi_exec("UPDATE fs_backfill.feature_sets SET"
					 " entity_columns = $3, time_column = $4, source = $5,"
					 " backfill_start = $6, partition_interval = $7, online = $8,"
					 " online_ttl = $9, checks = $10, resource_profile = $11,"
					 " catchup_delay = $12, reprocess_partitions = $13,"
					 " created_by = CASE WHEN source IS DISTINCT FROM $5"
					 " THEN $14::name ELSE created_by END"
					 " WHERE name = $1 AND $2 IS NOT NULL",
					 14, types, values, nulls, SPI_OK_UPDATE);
		fsb_owner_spi_end(&saved);
		return;
	}
	fsb_spi_exec("SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("feature set \"%s\" already exists", fs->name),
				 errhint("Drop it first with fs_drop_feature_set(), or pick another name.")));
	fsb_spi_exec("INSERT INTO fs_backfill.feature_sets (name, target,"
				 " entity_columns, time_column, source, backfill_start,"
				 " partition_interval, online, online_ttl, checks,"
				 " resource_profile, catchup_delay, reprocess_partitions,"
				 " created_by)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
				 " $13, $14)",
				 14, types, values, nulls, SPI_OK_INSERT);
	fsb_owner_spi_end(&saved);
}

/*
 * Deletes a feature set, its runs (by cascade) and its queued entities.
 * False if there was none.
 */
bool
fsb_catalog_delete(const char *name)
{
	FsbSavedUser saved;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		found;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("DELETE FROM fs_backfill.feature_sets WHERE name = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
	found = SPI_processed > 0;
	fsb_spi_exec("DELETE FROM fs_backfill.online_queue WHERE feature_set = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
	fsb_owner_spi_end(&saved);
	return found;
}

/*
 * The succeeded runs of a feature set, in run order, as catch-up's watermark
 * reads them: each run's interval and whether it was a reset.  Returns an
 * array of *nruns, in the caller's memory context.
 */
FsbRunSpan *
fsb_catalog_succeeded_runs(const char *feature_set, int *nruns)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(feature_set)};
	FsbRunSpan *runs;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT start_time, stop_time, reset FROM fs_backfill.runs"
				 " WHERE feature_set = $1 AND status = 'succeeded' ORDER BY run_id",
				 1, types, values, NULL, SPI_OK_SELECT);
	*nruns = (int) SPI_processed;
	runs = MemoryContextAlloc(cxt, sizeof(FsbRunSpan) * Max(*nruns, 1));
	for (int i = 0; i < *nruns; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		runs[i].start = DatumGetTimestampTz(SPI_getbinval(row, desc, 1, &isnull));
		runs[i].stop = DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull));
		runs[i].reset = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
	}
	fsb_owner_spi_end(&saved);
	return runs;
}

/*
 * The online feature sets' names, in name order, in the current memory
 * context.  Caller is in a transaction, connected to SPI (the online worker,
 * resyncing); the names are read as the extension owner.
 */
List *
fsb_catalog_online_set_names(void)
{
	List	   *names = NIL;
	FsbSavedUser saved;

	fsb_become_user(fsb_extension_owner(), &saved);
	fsb_spi_exec("SELECT name FROM fs_backfill.feature_sets WHERE online ORDER BY name",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	fsb_restore_user(&saved);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return names;
}

/*
 * A feature set's stored settings with "settings" (a JSON object of setting
 * names and new values) merged in, each value converted to its column's type
 * by jsonb_populate_record: "current" with the merged values, for
 * fs_alter_feature_set to check as a registration would.  A "checks" of
 * null becomes '{}'.  Fills "set" in the caller's memory context.
 */
void
fsb_catalog_merge_settings(const FsbFeatureSet *current, Jsonb *settings,
						   FsbSettings *set)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	values[0] = CStringGetTextDatum(current->name);
	values[1] = JsonbPGetDatum(settings);
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT n.entity_columns, n.time_column, n.source, n.backfill_start,"
				 " n.partition_interval, n.online, n.online_ttl, n.checks,"
				 " n.resource_profile, n.catchup_delay, n.reprocess_partitions"
				 " FROM fs_backfill.feature_sets f,"
				 " LATERAL jsonb_populate_record(f, $2) n WHERE f.name = $1",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feature set \"%s\" does not exist", current->name)));
	row = SPI_copytuple(SPI_tuptable->vals[0]);	/* in the caller's memory */
	MemoryContextSwitchTo(cxt);
	desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	fsb_owner_spi_end(&saved);

	memset(set, 0, sizeof(*set));
	set->fs = *current;
	set->entities = DatumGetArrayTypeP(heap_getattr(row, 1, desc, &isnull));
	set->fs.time_column = TextDatumGetCString(heap_getattr(row, 2, desc, &isnull));
	set->fs.source = TextDatumGetCString(heap_getattr(row, 3, desc, &isnull));
	set->fs.backfill_start = DatumGetTimestampTz(heap_getattr(row, 4, desc, &isnull));
	set->fs.partition_interval = *DatumGetIntervalP(heap_getattr(row, 5, desc, &isnull));
	set->online = DatumGetBool(heap_getattr(row, 6, desc, &isnull));
	set->online_ttl = heap_getattr(row, 7, desc, &set->online_ttl_null);
	{
		Datum		checks = heap_getattr(row, 8, desc, &isnull);

		/* "checks": null means none */
		set->checks = DatumGetJsonbP(isnull ?
									 DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")) :
									 checks);
	}
	set->fs.resource_profile = TextDatumGetCString(heap_getattr(row, 9, desc, &isnull));
	set->catchup_delay = DatumGetIntervalP(heap_getattr(row, 10, desc, &isnull));
	set->reprocess_partitions = DatumGetInt32(heap_getattr(row, 11, desc, &isnull));
}

/*
 * statement_timeout set while a statement runs does not re-arm the timer
 * armed when it started: arm it for the run, from now, unless the one
 * running ends sooner.  It ends with the statement, as usual.
 */
static void
arm_statement_timeout(void)
{
	TimestampTz deadline;

	if (StatementTimeout <= 0)
		return;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), StatementTimeout);
	if (get_timeout_active(STATEMENT_TIMEOUT) &&
		get_timeout_finish_time(STATEMENT_TIMEOUT) <= deadline)
		return;
	enable_timeout_at(STATEMENT_TIMEOUT, deadline);
}

/*
 * Applies a resource profile's settings at the current GUC nest level, so
 * they last until the caller's AtEOXact_GUC() (or the transaction's abort).
 */
void
fsb_catalog_apply_profile(const char *profile)
{
	MemoryContext cxt = CurrentMemoryContext;
	FsbSavedUser saved;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(profile)};
	List	   *names = NIL;
	List	   *settings = NIL;
	ListCell   *ln,
			   *ls;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT s.key, s.value FROM fs_backfill.resource_profiles p,"
				 " jsonb_each_text(p.settings) s WHERE p.name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1));
		settings = lappend(settings, SPI_getvalue(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 2));
		MemoryContextSwitchTo(old);
	}
	if (SPI_processed == 0)
	{
		fsb_spi_exec("SELECT 1 FROM fs_backfill.resource_profiles WHERE name = $1",
					 1, types, values, NULL, SPI_OK_SELECT);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("resource profile \"%s\" does not exist", profile),
					 errhint("Pick one of fs_backfill.resource_profiles.")));
	}
	fsb_owner_spi_end(&saved);

	forboth(ln, names, ls, settings)
	{
		const char *name = lfirst(ln);
		bool		allowed = false;

		for (int i = 0; i < lengthof(profile_settings); i++)
			allowed |= strcmp(name, profile_settings[i]) == 0;
		if (!allowed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("resource profile \"%s\" sets unsupported parameter \"%s\"",
							profile, name),
					 errhint("A profile may set work_mem, maintenance_work_mem, max_parallel_workers_per_gather and statement_timeout.")));
		(void) set_config_option(name, lfirst(ls), PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		if (strcmp(name, "statement_timeout") == 0)
			arm_statement_timeout();
	}
}

/*
 * A run id for a run about to start, so that its progress can show it.  A
 * run that fails leaves a gap in the numbering.
 */
int64
fsb_catalog_next_run_id(void)
{
	FsbSavedUser saved;
	bool		isnull;
	int64		run_id;

	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT pg_catalog.nextval('fs_backfill.runs_run_id_seq'::pg_catalog.regclass)",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	fsb_owner_spi_end(&saved);
	return run_id;
}

/*
 * Records a finished run, under the id it was given, and its slices;
 * returns the run id.
 */
int64
fsb_catalog_record_run(const FsbPlan *plan, const FsbRunInfo *run,
					   const FsbStepResult *results)
{
	FsbSavedUser saved;
	char	   *run_by = GetUserNameFromId(GetUserId(), false);
	int64		rows_deleted = 0;
	int64		rows_inserted = 0;
	int64		run_id = run->run_id;
	Oid			types[14] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID, INT8OID,
	INT8OID, INT8OID, INT8OID};
	Datum		values[14];
	char		nulls[14];
	Oid			step_types[8] = {INT8OID, REGCLASSOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TEXTOID, INT8OID, INT8OID, INTERVALOID};
	Datum		step_values[8];

	for (int i = 0; i < plan->nsteps; i++)
	{
		rows_deleted += results[i].rows_before;
		rows_inserted += results[i].rows_after;
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(plan->fs->name);
	values[1] = TimestampTzGetDatum(plan->start);
	values[2] = TimestampTzGetDatum(plan->stop);
	values[3] = BoolGetDatum(plan->reset);
	values[4] = CStringGetTextDatum(run->source);
	values[5] = CStringGetTextDatum(run->resource_profile);
	values[6] = run->comment ? CStringGetTextDatum(run->comment) : (Datum) 0;
	nulls[6] = run->comment ? ' ' : 'n';
	values[7] = CStringGetTextDatum(run_by);
	values[8] = TimestampTzGetDatum(run->started_at);
	values[9] = Int32GetDatum(plan->nsteps);
	values[10] = Int64GetDatum(rows_deleted);
	values[11] = Int64GetDatum(rows_inserted);

	values[12] = Int64GetDatum(run->run_id);
	values[13] = Int64GetDatum(run->online_entities);

	fsb_owner_spi_begin(&saved);
	if (run->staged)
		fsb_spi_exec("UPDATE fs_backfill.runs SET finished_at = clock_timestamp(),"
					 " partitions = $10, rows_deleted = $11, rows_inserted = $12,"
					 " online_entities = $14, status = 'succeeded'"
					 " WHERE run_id = $13",
					 14, types, values, nulls, SPI_OK_UPDATE);
	else
		fsb_spi_exec("INSERT INTO fs_backfill.runs (run_id, feature_set, start_time,"
					 " stop_time, reset, source, source_md5, resource_profile,"
					 " comment, run_by, started_at, finished_at, partitions,"
					 " rows_deleted, rows_inserted, online_entities) OVERRIDING SYSTEM VALUE"
					 " VALUES ($13, $1, $2, $3, $4, $5, md5($5), $6, $7, $8, $9,"
					 " clock_timestamp(), $10, $11, $12, $14)",
					 14, types, values, nulls, SPI_OK_INSERT);

	for (int i = 0; i < plan->nsteps; i++)
	{
		const FsbStep *step = &plan->steps[i];
		Interval   *duration = palloc0(sizeof(Interval));

		duration->time = (int64) (results[i].seconds * USECS_PER_SEC);
		step_values[0] = Int64GetDatum(run_id);
		step_values[1] = ObjectIdGetDatum(step->partition);
		step_values[2] = TimestampTzGetDatum(step->slice_start);
		step_values[3] = TimestampTzGetDatum(step->slice_stop);
		step_values[4] = CStringGetTextDatum(fsb_strategy_name(results[i].strategy));
		step_values[5] = Int64GetDatum(results[i].rows_before);
		step_values[6] = Int64GetDatum(results[i].rows_after);
		step_values[7] = IntervalPGetDatum(duration);
		fsb_spi_exec("INSERT INTO fs_backfill.run_partitions (run_id,"
					 " partition, slice_start, slice_stop, strategy,"
					 " rows_before, rows_after, duration)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
					 8, step_types, step_values, NULL, SPI_OK_INSERT);
	}
	fsb_owner_spi_end(&saved);
	return run_id;
}

/*
 * Counts a feature set's pushes in fs_backfill.online_state, for
 * online_status.  Caller is in a transaction, connected to SPI, as the
 * extension owner (the online worker, in its batch).
 */
void
fsb_catalog_online_pushed(const char *feature_set, int64 pushed)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(feature_set);
	values[1] = Int64GetDatum(pushed);
	fsb_spi_exec("INSERT INTO fs_backfill.online_state AS s (feature_set, pushed, last_push)"
				 " SELECT $1, $2, now()"
				 " WHERE EXISTS (SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1)"
				 " ON CONFLICT (feature_set) DO UPDATE SET pushed = s.pushed + $2, last_push = now()",
				 2, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Shows a feature set's error in fs_backfill.online_state, for
 * online_status.  Caller is in a transaction, connected to SPI, as the
 * extension owner.
 */
void
fsb_catalog_online_error(const char *feature_set, const char *error)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(feature_set);
	values[1] = CStringGetTextDatum(error);
	fsb_spi_exec("INSERT INTO fs_backfill.online_state AS s (feature_set, last_error, last_error_at)"
				 " SELECT $1, $2, now()"
				 " WHERE EXISTS (SELECT 1 FROM fs_backfill.feature_sets WHERE name = $1)"
				 " ON CONFLICT (feature_set) DO UPDATE SET last_error = $2, last_error_at = now()",
				 2, types, values, NULL, SPI_OK_INSERT);
}
