#!/usr/bin/env bash
# A staged run (SPEC section 8) gives the table a plain fs_backfill of the
# same interval would give, row for row; rows outside the interval are not
# touched; readers see the old rows until publish and then all the new ones,
# never a mix; a manual run waits at 'staged' with its rows readable through
# fs_backfill.staged_relations(); nothing staged is left after publish.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 7 3000
stage_setup
q -c "UPDATE raw SET v = v * 2 + 1" >/dev/null
# partially covered at both ends: 03-02 12:00 to 03-05 12:00
LO="2025-03-02 12:00+00"; HI="2025-03-05 12:00+00"
outside() { q -c "SELECT digest('-infinity', '$LO') || digest('$HI', 'infinity')"; }
inside() { q -c "SELECT digest('$LO', '$HI')"; }
OUTSIDE=$(outside); OLD=$(inside); NEW=$(q -c "SELECT source_digest('$LO', '$HI')")
[ "$OLD" != "$NEW" ]; ok $? "the source changed inside the interval"
rels=$(relcount)

# --- manual publish ----------------------------------------------------------
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-02 12:00:00', '2025-03-05 12:00:00', parallel => 2, publish => 'manual')")
ok $? "fs_backfill_stage returns a run id at once ($run)"
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "staged" "a manual run waits at 'staged'"
is "$(q -c "SELECT string_agg(status, ',' ORDER BY slice) FROM fs_backfill.run_slices WHERE run_id = $run")" \
   "staged,staged,staged,staged" "four slices, all staged"
is "$(q -c "SELECT string_agg(to_char(slice_start AT TIME ZONE 'UTC', 'MM-DD HH24') || '-' || to_char(slice_stop AT TIME ZONE 'UTC', 'MM-DD HH24'), ',' ORDER BY slice)
              FROM fs_backfill.run_slices WHERE run_id = $run")" \
   "03-02 12-03-03 00,03-03 00-03-04 00,03-04 00-03-05 00,03-05 00-03-05 12" "cut at the partitions and the interval's bounds"
is "$(inside)" "$OLD" "while staged, readers see the old rows"
is "$(q -c "SELECT sum(rows) FROM fs_backfill.run_slices WHERE run_id = $run")" \
   "$(q -c "SELECT count(*) FROM raw WHERE ts >= '$LO' AND ts < '$HI'")" "run_slices counts the staged rows"
# the staged rows, readable for inspection
staged=$(q -c "SELECT count(*) FROM fs_backfill.staged_relations($run)")
ok $? "fs_backfill.staged_relations($run) is readable ($staged rows)"
[ "$staged" -ge 1 ] 2>/dev/null; ok $? "and lists the staged relations"
[ "$(relcount)" -gt "$rels" ]; ok $? "the staged relations exist beside the partitions"

# readers hammer the interval while it is published: each sees old or new
q >/dev/null <<'SQL'
-- the states a reader sees, in order, until it sees "last" (or patience ends)
CREATE FUNCTION watch(lo timestamptz, hi timestamptz, last text, patience float8) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    seen text[] := '{}';
    d text;
    stop timestamptz := clock_timestamp() + patience * interval '1 s';
BEGIN
    LOOP
        d := digest(lo, hi);
        IF seen = '{}' OR d <> seen[array_upper(seen, 1)] THEN seen := seen || d; END IF;
        EXIT WHEN d = last OR clock_timestamp() > stop;
    END LOOP;
    RETURN seen;
END $$;
SQL
watched=$(mktemp)
q -c "SELECT array_to_string(watch('$LO', '$HI', '$NEW', 60), ' ')" >"$watched" &
reader=$!
wait_for 10 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'SELECT array_to_string(watch(%' AND state = 'active')"
ok $? "a reader is reading the interval over and over"
q -c "SELECT fs_backfill_publish($run)" >/dev/null
ok $? "fs_backfill_publish commits"
wait $reader
is "$(cat "$watched")" "$OLD $NEW" "the reader saw the old rows, then the new ones, and nothing between"
is "$(inside)" "$NEW" "after publish, readers see all the new rows"
is "$(outside)" "$OUTSIDE" "rows outside the interval are untouched"
is "$(run_status "$run")" "succeeded" "the run succeeded"
is "$(q -c "SELECT count(*) FROM fs_backfill.run_partitions WHERE run_id = $run")" "4" "its partitions are recorded"
is "$(relcount)" "$rels" "nothing staged is left after publish"

# --- the same interval, plain fs_backfill: the same rows ---------------------
STAGED=$(q -c "SELECT digest('-infinity', 'infinity')")
q -c "SELECT fs_backfill('fs', '2025-03-02 12:00:00', '2025-03-05 12:00:00')" >/dev/null
is "$(q -c "SELECT digest('-infinity', 'infinity')")" "$STAGED" "a plain fs_backfill of the same interval gives the same table, row for row"

# --- auto publish, indexes exchanged: the partitions' indexes hold the new rows
q -c "UPDATE raw SET v = v + 10" >/dev/null
NEW=$(q -c "SELECT source_digest('2025-03-01 00:00+00', '2025-03-08 00:00+00')")
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-07', parallel => 3)")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "succeeded" "an auto run publishes by itself"
is "$(q -c "SELECT digest('-infinity', 'infinity')")" "$NEW" "and the table equals the source"
is "$(q -c "SET enable_seqscan = off" -c "SELECT count(*) FROM feat WHERE user_id = 17")" "7" \
   "an index scan finds every new row (indexes were exchanged with the heaps)"
q -c "CREATE EXTENSION IF NOT EXISTS amcheck" \
  -c "SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
        JOIN pg_inherits h ON h.inhrelid = i.indrelid WHERE h.inhparent = 'feat'::regclass" >/dev/null
ok $? "amcheck finds every partition index consistent with its heap"
is "$(relcount)" "$rels" "nothing staged is left"
done_testing
