/*-------------------------------------------------------------------------
 *
 * checks.c
 *	  Validation gates: checks a slice's new rows before they replace
 *	  anything.
 *
 * A feature set's checks (and a run's override) are a JSON object:
 *
 *	{"min_rows": N, "max_rows": N, "max_null_fraction": {"col": 0.05},
 *	 "unique_key": true, "max_row_change": 0.5, "max_drift": {"col": 0.1}}
 *
 * fsb_checks_parse() validates one, so that a bad one is refused when it is
 * given (registration, fs_alter_feature_set, fs_backfill), not halfway
 * through a run.  fsb_checks_run() measures a slice's new rows by running
 * the source for it once more, under an aggregate, before the slice's rows
 * are deleted or its new heap built: a failed check raises
 * check_violation naming the slice, the check, the value seen and the
 * limit, and the caller's transaction rolls back, so nothing is changed.
 *
 * max_drift compares, per column, the mean of the slice's new rows with the
 * mean of the rows they replace (the target's rows inside the slice, read
 * with the caller's rights): |new - old| / |old|.  Its edge cases:
 *	- no rows in the slice now, or only NULLs in the column (a NULL old
 *	  mean): nothing to drift from, the check passes;
 *	- no new rows, or only NULLs (a NULL new mean): passes too; min_rows,
 *	  max_row_change and max_null_fraction are the checks for those;
 *	- an old mean of 0: any other new mean is an infinite drift and fails,
 *	  a new mean of 0 is no drift;
 *	- a NaN drift (a NaN or infinite value among the rows) fails, as the
 *	  limit cannot be shown to hold;
 *	- a column that is not of a number type (smallint, integer, bigint,
 *	  real, double precision, numeric, or a domain over one) is refused
 *	  with the checks; one the source leaves out has no new values to
 *	  measure, and the run is refused (22023) before it changes anything.
 * The old means cost one aggregate over the slice's rows in the target, and
 * only for checks that name max_drift.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/checks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

/* One column's limit: its null fraction, or the drift of its mean. */
typedef struct ColumnLimit
{
	char	   *column;
	AttrNumber	attnum;			/* in the target */
	double		limit;
} ColumnLimit;

struct FsbChecks
{
	int64		min_rows;		/* -1: none */
	int64		max_rows;		/* -1: none */
	List	   *null_limits;	/* of ColumnLimit */
	bool		unique_key;
	double		max_row_change; /* < 0: none */
	List	   *drift_limits;	/* of ColumnLimit */
};

static void
bad_checks(const char *feature_set, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid checks for feature set \"%s\"", feature_set),
			 errdetail("%s", detail),
			 errhint("Checks are a JSON object with any of min_rows, max_rows, max_null_fraction, unique_key, max_row_change, max_drift.")));
}

/* A JSON number as a double, or an error naming the key. */
static double
number_of(const JsonbValue *v, const char *key, const char *feature_set)
{
	if (v->type != jbvNumeric)
		bad_checks(feature_set, psprintf("%s must be a number.", key));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

static int64
row_count_of(const JsonbValue *v, const char *key, const char *feature_set)
{
	double		n = number_of(v, key, feature_set);

	if (n < 0 || n != floor(n) || n > (double) PG_INT64_MAX / 2)
		bad_checks(feature_set, psprintf("%s must be a whole number, zero or more.", key));
	return (int64) n;
}

static double
fraction_of(const JsonbValue *v, const char *key, const char *feature_set)
{
	double		f = number_of(v, key, feature_set);

	if (!(f >= 0 && f <= 1))
		bad_checks(feature_set, psprintf("%s must be between 0 and 1.", key));
	return f;
}

/*
 * max_drift needs a mean: a column of a number type, or a domain over one.
 */
static void
check_drift_column(Relation target, const ColumnLimit *limit,
				   const char *feature_set)
{
	Oid			type = TupleDescAttr(RelationGetDescr(target),
									 limit->attnum - 1)->atttypid;

	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return;
		default:
			bad_checks(feature_set,
					   psprintf("max_drift names column \"%s\" of type %s, which has no mean: it must be smallint, integer, bigint, real, double precision or numeric.",
								limit->column, format_type_be(type)));
	}
}

/*
 * Parses the object of column names and limits of "check"
 * (max_null_fraction or max_drift) into a list of ColumnLimit.
 */
static List *
parse_column_limits(JsonbContainer *obj, Relation target, const char *check,
					const char *feature_set)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *limits = NIL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		ColumnLimit *limit;
		char	   *what;

		if (tok != WJB_KEY)
			continue;
		limit = palloc(sizeof(ColumnLimit));
		limit->column = pnstrdup(v.val.string.val, v.val.string.len);
		limit->attnum = get_attnum(RelationGetRelid(target), limit->column);
		if (limit->attnum <= 0)
			bad_checks(feature_set,
					   psprintf("%s names column \"%s\", which table \"%s\" does not have.",
								check, limit->column, RelationGetRelationName(target)));
		tok = JsonbIteratorNext(&it, &v, true);
		what = psprintf("%s of column \"%s\"", check, limit->column);
		if (strcmp(check, "max_drift") == 0)
		{
			check_drift_column(target, limit, feature_set);
			limit->limit = number_of(&v, what, feature_set);
			if (!(limit->limit >= 0))
				bad_checks(feature_set, psprintf("%s must be zero or more.", what));
		}
		else
			limit->limit = fraction_of(&v, what, feature_set);
		limits = lappend(limits, limit);
	}
	return limits;
}

/*
 * Validates checks given for a feature set whose target is "target" and
 * returns them parsed; NULL when there are none (an empty object).
 */
FsbChecks *
fsb_checks_parse(Jsonb *json, Relation target, const char *feature_set)
{
	FsbChecks  *checks;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(json) || JB_ROOT_IS_SCALAR(json))
		bad_checks(feature_set, "Checks must be a JSON object.");
	if (JB_ROOT_COUNT(json) == 0)
		return NULL;

	checks = palloc0(sizeof(FsbChecks));
	checks->min_rows = checks->max_rows = -1;
	checks->max_row_change = -1;
	it = JsonbIteratorInit(&json->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "min_rows") == 0)
			checks->min_rows = row_count_of(&v, key, feature_set);
		else if (strcmp(key, "max_rows") == 0)
			checks->max_rows = row_count_of(&v, key, feature_set);
		else if (strcmp(key, "max_row_change") == 0)
		{
			checks->max_row_change = number_of(&v, key, feature_set);
			if (!(checks->max_row_change >= 0))
				bad_checks(feature_set, "max_row_change must be zero or more.");
		}
		else if (strcmp(key, "unique_key") == 0)
		{
			if (v.type != jbvBool)
				bad_checks(feature_set, "unique_key must be true or false.");
			checks->unique_key = v.val.boolean;
		}
		else if (strcmp(key, "max_null_fraction") == 0)
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				bad_checks(feature_set, "max_null_fraction must be an object of column names and fractions.");
			checks->null_limits = parse_column_limits(v.val.binary.data, target,
													  key, feature_set);
		}
		else if (strcmp(key, "max_drift") == 0)
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				bad_checks(feature_set, "max_drift must be an object of column names and limits.");
			checks->drift_limits = parse_column_limits(v.val.binary.data, target,
													   key, feature_set);
		}
		else
			bad_checks(feature_set, psprintf("Unknown check \"%s\".", key));
	}
	if (checks->min_rows >= 0 && checks->max_rows >= 0 &&
		checks->min_rows > checks->max_rows)
		bad_checks(feature_set, "min_rows is greater than max_rows.");
	return checks;
}

static void
check_failed(const char *check, const FsbStep *step, const char *feature_set,
			 const char *observed, const char *limit)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("check %s failed for slice [%s, %s) of feature set \"%s\": %s, limit %s",
					check, fsb_format_time(step->slice_start),
					fsb_format_time(step->slice_stop), feature_set,
					observed, limit),
			 errdetail("Nothing was changed."),
			 errhint("Fix the source, or pass a checks override to fs_backfill for this run.")));
}

/* Does the source produce the target's column "attnum"? */
static bool
source_has(const FsbSource *src, AttrNumber attnum)
{
	for (int i = 0; i < src->natts; i++)
		if (src->target_attnum[i] == attnum)
			return true;
	return false;
}

/*
 * The mean of each max_drift column over the rows the step's slice holds
 * now, read from the target as the caller (privileges and row-level security
 * apply), with a pinned search_path.  Fills old[] and old_null[].
 */
static void
old_means(const FsbChecks *checks, const FsbStep *step, Relation target,
		  const char *time_column, double *old, bool *old_null)
{
	StringInfoData sql;
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	ListCell   *lc;
	int			nest;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, checks->drift_limits)
	{
		ColumnLimit *limit = lfirst(lc);

		appendStringInfo(&sql, "%spg_catalog.avg(%s)::pg_catalog.float8",
						 foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(limit->column));
	}
	appendStringInfo(&sql, " FROM %s WHERE %s", fsb_relation_name(target),
					 fsb_time_range_sql(time_column, step->slice_stop));
	values[0] = TimestampTzGetDatum(step->slice_start);
	values[1] = TimestampTzGetDatum(step->slice_stop);

	SPI_connect();
	nest = fsb_pin_search_path();
	fsb_spi_exec(sql.data, 2, types, values, NULL, SPI_OK_SELECT);
	for (int i = 0; i < list_length(checks->drift_limits); i++)
		old[i] = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, i + 1,
											  &old_null[i]));
	fsb_unpin_search_path(nest);
	SPI_finish();
}

/*
 * Adds the new mean of each max_drift column to the checks' aggregate over
 * the source.  A column the source leaves out has no new values to measure
 * before they are written: the run is refused.
 */
static void
append_new_means(StringInfo sql, const FsbChecks *checks,
				 const FsbSource *src, const char *feature_set)
{
	ListCell   *lc;

	foreach(lc, checks->drift_limits)
	{
		ColumnLimit *limit = lfirst(lc);

		if (!source_has(src, limit->attnum))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("check max_drift of column \"%s\" cannot be evaluated for feature set \"%s\"",
							limit->column, feature_set),
					 errdetail("The source does not produce column \"%s\", so the mean of its new values is not known.",
							   limit->column),
					 errhint("Have the source produce the column, or pass checks without it for this run.")));
		appendStringInfo(sql, ", pg_catalog.avg(s.%s)::pg_catalog.float8",
						 quote_identifier(limit->column));
	}
}

/* The relative change of a mean: see the file header for 0 and NaN. */
static double
drift_of(double old_mean, double new_mean)
{
	if (old_mean == 0)
		return new_mean == 0 ? 0 : get_float8_infinity();
	return fabs(new_mean - old_mean) / fabs(old_mean);
}

/* A double for a message: "digits" significant digits, NaN or infinite. */
static char *
number_text(double d, int digits)
{
	if (isnan(d))
		return "NaN";
	if (isinf(d))
		return d > 0 ? "infinite" : "-infinite";
	return psprintf("%.*g", digits, d);
}

/*
 * Fails the step when a column's mean drifted past its limit: old[] are the
 * means now, the new ones are in the checks' aggregate (SPI's current
 * result) from column "col" on.  A NULL mean on either side passes.
 */
static void
check_drift(const FsbChecks *checks, const FsbStep *step,
			const char *feature_set, const double *old, const bool *old_null,
			int col)
{
	ListCell   *lc;

	foreach(lc, checks->drift_limits)
	{
		ColumnLimit *limit = lfirst(lc);
		int			i = foreach_current_index(lc);
		bool		new_null;
		double		new_mean = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc,
															col + i, &new_null));
		double		drift;

		if (old_null[i] || new_null)
			continue;
		drift = drift_of(old[i], new_mean);
		if (!(drift <= limit->limit))
			check_failed(psprintf("max_drift of column \"%s\"", limit->column),
						 step, feature_set,
						 psprintf("%s (mean %s now, %s new)", number_text(drift, 4),
								  number_text(old[i], 6), number_text(new_mean, 6)),
						 psprintf("%g", limit->limit));
	}
}

/*
 * Evaluates the checks on the rows the source gives for the step's slice,
 * against "rows_now", the rows the slice holds now, and for max_drift the
 * target's rows in the slice.  Runs the source with the caller's rights and
 * search_path, as the replacement itself will; the wrapping SQL qualifies
 * every name it adds.  "src" may be any query of the slice's new rows with
 * the source's columns and $1, $2 for the slice bounds.
 */
void
fsb_checks_run(const FsbChecks *checks, const FsbStep *step,
			   const FsbSource *src, Relation target, const char *feature_set,
			   List *entity_columns, const char *time_column, int64 rows_now)
{
	StringInfoData sql;
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	ListCell   *lc;
	int64		rows;
	int			col = 2;
	bool		isnull;
	int			ndrift;
	double	   *old = NULL;
	bool	   *old_null = NULL;

	if (checks == NULL)
		return;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.count(*)");
	foreach(lc, checks->null_limits)
	{
		ColumnLimit *limit = lfirst(lc);

		/* a column the source leaves out gets its default, or NULL */
		if (source_has(src, limit->attnum))
			appendStringInfo(&sql, ", pg_catalog.count(s.%s)", quote_identifier(limit->column));
		else if (TupleDescAttr(RelationGetDescr(target), limit->attnum - 1)->atthasdef)
			appendStringInfoString(&sql, ", pg_catalog.count(*)");
		else
			appendStringInfoString(&sql, ", 0::pg_catalog.int8");
	}
	if (checks->unique_key)
	{
		appendStringInfoString(&sql, ", pg_catalog.count(DISTINCT ROW(");
		foreach(lc, entity_columns)
			appendStringInfo(&sql, "s.%s, ", quote_identifier(lfirst(lc)));
		appendStringInfo(&sql, "s.%s))", quote_identifier(time_column));
	}
	ndrift = list_length(checks->drift_limits);
	if (ndrift > 0)
	{
		append_new_means(&sql, checks, src, feature_set);
		old = palloc(sizeof(double) * ndrift);
		old_null = palloc(sizeof(bool) * ndrift);
		old_means(checks, step, target, time_column, old, old_null);
	}
	appendStringInfo(&sql, " FROM (\n%s\n) AS s", src->text);

	values[0] = TimestampTzGetDatum(step->slice_start);
	values[1] = TimestampTzGetDatum(step->slice_stop);
	SPI_connect();
	fsb_spi_exec(sql.data, 2, types, values, NULL, SPI_OK_SELECT);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	if (checks->min_rows >= 0 && rows < checks->min_rows)
		check_failed("min_rows", step, feature_set,
					 psprintf(INT64_FORMAT " rows", rows),
					 psprintf(INT64_FORMAT, checks->min_rows));
	if (checks->max_rows >= 0 && rows > checks->max_rows)
		check_failed("max_rows", step, feature_set,
					 psprintf(INT64_FORMAT " rows", rows),
					 psprintf(INT64_FORMAT, checks->max_rows));
	foreach(lc, checks->null_limits)
	{
		ColumnLimit *limit = lfirst(lc);
		int64		present = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc,
														  col++, &isnull));
		double		fraction = rows > 0 ? (double) (rows - present) / rows : 0;

		if (fraction > limit->limit)
			check_failed(psprintf("max_null_fraction of column \"%s\"", limit->column),
						 step, feature_set,
						 psprintf("%.4g null (" INT64_FORMAT " of " INT64_FORMAT " rows)",
								  fraction, rows - present, rows),
						 psprintf("%g", limit->limit));
	}
	if (checks->unique_key)
	{
		int64		distinct = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc,
														   col++, &isnull));

		if (distinct < rows)
			check_failed("unique_key", step, feature_set,
						 psprintf(INT64_FORMAT " duplicate (entity, time) rows", rows - distinct),
						 "0");
	}
	if (checks->max_row_change >= 0 && rows_now > 0)
	{
		double		change = fabs((double) (rows - rows_now)) / rows_now;

		if (change > checks->max_row_change)
			check_failed("max_row_change", step, feature_set,
						 psprintf("%.4g (" INT64_FORMAT " rows now, " INT64_FORMAT " new)",
								  change, rows_now, rows),
						 psprintf("%g", checks->max_row_change));
	}
	if (ndrift > 0)
		check_drift(checks, step, feature_set, old, old_null, col);
	SPI_finish();
}

/* Does any check need the rows a slice holds now? */
bool
fsb_checks_need_rows_now(const FsbChecks *checks)
{
	return checks != NULL && checks->max_row_change >= 0;
}
