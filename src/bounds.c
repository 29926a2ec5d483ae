/*-------------------------------------------------------------------------
 *
 * bounds.c
 *	  The bounds of a target's partitions, in ascending order.
 *
 * A plain table is one partition from -infinity to +infinity.  For a table
 * partitioned by RANGE on its time column, the bounds come from the
 * relcache's partition descriptor when this backend has already built it,
 * and otherwise straight from the catalogs: pg_inherits lists the children
 * (by the inhparent index, leaving out partitions being detached exactly as
 * the partition descriptor does, find_inheritance_children_extended), and
 * each child's pg_class.relpartbound gives its two bounds: one ordered scan
 * of pg_class's OID index over the children, fetching only their rows, and
 * relpartbound read straight from its text when it has the form outfuncs.c
 * gives a RANGE bound of one timestamptz column (stringToNode otherwise).
 *
 * Why not always the descriptor: building it decodes the bounds of every
 * partition, sorts them and copies them into the relcache, which the first
 * query on the parent in a new session pays.  With thousands of partitions
 * that was most of the time of fs_backfill_plan in a new session, and a plan
 * needs only the bounds, not the descriptor.  Reading the catalogs builds
 * nothing that outlives the call.
 *
 * Default partitions hold no range and are left out (fsb_check_target
 * refuses a target that has one).  A child whose relpartbound is not yet
 * visible in the catalog snapshot (an ATTACH racing with us, see
 * RelationBuildPartitionDesc) sends us back to the descriptor, which copes.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/bounds.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "fs_backfill.h"

/* A bound of kind MINVALUE, MAXVALUE or a value, as a TimestampTz. */
static TimestampTz
bound_of(PartitionRangeDatumKind kind, Datum value)
{
	switch (kind)
	{
		case PARTITION_RANGE_DATUM_MINVALUE:
			return DT_NOBEGIN;
		case PARTITION_RANGE_DATUM_MAXVALUE:
			return DT_NOEND;
		default:
			return DatumGetTimestampTz(value);
	}
}

/*
 * From the partition descriptor: boundinfo->datums[i] is the upper bound of
 * partition boundinfo->indexes[i] (or of a gap when that is -1), and
 * datums[i - 1] its lower bound.
 */
static FsbRange *
ranges_from_descriptor(Relation target, int *nranges)
{
	PartitionDesc desc = RelationGetPartitionDesc(target, true);
	PartitionBoundInfo bi = desc->boundinfo;
	FsbRange   *ranges = palloc(sizeof(FsbRange) * (desc->nparts + 1));
	int			n = 0;

	for (int i = 0; bi != NULL && i < bi->ndatums; i++)
	{
		int			index = bi->indexes[i];

		if (index < 0)
			continue;
		Assert(i > 0);
		ranges[n].relid = desc->oids[index];
		ranges[n].lower = bound_of(bi->kind[i - 1][0], bi->datums[i - 1][0]);
		ranges[n].upper = bound_of(bi->kind[i][0], bi->datums[i][0]);
		n++;
	}
	*nranges = n;
	return ranges;
}

static TimestampTz
spec_bound(List *datums)
{
	PartitionRangeDatum *d = linitial_node(PartitionRangeDatum, datums);

	return bound_of(d->kind, d->kind == PARTITION_RANGE_DATUM_VALUE ?
					castNode(Const, d->value)->constvalue : (Datum) 0);
}

/* Steps *p over literal; false if the text there is not literal. */
static bool
skip_literal(const char **p, const char *literal)
{
	size_t		len = strlen(literal);

	if (strncmp(*p, literal, len) != 0)
		return false;
	*p += len;
	return true;
}

/*
 * Reads an integer of at most 10 digits, maybe negative, at *p and steps
 * over it; false if there is none.  (strtol() was a tenth of the time.)
 */
static bool
read_integer(const char **p, long *value)
{
	const char *s = *p;
	bool		negative = *s == '-';
	long		v = 0;
	int			digits = 0;

	if (negative)
		s++;
	for (; isdigit((unsigned char) *s); s++)
	{
		if (++digits > 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	if (digits == 0)
		return false;
	*value = negative ? -v : v;
	*p = s;
	return true;
}

/*
 * One PartitionRangeDatum of a timestamptz bound, as outfuncs.c writes it:
 *
 *	{PARTITIONRANGEDATUM :kind 0 :value {CONST :consttype 1184 :consttypmod -1
 *	 :constcollid 0 :constlen 8 :constbyval true :constisnull false
 *	 :location 62 :constvalue 8 [ 0 64 91 48 -56 -46 2 0 ]} :location 62}
 *
 * with ":kind -1 :value <>" for MINVALUE and ":kind 1 :value <>" for
 * MAXVALUE; consttypmod is that of the column.  The bytes are those of the Datum in memory, each printed as a
 * char, which readfuncs.c's readDatum() copies back.
 */
static bool
read_range_datum(const char **p, TimestampTz *bound)
{
	long		kind;
	long		number;
	union
	{
		Datum		datum;
		char		bytes[sizeof(Datum)];
	}			value;

	if (!skip_literal(p, "{PARTITIONRANGEDATUM :kind ") ||
		!read_integer(p, &kind))
		return false;
	if (kind == PARTITION_RANGE_DATUM_MINVALUE ||
		kind == PARTITION_RANGE_DATUM_MAXVALUE)
	{
		*bound = bound_of(kind, (Datum) 0);
		return skip_literal(p, " :value <> :location ") &&
			read_integer(p, &number) && skip_literal(p, "}");
	}
	if (kind != PARTITION_RANGE_DATUM_VALUE ||
		!skip_literal(p, " :value {CONST :consttype 1184 :consttypmod ") ||
		!read_integer(p, &number) ||
		!skip_literal(p, " :constcollid 0 :constlen 8 :constbyval true"
					  " :constisnull false :location ") ||
		!read_integer(p, &number) ||
		!skip_literal(p, " :constvalue 8 [ "))
		return false;
	for (int i = 0; i < sizeof(Datum); i++)
	{
		if (!read_integer(p, &number) || number < -128 || number > 255 ||
			!skip_literal(p, " "))
			return false;
		value.bytes[i] = (char) number;
	}
	*bound = bound_of(PARTITION_RANGE_DATUM_VALUE, value.datum);
	return skip_literal(p, "]} :location ") && read_integer(p, &number) &&
		skip_literal(p, "}");
}

/*
 * Reads the RANGE bound of one timestamptz column that relpartbound holds
 * for all but the odd partition, without stringToNode(): in a new session
 * that was most of the time left reading thousands of bounds.  False for
 * any text not exactly of that form, which stringToNode() then reads.
 */
static bool
read_range_bound(const char *text, FsbRange *range)
{
	const char *p = text;

	return sizeof(Datum) == sizeof(TimestampTz) &&
		skip_literal(&p, "{PARTITIONBOUNDSPEC :strategy r :is_default false"
					 " :modulus 0 :remainder 0 :listdatums <> :lowerdatums (") &&
		read_range_datum(&p, &range->lower) &&
		skip_literal(&p, ") :upperdatums (") &&
		read_range_datum(&p, &range->upper) &&
		skip_literal(&p, ") :location ");
}

/*
 * Decodes a child's relpartbound into *range; false for a default partition.
 */
static bool
decode_bound(Oid child, Datum relpartbound, FsbRange *range)
{
	char	   *bound_text = TextDatumGetCString(relpartbound);
	PartitionBoundSpec *spec;

	if (read_range_bound(bound_text, range))
	{
		range->relid = child;
		return true;
	}
	spec = castNode(PartitionBoundSpec, stringToNode(bound_text));
	if (spec->is_default)
		return false;
	if (spec->strategy != PARTITION_STRATEGY_RANGE ||
		list_length(spec->lowerdatums) != 1 ||
		list_length(spec->upperdatums) != 1)
		elog(ERROR, "unexpected bound of partition %u", child);
	range->relid = child;
	range->lower = spec_bound(spec->lowerdatums);
	range->upper = spec_bound(spec->upperdatums);
	return true;
}

static int
compare_ranges(const void *a, const void *b)
{
	const FsbRange *x = a;
	const FsbRange *y = b;

	/* [MINVALUE, '-infinity') comes before ['-infinity', ...) */
	if (x->lower != y->lower)
		return x->lower < y->lower ? -1 : 1;
	if (x->upper != y->upper)
		return x->upper < y->upper ? -1 : 1;
	return 0;
}

/*
 * Reads the pg_class rows of the children, whose OIDs are sorted, with one
 * scan of pg_class's OID index from the first to the last: the index tuple
 * tells a child from the relations between them, and only children's rows
 * are fetched.  Each row is decoded in a scratch context reset after it.
 * Returns the number of ranges, or -1 when a child has no visible bound.
 */
static int
read_children_bounds(const Oid *children, int nchildren, FsbRange *ranges)
{
	Relation	pg_class = table_open(RelationRelationId, AccessShareLock);
	Relation	index = index_open(ClassOidIndexId, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetCatalogSnapshot(RelationRelationId));
	TupleTableSlot *slot = table_slot_create(pg_class, NULL);
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "fs_backfill bounds",
												  ALLOCSET_DEFAULT_SIZES);
	IndexScanDesc scan;
	ScanKeyData keys[2];
	int			next = 0;		/* first child not found yet */
	int			n = 0;

	ScanKeyInit(&keys[0], Anum_pg_class_oid, BTGreaterEqualStrategyNumber,
				F_OIDGE, ObjectIdGetDatum(children[0]));
	ScanKeyInit(&keys[1], Anum_pg_class_oid, BTLessEqualStrategyNumber,
				F_OIDLE, ObjectIdGetDatum(children[nchildren - 1]));
	scan = index_beginscan(pg_class, index, snapshot, 2, 0);
	scan->xs_want_itup = true;
	index_rescan(scan, keys, 2, NULL, 0);

	while (next < nchildren &&
		   index_getnext_tid(scan, ForwardScanDirection) != NULL)
	{
		bool		isnull;
		Oid			oid = DatumGetObjectId(index_getattr(scan->xs_itup, 1,
														 scan->xs_itupdesc,
														 &isnull));
		Datum		relpartbound;
		MemoryContext caller;

		CHECK_FOR_INTERRUPTS();
		/* a child passed over had no visible row */
		if (children[next] < oid)
			break;
		/* not a child, or an entry of a row that is not visible */
		if (children[next] != oid || !index_fetch_heap(scan, slot))
			continue;
		relpartbound = slot_getattr(slot, Anum_pg_class_relpartbound, &isnull);
		if (isnull)
			break;
		next++;
		caller = MemoryContextSwitchTo(scratch);
		if (decode_bound(oid, relpartbound, &ranges[n]))
			n++;
		MemoryContextSwitchTo(caller);
		MemoryContextReset(scratch);
	}

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	MemoryContextDelete(scratch);
	index_close(index, AccessShareLock);
	table_close(pg_class, AccessShareLock);
	return next == nchildren ? n : -1;
}

/*
 * From the catalogs; NULL when a child's bound is not visible yet.
 */
static FsbRange *
ranges_from_catalogs(Relation target, int *nranges)
{
	bool		detached_exist = false;
	TransactionId detached_xmin = InvalidTransactionId;
	List	   *children;
	Oid		   *oids;
	FsbRange   *ranges;
	int			nchildren;
	int			n = 0;

	/* partitions being detached are left out as partdesc.c does */
	children = find_inheritance_children_extended(RelationGetRelid(target),
												  true, NoLock,
												  &detached_exist,
												  &detached_xmin);
	nchildren = list_length(children);
	ranges = palloc(sizeof(FsbRange) * (nchildren + 1));
	if (nchildren > 0)
	{
		oids = palloc(sizeof(Oid) * nchildren);
		for (int i = 0; i < nchildren; i++)
			oids[i] = list_nth_oid(children, i);
		qsort(oids, nchildren, sizeof(Oid), oid_cmp);
		n = read_children_bounds(oids, nchildren, ranges);
		pfree(oids);
	}
	list_free(children);
	if (n < 0)
	{
		pfree(ranges);
		return NULL;
	}
	qsort(ranges, n, sizeof(FsbRange), compare_ranges);
	*nranges = n;
	return ranges;
}

/*
 * The partitions of a target in ascending order; a plain table is one
 * unbounded partition.  The caller holds a lock on target; the array lives
 * in the current memory context.
 */
FsbRange *
fsb_bounds_load(Relation target, int *nranges)
{
	FsbRange   *ranges;

	if (target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
	{
		ranges = palloc(sizeof(FsbRange));
		ranges[0].relid = RelationGetRelid(target);
		ranges[0].lower = DT_NOBEGIN;
		ranges[0].upper = DT_NOEND;
		*nranges = 1;
		return ranges;
	}

	/* a descriptor already built, and not one that needs rebuilding */
	if (target->rd_partdesc != NULL && !target->rd_partdesc->detached_exist)
		return ranges_from_descriptor(target, nranges);

	ranges = ranges_from_catalogs(target, nranges);
	if (ranges == NULL)
		ranges = ranges_from_descriptor(target, nranges);
	return ranges;
}
