/*-------------------------------------------------------------------------
 *
 * redis_sink.h
 *	  The online cache's side: see redis_sink.c.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/redis_sink.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FSB_REDIS_SINK_H
#define FSB_REDIS_SINK_H

#include "nodes/pg_list.h"

typedef struct FsbRedis FsbRedis;

/*
 * One entity's hash to write, guarded by the run's stop; with no fields (a
 * hash written always has _ts), the entity is deleted.  Its owner (the
 * caller's tag: its feature set) is what a refusal of it is pinned on.
 */
typedef struct FsbPush
{
	const char *key;
	const char *guard;
	const void *owner;
	int64		expire_at_ms;	/* 0: no expiry */
	int			nfields;		/* 0: delete */
	const char **fields;
	const char **values;
} FsbPush;

extern char *fsb_redis_endpoint(const char *url);
extern FsbRedis *fsb_redis_connect(const char *url, const char *password_file,
								   int timeout_ms, char **error);
extern void fsb_redis_close(FsbRedis *r);
extern int	fsb_redis_sentinel_present(FsbRedis *r, char **error);
extern bool fsb_redis_set_sentinel(FsbRedis *r, char **error);
/* What became of the pushes sent: see fsb_redis_wait(). */
typedef enum FsbPushResult
{
	FSB_PUSH_DONE,
	FSB_PUSH_REFUSED,
	FSB_PUSH_AGAIN,
	FSB_PUSH_FAILED
} FsbPushResult;

/* Redis answered an owner's push with an error. */
typedef struct FsbRefusal
{
	const void *owner;
	int			sqlerrcode;
	char	   *error;			/* names host:port and quotes Redis */
} FsbRefusal;

extern bool fsb_redis_send(FsbRedis *r, const FsbPush *pushes, int n,
						   char **error);
extern bool fsb_redis_busy(FsbRedis *r);
extern FsbPushResult fsb_redis_wait(FsbRedis *r, List **refused, char **error);

#endif							/* FSB_REDIS_SINK_H */
