#!/usr/bin/env bash
# A hung Redis (SIGSTOP: it takes connections and bytes, and answers
# nothing) in the middle of a drain does not hold up a fast shutdown: the
# worker honours SIGTERM at once, however long fs_backfill.redis_timeout is
# (20 s here).  Nothing is lost: after the restart, with Redis going again,
# every hash equals its entity's latest row.
DB=postgres
. "$(dirname "$0")/lib.sh"
redis_pid=$(cat "$FSB_REDIS_DIR/redis.pid")
restore() {
    kill -CONT "$redis_pid" 2>/dev/null
    q -c "ALTER SYSTEM RESET fs_backfill.redis_timeout" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
}
trap restore EXIT

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS raw, feat" \
  -c "DROP FUNCTION IF EXISTS digest, source_digest" >/dev/null 2>&1
pg_ctl_as_postgres status >/dev/null     # remember where the cluster lives
empty_redis
q -c "CREATE EXTENSION fs_backfill" -c "ALTER SYSTEM SET fs_backfill.redis_timeout = '20s'" \
  -c "SELECT pg_reload_conf()" >/dev/null
hold_worker
make_feature_set 1 200000
q -c "UPDATE raw SET v = v / 7" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-01')" >/dev/null
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "200000" "200,000 entities queued"

release_worker
wait_for 30 "SELECT count(*) < 195000 FROM fs_backfill.online_queue"
ok $? "the worker is draining"
kill -STOP "$redis_pid"; ok $? "Redis hangs (SIGSTOP) in the middle of the drain"
wait_for 10 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker' AND state = 'active'"
ok $? "the worker is in a batch"
sleep 0.5      # let it block on Redis
start=$(now_s)
pg_ctl_as_postgres stop "-m fast" >/dev/null; ok $? "fast shutdown"
took=$(elapsed "$start")
lt "$took" 5; ok $? "took $took s, with fs_backfill.redis_timeout = 20 s (bound: 5 s)"

kill -CONT "$redis_pid"
pg_ctl_as_postgres start >/dev/null; wait_for_server 60; ok $? "the cluster starts again"
fs_converged 120; ok $? "nothing was lost: every hash equals its entity's latest row (200,000 entities)"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE raw, feat" -c "DROP FUNCTION digest, source_digest" >/dev/null 2>&1
done_testing
