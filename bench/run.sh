#!/usr/bin/env bash
# fs_backfill benchmark: each figure beside its baseline, measured in one run.
#
#   1. Replace 7 whole days of a feature table of 30 daily partitions of
#      300,000 rows (user_id bigint, feature_time timestamptz, four float8
#      features, primary key (user_id, feature_time)) from a SELECT over a
#      raw table, three ways, alternating, ROUNDS times each:
#        - fs_backfill('bench', 7 days)
#        - BEGIN; DELETE ...; INSERT ... SELECT ...; COMMIT   (by hand)
#        - INSERT ... SELECT of the same rows into an empty unindexed table
#      (The feature sets are offline: this measures the backfill itself;
#      queueing for the online cache is measured by bench/online.sh.)
#   2. The same table with 3,650 daily partitions: fs_backfill_plan for 7
#      days (first call in a fresh session, and warm), and backfilling one
#      day against the same with 30 partitions.
#
# Run inside a cluster (test/with_cluster.sh bench/run.sh, or make bench).
# Timings are wall-clock from the client, each call in a fresh session.
# Seconds are medians over the rounds; a ratio is the median of the ratios
# of each round's pair, measured back to back, which the machine's noise
# disturbs far less than a ratio of medians.
set -euo pipefail

ROUNDS=${ROUNDS:-7}
ROWS_PER_DAY=${ROWS_PER_DAY:-300000}
DAYS=30
DB=fsb_bench
psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

now() { date +%s.%N; }
# elapsed seconds of one psql run of the given SQL
timed() {
    local t0 t1
    t0=$(now)
    q -c "$1" >/dev/null
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
# paired_ratio "a1 a2 ..." "b1 b2 ...": the median of a_i / b_i
paired_ratio() {
    local -a a=($1) b=($2) r=()
    for i in "${!a[@]}"; do r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { print x / y }')"); done
    median "${r[@]}"
}
. "$(dirname "$0")/lib.sh"

echo "setting up: $DAYS days x $ROWS_PER_DAY rows ..."
q -f "$(dirname "$0")/make_feature_table.sql"
q <<SQL
CREATE EXTENSION fs_backfill;
CREATE TABLE raw_events (user_id bigint, ts timestamptz, f1 float8, f2 float8, f3 float8, f4 float8);
INSERT INTO raw_events
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + (u % 86400) * interval '1 second',
       random(), random(), random(), random()
  FROM generate_series(0, $DAYS - 1) d, generate_series(1, $ROWS_PER_DAY) u;
CREATE INDEX ON raw_events (ts);
VACUUM ANALYZE raw_events;

CALL make_feature_table('bench', '2025-03-01', $DAYS);
SELECT fs_create_feature_set('bench', 'bench', ARRAY['user_id'], 'feature_time',
  \$\$SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= \$1 AND ts < \$2\$\$,
  '2025-03-01', online => false);
SELECT fs_backfill('bench', '2025-03-01', '2025-03-30');
VACUUM ANALYZE bench;
SQL

SRC="SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= '2025-03-08 00:00+00' AND ts < '2025-03-15 00:00+00'"
settle() { q -c "VACUUM bench" -c "CHECKPOINT"; }

fsb=(); manual=(); once=()
for r in $(seq 1 "$ROUNDS"); do
    settle
    fsb+=("$(timed "SELECT fs_backfill('bench', '2025-03-08', '2025-03-14')")")
    settle
    manual+=("$(timed "BEGIN; DELETE FROM bench WHERE feature_time >= '2025-03-08 00:00+00' AND feature_time < '2025-03-15 00:00+00'; INSERT INTO bench $SRC; COMMIT;")")
    settle
    q -c "DROP TABLE IF EXISTS bench_empty" -c "CREATE TABLE bench_empty (LIKE bench)"
    once+=("$(timed "INSERT INTO bench_empty $SRC")")
done
q -c "DROP TABLE bench_empty"
F=$(median "${fsb[@]}"); M=$(median "${manual[@]}"); O=$(median "${once[@]}")
strategies=$(q -At -c "SELECT string_agg(DISTINCT strategy, ',') FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)")

echo "setting up 3,650 daily partitions ..."
q <<SQL
CALL make_feature_table('wide', '2016-03-16', 3650);
SELECT fs_create_feature_set('wide', 'wide', ARRAY['user_id'], 'feature_time',
  \$\$SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= \$1 AND ts < \$2\$\$,
  '2016-03-16', online => false);
SELECT fs_backfill('wide', '2025-03-01', '2025-03-14');
VACUUM ANALYZE wide;
SQL
parts=$(q -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'wide'::regclass")

PLAN="SELECT count(*) FROM fs_backfill_plan('%s', '2025-03-08', '2025-03-14')"
# a query pruned to the same 7 days: any first query on a table builds its
# partition descriptor, which fs_backfill_plan no longer needs
FIRST="SELECT 1 FROM %s WHERE feature_time >= '2025-03-08 00:00+00' AND feature_time < '2025-03-15 00:00+00' LIMIT 0"
# the first call in a fresh session: the median of five sessions
plan_cold() { cold_ms 5 "$(printf "$PLAN" "$1")"; }
plan_cold_wide=$(plan_cold wide)
plan_cold_narrow=$(plan_cold bench)
first_cold_wide=$(cold_ms 5 "$(printf "$FIRST" wide)")
first_cold_narrow=$(cold_ms 5 "$(printf "$FIRST" bench)")
plan_warm() {
    # one call to warm up, then the median of five
    {
        echo "SELECT count(*) FROM fs_backfill_plan(:'fs', '2025-03-08', '2025-03-14') \\g /dev/null"
        for _ in 1 2 3 4 5; do
            echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
            echo "SELECT count(*) FROM fs_backfill_plan(:'fs', '2025-03-08', '2025-03-14') \\g /dev/null"
            echo "SELECT round(((extract(epoch FROM clock_timestamp()) - :t0) * 1000)::numeric, 1);"
        done
    } | psql -X -q -At -v fs="$1" | sort -g | sed -n 3p
}
plan_warm_wide=$(plan_warm wide)
plan_warm_narrow=$(plan_warm bench)

day30=(); day3650=()
for r in $(seq 1 "$ROUNDS"); do
    q -c "VACUUM bench" -c "VACUUM wide" -c "CHECKPOINT"
    day30+=("$(timed "SELECT fs_backfill('bench', '2025-03-10', '2025-03-10')")")
    q -c "VACUUM bench" -c "VACUUM wide" -c "CHECKPOINT"
    day3650+=("$(timed "SELECT fs_backfill('wide', '2025-03-10', '2025-03-10')")")
done
D30=$(median "${day30[@]}"); D3650=$(median "${day3650[@]}")

printf '\nfs_backfill benchmark (%s rounds, medians; %s rows per day)\n' "$ROUNDS" "$ROWS_PER_DAY"
printf '%-58s %10s %10s %8s %8s\n' "figure" "seconds" "baseline" "ratio*" "target"
printf '%-58s %10.3f %10.3f %8.2f %8s\n' "7 days: fs_backfill vs DELETE+INSERT by hand" "$F" "$M" "$(paired_ratio "${fsb[*]}" "${manual[*]}")" "<= 0.40"
printf '%-58s %10.3f %10.3f %8.2f %8s\n' "7 days: fs_backfill vs INSERT into empty unindexed table" "$F" "$O" "$(paired_ratio "${fsb[*]}" "${once[*]}")" "<= 1.50"
printf '%-58s %10.3f %10.3f %8.2f %8s\n' "1 day: $parts partitions vs 30 partitions" "$D3650" "$D30" "$(paired_ratio "${day3650[*]}" "${day30[*]}")" "<= 1.20"
printf '%-58s %10s %10s %8s %8s\n' "fs_backfill_plan, 7 days, new session (ms): $parts vs 30 partitions" "$plan_cold_wide" "$plan_cold_narrow" "-" "< 50"
printf '%-58s %10s %10s %8s %8s\n' "first query, pruned to 7 days, new session (ms): $parts vs 30" "$first_cold_wide" "$first_cold_narrow" "-" "-"
printf '%-58s %10s %10s %8s %8s\n' "fs_backfill_plan, 7 days, warm (ms): $parts vs 30 partitions" "$plan_warm_wide" "$plan_warm_narrow" "-" "< 50"
printf '* median of the per-round ratios\n'
printf 'strategies used by fs_backfill for the 7 days: %s\n' "$strategies"
printf 'samples (s): fs_backfill 7 days: %s\n' "${fsb[*]}"
printf '             DELETE+INSERT:      %s\n' "${manual[*]}"
printf '             INSERT into empty:  %s\n' "${once[*]}"
printf '             1 day, 30 / %s partitions: %s / %s\n' "$parts" "${day30[*]}" "${day3650[*]}"
