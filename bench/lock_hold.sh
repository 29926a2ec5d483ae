#!/usr/bin/env bash
# fs_backfill benchmark: how long readers of swapped partitions are locked out.
#
# A swap takes ACCESS EXCLUSIVE on every partition it exchanges, all at once,
# and holds it until the backfill commits.  This measures that window on the
# table of bench/run.sh (daily partitions of 300,000 rows: user_id bigint,
# feature_time timestamptz, four float8 features, primary key (user_id,
# feature_time)), backfilling 7 whole days with strategy => 'swap', ROUNDS
# times, two ways at once:
#   - a sampler session polls pg_locks in a loop and reports how long an
#     ACCESS EXCLUSIVE lock on any of the 7 partitions was seen granted, from
#     the first sample that saw one to the first that saw none (resolution:
#     one pg_locks read and a 1 ms sleep, so that the pollers leave the
#     backfill its CPU);
#   - a reader session waits (polling pg_locks) until the first partition is
#     locked, then runs SELECT 1 FROM ONLY <partition> LIMIT 1 in a
#     transaction of its own and times it: what a reader arriving during the
#     exchange waits.
#
# The feature set is offline (ONLINE=true to make it online, as make bench
# also runs it): an online one also queues the entities it touched, which it
# does before the exchange, reading the swapped partitions' new heaps.
# STAGED=true measures the publish of a staged run instead (staged with
# publish => 'manual' and parallel => 2 before the round, not timed): its
# exchange is the same.
#
# Run inside a cluster (test/with_cluster.sh bench/lock_hold.sh, or make bench).
set -euo pipefail

ROUNDS=${ROUNDS:-7}
ONLINE=${ONLINE:-false}   # true: the feature set also queues touched entities
STAGED=${STAGED:-false}   # true: publish a staged run instead of fs_backfill
ROWS_PER_DAY=${ROWS_PER_DAY:-300000}
DAYS=8
DB=fsb_bench_lock
export PGOPTIONS="-c client_min_messages=warning"
psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

echo "setting up: $DAYS days x $ROWS_PER_DAY rows ..."
q >/dev/null <<SQL
CREATE EXTENSION fs_backfill;
CREATE TABLE raw_events (user_id bigint, ts timestamptz, f1 float8, f2 float8, f3 float8, f4 float8);
INSERT INTO raw_events
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + (u % 86400) * interval '1 second',
       random(), random(), random(), random()
  FROM generate_series(0, $DAYS - 1) d, generate_series(1, $ROWS_PER_DAY) u;
CREATE INDEX ON raw_events (ts);
VACUUM ANALYZE raw_events;
CREATE TABLE lh (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                 f1 float8, f2 float8, f3 float8, f4 float8, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('lh', 'lh', ARRAY['user_id'], 'feature_time',
  \$\$SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= \$1 AND ts < \$2\$\$,
  '2025-03-01', online => $ONLINE);
SELECT fs_backfill('lh', '2025-03-01', '2025-03-08');
VACUUM ANALYZE lh;

-- (first seen, first not seen) of a granted ACCESS EXCLUSIVE lock on any of
-- rels, polling pg_locks until one came and went, or for at most "patience"
CREATE FUNCTION lock_window(rels oid[], patience interval, OUT held_ms numeric, OUT samples int)
LANGUAGE plpgsql AS \$\$
DECLARE
  deadline timestamptz := clock_timestamp() + patience;
  first_seen timestamptz;
  t timestamptz;
  locked boolean;
BEGIN
  samples := 0;
  LOOP
    SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation' AND relation = ANY (rels)
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND mode = 'AccessExclusiveLock' AND granted) INTO locked;
    t := clock_timestamp();
    samples := samples + 1;
    IF locked AND first_seen IS NULL THEN
      first_seen := t;
    ELSIF NOT locked AND first_seen IS NOT NULL THEN
      held_ms := round((extract(epoch FROM t - first_seen) * 1000)::numeric, 1);
      RETURN;
    END IF;
    EXIT WHEN t > deadline;
    PERFORM pg_sleep(0.001);
  END LOOP;
END \$\$;

-- returns once a granted ACCESS EXCLUSIVE lock on rel is seen (or after "patience")
CREATE FUNCTION wait_for_lock(rel oid, patience interval) RETURNS boolean
LANGUAGE plpgsql AS \$\$
DECLARE
  deadline timestamptz := clock_timestamp() + patience;
BEGIN
  LOOP
    IF EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation' AND relation = rel
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND mode = 'AccessExclusiveLock' AND granted) THEN
      RETURN true;
    END IF;
    IF clock_timestamp() > deadline THEN
      RETURN false;
    END IF;
    PERFORM pg_sleep(0.001);
  END LOOP;
END \$\$;
SQL

parts=$(q -At -c "SELECT array_agg(c.oid ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'lh'::regclass AND c.relname < 'lh_p20250308'")
first=$(q -At -c "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'lh'::regclass")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

held=(); waited=(); total=()
for r in $(seq 1 "$ROUNDS"); do
    q -c "VACUUM lh" -c "CHECKPOINT"
    if [ "$STAGED" = true ]; then
        run=$(q -At -c "SELECT fs_backfill_stage('lh', '2025-03-01', '2025-03-07', publish => 'manual', parallel => 2)")
        [ "$(q -At -c "SELECT fs_backfill_wait($run)")" = staged ] || { echo "run $run was not staged" >&2; exit 1; }
        q -c "CHECKPOINT"
        step="SELECT fs_backfill_publish($run)"
    else
        step="SELECT fs_backfill('lh', '2025-03-01', '2025-03-07', strategy => 'swap')"
    fi
    q -At -c "SELECT held_ms FROM lock_window('$parts', '120 s')" > "$tmp/held" &
    sampler=$!
    psql -X -q -At -v ON_ERROR_STOP=1 > "$tmp/waited" <<SQL &
SELECT wait_for_lock('$first'::regclass, '120 s') \g /dev/null
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT 1 FROM ONLY $first LIMIT 1 \g /dev/null
SELECT round(((extract(epoch FROM clock_timestamp()) - :t0) * 1000)::numeric, 1);
SQL
    reader=$!
    sleep 0.5
    t0=$(now)
    q -c "$step" >/dev/null
    t1=$(now)
    wait "$sampler" "$reader"
    held+=("$(cat "$tmp/held")"); waited+=("$(cat "$tmp/waited")")
    total+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
strategies=$(q -At -c "SELECT string_agg(strategy, ',') FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)")

printf '\nfs_backfill lock benchmark (%s rounds, medians; %s rows per day; online %s; staged %s)\n' "$ROUNDS" "$ROWS_PER_DAY" "$ONLINE" "$STAGED"
printf '%-66s %10s %8s\n' "figure" "ms" "target"
printf '%-66s %10s %8s\n' "ACCESS EXCLUSIVE held by the exchange on 7 partitions (pg_locks)" "$(median "${held[@]}")" "< 50"
printf '%-66s %10s %8s\n' "a reader of a swapped partition arriving during the exchange waits" "$(median "${waited[@]}")" "< 50"
printf '%-66s %10.0f %8s\n' "the whole backfill (staged: the publish) of the 7 days" "$(awk -v s="$(median "${total[@]}")" 'BEGIN { print s * 1000 }')" "-"
printf 'strategies used: %s\n' "$strategies"
printf 'samples (ms): held:   %s\n' "${held[*]}"
printf '              waited: %s\n' "${waited[*]}"
printf '              total:  %s\n' "$(for t in "${total[@]}"; do awk -v s="$t" 'BEGIN { printf "%.0f ", s * 1000 }'; done)"
