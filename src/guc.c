/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The fs_backfill.* configuration parameters.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "fs_backfill.h"

/* fs_backfill.swap_lock_timeout, in milliseconds */
int			fsb_swap_lock_timeout = 1000;

/* fs_backfill.swap_min_rows */
int			fsb_swap_min_rows = 10000;

void
fsb_guc_init(void)
{
	DefineCustomIntVariable("fs_backfill.swap_lock_timeout",
							"Sets the longest wait for the lock that exchanges a swapped partition.",
							"After this wait the partition is replaced by delete and insert instead.",
							&fsb_swap_lock_timeout,
							1000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fs_backfill.swap_min_rows",
							"Sets the number of rows from which strategy auto swaps a partition.",
							"Partitions with fewer rows are replaced by delete and insert, which is faster for them.",
							&fsb_swap_min_rows,
							10000, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("fs_backfill");
}
