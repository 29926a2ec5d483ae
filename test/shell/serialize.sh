#!/usr/bin/env bash
# Two overlapping backfills of one feature set never interleave: the second
# waits for the first (honouring lock_timeout) and then runs on its
# committed result.  The table has no unique key, so interleaving would show
# as duplicate rows.  A backfill or an alteration that waited finds the
# feature set as it is once it has the lock: registered again on another
# table, or dropped.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 4 2000 ""
q -c "UPDATE raw SET v = v + 1" >/dev/null

src=$(slow_source 3 '2025-03-02 00:00+00')
q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-03', comment => 'first', source => \$q\$$src\$q\$)" >/dev/null &
first=$!
wait_for 10 "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database())"
ok $? "the first backfill is running"

t0=$(now_s)
out=$(q -c "SET lock_timeout = '200ms'" -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-04')" 2>&1)
rc=$?
took=$(elapsed "$t0")
[ $rc -ne 0 ] && echo "$out" | grep -q "lock timeout"; ok $? "a second backfill with lock_timeout gives up"
lt "$took" 1.5; ok $? "after about lock_timeout (${took}s)"

q -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-04', comment => 'second')" >/dev/null &
second=$!
wait_for 5 "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
ok $? "a second backfill waits for the first"
wait $first; ok $? "the first commits"
wait $second; ok $? "then the second commits"

is "$(q -c "SELECT count(*) FROM (SELECT user_id, feature_time FROM feat GROUP BY 1, 2 HAVING count(*) > 1) d")" "0" \
   "no duplicate rows"
is "$(q -c "SELECT digest('2025-03-01 00:00+00', '2025-03-05 00:00+00') = source_digest('2025-03-01 00:00+00', '2025-03-05 00:00+00')")" \
   "t" "the table equals the source"
is "$(q -c "SELECT string_agg(comment, ',' ORDER BY finished_at) FROM fs_backfill.runs WHERE comment IS NOT NULL")" \
   "first,second" "the second finished after the first"
is "$(q -c "SELECT rows_before FROM fs_backfill.run_partitions rp JOIN fs_backfill.runs r USING (run_id)
             WHERE r.comment = 'second' AND rp.slice_start = '2025-03-02 00:00+00'")" \
   "$(q -c "SELECT rows_after FROM fs_backfill.run_partitions rp JOIN fs_backfill.runs r USING (run_id)
             WHERE r.comment = 'first' AND rp.slice_start = '2025-03-02 00:00+00'")" \
   "the second ran on the committed result of the first"

# REPEATABLE READ cannot see the first's result: it is told to retry
q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-03', source => \$q\$$src\$q\$)" >/dev/null &
first=$!
wait_for 10 "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database())"
out=$(q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT 1" \
        -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-02')" -c "COMMIT" 2>&1)
echo "$out" | grep -q "could not serialize access due to a concurrent backfill"
ok $? "a REPEATABLE READ backfill that had to wait gets a serialization failure"
wait $first

# registered again on another table while a backfill waited: retry
running_slow() {
    q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-03', source => \$q\$$src\$q\$)" >/dev/null &
    first=$!
    wait_for 10 "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database())"
}
waiting() { wait_for 5 "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"; }
q -c "CREATE TABLE feat2 (LIKE feat) PARTITION BY RANGE (feature_time)" >/dev/null
running_slow
out=$(mktemp)
q -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-02')" >"$out" 2>&1 &
second=$!
waiting; ok $? "a backfill waits"
q -c "SELECT fs_drop_feature_set('fs')" \
  -c "SELECT fs_create_feature_set('fs', 'feat2', ARRAY['user_id'], 'feature_time',
        \$\$SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= \$1 AND ts < \$2\$\$, '2025-03-01')" >/dev/null
ok $? "meanwhile the feature set is registered again, on another table"
wait $first
wait $second
grep -q 'ERROR:  feature set "fs" was registered again while this backfill waited' "$out"
ok $? "the waiting backfill is told to retry: $(grep ERROR "$out")"

# dropped while an alteration waited
q -c "SELECT fs_drop_feature_set('fs')" \
  -c "SELECT fs_create_feature_set('fs', 'feat', ARRAY['user_id'], 'feature_time',
        \$\$SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= \$1 AND ts < \$2\$\$, '2025-03-01')" >/dev/null
running_slow
q -c "SELECT fs_alter_feature_set('fs', '{\"catchup_delay\": \"1 hour\"}')" >"$out" 2>&1 &
second=$!
waiting; ok $? "an alteration waits"
q -c "SELECT fs_drop_feature_set('fs')" >/dev/null
wait $first
wait $second
grep -q 'ERROR:  feature set "fs" does not exist' "$out"
ok $? "the feature set dropped meanwhile, it fails: $(grep ERROR "$out")"
rm -f "$out"
done_testing
