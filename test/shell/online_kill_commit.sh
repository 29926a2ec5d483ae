#!/usr/bin/env bash
# The worker killed (SIGKILL) after Redis acknowledged a batch but before its
# commit: the batch's entries are still queued, they are pushed again after
# the restart, and Redis ends byte for byte equal to the table.  The window
# is held open by locking the feature set's row of online_state, which the
# batch updates last.  Then SIGKILLs at random points of a drain of 100,000
# entities: the cache still converges.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS raw, feat" \
  -c "DROP FUNCTION IF EXISTS digest, source_digest" >/dev/null 2>&1
empty_redis
q -c "CREATE EXTENSION fs_backfill" >/dev/null
make_feature_set 1 1000
fs_converged; ok $? "1,000 entities in Redis"

q -c "SELECT 1 FROM fs_backfill.online_state WHERE feature_set = 'fs' FOR UPDATE" -c "SELECT pg_sleep(120)" \
  --single-transaction >/dev/null 2>&1 &
wait_for 10 "SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%pg_sleep(120)%'"
ok $? "a session holds the feature set's row of online_state"
q -c "UPDATE raw SET v = v / 7 + 1" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 30 "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker'"
ok $? "the worker waits to commit its batch"
is "$(redis_lines 'fs:fs:*' _ts v)" "$(fs_expected)" "Redis acknowledged it: it holds the new values"
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "1000" "its entries are still queued"
# spoil every value in Redis: only pushing the entries again mends them
rcli eval "local c = '0'
repeat
  local r = redis.call('SCAN', c, 'MATCH', 'fs:fs:*', 'COUNT', 1000)
  c = r[1]
  for _, k in ipairs(r[2]) do redis.call('HSET', k, 'v', 'spoilt') end
until c == '0'
return 1" 0 >/dev/null
kill -KILL "$(worker_pid)"; ok $? "SIGKILL to the worker"
sleep 1; wait_for_server 60; ok $? "the cluster recovered"
fs_converged; ok $? "the entries were pushed again: Redis equals the table, byte for byte"

# kills in the middle of a large drain
q -c "TRUNCATE raw" -c "INSERT INTO raw SELECT u, timestamptz '2025-03-01 00:00+00' + (u % 86400) * interval '1 second', u / 7.0 FROM generate_series(1, 100000) u" \
  -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-01')" >/dev/null
for left in 80000 40000; do
    wait_for 60 "SELECT count(*) <= $left FROM fs_backfill.online_queue"
    kill -KILL "$(worker_pid)"; ok $? "SIGKILL to the worker with $left or fewer entities left"
    sleep 1; wait_for_server 60
done
fs_converged 120; ok $? "the cache converges: every hash equals its entity's latest row (100,000 entities)"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE raw, feat" -c "DROP FUNCTION digest, source_digest" >/dev/null 2>&1
done_testing
