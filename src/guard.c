/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Safe execution of the extension's own SQL.
 *
 * Every statement fs_backfill writes itself runs with search_path pinned to
 * "pg_catalog, pg_temp", so objects planted in other schemas cannot redirect
 * it.  Statements on the fs_backfill tables run as the extension owner
 * (a local user id change, as RI triggers do): ordinary roles cannot write
 * those tables, but the functions they call can.  Both are undone by
 * transaction or subtransaction abort if an error escapes.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "fs_backfill.h"

/*
 * Pins search_path until fsb_unpin_search_path(returned level).
 */
int
fsb_pin_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", FSB_PINNED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
fsb_unpin_search_path(int nest)
{
	AtEOXact_GUC(true, nest);
}

/*
 * Runs as "role" with a pinned search_path until fsb_restore_user().
 */
void
fsb_become_user(Oid role, FsbSavedUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(role,
						   saved->sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->guc_nest = fsb_pin_search_path();
}

void
fsb_restore_user(FsbSavedUser *saved)
{
	fsb_unpin_search_path(saved->guc_nest);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/*
 * The owner of the extension's tables: the role its catalog statements run as.
 */
Oid
fsb_extension_owner(void)
{
	Oid			nsp = get_namespace_oid(FSB_SCHEMA, false);
	Oid			relid = get_relname_relid("feature_sets", nsp);
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"fs_backfill\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION fs_backfill.")));

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Connects to SPI and runs as the extension owner, for statements on the
 * extension's own tables, until fsb_owner_spi_end().
 */
void
fsb_owner_spi_begin(FsbSavedUser *saved)
{
	Oid			owner = fsb_extension_owner();

	SPI_connect();
	fsb_become_user(owner, saved);
}

void
fsb_owner_spi_end(FsbSavedUser *saved)
{
	fsb_restore_user(saved);
	SPI_finish();
}

/* schema.name of a relation, quoted. */
char *
fsb_relation_name(Relation rel)
{
	return fsb_qualified_name(RelationGetNamespace(rel), RelationGetRelationName(rel));
}

/*
 * Runs one statement of ours through SPI and checks its result code.
 *
 * Caller must be connected to SPI and have pinned search_path; "expected" is
 * the SPI_OK_* code the statement must return.
 */
void
fsb_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, int expected)
{
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s: %s",
			 SPI_result_code_string(rc), sql);
}

/*
 * Runs one SELECT count(*) of ours, with a pinned search_path, and returns
 * the count.  Connects to SPI itself.
 */
int64
fsb_spi_count(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			nest;
	bool		isnull;
	int64		count;

	SPI_connect();
	nest = fsb_pin_search_path();
	fsb_spi_exec(sql, nargs, types, values, NULL, SPI_OK_SELECT);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	fsb_unpin_search_path(nest);
	SPI_finish();
	return count;
}

/*
 * "schema"."relation", quoted, for the SQL the extension writes.
 */
char *
fsb_qualified_name(Oid namespace, const char *relname)
{
	return psprintf("%s.%s", quote_identifier(get_namespace_name(namespace)),
					quote_identifier(relname));
}

/*
 * Raises null_value_not_allowed for a NULL argument that has no default.
 */
void
fsb_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument %s must not be null", argname)));
}
