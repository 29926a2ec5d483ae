/*-------------------------------------------------------------------------
 *
 * feature_set.c
 *	  fs_create_feature_set() and fs_drop_feature_set().
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
	FsbFeatureSet fs;
	Relation	target;
	Jsonb	   *checks;
	ArrayType  *entities;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	int32		reprocess;

	for (int i = 0; i < lengthof(argnames); i++)
		if (argnames[i])
			fsb_require_arg(fcinfo, i, argnames[i]);

	memset(&fs, 0, sizeof(fs));
	fs.name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_name(fs.name);
	fs.target = PG_GETARG_OID(1);
	fs.time_column = text_to_cstring(PG_GETARG_TEXT_PP(3));
	fs.source = text_to_cstring(PG_GETARG_TEXT_PP(4));
	fs.backfill_start = PG_GETARG_TIMESTAMPTZ(5);
	fs.partition_interval = *PG_GETARG_INTERVAL_P(6);
	fs.resource_profile = text_to_cstring(PG_GETARG_TEXT_PP(10));
	checks = PG_GETARG_JSONB_P(9);
	reprocess = PG_GETARG_INT32(12);

	target = table_open(fs.target, AccessShareLock);
	if (!pg_class_ownercheck(fs.target, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE,
					   RelationGetRelationName(target));
	fsb_check_target(target, fs.time_column, NULL);

	entities = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(entities, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &nelems);
	if (nelems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature set \"%s\" needs at least one entity column",
						fs.name)));
	for (int i = 0; i < nelems; i++)
	{
		char	   *col;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("entity columns of feature set \"%s\" must not be null",
							fs.name)));
		col = TextDatumGetCString(elems[i]);
		if (get_attnum(fs.target, col) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist",
							col, RelationGetRelationName(target))));
		if (strcmp(col, fs.time_column) == 0 ||
			list_member(fs.entity_columns, makeString(col)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is given twice as a key of feature set \"%s\"",
							col, fs.name),
					 errhint("List each entity column once, and not the time column.")));
		fs.entity_columns = lappend(fs.entity_columns, makeString(col));
	}
	/* Stored as plain strings from here on. */
	{
		List	   *names = NIL;
		ListCell   *lc;

		foreach(lc, fs.entity_columns)
			names = lappend(names, strVal(lfirst(lc)));
		fs.entity_columns = names;
	}

	fsb_check_partition_interval(&fs.partition_interval);
	fsb_check_finite(fs.backfill_start, "backfill_start");
	if (!PG_ARGISNULL(8))
		check_interval_sign(PG_GETARG_INTERVAL_P(8), "online_ttl", false);
	check_interval_sign(PG_GETARG_INTERVAL_P(11), "catchup_delay", true);
	if (reprocess < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reprocess_partitions must be zero or positive")));
	if (!JB_ROOT_IS_OBJECT(checks) || JB_ROOT_IS_SCALAR(checks))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checks of feature set \"%s\" must be a JSON object",
						fs.name)));
	if (JB_ROOT_COUNT(checks) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("validation checks are not supported yet"),
				 errhint("Register the feature set with checks => '{}'.")));

	(void) fsb_source_analyze(fs.source, target, fs.entity_columns,
							  fs.time_column, fs.name);

	fsb_catalog_insert(&fs, PG_GETARG_BOOL(7),
					   PG_ARGISNULL(8) ? (Datum) 0 : PG_GETARG_DATUM(8),
					   PG_ARGISNULL(8),
					   PG_GETARG_DATUM(9), PG_GETARG_DATUM(11), reprocess);
	table_close(target, NoLock);
	PG_RETURN_VOID();
}

/*
 * fs_drop_feature_set(name): forgets a feature set; its table stays.
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
	(void) fsb_catalog_delete(fs->name);
	PG_RETURN_VOID();
}
