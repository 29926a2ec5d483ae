#!/usr/bin/env bash
# Catch-up under the real pg_cron: a job scheduled with fs_schedule_catchup
# runs as the role that scheduled it and shows in cron.job_run_details; a job
# that fails leaves its error there and moves no watermark.  Two catch-ups
# of one feature set never run at once.  Without pg_cron, scheduling fails
# with 0A000 and a hint.  pg_cron 1.4 schedules by the minute: a real run
# takes up to a minute to come.
DB=postgres
. "$(dirname "$0")/lib.sh"

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS cu_raw, cu_feat, cu_bad_feat" \
  -c "DROP EXTENSION IF EXISTS pg_cron" -c "DROP OWNED BY fsb_sched" -c "DROP ROLE IF EXISTS fsb_sched" >/dev/null 2>&1
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE EXTENSION pg_cron;
CREATE ROLE fsb_sched LOGIN;
GRANT USAGE ON SCHEMA cron TO fsb_sched;
GRANT CREATE ON SCHEMA public TO fsb_sched;
SET ROLE fsb_sched;
CREATE TABLE cu_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO cu_raw SELECT u, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                             - d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(1, 3) d, generate_series(1, 20) u;
CREATE TABLE cu_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                      PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
CREATE TABLE cu_bad_feat (LIKE cu_feat INCLUDING ALL) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('cu', 'cu_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM cu_raw WHERE ts >= $1 AND ts < $2$$,
    date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days', online => false);
SELECT fs_create_feature_set('cu_bad', 'cu_bad_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM cu_raw WHERE ts >= $1 AND ts < $2$$,
    date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days', online => false,
    checks => '{"min_rows": 1000}');
SQL
as_sched() { q -c "SET ROLE fsb_sched" "$@"; }

job=$(as_sched -c "SELECT fs_schedule_catchup('cu', '* * * * *')")
ok $? "fs_schedule_catchup returns the pg_cron job id ($job)"
bad=$(as_sched -c "SELECT fs_schedule_catchup('cu_bad', '* * * * *')")
is "$(q -c "SELECT jobname || ' ' || username || ' ' || command FROM cron.job WHERE jobid = $job")" \
   "fs_backfill:catchup:cu fsb_sched SELECT public.fs_backfill_catchup('cu')" \
   "the job is named fs_backfill:catchup:<feature set> and belongs to the scheduling role"
again=$(as_sched -c "SELECT fs_schedule_catchup('cu', '* * * * *')")
is "$again" "$job" "scheduling again updates the same job"

wait_for 80 "SELECT count(*) = 2 FROM cron.job_run_details WHERE jobid IN ($job, $bad) AND status IN ('succeeded', 'failed')"
ok $? "pg_cron ran both jobs (waited for the minute)"
is "$(q -c "SELECT status FROM cron.job_run_details WHERE jobid = $job")" "succeeded" "the catch-up job succeeded"
is "$(q -c "SELECT run_by || ' ' || comment || ' ' || (stop_time - start_time) FROM fs_backfill.runs WHERE feature_set = 'cu'")" \
   "fsb_sched catch-up 3 days" "it ran as fsb_sched and filled the three days up to today"
is "$(q -c "SELECT count(*) FROM cu_feat")" "60" "with every source row"
is "$(q -c "SELECT status FROM cron.job_run_details WHERE jobid = $bad")" "failed" "the failing job failed"
q -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $bad" | grep -q 'check min_rows failed for slice'
ok $? "and left its error in cron.job_run_details: $(q -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $bad" | head -1)"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'cu_bad'")" "0" "and recorded no run: its watermark did not move"

is "$(as_sched -c "SELECT fs_unschedule_catchup('cu')")" "t" "fs_unschedule_catchup removes the job"
is "$(as_sched -c "SELECT fs_unschedule_catchup('cu')")" "f" "and says false when there is none"
as_sched -c "SELECT fs_unschedule_catchup('cu_bad')" >/dev/null
is "$(q -c "SELECT count(*) FROM cron.job")" "0" "no job left"

# two catch-ups at once: the second waits, then finds nothing to do (with
# reprocess_partitions 0: otherwise it re-runs the partitions to reprocess)
q -c "SELECT fs_alter_feature_set('cu', '{\"reprocess_partitions\": 0}')" \
  -c "SET client_min_messages = warning" -c "TRUNCATE fs_backfill.runs CASCADE" -c "TRUNCATE cu_feat" >/dev/null
q -c "SELECT fs_alter_feature_set('cu', jsonb_build_object('source',
        'WITH p AS MATERIALIZED (SELECT pg_sleep(0.5)) SELECT user_id, ts AS feature_time, v FROM cu_raw, p WHERE ts >= \$1 AND ts < \$2'))" >/dev/null
q -c "SELECT fs_backfill_catchup('cu')" >/tmp/fsb_cu1.$$ 2>/dev/null & a=$!
sleep 0.3
q -c "SELECT coalesce(fs_backfill_catchup('cu')::text, 'null')" >/tmp/fsb_cu2.$$ 2>/dev/null & b=$!
wait $a; wait $b
is "$(cat /tmp/fsb_cu2.$$)" "null" "a second catch-up started meanwhile waits, then returns NULL"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'cu'")" "1" "one run in all"
rm -f /tmp/fsb_cu1.$$ /tmp/fsb_cu2.$$

# without pg_cron in the database: 0A000 with a hint
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS fsb_nocron" -c "CREATE DATABASE fsb_nocron" >/dev/null 2>&1
out=$(psql -X -q -d fsb_nocron -v VERBOSITY=verbose -c "CREATE EXTENSION fs_backfill" \
        -c "SELECT fs_schedule_catchup('x', '* * * * *')" 2>&1)
echo "$out" | grep -q "ERROR:  42704"; ok $? "an unknown feature set is 42704"
psql -X -q -d fsb_nocron -c "CREATE TABLE t (id int NOT NULL, ts timestamptz NOT NULL) PARTITION BY RANGE (ts)" \
     -c "SELECT fs_create_feature_set('x', 't', ARRAY['id'], 'ts', 'SELECT id, ts FROM t WHERE false', '2025-01-01')" >/dev/null 2>&1
out=$(psql -X -q -d fsb_nocron -v VERBOSITY=verbose -c "SELECT fs_schedule_catchup('x', '* * * * *')" 2>&1)
echo "$out" | grep -q "ERROR:  0A000: pg_cron is not installed in database \"fsb_nocron\""
ok $? "without pg_cron: 0A000 naming the database"
echo "$out" | grep -q "HINT:  Install it"; ok $? "with a hint on how to install it"
psql -X -q -d postgres -c "DROP DATABASE fsb_nocron" >/dev/null 2>&1

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE cu_raw, cu_feat, cu_bad_feat" \
  -c "DROP EXTENSION pg_cron" -c "DROP OWNED BY fsb_sched" -c "DROP ROLE fsb_sched" >/dev/null 2>&1
done_testing
