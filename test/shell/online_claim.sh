#!/usr/bin/env bash
# How the worker claims queue entries:
# - its claim, planned while the queue was empty and analyzed as such, still
#   walks the queue's primary key and never scans the whole queue (a plan
#   that did would scan and sort it once per chunk of 1,000);
# - each batch goes on from the last one's highest id, and an entry that
#   commits late with a lower id than entries drained since is still pushed.
DB=postgres
. "$(dirname "$0")/lib.sh"

seq_scans() { q -c "SELECT seq_scan FROM pg_stat_all_tables WHERE relid = 'fs_backfill.online_queue'::regclass"; }
flush_stats() { q -c "SELECT pg_stat_force_next_flush()" >/dev/null; }

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" \
  -c "DROP TABLE IF EXISTS claim_raw, claim_n, claim_feat, late_raw, late_feat, nudge_feat" >/dev/null 2>&1
rcli flushall >/dev/null
# a new worker: it has drained nothing yet (after 10,000 entries it would
# check, with a scan, that the queue is empty), and plans its claim afresh
old_pid=$(worker_pid)
kill -TERM "$old_pid"
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker' AND pid <> $old_pid"
ok $? "a new worker"
q -c "CREATE EXTENSION fs_backfill" -c "ANALYZE fs_backfill.online_queue" >/dev/null
q >/dev/null <<'SQL'
CREATE TABLE nudge_feat (id bigint NOT NULL, feature_time timestamptz NOT NULL) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('nudge', 'nudge_feat', ARRAY['id'], 'feature_time',
    $$SELECT 1::bigint AS id, timestamptz '2025-03-01 12:00+00' AS feature_time WHERE $1 < $2$$, '2025-03-01');
CREATE TABLE claim_raw (id bigint, ts timestamptz, v int);
INSERT INTO claim_raw SELECT i, '2025-03-01 12:00+00', i FROM generate_series(1, 5000) i;
CREATE TABLE claim_n (n int);
INSERT INTO claim_n VALUES (1);
CREATE TABLE claim_feat (id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                         PRIMARY KEY (id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('claim', 'claim_feat', ARRAY['id'], 'feature_time',
    $$SELECT id, ts AS feature_time, v FROM claim_raw WHERE ts >= $1 AND ts < $2 AND id <= (SELECT n FROM claim_n)$$,
    '2025-03-01');
SELECT fs_backfill('claim', '2025-03-01', '2025-03-01');
SQL
# the worker plans its claim now, for a queue known to be all but empty
wait_for 30 "SELECT pushed = 1 FROM fs_backfill.online_state WHERE feature_set = 'claim'"
ok $? "one entity drained while the queue is analyzed as empty"

hold_worker
q -c "UPDATE claim_n SET n = 5000" -c "SELECT fs_backfill('claim', '2025-03-01', '2025-03-01')" >/dev/null
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "5000" "5,000 entities queued"
# nothing but the worker may scan the queue from here on: no count(*) of it
pushed() { echo "SELECT pushed = $1 FROM fs_backfill.online_state WHERE feature_set = 'claim'"; }
flush_stats; before=$(seq_scans)
release_worker
wait_for 60 "$(pushed 5001)"; ok $? "and drained"
# the worker sends its statistics at a commit a second after the last
sleep 1.1
q -c "SELECT fs_backfill('nudge', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 30 "SELECT pushed = 1 FROM fs_backfill.online_state WHERE feature_set = 'nudge'"
flush_stats
is "$(seq_scans)" "$before" "the claims never scanned the whole queue"
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "0" "the queue is empty"
is "$(rcli hget fs:claim:5000 v)" "5000" "the last entity reached Redis"

# an entry committed late, with a lower id than entries drained before it
q >/dev/null <<'SQL'
CREATE TABLE late_raw (id bigint, ts timestamptz, v int);
INSERT INTO late_raw VALUES (1, '2025-03-01 12:00+00', 7);
CREATE TABLE late_feat (id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('late', 'late_feat', ARRAY['id'], 'feature_time',
    $$SELECT id, ts AS feature_time, v FROM late_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SQL
q >/dev/null <<'SQL' &
BEGIN;
SELECT fs_backfill('late', '2025-03-01', '2025-03-01');
SELECT pg_sleep(4);
COMMIT;
SQL
late=$!
sleep 1
p0=$(q -c "SELECT pushed FROM fs_backfill.online_state WHERE feature_set = 'claim'")
q -c "UPDATE claim_raw SET v = v + 1" -c "SELECT fs_backfill('claim', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 30 "SELECT pushed >= $p0 + 5000 FROM fs_backfill.online_state WHERE feature_set = 'claim'"
ok $? "entries queued after it drained while it was still open"
is "$(rcli exists fs:late:1)" "0" "the open backfill's entity is not in Redis yet"
wait "$late"
ok $? "the backfill holding the lower id commits"
wait_for 30 "SELECT count(*) = 0 FROM fs_backfill.online_queue"; ok $? "its entry drained"
is "$(rcli hget fs:late:1 v)" "7" "and its entity reached Redis"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE claim_raw, claim_n, claim_feat, late_raw, late_feat, nudge_feat" >/dev/null 2>&1
done_testing
