#!/usr/bin/env bash
# Online sync benchmark, each figure beside its baseline in one run:
#   1. draining 1,000,000 queued entities (5 feature columns) into an empty
#      Redis, vs redis-benchmark -c 1 -P 100 writing the same HSET payload
#      into an empty Redis: the median of ROUNDS (5) rounds' ratios;
#   2. latency from the commit of a one-row backfill to the value readable
#      in Redis, over 100 runs;
#   3. the queue table's size after the first drain of 1,000,000 entities and
#      after the last of the rounds' fills and drains.
# Runs inside test/with_cluster.sh, in the worker's database (postgres).
set -euo pipefail
export PGDATABASE=postgres
N=${N:-1000000}
ROUNDS=${ROUNDS:-5}
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
rcli() { redis-cli -p "$FSB_REDIS_PORT" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
pushed() { q -c "SELECT pushed FROM fs_backfill.worker_status()"; }
# waits for N more pushes, then for the queue to be empty, in one session:
# a psql started every 50 ms would take a good part of a core from the
# worker and Redis on a two-core machine.  It commits after each look, so as
# to hold no lock on the queue and no snapshot while the worker truncates or
# vacuums it.
wait_drained() {
    q -c "DO \$\$ BEGIN
            WHILE (SELECT pushed FROM fs_backfill.worker_status()) < $(($1 + N)) LOOP
                COMMIT;
                PERFORM pg_sleep(0.01);
            END LOOP;
            WHILE EXISTS (SELECT FROM fs_backfill.online_queue) LOOP
                COMMIT;
                PERFORM pg_sleep(0.01);
            END LOOP;
          END \$\$"
}
vacuums() { q -c "SELECT vacuum_count FROM pg_stat_all_tables WHERE relid = 'fs_backfill.online_queue'::regclass"; }
qsize() { q -c "SELECT pg_total_relation_size('fs_backfill.online_queue')"; }
relfile() { q -c "SELECT pg_relation_filenode('fs_backfill.online_queue')"; }
hold_worker() {    # point the worker at nothing, so a fill is not drained meanwhile
    q -c "ALTER SYSTEM SET fs_backfill.redis_url = 'redis://127.0.0.1:1'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
}
release_worker() {
    q -c "ALTER SYSTEM RESET fs_backfill.redis_url" -c "SELECT pg_reload_conf()" >/dev/null
}

echo "setting up $N entities ..."
q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS bo_feat, lat_raw, lat_feat" >/dev/null 2>&1 || true
rcli flushall >/dev/null
rcli set fs_backfill:sentinel 1 >/dev/null    # nothing to resync at creation
q >/dev/null <<SQL
CREATE EXTENSION fs_backfill;
CREATE TABLE bo_feat (entity_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                      f1 float8, f2 float8, f3 float8, f4 float8, f5 float8,
                      PRIMARY KEY (entity_id, feature_time)) PARTITION BY RANGE (feature_time);
CREATE TABLE bo_feat_d PARTITION OF bo_feat FOR VALUES FROM ('2025-03-01 00:00+00') TO ('2025-03-02 00:00+00');
INSERT INTO bo_feat SELECT e, timestamptz '2025-03-01 00:00+00' + (e % 86400) * interval '1 second',
                           0.123456789, 1.23456789, 12.3456789, 123.456789, 1234.56789
  FROM generate_series(1, $N) e;
VACUUM ANALYZE bo_feat;
SELECT fs_create_feature_set('bo', 'bo_feat', ARRAY['entity_id'], 'feature_time',
    'SELECT entity_id, feature_time, f1, f2, f3, f4, f5 FROM bo_feat WHERE false', '2025-03-01');
SQL
sleep 1   # the worker notices the new extension

# an empty Redis that the worker does not take for one that lost its data
empty_redis() { printf 'MULTI\nFLUSHALL\nSET fs_backfill:sentinel 1\nEXEC\n' | rcli >/dev/null; }

# fills the queue with every entity while the worker is held, then times the
# drain into an empty Redis; sets secs (the drain) and full (the queue's size
# when full)
drain_once() {
    local t0 f0 p0 v0
    hold_worker
    empty_redis
    p0=$(pushed)
    v0=$(vacuums)
    q -c "SELECT fs_online_resync('bo')" >/dev/null
    full=$(qsize)
    f0=$(relfile)
    t0=$(now)
    release_worker
    wait_drained "$p0"
    secs=$(since "$t0")
    # the worker TRUNCATEs (new file) or VACUUMs the queue once it ran empty
    for _ in $(seq 1 100); do
        [ "$(relfile)" != "$f0" ] || [ "$(vacuums)" != "$v0" ] && break
        sleep 0.1
    done
}
# redis-benchmark writing the same hashes into an empty Redis, entities/s
baseline_once() {
    empty_redis
    redis-benchmark -p "$FSB_REDIS_PORT" -c 1 -P 100 -n "$N" -r "$N" -q \
        HSET "fs:bench:__rand_int__" f1 0.123456789 f2 1.23456789 f3 12.3456789 \
        f4 123.456789 f5 1234.56789 _ts 2025-03-01T00:00:00.000000Z 2>/dev/null |
      tr '\r' '\n' | grep "requests per second" | tail -1 | sed 's/.*: \([0-9.]*\) requests per second.*/\1/'
}

# rounds, each a drain beside a baseline run: the machine is noisy, so the
# figure is the median of the rounds' ratios; the queue is drained and
# refilled between rounds, for its size
rates=() bases=() ratios=()
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round ..."
    drain_once
    rate=$(awk -v n="$N" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    [ "$round" = 1 ] && { size1=$(qsize); full1=$full; keys=$(rcli dbsize); first_secs=$secs; }
    base=$(baseline_once)
    rates+=("$rate"); bases+=("$base")
    ratios+=("$(awk -v a="$rate" -v b="$base" 'BEGIN { printf "%.3f", a / b }')")
done
size_last=$(qsize)
full_last=$full
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }
rate=$(median "${rates[@]}"); base=$(median "${bases[@]}"); ratio=$(median "${ratios[@]}")

# latency: one-row backfills, commit to the value readable in Redis
q >/dev/null <<'SQL'
CREATE TABLE lat_raw (id bigint, ts timestamptz, v int);
INSERT INTO lat_raw VALUES (1, '2025-03-01 12:00+00', 0);
CREATE TABLE lat_feat (id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('lat', 'lat_feat', ARRAY['id'], 'feature_time',
    $$SELECT id, ts AS feature_time, v FROM lat_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SELECT fs_backfill('lat', '2025-03-01', '2025-03-01');
SQL
lat=()
for i in $(seq 1 100); do
    q -c "UPDATE lat_raw SET v = $i" -c "SELECT fs_backfill('lat', '2025-03-01', '2025-03-01')" >/dev/null
    t0=$(now)
    until [ "$(rcli hget fs:lat:1 v)" = "$i" ]; do :; done
    lat+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -g)
p50=$(echo "$sorted" | sed -n 50p); p90=$(echo "$sorted" | sed -n 90p); pmax=$(echo "$sorted" | tail -1)

printf '\nfs_backfill online benchmark (%s entities, 5 feature columns, batch %s)\n' "$N" "$(q -c "SHOW fs_backfill.online_batch_size")"
printf '%-62s %12s %12s %8s %10s\n' "figure" "value" "baseline" "ratio" "target"
printf '%-62s %12s %12s %8.2f %10s\n' "drain rate, entities/s, vs redis-benchmark -c 1 -P 100 HSET" "$rate" "$base" \
    "$ratio" ">= 0.60"
printf '%-62s %12s %12s %8s %10s\n' "commit to readable in Redis, median of 100 (ms)" "$p50" "-" "-" "< 50"
printf '%-62s %12s %12s %8.2f %10s\n' "queue size (bytes) after $ROUNDS fills and drains vs after the first" "$size_last" "$size1" \
    "$(awk -v a="$size_last" -v b="$size1" 'BEGIN { print a / b }')" "< 2.00"
printf '%-62s %12s %12s %8.2f %10s\n' "queue size (bytes) when full, fill $ROUNDS vs the first" "$full_last" "$full1" \
    "$(awk -v a="$full_last" -v b="$full1" 'BEGIN { print a / b }')" "-"
printf 'rounds (drain, baseline, ratio): %s\n' "$(for i in "${!rates[@]}"; do printf '%s/%s/%s  ' "${rates[$i]}" "${bases[$i]}" "${ratios[$i]}"; done)"
printf 'first drain of %s entities took %s s; Redis held %s keys; latency p90 %s ms, max %s ms\n' "$N" "$first_secs" "$keys" "$p90" "$pmax"
q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE bo_feat, lat_raw, lat_feat" >/dev/null 2>&1 || true
