/*-------------------------------------------------------------------------
 *
 * catchup.c
 *	  fs_backfill_catchup(): backfill what is new since the last catch-up.
 *
 * The watermark is how far the feature set is known to be filled without a
 * gap: starting at backfill_start, each committed run in run order that
 * begins at or before it and ends after it moves it to that run's stop; a
 * reset run that began at or before backfill_start sets it to its stop, any
 * other reset run back to backfill_start (it deleted what lay before its
 * start).  Runs are recorded in the transaction that wrote their rows, so
 * the watermark moves only in the commit that wrote the data, and a failed
 * catch-up leaves it where it was.
 *
 * A catch-up runs from the watermark, moved back over the last
 * reprocess_partitions partitions for late rows, to now() - catchup_delay
 * rounded down to a partition boundary: whole partitions only.  The
 * partitions reprocessed are re-run also when no new one is due; only with
 * reprocess_partitions = 0 is there then nothing to do (NULL).  It takes
 * the feature set's backfill lock before reading the watermark, so two
 * catch-ups never run at once: the second waits, then finds the first's
 * work done and returns NULL.  Whether the caller may use the feature set
 * (privilege.c) is checked before that lock; a pg_cron job runs as the role
 * that scheduled it, so a role that lost its right fails there.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/catchup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_catchup);

/* The feature set's watermark: see the file header. */
static TimestampTz
catchup_watermark(const FsbFeatureSet *fs)
{
	int			nruns;
	FsbRunSpan *runs = fsb_catalog_succeeded_runs(fs->name, &nruns);
	TimestampTz watermark = fs->backfill_start;

	for (int i = 0; i < nruns; i++)
	{
		if (runs[i].reset)
			watermark = runs[i].start <= fs->backfill_start ? runs[i].stop :
				fs->backfill_start;
		else if (runs[i].start <= watermark && runs[i].stop > watermark)
			watermark = runs[i].stop;
	}
	pfree(runs);
	return watermark;
}

/*
 * fs_backfill_catchup(feature_set): the run id, or NULL when there was no
 * whole partition to add.
 */
Datum
fs_backfill_catchup(PG_FUNCTION_ARGS)
{
	FsbFeatureSet *fs;
	FsbRunOptions opts;
	TimestampTz watermark;
	TimestampTz start;
	TimestampTz stop;
	TimestampTz upto;
	TimestampTz hi;

	fsb_require_arg(fcinfo, 0, "feature_set");
	fs = fsb_catalog_load(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	/* before the lock: a role refused here holds nothing */
	fsb_privilege_check_use(fs);
	fsb_lock_target(fs);
	fs = fsb_catalog_load(fs->name);	/* as committed by whoever we waited for */
	watermark = catchup_watermark(fs);

	upto = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
												   IntervalPGetDatum(&fs->catchup_delay)));
	fsb_partition_align(&fs->partition_interval, upto, &stop, &hi);

	/*
	 * From the start of the partition holding the watermark (a backfill up
	 * to now() may have left it inside one), back over the last
	 * reprocess_partitions partitions, for late rows: these are re-run even
	 * when no new partition is due.
	 */
	fsb_partition_align(&fs->partition_interval, watermark, &start, &hi);
	for (int i = 0; i < fs->reprocess_partitions && start > fs->backfill_start; i++)
		fsb_partition_align(&fs->partition_interval, start - 1, &start, &hi);
	start = Max(start, fs->backfill_start);
	if (stop <= start)
	{
		ereport(NOTICE,
				(errmsg("feature set \"%s\" is caught up to %s", fs->name,
						fsb_format_time(watermark)),
				 errdetail("The next whole partition ends after now() - catchup_delay.")));
		PG_RETURN_NULL();
	}

	memset(&opts, 0, sizeof(opts));
	opts.feature_set = fs->name;
	opts.comment = "catch-up";
	opts.strategy = FSB_STRATEGY_AUTO;
	PG_RETURN_INT64(fsb_run_backfill(&opts, start, stop));
}
