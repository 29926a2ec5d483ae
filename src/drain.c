/*-------------------------------------------------------------------------
 *
 * drain.c
 *	  One batch of the online queue: claim entries, read each entity's
 *	  latest row, push them to Redis, commit; and the feature sets parked
 *	  after a failure.
 *
 * A batch is one transaction: claim up to fs_backfill.online_batch_size
 * entries (DELETE ... RETURNING of the rows FOR UPDATE SKIP LOCKED locked,
 * so concurrent claimers never take the same entry), read each entity's
 * latest row from its target (one LATERAL query per feature set), push them
 * to Redis in one pipeline, and commit only after Redis acknowledged them
 * all: the entries' removal becomes visible then and not before.  When
 * Redis fails, the transaction rolls back and the entries stay (delivery is
 * at least once).
 *
 * An error while reading one feature set's entries (its target unreadable,
 * a key column gone) rolls the batch back too; the worker then parks that
 * feature set (fsb_drain_blame): the claims skip its entries for a while,
 * and the others drain meanwhile.  So does Redis refusing a feature set's
 * pushes (an error reply: NOPERM, OOM, a script error): the batch rolls
 * back, that feature set is parked, and the next batch goes on at once
 * without it.  Only a failed connection stops them all.
 *
 * Memory: each batch's state lives in "fs_backfill batch", reset when the
 * next batch starts; each chunk's claims and pushes in "fs_backfill chunk"
 * (not a child of the batch's: a reset would delete it), reset once the
 * chunk is sent; the parked feature sets in the context given to
 * fsb_drain_init().
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/drain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"
#include "worker.h"

/*
 * Entries claimed and sent at a time, within a batch.  The first chunk is
 * smaller: Redis, done with the last batch, waits for it.
 */
#define FSB_CHUNK 1000
#define FSB_FIRST_CHUNK 100

static MemoryContext parked_cxt;
static MemoryContext batch_cxt;
static MemoryContext chunk_cxt;

/*
 * A feature set whose entries could not be pushed (its target unreadable, a
 * key column gone): parked.  Its entries stay queued and the claims skip
 * them until retry_at, so that the other feature sets drain meanwhile; each
 * failure doubles its wait, up to FSB_BACKOFF_MAX_MS.  Lives in parked_cxt.
 */
typedef struct ParkedSet
{
	char	   *name;
	char	   *error;
	bool		error_recorded; /* in fs_backfill.online_state */
	int			wait_ms;
	TimestampTz retry_at;
} ParkedSet;

static List *parked_sets = NIL;
static int	last_nskipped = 0;	/* how many the last batch skipped */

/* The feature set whose entries are being read, to blame for an error. */
static const char *set_at_work = NULL;

/* A feature set met in a batch: what its chunks need, looked up once. */
typedef struct BatchSet
{
	char	   *name;
	FsbFeatureSet *fs;			/* NULL: its entries are just dropped */
	Oid			owner;			/* its target's owner, who reads it */
	SPIPlanPtr	latest;			/* latest rows of a chunk's entities */
	int			nparts;			/* the target's partitions it was planned */
	Oid		   *parts;			/* with (none for a plain table) */
	int			nkeys;
	List	   *value_names;	/* the non-key, non-time columns */
	FmgrInfo   *outputs;		/* their output functions */
	int64		claimed;
} BatchSet;

/* A batch on its way: what its chunks share. */
typedef struct Batch
{
	FsbRedis   *redis;
	Datum		skipped;		/* parked feature sets, a text[] */
	int64		after;			/* the highest id claimed so far */
	List	   *sets;			/* the BatchSets met so far */
	int			pushed;
	char	   *error;			/* why Redis failed; NULL while it did not */
} Batch;

void
fsb_drain_init(MemoryContext parent)
{
	parked_cxt = parent;
	batch_cxt = AllocSetContextCreate(parent, "fs_backfill batch",
									  ALLOCSET_DEFAULT_SIZES);
	chunk_cxt = AllocSetContextCreate(parent, "fs_backfill chunk",
									  ALLOCSET_DEFAULT_SIZES);
}

/* Unix milliseconds of an instant. */
static int64
unix_ms(TimestampTz t)
{
	return t / 1000 + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

/*
 * Looks up a feature set met in a batch and prepares the query of its
 * entities' latest rows: one text[] parameter per key column, zipped by
 * unnest, each entity's row found by a LATERAL backward index scan.  Caller
 * is in a transaction, connected to SPI, in batch_cxt; the plan lives until
 * SPI_finish, the rest in batch_cxt.
 */
static BatchSet *
batch_set(const char *name)
{
	BatchSet   *set = palloc0(sizeof(BatchSet));
	FsbFeatureSet *fs = fsb_catalog_find(name);
	Relation	target;
	TupleDesc	desc;
	StringInfoData sql;
	StringInfoData cols;
	StringInfoData unnest;
	StringInfoData names;
	StringInfoData match;
	Oid		   *types;
	ListCell   *lc;
	List	   *value_types = NIL;
	int			nest;

	set->name = pstrdup(name);
	/* dropped, no longer online, or its table gone: its entries are dropped */
	if (fs == NULL || !fs->online || get_rel_name(fs->target) == NULL)
		return set;
	set->fs = fs;
	set->nkeys = list_length(fs->entity_columns);
	target = fsb_open_target(fs, AccessShareLock);
	set->owner = target->rd_rel->relowner;
	if (target->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		PartitionDesc pd = RelationGetPartitionDesc(target, true);

		set->nparts = pd->nparts;
		set->parts = palloc(sizeof(Oid) * Max(1, pd->nparts));
		memcpy(set->parts, pd->oids, sizeof(Oid) * pd->nparts);
	}
	/* the worker's role must be allowed to read it, though its owner does */
	if (pg_class_aclcheck(fs->target, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(target));
	desc = RelationGetDescr(target);

	/* value columns: all but the keys and the time */
	initStringInfo(&cols);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		const char *attname = NameStr(attr->attname);
		bool		is_key = false;

		if (attr->attisdropped || strcmp(attname, fs->time_column) == 0)
			continue;
		foreach(lc, fs->entity_columns)
			is_key |= strcmp(lfirst(lc), attname) == 0;
		if (is_key)
			continue;
		set->value_names = lappend(set->value_names, pstrdup(attname));
		value_types = lappend_oid(value_types, attr->atttypid);
		appendStringInfo(&cols, ", t.%s", quote_identifier(attname));
	}
	set->outputs = palloc(sizeof(FmgrInfo) * Max(1, list_length(value_types)));
	foreach(lc, value_types)
	{
		Oid			func;
		bool		varlena;

		getTypeOutputInfo(lfirst_oid(lc), &func, &varlena);
		fmgr_info(func, &set->outputs[foreach_current_index(lc)]);
	}

	initStringInfo(&unnest);
	initStringInfo(&names);
	initStringInfo(&match);
	types = palloc(sizeof(Oid) * set->nkeys);
	foreach(lc, fs->entity_columns)
	{
		int			k = foreach_current_index(lc);
		AttrNumber	attnum = get_attnum(fs->target, lfirst(lc));

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("entity column \"%s\" of feature set \"%s\" does not exist",
							(char *) lfirst(lc), fs->name),
					 errhint("Fix the feature set with fs_alter_feature_set(), or drop it.")));

		types[k] = TEXTARRAYOID;
		appendStringInfo(&unnest, "%s$%d", k > 0 ? ", " : "", k + 1);
		appendStringInfo(&names, "%sk%d", k > 0 ? ", " : "", k + 1);
		/* a domain's base type: its CHECK is the owner's code, not needed here */
		appendStringInfo(&match, "%st.%s = CAST(u.k%d AS %s)", k > 0 ? " AND " : "",
						 quote_identifier(lfirst(lc)), k + 1,
						 format_type_be_qualified(getBaseType(TupleDescAttr(desc, attnum - 1)->atttypid)));
	}
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT u.ord, l.* FROM unnest(%s) WITH ORDINALITY AS u(%s, ord)"
					 " LEFT JOIN LATERAL (SELECT t.%s%s FROM %s t WHERE %s"
					 " AND t.%s IS NOT NULL ORDER BY t.%s DESC LIMIT 1) l ON true"
					 " ORDER BY u.ord",
					 unnest.data, names.data, quote_identifier(fs->time_column),
					 cols.data,
					 fsb_relation_name(target),
					 match.data, quote_identifier(fs->time_column),
					 quote_identifier(fs->time_column));
	table_close(target, NoLock);

	nest = fsb_pin_search_path();
	/* one plan for all chunks: the custom plans of the first ones cost more */
	set->latest = SPI_prepare_cursor(sql.data, set->nkeys, types, CURSOR_OPT_GENERIC_PLAN);
	fsb_unpin_search_path(nest);
	if (set->latest == NULL)
		elog(ERROR, "SPI_prepare failed: %s: %s", SPI_result_code_string(SPI_result), sql.data);
	return set;
}

/*
 * fs:<feature set>:<value 1>[:<value 2>...], from the entity's text values.
 * With more than one key column, a ':' or '\' inside a value is escaped
 * with a '\', so that ('x', 'y:z') and ('x:y', 'z') are two keys; a single
 * value is written as it is.
 */
static char *
entity_key(const char *feature_set, const Datum *parts, int nparts)
{
	size_t		name_len = strlen(feature_set);
	size_t		len = 3 + name_len;
	bool		escape = nparts > 1;
	char	   *key;
	char	   *p;

	for (int k = 0; k < nparts; k++)
		len += 1 + (escape ? 2 : 1) * VARSIZE_ANY_EXHDR(DatumGetPointer(parts[k]));
	key = palloc(len + 1);
	memcpy(key, "fs:", 3);
	memcpy(key + 3, feature_set, name_len);
	p = key + 3 + name_len;
	for (int k = 0; k < nparts; k++)
	{
		text	   *part = (text *) DatumGetPointer(parts[k]);
		const char *v = VARDATA_ANY(part);
		size_t		vlen = VARSIZE_ANY_EXHDR(part);

		*p++ = ':';
		if (!escape)
		{
			memcpy(p, v, vlen);
			p += vlen;
			continue;
		}
		for (size_t i = 0; i < vlen; i++)
		{
			if (v[i] == ':' || v[i] == '\\')
				*p++ = '\\';
			*p++ = v[i];
		}
	}
	*p = '\0';
	return key;
}

/*
 * Builds the pushes for the claims of one feature set, in the current
 * memory context: reads each entity's latest row.
 */
static void
build_pushes(const BatchSet *set, FsbQueueEntry *claims, int nclaims,
			 FsbPush *pushes)
{
	const FsbFeatureSet *fs = set->fs;
	int			nvalues = list_length(set->value_names);
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;
	Datum	   *keys = palloc(sizeof(Datum) * set->nkeys);
	ArrayBuildState **columns = palloc0(sizeof(ArrayBuildState *) * set->nkeys);
	Datum	  **parts = palloc(sizeof(Datum *) * nclaims);
	int		   *nparts = palloc(sizeof(int) * nclaims);
	SPITupleTable *rows;
	FsbSavedUser saved;
	int			rc;

	/* each entity's key values, once: a text[] per key column, and the key */
	for (int i = 0; i < nclaims; i++)
	{
		deconstruct_array(DatumGetArrayTypeP(claims[i].entity), TEXTOID, -1, false,
						  TYPALIGN_INT, &parts[i], NULL, &nparts[i]);
		/* an entry queued before the key columns changed matches nothing */
		for (int k = 0; k < set->nkeys; k++)
			columns[k] = accumArrayResult(columns[k],
										  k < nparts[i] ? parts[i][k] : (Datum) 0,
										  k >= nparts[i], TEXTOID, cxt);
	}
	for (int k = 0; k < set->nkeys; k++)
		keys[k] = makeArrayResult(columns[k], cxt);

	/*
	 * As the target's owner, in a security-restricted operation, as
	 * autovacuum reads a table: the owner's functions (an equality operator,
	 * a cast) must not run with the worker's rights.  A fresh snapshot: an
	 * entry claimed now may come from a commit since.
	 */
	fsb_become_user(set->owner, &saved);
	rc = SPI_execute_plan(set->latest, keys, NULL, false, 0);
	fsb_restore_user(&saved);
	MemoryContextSwitchTo(cxt); /* SPI returns in its own */
	if (rc != SPI_OK_SELECT || SPI_processed != (uint64) nclaims)
		elog(ERROR, "latest rows: expected %d, got " UINT64_FORMAT " (%s)",
			 nclaims, SPI_processed, SPI_result_code_string(rc));
	rows = SPI_tuptable;

	for (int i = 0; i < nclaims; i++)
	{
		HeapTuple	row = rows->vals[i];
		TupleDesc	rdesc = rows->tupdesc;
		FsbPush    *p = &pushes[i];
		bool		isnull;
		Datum		time = heap_getattr(row, 2, rdesc, &isnull);
		int			f = 0;
		ListCell   *lc;

		memset(p, 0, sizeof(FsbPush));
		p->key = entity_key(fs->name, parts[i], nparts[i]);
		p->guard = claims[i].guard;
		if (isnull)
			continue;			/* no row left: delete */
		if (fs->online_ttl)
		{
			TimestampTz expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																		  time, IntervalPGetDatum(fs->online_ttl)));

			if (expires <= now)
				continue;		/* already expired: not written, deleted */
			p->expire_at_ms = unix_ms(expires);
		}
		p->fields = palloc(sizeof(char *) * (nvalues + 1));
		p->values = palloc(sizeof(char *) * (nvalues + 1));
		foreach(lc, set->value_names)
		{
			int			v = foreach_current_index(lc);
			Datum		d = heap_getattr(row, 3 + v, rdesc, &isnull);

			if (isnull)
				continue;		/* a NULL column is absent */
			p->fields[f] = lfirst(lc);
			p->values[f++] = OutputFunctionCall(&set->outputs[v], d);
		}
		p->fields[f] = "_ts";
		p->values[f++] = fsb_redis_ts(DatumGetTimestampTz(time));
		p->nfields = f;
	}
	SPI_freetuptable(rows);
}

/*
 * Waits until the transactions that queued the claimed entries are over,
 * then takes in their invalidation messages.  A transaction's rows are
 * visible once it committed, but it sends its invalidations (a partition a
 * backfill created) a moment later: reading an entity's latest row before
 * that could miss the partition that holds it.  The wait is that moment.
 */
static void
wait_for_queuers(const FsbQueueEntry *claims, int nclaims)
{
	TransactionId last = InvalidTransactionId;

	for (int i = 0; i < nclaims; i++)
	{
		TransactionId xid = claims[i].queued_by;

		if (!TransactionIdIsNormal(xid) || TransactionIdEquals(xid, last) ||
			TransactionIdIsCurrentTransactionId(xid))
			continue;
		XactLockTableWait(xid, NULL, NULL, XLTW_None);
		last = xid;
	}
	AcceptInvalidationMessages();
}

/*
 * Whether a feature set's target has other partitions than those its plan
 * of the batch was made with: a backfill that committed during the batch
 * created one.
 */
static bool
partitions_changed(const BatchSet *set)
{
	Relation	target;
	PartitionDesc pd;
	bool		changed;

	if (set->parts == NULL)
		return false;
	target = try_relation_open(set->fs->target, AccessShareLock);
	if (target == NULL)
		return false;			/* its read will say so */
	pd = RelationGetPartitionDesc(target, true);
	changed = pd->nparts != set->nparts ||
		memcmp(pd->oids, set->parts, sizeof(Oid) * pd->nparts) != 0;
	relation_close(target, NoLock);
	return changed;
}

/* The batch's state of a feature set, made on first sight. */
static BatchSet *
find_batch_set(List **sets, const char *name)
{
	ListCell   *lc;
	MemoryContext old;
	BatchSet   *set;

	foreach(lc, *sets)
	{
		set = lfirst(lc);
		if (strcmp(set->name, name) == 0)
			return set;
	}
	old = MemoryContextSwitchTo(batch_cxt);
	set = batch_set(name);
	MemoryContextSwitchTo(batch_cxt);
	*sets = lappend(*sets, set);
	MemoryContextSwitchTo(old);
	return set;
}

/*
 * Plans anew, in place (pushes sent already point at them), the feature sets
 * of the batch whose targets' partitions changed since they were planned.
 * Once per chunk, after wait_for_queuers().
 */
static void
replan_changed_sets(List *sets)
{
	ListCell   *lc;

	foreach(lc, sets)
	{
		BatchSet   *set = lfirst(lc);
		int64		claimed = set->claimed;
		MemoryContext old;

		if (set->fs == NULL || !partitions_changed(set))
			continue;
		set_at_work = set->name;
		SPI_freeplan(set->latest);
		old = MemoryContextSwitchTo(batch_cxt);
		*set = *batch_set(set->name);
		set->claimed = claimed;
		MemoryContextSwitchTo(old);
	}
}

/*
 * The parked feature sets still waiting for their retry, as a text[] for the
 * claim, in the current memory context, and how many.  In a transaction.
 */
static Datum
skipped_sets(int *count)
{
	TimestampTz now = GetCurrentTimestamp();
	ArrayBuildState *names = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	ListCell   *lc;

	*count = 0;
	foreach(lc, parked_sets)
	{
		ParkedSet  *parked = lfirst(lc);

		if (parked->retry_at > now)
		{
			accumArrayResult(names, CStringGetTextDatum(parked->name), false,
							 TEXTOID, CurrentMemoryContext);
			(*count)++;
		}
	}
	return makeArrayResult(names, CurrentMemoryContext);
}

static ParkedSet *
find_parked_set(const char *name)
{
	ListCell   *lc;

	foreach(lc, parked_sets)
	{
		ParkedSet  *parked = lfirst(lc);

		if (strcmp(parked->name, name) == 0)
			return parked;
	}
	return NULL;
}

/*
 * Parks a feature set whose entries could not be pushed, or parks it longer.
 * Warns on its first failure only, not on every retry.  Takes no lock and
 * runs no SQL: the caller is cleaning up after an error.
 */
static void
park_set(const char *name, int sqlerrcode, const char *error)
{
	ParkedSet  *parked = find_parked_set(name);
	MemoryContext old = MemoryContextSwitchTo(parked_cxt);

	if (parked == NULL)
	{
		parked = palloc0(sizeof(ParkedSet));
		parked->name = pstrdup(name);
		parked->wait_ms = fsb_next_backoff(0, 1000);
		parked_sets = lappend(parked_sets, parked);
		ereport(WARNING,
				(errcode(sqlerrcode),
				 errmsg("fs_backfill online worker could not push feature set \"%s\": %s",
						name, error),
				 errdetail("Its entries stay queued and are tried again, at most every %d s; the other feature sets go on.",
						   FSB_BACKOFF_MAX_MS / 1000)));
	}
	else
	{
		pfree(parked->error);
		parked->wait_ms = fsb_next_backoff(parked->wait_ms, 1000);
	}
	parked->error = pstrdup(error);
	parked->error_recorded = false;
	parked->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), parked->wait_ms);
	MemoryContextSwitchTo(old);
}

/* Parks the feature sets whose pushes Redis refused (FsbRefusals). */
static void
park_refused(List *refused)
{
	ListCell   *lc;

	foreach(lc, refused)
	{
		FsbRefusal *refusal = lfirst(lc);

		park_set(((const BatchSet *) refusal->owner)->name, refusal->sqlerrcode,
				 refusal->error);
	}
}

/* A parked feature set whose entries were pushed is parked no more. */
static void
unpark_set(const char *name)
{
	ParkedSet  *parked = find_parked_set(name);

	if (parked == NULL)
		return;
	parked_sets = list_delete_ptr(parked_sets, parked);
	ereport(LOG,
			(errmsg("fs_backfill online worker pushes feature set \"%s\" again", name)));
	pfree(parked->name);
	pfree(parked->error);
	pfree(parked);
}

/*
 * Shows the parked feature sets' errors in fs_backfill.online_status: one
 * transaction, as the extension owner, for the errors not recorded yet.
 * Showing them must not stop the draining: a failure is a warning, and the
 * errors are tried again next time.
 */
void
fsb_drain_record_errors(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	ListCell   *lc;
	bool		any = false;

	foreach(lc, parked_sets)
		any |= !((ParkedSet *) lfirst(lc))->error_recorded;
	if (!any)
		return;

	PG_TRY();
	{
		FsbSavedUser saved;

		fsb_worker_xact_begin("fs_backfill: recording a feature set's error");
		fsb_become_user(fsb_extension_owner(), &saved);
		foreach(lc, parked_sets)
		{
			ParkedSet  *parked = lfirst(lc);

			if (!parked->error_recorded)
				fsb_catalog_online_error(parked->name, parked->error);
		}
		fsb_restore_user(&saved);
		fsb_worker_xact_commit();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("fs_backfill online worker could not record a feature set's error: %s",
						edata->message)));
		FreeErrorData(edata);
		return;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);

	foreach(lc, parked_sets)
		((ParkedSet *) lfirst(lc))->error_recorded = true;
}

/*
 * Claims and pushes one chunk of entries, in chunk_cxt.  Returns how many it
 * claimed; 0 means the queue has nothing more for this batch.
 */
static int
push_chunk(Batch *batch, int limit)
{
	MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
	FsbQueueEntry *claims = palloc(sizeof(FsbQueueEntry) * limit);
	FsbQueueEntry *mine = palloc(sizeof(FsbQueueEntry) * limit);
	BatchSet  **sets = palloc(sizeof(BatchSet *) * limit);	/* per claim */
	FsbPush    *pushes = palloc(sizeof(FsbPush) * limit);
	int			nclaims = fsb_catalog_queue_claim(limit, batch->after,
												  batch->skipped, claims);
	int			npushes = 0;
	ListCell   *lc;

	wait_for_queuers(claims, nclaims);
	replan_changed_sets(batch->sets);

	/* the sets of this chunk, each met first in it or before */
	for (int i = 0; i < nclaims; i++)
	{
		set_at_work = claims[i].feature_set;
		sets[i] = find_batch_set(&batch->sets, claims[i].feature_set);
	}

	foreach(lc, batch->sets)
	{
		BatchSet   *set = lfirst(lc);
		int			nmine = 0;

		for (int i = 0; i < nclaims; i++)
			if (sets[i] == set)
				mine[nmine++] = claims[i];
		set->claimed += nmine;
		set_at_work = set->name;
		if (set->fs != NULL && nmine > 0)
		{
			build_pushes(set, mine, nmine, pushes + npushes);
			/* a refusal of these is pinned on the set */
			for (int i = npushes; i < npushes + nmine; i++)
				pushes[i].owner = set;
			npushes += nmine;
		}
	}
	set_at_work = NULL;
	for (int i = 0; i < nclaims; i++)
		batch->after = Max(batch->after, claims[i].id);
	batch->pushed += npushes;
	if (npushes > 0 && !fsb_redis_send(batch->redis, pushes, npushes, &batch->error))
		batch->error = MemoryContextStrdup(batch_cxt, batch->error);
	MemoryContextSwitchTo(old);
	MemoryContextReset(chunk_cxt);
	return nclaims;
}

/*
 * Drains one batch: up to fs_backfill.online_batch_size entries in one
 * transaction, claimed and sent in chunks of FSB_CHUNK entries, so that Redis
 * applies one chunk while the next one is read.  The claims are ordered by
 * id, from "after" on, each chunk after the last, skipping parked feature
 * sets; *last is set to the highest id claimed once the batch committed.
 * Returns the number of entries done; -1 when Redis failed (the transaction
 * rolled back; the error is in *error, valid until the next batch),
 * FSB_BATCH_AGAIN when it had to be given the push script again, or
 * FSB_BATCH_PARKED when it refused some feature sets' pushes (rolled back
 * too; those feature sets are parked).  Any other failure is an ERROR, which
 * fsb_drain_blame() may pin on a feature set.
 *
 * The commit need not wait for its WAL to reach disk: if a crash loses it,
 * its entries come back and are pushed again, which delivery at least once
 * allows.
 */
int
fsb_drain_batch(FsbRedis *redis, int64 after, int64 *last, char **error)
{
	Batch		batch;
	ListCell   *lc;
	int			claimed = 0;
	FsbSavedUser saved;
	FsbPushResult result;
	List	   *refused = NIL;
	int			nskipped;

	MemoryContextReset(batch_cxt);
	*error = NULL;
	memset(&batch, 0, sizeof(batch));
	batch.redis = redis;
	batch.after = after;
	set_at_work = NULL;

	fsb_worker_xact_begin("fs_backfill: pushing to Redis");
	batch.skipped = skipped_sets(&nskipped);
	/* a parked feature set due again: its entries may lie behind "after" */
	if (nskipped < last_nskipped)
		batch.after = 0;
	last_nskipped = nskipped;
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	while (claimed < fsb_online_batch_size && batch.error == NULL)
	{
		int			limit = Min(claimed == 0 ? FSB_FIRST_CHUNK : FSB_CHUNK,
								fsb_online_batch_size - claimed);
		int			n = push_chunk(&batch, limit);

		claimed += n;
		if (n < limit)
			break;
	}
	result = batch.error ? FSB_PUSH_FAILED : fsb_redis_wait(redis, &refused, &batch.error);
	if (result != FSB_PUSH_DONE)
	{
		/* the message lives in SPI's memory, which SPI_finish frees */
		*error = batch.error ? MemoryContextStrdup(batch_cxt, batch.error) : NULL;
		park_refused(refused);
		fsb_worker_xact_abort();
		if (result == FSB_PUSH_REFUSED)
			return FSB_BATCH_PARKED;
		return result == FSB_PUSH_AGAIN ? FSB_BATCH_AGAIN : -1;
	}

	/* Redis acknowledged: the entries' deletion may commit */
	fsb_become_user(fsb_extension_owner(), &saved);
	foreach(lc, batch.sets)
	{
		BatchSet   *set = lfirst(lc);

		fsb_catalog_online_pushed(set->name, set->claimed);
	}
	fsb_restore_user(&saved);
	fsb_worker_xact_commit();
	*last = batch.after;
	fsb_worker_report(batch.pushed, true, NULL);
	foreach(lc, batch.sets)
	{
		BatchSet   *set = lfirst(lc);

		if (set->claimed > 0)
			unpark_set(set->name);
	}
	return claimed;
}

/*
 * After an ERROR in fsb_drain_batch(), once the transaction is aborted:
 * when it came from reading one feature set's entries, parks that feature
 * set and returns true; false when no feature set is to blame.
 */
bool
fsb_drain_blame(int sqlerrcode, const char *message)
{
	if (set_at_work == NULL)
		return false;
	park_set(set_at_work, sqlerrcode, message);
	set_at_work = NULL;
	return true;
}
