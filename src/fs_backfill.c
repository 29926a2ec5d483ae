/*-------------------------------------------------------------------------
 *
 * fs_backfill.c
 *	  Module magic and load-time initialisation.
 *
 * Loading the library (preloaded or on first use) defines the GUCs and the
 * commit callback that wakes the online worker.  When preloaded, it also
 * asks for shared memory and registers the worker (never in binary upgrade).
 * The backfill functions need nothing else, so they work without preloading.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/fs_backfill.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "fs_backfill.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	fsb_guc_init();
	fsb_shmem_init();
	if (process_shared_preload_libraries_in_progress && !IsBinaryUpgrade)
	{
		fsb_worker_register();
		fsb_stage_launcher_register();
	}
}
