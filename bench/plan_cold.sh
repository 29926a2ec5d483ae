#!/usr/bin/env bash
# fs_backfill_plan in a new session, on 3,650 daily partitions, beside its
# baselines, each the median of SESSIONS fresh sessions (wall clock from the
# client, a session's first statement):
#   - fs_backfill_plan for 7 days (target: under 50 ms);
#   - the first query on the table, pruned to the same 7 days: what any
#     session pays to build the table's partition descriptor, which a plan
#     used to build too;
#   - fs_backfill_plan for 7 days on a table of 30 partitions;
#   - SELECT 1, the floor of a new session.
#
# Run inside a cluster (test/with_cluster.sh bench/plan_cold.sh; make bench
# settings: fsync=on shared_buffers=2GB max_wal_size=20GB
# maintenance_work_mem=256MB).  SETUP=0 reuses the database of a former run.
set -euo pipefail

SESSIONS=${SESSIONS:-11}
ROWS_PER_DAY=${ROWS_PER_DAY:-30000}
DB=fsb_plan_bench
export PGDATABASE=$DB
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
. "$(dirname "$0")/lib.sh"

if [ "${SETUP:-1}" != 0 ]; then
    echo "setting up 3,650 and 30 daily partitions ..."
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
    q -f "$(dirname "$0")/make_feature_table.sql"
    q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION fs_backfill;
CREATE TABLE raw_events (user_id bigint, ts timestamptz, f1 float8, f2 float8, f3 float8, f4 float8);
INSERT INTO raw_events
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + (u % 86400) * interval '1 second',
       random(), random(), random(), random()
  FROM generate_series(0, 29) d, generate_series(1, $ROWS_PER_DAY) u;
CREATE INDEX ON raw_events (ts);
VACUUM ANALYZE raw_events;
CALL make_feature_table('narrow', '2025-03-01', 30);
CALL make_feature_table('wide', '2016-03-16', 3650);
SELECT fs_create_feature_set(t, t, ARRAY['user_id'], 'feature_time',
  \$\$SELECT user_id, ts AS feature_time, f1, f2, f3, f4 FROM raw_events WHERE ts >= \$1 AND ts < \$2\$\$,
  '2025-03-01', online => false) FROM unnest(ARRAY['narrow', 'wide']) t;
SELECT fs_backfill(t, '2025-03-01', '2025-03-14') FROM unnest(ARRAY['narrow', 'wide']) t;
VACUUM ANALYZE narrow;
VACUUM ANALYZE wide;
CHECKPOINT;
SQL
fi
parts=$(q -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'wide'::regclass")

PLAN="SELECT count(*) FROM fs_backfill_plan('%s', '2025-03-08', '2025-03-14')"
# one session of each first, so that shared buffers hold what they read
for t in wide narrow; do q -c "$(printf "$PLAN" $t)" >/dev/null; done
plan_wide=$(cold_ms "$SESSIONS" "$(printf "$PLAN" wide)")
first_query=$(cold_ms "$SESSIONS" "SELECT 1 FROM wide WHERE feature_time >= '2025-03-08 00:00+00' AND feature_time < '2025-03-15 00:00+00' LIMIT 0")
plan_narrow=$(cold_ms "$SESSIONS" "$(printf "$PLAN" narrow)")
floor=$(cold_ms "$SESSIONS" "SELECT 1")

printf '\nfs_backfill_plan in a new session (medians of %s sessions, ms)\n' "$SESSIONS"
printf '%-66s %8s %8s\n' "figure" "ms" "target"
printf '%-66s %8s %8s\n' "fs_backfill_plan, 7 days, $parts partitions" "$plan_wide" "< 50"
printf '%-66s %8s %8s\n' "baseline: first query on the $parts partitions, pruned to 7 days" "$first_query" "-"
printf '%-66s %8s %8s\n' "baseline: fs_backfill_plan, 7 days, 30 partitions" "$plan_narrow" "-"
printf '%-66s %8s %8s\n' "baseline: SELECT 1" "$floor" "-"
