/*-------------------------------------------------------------------------
 *
 * fs_backfill.c
 *	  Module magic and load-time initialisation.
 *
 * Loading the library (preloaded or on first use) defines the GUCs.  The
 * backfill functions need nothing else, so they work without preloading.
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

#include "fs_backfill.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	fsb_guc_init();
}
