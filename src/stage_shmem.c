/*-------------------------------------------------------------------------
 *
 * stage_shmem.c
 *	  The workers of staged runs, as shared memory knows them.
 *
 * One slot per possible background worker (max_worker_processes), in use by
 * a run's coordinator or by one of its slice builders.  The slots are how
 *
 *	- a run gets at most one coordinator, however often it is started (at
 *	  commit of fs_backfill_stage, by fs_backfill_resume, after a restart);
 *	- the cluster builds at most fs_backfill.max_stage_workers slices at
 *	  once: a coordinator reserves a builder's slot before it starts it, the
 *	  builder fills in its pid, and the slot is free again when the builder
 *	  exits (or, if it never started, when its coordinator sees so);
 *	- fs_backfill_cancel finds the processes of a run to stop.
 *
 * A generation number, bumped at every reservation, keeps a coordinator
 * from freeing a slot that was freed and reserved again meanwhile.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage_shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "stage.h"

typedef enum FsbStageSlotKind
{
	FSB_SLOT_FREE,
	FSB_SLOT_COORDINATOR,
	FSB_SLOT_BUILDER
} FsbStageSlotKind;

typedef struct FsbStageSlot
{
	FsbStageSlotKind kind;
	Oid			dbid;
	int64		run_id;
	int			slice;			/* a builder's */
	pid_t		pid;			/* 0 until a reserved builder starts */
	uint32		generation;
} FsbStageSlot;

typedef struct FsbStageShared
{
	slock_t		mutex;
	int			nslots;
	FsbStageSlot slots[FLEXIBLE_ARRAY_MEMBER];
} FsbStageShared;

static FsbStageShared *stage_shared = NULL;

Size
fsb_stage_shmem_size(void)
{
	return MAXALIGN(add_size(offsetof(FsbStageShared, slots),
							 mul_size(sizeof(FsbStageSlot), max_worker_processes)));
}

/* Called from the shared memory startup hook, under AddinShmemInitLock. */
void
fsb_stage_shmem_init(void)
{
	bool		found;

	stage_shared = ShmemInitStruct("fs_backfill staged runs",
								   fsb_stage_shmem_size(), &found);
	if (!found)
	{
		memset(stage_shared, 0, fsb_stage_shmem_size());
		SpinLockInit(&stage_shared->mutex);
		stage_shared->nslots = max_worker_processes;
	}
}

/* Whether this server can run the workers of staged runs (preloaded). */
bool
fsb_stage_workers_available(void)
{
	return stage_shared != NULL;
}

static void
require_shmem(void)
{
	if (stage_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("staged runs need fs_backfill in shared_preload_libraries"),
				 errhint("Add fs_backfill to shared_preload_libraries and restart the server, or use fs_backfill().")));
}

/*
 * Frees slot "arg" when this process exits; a coordinator also frees the
 * slots it reserved for builders that have not started (they exit at once
 * if they start later).
 */
static void
release_own_slot(int code, Datum arg)
{
	FsbStageSlot *slot = &stage_shared->slots[DatumGetInt32(arg)];

	SpinLockAcquire(&stage_shared->mutex);
	if (slot->pid == MyProcPid && slot->kind == FSB_SLOT_COORDINATOR)
	{
		for (int i = 0; i < stage_shared->nslots; i++)
		{
			FsbStageSlot *other = &stage_shared->slots[i];

			if (other->kind == FSB_SLOT_BUILDER && other->pid == 0 &&
				other->dbid == slot->dbid && other->run_id == slot->run_id)
				other->kind = FSB_SLOT_FREE;
		}
	}
	if (slot->pid == MyProcPid)
		slot->kind = FSB_SLOT_FREE;
	SpinLockRelease(&stage_shared->mutex);
}

/*
 * The calling process becomes the coordinator of a run, until it exits;
 * false when the run has one already.
 */
bool
fsb_stage_coordinator_attach(int64 run_id)
{
	int			free_slot = -1;

	require_shmem();
	SpinLockAcquire(&stage_shared->mutex);
	for (int i = 0; i < stage_shared->nslots; i++)
	{
		FsbStageSlot *slot = &stage_shared->slots[i];

		if (slot->kind == FSB_SLOT_FREE)
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (slot->kind == FSB_SLOT_COORDINATOR &&
				 slot->dbid == MyDatabaseId && slot->run_id == run_id)
		{
			SpinLockRelease(&stage_shared->mutex);
			return false;
		}
	}
	if (free_slot >= 0)
	{
		FsbStageSlot *slot = &stage_shared->slots[free_slot];

		slot->kind = FSB_SLOT_COORDINATOR;
		slot->dbid = MyDatabaseId;
		slot->run_id = run_id;
		slot->pid = MyProcPid;
		slot->generation++;
	}
	SpinLockRelease(&stage_shared->mutex);
	if (free_slot < 0)
		elog(ERROR, "no free slot for the coordinator of staged run " INT64_FORMAT,
			 run_id);
	on_shmem_exit(release_own_slot, Int32GetDatum(free_slot));
	return true;
}

/*
 * Reserves a builder's slot for slice "slice" of a run, if fewer than
 * fs_backfill.max_stage_workers slices are building in the cluster; returns
 * the slot, or -1.
 */
int
fsb_stage_builder_reserve(int64 run_id, int slice, uint32 *generation)
{
	int			building = 0;
	int			free_slot = -1;

	SpinLockAcquire(&stage_shared->mutex);
	for (int i = 0; i < stage_shared->nslots; i++)
	{
		if (stage_shared->slots[i].kind == FSB_SLOT_BUILDER)
			building++;
		else if (stage_shared->slots[i].kind == FSB_SLOT_FREE && free_slot < 0)
			free_slot = i;
	}
	if (building >= fsb_max_stage_workers)
		free_slot = -1;
	if (free_slot >= 0)
	{
		FsbStageSlot *slot = &stage_shared->slots[free_slot];

		slot->kind = FSB_SLOT_BUILDER;
		slot->dbid = MyDatabaseId;
		slot->run_id = run_id;
		slot->slice = slice;
		slot->pid = 0;
		*generation = ++slot->generation;
	}
	SpinLockRelease(&stage_shared->mutex);
	return free_slot;
}

/* A builder takes the slot its coordinator reserved for it, until it exits. */
void
fsb_stage_builder_attach(int slotno, uint32 generation)
{
	FsbStageSlot *slot;
	bool		mine;

	require_shmem();
	slot = &stage_shared->slots[slotno];
	SpinLockAcquire(&stage_shared->mutex);
	mine = slot->kind == FSB_SLOT_BUILDER && slot->generation == generation;
	if (mine)
		slot->pid = MyProcPid;
	SpinLockRelease(&stage_shared->mutex);
	if (!mine)
		proc_exit(0);			/* its coordinator gave up on it */
	on_shmem_exit(release_own_slot, Int32GetDatum(slotno));
}

/* Frees a builder's slot unless it was freed and reserved again meanwhile. */
void
fsb_stage_builder_release(int slotno, uint32 generation)
{
	FsbStageSlot *slot = &stage_shared->slots[slotno];

	SpinLockAcquire(&stage_shared->mutex);
	if (slot->kind == FSB_SLOT_BUILDER && slot->generation == generation)
		slot->kind = FSB_SLOT_FREE;
	SpinLockRelease(&stage_shared->mutex);
}

/* Whether a builder of a run's slice is running. */
bool
fsb_stage_builder_alive(int64 run_id, int slice)
{
	bool		found = false;

	SpinLockAcquire(&stage_shared->mutex);
	for (int i = 0; i < stage_shared->nslots; i++)
		found |= stage_shared->slots[i].kind == FSB_SLOT_BUILDER &&
			stage_shared->slots[i].dbid == MyDatabaseId &&
			stage_shared->slots[i].run_id == run_id &&
			stage_shared->slots[i].slice == slice &&
			stage_shared->slots[i].pid != 0;
	SpinLockRelease(&stage_shared->mutex);
	return found;
}

/* Whether a run of database "dbid" has a coordinator. */
bool
fsb_stage_run_has_coordinator(Oid dbid, int64 run_id)
{
	bool		found = false;

	require_shmem();
	SpinLockAcquire(&stage_shared->mutex);
	for (int i = 0; i < stage_shared->nslots; i++)
		found |= stage_shared->slots[i].kind == FSB_SLOT_COORDINATOR &&
			stage_shared->slots[i].dbid == dbid &&
			stage_shared->slots[i].run_id == run_id;
	SpinLockRelease(&stage_shared->mutex);
	return found;
}

/*
 * Stops the coordinator and the builders of a run (SIGTERM: a builder's
 * transaction aborts at its next interrupt check, and what it was staging
 * goes with it).
 */
void
fsb_stage_signal_run(Oid dbid, int64 run_id)
{
	pid_t	   *pids;
	int			n = 0;

	if (stage_shared == NULL)
		return;
	pids = palloc(sizeof(pid_t) * stage_shared->nslots);
	SpinLockAcquire(&stage_shared->mutex);
	for (int i = 0; i < stage_shared->nslots; i++)
	{
		FsbStageSlot *slot = &stage_shared->slots[i];

		if (slot->kind != FSB_SLOT_FREE && slot->dbid == dbid &&
			slot->run_id == run_id && slot->pid != 0)
			pids[n++] = slot->pid;
	}
	SpinLockRelease(&stage_shared->mutex);
	for (int i = 0; i < n; i++)
		(void) kill(pids[i], SIGTERM);
	pfree(pids);
}
