#!/usr/bin/env bash
# Without shared_preload_libraries: CREATE EXTENSION loads the library into
# a running backend, which must not end the session (a PGC_POSTMASTER
# setting defined then is FATAL), and backfills work there.  Runs in a
# second throw-away cluster of its own, started without preloading.
. "$(dirname "$0")/lib.sh"

sql=$(mktemp); chmod 644 "$sql"
cat >"$sql" <<'SQL'
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT 'preload=' || current_setting('shared_preload_libraries');
CREATE EXTENSION fs_backfill;
SELECT 'connected=' || (pg_backend_pid() > 0);
CREATE TABLE np_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO np_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', u + d
  FROM generate_series(0, 2) d, generate_series(1, 100) u;
CREATE TABLE np_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('np', 'np_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM np_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SELECT 'run=' || fs_backfill('np', '2025-03-01', '2025-03-03');
SELECT 'rows=' || count(*) || ' sum=' || sum(v) FROM np_feat;
SELECT 'queued=' || count(*) FROM fs_backfill.online_queue;
SELECT 'progress=' || count(*) FROM fs_backfill_progress();
SELECT 'database=' || coalesce(current_setting('fs_backfill.database', true), 'undefined');
SQL
# a second cluster of the same binaries, as its OS user (initdb refuses root)
bin=$(pg_config --bindir)
dir=$(mktemp -d); chmod 755 "$dir"; chown postgres "$dir"
port=$(for p in $(seq 26432 26532); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo $p; break; }; done)
stop_cluster() { su postgres -c "$bin/pg_ctl stop -D $dir/data -m immediate" >/dev/null 2>&1; rm -rf "$dir" "$sql"; }
trap stop_cluster EXIT
su postgres -c "$bin/initdb -D $dir/data -A trust -U postgres" >/dev/null &&
su postgres -c "$bin/pg_ctl start -D $dir/data -w -l $dir/log -o '-c port=$port -c listen_addresses= -c unix_socket_directories=$dir -c fsync=off'" >/dev/null
ok $? "a second cluster, started without shared_preload_libraries"
out=$(psql -X -At -h "$dir" -p "$port" -U postgres -d postgres -f "$sql" 2>&1)
echo "$out" | sed 's/^/# /'
[ "$(echo "$out" | grep -c 'preload=$')" = 1 ]; ok $? "the cluster has nothing preloaded"
echo "$out" | grep -q '^connected=true$'; ok $? "CREATE EXTENSION leaves the session alive"
echo "$out" | grep -qi 'FATAL'; ok $((! $?)) "no FATAL"
is "$(echo "$out" | grep '^run=')" "run=1" "a backfill runs"
is "$(echo "$out" | grep '^rows=')" "rows=300 sum=15450" "and writes its rows"
is "$(echo "$out" | grep '^queued=')" "queued=100" "entities are queued for the online cache"
is "$(echo "$out" | grep '^progress=')" "progress=0" "fs_backfill_progress() shows nothing without shared memory"
is "$(echo "$out" | grep '^database=')" "database=undefined" "worker settings exist only when preloading"
done_testing
