/*-------------------------------------------------------------------------
 *
 * replace.c
 *	  Replacing a slice's rows in place: the delete_insert strategy, and the
 *	  deletions of a reset outside its interval.
 *
 * Both run in the caller's transaction with the caller's rights, through
 * SPI: the DELETE is ours (pinned search_path), the INSERT embeds the
 * caller's source and so runs with the caller's search_path, every name of
 * ours in it qualified.  Readers never block: old rows stay visible to them
 * until commit.
 *
 * Copyright (c) 2026, fs_backfill developers
 *
 * IDENTIFICATION
 *	  src/replace.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fs_backfill.h"

/*
 * Deletes the rows of target in the step's slice, then inserts the source's
 * rows for it; returns how many of each.
 */
void
fsb_replace_delete_insert(Relation target, const FsbStep *step,
						  const FsbSource *src, const FsbFeatureSet *fs,
						  int64 *deleted, int64 *inserted)
{
	char	   *delete_sql = psprintf("DELETE FROM %s WHERE %s",
									  fsb_relation_name(target),
									  fsb_time_range_sql(fs->time_column,
														 step->slice_stop));
	char	   *insert_sql = fsb_source_insert_sql(src, target, target,
												   fs->time_column);
	Oid			types[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3];
	int			nest;

	values[0] = TimestampTzGetDatum(step->slice_start);
	values[1] = TimestampTzGetDatum(step->slice_stop);
	values[2] = CStringGetTextDatum(fs->name);

	SPI_connect();
	nest = fsb_pin_search_path();
	fsb_spi_exec(delete_sql, 2, types, values, NULL, SPI_OK_DELETE);
	*deleted = (int64) SPI_processed;
	fsb_unpin_search_path(nest);
	fsb_spi_exec(insert_sql, 3, types, values, NULL, SPI_OK_INSERT);
	*inserted = (int64) SPI_processed;
	SPI_finish();
}

/*
 * Reset: deletes the rows of the step's slice, which lies outside the
 * interval.  On a plain table the first such slice also takes the rows
 * whose time is null.
 */
int64
fsb_replace_outside(Relation target, const FsbStep *step, const char *time_column)
{
	const char *col = quote_identifier(time_column);
	bool		with_nulls = TIMESTAMP_IS_NOBEGIN(step->slice_start);
	char	   *sql = psprintf("DELETE FROM %s WHERE (%s)%s",
							   fsb_relation_name(target),
							   fsb_time_range_sql(time_column, step->slice_stop),
							   with_nulls ? psprintf(" OR %s IS NULL", col) : "");
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			nest;
	int64		deleted;

	values[0] = TimestampTzGetDatum(step->slice_start);
	values[1] = TimestampTzGetDatum(step->slice_stop);

	SPI_connect();
	nest = fsb_pin_search_path();
	fsb_spi_exec(sql, 2, types, values, NULL, SPI_OK_DELETE);
	deleted = (int64) SPI_processed;
	fsb_unpin_search_path(nest);
	SPI_finish();
	return deleted;
}
