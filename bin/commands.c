/*-------------------------------------------------------------------------
 *
 * commands.c
 *		The commands other than backfill: plan, status, runs, publish,
 *		cancel, resume, catchup, online.
 *
 * Each one is a call of the SQL API or a read of the extension's tables
 * and views, printed as a table (or JSON lines with --json).  What a role
 * may see is what the catalog's row-level security shows it: a run of a
 * feature set it may not see "does not exist".
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/commands.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"

#include "fs_backfill_cli.h"

/* Prints a result and frees it. */
static void
print_and_clear(FsbConn *fc, PGresult *res, const char *title, bool expanded,
				bool json)
{
	fsb_print_result(fc, res, title, expanded, json);
	PQclear(res);
}

/*
 * Runs a statement with one parameter that returns the object named by
 * "what" (for this role); exits 1 saying it does not exist when it returns
 * no row.
 */
static PGresult *
query_object(FsbConn *fc, const char *sql, const char *param, const char *what)
{
	const char *params[1] = {param};
	PGresult   *res = fsb_query(fc, sql, 1, params);

	if (PQntuples(res) == 0)
	{
		pg_log_error("%s does not exist", what);
		exit(FSB_EXIT_USAGE);
	}
	return res;
}

/* The run's status, or exits 1 when there is no such run (for this role). */
static char *
run_status(FsbConn *fc, const char *run_id)
{
	PGresult   *res;
	char	   *status;

	res = query_object(fc, "SELECT status FROM fs_backfill.runs"
					   " WHERE run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
					   run_id, psprintf("run %s", run_id));
	status = pg_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return status;
}

/* Prints one line, or {"run_id": N, "status": S} with --json. */
static void
say_run(const FsbOptions *opts, const char *run_id, const char *status,
		const char *text)
{
	if (opts->json)
		printf("{\"run_id\":%s,\"status\":\"%s\"}\n", run_id, status);
	else
		printf("%s\n", text);
	fflush(stdout);
}

/* plan (and backfill --dry-run): fs_backfill_plan, changing nothing */
int
fsb_cmd_plan(FsbConn *fc, const FsbOptions *opts)
{
	const char *params[4] = {opts->feature_set, opts->start_time, opts->stop_time,
	opts->reset ? "true" : "false"};
	char	   *sql;
	char	   *title;

	sql = psprintf("SELECT * FROM %s.fs_backfill_plan($1::pg_catalog.text,"
				   " $2::pg_catalog.text, $3::pg_catalog.text, $4::pg_catalog.bool)",
				   fc->schema);
	title = psprintf("Plan of a backfill of feature set \"%s\"", opts->feature_set);
	print_and_clear(fc, fsb_query_interruptible_or_exit(fc, sql, 4, params),
					title, false, opts->json);
	return FSB_EXIT_OK;
}

/* status RUN_ID: the run, and its slices (or, for a serial run, partitions) */
static int
status_of_run(FsbConn *fc, const FsbOptions *opts)
{
	const char *params[1] = {opts->arg};
	PGresult   *res;
	char	   *title;

	res = query_object(fc, "SELECT * FROM fs_backfill.runs"
					   " WHERE run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
					   opts->arg, psprintf("run %s", opts->arg));
	title = psprintf("Run %s", opts->arg);
	print_and_clear(fc, res, opts->json ? NULL : title, !opts->json, opts->json);

	res = NULL;
	if (fc->staged_api)
	{
		res = fsb_query(fc,
						"SELECT slice, partition, slice_start, slice_stop, strategy, status,"
						"       attempts, rows, finished_at OPERATOR(pg_catalog.-) started_at AS took, error"
						"  FROM fs_backfill.run_slices WHERE run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
						" ORDER BY slice", 1, params);
		if (PQntuples(res) == 0)
		{
			PQclear(res);
			res = NULL;
		}
	}
	if (res == NULL)
		res = fsb_query(fc,
						"SELECT partition, slice_start, slice_stop, strategy, rows_before,"
						"       rows_after, duration"
						"  FROM fs_backfill.run_partitions WHERE run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
						" ORDER BY slice_start, partition::pg_catalog.oid", 1, params);
	if (!opts->json)
		printf("\n");
	print_and_clear(fc, res, opts->json ? NULL : "Slices", false, opts->json);
	return FSB_EXIT_OK;
}

/* status: the staged runs not finished, and the backfills running now */
int
fsb_cmd_status(FsbConn *fc, const FsbOptions *opts)
{
	PGresult   *res;
	char	   *sql;

	if (opts->arg)
		return status_of_run(fc, opts);
	if (fc->staged_api)
	{
		res = fsb_query(fc,
						"SELECT r.run_id, r.feature_set, r.status, r.started_at,"
						"       pg_catalog.count(s.slice) FILTER (WHERE s.status OPERATOR(pg_catalog.=) 'staged') AS staged,"
						"       pg_catalog.count(s.slice) AS slices,"
						"       pg_catalog.sum(s.rows) FILTER (WHERE s.status OPERATOR(pg_catalog.=) 'staged') AS rows,"
						"       r.run_by, r.comment"
						"  FROM fs_backfill.runs r"
						"  LEFT JOIN fs_backfill.run_slices s ON s.run_id OPERATOR(pg_catalog.=) r.run_id"
						" WHERE r.finished_at IS NULL"
						" GROUP BY r.run_id ORDER BY r.run_id", 0, NULL);
		print_and_clear(fc, res, opts->json ? NULL : "Staged runs not finished",
						false, opts->json);
		if (!opts->json)
			printf("\n");
	}
	sql = psprintf("SELECT * FROM %s.fs_backfill_progress() ORDER BY run_id, pid",
				   fc->schema);
	res = fsb_query_try(fc, sql, 0, NULL);
	if (!fsb_ok(res))
		return fsb_report_error(fc, res);
	print_and_clear(fc, res, opts->json ? NULL : "Backfills in progress", false,
					opts->json);
	return FSB_EXIT_OK;
}

/* runs [--feature-set NAME] [--limit N]: the latest runs, newest first */
int
fsb_cmd_runs(FsbConn *fc, const FsbOptions *opts)
{
	char	   *limit = psprintf("%d", opts->limit);
	const char *params[2] = {opts->feature_set, limit};
	PGresult   *res;

	if (opts->feature_set)
		PQclear(query_object(fc, "SELECT FROM fs_backfill.feature_sets"
							 " WHERE name OPERATOR(pg_catalog.=) $1::pg_catalog.text",
							 opts->feature_set,
							 psprintf("feature set \"%s\"", opts->feature_set)));
	res = fsb_query(fc,
					"SELECT run_id, feature_set, status, start_time, stop_time, reset,"
					"       partitions, rows_deleted, rows_inserted, started_at,"
					"       finished_at OPERATOR(pg_catalog.-) started_at AS took, run_by, comment"
					"  FROM fs_backfill.runs"
					" WHERE $1::pg_catalog.text IS NULL OR feature_set OPERATOR(pg_catalog.=) $1"
					" ORDER BY run_id DESC LIMIT $2::pg_catalog.int8", 2, params);
	print_and_clear(fc, res, opts->json ? NULL : "Runs", false, opts->json);
	return FSB_EXIT_OK;
}

/* Calls fs_backfill_<fn>(run_id) and returns its result as text. */
static char *
call_on_run(FsbConn *fc, const char *fn, const char *run_id)
{
	const char *params[1] = {run_id};
	char	   *sql = psprintf("SELECT %s.%s($1::pg_catalog.int8)", fc->schema, fn);
	PGresult   *res = fsb_query_interruptible_or_exit(fc, sql, 1, params);
	char	   *value = pg_strdup(PQgetvalue(res, 0, 0));

	PQclear(res);
	return value;
}

/* publish RUN_ID */
int
fsb_cmd_publish(FsbConn *fc, const FsbOptions *opts)
{
	call_on_run(fc, "fs_backfill_publish", opts->arg);
	say_run(opts, opts->arg, run_status(fc, opts->arg),
			psprintf("run %s published", opts->arg));
	return FSB_EXIT_OK;
}

/* cancel RUN_ID: a run that already ended is left as it is (exit 0) */
int
fsb_cmd_cancel(FsbConn *fc, const FsbOptions *opts)
{
	bool		cancelled = strcmp(call_on_run(fc, "fs_backfill_cancel", opts->arg), "t") == 0;
	char	   *status = run_status(fc, opts->arg);

	say_run(opts, opts->arg, status,
			cancelled ? psprintf("run %s cancelled", opts->arg) :
			psprintf("run %s is %s: nothing to cancel", opts->arg, status));
	return FSB_EXIT_OK;
}

/* resume RUN_ID: restart a failed run, then follow it unless --detach */
int
fsb_cmd_resume(FsbConn *fc, const FsbOptions *opts)
{
	bool		resumed;

	fsb_require_staged_api(fc);
	resumed = strcmp(call_on_run(fc, "fs_backfill_resume", opts->arg), "t") == 0;
	if (!resumed)
	{
		char	   *status = run_status(fc, opts->arg);

		pg_log_error("run %s is %s: nothing to resume", opts->arg, status);
		return FSB_EXIT_USAGE;
	}
	if (opts->json)
		printf("{\"event\":\"resumed\",\"run_id\":%s}\n", opts->arg);
	else if (opts->detach)
		printf("run %s resumed\n", opts->arg);
	fflush(stdout);
	if (opts->detach)
		return FSB_EXIT_OK;
	return fsb_follow(fc, opts, opts->arg, true);
}

/* catchup NAME: fs_backfill_catchup, a serial run in this session */
int
fsb_cmd_catchup(FsbConn *fc, const FsbOptions *opts)
{
	const char *params[1] = {opts->arg};
	char	   *sql = psprintf("SELECT %s.fs_backfill_catchup($1::pg_catalog.text)", fc->schema);
	PGresult   *res = fsb_query_interruptible_or_exit(fc, sql, 1, params);
	bool		up_to_date = PQgetisnull(res, 0, 0);
	char	   *run_id = up_to_date ? NULL : pg_strdup(PQgetvalue(res, 0, 0));

	PQclear(res);
	if (opts->json)
	{
		PQExpBuffer buf = createPQExpBuffer();

		appendPQExpBufferChar(buf, '{');
		fsb_json_value(buf, "feature_set", opts->arg, false);
		fsb_json_value(buf, "run_id", run_id, true);
		printf("%s}\n", buf->data);
		destroyPQExpBuffer(buf);
	}
	else if (up_to_date)
		printf("feature set \"%s\" is up to date\n", opts->arg);
	else
		printf("run %s caught feature set \"%s\" up\n", run_id, opts->arg);
	return FSB_EXIT_OK;
}

/* online: the online cache per feature set, and the worker */
int
fsb_cmd_online(FsbConn *fc, const FsbOptions *opts)
{
	PGresult   *res;

	res = fsb_query(fc, "SELECT * FROM fs_backfill.online_status ORDER BY feature_set",
					0, NULL);
	print_and_clear(fc, res, opts->json ? NULL : "Online cache", false, opts->json);
	if (!opts->json)
		printf("\n");
	res = fsb_query(fc, "SELECT * FROM fs_backfill.worker_status()", 0, NULL);
	print_and_clear(fc, res, opts->json ? NULL : "Online worker", !opts->json, opts->json);
	return FSB_EXIT_OK;
}
