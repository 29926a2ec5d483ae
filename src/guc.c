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

#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "fs_backfill.h"

/* fs_backfill.swap_lock_timeout, in milliseconds */
int			fsb_swap_lock_timeout = 1000;

/* fs_backfill.swap_min_rows */
int			fsb_swap_min_rows = 10000;

/* The online worker */
char	   *fsb_database = NULL;
char	   *fsb_worker_role = NULL;
char	   *fsb_redis_url = NULL;
char	   *fsb_redis_password_file = NULL;
int			fsb_redis_timeout = 2000;
int			fsb_online_batch_size = 10000;
int			fsb_online_naptime = 1000;

/* Staged runs */
int			fsb_max_stage_workers = 4;

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

	DefineCustomStringVariable("fs_backfill.redis_url",
							   "Sets the Redis server of the online cache, as redis://[:password@]host:port[/db].",
							   NULL,
							   &fsb_redis_url,
							   "redis://127.0.0.1:6379",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("fs_backfill.redis_password_file",
							   "Sets a file holding the Redis password, for a redis_url without one.",
							   "PostgreSQL logs a changed redis_url when it reloads its configuration; a password kept in this file never appears there.",
							   &fsb_redis_password_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("fs_backfill.redis_timeout",
							"Sets the timeout of every Redis connection attempt and command.",
							NULL,
							&fsb_redis_timeout,
							2000, 10, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fs_backfill.online_batch_size",
							"Sets the number of queued entities the online worker pushes per transaction.",
							NULL,
							&fsb_online_batch_size,
							10000, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fs_backfill.online_naptime",
							"Sets the longest sleep of the online worker between looks at its queue.",
							"Commits of backfills wake it earlier.",
							&fsb_online_naptime,
							1000, 10, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("fs_backfill.max_stage_workers",
							"Sets the most slices of staged runs built at once in the cluster.",
							"Each takes a background worker (max_worker_processes), besides one coordinator per staged run.",
							&fsb_max_stage_workers,
							4, 1, MAX_BACKENDS,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	/*
	 * Settings read at server start exist only when preloading: a backend
	 * loading the library later may not define PGC_POSTMASTER settings (it
	 * would end with FATAL), and has no worker to give them to.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("fs_backfill.database",
								   "Sets the database the online worker connects to.",
								   NULL,
								   &fsb_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);

		DefineCustomStringVariable("fs_backfill.worker_role",
								   "Sets the role the online worker runs as.",
								   "Empty means the bootstrap superuser.",
								   &fsb_worker_role,
								   "",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
	}

	MarkGUCPrefixReserved("fs_backfill");
}
