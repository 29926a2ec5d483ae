/*-------------------------------------------------------------------------
 *
 * conn.c
 *		Connect as psql does, pin the session, find the extension; run
 *		statements and turn their errors into one line and an exit code.
 *
 * The connection takes -h -p -U -d (a database name or a conninfo string,
 * expanded as psql expands it), --environment (libpq's service=) and the
 * PG* environment variables, and asks for a password on a terminal when the
 * server wants one.
 *
 * The session keeps the user's search_path: the SQL API resolves a feature
 * set's source with it, as it would in psql.  The client's own statements
 * qualify every function, table, view and operator (pg_catalog,
 * fs_backfill, the extension's schema), so that nothing created in a schema
 * on that path is called in their place.
 *
 * Ctrl-C: once fsb_catch_sigint() has run, SIGINT only sets a flag that the
 * caller polls, and cancels the statement running in
 * fsb_query_interruptible(), if any, with PQcancel (safe in a signal
 * handler).  The handler then restores the default, so that a second
 * Ctrl-C ends the client at once.
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/conn.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <signal.h>
#include <unistd.h>

#include "common/logging.h"
#include "common/string.h"

#include "fs_backfill_cli.h"

/* The first line of a libpq message: the rest is advice for psql users. */
static char *
first_line(const char *msg)
{
	size_t		len = strcspn(msg, "\n");

	return pnstrdup(msg, len);
}

static PGconn *
connect_once(const FsbOptions *opts, const char *password)
{
	const char *keywords[8];
	const char *values[8];
	int			n = 0;

	/* the service first, then dbname (expanded), then the explicit flags */
	keywords[n] = "service";
	values[n++] = opts->service;
	keywords[n] = "dbname";
	values[n++] = opts->dbname;
	keywords[n] = "host";
	values[n++] = opts->host;
	keywords[n] = "port";
	values[n++] = opts->port;
	keywords[n] = "user";
	values[n++] = opts->user;
	keywords[n] = "password";
	values[n++] = password;
	keywords[n] = "fallback_application_name";
	values[n++] = "fs-backfill";
	keywords[n] = NULL;
	values[n] = NULL;

	return PQconnectdbParams(keywords, values, true);
}

/* Learn the extension's schema and whether it has the staged-run API. */
static void
find_extension(FsbConn *fc)
{
	PGresult   *res;

	res = fsb_query(fc,
					"SELECT pg_catalog.quote_ident(n.nspname),"
					"       pg_catalog.to_regclass('fs_backfill.run_slices') IS NOT NULL"
					"       AND EXISTS (SELECT FROM pg_catalog.pg_proc p"
					"                    WHERE p.proname OPERATOR(pg_catalog.=) 'fs_backfill_stage'"
					"                      AND p.pronamespace OPERATOR(pg_catalog.=) n.oid)"
					"  FROM pg_catalog.pg_extension e"
					"  JOIN pg_catalog.pg_namespace n"
					"    ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'fs_backfill'",
					0, NULL);
	if (PQntuples(res) == 0)
	{
		pg_log_error("extension \"fs_backfill\" is not installed in database \"%s\"",
					 PQdb(fc->conn));
		if (fc->verbose)
			pg_log_error_hint("Run CREATE EXTENSION fs_backfill in that database, or connect to another one.");
		exit(FSB_EXIT_USAGE);
	}
	fc->schema = pg_strdup(PQgetvalue(res, 0, 0));
	fc->staged_api = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
}

/*
 * Connects, or exits with code 1 after one line saying why.  A password is
 * asked for only when the server wants one and stdin is a terminal.
 */
FsbConn *
fsb_connect(const FsbOptions *opts)
{
	FsbConn    *fc = pg_malloc0(sizeof(FsbConn));
	char	   *password = NULL;

	fc->verbose = opts->verbose;
	for (;;)
	{
		fc->conn = connect_once(opts, password);
		if (fc->conn == NULL)
			pg_fatal("out of memory");
		if (PQstatus(fc->conn) == CONNECTION_OK)
			break;
		if (password == NULL && PQconnectionNeedsPassword(fc->conn) &&
			isatty(fileno(stdin)))
		{
			PQfinish(fc->conn);
			password = simple_prompt("Password: ", false);
			continue;
		}
		pg_log_error("%s", first_line(PQerrorMessage(fc->conn)));
		exit(FSB_EXIT_USAGE);
	}
	if (password)
		free(password);
	find_extension(fc);
	return fc;
}

/*
 * The exit code for an error: the user's to fix (arguments, names, rights,
 * the connection) is 1, a cancelled statement 3, anything else, the
 * operation failing, 2.
 */
static int
exit_code_for(const char *sqlstate)
{
	static const char *const usage_classes[] = {"08", "0A", "22", "28", "2F", "3D", "42"};
	int			i;

	if (sqlstate == NULL)
		return FSB_EXIT_USAGE;	/* the connection is gone */
	if (strcmp(sqlstate, "57014") == 0)
		return FSB_EXIT_CANCELLED;
	for (i = 0; i < lengthof(usage_classes); i++)
		if (strncmp(sqlstate, usage_classes[i], 2) == 0)
			return FSB_EXIT_USAGE;
	return FSB_EXIT_FAILED;
}

/*
 * Prints a failed statement's error on one line (with --verbose also its
 * detail, hint and SQLSTATE) and returns the exit code it calls for.
 */
int
fsb_report_error(FsbConn *fc, const PGresult *res)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (msg == NULL)
		msg = first_line(PQerrorMessage(fc->conn));
	pg_log_error("%s", msg);
	if (fc->verbose && res)
	{
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

		if (detail)
			pg_log_error_detail("%s", detail);
		if (hint)
			pg_log_error_hint("%s", hint);
		if (state)
			pg_log_error_detail("SQLSTATE %s", state);
	}
	return exit_code_for(state);
}

/* True for a statement that succeeded */
bool
fsb_ok(const PGresult *res)
{
	return res && (PQresultStatus(res) == PGRES_TUPLES_OK ||
				   PQresultStatus(res) == PGRES_COMMAND_OK);
}

/* Runs a statement; the caller checks fsb_ok() and reports any error. */
PGresult *
fsb_query_try(FsbConn *fc, const char *sql, int nparams, const char *const *values)
{
	return PQexecParams(fc->conn, sql, nparams, NULL, values, NULL, NULL, 0);
}

/* Runs a statement, or reports its error and exits. */
PGresult *
fsb_query(FsbConn *fc, const char *sql, int nparams, const char *const *values)
{
	PGresult   *res = fsb_query_try(fc, sql, nparams, values);

	if (!fsb_ok(res))
		exit(fsb_report_error(fc, res));
	return res;
}

/* Exits with one line when the installed extension predates staged runs. */
void
fsb_require_staged_api(FsbConn *fc)
{
	if (fc->staged_api)
		return;
	pg_log_error("the installed fs_backfill has no staged runs (no function fs_backfill_stage, no table fs_backfill.run_slices)");
	if (fc->verbose)
		pg_log_error_hint("Update the extension with ALTER EXTENSION fs_backfill UPDATE.");
	exit(FSB_EXIT_USAGE);
}

static volatile sig_atomic_t interrupted = false;
static PGcancel *volatile running_cancel = NULL;

static void
handle_sigint(SIGNAL_ARGS)
{
	int			save_errno = errno;
	char		errbuf[256];

	interrupted = true;
	if (running_cancel != NULL)
		(void) PQcancel(running_cancel, errbuf, sizeof(errbuf));
	signal(SIGINT, SIG_DFL);
	errno = save_errno;
}

void
fsb_catch_sigint(void)
{
	pqsignal(SIGINT, handle_sigint);
}

/* True once Ctrl-C was pressed */
bool
fsb_interrupted(void)
{
	return interrupted;
}

/* As fsb_query_try, but Ctrl-C cancels the statement. */
PGresult *
fsb_query_interruptible(FsbConn *fc, const char *sql, int nparams,
						const char *const *values)
{
	PGcancel   *cancel = PQgetCancel(fc->conn);
	PGresult   *res;

	running_cancel = cancel;
	res = fsb_query_try(fc, sql, nparams, values);
	running_cancel = NULL;
	PQfreeCancel(cancel);
	return res;
}

/*
 * Runs a statement that may take long (a plan, a publish, a catch-up) with
 * Ctrl-C cancelling it: exits 3 when it was cancelled, and as fsb_query on
 * any other error.
 */
PGresult *
fsb_query_interruptible_or_exit(FsbConn *fc, const char *sql, int nparams,
								const char *const *values)
{
	PGresult   *res;

	fsb_catch_sigint();
	res = fsb_query_interruptible(fc, sql, nparams, values);
	if (fsb_ok(res))
		return res;
	if (fsb_interrupted())
	{
		pg_log_error("cancelled; nothing was changed");
		exit(FSB_EXIT_CANCELLED);
	}
	exit(fsb_report_error(fc, res));
}
