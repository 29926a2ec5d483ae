/*-------------------------------------------------------------------------
 *
 * follow.c
 *		Follow a staged run (SPEC section 8) to its end: for backfill and
 *		resume.
 *
 * Following polls fs_backfill.runs and fs_backfill.run_slices every
 * FOLLOW_POLL_MS and shows what changed: on a terminal the bar on stderr
 * (bar.c), otherwise one line per finished slice on stderr, and with --json
 * one object per event on stdout instead.  The result goes to stdout and
 * the exit code says how the run ended: 0 published, 2 failed, 3 cancelled,
 * 4 staged and waiting for a manual publish.
 *
 * Ctrl-C (conn.c's SIGINT handler sets a flag): the loop sees the flag,
 * calls fs_backfill_cancel, waits until the run says cancelled and exits 3.
 * A second Ctrl-C ends the client at once; the run is being cancelled by
 * then.
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/follow.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <time.h>
#include <unistd.h>

#include "common/logging.h"

#include "fs_backfill_cli.h"

#define FOLLOW_POLL_MS		200
#define CANCEL_WAIT_SECONDS	60

/* Columns of the slices query (poll_slices) */
enum
{
	COL_SLICE, COL_STATUS, COL_ROWS, COL_PARTITION, COL_START, COL_STOP,
	COL_STRATEGY, COL_ATTEMPTS, COL_ERROR, COL_SECONDS
};

/* What following has seen of the run so far */
typedef struct FollowState
{
	const char *run_id;
	bool		bar;			/* draw the bar on stderr */
	bool		lines;			/* a line per finished slice on stderr */
	bool		json;			/* events on stdout */
	bool		quiet;			/* show no slice (the first poll of a resume) */
	bool		manual;			/* the run waits at staged for a publish */
	bool	   *reported;		/* per slice: its end was shown */
	int			nreported;
	char	   *status;			/* the run's status at the last poll */
	bool		status_changed; /* by the last poll */
	char	   *failure;		/* the first failed slice's error, now */
	char	   *run_error;		/* why the run failed (staged_runs.error) */
	FsbProgress progress;
	double		t0;
} FollowState;

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Prints one JSON event on stdout: {"event": name, "run_id": N, ...more} */
static void
emit_event(const FollowState *st, const char *event, const char *more)
{
	printf("{\"event\":\"%s\",\"run_id\":%s%s%s}\n", event, st->run_id,
		   more && *more ? "," : "", more ? more : "");
	fflush(stdout);
}

/* A field, or NULL for SQL NULL */
static const char *
field(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

/* Shows the end of one slice: an event, or a line on stderr. */
static void
report_slice(FollowState *st, const PGresult *res, int r)
{
	const char *slice = PQgetvalue(res, r, COL_SLICE);
	const char *status = PQgetvalue(res, r, COL_STATUS);
	const char *partition = field(res, r, COL_PARTITION);
	const char *error = field(res, r, COL_ERROR);

	if (st->quiet)
		return;
	if (st->json)
	{
		PQExpBuffer buf = createPQExpBuffer();

		appendPQExpBufferChar(buf, '{');
		fsb_json_value(buf, "slice", slice, true);
		fsb_json_value(buf, "slices", psprintf("%d", PQntuples(res)), true);
		fsb_json_value(buf, "status", status, false);
		fsb_json_value(buf, "partition", partition, false);
		fsb_json_value(buf, "slice_start", field(res, r, COL_START), false);
		fsb_json_value(buf, "slice_stop", field(res, r, COL_STOP), false);
		fsb_json_value(buf, "strategy", field(res, r, COL_STRATEGY), false);
		fsb_json_value(buf, "rows", field(res, r, COL_ROWS), true);
		fsb_json_value(buf, "attempts", field(res, r, COL_ATTEMPTS), true);
		fsb_json_value(buf, "seconds", field(res, r, COL_SECONDS), true);
		fsb_json_value(buf, "error", error, false);
		emit_event(st, "slice", buf->data + 1);
		destroyPQExpBuffer(buf);
	}
	else if (st->lines)
	{
		fprintf(stderr, "run %s: slice %s/%d [%s, %s)%s%s: %s",
				st->run_id, slice, PQntuples(res), PQgetvalue(res, r, COL_START),
				PQgetvalue(res, r, COL_STOP), partition ? " " : "",
				partition ? partition : "", status);
		if (error)
			fprintf(stderr, ": %s\n", error);
		else
			fprintf(stderr, ", %s rows, %s s\n",
					field(res, r, COL_ROWS) ? PQgetvalue(res, r, COL_ROWS) : "0",
					field(res, r, COL_SECONDS) ? PQgetvalue(res, r, COL_SECONDS) : "?");
	}
}

/* Reads the slices, shows the ones that ended since the last poll. */
static void
poll_slices(FsbConn *fc, FollowState *st)
{
	const char *params[1] = {st->run_id};
	PGresult   *res;
	int			r;

	res = fsb_query(fc,
					"SELECT s.slice, s.status, s.rows, s.partition::text,"
					"       pg_catalog.to_char(s.slice_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
					"       pg_catalog.to_char(s.slice_stop AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
					"       s.strategy, s.attempts, s.error,"
					"       pg_catalog.round(EXTRACT(epoch FROM s.finished_at OPERATOR(pg_catalog.-) s.started_at), 3)"
					"  FROM fs_backfill.run_slices s"
					" WHERE s.run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
					" ORDER BY s.slice",
					1, params);
	if (PQntuples(res) > st->nreported)
	{
		st->reported = pg_realloc(st->reported, PQntuples(res) * sizeof(bool));
		memset(st->reported + st->nreported, 0,
			   (PQntuples(res) - st->nreported) * sizeof(bool));
		st->nreported = PQntuples(res);
	}
	st->failure = NULL;
	st->progress.total = PQntuples(res);
	st->progress.done = 0;
	st->progress.rows = 0;
	for (r = 0; r < PQntuples(res); r++)
	{
		const char *status = PQgetvalue(res, r, COL_STATUS);
		bool		ended = strcmp(status, "pending") != 0 && strcmp(status, "building") != 0;
		bool		staged = ended && strcmp(status, "failed") != 0 &&
			strcmp(status, "cancelled") != 0;

		if (staged)
		{
			st->progress.done++;
			if (field(res, r, COL_ROWS))
				st->progress.rows += atoll(PQgetvalue(res, r, COL_ROWS));
		}
		if (ended && !st->reported[r])
			report_slice(st, res, r);
		/* a slice that failed and is retried is shown again when it ends */
		st->reported[r] = ended;
		if (strcmp(status, "failed") == 0 && field(res, r, COL_ERROR) && st->failure == NULL)
			st->failure = psprintf("slice %s: %s", PQgetvalue(res, r, COL_SLICE),
								   PQgetvalue(res, r, COL_ERROR));
	}
	PQclear(res);
}

/* Reads the run's status; exits 1 when the run is not there. */
static void
poll_run(FsbConn *fc, FollowState *st)
{
	const char *params[1] = {st->run_id};
	PGresult   *res;
	char	   *status;

	res = fsb_query(fc,
					"SELECT r.status, sr.publish, sr.error"
					"  FROM fs_backfill.runs r"
					"  LEFT JOIN fs_backfill.staged_runs sr ON sr.run_id OPERATOR(pg_catalog.=) r.run_id"
					" WHERE r.run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
					1, params);
	if (PQntuples(res) == 0)
	{
		fsb_bar_clear();
		pg_log_error("run %s does not exist", st->run_id);
		exit(FSB_EXIT_USAGE);
	}
	status = pg_strdup(PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1))
		st->manual = strcmp(PQgetvalue(res, 0, 1), "manual") == 0;
	if (!PQgetisnull(res, 0, 2))
		st->run_error = pg_strdup(PQgetvalue(res, 0, 2));
	PQclear(res);

	st->status_changed = st->status == NULL || strcmp(st->status, status) != 0;
	st->status = status;
	st->progress.phase = status;
}

/*
 * Polls the run, then its slices (so that every slice that ended before
 * the run did is seen), and shows the slices that ended, then the run's
 * new status.
 */
static void
poll(FsbConn *fc, FollowState *st)
{
	poll_run(fc, st);
	poll_slices(fc, st);
	st->progress.elapsed = now_seconds() - st->t0;
	if (!st->status_changed)
		return;
	if (st->json)
		emit_event(st, "status", psprintf("\"status\":\"%s\"", st->status));
	else if (st->lines)
		fprintf(stderr, "run %s: %s\n", st->run_id, st->status);
}

static void
emit_finished(FollowState *st, int code)
{
	PQExpBuffer buf = createPQExpBuffer();

	appendPQExpBufferChar(buf, '{');
	fsb_json_value(buf, "status", st->status, false);
	fsb_json_value(buf, "slices_done", psprintf("%d", st->progress.done), true);
	fsb_json_value(buf, "slices", psprintf("%d", st->progress.total), true);
	fsb_json_value(buf, "rows", psprintf("%lld", st->progress.rows), true);
	fsb_json_value(buf, "seconds", psprintf("%.3f", st->progress.elapsed), true);
	fsb_json_value(buf, "error", st->failure ? st->failure : st->run_error, false);
	fsb_json_value(buf, "exit_code", psprintf("%d", code), true);
	emit_event(st, "finished", buf->data + 1);
	destroyPQExpBuffer(buf);
}

/*
 * The run has ended (or waits for a publish): says how, returns the exit
 * code.  -1 while it goes on.
 */
static int
ended(FollowState *st)
{
	const char *s = st->status;
	int			code;
	char		took[16];

	if (strcmp(s, "succeeded") == 0)
	{
		st->progress.done = st->progress.total;
		code = FSB_EXIT_OK;
	}
	else if (strcmp(s, "staged") == 0 && st->manual)
		code = FSB_EXIT_STAGED;
	else if (strcmp(s, "failed") == 0)
		code = FSB_EXIT_FAILED;
	else if (strcmp(s, "cancelled") == 0)
		code = FSB_EXIT_CANCELLED;
	else
		return -1;

	if (st->bar)
	{
		if (code == FSB_EXIT_OK || code == FSB_EXIT_STAGED)
			fsb_bar_finish(&st->progress);
		else
			fsb_bar_clear();
	}
	if (st->json)
	{
		emit_finished(st, code);
		return code;
	}
	fsb_format_duration(took, sizeof(took), st->progress.elapsed);
	if (code == FSB_EXIT_OK)
		printf("run %s succeeded: %d slices, %lld rows in %s\n",
			   st->run_id, st->progress.total, st->progress.rows, took);
	else if (code == FSB_EXIT_STAGED)
		printf("run %s staged: %d slices, %lld rows; publish it with: fs-backfill publish %s\n",
			   st->run_id, st->progress.total, st->progress.rows, st->run_id);
	else if (code == FSB_EXIT_FAILED)
	{
		const char *why = st->failure ? st->failure : st->run_error;

		pg_log_error("run %s failed%s%s", st->run_id, why ? ": " : "", why ? why : "");
		pg_log_error_hint("Fix the cause and resume it with \"fs-backfill resume %s\", or cancel it with \"fs-backfill cancel %s\": until then it holds its interval.",
						  st->run_id, st->run_id);
	}
	else
		pg_log_info("run %s cancelled", st->run_id);
	fflush(stdout);
	return code;
}

/* Ctrl-C: cancel the run, wait until it says so, return the exit code. */
static int
cancel_run(FsbConn *fc, FollowState *st)
{
	const char *params[1] = {st->run_id};
	char	   *sql;
	double		deadline = now_seconds() + CANCEL_WAIT_SECONDS;
	int			code;

	if (st->bar)
		fsb_bar_clear();
	if (st->json)
		emit_event(st, "cancel", NULL);
	else
		pg_log_info("cancelling run %s", st->run_id);
	sql = psprintf("SELECT %s.fs_backfill_cancel($1::pg_catalog.int8)", fc->schema);
	PQclear(fsb_query(fc, sql, 1, params));

	st->bar = false;
	while ((code = ended(st)) < 0)
	{
		if (now_seconds() > deadline)
		{
			pg_log_error("run %s is still %s %d s after it was cancelled",
						 st->run_id, st->status, CANCEL_WAIT_SECONDS);
			return FSB_EXIT_FAILED;
		}
		pg_usleep(FOLLOW_POLL_MS * 1000L);
		poll(fc, st);
	}
	return code;
}

/*
 * Follows a run until it ends; returns the exit code.  resumed: the slices
 * that ended before are counted, not shown again.
 */
int
fsb_follow(FsbConn *fc, const FsbOptions *opts, const char *run_id, bool resumed)
{
	FollowState st = {0};
	int			code;

	st.run_id = run_id;
	st.json = opts->json;
	st.bar = !st.json && isatty(fileno(stderr));
	st.lines = !st.json && !st.bar;
	st.manual = opts->publish && strcmp(opts->publish, "manual") == 0;
	st.t0 = now_seconds();
	fsb_catch_sigint();
	if (resumed)
	{
		/* the slices staged before are counted, not shown */
		st.quiet = true;
		poll_slices(fc, &st);
		st.quiet = false;
	}
	for (;;)
	{
		poll(fc, &st);
		if ((code = ended(&st)) >= 0)
			return code;
		if (fsb_interrupted())
			return cancel_run(fc, &st);
		if (st.bar)
			fsb_bar_draw(&st.progress);
		pg_usleep(FOLLOW_POLL_MS * 1000L);
		if (fsb_interrupted())
			return cancel_run(fc, &st);
	}
}
