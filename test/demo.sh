#!/usr/bin/env bash
# make demo: runs test/demo.sql, echoing each statement, inside
# test/with_cluster.sh, in the online worker's database (postgres: the
# cluster is thrown away afterwards); then shows what Redis holds.
set -euo pipefail
cd "$(dirname "$0")/.."
psql -X -q -e -v ON_ERROR_STOP=1 -d postgres -f test/demo.sql
echo
echo "-- And Redis (redis-cli HGETALL fs:users:42), a hash of that row with its time in _ts:"
redis-cli -p "$FSB_REDIS_PORT" hgetall fs:users:42 | paste -d' ' - -
