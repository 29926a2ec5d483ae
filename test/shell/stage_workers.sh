#!/usr/bin/env bash
# Slice builders of staged runs (SPEC section 8): never more than `parallel`
# of a run at once, nor more than fs_backfill.max_stage_workers in the
# cluster (pg_stat_activity sampled during the runs); cancel from another
# session stops them promptly, the run is 'cancelled', the target unchanged
# and nothing it staged is left.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 8 500
stage_setup
q >/dev/null <<'SQL'
-- a second feature set on a copy of the table
CREATE TABLE feat2 (LIKE feat INCLUDING ALL) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('fs2', 'feat2', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SELECT fs_backfill('fs2', '2025-03-01', '2025-03-08');
-- the most slice builders seen at once until every run of "run_ids" has ended
CREATE FUNCTION max_builders(run_ids bigint[], patience float8) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    most int := 0;
    n int;
    stop timestamptz := clock_timestamp() + patience * interval '1 s';
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) INTO n FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder';
        most := greatest(most, n);
        EXIT WHEN NOT EXISTS (SELECT FROM fs_backfill.runs WHERE run_id = ANY (run_ids)
                                 AND status IN ('staging', 'publishing'))
               OR clock_timestamp() > stop;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN most;
END $$;
SQL
rels=$(relcount)
is "$(q -c "SELECT context FROM pg_settings WHERE name = 'fs_backfill.max_stage_workers'")" \
   "sighup" "fs_backfill.max_stage_workers is reloadable"

# --- nothing starts when the staging transaction rolls back -------------------
q -c "BEGIN" -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', source => \$q\$$(logged_source 0)\$q\$)" \
  -c "ROLLBACK" >/dev/null
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-01', source => \$q\$$(logged_source 0)\$q\$)")
is "$(q -c "SELECT fs_backfill_wait($run, '60 s')")" "succeeded" "a run staged after one rolled back succeeds"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs WHERE status <> 'succeeded'")" "0" "the rolled-back run left no record"
is "$(builds)" "03-01 00:00:1" "and built nothing: only the committed run's slice was built"
q -c "TRUNCATE stage_log"

# --- parallel => 2: at most two builders of the run --------------------------
src=$(logged_source 0.7)
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', parallel => 2, source => \$q\$$src\$q\$)")
is "$(q -c "SELECT max_builders(ARRAY[$run], 120)")" "2" "parallel => 2: two builders at once, never more"
is "$(run_status "$run")" "succeeded" "the run succeeded"
q -c "TRUNCATE stage_log"

# --- max_stage_workers = 3: two runs of parallel 3 share three builders ------
q -c "ALTER SYSTEM SET fs_backfill.max_stage_workers = 3" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 "SELECT current_setting('fs_backfill.max_stage_workers') = '3'"
ok $? "max_stage_workers set to 3"
r1=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', parallel => 3, source => \$q\$$src\$q\$)")
r2=$(q -c "SELECT fs_backfill_stage('fs2', '2025-03-01', '2025-03-08', parallel => 3, source => \$q\$$src\$q\$)")
is "$(q -c "SELECT max_builders(ARRAY[$r1, $r2], 120)")" "3" "two runs of parallel 3: three builders in the cluster, never more"
is "$(run_status "$r1") $(run_status "$r2")" "succeeded succeeded" "both runs succeeded"
q -c "ALTER SYSTEM RESET fs_backfill.max_stage_workers" -c "SELECT pg_reload_conf()" >/dev/null
q -c "TRUNCATE stage_log"

# --- cancel while building ----------------------------------------------------
q -c "UPDATE raw SET v = v + 1" >/dev/null
OLD=$(whole)
src=$(logged_source 60)
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', parallel => 2, source => \$q\$$src\$q\$)")
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder' AND wait_event = 'PgSleep'"
ok $? "two builders are building"
is "$(q -c "SELECT count(*) FROM fs_backfill_progress() WHERE run_id = $run")" "2" \
   "fs_backfill_progress() shows one row per building slice, with its run id"
t0=$(now_s)
is "$(q -c "SELECT fs_backfill_cancel($run)")" "t" "fs_backfill_cancel from another session"
wait_for 10 "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder'"
ok $? "the builders stop"
took=$(elapsed "$t0")
lt "$took" 3; ok $? "promptly (${took}s)"
is "$(run_status "$run")" "cancelled" "the run is cancelled"
is "$(q -c "SELECT string_agg(DISTINCT status, ',') FROM fs_backfill.run_slices WHERE run_id = $run")" "cancelled" \
   "and so are its slices"
is "$(q -c "SELECT fs_backfill_wait($run, '10 s')")" "cancelled" "fs_backfill_wait reports it"
is "$(whole)" "$OLD" "the target is unchanged"
is "$(relcount)" "$rels" "nothing staged is left"
is "$(q -c "SELECT count(*) FROM stage_log")" "0" "no slice was built"
done_testing
