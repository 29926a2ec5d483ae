#!/usr/bin/env bash
# Staged runs and errors (SPEC section 8): a transient error in one slice (a
# source that fails with a serialization failure on its first attempt only)
# is retried and the run succeeds; a permanent error fails the run, with the
# slice and the message in run_slices, and publishes nothing, however many
# other slices were staged; fs_backfill_resume then rebuilds only the slices
# that were not staged; nothing staged outlives the run.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 6 2000
stage_setup
q >/dev/null <<'SQL'
CREATE SEQUENCE attempts;
CREATE FUNCTION fail_once(s timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- a sequence is not rolled back with the failed attempt
    IF s = '2025-03-03 00:00+00' AND nextval('attempts') = 1 THEN
        RAISE EXCEPTION 'slice % meets a concurrent update', s USING ERRCODE = '40001';
    END IF;
    RETURN false;
END $$;
CREATE TABLE switch (fail boolean);
INSERT INTO switch VALUES (true);
SQL
rels=$(relcount)

# --- transient ----------------------------------------------------------------
q -c "UPDATE raw SET v = v + 1" >/dev/null
NEW=$(q -c "SELECT source_digest('-infinity', 'infinity')")
src=$(logged_source 0 "fail_once(\$1)")
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-06', retries => 2, source => \$q\$$src\$q\$)")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "succeeded" "a transient error in one slice: the run succeeds"
is "$(q -c "SELECT attempts FROM fs_backfill.run_slices WHERE run_id = $run AND slice_start = '2025-03-03 00:00+00'")" \
   "2" "the failing slice took two attempts"
is "$(q -c "SELECT string_agg(DISTINCT attempts::text, ',') FROM fs_backfill.run_slices WHERE run_id = $run AND slice_start <> '2025-03-03 00:00+00'")" \
   "1" "the others one"
is "$(whole)" "$NEW" "the table equals the source"
is "$(builds)" "03-01 00:00:1,03-02 00:00:1,03-03 00:00:1,03-04 00:00:1,03-05 00:00:1,03-06 00:00:1" \
   "each slice was built (committed) once"
q -c "TRUNCATE stage_log"

# --- retries exhausted: a transient error that persists fails the run -----------
q -c "ALTER SEQUENCE attempts RESTART" -c "CREATE OR REPLACE FUNCTION fail_always(s timestamptz) RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN IF s = '2025-03-03 00:00+00' THEN RAISE EXCEPTION 'always' USING ERRCODE = '40P01'; END IF; RETURN false; END \$f\$" >/dev/null
OLD=$(whole)
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-06', retries => 1, source => \$q\$$(logged_source 0 "fail_always(\$1)")\$q\$)")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "failed" "a deadlock every time, retries => 1: the run fails"
is "$(q -c "SELECT attempts FROM fs_backfill.run_slices WHERE run_id = $run AND slice_start = '2025-03-03 00:00+00'")" \
   "2" "after one retry"
is "$(whole)" "$OLD" "and nothing was published"
is "$(q -c "SELECT fs_backfill_cancel($run)")" "t" "the failed run is cancelled (it would keep the interval)"
q -c "TRUNCATE stage_log"

# --- permanent ----------------------------------------------------------------
q -c "UPDATE raw SET v = v + 1" >/dev/null
NEW=$(q -c "SELECT source_digest('-infinity', 'infinity')")
# 03-05 fails at once; the others take a while, so some are staged by then
src=$(logged_source 0.5 "(\$1 = '2025-03-05 00:00+00' AND (SELECT fail FROM switch))")
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-06', parallel => 2, source => \$q\$$src\$q\$)")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "failed" "a permanent error in one slice: the run fails"
is "$(q -c "SELECT status || ' ' || (error LIKE '%slice 2025-03-05 fails%') FROM fs_backfill.run_slices
             WHERE run_id = $run AND slice_start = '2025-03-05 00:00+00'")" \
   "failed true" "run_slices shows the failed slice with its message"
is "$(q -c "SELECT attempts FROM fs_backfill.run_slices WHERE run_id = $run AND slice_start = '2025-03-05 00:00+00'")" \
   "1" "a permanent error is not retried"
is "$(whole)" "$OLD" "nothing was published"
is "$(q -c "SELECT count(*) FROM fs_backfill.run_partitions WHERE run_id = $run")" "0" "no partition recorded for the run"
staged_before=$(q -c "SELECT string_agg(to_char(slice_start AT TIME ZONE 'UTC', 'MM-DD'), ',' ORDER BY slice_start)
                        FROM fs_backfill.run_slices WHERE run_id = $run AND status = 'staged'")
echo "# staged before the failure: ${staged_before:-none}"

# --- resume: only the unstaged slices are built again -------------------------
q -c "UPDATE switch SET fail = false"
is "$(q -c "SELECT fs_backfill_resume($run)")" "t" "fs_backfill_resume restarts the failed run"
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "succeeded" "and it succeeds"
is "$(whole)" "$NEW" "the table equals the source"
is "$(q -c "SELECT count(*) FROM (SELECT slice_start FROM stage_log GROUP BY 1 HAVING count(*) > 1) d")" "0" \
   "no slice was built twice: $(builds)"
is "$(q -c "SELECT count(DISTINCT slice_start) FROM stage_log")" "6" "every slice was built once"
is "$(relcount)" "$rels" "nothing staged is left"

# --- cancel of a failed run drops what it staged --------------------------------
q -c "UPDATE switch SET fail = true"
OLD=$(whole)
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-06', parallel => 2, source => \$q\$$src\$q\$)")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "failed" "another failed run"
is "$(q -c "SELECT fs_backfill_cancel($run)")" "t" "is cancelled"
is "$(run_status "$run")" "cancelled" "its status is cancelled"
is "$(relcount)" "$rels" "and nothing it staged is left"
is "$(whole)" "$OLD" "the table is unchanged"
done_testing
