/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  Planning a backfill, and fs_backfill_plan(), its dry run.
 *
 * A plan is the ordered list of slices of [start, stop), one per partition
 * (fsb_partition_slices), each with the strategy that will replace it, plus
 * for a reset one deletion step per part of a partition outside the
 * interval.  Planning changes nothing: partitions it needs are only marked
 * as to be created.  Row counts are estimates from statistics, so that a
 * plan answers at once on any size of table; a run records exact counts.
 *
 * Strategy choice.  swap rebuilds a whole partition beside the old one and
 * exchanges the storage (see swap.c); it bypasses the executor's INSERT and
 * DELETE, so it is used only where that changes nothing a user relies on:
 * the slice covers the whole partition, the partition is an ordinary table
 * the caller owns, with no row-level security, no triggers (which also
 * rules out foreign keys either way), no rules, no publication, and rows
 * that need no coercion.  "auto" also wants at least fs_backfill.swap_min_rows rows in
 * the partition (or a new partition), where swapping is faster.  Everything
 * else is delete_insert.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_plan);

FsbStrategy
fsb_strategy_from_text(const char *text)
{
	if (strcmp(text, "auto") == 0)
		return FSB_STRATEGY_AUTO;
	if (strcmp(text, "swap") == 0)
		return FSB_STRATEGY_SWAP;
	if (strcmp(text, "delete_insert") == 0)
		return FSB_STRATEGY_DELETE_INSERT;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized backfill strategy \"%s\"", text),
			 errhint("Use auto, swap or delete_insert.")));
	return FSB_STRATEGY_AUTO;	/* keep compiler quiet */
}

/*
 * Counts the rows of target with start <= time < stop, as the caller sees
 * them (privileges and row-level security apply).
 */
int64
fsb_count_rows(Relation target, const char *time_column, TimestampTz start,
			   TimestampTz stop)
{
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];

	values[0] = TimestampTzGetDatum(start);
	values[1] = TimestampTzGetDatum(stop);
	return fsb_spi_count(psprintf("SELECT count(*) FROM %s WHERE %s",
								  fsb_relation_name(target),
								  fsb_time_range_sql(time_column, stop)),
						 2, types, values);
}

/*
 * Estimates the rows of a step without reading them: none in an empty
 * partition; else the partition's density from its statistics times its
 * current size, times the share of its time range the slice covers.  A
 * partition never analyzed, or a plain table's partial slice, is counted.
 */
static int64
estimate_rows(Relation target, const char *time_column, const FsbStep *step)
{
	Relation	part = table_open(step->partition, AccessShareLock);
	BlockNumber pages = part->rd_rel->relkind == RELKIND_RELATION ?
		RelationGetNumberOfBlocks(part) : InvalidBlockNumber;
	float4		reltuples = part->rd_rel->reltuples;
	BlockNumber relpages = part->rd_rel->relpages;
	bool		finite = !TIMESTAMP_NOT_FINITE(step->range_start) &&
		!TIMESTAMP_NOT_FINITE(step->range_stop);
	bool		whole = step->slice_start == step->range_start &&
		step->slice_stop == step->range_stop;
	double		rows;

	table_close(part, NoLock);
	if (pages == 0)
		return 0;
	if (pages == InvalidBlockNumber || reltuples < 0 || relpages == 0 ||
		(!whole && !finite))
		return fsb_count_rows(target, time_column, step->slice_start,
							  step->slice_stop);
	rows = reltuples / relpages * pages;
	if (!whole)
		rows *= (double) (step->slice_stop - step->slice_start) /
			(double) (step->range_stop - step->range_start);
	return (int64) (rows + 0.5);
}

static bool
is_published(Oid relid)
{
	return GetRelationPublications(relid) != NIL ||
		GetSchemaPublications(get_rel_namespace(relid)) != NIL;
}

/* The target, or a table it is a partition of, is published. */
static bool
target_is_published(Relation target)
{
	ListCell   *lc;

	if (GetAllTablesPublications() != NIL ||
		is_published(RelationGetRelid(target)))
		return true;
	foreach(lc, get_partition_ancestors(RelationGetRelid(target)))
		if (is_published(lfirst_oid(lc)))
			return true;
	return false;
}

/*
 * Why swap cannot replace this slice, or NULL when it can.
 */
static const char *
swap_refusal(Relation target, const FsbStep *step, const FsbSource *src)
{
	Relation	part;
	const char *refusal = NULL;

	if (target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return "the target is not partitioned";
	if (step->slice_start != step->range_start ||
		step->slice_stop != step->range_stop)
		return "the slice covers only part of the partition";
	if (!src->fits_heap)
		return "the rows need coercion, generated columns or domain checks that only INSERT does";
	if (target->rd_rel->relrowsecurity)
		return "the table has row-level security";
	if (target->rd_rules != NULL)
		return "the table has rules";
	if (target_is_published(target))
		return "the table is published for logical replication";

	/* A new partition will look like its parent, owned by the same role. */
	part = OidIsValid(step->partition) ?
		table_open(step->partition, AccessShareLock) : target;
	if (part->rd_rel->relkind != RELKIND_RELATION &&
		part->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		refusal = "the partition is not an ordinary table";
	else if (part != target && part->rd_rel->relkind != RELKIND_RELATION)
		refusal = "the partition is itself partitioned";
	else if (!pg_class_ownercheck(RelationGetRelid(part), GetUserId()))
		refusal = "the caller does not own the partition";
	else if (part->rd_rel->relrowsecurity)
		refusal = "the partition has row-level security";
	else if (part->trigdesc != NULL || target->trigdesc != NULL)
		refusal = "the table has triggers or foreign keys";
	else if (part->rd_rules != NULL)
		refusal = "the partition has rules";
	else if (part != target && is_published(RelationGetRelid(part)))
		refusal = "the partition is published for logical replication";
	if (part != target)
		table_close(part, NoLock);
	return refusal;
}

/*
 * Opens a feature set's target and checks it is still fit to be one.
 */
Relation
fsb_open_target(const FsbFeatureSet *fs, LOCKMODE lockmode)
{
	Relation	target = try_relation_open(fs->target, lockmode);

	if (target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table of feature set \"%s\" does not exist",
						fs->name),
				 errhint("Drop the feature set with fs_drop_feature_set() and register it again.")));
	fsb_check_target(target, fs->time_column, NULL);
	return target;
}

static int
compare_steps(const void *a, const void *b)
{
	const FsbStep *x = a;
	const FsbStep *y = b;

	if (x->slice_start != y->slice_start)
		return x->slice_start < y->slice_start ? -1 : 1;
	return (int) x->strategy - (int) y->strategy;
}

/*
 * Plans a backfill of [start, stop); counts the rows each step replaces.
 * The caller holds a lock on target.  Result in the current memory context.
 */
FsbPlan *
fsb_plan_build(FsbFeatureSet *fs, Relation target, const FsbSource *src,
			   TimestampTz start, TimestampTz stop, bool reset,
			   FsbStrategy requested)
{
	FsbPlan    *plan = palloc0(sizeof(FsbPlan));
	int			nslices;
	FsbStep    *slices;

	plan->fs = fs;
	plan->start = start;
	plan->stop = stop;
	plan->reset = reset;
	slices = fsb_partition_slices(target, &fs->partition_interval, start, stop,
								  &nslices);

	for (int i = 0; i < nslices; i++)
	{
		FsbStep    *step = &slices[i];

		CHECK_FOR_INTERRUPTS();
		step->rows_now = step->creates_partition ? 0 :
			estimate_rows(target, fs->time_column, step);
		step->strategy = FSB_STRATEGY_DELETE_INSERT;
		if (requested == FSB_STRATEGY_DELETE_INSERT)
			continue;
		step->swap_refusal = swap_refusal(target, step, src);
		if (step->swap_refusal == NULL && requested == FSB_STRATEGY_AUTO &&
			!step->creates_partition && step->rows_now < fsb_swap_min_rows)
			step->swap_refusal = "the partition has fewer rows than fs_backfill.swap_min_rows";
		if (step->swap_refusal == NULL)
			step->strategy = FSB_STRATEGY_SWAP;
	}

	if (reset)
	{
		int			nouter;
		FsbStep    *outer = fsb_partition_outside(target, start, stop, &nouter);

		slices = repalloc(slices, sizeof(FsbStep) * (nslices + nouter + 1));
		for (int i = 0; i < nouter; i++)
		{
			outer[i].rows_now = estimate_rows(target, fs->time_column,
											  &outer[i]);
			slices[nslices++] = outer[i];
		}
		qsort(slices, nslices, sizeof(FsbStep), compare_steps);
	}
	plan->steps = slices;
	plan->nsteps = nslices;
	return plan;
}

/*
 * fs_backfill_plan(feature_set, start_time, stop_time, reset)
 *
 * What fs_backfill would do with strategy auto; changes nothing.  Needs
 * what running the feature set needs (privilege.c), checked first.
 */
Datum
fs_backfill_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FsbFeatureSet *fs;
	Relation	target;
	FsbSource  *src;
	FsbPlan    *plan;
	TimestampTz start;
	TimestampTz stop;

	fsb_require_arg(fcinfo, 0, "feature_set");
	fsb_require_arg(fcinfo, 3, "reset");

	InitMaterializedSRF(fcinfo, 0);
	fs = fsb_catalog_load(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	fsb_time_args(fcinfo, 1, &start, &stop);
	fsb_resolve_interval(fs, &start, &stop);

	/* before any lock: a role refused here holds nothing */
	fsb_privilege_check_use(fs);
	target = fsb_open_target(fs, AccessShareLock);
	src = fsb_source_analyze(fs->source, target, fs->entity_columns,
							 fs->time_column, fs->name);
	plan = fsb_plan_build(fs, target, src, start, stop, PG_GETARG_BOOL(3),
						  FSB_STRATEGY_AUTO);

	for (int i = 0; i < plan->nsteps; i++)
	{
		FsbStep    *step = &plan->steps[i];
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = ObjectIdGetDatum(step->partition);
		nulls[0] = !OidIsValid(step->partition);
		values[1] = TimestampTzGetDatum(step->slice_start);
		values[2] = TimestampTzGetDatum(step->slice_stop);
		values[3] = CStringGetTextDatum(fsb_strategy_name(step->strategy));
		values[4] = Int64GetDatum(step->rows_now);
		values[5] = BoolGetDatum(step->creates_partition);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	table_close(target, NoLock);
	PG_RETURN_VOID();
}
