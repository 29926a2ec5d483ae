#!/usr/bin/env bash
# A partition left pending detach (DETACH ... CONCURRENTLY interrupted while
# it waited for a reader) is out of plans, as it is out of queries on the
# table: in a new session, where the bounds come from the catalogs, and
# after a query that built the table's partition descriptor.  FINALIZE
# changes nothing a plan shows.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 3 10

PGAPPNAME=fsb_holder q -c "BEGIN" -c "SELECT count(*) FROM feat" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
wait_for 10 "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
               WHERE a.application_name = 'fsb_holder' AND l.relation = 'feat'::regclass)"
ok $? "a reader holds the table"
q -c "SET statement_timeout = '1s'" \
  -c "ALTER TABLE feat DETACH PARTITION feat_p20250302 CONCURRENTLY" >/dev/null 2>&1
is "$(q -c "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = 'feat_p20250302'::regclass")" \
   "t" "the detach, timed out while it waited for the reader, left the partition pending"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fsb_holder'" >/dev/null
wait $holder

plan="SELECT string_agg(coalesce(partition::text, 'new') || ' ' || creates_partition, ', ' ORDER BY slice_start)
        FROM fs_backfill_plan('fs', '2025-03-01', '2025-03-03')"
want="feat_p20250301 false, new true, feat_p20250303 false"
is "$(q -c "$plan")" "$want" "a new session plans without it"
is "$(q -c "SELECT count(*) FROM feat WHERE feature_time < '2025-03-04'" -c "$plan" | tail -1)" "$want" \
   "so does a session that queried the table first"
is "$(q -c "SELECT string_agg(partition::text, ', ' ORDER BY range_start) FROM fs_backfill._partitions('feat')")" \
   "feat_p20250301, feat_p20250303" "fs_backfill._partitions leaves it out"

q -c "ALTER TABLE feat DETACH PARTITION feat_p20250302 FINALIZE" >/dev/null
ok $? "the detach is finalized"
is "$(q -c "$plan")" "$want" "and plans are unchanged"
done_testing
