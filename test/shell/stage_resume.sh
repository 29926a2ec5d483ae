#!/usr/bin/env bash
# Staged runs across a crash (SPEC section 8): the server stopped with
# -m immediate while slices build; after the restart the run finishes by
# itself, building again only the slices that were not staged (builds are
# counted by a log the source writes in the builder's transaction); nothing
# staged is left after publish; and no staging relation outlives a dropped
# feature set.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 8 1000
stage_setup
rels=$(relcount)
q -c "UPDATE raw SET v = v + 1" >/dev/null
NEW=$(q -c "SELECT source_digest('-infinity', 'infinity')")

src=$(logged_source 1.5)
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', parallel => 2, source => \$q\$$src\$q\$)")
wait_for 60 "SELECT count(*) >= 2 FROM fs_backfill.run_slices WHERE run_id = $run AND status = 'staged'
             AND EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder' AND wait_event = 'PgSleep')"
ok $? "two slices are staged and others are building"
staged=$(q -c "SELECT string_agg(to_char(slice_start AT TIME ZONE 'UTC', 'MM-DD'), ',' ORDER BY slice_start)
                 FROM fs_backfill.run_slices WHERE run_id = $run AND status = 'staged'")
pg_ctl_as_postgres "stop -m immediate" >/dev/null 2>&1
ok $? "the server is stopped with -m immediate (staged: $staged)"
pg_ctl_as_postgres start >/dev/null
wait_for_server 60; ok $? "and started again"

wait_for 120 "SELECT status = 'succeeded' FROM fs_backfill.runs WHERE run_id = $run"
ok $? "the run finishes by itself"
is "$(whole)" "$NEW" "the table equals the source"
is "$(q -c "SELECT count(*) FROM (SELECT slice_start FROM stage_log GROUP BY 1 HAVING count(*) > 1) d")" "0" \
   "no slice was built (committed) twice: $(builds)"
is "$(q -c "SELECT count(DISTINCT slice_start) FROM stage_log")" "8" "every slice was built"
is "$(q -c "SELECT count(*) FROM unnest(string_to_array('$staged', ',')) s
             WHERE s NOT IN (SELECT to_char(slice_start AT TIME ZONE 'UTC', 'MM-DD') FROM stage_log
                              WHERE at < pg_postmaster_start_time())")" "0" \
   "the slices staged before the crash were built before it, and not again"
is "$(relcount)" "$rels" "nothing staged is left after publish"

# --- a dropped feature set takes its staged relations with it -----------------
q -c "TRUNCATE stage_log"
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', publish => 'manual')")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "staged" "a manual run is staged"
[ "$(relcount)" -gt "$rels" ]; ok $? "its staged relations exist"
q -c "SELECT fs_drop_feature_set('fs')" >/dev/null
ok $? "the feature set is dropped"
is "$(relcount)" "$rels" "no staging relation outlives it"

# --- and a run staging when the server stops resumes after a clean restart too
register_fs() {
    q >/dev/null <<'SQL'
SELECT fs_create_feature_set('fs', 'feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SQL
}
register_fs
q -c "TRUNCATE stage_log"
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-08', parallel => 1, source => \$q\$$src\$q\$)")
wait_for 60 "SELECT count(*) >= 1 FROM fs_backfill.run_slices WHERE run_id = $run AND status = 'staged'"
ok $? "a slice is staged"
pg_ctl_as_postgres "restart -m fast" >/dev/null
wait_for_server 60; ok $? "the server restarted (fast)"
wait_for 120 "SELECT status = 'succeeded' FROM fs_backfill.runs WHERE run_id = $run"
ok $? "the run finishes by itself"
is "$(q -c "SELECT count(*) FROM (SELECT slice_start FROM stage_log GROUP BY 1 HAVING count(*) > 1) d")" "0" \
   "no slice was built twice"
is "$(relcount)" "$rels" "nothing staged is left"
done_testing
