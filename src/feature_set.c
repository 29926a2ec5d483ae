/*-------------------------------------------------------------------------
 *
 * feature_set.c
 *	  fs_create_feature_set(), fs_alter_feature_set() and
 *	  fs_drop_feature_set().
 *
 * Registration checks everything it can before storing a row: the name, the
 * caller's ownership of the target, the target's shape, the key and time
 * columns, the settings, and the source against the target's columns.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/feature_set.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_create_feature_set);
PG_FUNCTION_INFO_V1(fs_alter_feature_set);
PG_FUNCTION_INFO_V1(fs_drop_feature_set);

/*
 * Checks a feature set name: [a-z_][a-z0-9_]{0,62}.
 */
static void
check_name(const char *name)
{
	size_t		len = strlen(name);
	bool		ok = len >= 1 && len <= 63;

	for (size_t i = 0; ok && i < len; i++)
	{
		char		c = name[i];

		ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid feature set name \"%s\"", name),
				 errhint("A feature set name is 1 to 63 characters from a-z, 0-9 and _, and does not start with a digit.")));
}

/* Positive (or, with allow_zero, non-negative) interval; raises otherwise. */
static void
check_interval_sign(const Interval *iv, const char *argname, bool allow_zero)
{
	bool		negative = iv->month < 0 || iv->day < 0 || iv->time < 0;
	bool		zero = iv->month == 0 && iv->day == 0 && iv->time == 0;

	if (negative || (zero && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s", argname,
						allow_zero ? "zero or positive" : "positive")));
}

/*
 * Raises insufficient_privilege unless the caller has the privileges of the
 * target's owner.  Takes no lock: it comes before any.
 */
static void
check_owner(const FsbFeatureSet *fs)
{
	char	   *relname = get_rel_name(fs->target);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table of feature set \"%s\" does not exist",
						fs->name),
				 errhint("Drop the feature set with fs_drop_feature_set() and register it again.")));
	if (!pg_class_ownercheck(fs->target, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
}

/*
 * Validates settings and stores them: a new feature set, or with "replace"
 * the settings of an existing one.  Everything is checked before anything
 * is stored.
 */
static void
store_settings(FsbSettings *set, bool replace)
{
	FsbFeatureSet *fs = &set->fs;
	Relation	target;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;

	check_owner(fs);
	target = table_open(fs->target, AccessShareLock);
	fsb_check_target(target, fs->time_column, NULL);

	deconstruct_array(set->entities, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &nelems);
	if (nelems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature set \"%s\" needs at least one entity column",
						fs->name)));
	fs->entity_columns = NIL;
	for (int i = 0; i < nelems; i++)
	{
		char	   *col;
		bool		dup;
		ListCell   *lc;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("entity columns of feature set \"%s\" must not be null",
							fs->name)));
		col = TextDatumGetCString(elems[i]);
		if (get_attnum(fs->target, col) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist",
							col, RelationGetRelationName(target))));
		dup = strcmp(col, fs->time_column) == 0;
		foreach(lc, fs->entity_columns)
			dup |= strcmp(lfirst(lc), col) == 0;
		if (dup)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is given twice as a key of feature set \"%s\"",
							col, fs->name),
					 errhint("List each entity column once, and not the time column.")));
		fs->entity_columns = lappend(fs->entity_columns, col);
	}

	fsb_check_partition_interval(&fs->partition_interval);
	fsb_check_finite(fs->backfill_start, "backfill_start");
	if (!set->online_ttl_null)
		check_interval_sign(DatumGetIntervalP(set->online_ttl), "online_ttl", false);
	check_interval_sign(set->catchup_delay, "catchup_delay", true);
	if (set->reprocess_partitions < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reprocess_partitions must be zero or positive")));
	(void) fsb_checks_parse(set->checks, target, fs->name);
	(void) fsb_source_analyze(fs->source, target, fs->entity_columns,
							  fs->time_column, fs->name);

	fsb_catalog_store(fs, set->online, set->online_ttl, set->online_ttl_null,
					  JsonbPGetDatum(set->checks),
					  IntervalPGetDatum(set->catchup_delay),
					  set->reprocess_partitions, replace);
	table_close(target, NoLock);
}

/*
 * fs_create_feature_set(name, target, entity_columns, time_column, source,
 *		backfill_start, partition_interval, online, online_ttl, checks,
 *		resource_profile, catchup_delay, reprocess_partitions)
 */
Datum
fs_create_feature_set(PG_FUNCTION_ARGS)
{
	static const char *const argnames[] = {
		"name", "target", "entity_columns", "time_column", "source",
		"backfill_start", "partition_interval", "online", NULL, "checks",
		"resource_profile", "catchup_delay", "reprocess_partitions"
	};
	FsbSettings set;

	for (int i = 0; i < lengthof(argnames); i++)
		if (argnames[i])
			fsb_require_arg(fcinfo, i, argnames[i]);

	memset(&set, 0, sizeof(set));
	set.fs.name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_name(set.fs.name);
	set.fs.target = PG_GETARG_OID(1);
	set.entities = PG_GETARG_ARRAYTYPE_P(2);
	set.fs.time_column = text_to_cstring(PG_GETARG_TEXT_PP(3));
	set.fs.source = text_to_cstring(PG_GETARG_TEXT_PP(4));
	set.fs.backfill_start = PG_GETARG_TIMESTAMPTZ(5);
	set.fs.partition_interval = *PG_GETARG_INTERVAL_P(6);
	set.online = PG_GETARG_BOOL(7);
	set.online_ttl_null = PG_ARGISNULL(8);
	set.online_ttl = set.online_ttl_null ? (Datum) 0 : PG_GETARG_DATUM(8);
	set.checks = PG_GETARG_JSONB_P(9);
	set.fs.resource_profile = text_to_cstring(PG_GETARG_TEXT_PP(10));
	set.catchup_delay = PG_GETARG_INTERVAL_P(11);
	set.reprocess_partitions = PG_GETARG_INT32(12);
	store_settings(&set, false);
	PG_RETURN_VOID();
}

/*
 * fs_alter_feature_set(name, settings jsonb): changes any setting but the
 * name and the target.  The settings are merged into the stored ones
 * (jsonb_populate_record converts each value to its column's type), then
 * validated as a registration would be.
 */
Datum
fs_alter_feature_set(PG_FUNCTION_ARGS)
{
	static const char *const allowed[] = {
		"entity_columns", "time_column", "source", "backfill_start",
		"partition_interval", "online", "online_ttl", "checks",
		"resource_profile", "catchup_delay", "reprocess_partitions"
	};
	FsbFeatureSet *current;
	Jsonb	   *settings;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	FsbSettings set;

	fsb_require_arg(fcinfo, 0, "name");
	fsb_require_arg(fcinfo, 1, "settings");
	current = fsb_catalog_load(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	settings = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(settings) || JB_ROOT_IS_SCALAR(settings))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("settings for feature set \"%s\" must be a JSON object",
						current->name)));
	it = JsonbIteratorInit(&settings->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (int i = 0; i < lengthof(allowed); i++)
			known |= strcmp(key, allowed[i]) == 0;
		if (strcmp(key, "name") == 0 || strcmp(key, "target") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot change the %s of feature set \"%s\"", key,
							current->name),
					 errhint("Drop the feature set and register it again.")));
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown setting \"%s\" for feature set \"%s\"", key,
							current->name),
					 errhint("Settings are entity_columns, time_column, source, backfill_start, partition_interval, online, online_ttl, checks, resource_profile, catchup_delay and reprocess_partitions.")));
		if (strcmp(key, "checks") != 0 && strcmp(key, "online_ttl") != 0)
		{
			tok = JsonbIteratorNext(&it, &v, true);
			if (v.type == jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("setting \"%s\" of feature set \"%s\" must not be null",
								key, current->name)));
		}
	}

	/*
	 * Who may alter: whoever may use it, and among them only the table's
	 * owner, as for registering.  Checked before the lock, which a role
	 * refused must not hold.
	 */
	fsb_privilege_check_use(current);
	check_owner(current);

	/* two alterations, or one with a backfill, never interleave */
	fsb_lock_target(current);

	/* the stored settings with the new values, each of its column's type */
	fsb_catalog_merge_settings(current, settings, &set);
	store_settings(&set, true);
	PG_RETURN_VOID();
}

/*
 * Removes the pg_cron jobs of a feature set's catch-up (fs_schedule_catchup
 * names them fs_backfill:catchup:<name>), whoever scheduled them, in this
 * database.  pg_cron is looked up, not required.  cron.unschedule() removes
 * other roles' jobs for a superuser only: it runs as the extension owner,
 * who is one unless ownership was handed on (then only its own jobs go).
 */
static void
unschedule_catchup(const char *name)
{
	FsbSavedUser saved;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		return;
	values[0] = CStringGetTextDatum(psprintf("fs_backfill:catchup:%s", name));
	fsb_owner_spi_begin(&saved);
	fsb_spi_exec("SELECT cron.unschedule(j.jobid) FROM cron.job j"
				 " WHERE j.jobname = $1 AND j.database = current_database()",
				 1, types, values, NULL, SPI_OK_SELECT);
	fsb_owner_spi_end(&saved);
}

/*
 * fs_drop_feature_set(name): forgets a feature set and removes its
 * catch-up jobs; its table stays.
 */
Datum
fs_drop_feature_set(PG_FUNCTION_ARGS)
{
	FsbFeatureSet *fs;
	char	   *relname;

	fsb_require_arg(fcinfo, 0, "name");
	fs = fsb_catalog_load(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	relname = get_rel_name(fs->target);
	if (relname != NULL)
	{
		if (!pg_class_ownercheck(fs->target, GetUserId()))
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	}
	else if (!superuser() &&
			 !(OidIsValid(fs->created_by) &&
			   has_privs_of_role(GetUserId(), fs->created_by)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be the role that registered feature set \"%s\" to drop it",
						fs->name),
				 errdetail("Its table no longer exists.")));
	fsb_stage_forget_runs(fs->name);
	(void) fsb_catalog_delete(fs->name);
	unschedule_catchup(fs->name);
	PG_RETURN_VOID();
}
