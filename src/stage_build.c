/*-------------------------------------------------------------------------
 *
 * stage_build.c
 *	  Building one slice of a staged run, in a slice builder's transaction.
 *
 * The builder runs as the role that staged the run, with the settings its
 * session had then (search_path, TimeZone, DateStyle, IntervalStyle), so
 * that the source means what it meant when fs_backfill_stage() checked it,
 * and with the run's resource profile.  The feature set, the caller's
 * privileges, the source and the checks are checked again, as the run's
 * first step does for fs_backfill(); the feature set's backfill lock is not
 * taken (slices of one run build side by side): the partition's lock
 * against writers, held while the slice builds, is what keeps it still.
 *
 * The slice is built by swap.c beside its partition into a relation named
 * fs_backfill_stage_<run>_<slice>, with a copy of each index when publish
 * will exchange it (swap), without when it will copy its rows in
 * (delete_insert).  Then the checks run on the staged rows, an empty result
 * is refused unless allowed, and the relation is made readable by the role
 * (it belongs to the partition's owner), made to depend on its partition and
 * on the extension (dropping either drops it), and recorded with a mark of
 * the partition taken under that lock: publish compares it with the
 * partition then, to refuse a partition written since (stage_mark.c), or
 * whose columns, constraints or indexes changed (the layout below).
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage_build.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "common/md5.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "stage.h"

/* The settings of the stager's session its workers take over. */
static const char *const stage_settings[] = {
	"search_path", "TimeZone", "DateStyle", "IntervalStyle",
};

/* The caller's values of stage_settings, as a JSON object. */
Jsonb *
fsb_stage_capture_settings(void)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int i = 0; i < lengthof(stage_settings); i++)
	{
		if (i > 0)
			appendStringInfoString(&json, ", ");
		escape_json(&json, stage_settings[i]);
		appendStringInfoString(&json, ": ");
		escape_json(&json, GetConfigOption(stage_settings[i], false, false));
	}
	appendStringInfoChar(&json, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}

/* Sets, for this session, the settings the run's stager had. */
void
fsb_stage_apply_settings(const FsbStagedRun *sr)
{
	for (int i = 0; i < lengthof(stage_settings); i++)
	{
		JsonbValue	key;
		JsonbValue *value;

		key.type = jbvString;
		key.val.string.val = (char *) stage_settings[i];
		key.val.string.len = strlen(stage_settings[i]);
		value = findJsonbValueFromContainer(&sr->settings->root, JB_FOBJECT, &key);
		if (value == NULL || value->type != jbvString)
			continue;
		(void) set_config_option(stage_settings[i],
								 pnstrdup(value->val.string.val, value->val.string.len),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SET,
								 true, 0, false);
	}
}

/*
 * A digest of what a staged slice depends on in its partition: persistence,
 * columns (name, type, typmod, NOT NULL, dropped, collation), CHECK
 * constraints and indexes.  A slice built before one of them changed is not
 * the partition's to take any more.
 */
char *
fsb_stage_layout(Relation part)
{
	TupleDesc	desc = RelationGetDescr(part);
	StringInfoData buf;
	List	   *indexes = RelationGetIndexList(part);
	ListCell   *lc;
	char	   *hex = palloc(33);
	const char *errstr = NULL;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%c|%d", part->rd_rel->relpersistence, desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		appendStringInfo(&buf, "|%s:%u:%d:%d:%d:%u", NameStr(attr->attname),
						 attr->atttypid, attr->atttypmod, attr->attnotnull,
						 attr->attisdropped, attr->attcollation);
	}
	if (desc->constr)
		for (int i = 0; i < desc->constr->num_check; i++)
			appendStringInfo(&buf, "|check:%s:%s", desc->constr->check[i].ccname,
							 desc->constr->check[i].ccbin);
	foreach(lc, indexes)
		appendStringInfo(&buf, "|index:%u", lfirst_oid(lc));
	if (!pg_md5_hash(buf.data, buf.len, hex, &errstr))
		elog(ERROR, "could not compute the layout of partition \"%s\": %s",
			 RelationGetRelationName(part), errstr);
	return hex;
}

/* Lets "role" read a staged relation that belongs to another role. */
void
fsb_stage_grant_select(Oid relid, Oid role)
{
	Relation	pg_class = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	Datum		values[Natts_pg_class] = {0};
	bool		nulls[Natts_pg_class] = {0};
	bool		replace[Natts_pg_class] = {0};
	Form_pg_class form;
	Datum		datum;
	bool		isnull;
	Acl		   *old_acl;
	Acl		   *new_acl;
	AclItem		item;
	Oid		   *old_members;
	Oid		   *new_members;
	int			n_old;
	int			n_new;
	HeapTuple	newtup;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	form = (Form_pg_class) GETSTRUCT(tup);
	if (form->relowner == role)
	{
		table_close(pg_class, RowExclusiveLock);
		return;
	}
	datum = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relacl, &isnull);
	old_acl = isnull ? acldefault(OBJECT_TABLE, form->relowner) : DatumGetAclPCopy(datum);
	item.ai_grantee = role;
	item.ai_grantor = form->relowner;
	ACLITEM_SET_PRIVS_GOPTIONS(item, ACL_SELECT, ACL_NO_RIGHTS);
	new_acl = aclupdate(old_acl, &item, ACL_MODECHG_ADD, form->relowner, DROP_RESTRICT);

	values[Anum_pg_class_relacl - 1] = PointerGetDatum(new_acl);
	replace[Anum_pg_class_relacl - 1] = true;
	newtup = heap_modify_tuple(tup, RelationGetDescr(pg_class), values, nulls, replace);
	CatalogTupleUpdate(pg_class, &newtup->t_self, newtup);

	n_old = aclmembers(old_acl, &old_members);
	n_new = aclmembers(new_acl, &new_members);
	updateAclDependencies(RelationRelationId, relid, 0, form->relowner,
						  n_old, old_members, n_new, new_members);
	table_close(pg_class, RowExclusiveLock);
	CommandCounterIncrement();
}

/* Makes a staged relation go with its partition and with the extension. */
static void
record_dependencies(Oid relid, Oid partition)
{
	ObjectAddress staged;
	ObjectAddress referenced;

	ObjectAddressSet(staged, RelationRelationId, relid);
	ObjectAddressSet(referenced, RelationRelationId, partition);
	recordDependencyOn(&staged, &referenced, DEPENDENCY_AUTO);
	ObjectAddressSet(referenced, ExtensionRelationId,
					 get_extension_oid("fs_backfill", false));
	recordDependencyOn(&staged, &referenced, DEPENDENCY_AUTO);
	CommandCounterIncrement();
}

/*
 * Builds slice "slice_no" of a staged run as attempt "attempt", and records
 * it staged, in the current transaction.
 */
void
fsb_stage_build_slice(const FsbStagedRun *sr, int slice_no, int attempt)
{
	int			nest = NewGUCNestLevel();
	FsbRunOptions opts;
	FsbRun		run;
	FsbSlice   *slices;
	FsbSlice   *slice = NULL;
	FsbStep		step;
	int			nslices;
	Relation	part;
	char	   *name;

	fsb_stage_apply_settings(sr);
	memset(&opts, 0, sizeof(opts));
	opts.feature_set = sr->feature_set;
	opts.reset = sr->reset;
	opts.source = sr->source;
	opts.resource_profile = sr->resource_profile;
	opts.comment = sr->comment;
	opts.strategy = FSB_STRATEGY_AUTO;
	opts.allow_empty = sr->allow_empty;
	opts.checks = sr->checks;
	opts.unlocked = true;
	fsb_run_open(&run, &opts, sr->start, sr->stop);

	slices = fsb_catalog_slices(sr->run_id, &nslices);
	for (int i = 0; i < nslices; i++)
		if (slices[i].slice == slice_no)
			slice = &slices[i];
	if (slice == NULL)
		elog(ERROR, "staged run " INT64_FORMAT " has no slice %d", sr->run_id, slice_no);

	fsb_progress_begin(sr->feature_set, sr->run_id);
	fsb_progress_phase(psprintf("staging slice %d of %d", slice_no, nslices), 1);

	memset(&step, 0, sizeof(step));
	step.partition = slice->partition;
	step.slice_start = slice->slice_start;
	step.slice_stop = slice->slice_stop;
	step.strategy = slice->strategy;
	if (get_rel_name(step.partition) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("partition %u of slice %d of staged run " INT64_FORMAT " no longer exists",
						step.partition, slice_no, sr->run_id),
				 errhint("Cancel the run and stage it again.")));

	name = psprintf("fs_backfill_stage_" INT64_FORMAT "_%d", sr->run_id, slice_no);
	slice->staged = fsb_swap_build(run.target, &step, run.src, run.fs, name,
								   step.strategy == FSB_STRATEGY_SWAP,
								   &slice->rows_before, &slice->rows);
	part = table_open(step.partition, NoLock);	/* locked by fsb_swap_build */
	fsb_stage_grant_select(slice->staged, sr->run_by);

	fsb_checks_run(run.checks, &step,
				   fsb_swap_heap_source(run.target, run.fs, slice->staged),
				   run.target, run.fs->name, run.fs->entity_columns,
				   run.fs->time_column, slice->rows_before);
	fsb_run_check_not_emptied(&run, &step, slice->rows_before, slice->rows);

	record_dependencies(slice->staged, step.partition);
	slice->mark = psprintf("%s:%s", fsb_stage_layout(part), fsb_stage_mark(part));
	table_close(part, NoLock);
	fsb_progress_slice_done(slice->rows);

	if (!fsb_catalog_slice_staged(sr->run_id, slice, attempt))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("staged run " INT64_FORMAT " was cancelled, failed or restarted while slice %d was building",
						sr->run_id, slice_no)));

	AtEOXact_GUC(true, nest);
	fsb_run_close(&run);
}
