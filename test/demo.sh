#!/usr/bin/env bash
# make demo: runs test/demo.sql, echoing each statement, inside test/with_cluster.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS fsb_demo" -c "CREATE DATABASE fsb_demo"
psql -X -q -e -v ON_ERROR_STOP=1 -d fsb_demo -f test/demo.sql
