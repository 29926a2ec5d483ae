/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  The target's checks, the slices an interval cuts, and missing
 *	  partitions.
 *
 * The bounds of existing partitions come from bounds.c, as datums, never
 * from text printed for users.  A plain table is one partition from
 * -infinity to +infinity.
 *
 * Missing partitions are created as the owner of the target (who registered
 * it) with CREATE TABLE ... LIKE and ATTACH PARTITION, which takes only
 * SHARE UPDATE EXCLUSIVE on the parent: readers and writers of the other
 * partitions go on.  Their bounds are aligned to partition_interval in UTC,
 * from Monday 2000-01-03 for day and time intervals and from January 2000 for
 * month intervals, and clipped to the gap between existing partitions.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/partition.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_partitions);

/* Monday 2000-01-03 00:00 UTC, as a TimestampTz. */
#define FSB_ALIGN_ORIGIN (2 * USECS_PER_DAY)

/*
 * Checks that a table can be a feature set's target: a plain table, or one
 * partitioned by RANGE on exactly the time column, with no default
 * partition; the time column must be timestamptz.
 */
void
fsb_check_target(Relation target, const char *time_column,
				 AttrNumber *time_attnum)
{
	const char *relname = RelationGetRelationName(target);
	AttrNumber	attnum = get_attnum(RelationGetRelid(target), time_column);
	char		relkind = target->rd_rel->relkind;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errhint("The target of a feature set is a table partitioned by range on its time column, or a plain table.")));
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						time_column, relname)));
	if (TupleDescAttr(RelationGetDescr(target), attnum - 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("time column \"%s\" of table \"%s\" is not of type timestamp with time zone",
						time_column, relname)));

	if (relkind == RELKIND_PARTITIONED_TABLE)
	{
		PartitionKey key = RelationGetPartitionKey(target);

		if (key->strategy != PARTITION_STRATEGY_RANGE ||
			key->partnatts != 1 || key->partattrs[0] != attnum)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" is not partitioned by range on column \"%s\"",
							relname, time_column),
					 errhint("Partition it with PARTITION BY RANGE (%s).",
							 quote_identifier(time_column))));
		/* pg_partitioned_table.partdefid: no partition descriptor built */
		if (OidIsValid(get_default_partition_oid(RelationGetRelid(target))))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" has a default partition", relname),
					 errhint("Detach the default partition: fs_backfill creates the partitions it needs.")));
	}
	if (time_attnum)
		*time_attnum = attnum;
}

/*
 * A partition interval is either whole months (at most 100 years) or days
 * and time (from one second to 36,525 days), not both.
 */
void
fsb_check_partition_interval(const Interval *interval)
{
	bool		months = interval->month != 0;
	bool		rest = interval->day != 0 || interval->time != 0;
	bool		ok;

	if (months)
		ok = !rest && interval->month > 0 && interval->month <= 1200;
	else
		ok = interval->day >= 0 && interval->time >= 0 &&
			interval->day <= 36525 && interval->time <= 36525 * USECS_PER_DAY &&
			interval->day * USECS_PER_DAY + interval->time >= USECS_PER_SEC;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition interval must be whole months or days and time, from one second to 100 years"),
				 errhint("Use an interval such as '1 day', '1 hour' or '1 month'.")));
}

/* Division rounding towards minus infinity. */
static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Lower and upper bound of the aligned bucket of "interval" holding t. */
void
fsb_partition_align(const Interval *interval, TimestampTz t, TimestampTz *lo,
					TimestampTz *hi)
{
	if (interval->month == 0)
	{
		int64		step = interval->time + interval->day * USECS_PER_DAY;

		*lo = FSB_ALIGN_ORIGIN + floor_div(t - FSB_ALIGN_ORIGIN, step) * step;
		*hi = *lo + step;
	}
	else
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			months;
		int			first;

		if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
			elog(ERROR, "timestamp out of range");
		months = (tm.tm_year - 2000) * MONTHS_PER_YEAR + tm.tm_mon - 1;
		first = floor_div(months, interval->month) * interval->month;
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = 1;
		tm.tm_year = 2000 + floor_div(first, MONTHS_PER_YEAR);
		tm.tm_mon = first - (tm.tm_year - 2000) * MONTHS_PER_YEAR + 1;
		if (tm2timestamp(&tm, 0, NULL, lo) != 0)
			elog(ERROR, "timestamp out of range");
		first += interval->month;
		tm.tm_year = 2000 + floor_div(first, MONTHS_PER_YEAR);
		tm.tm_mon = first - (tm.tm_year - 2000) * MONTHS_PER_YEAR + 1;
		if (tm2timestamp(&tm, 0, NULL, hi) != 0)
			elog(ERROR, "timestamp out of range");
	}
}

/*
 * Cuts [start, stop) into one slice per partition it overlaps, in ascending
 * order, planning a new partition for every gap.  Strategies are left unset.
 */
FsbStep *
fsb_partition_slices(Relation target, const Interval *interval,
					 TimestampTz start, TimestampTz stop, int *nslices)
{
	int			nranges;
	FsbRange   *ranges = fsb_bounds_load(target, &nranges);
	int			capacity = 16;
	FsbStep    *steps = palloc0(sizeof(FsbStep) * capacity);
	int			n = 0;
	int			r = 0;
	TimestampTz cursor = start;

	while (cursor < stop)
	{
		FsbStep    *step;

		CHECK_FOR_INTERRUPTS();
		while (r < nranges && ranges[r].upper <= cursor)
			r++;
		if (n == capacity)
		{
			capacity *= 2;
			steps = repalloc(steps, sizeof(FsbStep) * capacity);
		}
		step = &steps[n++];
		memset(step, 0, sizeof(FsbStep));
		step->rows_now = -1;

		if (r < nranges && ranges[r].lower <= cursor)
		{
			step->partition = ranges[r].relid;
			step->range_start = ranges[r].lower;
			step->range_stop = ranges[r].upper;
		}
		else
		{
			TimestampTz gap_lo = r > 0 ? ranges[r - 1].upper : DT_NOBEGIN;
			TimestampTz gap_hi = r < nranges ? ranges[r].lower : DT_NOEND;
			TimestampTz lo,
						hi;

			fsb_partition_align(interval, cursor, &lo, &hi);
			step->partition = InvalidOid;
			step->creates_partition = true;
			step->range_start = Max(lo, gap_lo);
			step->range_stop = Min(hi, gap_hi);
		}
		step->slice_start = cursor;
		step->slice_stop = Min(stop, step->range_stop);
		cursor = step->slice_stop;
	}
	*nslices = n;
	return steps;
}

/*
 * For reset: one step for each part of an existing partition that lies
 * outside [start, stop), whose rows are deleted.
 */
FsbStep *
fsb_partition_outside(Relation target, TimestampTz start, TimestampTz stop,
					  int *nsteps)
{
	int			nranges;
	FsbRange   *ranges = fsb_bounds_load(target, &nranges);
	FsbStep    *steps = palloc0(sizeof(FsbStep) * Max(2 * nranges, 1));
	int			n = 0;

	for (int r = 0; r < nranges; r++)
	{
		TimestampTz parts[2][2] = {
			{ranges[r].lower, Min(ranges[r].upper, start)},
			{Max(ranges[r].lower, stop), ranges[r].upper}
		};

		for (int p = 0; p < 2; p++)
		{
			FsbStep    *step;

			if (parts[p][0] >= parts[p][1])
				continue;
			step = &steps[n++];
			step->partition = ranges[r].relid;
			step->range_start = ranges[r].lower;
			step->range_stop = ranges[r].upper;
			step->slice_start = parts[p][0];
			step->slice_stop = parts[p][1];
			step->strategy = FSB_STRATEGY_DELETE;
			step->rows_now = -1;
		}
	}
	*nsteps = n;
	return steps;
}

/* A free name for a new partition: <parent>_pYYYYMMDD[_HHMI][_N]. */
static char *
partition_name(Relation target, TimestampTz range_start)
{
	const char *parent = RelationGetRelationName(target);
	Oid			nsp = RelationGetNamespace(target);
	struct pg_tm tm;
	fsec_t		fsec;
	char		suffix[32];

	if (timestamp2tm(range_start, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	if (tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0 && fsec == 0)
		snprintf(suffix, sizeof(suffix), "_p%04d%02d%02d",
				 tm.tm_year, tm.tm_mon, tm.tm_mday);
	else
		snprintf(suffix, sizeof(suffix), "_p%04d%02d%02d_%02d%02d%02d",
				 tm.tm_year, tm.tm_mon, tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec);

	for (int attempt = 0;; attempt++)
	{
		char		tail[48];
		int			keep;
		char	   *name;

		if (attempt == 0)
			snprintf(tail, sizeof(tail), "%s", suffix);
		else
			snprintf(tail, sizeof(tail), "%s_%d", suffix, attempt);
		keep = pg_mbcliplen(parent, strlen(parent),
							NAMEDATALEN - 1 - strlen(tail));
		name = psprintf("%.*s%s", keep, parent, tail);
		if (!OidIsValid(get_relname_relid(name, nsp)))
			return name;
	}
}

/*
 * Creates and attaches the partition [range_start, range_stop) of target,
 * as the owner of target; returns its OID.  The caller locks target and must
 * not have it open: ATTACH PARTITION refuses a parent in use.
 */
Oid
fsb_partition_create(Oid target_relid, TimestampTz range_start,
					 TimestampTz range_stop)
{
	Relation	target = table_open(target_relid, NoLock);
	char	   *name = partition_name(target, range_start);
	const char *parent = fsb_relation_name(target);
	const char *child = fsb_qualified_name(RelationGetNamespace(target), name);
	Oid			tablespace = target->rd_rel->reltablespace;
	FsbSavedUser saved;
	char	   *sql;
	Oid			relid;
	Oid			owner;
	Oid			nspid;

	sql = psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS"
				   " INCLUDING CONSTRAINTS INCLUDING STORAGE"
				   " INCLUDING GENERATED INCLUDING COMMENTS)%s%s;"
				   " ALTER TABLE %s ATTACH PARTITION %s"
				   " FOR VALUES FROM (%s) TO (%s)",
				   child, parent,
				   OidIsValid(tablespace) ? " TABLESPACE " : "",
				   OidIsValid(tablespace) ?
				   quote_identifier(get_tablespace_name(tablespace)) : "",
				   parent, child,
				   TIMESTAMP_IS_NOBEGIN(range_start) ? "MINVALUE" :
				   quote_literal_cstr(fsb_format_time(range_start)),
				   TIMESTAMP_IS_NOEND(range_stop) ? "MAXVALUE" :
				   quote_literal_cstr(fsb_format_time(range_stop)));

	owner = target->rd_rel->relowner;
	nspid = RelationGetNamespace(target);
	table_close(target, NoLock);

	SPI_connect();
	fsb_become_user(owner, &saved);
	fsb_spi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	fsb_restore_user(&saved);
	SPI_finish();

	relid = get_relname_relid(name, nspid);
	if (!OidIsValid(relid))
		elog(ERROR, "could not find new partition \"%s\"", name);
	return relid;
}

/*
 * fs_backfill._partitions(target regclass)
 *		RETURNS SETOF (partition regclass, range_start, range_stop)
 *
 * Nothing for a table that no longer exists.
 */
Datum
fs_backfill_partitions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	target;
	FsbRange   *ranges;
	int			nranges;

	InitMaterializedSRF(fcinfo, 0);
	/* Lock only what the caller may read: no one blocks DDL by looking. */
	if (pg_class_aclcheck(PG_GETARG_OID(0), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_VOID();
	target = try_relation_open(PG_GETARG_OID(0), AccessShareLock);
	if (target == NULL)
		PG_RETURN_VOID();
	if (target->rd_rel->relkind == RELKIND_RELATION ||
		target->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		ranges = fsb_bounds_load(target, &nranges);
		for (int i = 0; i < nranges; i++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = ObjectIdGetDatum(ranges[i].relid);
			values[1] = TimestampTzGetDatum(ranges[i].lower);
			values[2] = TimestampTzGetDatum(ranges[i].upper);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
	}
	relation_close(target, AccessShareLock);
	PG_RETURN_VOID();
}
