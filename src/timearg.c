/*-------------------------------------------------------------------------
 *
 * timearg.c
 *	  Time arguments of a backfill: parsing, defaults, and the slice check.
 *
 * Text bounds take exactly three forms, always in UTC whatever the session's
 * TimeZone: YYYY-MM-DD, YYYY-MM-DDTHH:MI:SS and YYYY-MM-DD HH:MI:SS.  A
 * date-only stop covers that whole day.  The interval is half-open.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/timearg.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_row_in_slice);

#define FSB_TIME_FORMS "YYYY-MM-DD, YYYY-MM-DDTHH:MI:SS and YYYY-MM-DD HH:MI:SS"

/* Reads "len" decimal digits at s; false if any is not a digit. */
static bool
read_digits(const char *s, int len, int *value)
{
	int			v = 0;

	for (int i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*value = v;
	return true;
}

static void
report_bad_time(const char *text, const char *argname, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
			 errmsg("invalid value for %s: \"%s\"", argname, text),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("Accepted forms are " FSB_TIME_FORMS ", all in UTC.")));
}

/*
 * Parses a text bound.  A date-only stop moves to the end of that day.
 */
TimestampTz
fsb_time_from_text(const char *text, const char *argname, bool is_stop)
{
	size_t		len = strlen(text);
	struct pg_tm tm;
	TimestampTz result;
	int			julian;

	memset(&tm, 0, sizeof(tm));
	if (len != 10 && len != 19)
		report_bad_time(text, argname, NULL);
	if (!read_digits(text, 4, &tm.tm_year) || text[4] != '-' ||
		!read_digits(text + 5, 2, &tm.tm_mon) || text[7] != '-' ||
		!read_digits(text + 8, 2, &tm.tm_mday))
		report_bad_time(text, argname, NULL);
	if (len == 19 &&
		((text[10] != 'T' && text[10] != ' ') ||
		 !read_digits(text + 11, 2, &tm.tm_hour) || text[13] != ':' ||
		 !read_digits(text + 14, 2, &tm.tm_min) || text[16] != ':' ||
		 !read_digits(text + 17, 2, &tm.tm_sec)))
		report_bad_time(text, argname, NULL);

	/* The date must exist: a round trip through the Julian day shows it. */
	if (tm.tm_year < 1 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1)
		report_bad_time(text, argname, "This date does not exist.");
	julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	{
		int			y,
					m,
					d;

		j2date(julian, &y, &m, &d);
		if (y != tm.tm_year || m != tm.tm_mon || d != tm.tm_mday)
			report_bad_time(text, argname, "This date does not exist.");
	}
	if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		report_bad_time(text, argname, "This time of day does not exist.");

	if (tm2timestamp(&tm, 0, NULL, &result) != 0)
		report_bad_time(text, argname, "This date is out of range.");
	if (is_stop && len == 10)
		result += USECS_PER_DAY;
	return result;
}

/*
 * Reads the text bounds at arguments start_arg and start_arg + 1; a NULL
 * one is DT_NOBEGIN, "not given".
 */
void
fsb_time_args(FunctionCallInfo fcinfo, int start_arg, TimestampTz *start,
			  TimestampTz *stop)
{
	*start = PG_ARGISNULL(start_arg) ? DT_NOBEGIN :
		fsb_time_from_text(text_to_cstring(PG_GETARG_TEXT_PP(start_arg)),
						   "start_time", false);
	*stop = PG_ARGISNULL(start_arg + 1) ? DT_NOBEGIN :
		fsb_time_from_text(text_to_cstring(PG_GETARG_TEXT_PP(start_arg + 1)),
						   "stop_time", true);
}

/*
 * Rejects infinite bounds given as timestamptz.
 */
void
fsb_check_finite(TimestampTz t, const char *argname)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", argname),
				 errhint("Give an exact instant.")));
}

/*
 * Formats an instant as "YYYY-MM-DD HH:MI:SS+00", whatever the session's
 * TimeZone and DateStyle, for messages and for bounds in generated DDL.
 */
char *
fsb_format_time(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_IS_NOBEGIN(t))
		return pstrdup("-infinity");
	if (TIMESTAMP_IS_NOEND(t))
		return pstrdup("infinity");
	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	if (fsec != 0)
		return psprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
						tm.tm_year, tm.tm_mon, tm.tm_mday,
						tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d+00",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * The SQL condition for start <= column < stop, with $1 and $2 for the
 * bounds; an infinite stop leaves the upper side open, so that a row at
 * 'infinity' counts as inside.
 */
char *
fsb_time_range_sql(const char *column, TimestampTz stop)
{
	const char *col = quote_identifier(column);

	if (TIMESTAMP_IS_NOEND(stop))
		return psprintf("%s >= $1", col);
	return psprintf("%s >= $1 AND %s < $2", col, col);
}

/*
 * Fills in default bounds and rejects an empty or reversed interval.
 *
 * *start or *stop of DT_NOBEGIN means "not given".  A stop after now (the
 * transaction's start, as now() in SQL) is rounded down to now.
 */
void
fsb_resolve_interval(const FsbFeatureSet *fs, TimestampTz *start,
					 TimestampTz *stop)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (TIMESTAMP_IS_NOBEGIN(*start))
		*start = fs->backfill_start;
	if (TIMESTAMP_IS_NOBEGIN(*stop))
		*stop = now;
	else if (*stop > now)
	{
		ereport(NOTICE,
				(errmsg("stop time %s is in the future; backfilling up to now, %s",
						fsb_format_time(*stop), fsb_format_time(now))));
		*stop = now;
	}

	if (*start >= *stop)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("interval to backfill for feature set \"%s\" is empty",
						fs->name),
				 errdetail("Start %s is not before stop %s.",
						   fsb_format_time(*start), fsb_format_time(*stop)),
				 errhint("The interval is [start, stop): give a start before the stop.")));
}

/*
 * Raises check_violation unless a source row's feature time lies inside its
 * slice [slice_start, slice_stop).
 */
void
fsb_check_row_time(TimestampTz t, bool isnull, TimestampTz slice_start,
				   TimestampTz slice_stop, const char *feature_set)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("source of feature set \"%s\" returned a row with a null feature time",
						feature_set),
				 errdetail("The slice being replaced is [%s, %s).",
						   fsb_format_time(slice_start),
						   fsb_format_time(slice_stop))));
	if (t < slice_start || t >= slice_stop)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("source of feature set \"%s\" returned a row outside its slice",
						feature_set),
				 errdetail("Feature time %s is outside the slice [%s, %s).",
						   fsb_format_time(t), fsb_format_time(slice_start),
						   fsb_format_time(slice_stop)),
				 errhint("Filter the source on its parameters: $1 <= time AND time < $2.")));
}

/*
 * fs_backfill._row_in_slice(feature_time, slice_start, slice_stop, feature_set)
 *
 * The guard the delete_insert strategy puts on its INSERT ... SELECT.
 */
Datum
fs_backfill_row_in_slice(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		elog(ERROR, "slice bounds must not be null");

	fsb_check_row_time(PG_ARGISNULL(0) ? 0 : PG_GETARG_TIMESTAMPTZ(0),
					   PG_ARGISNULL(0),
					   PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2),
					   text_to_cstring(PG_GETARG_TEXT_PP(3)));
	PG_RETURN_BOOL(true);
}
