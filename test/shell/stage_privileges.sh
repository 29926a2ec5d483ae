#!/usr/bin/env bash
# Who stages, and as whom the slices are built (SPEC section 8): a role
# without INSERT and DELETE on the target cannot stage; the slice builders
# run as the role that called fs_backfill_stage, never as a superuser on
# behalf of a non-superuser; a role that may not use the feature set cannot
# publish, cancel or resume someone else's run.
. "$(dirname "$0")/lib.sh"
fresh_db
# the cluster of make test wants passwords over TCP: the roles get the one
# the test's connection uses
pw=${PGPASSWORD:-unused}
q >/dev/null <<SQL
CREATE ROLE fsb_st_owner LOGIN PASSWORD '$pw';
CREATE ROLE fsb_st_heir LOGIN PASSWORD '$pw';
CREATE ROLE fsb_st_stranger LOGIN PASSWORD '$pw';
GRANT CREATE ON SCHEMA public TO fsb_st_owner;
SQL
# the feature set of lib.sh, made by its owner (not a superuser)
PGUSER=fsb_st_owner make_feature_set 4 1000
PGUSER=fsb_st_owner stage_setup
q -c "UPDATE raw SET v = v + 1" >/dev/null
NEW=$(q -c "SELECT source_digest('-infinity', 'infinity')")

src=$(logged_source 1)
run=$(PGUSER=fsb_st_owner q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-04', parallel => 2, source => \$q\$$src\$q\$)")
ok $? "the owner, not a superuser, stages a run ($run)"
wait_for 20 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder')"
ok $? "slice builders run"
is "$(q -c "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder'")" \
   "fsb_st_owner" "as the owner (pg_stat_activity)"
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "succeeded" "the run succeeds"
is "$(q -c "SELECT string_agg(DISTINCT who || ' super=' || super, ',') FROM stage_log")" "fsb_st_owner super=false" \
   "every slice's source ran as the owner, without superuser rights"
is "$(whole)" "$NEW" "the table equals the source"

# a stranger may not touch the owner's run
run=$(PGUSER=fsb_st_owner q -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-04', publish => 'manual')")
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "staged" "a manual run of the owner is staged"
for call in "fs_backfill_publish($run)" "fs_backfill_cancel($run)" "fs_backfill_resume($run)"; do
    out=$(PGUSER=fsb_st_stranger q -v VERBOSITY=verbose -c "SELECT $call" 2>&1)
    echo "$out" | grep -q "ERROR:  42501"; ok $? "a stranger's $call: 42501"
done
is "$(run_status "$run")" "staged" "the run is still staged"
PGUSER=fsb_st_owner q -c "SELECT fs_backfill_cancel($run)" >/dev/null
ok $? "its owner cancels it"

# the registrant who no longer owns the table has no INSERT or DELETE on it
q -c "ALTER TABLE feat OWNER TO fsb_st_heir"
out=$(PGUSER=fsb_st_owner q -v VERBOSITY=verbose -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-04')" 2>&1)
echo "$out" | grep -q "ERROR:  42501"; ok $? "a role without INSERT and DELETE on the target cannot stage: $(echo "$out" | head -1)"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs WHERE status IN ('staging', 'staged')")" "0" "and no run was recorded"
q -c "GRANT SELECT, INSERT ON feat TO fsb_st_owner"
out=$(PGUSER=fsb_st_owner q -v VERBOSITY=verbose -c "SELECT fs_backfill_stage('fs', '2025-03-01', '2025-03-04')" 2>&1)
echo "$out" | grep -q "ERROR:  42501"; ok $? "nor with INSERT but no DELETE"
done_testing
