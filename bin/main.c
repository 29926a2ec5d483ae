/*-------------------------------------------------------------------------
 *
 * main.c
 *		fs-backfill: parse the command line, connect, run one command.
 *
 * Options may come before or after the command (getopt permutes them);
 * each command accepts only the options that mean something to it, and a
 * usage error exits with code 1 before anything connects.
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/main.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <errno.h>
#include <limits.h>

#include "common/logging.h"
#include "fe_utils/option_utils.h"
#include "getopt_long.h"

#include "fs_backfill_cli.h"

/* Command options, as bits: which ones a command accepts */
#define OPT_FEATURE_SET	(1 << 0)
#define OPT_START		(1 << 1)
#define OPT_STOP		(1 << 2)
#define OPT_RESET		(1 << 3)
#define OPT_PROFILE		(1 << 4)
#define OPT_COMMENT		(1 << 5)
#define OPT_PARALLEL	(1 << 6)
#define OPT_PUBLISH		(1 << 7)
#define OPT_DRY_RUN		(1 << 8)
#define OPT_DETACH		(1 << 9)
#define OPT_LIMIT		(1 << 10)

typedef int (*FsbCommandFn) (FsbConn *fc, const FsbOptions *opts);

typedef struct FsbCommand
{
	const char *name;
	int			accepts;		/* OPT_* bits; --json goes with every one */
	int			min_args;
	int			max_args;
	bool		arg_is_run_id;
	FsbCommandFn fn;
} FsbCommand;

static const FsbCommand commands[] = {
	{"backfill", OPT_FEATURE_SET | OPT_START | OPT_STOP | OPT_RESET | OPT_PROFILE |
	 OPT_COMMENT | OPT_PARALLEL | OPT_PUBLISH | OPT_DRY_RUN | OPT_DETACH, 0, 0, false,
	fsb_backfill},
	{"plan", OPT_FEATURE_SET | OPT_START | OPT_STOP | OPT_RESET, 0, 0, false, fsb_cmd_plan},
	{"status", 0, 0, 1, true, fsb_cmd_status},
	{"runs", OPT_FEATURE_SET | OPT_LIMIT, 0, 0, false, fsb_cmd_runs},
	{"publish", 0, 1, 1, true, fsb_cmd_publish},
	{"cancel", 0, 1, 1, true, fsb_cmd_cancel},
	{"resume", OPT_DETACH, 1, 1, true, fsb_cmd_resume},
	{"catchup", OPT_FEATURE_SET, 0, 1, false, fsb_cmd_catchup},
	{"online", 0, 0, 0, false, fsb_cmd_online},
	{NULL}
};

static const char *progname;

static void
usage(void)
{
	printf("%s backfills feature sets of fs_backfill and follows their runs.\n\n", progname);
	printf("Usage:\n");
	printf("  %s [CONNECTION-OPTION]... COMMAND [OPTION]...\n\n", progname);
	printf("Commands:\n");
	printf("  backfill --feature-set NAME [--start-time T] [--stop-time T] [--reset-backfill]\n"
		   "           [--cluster-template PROFILE] [--comment TEXT] [--parallel N]\n"
		   "           [--publish auto|manual] [--dry-run] [--detach]\n"
		   "                      stage a run and follow it until it is published\n");
	printf("  plan --feature-set NAME [--start-time T] [--stop-time T] [--reset]\n"
		   "                      show what a backfill would do, changing nothing\n");
	printf("  status [RUN_ID]     a run and its slices, or the runs in progress\n");
	printf("  runs [--feature-set NAME] [--limit N]\n"
		   "                      the latest runs, newest first (default limit 20)\n");
	printf("  publish RUN_ID      publish a run staged with --publish manual\n");
	printf("  cancel RUN_ID       cancel a run and drop what it staged\n");
	printf("  resume RUN_ID [--detach]\n"
		   "                      restart a failed run from its unstaged slices\n");
	printf("  catchup NAME        backfill a feature set from its watermark to now\n");
	printf("  online              the online cache: pending entities, the worker\n");
	printf("\nOptions:\n");
	printf("  --name NAME         the same as --feature-set NAME\n");
	printf("  --reset             the same as --reset-backfill: delete every row first\n");
	printf("  --cluster-template PROFILE\n"
		   "                      the resource profile of the run (small, medium, large...)\n");
	printf("  --parallel N        slices built at once for the run (default 2)\n");
	printf("  --publish manual    stop at staged, to publish with \"publish RUN_ID\"\n");
	printf("  --dry-run           print the plan, change nothing\n");
	printf("  --detach            print the run id and return; the run goes on\n");
	printf("  --json              print one JSON object per line (per event, per row)\n");
	printf("  -v, --verbose       print the detail, hint and SQLSTATE of errors\n");
	printf("  -V, --version       output version information, then exit\n");
	printf("  -?, --help          show this help, then exit\n");
	printf("\nTimes are UTC: YYYY-MM-DD, YYYY-MM-DDTHH:MI:SS or \"YYYY-MM-DD HH:MI:SS\";\n"
		   "the interval is [start, stop), and a date-only stop covers that whole day.\n");
	printf("\nConnection options:\n");
	printf("  -h, --host=HOSTNAME      database server host or socket directory\n");
	printf("  -p, --port=PORT          database server port\n");
	printf("  -U, --username=USERNAME  database user name\n");
	printf("  -d, --dbname=DBNAME      database name or connection string\n");
	printf("  --environment=SERVICE    connection service in pg_service.conf\n");
	printf("The PG* environment variables (PGHOST, PGSERVICE, ...) apply too.\n");
	printf("\nExit status: 0 published (or printed), 1 usage or connection error,\n"
		   "2 the run failed, 3 cancelled, 4 staged and waiting for a manual publish.\n");
}

static void
usage_error(const char *fmt, const char *arg)
{
	pg_log_error(fmt, arg);
	pg_log_error_hint("Try \"%s --help\" for more information.", progname);
	exit(FSB_EXIT_USAGE);
}

static const FsbCommand *
find_command(const char *name)
{
	const FsbCommand *c;

	for (c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	usage_error("unrecognized command \"%s\"", name);
	return NULL;
}

/* A run id is a positive bigint, written in digits only. */
static void
check_run_id(const char *s)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE || v <= 0)
		usage_error("invalid run id \"%s\": a positive integer is expected", s);
}

/* Names of the command options, in OPT_* bit order, for messages */
static const char *const opt_names[] = {
	"--feature-set", "--start-time", "--stop-time", "--reset-backfill",
	"--cluster-template", "--comment", "--parallel", "--publish", "--dry-run",
	"--detach", "--limit"
};

static void
check_command(const FsbCommand *c, int given, FsbOptions *opts, int nargs,
			  char **args)
{
	int			bit;

	for (bit = 0; bit < lengthof(opt_names); bit++)
		if ((given & (1 << bit)) && !(c->accepts & (1 << bit)))
		{
			pg_log_error("option %s does not apply to command \"%s\"",
						 opt_names[bit], c->name);
			pg_log_error_hint("Try \"%s --help\" for more information.", progname);
			exit(FSB_EXIT_USAGE);
		}
	if (nargs > c->max_args)
		usage_error("too many arguments, starting with \"%s\"", args[c->max_args]);
	if (nargs < c->min_args)
		usage_error("command \"%s\" needs a RUN_ID", c->name);
	opts->arg = nargs > 0 ? args[0] : NULL;
	if (opts->arg && c->arg_is_run_id)
		check_run_id(opts->arg);

	if (strcmp(c->name, "catchup") == 0)
	{
		if (opts->arg && opts->feature_set)
			usage_error("give the feature set once, not also as \"%s\"", opts->arg);
		if (!opts->arg && !opts->feature_set)
			usage_error("command \"%s\" needs a feature set NAME", c->name);
		if (!opts->arg)
			opts->arg = opts->feature_set;
	}
	else if ((c->accepts & OPT_FEATURE_SET) && strcmp(c->name, "runs") != 0 &&
			 opts->feature_set == NULL)
		usage_error("command \"%s\" needs --feature-set NAME", c->name);
	if (opts->dry_run && opts->detach)
		usage_error("%s cannot be combined with --detach", "--dry-run");
	if (opts->publish && strcmp(opts->publish, "auto") != 0 &&
		strcmp(opts->publish, "manual") != 0)
		usage_error("invalid value \"%s\" for --publish: auto or manual is expected",
					opts->publish);
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"dbname", required_argument, NULL, 'd'},
		{"environment", required_argument, NULL, 'E'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{"feature-set", required_argument, NULL, 1000},
		{"name", required_argument, NULL, 1000},
		{"start-time", required_argument, NULL, 1001},
		{"stop-time", required_argument, NULL, 1002},
		{"reset-backfill", no_argument, NULL, 1003},
		{"reset", no_argument, NULL, 1003},
		{"cluster-template", required_argument, NULL, 1004},
		{"comment", required_argument, NULL, 1005},
		{"parallel", required_argument, NULL, 1006},
		{"publish", required_argument, NULL, 1007},
		{"dry-run", no_argument, NULL, 1008},
		{"detach", no_argument, NULL, 1009},
		{"limit", required_argument, NULL, 1010},
		{"json", no_argument, NULL, 1011},
		{NULL, 0, NULL, 0}
	};
	FsbOptions	opts = {0};
	const FsbCommand *cmd;
	FsbConn    *fc;
	int			given = 0;
	int			c;

	pg_logging_init(argv[0]);
	set_pglocale_pgservice(argv[0], PG_TEXTDOMAIN("fs-backfill"));
	progname = get_progname(argv[0]);
	opts.limit = 20;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		exit(FSB_EXIT_OK);
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
	{
		printf("fs-backfill (fs_backfill) %s\n", FSB_VERSION);
		exit(FSB_EXIT_OK);
	}

	while ((c = getopt_long(argc, argv, "h:p:U:d:vV?", long_options, NULL)) != -1)
	{
		/* long options 1000 + n set OPT_* bit n, to be checked per command */
		if (c >= 1000 && c <= 1010)
			given |= 1 << (c - 1000);
		switch (c)
		{
			case 'h':
				opts.host = optarg;
				break;
			case 'p':
				opts.port = optarg;
				break;
			case 'U':
				opts.user = optarg;
				break;
			case 'd':
				opts.dbname = optarg;
				break;
			case 'E':
				opts.service = optarg;
				break;
			case 'v':
				opts.verbose = true;
				break;
			case 'V':
				printf("fs-backfill (fs_backfill) %s\n", FSB_VERSION);
				exit(FSB_EXIT_OK);
			case 1000:
				opts.feature_set = optarg;
				break;
			case 1001:
				opts.start_time = optarg;
				break;
			case 1002:
				opts.stop_time = optarg;
				break;
			case 1003:
				opts.reset = true;
				break;
			case 1004:
				opts.profile = optarg;
				break;
			case 1005:
				opts.comment = optarg;
				break;
			case 1006:
				if (!option_parse_int(optarg, "--parallel", 1, 1024, &opts.parallel))
					exit(FSB_EXIT_USAGE);
				break;
			case 1007:
				opts.publish = optarg;
				break;
			case 1008:
				opts.dry_run = true;
				break;
			case 1009:
				opts.detach = true;
				break;
			case 1010:
				if (!option_parse_int(optarg, "--limit", 1, INT_MAX, &opts.limit))
					exit(FSB_EXIT_USAGE);
				break;
			case 1011:
				opts.json = true;
				break;
			case '?':
				if (strcmp(argv[optind - 1], "-?") == 0 ||
					strcmp(argv[optind - 1], "--help") == 0)
				{
					usage();
					exit(FSB_EXIT_OK);
				}
				/* getopt_long printed what was wrong */
				pg_log_error_hint("Try \"%s --help\" for more information.", progname);
				exit(FSB_EXIT_USAGE);
			default:
				pg_log_error_hint("Try \"%s --help\" for more information.", progname);
				exit(FSB_EXIT_USAGE);
		}
	}

	if (optind >= argc)
	{
		pg_log_error("no command given");
		pg_log_error_hint("Try \"%s --help\" for more information.", progname);
		exit(FSB_EXIT_USAGE);
	}
	cmd = find_command(argv[optind]);
	opts.command = cmd->name;
	check_command(cmd, given, &opts, argc - optind - 1, argv + optind + 1);

	fc = fsb_connect(&opts);
	c = cmd->fn(fc, &opts);
	PQfinish(fc->conn);
	return c;
}
