/*-------------------------------------------------------------------------
 *
 * redis_sink.c
 *	  The online cache's side: a hiredis connection, the push script, and
 *	  pipelined pushes.  No SPI, no transactions; never raises an error.
 *
 * Every call returns a status and, on failure, a message in the caller's
 * memory context naming host:port, never the password.  Connects and
 * commands carry fs_backfill.redis_timeout, so a hung Redis delays shutdown
 * by at most that.
 *
 * Entities are written by EVALSHA of PUSH_SCRIPT, up to ENTITIES_PER_CALL
 * per call, sent without waiting (fsb_redis_send) and acknowledged
 * together (fsb_redis_wait), each atomically: a hash whose _ts is later than the guard (the
 * run's stop) is newer than the backfill and is kept; otherwise the hash is
 * replaced (or deleted), with its expiry.  _ts strings have a fixed width, so they compare as the
 * instants they spell.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/redis_sink.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "utils/memutils.h"

#include "redis_sink.h"

/*
 * Writes the entities KEYS[1..n].  A key holding something else than a hash
 * (HGET fails on it, hence pcall) is ours to replace.  ARGV holds, for each
 * key in turn, its guard, "set" or "del", its expiry in Unix milliseconds
 * (or "0"), the number of its fields, then its field, value pairs.  Each
 * entity is written atomically (the whole call is); returns how many were
 * written.
 */
static const char PUSH_SCRIPT[] =
"local a, done = 1, 0\n"
"for i = 1, #KEYS do\n"
"  local guard, mode, expire = ARGV[a], ARGV[a + 1], ARGV[a + 2]\n"
"  local first = a + 4\n"
"  a = first + 2 * tonumber(ARGV[a + 3])\n"
"  local cur = redis.pcall('HGET', KEYS[i], '_ts')\n"
"  if type(cur) == 'table' then cur = nil end\n"
"  if not (cur and cur > guard) then\n"
"    redis.call('DEL', KEYS[i])\n"
"    if mode ~= 'del' then\n"
"      redis.call('HSET', KEYS[i], unpack(ARGV, first, a - 1))\n"
"      if expire ~= '0' then redis.call('PEXPIREAT', KEYS[i], expire) end\n"
"    end\n"
"    done = done + 1\n"
"  end\n"
"end\n"
"return done\n";

/* Entities per EVALSHA: fewer round trips through Redis's dispatcher. */
#define ENTITIES_PER_CALL 100

/* Present in every Redis fs_backfill has filled; gone after a flush. */
#define SENTINEL_KEY "fs_backfill:sentinel"

struct FsbRedis
{
	redisContext *ctx;
	char		endpoint[300];	/* host:port, for messages */
	char		sha[41];
	int			pending;		/* calls sent, replies not read yet */
};

typedef struct RedisUrl
{
	char		host[256];
	int			port;
	char		password[256];
	int			db;
} RedisUrl;

/* redis://[[user]:password@]host[:port][/db]; false if malformed. */
static bool
parse_url(const char *url, RedisUrl *out)
{
	const char *p;
	const char *at;
	const char *end;
	size_t		hostlen;

	memset(out, 0, sizeof(*out));
	out->port = 6379;
	if (strncmp(url, "redis://", 8) != 0)
		return false;
	p = url + 8;
	at = strrchr(p, '@');
	if (at)
	{
		const char *colon = memchr(p, ':', at - p);

		if (colon == NULL || (size_t) (at - colon - 1) >= sizeof(out->password))
			return false;
		memcpy(out->password, colon + 1, at - colon - 1);
		p = at + 1;
	}
	end = p + strcspn(p, ":/");
	hostlen = end - p;
	if (hostlen == 0 || hostlen >= sizeof(out->host))
		return false;
	memcpy(out->host, p, hostlen);
	p = end;
	if (*p == ':')
	{
		char	   *stop;
		long		port = strtol(p + 1, &stop, 10);

		if (stop == p + 1 || port < 1 || port > 65535)
			return false;
		out->port = (int) port;
		p = stop;
	}
	if (*p == '/')
	{
		char	   *stop;
		long		db = strtol(p + 1, &stop, 10);

		if (stop == p + 1 || db < 0 || db > 1000 || *stop != '\0')
			return false;
		out->db = (int) db;
		p = stop;
	}
	return *p == '\0';
}

/* host:port of a URL, or "?" when it cannot be parsed; never the password. */
char *
fsb_redis_endpoint(const char *url)
{
	RedisUrl	u;

	if (!parse_url(url, &u))
		return pstrdup("(invalid fs_backfill.redis_url)");
	return psprintf("%s:%d", u.host, u.port);
}

/* The first line of a password file; its content never reaches a message. */
static bool
read_password(const char *path, char *out, size_t size, char **error)
{
	FILE	   *f = fopen(path, "r");
	size_t		len;

	if (f == NULL)
	{
		*error = psprintf("could not open fs_backfill.redis_password_file \"%s\": %m", path);
		return false;
	}
	if (fgets(out, size, f) == NULL)
		out[0] = '\0';
	fclose(f);
	len = strcspn(out, "\r\n");
	out[len] = '\0';
	return true;
}

static struct timeval
timeout_tv(int timeout_ms)
{
	struct timeval tv;

	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return tv;
}

/* Runs one command; on failure sets *error and returns NULL. */
static redisReply *
command(FsbRedis *r, char **error, int argc, const char **argv)
{
	redisReply *reply = redisCommandArgv(r->ctx, argc, argv, NULL);

	if (reply == NULL)
	{
		*error = psprintf("could not talk to Redis at %s: %s", r->endpoint,
						  r->ctx->errstr);
		return NULL;
	}
	if (reply->type == REDIS_REPLY_ERROR)
	{
		*error = psprintf("Redis at %s answered %s: %s", r->endpoint, argv[0],
						  reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

static bool
load_script(FsbRedis *r, char **error)
{
	const char *argv[3] = {"SCRIPT", "LOAD", PUSH_SCRIPT};
	redisReply *reply = command(r, error, 3, argv);

	if (reply == NULL)
		return false;
	strlcpy(r->sha, reply->str ? reply->str : "", sizeof(r->sha));
	freeReplyObject(reply);
	return true;
}

/*
 * Connects, authenticates, selects the database and loads the push script.
 * NULL on failure, with *error set.  The result is malloc'd by hiredis and
 * palloc'd in TopMemoryContext: free it with fsb_redis_close().
 */
FsbRedis *
fsb_redis_connect(const char *url, const char *password_file, int timeout_ms,
				  char **error)
{
	RedisUrl	u;
	FsbRedis   *r;
	redisReply *reply;

	if (!parse_url(url, &u))
	{
		*error = pstrdup("invalid fs_backfill.redis_url: expected redis://[:password@]host:port[/db]");
		return NULL;
	}
	if (u.password[0] == '\0' && password_file && password_file[0] != '\0' &&
		!read_password(password_file, u.password, sizeof(u.password), error))
		return NULL;
	r = MemoryContextAllocZero(TopMemoryContext, sizeof(FsbRedis));
	snprintf(r->endpoint, sizeof(r->endpoint), "%s:%d", u.host, u.port);
	r->ctx = redisConnectWithTimeout(u.host, u.port, timeout_tv(timeout_ms));
	if (r->ctx == NULL || r->ctx->err)
	{
		*error = psprintf("could not connect to Redis at %s: %s", r->endpoint,
						  r->ctx ? r->ctx->errstr : "out of memory");
		fsb_redis_close(r);
		return NULL;
	}
	redisSetTimeout(r->ctx, timeout_tv(timeout_ms));

	if (u.password[0] != '\0')
	{
		const char *argv[2] = {"AUTH", u.password};

		/* a reply may echo its arguments: say no more than that it failed */
		if ((reply = command(r, error, 2, argv)) == NULL)
		{
			*error = psprintf("could not authenticate to Redis at %s", r->endpoint);
			fsb_redis_close(r);
			return NULL;
		}
		freeReplyObject(reply);
	}
	if (u.db != 0)
	{
		char		db[16];
		const char *argv[2] = {"SELECT", db};

		snprintf(db, sizeof(db), "%d", u.db);
		if ((reply = command(r, error, 2, argv)) == NULL)
		{
			fsb_redis_close(r);
			return NULL;
		}
		freeReplyObject(reply);
	}
	if (!load_script(r, error))
	{
		fsb_redis_close(r);
		return NULL;
	}
	return r;
}

void
fsb_redis_close(FsbRedis *r)
{
	if (r == NULL)
		return;
	if (r->ctx)
		redisFree(r->ctx);
	pfree(r);
}

/*
 * Is the sentinel there?  1 yes, 0 no (Redis was flushed or restarted
 * empty), -1 on failure with *error set.
 */
int
fsb_redis_sentinel_present(FsbRedis *r, char **error)
{
	const char *argv[2] = {"EXISTS", SENTINEL_KEY};
	redisReply *reply = command(r, error, 2, argv);
	int			present;

	if (reply == NULL)
		return -1;
	present = reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
	freeReplyObject(reply);
	return present;
}

bool
fsb_redis_set_sentinel(FsbRedis *r, char **error)
{
	const char *argv[3] = {"SET", SENTINEL_KEY, "1"};
	redisReply *reply = command(r, error, 3, argv);

	if (reply == NULL)
		return false;
	freeReplyObject(reply);
	return true;
}

/*
 * Appends the EVALSHAs for the pushes to the output buffer, one per
 * ENTITIES_PER_CALL entities; returns how many.  hiredis copies the
 * arguments; the small strings made here live in the caller's memory context.
 */
static int
append_pushes(FsbRedis *r, const FsbPush *pushes, int n)
{
	int			calls = 0;

	for (int start = 0; start < n; start += ENTITIES_PER_CALL)
	{
		int			count = Min(ENTITIES_PER_CALL, n - start);
		int			argc = 3 + count;
		const char **argv;
		int			a;

		for (int i = start; i < start + count; i++)
			argc += 4 + 2 * pushes[i].nfields;
		argv = palloc(sizeof(char *) * argc);
		argv[0] = "EVALSHA";
		argv[1] = r->sha;
		argv[2] = psprintf("%d", count);
		for (int i = 0; i < count; i++)
			argv[3 + i] = pushes[start + i].key;
		a = 3 + count;
		for (int i = start; i < start + count; i++)
		{
			const FsbPush *p = &pushes[i];

			argv[a++] = p->guard;
			argv[a++] = p->delete ? "del" : "set";
			argv[a++] = psprintf(INT64_FORMAT, p->expire_at_ms);
			argv[a++] = psprintf("%d", p->delete ? 0 : p->nfields);
			for (int f = 0; !p->delete && f < p->nfields; f++)
			{
				argv[a++] = p->fields[f];
				argv[a++] = p->values[f];
			}
		}
		redisAppendCommandArgv(r->ctx, a, argv, NULL);
		pfree(argv);
		calls++;
	}
	return calls;
}

/*
 * Sends the pushes without waiting for Redis: it works on them while the
 * caller reads the next ones.  False with *error set when the connection
 * failed.  The replies are read by fsb_redis_wait().
 */
bool
fsb_redis_send(FsbRedis *r, const FsbPush *pushes, int n, char **error)
{
	int			done = 0;

	r->pending += append_pushes(r, pushes, n);
	while (!done)
	{
		if (redisBufferWrite(r->ctx, &done) != REDIS_OK)
		{
			*error = psprintf("could not talk to Redis at %s: %s",
							  r->endpoint, r->ctx->errstr);
			return false;
		}
	}
	return true;
}

/* Are replies to sent pushes still unread?  Then the connection is busy. */
bool
fsb_redis_busy(FsbRedis *r)
{
	return r->pending > 0;
}

/*
 * Reads the replies to every push sent.  FSB_PUSH_DONE when Redis
 * acknowledged them all.  FSB_PUSH_AGAIN when it had forgotten the push
 * script (SCRIPT FLUSH): the script is loaded again, and the caller pushes
 * the same entities again.  FSB_PUSH_FAILED with *error set otherwise.
 * Unless done, any of the pushes may or may not have been applied: pushing
 * them again is harmless.
 */
FsbPushResult
fsb_redis_wait(FsbRedis *r, char **error)
{
	bool		noscript = false;
	char	   *failure = NULL;

	while (r->pending > 0)
	{
		redisReply *reply = NULL;

		if (redisGetReply(r->ctx, (void **) &reply) != REDIS_OK || reply == NULL)
		{
			*error = psprintf("could not talk to Redis at %s: %s",
							  r->endpoint, r->ctx->errstr);
			return FSB_PUSH_FAILED;
		}
		r->pending--;
		if (reply->type == REDIS_REPLY_ERROR)
		{
			if (strncmp(reply->str, "NOSCRIPT", 8) == 0)
				noscript = true;
			else if (failure == NULL)
				failure = psprintf("Redis at %s refused a push: %s",
								   r->endpoint, reply->str);
		}
		freeReplyObject(reply);
	}
	if (failure)
	{
		*error = failure;
		return FSB_PUSH_FAILED;
	}
	if (noscript)
		return load_script(r, error) ? FSB_PUSH_AGAIN : FSB_PUSH_FAILED;
	return FSB_PUSH_DONE;
}
