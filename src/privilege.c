/*-------------------------------------------------------------------------
 *
 * privilege.c
 *	  Who may use a feature set.
 *
 * A feature set's source is a query one role wrote, and whoever runs it
 * runs it with their own rights.  So running a feature set (fs_backfill,
 * fs_backfill_plan, fs_backfill_catchup, fs_online_resync), altering it and
 * scheduling its catch-up are for the role that registered it
 * (feature_sets.created_by) and for the roles that have the privileges of
 * the owner of its table (has_privs_of_role, as pg_class_ownercheck decides
 * ownership; superusers have both).  Any other role, even one that may
 * insert into and delete from the table, gets insufficient_privilege: it
 * would otherwise run a text someone else wrote with its own rights.
 *
 * The check reads only the system caches and takes no lock, and every entry
 * point makes it before it locks anything of the feature set: a role that
 * may not use a feature set cannot hold its locks in an open transaction.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/privilege.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "fs_backfill.h"

PG_FUNCTION_INFO_V1(fs_backfill_check_use);

/*
 * Raises insufficient_privilege unless the current user registered the
 * feature set, or has the privileges of its table's owner.  Takes no lock.
 */
void
fsb_privilege_check_use(const FsbFeatureSet *fs)
{
	Oid			user = GetUserId();
	char	   *registrant = NULL;
	HeapTuple	tuple;
	Oid			owner;
	char	   *relname;

	/* superusers pass here, whatever created_by holds */
	if (has_privs_of_role(user, fs->created_by))
		return;
	if (OidIsValid(fs->created_by))
		registrant = GetUserNameFromId(fs->created_by, true);

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(fs->target));
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for feature set \"%s\"", fs->name),
				 registrant ?
				 errdetail("Its table no longer exists: only role \"%s\", which registered it, may use it.",
						   registrant) :
				 errdetail("Its table no longer exists, nor does the role that registered it."),
				 registrant ?
				 errhint("Ask role \"%s\" to drop it with fs_drop_feature_set().",
						 registrant) :
				 errhint("Ask a superuser to drop it with fs_drop_feature_set().")));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	relname = pstrdup(NameStr(((Form_pg_class) GETSTRUCT(tuple))->relname));
	ReleaseSysCache(tuple);
	if (has_privs_of_role(user, owner))
		return;

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for feature set \"%s\"", fs->name),
			 registrant ?
			 errdetail("Only role \"%s\", which registered it, and roles with the privileges of role \"%s\", which owns table \"%s\", may run, plan, alter or schedule it.",
					   registrant, GetUserNameFromId(owner, false), relname) :
			 errdetail("Only roles with the privileges of role \"%s\", which owns table \"%s\", may run, plan, alter or schedule it.",
					   GetUserNameFromId(owner, false), relname),
			 errhint("Ask role \"%s\" to run it, or to grant you membership in it.",
					 GetUserNameFromId(owner, false))));
}

/*
 * fs_backfill._check_use(feature_set text): raises undefined_object for an
 * unknown feature set, insufficient_privilege for one the caller may not
 * use (see above); for fs_schedule_catchup().
 */
Datum
fs_backfill_check_use(PG_FUNCTION_ARGS)
{
	fsb_require_arg(fcinfo, 0, "feature_set");
	fsb_privilege_check_use(fsb_catalog_load(text_to_cstring(PG_GETARG_TEXT_PP(0))));
	PG_RETURN_VOID();
}
