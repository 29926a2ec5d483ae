#!/usr/bin/env bash
# fs_backfill benchmark: staged runs, each figure beside its baseline.
#
#   1. On the table of bench/run.sh (daily partitions of 300,000 rows:
#      user_id bigint, feature_time timestamptz, four float8 features,
#      primary key (user_id, feature_time)), replace 7 whole days, three
#      ways, alternating, ROUNDS times each:
#        - fs_backfill_stage(..., parallel => 2) and fs_backfill_wait() until
#          it is published: stage + publish wall time, from the client;
#        - BEGIN; DELETE ...; INSERT ... SELECT ...; COMMIT   (by hand);
#        - INSERT ... SELECT of the same rows into an empty unindexed table.
#   2. 90 days of 300,000 rows staged into an empty table with parallel => 2:
#      the peak resident memory of each slice builder (ps, sampled every
#      0.2 s), and the longest transaction any worker of the run held open
#      (pg_stat_activity.xact_start, sampled likewise) beside the longest
#      slice build and the publish.
#
# Run inside a cluster (test/with_cluster.sh bench/staged.sh, or make bench).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
ROWS_PER_DAY=${ROWS_PER_DAY:-300000}
BIG_DAYS=${BIG_DAYS:-90}
DB=fsb_bench_staged
export PGOPTIONS="-c client_min_messages=warning"
psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
timed() {
    local t0 t1
    t0=$(now)
    q -c "$1" >/dev/null
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
paired_ratio() {
    local -a a=($1) b=($2) r=()
    for i in "${!a[@]}"; do r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { print x / y }')"); done
    median "${r[@]}"
}

echo "setting up: $BIG_DAYS days x $ROWS_PER_DAY raw rows, a feature table of 30 days ..."
q <<SQL
CREATE EXTENSION fs_backfill;
CREATE TABLE raw_events (user_id bigint, ts timestamptz, f1 float8, f2 float8, f3 float8, f4 float8);
INSERT INTO raw_events
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + (u % 86400) * interval '1 second',
       random(), random(), random(), random()
  FROM generate_series(0, $BIG_DAYS - 1) d, generate_series(1, $ROWS_PER_DAY) u;
CREATE INDEX ON raw_events (ts);
VACUUM ANALYZE raw_events;
CREATE TABLE bench (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                    f1 float8, f2 float8, f3 float8, f4 float8, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('bench', 'bench', ARRAY['user_id'], 'feature_time',
  \$\$SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= \$1 AND ts < \$2\$\$,
  '2025-03-01', online => false);
SELECT fs_backfill('bench', '2025-03-01', '2025-03-30');
VACUUM ANALYZE bench;
SQL

SRC="SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= '2025-03-08 00:00+00' AND ts < '2025-03-15 00:00+00'"
settle() { q -c "VACUUM bench" -c "CHECKPOINT"; }
STAGE="SELECT fs_backfill_stage('bench', '2025-03-08', '2025-03-14', parallel => 2) AS run \\gset
SELECT fs_backfill_wait(:run) = 'succeeded' AS ok \\gset
\\if :ok
\\else
\\echo staged run failed
\\quit 1
\\endif"

staged=(); manual=(); once=()
for r in $(seq 1 "$ROUNDS"); do
    settle
    t0=$(now); q <<<"$STAGE" >/dev/null; t1=$(now)
    staged+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
    settle
    manual+=("$(timed "BEGIN; DELETE FROM bench WHERE feature_time >= '2025-03-08 00:00+00' AND feature_time < '2025-03-15 00:00+00'; INSERT INTO bench $SRC; COMMIT;")")
    settle
    q -c "DROP TABLE IF EXISTS bench_empty" -c "CREATE TABLE bench_empty (LIKE bench)"
    once+=("$(timed "INSERT INTO bench_empty $SRC")")
done
q -c "DROP TABLE bench_empty"
S=$(median "${staged[@]}"); M=$(median "${manual[@]}"); O=$(median "${once[@]}")
strategies=$(q -At -c "SELECT string_agg(DISTINCT strategy, ',') FROM fs_backfill.run_slices WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)")

echo "staging $BIG_DAYS days into an empty table ..."
q <<SQL
CREATE TABLE big (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                  f1 float8, f2 float8, f3 float8, f4 float8, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('big', 'big', ARRAY['user_id'], 'feature_time',
  \$\$SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= \$1 AND ts < \$2\$\$,
  '2025-03-01', online => false);
CHECKPOINT;
SQL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
big_run=$(q -At -c "SELECT fs_backfill_stage('big', '2025-03-01', (date '2025-03-01' + $BIG_DAYS - 1)::text, parallel => 2, allow_empty => true)")
t0=$(now)
# sample: builder pids and RSS, and the oldest open transaction of any stage worker
while :; do
    status=$(q -At -c "SELECT status FROM fs_backfill.runs WHERE run_id = $big_run")
    case $status in succeeded|failed|cancelled) break ;; esac
    q -At -F ' ' -c "SELECT pid, backend_type, coalesce(extract(epoch FROM clock_timestamp() - xact_start), 0)
                      FROM pg_stat_activity
                     WHERE backend_type IN ('fs_backfill slice builder', 'fs_backfill stage coordinator')" \
        > "$tmp/sample" || true
    while read -r pid type age; do
        rss=$(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ' || true)
        echo "$pid ${type// /_} ${rss:-0} $age" >> "$tmp/samples"
    done < "$tmp/sample"
    sleep 0.2
done
t1=$(now)
[ "$status" = succeeded ] || { echo "the $BIG_DAYS-day staged run ended $status" >&2; exit 1; }
peak_rss=$(awk '$2 ~ /builder/ { if ($3 > m) m = $3 } END { printf "%.0f", m / 1024 }' "$tmp/samples")
builders=$(awk '$2 ~ /builder/ { p[$1] = 1 } END { print length(p) }' "$tmp/samples")
peak_each=$(awk '$2 ~ /builder/ { if ($3 > m[$1]) m[$1] = $3 } END { for (p in m) printf "%.0f\n", m[p] / 1024 }' "$tmp/samples" | sort -n | awk '{a[NR]=$1} END {printf "%s..%s", a[1], a[NR]}')
coord_rss=$(awk '$2 ~ /coordinator/ { if ($3 > m) m = $3 } END { printf "%.0f", m / 1024 }' "$tmp/samples")
longest_xact=$(awk '{ if ($4 > m) m = $4 } END { printf "%.1f", m }' "$tmp/samples")
q -At -F ' ' -c "SELECT round(max(extract(epoch FROM finished_at - started_at))::numeric, 1),
                        round(extract(epoch FROM (SELECT finished_at FROM fs_backfill.runs WHERE run_id = $big_run)
                                                 - max(finished_at))::numeric, 1),
                        sum(rows), count(*), max(attempts)
                   FROM fs_backfill.run_slices WHERE run_id = $big_run" > "$tmp/slices"
read -r longest_slice publish_s big_rows big_slices max_attempts < "$tmp/slices"

printf '\nfs_backfill staged-run benchmark (%s rounds, medians; %s rows per day)\n' "$ROUNDS" "$ROWS_PER_DAY"
printf '%-62s %10s %10s %8s %8s\n' "figure" "seconds" "baseline" "ratio*" "target"
printf '%-62s %10.3f %10.3f %8.2f %8s\n' "7 days: staged, parallel 2, vs DELETE+INSERT by hand" "$S" "$M" "$(paired_ratio "${staged[*]}" "${manual[*]}")" "<= 0.30"
printf '%-62s %10.3f %10.3f %8.2f %8s\n' "7 days: staged, parallel 2, vs INSERT into empty unindexed" "$S" "$O" "$(paired_ratio "${staged[*]}" "${once[*]}")" "<= 1.00"
printf '* median of the per-round ratios; stage + publish, from the client\n'
printf 'strategies used by the staged run: %s\n' "$strategies"
printf 'samples (s): staged:            %s\n' "${staged[*]}"
printf '             DELETE+INSERT:     %s\n' "${manual[*]}"
printf '             INSERT into empty: %s\n' "${once[*]}"
printf '\n%s days (%s slices, %s rows) staged with parallel 2: %.1f s\n' "$BIG_DAYS" "$big_slices" "$big_rows" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
printf '%-62s %10s\n' "slice builders seen" "$builders"
printf '%-62s %10s\n' "peak RSS of a slice builder (MB; range over builders)" "$peak_rss ($peak_each)"
printf '%-62s %10s\n' "peak RSS of the coordinator (MB)" "$coord_rss"
printf '%-62s %10s\n' "longest transaction of a stage worker (s)" "$longest_xact"
printf '%-62s %10s\n' "longest slice build (s), beside it" "$longest_slice"
printf '%-62s %10s\n' "publish, after the last slice (s)" "$publish_s"
printf '%-62s %10s\n' "most attempts of a slice" "$max_attempts"
