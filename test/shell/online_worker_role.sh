#!/usr/bin/env bash
# The online worker as a non-superuser role (fs_backfill.worker_role): it reads
# the targets with that role's privileges and works on the extension's tables
# as their owner.  Also: Redis forgetting the push script (SCRIPT FLUSH), and
# an unreadable fs_backfill.redis_password_file.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS raw, feat" \
  -c "DROP FUNCTION IF EXISTS digest, source_digest" -c "DROP ROLE IF EXISTS fsb_worker" >/dev/null 2>&1
rcli flushall >/dev/null
q -c "CREATE EXTENSION fs_backfill" -c "CREATE ROLE fsb_worker LOGIN" >/dev/null
pg_ctl_as_postgres status >/dev/null     # remember where the cluster lives
restart() {
    pg_ctl_as_postgres restart >/dev/null && wait_for_server 60 &&
        wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker'"
}
# one line per entity: key, _ts, v and the number of fields (one redis-cli
# per key would take minutes for 12,000 keys)
redis_side() {
    local keys
    keys=$(rcli --scan --pattern 'fs:fs:*' | LC_ALL=C sort)
    paste -d' ' <(echo "$keys") \
        <(echo "$keys" | awk '{ print "HMGET " $1 " _ts v"; print "HLEN " $1 }' | rcli | paste -d' ' - - -)
}
converged() {   # every entity's hash equals its latest row
    wait_drained 60 || return 1
    [ "$(q -c "SELECT 'fs:fs:' || user_id || ' ' ||
                 to_char(feature_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ' ' || v || ' 2'
            FROM (SELECT DISTINCT ON (user_id) * FROM feat ORDER BY user_id, feature_time DESC) l
            ORDER BY ('fs:fs:' || user_id) COLLATE \"C\"")" = "$(redis_side)" ]
}

q -c "ALTER SYSTEM SET fs_backfill.worker_role = 'fsb_worker'" >/dev/null
restart; ok $? "restarted with fs_backfill.worker_role = fsb_worker"
is "$(q -c "SELECT usename FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker'")" \
   "fsb_worker" "the worker runs as fsb_worker"

# without SELECT on the target the worker cannot read it: entries stay queued
make_feature_set 2 12000
sleep 1
wait_for 10 "SELECT last_error LIKE '%permission denied for table feat%' FROM fs_backfill.worker_status()"
ok $? "without SELECT on the target the worker reports: $(q -c "SELECT last_error FROM fs_backfill.worker_status()")"
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "12000" "and every entry stays queued"
wait_for 10 "SELECT last_error LIKE '%permission denied for table feat%' FROM fs_backfill.online_status WHERE feature_set = 'fs'"
ok $? "online_status shows the feature set's error"

q -c "GRANT SELECT ON feat TO fsb_worker" >/dev/null
converged; ok $? "with SELECT granted the queue drains and Redis equals the table (12,000 entities)"
wait_for 30 "SELECT pg_relation_size('fs_backfill.online_queue') = 0"
ok $? "the drained queue is truncated (as the extension's owner)"
is "$(q -c "SELECT pushed >= 12000 FROM fs_backfill.online_status WHERE feature_set = 'fs'")" "t" \
   "online_status counts the pushes"

# Redis forgets the push script: the worker loads it again and carries on
pid=$(worker_pid)
rcli script flush >/dev/null
q -c "UPDATE raw SET v = v + 1 WHERE user_id <= 100" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-02')" >/dev/null
converged; ok $? "after SCRIPT FLUSH the next backfill still reaches Redis"
is "$(q -c "SELECT redis FROM fs_backfill.worker_status()")" "connected" "without the worker calling Redis down"
is "$(worker_pid)" "$pid" "by the same worker process (no crash, no restart)"

# an unreadable password file is reported, by path, and nothing is lost
q -c "ALTER SYSTEM SET fs_backfill.redis_password_file = '/nonexistent/fsb-password'" \
  -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 "SELECT last_error LIKE 'could not open fs_backfill.redis_password_file \"/nonexistent/fsb-password\"%' FROM fs_backfill.worker_status()"
ok $? "an unreadable password file is reported: $(q -c "SELECT last_error FROM fs_backfill.worker_status()")"
q -c "UPDATE raw SET v = v + 1 WHERE user_id <= 100" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-02')" >/dev/null
is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "12000" "the backfill's entities stay queued"
q -c "ALTER SYSTEM RESET fs_backfill.redis_password_file" -c "SELECT pg_reload_conf()" >/dev/null
converged; ok $? "once the file setting is fixed the cache converges"

q -c "ALTER SYSTEM RESET fs_backfill.worker_role" >/dev/null
restart; ok $? "restarted with the default worker role"
q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE raw, feat" -c "DROP ROLE fsb_worker" \
  -c "DROP FUNCTION digest, source_digest" >/dev/null 2>&1
done_testing
