/*-------------------------------------------------------------------------
 *
 * worker_xact.c
 *	  The online worker's transactions: one per unit of work (a batch, a
 *	  truncation, a resync, recording errors).
 *
 * Each begins with a statement start time, SPI and an active snapshot, and
 * shows what it does in pg_stat_activity; a commit also flushes the
 * worker's statistics.  worker.c and drain.c both use them.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/worker_xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/snapmgr.h"

#include "fs_backfill.h"
#include "worker.h"

void
fsb_worker_xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
fsb_worker_xact_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
fsb_worker_xact_abort(void)
{
	SPI_finish();
	PopActiveSnapshot();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}
