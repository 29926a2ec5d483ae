/*-------------------------------------------------------------------------
 *
 * redis_sink.c
 *	  The online cache's side: a hiredis connection, the push script, and
 *	  pipelined pushes.  No SPI, no transactions; raises no error but for
 *	  running out of memory.
 *
 * Every call returns a status and, on failure, a message in the caller's
 * memory context naming host:port, never the password.  Connects and
 * commands carry fs_backfill.redis_timeout, so a hung Redis delays shutdown
 * by at most that.
 *
 * Entities are written by EVALSHA of PUSH_SCRIPT, up to ENTITIES_PER_CALL
 * with the same guard per call, sent without waiting (fsb_redis_send) and
 * acknowledged together (fsb_redis_wait), each atomically: a hash whose _ts
 * is later than the guard (the run's stop) is newer than the backfill and is
 * kept; otherwise the hash is replaced (or deleted), with its expiry.  _ts
 * strings have a fixed width, so they compare as the instants they spell.
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

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "redis_sink.h"

/*
 * Writes the entities KEYS[1..n], which share one guard, ARGV[1].  Then
 * come, for each key in turn, its header and its field, value pairs.  The
 * header is the number of pairs ("0": delete the entity), followed by
 * ":<expiry in Unix milliseconds>" when the entity expires.
 *
 * A hash whose _ts is later than the guard is kept; anything else is
 * replaced: a key holding something else than a hash (HGET fails on it,
 * hence pcall) is ours to replace.  When none of the keys exists, as while
 * filling an empty Redis, one EXISTS stands for a HGET and a DEL per key
 * (but for a key met twice in the call, which the first write made).  Each
 * entity is written atomically (the whole call is); returns how many were
 * written.
 */
static const char PUSH_SCRIPT[] =
"local guard = ARGV[1]\n"
"local fresh, made = redis.call('EXISTS', unpack(KEYS)) == 0, {}\n"
"local a, done = 2, 0\n"
"for i = 1, #KEYS do\n"
"  local key, header = KEYS[i], ARGV[a]\n"
"  local n, expire = tonumber(header), nil\n"
"  if not n then\n"
"    n, expire = string.match(header, '^(%d+):(%d+)$')\n"
"    n = tonumber(n)\n"
"  end\n"
"  local first = a + 1\n"
"  a = first + 2 * n\n"
"  local write = fresh and not made[key]\n"
"  if not write then\n"
"    local cur = redis.pcall('HGET', key, '_ts')\n"
"    if type(cur) == 'table' then cur = nil end\n"
"    write = not (cur and cur > guard)\n"
"    if write then redis.call('DEL', key) end\n"
"  end\n"
"  if write then\n"
"    if n > 0 then\n"
"      redis.call('HSET', key, unpack(ARGV, first, a - 1))\n"
"      if expire then redis.call('PEXPIREAT', key, expire) end\n"
"      made[key] = true\n"
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
 * Appends one argument of a command in Redis's protocol: $<length>, then the
 * bytes.  What hiredis's redisAppendCommandArgv does, without its format
 * strings, which took a tenth of the worker's time.
 */
static void
append_arg(StringInfo buf, const char *arg, size_t len)
{
	char		digits[10];
	int			ndigits = pg_ultoa_n((uint32) len, digits);
	char	   *p;

	enlargeStringInfo(buf, ndigits + len + 5);
	p = buf->data + buf->len;
	*p++ = '$';
	memcpy(p, digits, ndigits);
	p += ndigits;
	*p++ = '\r';
	*p++ = '\n';
	memcpy(p, arg, len);
	p += len;
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	buf->len = p - buf->data;
}

static void
append_string(StringInfo buf, const char *arg)
{
	append_arg(buf, arg, strlen(arg));
}

static void
append_number(StringInfo buf, int64 value)
{
	char		digits[MAXINT8LEN + 1];

	append_arg(buf, digits, pg_lltoa(value, digits));
}

/*
 * Appends the EVALSHAs for the pushes to the output buffer, one per run of
 * up to ENTITIES_PER_CALL pushes with the same guard; returns how many, or
 * -1 when hiredis ran out of memory.  Each call is formatted in a buffer of
 * its own, which may not grow past 1 GB: Redis refuses larger commands
 * anyway (client-query-buffer-limit).
 */
static int
append_pushes(FsbRedis *r, const FsbPush *pushes, int n)
{
	StringInfoData buf;
	int			calls = 0;
	int			start = 0;

	initStringInfo(&buf);
	while (start < n)
	{
		int			count = 1;
		int			argc;

		while (start + count < n && count < ENTITIES_PER_CALL &&
			   strcmp(pushes[start + count].guard, pushes[start].guard) == 0)
			count++;
		argc = 4 + count;
		for (int i = start; i < start + count; i++)
			argc += 1 + 2 * pushes[i].nfields;

		appendStringInfo(&buf, "*%d\r\n", argc);
		append_string(&buf, "EVALSHA");
		append_string(&buf, r->sha);
		append_number(&buf, count);
		for (int i = start; i < start + count; i++)
			append_string(&buf, pushes[i].key);
		append_string(&buf, pushes[start].guard);
		for (int i = start; i < start + count; i++)
		{
			const FsbPush *p = &pushes[i];
			char		header[32];

			if (p->expire_at_ms != 0)
				append_arg(&buf, header,
						   snprintf(header, sizeof(header), "%d:" INT64_FORMAT,
									p->nfields, p->expire_at_ms));
			else
				append_number(&buf, p->nfields);
			for (int f = 0; f < p->nfields; f++)
			{
				append_string(&buf, p->fields[f]);
				append_string(&buf, p->values[f]);
			}
		}
		if (redisAppendFormattedCommand(r->ctx, buf.data, buf.len) != REDIS_OK)
		{
			calls = -1;
			break;
		}
		resetStringInfo(&buf);
		calls++;
		start += count;
	}
	pfree(buf.data);
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
	int			calls = append_pushes(r, pushes, n);

	if (calls < 0)
	{
		*error = psprintf("could not talk to Redis at %s: %s",
						  r->endpoint, r->ctx->errstr);
		return false;
	}
	r->pending += calls;
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
