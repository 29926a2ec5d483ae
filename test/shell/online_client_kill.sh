#!/usr/bin/env bash
# Redis dropping the worker's connection (CLIENT KILL) again and again in
# the middle of a drain of 200,000 entities: the worker reconnects and,
# once the queue is empty, every hash equals its entity's latest row.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS raw, feat" \
  -c "DROP FUNCTION IF EXISTS digest, source_digest" >/dev/null 2>&1
empty_redis
q -c "CREATE EXTENSION fs_backfill" >/dev/null
hold_worker
make_feature_set 1 200000
q -c "UPDATE raw SET v = v / 7" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-01')" >/dev/null
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "200000" "200,000 entities queued"
release_worker

for left in 180000 140000 100000 60000; do
    wait_for 60 "SELECT count(*) <= $left FROM fs_backfill.online_queue"
    killed=$(rcli client kill type normal)
    [ "$killed" -ge 1 ] 2>/dev/null; ok $? "CLIENT KILL with $left or fewer entities left ($killed killed)"
done
fs_converged 120; ok $? "the queue drained and every hash equals its entity's latest row"
is "$(rcli dbsize)" "200001" "200,000 hashes and the sentinel, nothing else"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE raw, feat" -c "DROP FUNCTION digest, source_digest" >/dev/null 2>&1
done_testing
