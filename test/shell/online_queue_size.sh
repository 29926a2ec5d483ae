#!/usr/bin/env bash
# The queue's size stays bounded: once more than 10,000 entries drained and
# the queue is empty, the worker truncates it; when a session holds a lock on
# the queue just then, it VACUUMs it instead, and nothing is lost.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS raw, feat" \
  -c "DROP FUNCTION IF EXISTS digest, source_digest" >/dev/null 2>&1
rcli flushall >/dev/null
q -c "CREATE EXTENSION fs_backfill" >/dev/null
make_feature_set 1 12000
qfile() { q -c "SELECT pg_relation_filenode('fs_backfill.online_queue')"; }
vacuums() { q -c "SELECT vacuum_count FROM pg_stat_all_tables WHERE relid = 'fs_backfill.online_queue'::regclass"; }

wait_for 60 "SELECT count(*) = 0 FROM fs_backfill.online_queue"; ok $? "12,000 entities drained"
wait_for 30 "SELECT pg_relation_size('fs_backfill.online_queue') = 0"
ok $? "then the worker truncated the empty queue"
is "$(q -c "SELECT pg_relation_size('fs_backfill.online_queue_feature_set_entity_key')")" "8192" \
   "its unique index is down to its metapage"
is "$(rcli dbsize)" "12001" "Redis holds every entity (and the sentinel)"

# a session holding a lock on the queue: the worker VACUUMs instead
file=$(qfile); v0=$(vacuums)
q >/dev/null <<'SQL' &
BEGIN;
LOCK fs_backfill.online_queue IN ROW EXCLUSIVE MODE;
SELECT pg_sleep(6);
COMMIT;
SQL
locker=$!
sleep 0.5
q -c "SELECT fs_online_resync('fs')" >/dev/null
wait_for 60 "SELECT count(*) = 0 FROM fs_backfill.online_queue"; ok $? "a resync drained while a session locks the queue"
wait_for 30 "SELECT vacuum_count > $v0 FROM pg_stat_all_tables WHERE relid = 'fs_backfill.online_queue'::regclass"
ok $? "the worker VACUUMed the queue it could not lock"
is "$(qfile)" "$file" "and did not truncate it"
wait "$locker"
is "$(rcli dbsize)" "12001" "Redis still holds every entity"

# backfills and resyncs queueing the same entities at once: no deadlock
fails=0
for i in $(seq 1 15); do
    q -c "SELECT fs_online_resync('fs')" >/dev/null 2>>/tmp/fsb_deadlock.$$ & r=$!
    q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-01')" >/dev/null 2>>/tmp/fsb_deadlock.$$ || fails=$((fails + 1))
    wait $r || fails=$((fails + 1))
done
is "$fails" "0" "15 backfills beside 15 resyncs of the same entities all commit$(grep -m1 ERROR /tmp/fsb_deadlock.$$ | sed 's/^/: /')"
rm -f /tmp/fsb_deadlock.$$
wait_for 60 "SELECT count(*) = 0 FROM fs_backfill.online_queue"; ok $? "and the queue drains"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE raw, feat" -c "DROP FUNCTION digest, source_digest" >/dev/null 2>&1
done_testing
