/*-------------------------------------------------------------------------
 *
 * redis_sink.c
 *	  The online cache's side: a hiredis connection, the push script, and
 *	  pipelined pushes.  No SPI, no transactions; raises no error but for
 *	  running out of memory, and ends the process on SIGTERM.
 *
 * Every call returns a status and, on failure, a message in the caller's
 * memory context naming host:port, never the password.
 *
 * Waits.  Once connected (hiredis's connect takes fs_backfill.redis_timeout
 * at most), the socket is non-blocking and every wait for Redis is ours: on
 * the socket, the latch and the postmaster together (one WaitEventSet), so
 * that a SIGTERM ends the process at once, and with one deadline,
 * fs_backfill.redis_timeout, for the whole of a call: sending a chunk,
 * reading a batch's replies, one command.  A hung Redis delays a shutdown by
 * no more than the time to notice the signal, and a Redis answering slowly
 * fails a batch after redis_timeout, not after redis_timeout per reply.  A
 * latch set meanwhile (a commit waking the worker) is set again on return.
 * Replies are integers, statuses and short strings: a reply announcing an
 * array of more than FSB_MAX_REPLY_ELEMENTS is a protocol error, not an
 * allocation of its size.
 *
 * Errors.  A connection that fails (refused, reset, closed, timed out,
 * garbled) fails the whole call: Redis is down for every feature set.  An
 * error reply to one push (NOPERM, OOM, a script error) is Redis refusing
 * that push: fsb_redis_wait() names its owner (the caller's tag, one feature
 * set), and the connection goes on.  Error replies that speak of Redis
 * itself (LOADING, BUSY, READONLY, ...) are an outage again.
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

#include <fcntl.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

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

/* Elements a reply may announce: ours have none. */
#define FSB_MAX_REPLY_ELEMENTS 1024

/*
 * Error replies that speak of Redis as a whole, not of one push: an outage
 * for every feature set.
 */
static const char *const REDIS_WIDE_ERRORS[] = {
	"LOADING", "BUSY", "MASTERDOWN", "READONLY", "NOAUTH", "MISCONF",
	"CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"
};

struct FsbRedis
{
	redisContext *ctx;
	WaitEventSet *events;		/* the latch, the postmaster, the socket */
	int			socket_event;	/* the socket's position in events */
	uint32		socket_wait;	/* what events waits for on the socket */
	bool		latch_was_set;	/* reset while waiting: set it again */
	int			timeout_ms;
	char		endpoint[300];	/* host:port, for messages */
	char		sha[41];
	const void **owners;		/* the owner of each call sent, in order */
	int			nowners;		/* calls sent */
	int			maxowners;
	int			nread;			/* replies read of them */
};

/* The default reply builders, with arrays bounded: see guarded_array(). */
static redisReplyObjectFunctions guarded_functions;
static void *(*default_create_array) (const redisReadTask *task, int elements);
static bool refused_elements;	/* guarded_array() refused one */

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

static TimestampTz
deadline_after(int timeout_ms)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
}

/*
 * hiredis's array builder, refusing arrays larger than any reply of ours
 * (hiredis then reports "Out of memory", which io_error() words better).
 */
static void *
guarded_array(const redisReadTask *task, int elements)
{
	if (elements < 0 || elements > FSB_MAX_REPLY_ELEMENTS)
	{
		refused_elements = true;
		return NULL;
	}
	return default_create_array(task, elements);
}

/* The message for a failed connection, in the caller's memory context. */
static char *
io_error(FsbRedis *r)
{
	if (refused_elements)
	{
		refused_elements = false;
		return psprintf("could not talk to Redis at %s: it sent a reply of more than %d elements",
						r->endpoint, FSB_MAX_REPLY_ELEMENTS);
	}
	return psprintf("could not talk to Redis at %s: %s", r->endpoint,
					r->ctx->errstr[0] ? r->ctx->errstr : "connection failed");
}

/*
 * Makes a connected context non-blocking, its waits ours (wait_socket), and
 * its reader bounded.  False with *error set on failure.
 */
static bool
take_over_socket(FsbRedis *r, char **error)
{
	int			flags = fcntl(r->ctx->fd, F_GETFL);

	if (flags < 0 || fcntl(r->ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0)
	{
		*error = psprintf("could not set up the connection to Redis at %s: %m", r->endpoint);
		return false;
	}
	r->ctx->flags &= ~REDIS_BLOCK;
	if (default_create_array == NULL)
	{
		guarded_functions = *r->ctx->reader->fn;
		default_create_array = guarded_functions.createArray;
		guarded_functions.createArray = guarded_array;
	}
	r->ctx->reader->fn = &guarded_functions;
	r->socket_event = AddWaitEventToSet(r->events, WL_SOCKET_READABLE,
										r->ctx->fd, NULL, NULL);
	r->socket_wait = WL_SOCKET_READABLE;
	return true;
}

/*
 * Waits until the socket is ready for "event" (WL_SOCKET_READABLE or
 * WL_SOCKET_WRITEABLE); false once the deadline passed.  A SIGTERM ends the
 * process from here at once, as does the postmaster's death; a cancel
 * request is left for the worker's loop.
 */
static bool
wait_socket(FsbRedis *r, uint32 event, TimestampTz deadline)
{
	if (r->socket_wait != event)
	{
		ModifyWaitEvent(r->events, r->socket_event, event, NULL);
		r->socket_wait = event;
	}
	for (;;)
	{
		WaitEvent	occurred;
		long		ms;

		HOLD_CANCEL_INTERRUPTS();
		CHECK_FOR_INTERRUPTS();
		RESUME_CANCEL_INTERRUPTS();
		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (ms <= 0)
			return false;
		if (WaitEventSetWait(r->events, ms, &occurred, 1, PG_WAIT_EXTENSION) == 0)
			continue;
		if (occurred.events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			r->latch_was_set = true;
		}
		else if (occurred.events & event)
			return true;
	}
}

/* Sets the latch again if a wait reset it: the worker's loop wants to know. */
static void
rearm_latch(FsbRedis *r)
{
	if (r->latch_was_set)
	{
		r->latch_was_set = false;
		SetLatch(MyLatch);
	}
}

/* Writes out what hiredis holds for Redis; false with *error set on failure. */
static bool
flush_output(FsbRedis *r, TimestampTz deadline, char **error)
{
	int			done = 0;

	for (;;)
	{
		if (redisBufferWrite(r->ctx, &done) != REDIS_OK)
		{
			*error = io_error(r);
			return false;
		}
		if (done)
			return true;
		if (!wait_socket(r, WL_SOCKET_WRITEABLE, deadline))
		{
			*error = psprintf("could not talk to Redis at %s: it took no data for %d ms",
							  r->endpoint, r->timeout_ms);
			return false;
		}
	}
}

/*
 * The next reply, read by the deadline; NULL with *error set on failure,
 * after which the connection is of no more use.
 */
static redisReply *
read_reply(FsbRedis *r, TimestampTz deadline, char **error)
{
	void	   *reply = NULL;

	for (;;)
	{
		if (redisGetReplyFromReader(r->ctx, &reply) != REDIS_OK)
			break;
		if (reply != NULL)
			return reply;
		if (!wait_socket(r, WL_SOCKET_READABLE, deadline))
		{
			*error = psprintf("could not talk to Redis at %s: no reply within %d ms",
							  r->endpoint, r->timeout_ms);
			return NULL;
		}
		if (redisBufferRead(r->ctx) != REDIS_OK)
			break;
	}
	*error = io_error(r);
	return NULL;
}

/*
 * Runs one command, by the deadline, with no pushes pending; on failure
 * sets *error and returns NULL.
 */
static redisReply *
command(FsbRedis *r, TimestampTz deadline, char **error, int argc, const char **argv)
{
	redisReply *reply = NULL;

	Assert(r->nread == r->nowners);
	if (redisAppendCommandArgv(r->ctx, argc, argv, NULL) != REDIS_OK)
		*error = io_error(r);
	else if (flush_output(r, deadline, error))
		reply = read_reply(r, deadline, error);
	rearm_latch(r);
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
	{
		*error = psprintf("Redis at %s answered %s: %s", r->endpoint, argv[0],
						  reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

static bool
load_script(FsbRedis *r, TimestampTz deadline, char **error)
{
	const char *argv[3] = {"SCRIPT", "LOAD", PUSH_SCRIPT};
	redisReply *reply = command(r, deadline, error, 3, argv);

	if (reply == NULL)
		return false;
	strlcpy(r->sha, reply->str ? reply->str : "", sizeof(r->sha));
	freeReplyObject(reply);
	return true;
}

/* Authenticates and selects the database; false with *error set on failure. */
static bool
log_in(FsbRedis *r, const RedisUrl *u, TimestampTz deadline, char **error)
{
	redisReply *reply;

	if (u->password[0] != '\0')
	{
		const char *argv[2] = {"AUTH", u->password};

		/* a reply may echo its arguments: say no more than that it failed */
		if ((reply = command(r, deadline, error, 2, argv)) == NULL)
		{
			*error = psprintf("could not authenticate to Redis at %s", r->endpoint);
			return false;
		}
		freeReplyObject(reply);
	}
	if (u->db != 0)
	{
		char		db[16];
		const char *argv[2] = {"SELECT", db};

		snprintf(db, sizeof(db), "%d", u->db);
		if ((reply = command(r, deadline, error, 2, argv)) == NULL)
			return false;
		freeReplyObject(reply);
	}
	return true;
}

/*
 * Connects, authenticates, selects the database and loads the push script,
 * all within fs_backfill.redis_timeout (timeout_ms).  NULL on failure, with
 * *error set.  The result is malloc'd by hiredis and palloc'd in
 * TopMemoryContext: free it with fsb_redis_close().  Only the worker calls
 * this: its waits use MyLatch.
 */
FsbRedis *
fsb_redis_connect(const char *url, const char *password_file, int timeout_ms,
				  char **error)
{
	RedisUrl	u;
	FsbRedis   *r;
	TimestampTz deadline = deadline_after(timeout_ms);

	if (!parse_url(url, &u))
	{
		*error = pstrdup("invalid fs_backfill.redis_url: expected redis://[:password@]host:port[/db]");
		return NULL;
	}
	if (u.password[0] == '\0' && password_file && password_file[0] != '\0' &&
		!read_password(password_file, u.password, sizeof(u.password), error))
		return NULL;
	r = MemoryContextAllocZero(TopMemoryContext, sizeof(FsbRedis));
	r->timeout_ms = timeout_ms;
	snprintf(r->endpoint, sizeof(r->endpoint), "%s:%d", u.host, u.port);
	r->events = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(r->events, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(r->events, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	r->ctx = redisConnectWithTimeout(u.host, u.port, timeout_tv(timeout_ms));
	if (r->ctx == NULL || r->ctx->err)
	{
		*error = psprintf("could not connect to Redis at %s: %s", r->endpoint,
						  r->ctx ? r->ctx->errstr : "out of memory");
		fsb_redis_close(r);
		return NULL;
	}
	if (!take_over_socket(r, error) || !log_in(r, &u, deadline, error) ||
		!load_script(r, deadline, error))
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
	if (r->events)
		FreeWaitEventSet(r->events);
	if (r->owners)
		pfree(r->owners);
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
	redisReply *reply = command(r, deadline_after(r->timeout_ms), error, 2, argv);
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
	redisReply *reply = command(r, deadline_after(r->timeout_ms), error, 3, argv);

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

/* Remembers the owner of a call sent, whose reply comes in that order. */
static void
note_call(FsbRedis *r, const void *owner)
{
	if (r->nowners == r->maxowners)
	{
		r->maxowners = Max(64, r->maxowners * 2);
		r->owners = r->owners
			? repalloc(r->owners, sizeof(void *) * r->maxowners)
			: MemoryContextAlloc(TopMemoryContext, sizeof(void *) * r->maxowners);
	}
	r->owners[r->nowners++] = owner;
}

/*
 * Appends the EVALSHAs for the pushes to the output buffer, one per run of
 * up to ENTITIES_PER_CALL pushes with the same guard and owner; returns how
 * many, or -1 when hiredis ran out of memory.  Each call is formatted in a
 * buffer of its own, which may not grow past 1 GB: Redis refuses larger
 * commands anyway (client-query-buffer-limit).
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
			   pushes[start + count].owner == pushes[start].owner &&
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
		note_call(r, pushes[start].owner);
		resetStringInfo(&buf);
		calls++;
		start += count;
	}
	pfree(buf.data);
	return calls;
}

/*
 * Sends the pushes without waiting for Redis's replies: it works on them
 * while the caller reads the next ones.  Pushes with different owners never
 * share a call.  False with *error set when the connection failed, or Redis
 * took no data for fs_backfill.redis_timeout.  The replies are read by
 * fsb_redis_wait().
 */
bool
fsb_redis_send(FsbRedis *r, const FsbPush *pushes, int n, char **error)
{
	bool		sent;

	if (append_pushes(r, pushes, n) < 0)
	{
		*error = io_error(r);
		return false;
	}
	sent = flush_output(r, deadline_after(r->timeout_ms), error);
	rearm_latch(r);
	return sent;
}

/* Are replies to sent pushes still unread?  Then the connection is busy. */
bool
fsb_redis_busy(FsbRedis *r)
{
	return r->nread < r->nowners;
}

static bool
redis_wide_error(const char *reply)
{
	for (int i = 0; i < lengthof(REDIS_WIDE_ERRORS); i++)
	{
		size_t		len = strlen(REDIS_WIDE_ERRORS[i]);

		if (strncmp(reply, REDIS_WIDE_ERRORS[i], len) == 0 &&
			(reply[len] == ' ' || reply[len] == '\0'))
			return true;
	}
	return false;
}

/* Adds an owner's refusal to the list, unless it has one already. */
static List *
add_refusal(List *refused, const void *owner, const char *endpoint,
			const char *reply)
{
	ListCell   *lc;
	FsbRefusal *refusal;

	foreach(lc, refused)
		if (((FsbRefusal *) lfirst(lc))->owner == owner)
			return refused;
	refusal = palloc(sizeof(FsbRefusal));
	refusal->owner = owner;
	refusal->sqlerrcode = strncmp(reply, "NOPERM", 6) == 0
		? ERRCODE_INSUFFICIENT_PRIVILEGE : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	refusal->error = psprintf("Redis at %s refused a push: %s", endpoint, reply);
	return lappend(refused, refusal);
}

/*
 * Reads the replies to every push sent, within one fs_backfill.redis_timeout
 * for them all.  FSB_PUSH_DONE when Redis acknowledged them all.
 * FSB_PUSH_REFUSED when it answered them all but refused some: *refused
 * lists an FsbRefusal per owner refused, in the current memory context.
 * FSB_PUSH_AGAIN when it had forgotten the push script (SCRIPT FLUSH): the
 * script is loaded again, and the caller pushes the same entities again.
 * FSB_PUSH_FAILED with *error set when the connection failed or Redis
 * speaks of an outage; close it then.  Unless done, any of the pushes may
 * or may not have been applied: pushing them again is harmless.
 */
FsbPushResult
fsb_redis_wait(FsbRedis *r, List **refused, char **error)
{
	TimestampTz deadline = deadline_after(r->timeout_ms);
	bool		noscript = false;
	char	   *outage = NULL;

	*refused = NIL;
	while (r->nread < r->nowners)
	{
		const void *owner = r->owners[r->nread];
		redisReply *reply = read_reply(r, deadline, error);

		if (reply == NULL)
		{
			rearm_latch(r);
			return FSB_PUSH_FAILED;
		}
		r->nread++;
		if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0)
			noscript = true;
		else if (reply->type == REDIS_REPLY_ERROR && redis_wide_error(reply->str))
			outage = outage ? outage : psprintf("Redis at %s refused a push: %s",
												r->endpoint, reply->str);
		else if (reply->type == REDIS_REPLY_ERROR)
			*refused = add_refusal(*refused, owner, r->endpoint, reply->str);
		freeReplyObject(reply);
	}
	rearm_latch(r);
	r->nowners = r->nread = 0;
	if (outage)
	{
		*error = outage;
		return FSB_PUSH_FAILED;
	}
	if (noscript)
		return load_script(r, deadline_after(r->timeout_ms), error)
			? FSB_PUSH_AGAIN : FSB_PUSH_FAILED;
	return *refused != NIL ? FSB_PUSH_REFUSED : FSB_PUSH_DONE;
}
