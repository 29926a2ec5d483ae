/*-------------------------------------------------------------------------
 *
 * stage_mark.c
 *	  Whether a partition was written since a slice of it was staged.
 *
 * The mark, taken while the partition is locked against writers, holds its
 * relfilenode, its size in blocks and the WAL insert position.  Later,
 * locked against writers again, the partition was written since if its
 * storage changed (TRUNCATE, a swap, VACUUM FULL), it shrank or grew, or any
 * page carries a later LSN (every logged change of a page sets it).  This
 * is conservative: VACUUM or pruning after the mark count as writes too.
 * An unlogged partition's pages carry no LSN: any of them counts as
 * written.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/stage_mark.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

#include "stage.h"

char *
fsb_stage_mark(Relation part)
{
	return psprintf("%u/%u/%X/%X", part->rd_node.relNode,
					RelationGetNumberOfBlocks(part),
					LSN_FORMAT_ARGS(GetXLogInsertRecPtr()));
}

bool
fsb_stage_mark_written(Relation part, const char *mark)
{
	Oid			relnode;
	BlockNumber nblocks;
	uint32		hi;
	uint32		lo;
	XLogRecPtr	lsn;
	BufferAccessStrategy strategy;
	bool		written = false;

	if (sscanf(mark, "%u/%u/%X/%X", &relnode, &nblocks, &hi, &lo) != 4)
		return true;
	lsn = ((uint64) hi << 32) | lo;
	if (relnode != part->rd_node.relNode ||
		nblocks != RelationGetNumberOfBlocks(part) ||
		!RelationNeedsWAL(part))
		return true;
	strategy = GetAccessStrategy(BAS_BULKREAD);
	for (BlockNumber blkno = 0; blkno < nblocks && !written; blkno++)
	{
		Buffer		buf = ReadBufferExtended(part, MAIN_FORKNUM, blkno,
											 RBM_NORMAL, strategy);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		written = PageGetLSN(BufferGetPage(buf)) > lsn;
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);
	return written;
}
