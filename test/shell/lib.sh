# Helpers for the shell tests: TAP output, psql wrappers, polling with a
# deadline (never a fixed sleep to wait for a condition).
# Sourced by test/shell/*.sh, which run inside test/with_cluster.sh.

set -uo pipefail
TAP_N=0
TAP_FAILED=0
DB=${DB:-fsb_shell_$(basename "$0" .sh)}

ok() {     # ok CONDITION-EXIT-STATUS DESCRIPTION
    TAP_N=$((TAP_N + 1))
    if [ "$1" -eq 0 ]; then echo "ok $TAP_N - $2"; else echo "not ok $TAP_N - $2"; TAP_FAILED=1; fi
}
is() {     # is HAVE WANT DESCRIPTION
    TAP_N=$((TAP_N + 1))
    if [ "$1" = "$2" ]; then echo "ok $TAP_N - $3"
    else echo "not ok $TAP_N - $3"; echo "#   have: $1"; echo "#   want: $2"; TAP_FAILED=1; fi
}
done_testing() { echo "1..$TAP_N"; exit $TAP_FAILED; }

# quiet about NOTICEs (a line per slice) unless a test asks for them
q() { PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}" psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fresh_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null 2>&1
    q -c "CREATE EXTENSION fs_backfill" >/dev/null
}
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.3f", b - a }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# wait_for SECONDS SQL: polls until SQL returns 't'; false at the deadline
wait_for() {
    local deadline
    deadline=$(awk -v n="$(now_s)" -v s="$1" 'BEGIN { printf "%.3f", n + s }')
    while lt "$(now_s)" "$deadline"; do
        [ "$(q -c "$2" 2>/dev/null)" = "t" ] && return 0
        sleep 0.05
    done
    return 1
}

# wait_for_server SECONDS: polls until the server accepts connections again
wait_for_server() {
    local deadline
    deadline=$(awk -v n="$(now_s)" -v s="$1" 'BEGIN { printf "%.3f", n + s }')
    while lt "$(now_s)" "$deadline"; do
        psql -X -q -At -d "$DB" -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# A feature set "fs" over table "feat" (daily partitions, primary key or not)
# and raw table "raw": DAYS days from 2025-03-01 with ROWS rows each.
make_feature_set() {
    local days=$1 rows=$2 key=${3:-PRIMARY KEY (user_id, feature_time)}
    q >/dev/null <<SQL
CREATE TABLE raw (user_id bigint, ts timestamptz, v float8);
INSERT INTO raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + (u % 86400) * interval '1 second', u + d
  FROM generate_series(0, $days - 1) d, generate_series(1, $rows) u;
CREATE INDEX ON raw (ts);
CREATE TABLE feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v float8
                   ${key:+, $key}) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('fs', 'feat', ARRAY['user_id'], 'feature_time',
    \$\$SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= \$1 AND ts < \$2\$\$, '2025-03-01');
SELECT fs_backfill('fs', '2025-03-01', (date '2025-03-01' + $days - 1)::text);
CREATE FUNCTION digest(lo timestamptz, hi timestamptz) RETURNS text LANGUAGE sql AS \$\$
    SELECT md5(coalesce(string_agg(f::text, '|' ORDER BY user_id, feature_time), ''))
      FROM feat f WHERE feature_time >= lo AND feature_time < hi \$\$;
CREATE FUNCTION source_digest(lo timestamptz, hi timestamptz) RETURNS text LANGUAGE sql AS \$\$
    SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY user_id, feature_time), ''))
      FROM (SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= lo AND ts < hi) r \$\$;
SQL
}

# A source that sleeps SECONDS once, in the slice starting at SLICE_START.
slow_source() {
    local seconds=$1 slice_start=$2
    echo "WITH pause AS MATERIALIZED (SELECT pg_sleep(CASE WHEN \$1 = '$slice_start' THEN $seconds ELSE 0 END))
          SELECT user_id, ts AS feature_time, v FROM raw, pause WHERE ts >= \$1 AND ts < \$2"
}

# --- the online cache -------------------------------------------------------
rcli() { redis-cli -p "$FSB_REDIS_PORT" "$@"; }
redis_stop() {
    rcli shutdown nosave >/dev/null 2>&1
    local i; for i in $(seq 1 50); do rcli ping >/dev/null 2>&1 || return 0; sleep 0.1; done
    return 1
}
redis_start() {     # an empty Redis on the same port, as with_cluster.sh made it
    redis-server --port "$FSB_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --dir "$FSB_REDIS_DIR" --pidfile "$FSB_REDIS_DIR/redis.pid" \
        --logfile "$FSB_REDIS_DIR/redis.log" "$@"
    local i; for i in $(seq 1 50); do rcli ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
# one line per hash of a feature set: key field=value ..., fields sorted
redis_dump() {
    local k
    for k in $(rcli --scan --pattern "fs:$1:*" | LC_ALL=C sort); do
        echo "$k $(rcli hgetall "$k" | paste -d= - - | LC_ALL=C sort | tr '\n' ' ')"
    done
}
wait_drained() { wait_for "${1:-30}" "SELECT count(*) = 0 FROM fs_backfill.online_queue"; }
# an empty Redis that the worker does not take for one that lost its data
empty_redis() { printf 'MULTI\nFLUSHALL\nSET fs_backfill:sentinel 1\nEXEC\n' | rcli >/dev/null; }
hold_worker() {    # the worker points at nothing: entries wait in the queue
    q -c "ALTER SYSTEM SET fs_backfill.redis_url = 'redis://127.0.0.1:1'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
}
release_worker() {
    q -c "ALTER SYSTEM RESET fs_backfill.redis_url" -c "SELECT pg_reload_conf()" >/dev/null
}
worker_pid() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker'"; }
# pg_ctl on the running cluster, as its owner; learns where it lives first
PG_DATA_DIR= PG_CONFIG_FILE=
pg_ctl_as_postgres() {
    if [ -z "$PG_DATA_DIR" ]; then
        PG_DATA_DIR=$(q -c "SHOW data_directory"); PG_CONFIG_FILE=$(q -c "SHOW config_file")
    fi
    su postgres -c "$(pg_config --bindir)/pg_ctl $1 -D $PG_DATA_DIR -o '-c config_file=$PG_CONFIG_FILE' -w -l $PG_DATA_DIR/fsb_restart.log ${2:-}"
}

# Every hash whose key matches PATTERN, one line each, sorted: the key, the
# FIELDs' values ("-" when absent) and the number of fields.  One Lua script,
# so that 200,000 hashes take a second, not minutes of redis-cli calls.
redis_lines() {    # redis_lines PATTERN FIELD...
    local pattern=$1; shift
    rcli eval "local out, cur = {}, '0'
repeat
  local res = redis.call('SCAN', cur, 'MATCH', ARGV[1], 'COUNT', 1000)
  cur = res[1]
  for _, k in ipairs(res[2]) do
    local line = k
    for i = 2, #ARGV do line = line .. ' ' .. (redis.call('HGET', k, ARGV[i]) or '-') end
    out[#out + 1] = line .. ' ' .. redis.call('HLEN', k)
  end
until cur == '0'
return out" 0 "$pattern" "$@" | LC_ALL=C sort
}
# make_feature_set's entities as redis_lines 'fs:fs:*' _ts v should show them
fs_expected() {
    q -c "SET extra_float_digits = 1" -c "
        SELECT line FROM (
            SELECT 'fs:fs:' || user_id || ' ' ||
                   to_char(feature_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ' ' ||
                   coalesce(v::text, '-') || ' ' || (1 + (v IS NOT NULL)::int) AS line
              FROM (SELECT DISTINCT ON (user_id) * FROM feat ORDER BY user_id, feature_time DESC) l) x
         ORDER BY line COLLATE \"C\""
}
# the queue drains and every hash of "fs" equals its entity's latest row
fs_converged() {
    wait_drained "${1:-60}" || return 1
    [ "$(fs_expected)" = "$(redis_lines 'fs:fs:*' _ts v)" ]
}

# --- a second session kept open across steps --------------------------------
# bg_open: a psql session fed through a FIFO (fd 7).  bg_do SQL sends SQL,
# waits (up to 30 s) until psql has run it and prints its output; bg_send SQL
# sends without waiting (for a statement that will block).  bg_close ends it.
bg_open() {
    BG_FIFO=$(mktemp -u); BG_OUT=$(mktemp); BG_N=0
    mkfifo "$BG_FIFO"
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -d "$DB" <"$BG_FIFO" >"$BG_OUT" 2>&1 &
    BG_PID=$!
    exec 7>"$BG_FIFO"
    printf '\\echo bg-done-0\n' >&7
}
bg_send() { printf '%s\n' "$1" >&7; }
bg_do() {
    local i
    BG_N=$((BG_N + 1))
    printf '%s\n\\echo bg-done-%s\n' "$1" "$BG_N" >&7
    for i in $(seq 1 1500); do
        grep -qx "bg-done-$BG_N" "$BG_OUT" && break
        sleep 0.02
    done
    awk -v a="bg-done-$((BG_N - 1))" -v b="bg-done-$BG_N" \
        '$0 == b { exit } on { print } $0 == a { on = 1 }' "$BG_OUT"
}
bg_close() { exec 7>&-; wait "$BG_PID"; rm -f "$BG_FIFO" "$BG_OUT"; }

# --- staged runs (section 8) ---------------------------------------------------
# stage_setup: after make_feature_set, a log of slice builds that commit
# (stage_log: slice start, role, superuser?, pid) and a source that writes it
# and sleeps PAUSE seconds per slice: logged_source PAUSE [FAIL_SQL], where
# FAIL_SQL is a boolean expression of $1 that raises an error when true.
stage_setup() {
    q >/dev/null <<'SQL'
CREATE TABLE stage_log (slice_start timestamptz, who name, super boolean, pid int,
                        at timestamptz DEFAULT clock_timestamp());
GRANT INSERT, SELECT ON stage_log TO PUBLIC;
CREATE FUNCTION build_log(s timestamptz, pause float8, fail boolean) RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
    IF fail THEN
        RAISE EXCEPTION 'slice % fails', to_char(s AT TIME ZONE 'UTC', 'YYYY-MM-DD');
    END IF;
    PERFORM pg_sleep(pause);
    INSERT INTO stage_log (slice_start, who, super, pid)
        SELECT s, current_user, rolsuper, pg_backend_pid() FROM pg_roles WHERE rolname = current_user;
    RETURN 1;
END $$;
SQL
}
logged_source() {
    echo "WITH l AS MATERIALIZED (SELECT build_log(\$1, $1, ${2:-false}))
          SELECT user_id, ts AS feature_time, v FROM raw, l WHERE ts >= \$1 AND ts < \$2"
}
# builds logged per slice, "start:count" sorted, comma-separated
builds() {
    q -c "SELECT string_agg(to_char(slice_start AT TIME ZONE 'UTC', 'MM-DD HH24:MI') || ':' || n, ',' ORDER BY slice_start)
            FROM (SELECT slice_start, count(*) n FROM stage_log GROUP BY 1) b"
}
whole() { q -c "SELECT digest('-infinity', 'infinity')"; }     # every row of feat
run_status() { q -c "SELECT status FROM fs_backfill.runs WHERE run_id = $1"; }
# slice builders of the cluster now
builders() { q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder'"; }
# relations in the database: nothing staged may outlive its run
relcount() { q -c "SELECT count(*) FROM pg_class WHERE relpersistence <> 't'"; }
