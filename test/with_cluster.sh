#!/usr/bin/env bash
# Runs a command inside a throw-away PostgreSQL 15 cluster (pg_virtualenv)
# with fs_backfill and pg_cron preloaded, beside a loopback Redis on a free
# port (exported as FSB_REDIS_PORT).  Both are gone when the command ends.
set -euo pipefail

port=
for p in $(seq 16379 16479); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port for redis" >&2; exit 1; }
redis_dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --dir "$redis_dir" --pidfile "$redis_dir/redis.pid" \
    --logfile "$redis_dir/redis.log"
stop_redis() {
    [ -f "$redis_dir/redis.pid" ] && kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || true
    rm -rf "$redis_dir"
}
trap stop_redis EXIT
export FSB_REDIS_PORT=$port FSB_REDIS_DIR=$redis_dir

pg_virtualenv -t -v 15 \
    -o shared_preload_libraries=fs_backfill,pg_cron \
    -o cron.database_name=postgres \
    -o cron.use_background_workers=on \
    -o max_worker_processes=16 \
    -o fs_backfill.redis_url=redis://127.0.0.1:$port \
    -o fs_backfill.online_naptime=200ms \
    ${FSB_PG_OPTS:--o fsync=off} \
    "$@"
