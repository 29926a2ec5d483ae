/*-------------------------------------------------------------------------
 *
 * backfill.c
 *		backfill: stage a run (fs_backfill_stage, SPEC section 8), then
 *		print its id (--detach) or follow it (follow.c); --dry-run prints
 *		the plan instead.
 *
 * The call names only the options given, so the SQL API's defaults stand
 * for the others.  Ctrl-C while the call itself runs cancels it: nothing is
 * staged, and the client exits 3.
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/backfill.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/logging.h"

#include "fs_backfill_cli.h"

/* Appends ", name => $n::type" to the call when value is given. */
static void
add_arg(PQExpBuffer sql, const char **params, int *n, const char *value,
		const char *name, const char *type)
{
	if (value == NULL)
		return;
	params[(*n)++] = value;
	appendPQExpBuffer(sql, ", %s => $%d::%s", name, *n, type);
}

/*
 * Builds the fs_backfill_stage call in named notation, with the options
 * given only: the SQL API's defaults stand for the others.  The bounds are
 * text, so the call takes the text form (SPEC section 2's time forms).
 */
static char *
stage_call(FsbConn *fc, const FsbOptions *opts, const char **params, int *nparams)
{
	PQExpBuffer sql = createPQExpBuffer();
	int			n = 0;

	appendPQExpBuffer(sql, "SELECT %s.fs_backfill_stage(feature_set => $1::pg_catalog.text",
					  fc->schema);
	params[n++] = opts->feature_set;
	add_arg(sql, params, &n, opts->start_time, "start_time", "pg_catalog.text");
	add_arg(sql, params, &n, opts->stop_time, "stop_time", "pg_catalog.text");
	add_arg(sql, params, &n, opts->reset ? "true" : NULL, "reset", "pg_catalog.bool");
	add_arg(sql, params, &n, opts->profile, "resource_profile", "pg_catalog.text");
	add_arg(sql, params, &n, opts->comment, "comment", "pg_catalog.text");
	add_arg(sql, params, &n, opts->parallel > 0 ? psprintf("%d", opts->parallel) : NULL,
			"parallel", "pg_catalog.int4");
	add_arg(sql, params, &n, opts->publish, "publish", "pg_catalog.text");
	appendPQExpBufferStr(sql, ")");
	*nparams = n;
	return sql->data;
}

/*
 * backfill: --dry-run prints the plan; otherwise stage the run, then print
 * its id (--detach) or follow it.
 */
int
fsb_backfill(FsbConn *fc, const FsbOptions *opts)
{
	const char *params[8];
	int			nparams;
	char	   *sql;
	PGresult   *res;
	char	   *run_id;

	if (opts->dry_run)
		return fsb_cmd_plan(fc, opts);
	fsb_require_staged_api(fc);

	sql = stage_call(fc, opts, params, &nparams);
	fsb_catch_sigint();
	res = fsb_query_interruptible(fc, sql, nparams, params);
	if (!fsb_ok(res))
	{
		if (fsb_interrupted())
		{
			pg_log_error("cancelled before the run was staged; nothing was changed");
			exit(FSB_EXIT_CANCELLED);
		}
		exit(fsb_report_error(fc, res));
	}
	run_id = pg_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);

	if (opts->json)
		printf("{\"event\":\"staged\",\"run_id\":%s}\n", run_id);
	else if (opts->detach)
		printf("%s\n", run_id);
	fflush(stdout);
	if (opts->detach)
		return FSB_EXIT_OK;
	return fsb_follow(fc, opts, run_id, false);
}
