#!/usr/bin/env bash
# Redis refusing one feature set's pushes (an error reply: NOPERM here, as an
# OOM or a script error would be) stalls that feature set only: it is parked,
# its error shows in online_status and its entries stay queued, while the
# others drain; once Redis accepts it again it drains too.  Redis is not
# taken for down meanwhile.  And when Redis lost its data, a feature set that
# cannot be queued again does not keep the others from being queued: its
# error shows, and it is queued once mended.
DB=postgres
. "$(dirname "$0")/lib.sh"
ADMIN_PW=admin-$$
# the worker is Redis's default user; the test its own, allowed everything
radmin() { redis-cli -p "$FSB_REDIS_PORT" --user fsb_admin --pass "$ADMIN_PW" --no-auth-warning "$@"; }
restore() { radmin acl setuser default allkeys >/dev/null 2>&1; radmin acl deluser fsb_admin >/dev/null 2>&1; }
trap restore EXIT

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS r_raw, r_good, r_bad" >/dev/null 2>&1
empty_redis
rcli acl setuser fsb_admin on ">$ADMIN_PW" '~*' '&*' +@all >/dev/null
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE TABLE r_raw (id bigint, ts timestamptz, v int);
INSERT INTO r_raw SELECT i, '2025-03-01 12:00+00', i FROM generate_series(1, 100) i;
CREATE TABLE r_good (id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
CREATE TABLE r_bad (LIKE r_good) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set(name, target, ARRAY['id'], 'feature_time',
    $$SELECT id, ts AS feature_time, v FROM r_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01')
  FROM (VALUES ('bad', 'r_bad'::regclass), ('good', 'r_good'::regclass)) f(name, target);
SQL
pid=$(worker_pid)
pending() { q -c "SELECT pending FROM fs_backfill.online_status WHERE feature_set = '$1'"; }

# the worker may write fs:good:* (and the sentinel) but not fs:bad:*
radmin acl setuser default resetkeys '~fs:good:*' '~fs_backfill:sentinel' >/dev/null
q -c "SELECT fs_backfill('bad', '2025-03-01', '2025-03-01')" \
  -c "SELECT fs_backfill('good', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 30 "SELECT pending = 0 FROM fs_backfill.online_status WHERE feature_set = 'good'"
ok $? "good, queued after bad, drained while Redis refuses bad's pushes"
is "$(radmin hget fs:good:100 v)" "100" "and its entities reached Redis"
is "$(pending bad)" "100" "bad's entries stay queued"
wait_for 10 "SELECT last_error LIKE '%127.0.0.1:$FSB_REDIS_PORT%NOPERM%' FROM fs_backfill.online_status WHERE feature_set = 'bad'"
ok $? "online_status shows bad's error: $(q -c "SELECT last_error FROM fs_backfill.online_status WHERE feature_set = 'bad'")"
is "$(q -c "SELECT last_error IS NULL FROM fs_backfill.online_status WHERE feature_set = 'good'")" "t" "and none for good"
is "$(q -c "SELECT redis FROM fs_backfill.worker_status()")" "connected" "Redis is not taken for down"

q -c "UPDATE r_raw SET v = v + 1000" -c "SELECT fs_backfill('good', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 30 "SELECT pending = 0 FROM fs_backfill.online_status WHERE feature_set = 'good'"
ok $? "a later backfill of good drains too"
is "$(radmin hget fs:good:100 v)" "1100" "with its new values"

radmin acl setuser default allkeys >/dev/null
wait_for 30 "SELECT pending = 0 FROM fs_backfill.online_status WHERE feature_set = 'bad'"
ok $? "once Redis lets the worker write its keys, bad drains"
is "$(radmin hget fs:bad:100 v)" "100" "and its entities reach Redis, as its table holds them"
is "$(worker_pid)" "$pid" "the same worker did it all"

# Redis loses its data while bad cannot be queued (a key column renamed)
q -c "SELECT fs_backfill('good', '2025-03-01', '2025-03-01')" \
  -c "SELECT fs_backfill('bad', '2025-03-01', '2025-03-01')" >/dev/null
wait_drained; ok $? "both feature sets drained"
q -c "ALTER TABLE r_bad RENAME COLUMN id TO renamed_id" >/dev/null
radmin flushall >/dev/null
wait_for 30 "SELECT last_error LIKE '%after Redis lost its data%' FROM fs_backfill.online_status WHERE feature_set = 'bad'"
ok $? "bad's failed resync shows in online_status: $(q -c "SELECT last_error FROM fs_backfill.online_status WHERE feature_set = 'bad'")"
for i in $(seq 1 300); do [ "$(radmin exists fs_backfill:sentinel)" = "1" ] && break; sleep 0.1; done
wait_drained; ok $? "the other feature sets were queued again and drained"
is "$(radmin hget fs:good:100 v)" "1100" "good is back in Redis"
is "$(radmin exists fs:bad:100)" "0" "bad is not, yet"
q -c "ALTER TABLE r_bad RENAME COLUMN renamed_id TO id" >/dev/null
for i in $(seq 1 300); do [ "$(radmin hget fs:bad:100 v)" = "1100" ] && break; sleep 0.1; done
is "$(radmin hget fs:bad:100 v)" "1100" "once mended, bad is queued again and reaches Redis"
is "$(worker_pid)" "$pid" "still the same worker"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE r_raw, r_good, r_bad" >/dev/null 2>&1
done_testing
