/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  What the online worker's loop (worker.c) and its batches (drain.c)
 *	  share.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FSB_WORKER_H
#define FSB_WORKER_H

#include "redis_sink.h"

/*
 * Longest wait between attempts while Redis is down, and between tries of a
 * parked feature set.
 */
#define FSB_BACKOFF_MAX_MS 10000

/* The wait after one of "ms": twice as long, from "first" up to the maximum. */
static inline int
fsb_next_backoff(int ms, int first)
{
	return Min(FSB_BACKOFF_MAX_MS, Max(first, ms * 2));
}

/* fsb_drain_batch(): Redis had lost the push script; do the batch again. */
#define FSB_BATCH_AGAIN (-2)
/* fsb_drain_batch(): Redis refused feature sets, now parked; go on without. */
#define FSB_BATCH_PARKED (-3)

/* worker_xact.c */
extern void fsb_worker_xact_begin(const char *activity);
extern void fsb_worker_xact_commit(void);
extern void fsb_worker_xact_abort(void);

/* drain.c */
extern void fsb_drain_init(MemoryContext parent);
extern int	fsb_drain_batch(FsbRedis *redis, int64 after, int64 *last, char **error);
extern bool fsb_drain_blame(int sqlerrcode, const char *message);
extern void fsb_drain_record_errors(void);

#endif							/* FSB_WORKER_H */
