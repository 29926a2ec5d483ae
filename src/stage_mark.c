/*-------------------------------------------------------------------------
 *
 * stage_mark.c
 *	  Tells whether a partition was written between the staging of its slice
 *	  and the publish of the run.
 *
 * A staged slice is built from the source into a new heap beside its
 * partition, in a transaction of its own; publish, much later, replaces the
 * partition's contents with it.  A row written into the partition in between
 * would vanish at publish, so publish refuses (40001) when this file says the
 * partition was written.  The builder takes a mark (fsb_stage_mark) with the
 * partition locked against writers; publish asks (fsb_stage_mark_written)
 * with the partition locked against writers again.  Both locks matter: at
 * the mark, every transaction that wrote the partition before has ended (a
 * writer holds ROW EXCLUSIVE to its end; the lock is released after the
 * transaction left the proc array and its commit or abort is in pg_xact); at
 * the question, every transaction that wrote it since has ended too.
 *
 * The mark.  Taken after the lock: the partition's OID, relfilenode and
 * number of blocks, the WAL insert position (GetXLogInsertRecPtr), a fresh
 * snapshot (GetLatestSnapshot), and per block the number of rows alive then.
 * The snapshot's xids are widened to 64 bits against the next xid, so that
 * no comparison wraps around however long the run waits.  Its running xids
 * (xip and subxip) are kept as one sorted list, "running"; the snapshot
 * leaves out the marking transaction itself, so its own xid and cached
 * subxids are added to that list: anything the marking transaction wrote
 * counts as written later (the builder writes only into its new heap, so
 * this costs nothing there, and it keeps the helper honest when a test marks
 * and writes in one transaction).  A transaction is "after the mark" when
 * the snapshot does not see it completed: xid >= xmax, or in the running
 * list.  Everything below xmin is before.  When a running transaction has
 * more subtransactions than its proc array entry caches, the snapshot
 * "overflowed" and lacks their subxids; pg_subtrans cannot settle them at
 * publish (it is truncated at checkpoints), so the mark settles them: it
 * looks up every xid of [xmin, xmax) in pg_subtrans, which holds them all as
 * long as our snapshot does, and lists those whose topmost transaction is
 * running.  Past 200,000 xids to look up or 10,000 subxids to list, it stays
 * "overflowed" instead, and then any xid in [xmin, xmax) that is not listed
 * counts as after: conservative, a false "written", never a missed one.
 * (The snapshot may be one the server reuses, taken before our lock: it is
 * reused only while no transaction ended, so no writer ended after it.)  A
 * row is alive at the mark when a transaction before the mark inserted it
 * and committed, and none before the mark deleted it and committed.  The
 * mark is text: "fsb1 rel=.. node=.. blocks=.. lsn=../.. xmin=.. xmax=..
 * overflow=0|1 alive=count*blocks,... running=x,y,...", the counts per block
 * in runs.
 *
 * The question.
 *	- Another relfilenode (TRUNCATE, a swap, VACUUM FULL, CLUSTER, SET
 *	  TABLESPACE): written.  VACUUM FULL and CLUSTER write no row, but their
 *	  rewrite leaves no page to compare; they are rare between staging and
 *	  publish, so they count.
 *	- A block VACUUM truncated since (fewer blocks than marked) that had
 *	  rows alive at the mark: written, they were deleted since.  Truncated
 *	  blocks that had none (rows deleted before the mark, and vacuumed) do
 *	  not count.
 *	- Then every page is read, header first, with a bulk-read strategy and a
 *	  share lock.  On a WAL-logged relation every change of a page sets its
 *	  LSN to the end of the change's WAL record, which lies beyond the mark's
 *	  insert position if the change came after the mark: a page below the
 *	  marked block count whose LSN is at most the mark's was not changed since,
 *	  and its tuples are not looked at.  That is the cheap path: a cached
 *	  300k-row partition is a few thousand buffer pins.
 *	- On the other pages (changed since the mark, added since, or any page of
 *	  a relation that is not WAL-logged: unlogged, or new in the marking
 *	  transaction under wal_level = minimal, whose pages carry no useful LSN),
 *	  each normal tuple is read.  Written since the mark: an xmin that is after
 *	  the mark and committed (hint bit, frozen, or pg_xact; an xmin hinted
 *	  invalid is an aborted insert), or an xmax that is not only a row lock
 *	  (HEAP_XMAX_IS_LOCKED_ONLY; for a multixact, its updater,
 *	  HeapTupleGetUpdateXid) and is after the mark and committed; or fewer rows
 *	  alive at the mark are left on the page than the mark counted there: the
 *	  others were deleted since, and pruning or VACUUM reclaimed them (only
 *	  dead rows are reclaimed, and a row alive at the mark dies only by a
 *	  deletion after it; rows never move between pages but by an update,
 *	  whose new version is itself a write, or a rewrite, which changes the
 *	  relfilenode).  The current transaction's own xids count as committed.
 *	  So a page changed only by pruning or VACUUM of rows dead before the
 *	  mark, by freezing, by hint bits with checksums or by a row lock does not
 *	  count.
 *
 * pg_xact is asked only about xids in tuples that are not frozen and carry
 * no hint: such an xid is at or above the relation's relfrozenxid, so its
 * pg_xact page still exists, and its transaction has ended.  To tell a write
 * it asks only about xids after the mark; to count the rows alive, about
 * xids before it too, but only on the pages it reads tuples of.  A frozen
 * tuple keeps its raw xmin (9.4 and later), which is compared like any
 * other, so an insert since the mark that VACUUM FREEZE froze before publish
 * is still seen.  A frozen raw xmin can be more than 2^31 xids old, and then
 * its widening is wrong: if it lands at or beyond the next xid it is known to
 * be old and counts as before; if it lands between the mark and now it
 * counts as after (a false "written", only on a page changed since the mark
 * that also holds a row frozen more than four billion xids ago).
 *
 * Limits.  A row inserted since the mark and deleted again, both reclaimed by
 * the question, leaves no trace: nothing was there to lose.  An unlogged
 * partition emptied by crash recovery is not "written" by anyone, but its
 * rows alive at the mark are gone, so it counts.  Unlogged partitions get no
 * cheap path: every tuple is read.  The mark lists every running xid, so it
 * grows with the number of open transactions (and their subtransactions):
 * some bytes each; the counts per block take a few bytes per run of equal
 * counts (bulk-loaded pages are alike).
 *
 * Cost, measured on a 300k-row partition of 1,911 blocks with nothing
 * written: the question takes 1 to 5 ms when its pages are in shared
 * buffers, about 6 ms when they come from the OS cache through the bulk-read
 * ring (which does not keep them), about twice that when every page changed
 * since the mark (all tuples read, none a write).  The mark reads every tuple
 * once, in the builder: tens of milliseconds.
 *
 * Memory: the mark and its parsed form live in the caller's context.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage_mark.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <stdlib.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/subtrans.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "fs_backfill.h"
#include "stage.h"

/*
 * Resolving an overflowed snapshot through pg_subtrans: at most this many
 * xids looked up (a few tens of milliseconds), this many subxids kept.
 */
#define FSB_MARK_SCAN_XIDS		200000
#define FSB_MARK_KEEP_SUBXIDS	10000

PG_FUNCTION_INFO_V1(fs_backfill_stage_mark);
PG_FUNCTION_INFO_V1(fs_backfill_stage_mark_written);

/* A mark, parsed.  Xids are 64-bit (epoch and xid). */
typedef struct FsbStageMark
{
	Oid			relid;
	Oid			relfilenode;
	BlockNumber nblocks;
	XLogRecPtr	lsn;			/* InvalidXLogRecPtr: page LSNs tell nothing */
	uint64		xmin;
	uint64		xmax;
	bool		overflow;		/* subxids of running transactions missing */
	int			nrunning;
	uint64	   *running;		/* sorted */
	uint16	   *alive;			/* per block: rows alive at the mark */
} FsbStageMark;

static void scan_blocks(Relation part, FsbStageMark *mark, BlockNumber nblocks,
						bool *written);

/*
 * A 32-bit xid as a 64-bit one, taking it to be within 2^31 of "next" (the
 * next xid to be assigned), as every xid in an unfrozen tuple is.
 */
static uint64
widen_xid(uint64 next, TransactionId xid)
{
	int32		diff = (int32) (xid - (TransactionId) next);

	return next + (int64) diff;
}

static int
cmp_uint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/* Heap pages only: their tuple headers are what we read. */
static void
check_heap(Relation rel)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_tableam != GetHeapamTableAmRoutine())
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a heap table", fsb_relation_name(rel)),
				 errdetail("Only a table stored in a heap can be marked for a staged run.")));
}

static bool
is_running(const FsbStageMark *mark, uint64 xid)
{
	return bsearch(&xid, mark->running, mark->nrunning, sizeof(uint64),
				   cmp_uint64) != NULL;
}

/*
 * An overflowed snapshot lacks subxids of running transactions.  Finds them
 * in pg_subtrans, which holds every xid from our TransactionXmin on: each xid
 * of [xmin, xmax) whose topmost transaction is running joins the list, and
 * the mark is no longer overflowed.  Gives up (the mark stays overflowed,
 * hence conservative) past FSB_MARK_SCAN_XIDS xids to look at or
 * FSB_MARK_KEEP_SUBXIDS subxids to keep.  "next" is the next xid.
 */
static void
resolve_overflow(FsbStageMark *mark, uint64 next)
{
	int			n = mark->nrunning;
	int			max = n + FSB_MARK_KEEP_SUBXIDS;
	uint64		xid;

	if (mark->xmax - mark->xmin > FSB_MARK_SCAN_XIDS ||
		!TransactionIdIsNormal(TransactionXmin) ||
		widen_xid(next, TransactionXmin) > mark->xmin)
		return;
	mark->running = repalloc(mark->running, sizeof(uint64) * max);
	for (xid = mark->xmin; xid < mark->xmax; xid++)
	{
		TransactionId top;

		if (!TransactionIdIsNormal((TransactionId) xid) || is_running(mark, xid))
			continue;
		top = SubTransGetTopmostTransaction((TransactionId) xid);
		if (top == (TransactionId) xid || !is_running(mark, widen_xid(next, top)))
			continue;
		if (n == max)
			return;				/* too many: stay overflowed */
		mark->running[n++] = xid;
	}
	qsort(mark->running, n, sizeof(uint64), cmp_uint64);
	mark->nrunning = n;
	mark->overflow = false;
}

/*
 * The running xids of "snap" and of the current transaction, widened and
 * sorted, into mark->running; mark->xmin, xmax and overflow too.
 */
static void
mark_snapshot(FsbStageMark *mark, Snapshot snap)
{
	uint64		next = U64FromFullTransactionId(ReadNextFullTransactionId());
	TransactionId own = GetTopTransactionIdIfAny();
	int			max = snap->xcnt + snap->subxcnt + 1 + PGPROC_MAX_CACHED_SUBXIDS;
	int			n = 0;
	int			i;

	mark->xmin = widen_xid(next, snap->xmin);
	mark->xmax = widen_xid(next, snap->xmax);
	mark->overflow = snap->suboverflowed;
	mark->running = palloc(sizeof(uint64) * max);
	for (i = 0; i < snap->xcnt; i++)
		mark->running[n++] = widen_xid(next, snap->xip[i]);
	for (i = 0; i < snap->subxcnt; i++)
		mark->running[n++] = widen_xid(next, snap->subxip[i]);
	if (TransactionIdIsValid(own))
	{
		/* the snapshot leaves our own xids out: they count as after */
		mark->running[n++] = widen_xid(next, own);
		for (i = 0; i < MyProc->subxidStatus.count; i++)
			mark->running[n++] = widen_xid(next, MyProc->subxids.xids[i]);
		if (MyProc->subxidStatus.overflowed)
			mark->overflow = true;
	}
	qsort(mark->running, n, sizeof(uint64), cmp_uint64);
	mark->nrunning = n;
	if (mark->overflow)
		resolve_overflow(mark, next);
}

static char *
format_mark(const FsbStageMark *mark)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "fsb1 rel=%u node=%u blocks=%u lsn=%X/%X xmin="
					 UINT64_FORMAT " xmax=" UINT64_FORMAT " overflow=%d alive=",
					 mark->relid, mark->relfilenode, mark->nblocks,
					 LSN_FORMAT_ARGS(mark->lsn), mark->xmin, mark->xmax,
					 mark->overflow ? 1 : 0);
	/* runs of equal counts: "count*blocks" */
	for (BlockNumber b = 0, e; b < mark->nblocks; b = e)
	{
		for (e = b + 1; e < mark->nblocks && mark->alive[e] == mark->alive[b]; e++)
			;
		appendStringInfo(&buf, "%s%u*%u", b > 0 ? "," : "", mark->alive[b], e - b);
	}
	appendStringInfoString(&buf, " running=");
	for (i = 0; i < mark->nrunning; i++)
		appendStringInfo(&buf, "%s" UINT64_FORMAT, i > 0 ? "," : "",
						 mark->running[i]);
	return buf.data;
}

/*
 * Returns the mark of "part", which the caller has locked against writers
 * (EXCLUSIVE or stronger) in the transaction that stages its slice.  The
 * result is printable text, palloc'd in the caller's context.
 */
char *
fsb_stage_mark(Relation part)
{
	FsbStageMark mark;

	check_heap(part);
	Assert(CheckRelationLockedByMe(part, ExclusiveLock, true));
	mark.relid = RelationGetRelid(part);
	mark.relfilenode = part->rd_node.relNode;
	mark.nblocks = RelationGetNumberOfBlocks(part);
	mark.lsn = RelationNeedsWAL(part) ? GetXLogInsertRecPtr() : InvalidXLogRecPtr;
	mark_snapshot(&mark, GetLatestSnapshot());
	mark.alive = palloc0(sizeof(uint16) * Max(mark.nblocks, 1));
	scan_blocks(part, &mark, mark.nblocks, NULL);
	return format_mark(&mark);
}

/* Raises the error for a mark that does not parse. */
static void
bad_mark(const char *text)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid stage mark \"%s\"", text)));
}

/*
 * Reads "key" then a number in "base" at *p; advances *p past the number.
 */
static uint64
take_number(const char **p, const char *key, int base, const char *text)
{
	size_t		len = strlen(key);
	char	   *end;
	uint64		value;

	if (strncmp(*p, key, len) != 0 || !isxdigit((unsigned char) (*p)[len]))
		bad_mark(text);
	errno = 0;
	value = strtou64(*p + len, &end, base);
	if (errno != 0 || end == *p + len)
		bad_mark(text);
	*p = end;
	return value;
}

/* Reads " alive=count*blocks,..." at *p into mark->alive. */
static void
parse_alive(const char **p, FsbStageMark *mark, const char *text)
{
	BlockNumber filled = 0;

	if (strncmp(*p, " alive=", 7) != 0)
		bad_mark(text);
	*p += 7;
	mark->alive = palloc0(sizeof(uint16) * Max(mark->nblocks, 1));
	while (**p != ' ')
	{
		uint64		count = take_number(p, filled > 0 ? "," : "", 10, text);
		uint64		blocks = take_number(p, "*", 10, text);

		if (count > MaxHeapTuplesPerPage || blocks == 0 ||
			blocks > mark->nblocks - filled)
			bad_mark(text);
		while (blocks-- > 0)
			mark->alive[filled++] = (uint16) count;
	}
	if (filled != mark->nblocks)
		bad_mark(text);
}

static void
parse_mark(const char *text, FsbStageMark *mark)
{
	const char *p = text;
	uint64		hi;
	int			max;

	if (strncmp(p, "fsb1", 4) != 0)
		bad_mark(text);
	p += 4;
	mark->relid = (Oid) take_number(&p, " rel=", 10, text);
	mark->relfilenode = (Oid) take_number(&p, " node=", 10, text);
	mark->nblocks = (BlockNumber) take_number(&p, " blocks=", 10, text);
	hi = take_number(&p, " lsn=", 16, text);
	mark->lsn = (hi << 32) | take_number(&p, "/", 16, text);
	mark->xmin = take_number(&p, " xmin=", 10, text);
	mark->xmax = take_number(&p, " xmax=", 10, text);
	mark->overflow = take_number(&p, " overflow=", 10, text) != 0;
	parse_alive(&p, mark, text);
	if (strncmp(p, " running=", 9) != 0)
		bad_mark(text);
	p += 9;
	max = strlen(p) / 2 + 1;	/* each xid takes a digit and a comma */
	mark->running = palloc(sizeof(uint64) * max);
	mark->nrunning = 0;
	while (*p != '\0')
	{
		uint64		xid = take_number(&p, mark->nrunning > 0 ? "," : "", 10, text);

		mark->running[mark->nrunning++] = xid;
	}
	if (mark->xmin > mark->xmax)
		bad_mark(text);
	qsort(mark->running, mark->nrunning, sizeof(uint64), cmp_uint64);
}

/*
 * True when "xid" is after the mark: not seen completed by its snapshot.
 * "next" is the next xid now.
 */
static bool
xid_after_mark(const FsbStageMark *mark, uint64 next, TransactionId xid)
{
	uint64		full;

	if (!TransactionIdIsNormal(xid))
		return false;			/* bootstrap or frozen: before everything */
	full = widen_xid(next, xid);
	if (full >= next)
		return false;			/* a frozen xmin from more than 2^31 ago */
	if (full < mark->xmin)
		return false;
	if (full >= mark->xmax)
		return true;
	if (is_running(mark, full))
		return true;
	return mark->overflow;		/* maybe a subxid of a running one */
}

/*
 * Did "xid", found in a tuple that is not frozen, commit?  Our own xids count
 * as committed.  Every other transaction that wrote the partition has ended
 * (the caller's lock), so pg_xact holds its final state, and it still holds
 * the xid, which is not older than the relation's relfrozenxid.
 */
static bool
xid_committed(TransactionId xid)
{
	return TransactionIdIsCurrentTransactionId(xid) || TransactionIdDidCommit(xid);
}

/*
 * The xid that deleted or updated "tup", or InvalidTransactionId when none
 * did (no xmax, or one that only locked the row).
 */
static TransactionId
deleting_xid(HeapTupleHeader tup)
{
	uint16		infomask = tup->t_infomask;

	if ((infomask & HEAP_XMAX_INVALID) || HEAP_XMAX_IS_LOCKED_ONLY(infomask))
		return InvalidTransactionId;
	if (infomask & HEAP_XMAX_IS_MULTI)
		return HeapTupleGetUpdateXid(tup);
	return HeapTupleHeaderGetRawXmax(tup);
}

static bool
xmin_committed(HeapTupleHeader tup)
{
	return !HeapTupleHeaderXminInvalid(tup) &&
		(HeapTupleHeaderXminCommitted(tup) ||
		 xid_committed(HeapTupleHeaderGetRawXmin(tup)));
}

static bool
xmax_committed(HeapTupleHeader tup, TransactionId xmax)
{
	return (tup->t_infomask & HEAP_XMAX_COMMITTED) || xid_committed(xmax);
}

/* True when "tup" was inserted, deleted or updated since the mark. */
static bool
tuple_written(const FsbStageMark *mark, uint64 next, HeapTupleHeader tup)
{
	TransactionId xmax = deleting_xid(tup);

	if (xid_after_mark(mark, next, HeapTupleHeaderGetRawXmin(tup)) &&
		xmin_committed(tup))
		return true;
	return TransactionIdIsValid(xmax) && xid_after_mark(mark, next, xmax) &&
		xmax_committed(tup, xmax);
}

/*
 * True when "tup" was alive at the mark: inserted before it by a transaction
 * that committed, and not deleted before it by one that committed.
 */
static bool
tuple_alive(const FsbStageMark *mark, uint64 next, HeapTupleHeader tup)
{
	TransactionId xmax = deleting_xid(tup);

	if (xid_after_mark(mark, next, HeapTupleHeaderGetRawXmin(tup)) ||
		!xmin_committed(tup))
		return false;
	return !TransactionIdIsValid(xmax) || xid_after_mark(mark, next, xmax) ||
		!xmax_committed(tup, xmax);
}

/*
 * Reads the tuples of "page": returns true when one was written since the
 * mark, and counts in *alive those that were alive at it.
 */
static bool
page_written(const FsbStageMark *mark, uint64 next, Page page, int *alive)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	*alive = 0;
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		id = PageGetItemId(page, off);
		HeapTupleHeader tup;

		if (!ItemIdIsNormal(id))
			continue;
		tup = (HeapTupleHeader) PageGetItem(page, id);
		if (tuple_written(mark, next, tup))
			return true;
		if (tuple_alive(mark, next, tup))
			(*alive)++;
	}
	return false;
}

/* The rows of "page" alive at the mark. */
static int
page_alive(const FsbStageMark *mark, uint64 next, Page page)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	int			alive = 0;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		id = PageGetItemId(page, off);

		if (ItemIdIsNormal(id) &&
			tuple_alive(mark, next, (HeapTupleHeader) PageGetItem(page, id)))
			alive++;
	}
	return alive;
}

/*
 * Reads the first "nblocks" blocks of "part" with a bulk-read strategy and
 * a share lock on each.  With "written" NULL (taking the mark), counts the
 * rows alive in each into mark->alive.  Otherwise (the question), sets *written
 * and stops at the first block written since the mark: one whose LSN says it
 * may have been (or whose LSN tells nothing) and whose tuples say it was,
 * either by a tuple or by fewer rows alive from before the mark than the mark
 * counted (deleted since, and pruned or vacuumed away).
 */
static void
scan_blocks(Relation part, FsbStageMark *mark, BlockNumber nblocks,
			bool *written)
{
	uint64		next = U64FromFullTransactionId(ReadNextFullTransactionId());
	bool		use_lsn = !XLogRecPtrIsInvalid(mark->lsn) && RelationNeedsWAL(part);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);

	for (BlockNumber blkno = 0; blkno < nblocks && !(written && *written); blkno++)
	{
		Buffer		buf;
		int			alive_then = blkno < mark->nblocks ? mark->alive[blkno] : 0;
		int			alive;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(part, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		if (written == NULL)
			mark->alive[blkno] = page_alive(mark, next, BufferGetPage(buf));
		else if (!use_lsn || blkno >= mark->nblocks ||
				 BufferGetLSNAtomic(buf) > mark->lsn)
			*written = page_written(mark, next, BufferGetPage(buf), &alive) ||
				alive < alive_then;
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);
}

/*
 * True when "part", which the caller has locked against writers (EXCLUSIVE
 * or stronger), was written since "mark_text" was taken by fsb_stage_mark()
 * in an earlier transaction.  Ask before the caller's transaction writes
 * into the partition: its own writes count.  Raises invalid_parameter_value
 * for a mark that does not parse or belongs to another relation.
 */
bool
fsb_stage_mark_written(Relation part, const char *mark_text)
{
	FsbStageMark mark;
	uint64		next;
	BlockNumber nblocks;
	bool		written = false;

	check_heap(part);
	Assert(CheckRelationLockedByMe(part, ExclusiveLock, true));
	parse_mark(mark_text, &mark);
	next = U64FromFullTransactionId(ReadNextFullTransactionId());
	if (mark.relid != RelationGetRelid(part) || mark.xmax > next)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage mark \"%s\" is not a mark of table \"%s\"",
						mark_text, fsb_relation_name(part))));
	if (part->rd_node.relNode != mark.relfilenode)
		return true;
	/* blocks VACUUM truncated since: only empty if nothing was deleted */
	nblocks = RelationGetNumberOfBlocks(part);
	for (BlockNumber blkno = nblocks; blkno < mark.nblocks; blkno++)
		if (mark.alive[blkno] > 0)
			return true;
	scan_blocks(part, &mark, nblocks, &written);
	return written;
}

/* Opens "relid" with EXCLUSIVE lock for the SQL helpers below. */
static Relation
open_locked(Oid relid)
{
	Relation	rel = try_relation_open(relid, ExclusiveLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return rel;
}

/*
 * fs_backfill._stage_mark(regclass) RETURNS text: the mark of a table, taken
 * under EXCLUSIVE lock (held to the end of the transaction).  For tests.
 */
Datum
fs_backfill_stage_mark(PG_FUNCTION_ARGS)
{
	Relation	rel = open_locked(PG_GETARG_OID(0));
	char	   *mark = fsb_stage_mark(rel);

	relation_close(rel, NoLock);
	PG_RETURN_TEXT_P(cstring_to_text(mark));
}

/*
 * fs_backfill._stage_mark_written(regclass, text) RETURNS boolean: whether
 * the table was written since the mark, asked under EXCLUSIVE lock.  For
 * tests.
 */
Datum
fs_backfill_stage_mark_written(PG_FUNCTION_ARGS)
{
	Relation	rel = open_locked(PG_GETARG_OID(0));
	bool		written = fsb_stage_mark_written(rel, text_to_cstring(PG_GETARG_TEXT_PP(1)));

	relation_close(rel, NoLock);
	PG_RETURN_BOOL(written);
}
