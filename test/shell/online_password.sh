#!/usr/bin/env bash
# The Redis password: used by the worker, from fs_backfill.redis_password_file
# or from fs_backfill.redis_url, and never visible to a non-superuser in SHOW,
# pg_settings or current_setting, nor written to the server log.
DB=postgres
. "$(dirname "$0")/lib.sh"
PW=pw-$$-Zq7x
WRONG=wrong-$$-Kp2m
PWFILE=$(mktemp /tmp/fsb_redis_pw.XXXXXX)
log_files() { ls "$PG_DATA_DIR"/fsb_restart.log "$PG_DATA_DIR"/../../../log/*.log 2>/dev/null; }
restore() {
    q -c "ALTER SYSTEM RESET fs_backfill.redis_url" -c "ALTER SYSTEM RESET fs_backfill.redis_password_file" >/dev/null 2>&1
    rcli -a "$PW" --no-auth-warning shutdown nosave >/dev/null 2>&1; redis_stop; redis_start >/dev/null
    pg_ctl_as_postgres restart >/dev/null; wait_for_server 60
    q -c "DROP ROLE IF EXISTS fsb_shell_nosuper" >/dev/null 2>&1
    rm -f "$PWFILE"
}
trap restore EXIT

pg_ctl_as_postgres status >/dev/null
q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS pw_ev, pw_feat" >/dev/null 2>&1
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE TABLE pw_ev (user_id bigint, ts timestamptz, v int);
INSERT INTO pw_ev SELECT u, timestamptz '2025-03-01 00:00+00' + u * interval '1 minute', u FROM generate_series(1, 20) u;
CREATE TABLE pw_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('pw', 'pw_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM pw_ev WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
CREATE ROLE fsb_shell_nosuper LOGIN;
SQL

redis_stop; redis_start --requirepass "$PW"; ok $? "Redis now wants a password"

# a wrong password: the worker says so, without the password
echo "$WRONG" > "$PWFILE"; chown postgres "$PWFILE"; chmod 600 "$PWFILE"
q -c "ALTER SYSTEM SET fs_backfill.redis_password_file = '$PWFILE'" -c "SELECT pg_reload_conf()" >/dev/null
q -c "SELECT fs_backfill('pw', '2025-03-01', '2025-03-01')" >/dev/null
wait_for 10 "SELECT last_error LIKE '%could not authenticate%' FROM fs_backfill.worker_status()"
ok $? "a wrong password is reported: $(q -c "SELECT last_error FROM fs_backfill.worker_status()")"

# the right one, from the file
echo "$PW" > "$PWFILE"
q -c "SELECT pg_reload_conf()" >/dev/null
wait_drained 30; ok $? "with the password from redis_password_file the queue drains"
is "$(rcli -a "$PW" --no-auth-warning exists fs:pw:5)" "1" "and the values are in Redis"

# the right one, in the URL (set at start: a reload would log a changed URL)
q -c "ALTER SYSTEM RESET fs_backfill.redis_password_file" \
  -c "ALTER SYSTEM SET fs_backfill.redis_url = 'redis://:$PW@127.0.0.1:$FSB_REDIS_PORT'" >/dev/null
pg_ctl_as_postgres restart >/dev/null; wait_for_server 60; ok $? "restarted with the password in redis_url"
q -c "UPDATE pw_ev SET v = v + 1" -c "SELECT fs_backfill('pw', '2025-03-01', '2025-03-01')" >/dev/null
wait_drained 30; ok $? "the queue drains"
is "$(rcli -a "$PW" --no-auth-warning hget fs:pw:5 v)" "6" "with the new values"

# what a non-superuser sees
nq() { psql -X -q -At -d "$DB" -U fsb_shell_nosuper "$@" 2>&1; }
q -c "ALTER ROLE fsb_shell_nosuper PASSWORD '$PGPASSWORD'" >/dev/null
out=$(nq -c "SHOW fs_backfill.redis_url")
echo "$out" | grep -q "$PW"; ok $((1 - $?)) "SHOW does not show it to a non-superuser ($out)"
out=$(nq -c "SELECT current_setting('fs_backfill.redis_url')")
echo "$out" | grep -q "$PW"; ok $((1 - $?)) "nor does current_setting ($out)"
is "$(nq -c "SELECT count(*) FROM pg_settings WHERE name IN ('fs_backfill.redis_url', 'fs_backfill.redis_password_file') OR setting LIKE '%$PW%'")" "0" \
   "nor pg_settings"
out=$(nq -c "SELECT current_setting('fs_backfill.redis_password_file')")
echo "$out" | grep -q "$PWFILE"; ok $((1 - $?)) "the password file's path is hidden too"
is "$(nq -c "SELECT count(*) FROM fs_backfill.worker_status() WHERE last_error LIKE '%$PW%'")" "0" \
   "worker_status carries no password"

# and the log never had it
cat $(log_files) | grep -q -e "$PW" -e "$WRONG"; ok $((1 - $?)) "the server log never shows a password"
done_testing
