#!/usr/bin/env bash
# One feature set the worker cannot push (a key column renamed under it) does
# not stall the others queued after it: its entries stay queued, its error
# shows in online_status, the other feature sets drain; once mended, it
# drains too, and the worker never restarted.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS p_raw, p_a, p_b" >/dev/null 2>&1
empty_redis
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE TABLE p_raw (id bigint, ts timestamptz, v int);
INSERT INTO p_raw SELECT i, '2025-03-01 12:00+00', i FROM generate_series(1, 100) i;
CREATE TABLE p_a (id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
CREATE TABLE p_b (LIKE p_a) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set(name, target, ARRAY['id'], 'feature_time',
    $$SELECT id, ts AS feature_time, v FROM p_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01')
  FROM (VALUES ('pa', 'p_a'::regclass), ('pb', 'p_b'::regclass)) f(name, target);
SQL
pid=$(worker_pid)
pending() { q -c "SELECT pending FROM fs_backfill.online_status WHERE feature_set = '$1'"; }

hold_worker
q -c "SELECT fs_backfill('pa', '2025-03-01', '2025-03-01')" \
  -c "SELECT fs_backfill('pb', '2025-03-01', '2025-03-01')" \
  -c "ALTER TABLE p_a RENAME COLUMN id TO renamed_id" >/dev/null
is "$(pending pa) $(pending pb)" "100 100" "both feature sets queued, pa first; pa's key column renamed"
release_worker

wait_for 30 "SELECT pending = 0 FROM fs_backfill.online_status WHERE feature_set = 'pb'"
ok $? "pb, queued after pa, drained"
is "$(rcli hget fs:pb:100 v)" "100" "and its entities reached Redis"
is "$(pending pa)" "100" "pa's entries stay queued"
wait_for 10 "SELECT last_error LIKE '%entity column \"id\" of feature set \"pa\" does not exist%' AND last_error_at IS NOT NULL FROM fs_backfill.online_status WHERE feature_set = 'pa'"
ok $? "online_status shows pa's error"
is "$(q -c "SELECT last_error IS NULL FROM fs_backfill.online_status WHERE feature_set = 'pb'")" "t" \
   "and none for pb"

# pb goes on draining while pa is parked
q -c "UPDATE p_raw SET v = v + 1000" -c "SELECT fs_backfill('pb', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 30 "SELECT pending = 0 FROM fs_backfill.online_status WHERE feature_set = 'pb'"
ok $? "a later backfill of pb drains too"
is "$(rcli hget fs:pb:100 v)" "1100" "with its new values"

q -c "ALTER TABLE p_a RENAME COLUMN renamed_id TO id" >/dev/null
wait_for 30 "SELECT pending = 0 FROM fs_backfill.online_status WHERE feature_set = 'pa'"
ok $? "once its column has its name back, pa drains"
is "$(rcli hget fs:pa:100 v)" "100" "and its entities reach Redis, as its table holds them"
is "$(worker_pid)" "$pid" "the same worker did it all"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE p_raw, p_a, p_b" >/dev/null 2>&1
done_testing
