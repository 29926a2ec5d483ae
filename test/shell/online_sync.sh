#!/usr/bin/env bash
# The online cache with the real worker and a real Redis: after a backfill
# commits and the queue drains, every touched entity's hash equals its
# latest row; the guard, deletes and the minimal queue hold; and the cache
# converges through Redis outages, worker kills and an immediate shutdown.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS ev, feat" \
  -c "DROP FUNCTION IF EXISTS expected_dump()" >/dev/null 2>&1
pg_ctl_as_postgres status >/dev/null     # remember where the cluster lives
rcli flushall >/dev/null
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE TABLE ev (user_id bigint, ts timestamptz, clicks int, score float8, label text);
INSERT INTO ev SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute',
                      u * d, u / 7.0, CASE WHEN u % 3 <> 0 THEN 'l' || u END
  FROM generate_series(0, 5) d, generate_series(1, 200) u;
CREATE TABLE feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, clicks int, score float8,
                   label text, PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('users', 'feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks, score, label FROM ev WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01');
CREATE FUNCTION expected_dump() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT 'fs:users:' || user_id || ' ' || string_agg(f, ' ' ORDER BY f COLLATE "C") || ' '
      FROM (SELECT DISTINCT ON (user_id) * FROM feat ORDER BY user_id, feature_time DESC) l,
           LATERAL (VALUES ('_ts=' || to_char(feature_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
                           ('clicks=' || clicks), ('score=' || score), ('label=' || label)) v(f)
     WHERE f IS NOT NULL
     GROUP BY user_id ORDER BY ('fs:users:' || user_id) COLLATE "C"
$$;
SQL
expected() { q -c "SET extra_float_digits = 1" -c "SELECT * FROM expected_dump()"; }
converged() {   # every entity's hash equals its latest row
    local want i
    # a Redis that came back empty is resynced first: wait for the sentinel
    for i in $(seq 1 300); do [ "$(rcli exists fs_backfill:sentinel 2>/dev/null)" = "1" ] && break; sleep 0.1; done
    wait_drained 30 || return 1
    want=$(expected)
    [ -n "$want" ] && [ "$(redis_dump users)" = "$want" ]
}

q -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06')" >/dev/null
converged; ok $? "after a backfill and the drain, every hash equals its entity's latest row (200 entities)"
is "$(rcli exists fs:users:3)" "1" "keys are fs:<feature set>:<entity>"
is "$(rcli hget fs:users:3 label)" "" "a NULL column is absent from the hash"

# a rolled-back backfill queues nothing and changes nothing in Redis
before=$(redis_dump users)
q -c "UPDATE ev SET clicks = -1" >/dev/null
q -c "BEGIN" -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06')" -c "ROLLBACK" >/dev/null
sleep 0.5
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "0" "a rolled-back backfill queues nothing"
is "$(redis_dump users)" "$before" "and changes nothing in Redis"

# a value newer than the run's stop survives; it is still replaced by a resync
rcli hset fs:users:7 _ts 2099-01-01T00:00:00.000000Z clicks 4242 >/dev/null
q -c "SELECT fs_backfill('users', '2025-03-05', '2025-03-06')" >/dev/null
wait_drained; ok $? "drained"
is "$(rcli hget fs:users:7 clicks)" "4242" "a Redis value with _ts later than the run's stop is kept"
is "$(rcli hget fs:users:8 clicks)" "-1" "while the others got the new values"
q -c "SELECT fs_online_resync('users')" >/dev/null
converged; ok $? "fs_online_resync brings it back in line"

# a key of another type in our namespace does not stall the queue
rcli set fs:users:9 not-a-hash >/dev/null
q -c "UPDATE ev SET clicks = clicks + 3 WHERE user_id = 9" -c "SELECT fs_backfill('users', '2025-03-06', '2025-03-06')" >/dev/null
converged; ok $? "a key that is not a hash is replaced, and the queue drains"

# an entity whose rows all left the interval is deleted from Redis
q -c "DELETE FROM ev WHERE user_id = 11" >/dev/null
q -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06', allow_empty => true)" >/dev/null
wait_drained; ok $? "drained"
is "$(rcli exists fs:users:11)" "0" "an entity with no row left is deleted from Redis"
converged; ok $? "and the rest equals the table"

# a backfill of old days leaves an entity with newer data alone
q -c "INSERT INTO ev VALUES (12, '2025-03-20 00:00+00', 777, 1, 'new')" \
  -c "SELECT fs_backfill('users', '2025-03-20', '2025-03-20')" >/dev/null
converged; ok $? "a newer row reached Redis"
q -c "UPDATE ev SET clicks = clicks + 1 WHERE ts < '2025-03-03 00:00+00'" \
  -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-02')" >/dev/null
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue WHERE entity = '{12}'")" "0" \
   "a backfill of old days does not queue an entity with newer rows"
wait_drained; is "$(rcli hget fs:users:12 clicks)" "777" "and its cache is untouched"

# Redis stopped before a backfill, then started again (empty): nothing is lost
redis_stop
q -c "UPDATE ev SET clicks = clicks + 1000" -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06')" >/dev/null
ok $? "a backfill commits while Redis is down"
wait_for 10 "SELECT redis = 'down' FROM fs_backfill.worker_status()"; ok $? "the worker sees Redis down"
is "$(q -c "SELECT count(*) > 0 FROM fs_backfill.online_queue")" "t" "the queue keeps its entries"
redis_start; ok $? "Redis is back (empty)"
converged; ok $? "the cache converges to the table, resynced in full"

# Redis stopped during a backfill
src="WITH pause AS MATERIALIZED (SELECT pg_sleep(2)) SELECT user_id, ts AS feature_time, clicks, score, label FROM ev, pause WHERE ts >= \$1 AND ts < \$2"
q -c "UPDATE ev SET score = score + 1" >/dev/null
q -c "SELECT fs_backfill('users', '2025-03-06', '2025-03-06', source => \$q\$$src\$q\$)" >/dev/null &
bf=$!
sleep 0.5; redis_stop
wait $bf; ok $? "a backfill during which Redis stops commits"
sleep 0.5; redis_start
converged; ok $? "and the cache converges"

# the worker stopped with SIGTERM: restarted by the postmaster, nothing lost
q -c "UPDATE ev SET label = 'x' || user_id" >/dev/null
pid=$(worker_pid); kill -TERM "$pid"; ok $? "SIGTERM to the worker ($pid)"
q -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06')" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker' AND pid <> $pid"
ok $? "the worker is back"
converged; ok $? "and the cache converges"

# the worker killed with SIGKILL: the cluster restarts, nothing lost
q -c "UPDATE ev SET clicks = clicks + 5" >/dev/null
redis_stop
q -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06')" >/dev/null
pid=$(worker_pid); kill -KILL "$pid"; ok $? "SIGKILL to the worker ($pid)"
sleep 1; wait_for_server 60; ok $? "the cluster recovered"
redis_start
converged; ok $? "and the cache converges"

# the cluster stopped with -m immediate after the commit, before the drain
q -c "UPDATE ev SET clicks = clicks + 7" >/dev/null
redis_stop
q -c "SELECT fs_backfill('users', '2025-03-01', '2025-03-06')" >/dev/null
pending=$(q -c "SELECT count(*) FROM fs_backfill.online_queue")
pg_ctl_as_postgres stop "-m immediate" >/dev/null; ok $? "immediate shutdown with $pending entities pending"
pg_ctl_as_postgres start >/dev/null; ok $? "the cluster starts again"
wait_for_server 60
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "$pending" "the queue survived the crash"
redis_start
converged; ok $? "and the cache converges"

is "$(q -c "SELECT pushed > 0 AND last_push IS NOT NULL FROM fs_backfill.online_status WHERE feature_set = 'users'")" \
   "t" "online_status shows the pushes"
done_testing
