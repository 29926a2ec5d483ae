/*-------------------------------------------------------------------------
 *
 * checks.c
 *	  Validation gates: checks a slice's new rows before they replace
 *	  anything.
 *
 * A feature set's checks (and a run's override) are a JSON object:
 *
 *	{"min_rows": N, "max_rows": N, "max_null_fraction": {"col": 0.05},
 *	 "unique_key": true, "max_row_change": 0.5}
 *
 * fsb_checks_parse() validates one, so that a bad one is refused when it is
 * given (registration, fs_alter_feature_set, fs_backfill), not halfway
 * through a run.  fsb_checks_run() measures a slice's new rows by running
 * the source for it once more, under an aggregate, before the slice's rows
 * are deleted or its new heap built: a failed check raises
 * check_violation naming the slice, the check, the value seen and the
 * limit, and the caller's transaction rolls back, so nothing is changed.
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
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

/* One column's null fraction limit. */
typedef struct NullLimit
{
	char	   *column;
	AttrNumber	attnum;			/* in the target */
	double		limit;
} NullLimit;

struct FsbChecks
{
	int64		min_rows;		/* -1: none */
	int64		max_rows;		/* -1: none */
	List	   *null_limits;	/* of NullLimit */
	bool		unique_key;
	double		max_row_change; /* < 0: none */
};

static void
bad_checks(const char *feature_set, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid checks for feature set \"%s\"", feature_set),
			 errdetail("%s", detail),
			 errhint("Checks are a JSON object with any of min_rows, max_rows, max_null_fraction, unique_key, max_row_change.")));
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

static void
parse_null_limits(FsbChecks *checks, JsonbContainer *obj, Relation target,
				  const char *feature_set)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		NullLimit  *limit;

		if (tok != WJB_KEY)
			continue;
		limit = palloc(sizeof(NullLimit));
		limit->column = pnstrdup(v.val.string.val, v.val.string.len);
		limit->attnum = get_attnum(RelationGetRelid(target), limit->column);
		if (limit->attnum <= 0)
			bad_checks(feature_set,
					   psprintf("max_null_fraction names column \"%s\", which table \"%s\" does not have.",
								limit->column, RelationGetRelationName(target)));
		tok = JsonbIteratorNext(&it, &v, true);
		limit->limit = fraction_of(&v, psprintf("max_null_fraction of column \"%s\"",
												limit->column), feature_set);
		checks->null_limits = lappend(checks->null_limits, limit);
	}
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
			parse_null_limits(checks, v.val.binary.data, target, feature_set);
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

/*
 * Evaluates the checks on the rows the source gives for the step's slice,
 * against "rows_now", the rows the slice holds now.  Runs the source with
 * the caller's rights and search_path, as the replacement itself will; the
 * wrapping SQL qualifies every name it adds.
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

	if (checks == NULL)
		return;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.count(*)");
	foreach(lc, checks->null_limits)
	{
		NullLimit  *limit = lfirst(lc);
		bool		in_source = false;

		for (int i = 0; i < src->natts; i++)
			in_source |= src->target_attnum[i] == limit->attnum;
		/* a column the source leaves out gets its default, or NULL */
		if (in_source)
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
		NullLimit  *limit = lfirst(lc);
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
	SPI_finish();
}

/* Does any check need the rows a slice holds now? */
bool
fsb_checks_need_rows_now(const FsbChecks *checks)
{
	return checks != NULL && checks->max_row_change >= 0;
}
