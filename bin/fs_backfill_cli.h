/*-------------------------------------------------------------------------
 *
 * fs_backfill_cli.h
 *		Shared declarations of fs-backfill, the command-line client of
 *		fs_backfill (SPEC section 9): options, exit codes, and the functions
 *		each file exports.
 *
 * The client calls only the SQL API, and reads only the extension's tables
 * and views.  Every statement it sends names the schema of each function
 * and table it uses (conn.c says why the search_path stays the user's).
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/fs_backfill_cli.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FS_BACKFILL_CLI_H
#define FS_BACKFILL_CLI_H

#include "libpq-fe.h"
#include "pqexpbuffer.h"

/* Exit codes (SPEC section 9) */
#define FSB_EXIT_OK			0	/* published, or the plan or table printed */
#define FSB_EXIT_USAGE		1	/* usage, connection or argument error */
#define FSB_EXIT_FAILED		2	/* the run (or the operation) failed */
#define FSB_EXIT_CANCELLED	3	/* cancelled */
#define FSB_EXIT_STAGED		4	/* staged, waiting for a manual publish */

/* What the command line asked for */
typedef struct FsbOptions
{
	/* connection */
	const char *host;
	const char *port;
	const char *user;
	const char *dbname;			/* a database name or a conninfo string */
	const char *service;		/* --environment: a pg_service.conf entry */

	/* the command and its arguments */
	const char *command;
	const char *arg;			/* RUN_ID or NAME, when the command takes one */
	const char *feature_set;
	const char *start_time;
	const char *stop_time;
	bool		reset;
	const char *profile;		/* --cluster-template */
	const char *comment;
	int			parallel;		/* 0: the SQL API's default */
	const char *publish;		/* NULL: the SQL API's default ('auto') */
	bool		dry_run;
	bool		detach;
	bool		json;
	int			limit;
	bool		verbose;
} FsbOptions;

/* A connection and what the client learnt about the database */
typedef struct FsbConn
{
	PGconn	   *conn;
	char	   *schema;			/* the extension's schema, quoted */
	bool		staged_api;		/* fs_backfill_stage and run_slices exist */
	bool		verbose;
} FsbConn;

/* conn.c */
extern FsbConn *fsb_connect(const FsbOptions *opts);
extern PGresult *fsb_query(FsbConn *fc, const char *sql, int nparams,
						   const char *const *values);
extern PGresult *fsb_query_try(FsbConn *fc, const char *sql, int nparams,
							   const char *const *values);
extern bool fsb_ok(const PGresult *res);
extern int	fsb_report_error(FsbConn *fc, const PGresult *res);
extern void fsb_require_staged_api(FsbConn *fc);
extern void fsb_catch_sigint(void);
extern bool fsb_interrupted(void);
extern PGresult *fsb_query_interruptible(FsbConn *fc, const char *sql,
										 int nparams, const char *const *values);
extern PGresult *fsb_query_interruptible_or_exit(FsbConn *fc, const char *sql,
												 int nparams,
												 const char *const *values);

/* output.c */
extern void fsb_print_result(FsbConn *fc, const PGresult *res,
							 const char *title, bool expanded, bool json);
extern void fsb_json_string(PQExpBuffer buf, const char *s);
extern void fsb_json_value(PQExpBuffer buf, const char *key, const char *s,
						   bool numeric);

/* bar.c */
typedef struct FsbProgress
{
	int			done;			/* slices staged */
	int			total;			/* slices of the run */
	long long	rows;			/* rows staged */
	double		elapsed;		/* seconds since the run was staged */
	const char *phase;			/* the run's status */
} FsbProgress;

extern void fsb_bar_draw(const FsbProgress *p);
extern void fsb_bar_finish(const FsbProgress *p);
extern void fsb_bar_clear(void);
extern void fsb_format_duration(char *buf, size_t len, double seconds);

/* backfill.c */
extern int	fsb_backfill(FsbConn *fc, const FsbOptions *opts);

/* follow.c */
extern int	fsb_follow(FsbConn *fc, const FsbOptions *opts, const char *run_id,
					   bool resumed);

/* commands.c */
extern int	fsb_cmd_plan(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_status(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_runs(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_publish(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_cancel(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_resume(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_catchup(FsbConn *fc, const FsbOptions *opts);
extern int	fsb_cmd_online(FsbConn *fc, const FsbOptions *opts);

#endif							/* FS_BACKFILL_CLI_H */
