/*-------------------------------------------------------------------------
 *
 * fs_backfill.h
 *	  Types and prototypes shared by the fs_backfill source files.
 *
 * A backfill is planned as an ordered array of steps (FsbStep), one per
 * partition slice of the requested interval, then executed step by step in
 * the caller's transaction.  Nothing here is kept across transactions.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/fs_backfill.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FS_BACKFILL_H
#define FS_BACKFILL_H

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "tcop/dest.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

/* Schema of the extension's tables, views and private helpers. */
#define FSB_SCHEMA "fs_backfill"

/* search_path for every statement the extension itself runs. */
#define FSB_PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/* Lock tag field that tells our advisory locks apart from users' ones. */
#define FSB_ADVISORY_LOCK_FIELD4 0x4653

/* A registered feature set, as read from fs_backfill.feature_sets. */
typedef struct FsbFeatureSet
{
	char	   *name;
	Oid			target;
	List	   *entity_columns; /* list of C strings */
	char	   *time_column;
	char	   *source;
	TimestampTz backfill_start;
	Interval	partition_interval;
	char	   *resource_profile;
	Oid			created_by;
	bool		online;
	Interval   *online_ttl;		/* NULL: no expiry */
	Jsonb	   *checks;			/* validated at registration */
	Interval	catchup_delay;
	int32		reprocess_partitions;
} FsbFeatureSet;

/*
 * What parse analysis of a source query found: its exact statement text and,
 * per output column, where it goes in the target.
 */
typedef struct FsbSource
{
	char	   *text;			/* the single statement, without ';' */
	int			natts;			/* output columns */
	AttrNumber *target_attnum;	/* per output column, attnum in target */
	int			time_index;		/* output column holding the feature time */
	bool		fits_heap;		/* rows can be written without coercion */
} FsbSource;

typedef enum FsbStrategy
{
	FSB_STRATEGY_AUTO,
	FSB_STRATEGY_SWAP,
	FSB_STRATEGY_DELETE_INSERT,
	FSB_STRATEGY_DELETE			/* reset: rows outside the interval go */
} FsbStrategy;

/* A strategy's name, as plans and run records show it. */
static inline const char *
fsb_strategy_name(FsbStrategy strategy)
{
	switch (strategy)
	{
		case FSB_STRATEGY_AUTO:
			return "auto";
		case FSB_STRATEGY_SWAP:
			return "swap";
		case FSB_STRATEGY_DELETE_INSERT:
			return "delete_insert";
		case FSB_STRATEGY_DELETE:
			return "delete";
	}
	return "?";
}

/* One partition slice of a backfill. */
typedef struct FsbStep
{
	Oid			partition;		/* InvalidOid until created */
	TimestampTz range_start;	/* the partition's bounds (infinite for a */
	TimestampTz range_stop;		/* plain table) */
	TimestampTz slice_start;	/* the part of it this step replaces */
	TimestampTz slice_stop;
	bool		creates_partition;
	FsbStrategy strategy;
	const char *swap_refusal;	/* why swap cannot be used, or NULL */
	int64		rows_now;		/* the planner's estimate of its rows now */
} FsbStep;

typedef struct FsbPlan
{
	FsbFeatureSet *fs;
	TimestampTz start;
	TimestampTz stop;
	bool		reset;
	int			nsteps;
	FsbStep    *steps;			/* slices, ascending; then reset deletions */
} FsbPlan;

/* guc.c */
extern int	fsb_swap_lock_timeout;
extern int	fsb_swap_min_rows;
extern char *fsb_database;
extern char *fsb_worker_role;
extern char *fsb_redis_url;
extern char *fsb_redis_password_file;
extern int	fsb_redis_timeout;
extern int	fsb_online_batch_size;
extern int	fsb_online_naptime;
extern int	fsb_max_stage_workers;
extern void fsb_guc_init(void);

/* shmem.c */
extern void fsb_shmem_init(void);
extern void fsb_wake_worker_at_commit(void);
extern void fsb_worker_attach(void);
extern void fsb_worker_report(int64 pushed, bool batch, const char *error);
extern void fsb_worker_set_redis_state(const char *state);

/* worker.c */
extern void fsb_worker_register(void);

/* stage_shmem.c and stage_worker.c: what the rest needs of staged runs */
extern Size fsb_stage_shmem_size(void);
extern void fsb_stage_shmem_init(void);
extern void fsb_stage_launcher_register(void);
extern void fsb_stage_forget_runs(const char *feature_set);

/* queue.c */
extern void fsb_queue_touched(Relation target, const FsbFeatureSet *fs,
							  TimestampTz start, TimestampTz stop,
							  bool everything, List *new_heaps);
extern int64 fsb_queue_seal(const FsbFeatureSet *fs, int64 run_id);
extern int64 fsb_queue_everything(const FsbFeatureSet *fs);
extern char *fsb_redis_ts(TimestampTz t);

/* guard.c */
typedef struct FsbSavedUser
{
	Oid			userid;
	int			sec_context;
	int			guc_nest;
} FsbSavedUser;
extern int	fsb_pin_search_path(void);
extern void fsb_unpin_search_path(int nest);
extern void fsb_become_user(Oid role, FsbSavedUser *saved);
extern void fsb_restore_user(FsbSavedUser *saved);
extern void fsb_owner_spi_begin(FsbSavedUser *saved);
extern void fsb_owner_spi_end(FsbSavedUser *saved);
extern Oid	fsb_extension_owner(void);
extern void fsb_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
						 const char *nulls, int expected);
extern int64 fsb_spi_count(const char *sql, int nargs, Oid *types,
						   Datum *values);
extern char *fsb_qualified_name(Oid namespace, const char *relname);
extern char *fsb_relation_name(Relation rel);
extern void fsb_require_arg(FunctionCallInfo fcinfo, int argno,
							const char *argname);

/* privilege.c */
extern void fsb_privilege_check_use(const FsbFeatureSet *fs);

/* timearg.c */
extern TimestampTz fsb_time_from_text(const char *text, const char *argname,
									  bool is_stop);
extern void fsb_time_args(FunctionCallInfo fcinfo, int start_arg,
						  TimestampTz *start, TimestampTz *stop);
extern void fsb_check_finite(TimestampTz t, const char *argname);
extern void fsb_resolve_interval(const FsbFeatureSet *fs, TimestampTz *start,
								 TimestampTz *stop);
extern char *fsb_format_time(TimestampTz t);
extern char *fsb_time_range_sql(const char *column,
								TimestampTz stop);
extern void fsb_check_row_time(TimestampTz t, bool isnull,
							   TimestampTz slice_start, TimestampTz slice_stop,
							   const char *feature_set);

/* catalog_queue.c: the statements on fs_backfill.online_queue */
typedef struct FsbQueueEntry
{
	int64		id;
	char	   *feature_set;
	Datum		entity;			/* text[] */
	char	   *guard;
	TransactionId queued_by;	/* the transaction that queued it */
} FsbQueueEntry;

extern int64 fsb_catalog_queue_insert(const char *feature_set,
									  const char *guard, int64 run_marker,
									  int nkeys, const Datum *keys);
extern int64 fsb_catalog_queue_seal(const char *feature_set, int64 run_id);
extern int	fsb_catalog_queue_claim(int limit, int64 after, Datum skipped,
									FsbQueueEntry *entries);
extern bool fsb_catalog_queue_truncate_empty(void);

/* catalog.c */
typedef struct FsbStepResult
{
	FsbStrategy strategy;		/* what was done: swap may fall back */
	int64		rows_before;
	int64		rows_after;
	double		seconds;
} FsbStepResult;

typedef struct FsbRunInfo
{
	int64		run_id;			/* from fsb_catalog_next_run_id() */
	const char *source;
	const char *resource_profile;
	const char *comment;
	TimestampTz started_at;
	int64		online_entities;	/* queued for the online cache */
	bool		staged;			/* a staged run: its row exists already */
} FsbRunInfo;

extern FsbFeatureSet *fsb_catalog_find(const char *name);
extern FsbFeatureSet *fsb_catalog_load(const char *name);
extern void fsb_catalog_store(const FsbFeatureSet *fs, bool online,
							  Datum online_ttl, bool online_ttl_null,
							  Datum checks, Datum catchup_delay,
							  int32 reprocess_partitions, bool replace);
extern bool fsb_catalog_delete(const char *name);

/* a succeeded run's interval, for catch-up's watermark */
typedef struct FsbRunSpan
{
	TimestampTz start;
	TimestampTz stop;
	bool		reset;
} FsbRunSpan;

extern FsbRunSpan *fsb_catalog_succeeded_runs(const char *feature_set,
											  int *nruns);
extern List *fsb_catalog_online_set_names(void);

/* A feature set's settings, as registered or as altered (unchecked). */
typedef struct FsbSettings
{
	FsbFeatureSet fs;			/* name, target, time column, source, ... */
	struct ArrayType *entities; /* entity_columns, unchecked */
	bool		online;
	Datum		online_ttl;		/* interval, unless online_ttl_null */
	bool		online_ttl_null;
	Jsonb	   *checks;
	Interval   *catchup_delay;
	int32		reprocess_partitions;
} FsbSettings;

extern void fsb_catalog_merge_settings(const FsbFeatureSet *current,
									   Jsonb *settings, FsbSettings *set);
extern void fsb_catalog_apply_profile(const char *profile);
extern int64 fsb_catalog_next_run_id(void);
extern int64 fsb_catalog_record_run(const FsbPlan *plan, const FsbRunInfo *run,
									const FsbStepResult *results);
extern void fsb_catalog_online_pushed(const char *feature_set, int64 pushed);
extern void fsb_catalog_online_error(const char *feature_set, const char *error);

/* execute.c: what a run was asked to do (fs_backfill's arguments) */
typedef struct FsbRunOptions
{
	const char *feature_set;
	bool		reset;
	const char *source;			/* NULL: the feature set's */
	const char *resource_profile;	/* NULL: the feature set's */
	const char *comment;
	FsbStrategy strategy;
	bool		allow_empty;
	Jsonb	   *checks;			/* NULL: the feature set's */
	bool		unlocked;		/* a slice builder: no backfill lock */
} FsbRunOptions;

/*
 * A run on its way through the pipeline both fs_backfill() and a staged
 * run's publish follow: open, plan (or read the staged plan), replace each
 * slice, queue the entities, exchange the swapped partitions, record.
 */
typedef struct FsbChecks FsbChecks;
typedef struct FsbRun
{
	const FsbRunOptions *opts;
	FsbFeatureSet *fs;
	FsbRunInfo	info;
	TimestampTz start;
	TimestampTz stop;
	Relation	target;
	FsbSource  *src;
	FsbChecks  *checks;
	FsbPlan    *plan;
	FsbStepResult *results;		/* per step */
	Oid		   *transients;		/* per step: the new heap of a swap */
} FsbRun;

extern int64 fsb_run_backfill(const FsbRunOptions *opts, TimestampTz start,
							  TimestampTz stop);
extern void fsb_lock_target(const FsbFeatureSet *fs);
extern void fsb_run_open(FsbRun *run, const FsbRunOptions *opts,
						 TimestampTz start, TimestampTz stop);
extern void fsb_run_plan(FsbRun *run);
extern void fsb_run_create_partitions(FsbRun *run);
extern void fsb_run_queue_before(FsbRun *run);
extern void fsb_run_check_not_emptied(const FsbRun *run, const FsbStep *step,
									  int64 before, int64 after);
extern void fsb_run_queue_after(FsbRun *run);
extern void fsb_run_exchange(FsbRun *run);
extern int64 fsb_run_record(FsbRun *run);
extern void fsb_run_close(FsbRun *run);

/* checks.c */
extern FsbChecks *fsb_checks_parse(Jsonb *json, Relation target,
								   const char *feature_set);
extern void fsb_checks_run(const FsbChecks *checks, const FsbStep *step,
						   const FsbSource *src, Relation target,
						   const char *feature_set, List *entity_columns,
						   const char *time_column, int64 rows_now);
extern bool fsb_checks_need_rows_now(const FsbChecks *checks);

/* progress.c */
extern Size fsb_progress_shmem_size(void);
extern void fsb_progress_shmem_init(void);
extern void fsb_progress_begin(const char *feature_set, int64 run_id);
extern void fsb_progress_phase(const char *phase, int total);
extern void fsb_progress_slice_done(int64 rows);
extern void fsb_progress_end(void);

/* source.c */
extern FsbSource *fsb_source_analyze(const char *sql, Relation target,
									 List *entity_columns,
									 const char *time_column,
									 const char *feature_set);
extern char *fsb_source_insert_sql(const FsbSource *src, Relation target,
								   Relation into, const char *time_column);

/* One partition of a target and its bounds, lower inclusive. */
typedef struct FsbRange
{
	Oid			relid;
	TimestampTz lower;
	TimestampTz upper;
} FsbRange;

/* bounds.c */
extern FsbRange *fsb_bounds_load(Relation target, int *nranges);

/* partition.c */
extern void fsb_check_target(Relation target, const char *time_column,
							 AttrNumber *time_attnum);
extern void fsb_check_partition_interval(const Interval *interval);
extern void fsb_partition_align(const Interval *interval, TimestampTz t,
								TimestampTz *lo, TimestampTz *hi);
extern FsbStep *fsb_partition_slices(Relation target, const Interval *interval,
									 TimestampTz start, TimestampTz stop,
									 int *nslices);
extern FsbStep *fsb_partition_outside(Relation target, TimestampTz start,
									  TimestampTz stop, int *nsteps);
extern Oid	fsb_partition_create(Oid target_relid, TimestampTz range_start,
								 TimestampTz range_stop);

/* plan.c */
extern FsbStrategy fsb_strategy_from_text(const char *text);
extern FsbPlan *fsb_plan_build(FsbFeatureSet *fs, Relation target,
							   const FsbSource *src, TimestampTz start,
							   TimestampTz stop, bool reset,
							   FsbStrategy requested);
extern Relation fsb_open_target(const FsbFeatureSet *fs, LOCKMODE lockmode);
extern int64 fsb_count_rows(Relation target, const char *time_column,
							TimestampTz start, TimestampTz stop);

/* slice_dest.c */
extern DestReceiver *fsb_slice_dest_create(Relation target, Relation model,
										   Relation into, const FsbSource *src,
										   TimestampTz slice_start,
										   TimestampTz slice_stop,
										   const char *feature_set);
extern uint64 fsb_slice_dest_rows(DestReceiver *dest);

/* swap.c */
extern Oid	fsb_swap_build(Relation target, const FsbStep *step,
						   const FsbSource *src, const FsbFeatureSet *fs,
						   const char *name, bool with_indexes,
						   int64 *rows_before, int64 *rows_after);
extern void fsb_swap_drop_heap(Oid heap);
extern FsbSource *fsb_swap_heap_source(Relation target,
									   const FsbFeatureSet *fs, Oid heap);
extern void fsb_swap_copy_in(Relation target, const FsbStep *step,
							 const FsbFeatureSet *fs, Oid transient,
							 int64 *deleted, int64 *inserted);
extern void fsb_swap_exchange_all(Relation target, const FsbPlan *plan,
								  const FsbFeatureSet *fs, const Oid *transients,
								  FsbStepResult *results);

/* replace.c */
extern void fsb_replace_delete_insert(Relation target, const FsbStep *step,
									  const FsbSource *src,
									  const FsbFeatureSet *fs,
									  int64 *deleted, int64 *inserted);
extern int64 fsb_replace_outside(Relation target, const FsbStep *step,
								 const char *time_column);

#endif							/* FS_BACKFILL_H */
