#!/usr/bin/env bash
# Catch-up jobs under the real pg_cron and who may run them: a role with
# every table privilege but neither registrant nor member of the owner role
# cannot schedule one (42501); a member can, and its job runs as it, so once
# the membership is revoked the job fails with the feature set's 42501 in
# cron.job_run_details (though the role kept its table privileges) and
# writes nothing.  fs_drop_feature_set, called by the owner, removes the
# job that another role scheduled.  pg_cron 1.4 schedules by the minute.
DB=postgres
. "$(dirname "$0")/lib.sh"

cleanup() {
    q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS cp_raw, cp_feat" \
      -c "DROP EXTENSION IF EXISTS pg_cron" >/dev/null 2>&1
    for r in fsb_cp_member fsb_cp_writer fsb_cp_owner; do
        q -c "DROP OWNED BY $r" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
}
cleanup
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE EXTENSION pg_cron;
CREATE ROLE fsb_cp_owner;
CREATE ROLE fsb_cp_member LOGIN IN ROLE fsb_cp_owner;
CREATE ROLE fsb_cp_writer;
GRANT USAGE ON SCHEMA cron TO fsb_cp_member, fsb_cp_writer;
GRANT CREATE ON SCHEMA public TO fsb_cp_owner;
SET ROLE fsb_cp_owner;
CREATE TABLE cp_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO cp_raw SELECT u, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                             - d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(1, 2) d, generate_series(1, 10) u;
CREATE TABLE cp_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                      PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
-- table privileges of their own, beside any membership
GRANT SELECT ON cp_raw TO fsb_cp_member, fsb_cp_writer;
GRANT SELECT, INSERT, DELETE ON cp_feat TO fsb_cp_member, fsb_cp_writer;
SELECT fs_create_feature_set('cp', 'cp_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM cp_raw WHERE ts >= $1 AND ts < $2$$,
    date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '2 days', online => false);
SQL

out=$(q -v VERBOSITY=verbose -c "SET ROLE fsb_cp_writer" -c "SELECT fs_schedule_catchup('cp', '* * * * *')" 2>&1)
echo "$out" | grep -q 'ERROR:  42501: permission denied for feature set "cp"'
ok $? "a role with every table privilege but no right to the feature set cannot schedule it: $(echo "$out" | grep ERROR)"
is "$(q -c "SELECT count(*) FROM cron.job")" "0" "and no job was made"

job=$(q -c "SET ROLE fsb_cp_member" -c "SELECT fs_schedule_catchup('cp', '* * * * *')")
ok $? "a member of the owner role schedules it (job $job)"
q -c "REVOKE fsb_cp_owner FROM fsb_cp_member" >/dev/null
wait_for 80 "SELECT EXISTS (SELECT FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed'))"
ok $? "pg_cron ran the job (waited for the minute)"
is "$(q -c "SELECT username || ' ' || status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")" \
   "fsb_cp_member failed" "as the role that scheduled it, which lost its membership: it failed"
q -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $job" | grep -q 'permission denied for feature set "cp"'
ok $? "with the feature set's 42501 in cron.job_run_details: $(q -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs")|$(q -c "SELECT count(*) FROM cp_feat")" "0|0" \
   "and wrote nothing"

q -c "SET ROLE fsb_cp_owner" -c "SELECT fs_drop_feature_set('cp')" >/dev/null
ok $? "the owner drops the feature set"
is "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'fs_backfill:catchup:cp'")" "0" \
   "which removed the catch-up job another role scheduled"

cleanup
done_testing
