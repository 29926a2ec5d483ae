#!/usr/bin/env bash
# Every test of fs_backfill, run inside test/with_cluster.sh (make test):
#   1. pg_regress (sql/, expected/): outputs users read; then the isolation
#      specs (test/specs/, test/expected/): concurrent sessions, step by step;
#   2. pgTAP (test/pgtap/): behaviour, with pg_prove;
#   3. shell (test/shell/): concurrency and faults against the live cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== pg_regress and isolation"
if ! make -s installcheck; then
    cat regression.diffs output_iso/regression.diffs 2>/dev/null || true
    exit 1
fi

echo "== pgTAP"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS fsb_tap" -c "CREATE DATABASE fsb_tap"
psql -X -q -d fsb_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION fs_backfill"
PGOPTIONS="-c client_min_messages=warning" pg_prove -d fsb_tap test/pgtap/*.sql

echo "== shell"
prove --exec bash $(ls test/shell/*.sh | grep -v /lib.sh)
