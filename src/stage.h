/*-------------------------------------------------------------------------
 *
 * stage.h
 *	  What the files of staged runs (SPEC section 8) share.
 *
 * A staged run is recorded by fs_backfill_stage() (stage.c) in the caller's
 * transaction: a row in fs_backfill.runs with status 'staging', one in
 * fs_backfill.staged_runs with what its workers need, and one per slice in
 * fs_backfill.run_slices (catalog_stage.c holds every statement on them).
 * When that transaction commits, a coordinator background worker starts for
 * the run (stage_worker.c); it starts slice builders, at most the run's
 * "parallel" at once and fs_backfill.max_stage_workers in the cluster
 * (stage_shmem.c), each building one slice in a transaction of its own
 * (stage_build.c), and publishes the run (publish.c) once every slice is
 * staged.  Cancel, resume and wait are in stage_control.c.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FSB_STAGE_H
#define FSB_STAGE_H

#include "utils/guc.h"

#include "fs_backfill.h"

/* A staged run, as fs_backfill.runs and fs_backfill.staged_runs hold it. */
typedef struct FsbStagedRun
{
	int64		run_id;
	char	   *feature_set;
	TimestampTz start;
	TimestampTz stop;
	bool		reset;
	char	   *source;
	char	   *resource_profile;
	char	   *comment;
	char	   *status;
	TimestampTz started_at;
	Oid			run_by;			/* the role its workers run as */
	int			parallel;
	int			retries;
	bool		manual;			/* publish => 'manual' */
	bool		allow_empty;
	Jsonb	   *checks;
	Jsonb	   *settings;		/* the stager's search_path, TimeZone... */
} FsbStagedRun;

/* One slice of a staged run, as fs_backfill.run_slices holds it. */
typedef struct FsbSlice
{
	int			slice;			/* 1-based */
	Oid			partition;
	TimestampTz slice_start;
	TimestampTz slice_stop;
	FsbStrategy strategy;		/* how publish replaces it */
	char		status[16];
	int			attempts;		/* since staged or resumed */
	int			builds;			/* ever */
	int64		rows_before;
	int64		rows;
	Oid			staged;			/* the staged relation, or InvalidOid */
	char	   *mark;			/* stage_mark.c's mark, or NULL */
} FsbSlice;

/* A run's id and the role its workers run as. */
typedef struct FsbRunRef
{
	int64		run_id;
	Oid			run_by;
} FsbRunRef;

/* Statuses a run can be in while it still holds or builds slices. */
#define FSB_RUN_ACTIVE(status) \
	(strcmp((status), "staging") == 0 || strcmp((status), "staged") == 0 || \
	 strcmp((status), "publishing") == 0 || strcmp((status), "failed") == 0)

/* catalog_stage.c */
extern void fsb_catalog_stage_run(const FsbRun *run, const FsbStagedRun *sr);
extern FsbStagedRun *fsb_catalog_staged_run(int64 run_id, bool for_update);
extern FsbSlice *fsb_catalog_slices(int64 run_id, int *nslices);
extern bool fsb_catalog_run_status(int64 run_id, const char *from,
								   const char *to, const char *error);
extern int	fsb_catalog_slice_begin(int64 run_id, int slice);
extern bool fsb_catalog_slice_staged(int64 run_id, const FsbSlice *slice,
									 int build);
extern void fsb_catalog_slice_failed(int64 run_id, int slice, int build,
									 const char *error, bool transient);
extern void fsb_catalog_slice_reset(int64 run_id, int slice, bool keep_attempts);
extern void fsb_catalog_slices_cancel(int64 run_id);
extern void fsb_catalog_slices_published(int64 run_id);
extern char *fsb_catalog_run_status_now(int64 run_id, bool *manual);
extern List *fsb_catalog_runs_to_resume(void);
extern List *fsb_catalog_active_runs(const char *feature_set);
extern int64 fsb_catalog_overlapping_run(const char *feature_set,
										 TimestampTz start, TimestampTz stop,
										 bool reset, char **status);

/* stage.c */
extern void fsb_stage_drop_staged(int64 run_id, const FsbSlice *slice);
extern bool fsb_stage_restage_written(int64 run_id);

/* stage_shmem.c */
extern bool fsb_stage_workers_available(void);
extern bool fsb_stage_coordinator_attach(int64 run_id);
extern int	fsb_stage_builder_reserve(int64 run_id, int slice, uint32 *generation);
extern void fsb_stage_builder_attach(int slot, uint32 generation);
extern void fsb_stage_builder_release(int slot, uint32 generation);
extern void fsb_stage_signal_run(Oid dbid, int64 run_id);
extern bool fsb_stage_run_has_coordinator(Oid dbid, int64 run_id);
extern bool fsb_stage_builder_alive(int64 run_id, int slice);

/* stage_worker.c */
extern bool fsb_stage_start_coordinator(Oid dbid, Oid role, int64 run_id);
extern void fsb_stage_launch_at_commit(int64 run_id, Oid role);
extern bool fsb_stage_launch_pending(int64 run_id);
extern void fsb_stage_signal_at_commit(int64 run_id);

/* stage_build.c */
extern void fsb_stage_build_slice(const FsbStagedRun *sr, int slice_no,
								  int build);
extern char *fsb_stage_layout(Relation part);
extern Jsonb *fsb_stage_capture_settings(void);
extern void fsb_stage_grant_select(Oid relid, Oid role);
extern void fsb_stage_apply_settings(const FsbStagedRun *sr, GucAction action);

/* publish.c */
extern void fsb_publish_run(int64 run_id, bool from_worker);

/* stage_mark.c (a helper's) */
extern char *fsb_stage_mark(Relation part);
extern bool fsb_stage_mark_written(Relation part, const char *mark);

#endif							/* FSB_STAGE_H */
