#!/usr/bin/env bash
# Readers during a backfill: they see the old rows until commit and then
# exactly the new ones; delete_insert never blocks them; swap blocks a
# reader of the swapped partition at most about fs_backfill.swap_lock_timeout,
# and a long reader makes swap fall back rather than queue others behind it.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 3 20000
q -c "UPDATE raw SET v = v + 0.25" >/dev/null
OLD=$(q -c "SELECT digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")
NEW=$(q -c "SELECT source_digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")

for strategy in delete_insert swap; do
    src=$(slow_source 3 '2025-03-02 00:00+00')
    q -c "SET fs_backfill.swap_min_rows = 0" \
      -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-02', strategy => '$strategy', source => \$q\$$src\$q\$)" \
      >/dev/null 2>&1 &
    bf=$!
    wait_for 10 "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database())"
    ok $? "$strategy: the backfill is running its slow source"
    t0=$(now_s)
    seen=$(q -c "SELECT digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")
    took=$(elapsed "$t0")
    is "$seen" "$OLD" "$strategy: a reader during the backfill sees the old rows"
    lt "$took" 1.0; ok $? "$strategy: and is not blocked (took ${took}s)"
    wait $bf; ok $? "$strategy: the backfill commits"
    is "$(q -c "SELECT digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")" "$NEW" \
       "$strategy: after commit a reader sees exactly the new rows"
    q -c "UPDATE raw SET v = v - 0.25" >/dev/null
    OLD=$NEW
    NEW=$(q -c "SELECT source_digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")
done

# Readers hammering the partition while it is swapped: none waits much longer
# than the swap lock timeout (1s).
q -c "UPDATE raw SET v = v * 2" >/dev/null
(
    max=0
    end=$(awk -v n="$(now_s)" 'BEGIN { printf "%.3f", n + 4 }')
    while lt "$(now_s)" "$end"; do
        t0=$(now_s)
        q -c "SELECT count(*) FROM feat WHERE feature_time >= '2025-03-02 00:00+00' AND feature_time < '2025-03-03 00:00+00'" >/dev/null
        t=$(elapsed "$t0")
        lt "$max" "$t" && max=$t
        sleep 0.02
    done
    echo "$max" > /tmp/fsb_reader_max.$$
) &
readers=$!
sleep 0.5
q -c "SET fs_backfill.swap_min_rows = 0" \
  -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-02', strategy => 'swap')" >/dev/null
ok $? "swap under a stream of readers commits"
wait $readers
max=$(cat /tmp/fsb_reader_max.$$); rm -f /tmp/fsb_reader_max.$$
lt "$max" 1.5; ok $? "no reader waited past about the swap lock timeout (longest ${max}s)"
is "$(q -c "SELECT strategy FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)")" \
   "swap" "and the partition was swapped"

# A reader that holds the partition for long: swap waits about 1s, then
# falls back to delete_insert; meanwhile other readers are not queued.
q -c "UPDATE raw SET v = v + 1" >/dev/null
NEW=$(q -c "SELECT source_digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")
q -c "BEGIN" -c "SELECT count(*) FROM feat_p20250302" -c "SELECT pg_sleep(6)" -c "COMMIT" >/dev/null &
holder=$!
wait_for 5 "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 'feat_p20250302'::regclass AND a.wait_event = 'PgSleep')"
ok $? "a long reader holds the partition"
t0=$(now_s)
PGOPTIONS="-c client_min_messages=notice" q -c "SET fs_backfill.swap_min_rows = 0" -c "SET fs_backfill.swap_lock_timeout = '1s'" \
  -c "SELECT fs_backfill('fs', '2025-03-02', '2025-03-02', strategy => 'swap')" >/dev/null 2>/tmp/fsb_notice.$$ &
bf=$!
sleep 0.3
t1=$(now_s)
q -c "SELECT count(*) FROM feat_p20250302" >/dev/null
took=$(elapsed "$t1")
lt "$took" 0.5; ok $? "a new reader is not queued behind the waiting swap (took ${took}s)"
wait $bf; ok $? "the backfill commits without the lock"
took=$(elapsed "$t0")
lt "$took" 3.0; ok $? "after waiting about the swap lock timeout (${took}s in all)"
grep -q "could not lock partition \"feat_p20250302\"" /tmp/fsb_notice.$$; ok $? "it says it fell back"
rm -f /tmp/fsb_notice.$$
is "$(q -c "SELECT strategy FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)")" \
   "delete_insert" "the run records delete_insert"
is "$(q -c "SELECT digest('2025-03-02 00:00+00', '2025-03-03 00:00+00')")" "$NEW" "and the rows are the new ones"
wait $holder
done_testing
