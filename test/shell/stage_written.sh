#!/usr/bin/env bash
# A write into a staged partition between staging and publish makes publish
# refuse with 40001 naming the partition: no write is ever lost silently
# (SPEC section 8).  What only touches pages (VACUUM, row locks) does not
# count, nor does a write into a partition outside the run, nor one made
# before the partition's slice was staged.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 7 2000
stage_setup
rels=$(relcount)
publish() { q -v VERBOSITY=verbose -c "SELECT fs_backfill_publish($1)" 2>&1; }
stage_manual() {
    local run
    run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-02', '2025-03-04', publish => 'manual')")
    [ "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" = staged ] || echo "# run $run did not reach 'staged'" >&2
    echo "$run"
}
q -c "UPDATE raw SET v = v + 1" >/dev/null

# --- an INSERT into one staged partition ----------------------------------------
run=$(stage_manual)
q -c "INSERT INTO feat VALUES (999999, '2025-03-03 10:00+00', 1)"
OLD=$(whole)
out=$(publish "$run")
echo "$out" | grep -q "ERROR:  40001"; ok $? "publish after an INSERT into a staged partition fails with 40001"
echo "$out" | grep -q "feat_p20250303"; ok $? "naming the partition: $(echo "$out" | grep ERROR)"
echo "$out" | grep -q "feat_p20250302\|feat_p20250304"; ok $((! $?)) "and no other"
is "$(whole)" "$OLD" "nothing was published: the inserted row is still there"
is "$(q -c "SELECT fs_backfill_cancel($run)")" "t" "the run can be cancelled"
is "$(relcount)" "$rels" "and leaves nothing staged"

# --- an UPDATE and a DELETE in two staged partitions: both named --------------
run=$(stage_manual)
q -c "UPDATE feat SET v = -1 WHERE user_id = 5 AND feature_time >= '2025-03-02' AND feature_time < '2025-03-03'" \
  -c "DELETE FROM feat WHERE user_id = 6 AND feature_time >= '2025-03-04' AND feature_time < '2025-03-05'"
OLD=$(whole)
out=$(publish "$run")
echo "$out" | grep "ERROR:  40001" | grep -q "feat_p20250302.*feat_p20250304\|feat_p20250304.*feat_p20250302"
ok $? "an UPDATE and a DELETE in two partitions: publish names both"
is "$(whole)" "$OLD" "nothing was published"
q -c "SELECT fs_backfill_cancel($run)" >/dev/null

# --- a TRUNCATE of a staged partition ------------------------------------------
run=$(stage_manual)
q -c "TRUNCATE feat_p20250303"
out=$(publish "$run")
echo "$out" | grep "ERROR:  40001" | grep -q "feat_p20250303"; ok $? "a TRUNCATE: publish refuses"
q -c "SELECT fs_backfill_cancel($run)" >/dev/null
q -c "SELECT fs_backfill('fs', '2025-03-03', '2025-03-03')" >/dev/null

# --- what is not a write ----------------------------------------------------
NEW=$(q -c "SELECT source_digest('2025-03-02 00:00+00', '2025-03-05 00:00+00')")
run=$(stage_manual)
q -c "VACUUM (FREEZE) feat" \
  -c "SELECT count(*) FROM (SELECT FROM feat WHERE feature_time >= '2025-03-02' FOR UPDATE) l" \
  -c "INSERT INTO feat VALUES (999998, '2025-03-06 10:00+00', 1)" \
  -c "CHECKPOINT" >/dev/null
out=$(publish "$run")
echo "$out" | grep -q ERROR; ok $((! $?)) "VACUUM (FREEZE), FOR UPDATE, a write outside the run, CHECKPOINT: publish goes on"
is "$(q -c "SELECT digest('2025-03-02 00:00+00', '2025-03-05 00:00+00')")" "$NEW" "and publishes the staged rows"
is "$(q -c "SELECT count(*) FROM feat WHERE user_id = 999998")" "1" "the row written outside the run stays"

# --- auto publish: a write after a slice was staged, before the run ends ------
q -c "UPDATE raw SET v = v + 1" >/dev/null
slow=$(logged_source "CASE WHEN \$1 = '2025-03-04 00:00+00' THEN 4 ELSE 0 END")
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-02', '2025-03-04', parallel => 1, source => \$q\$$slow\$q\$)")
wait_for 30 "SELECT status = 'staged' FROM fs_backfill.run_slices WHERE run_id = $run AND slice_start = '2025-03-02 00:00+00'"
ok $? "the first slice of an auto run is staged"
q -c "INSERT INTO feat VALUES (999997, '2025-03-02 10:00+00', 1)"
OLD=$(whole)
st=$(q -c "SELECT fs_backfill_wait($run, '20 s')")
[ "$st" != succeeded ]; ok $? "the run does not succeed (status $st)"
is "$(q -c "SELECT count(*) FROM feat WHERE user_id = 999997")" "1" "the row written after staging is not lost"
is "$(whole)" "$OLD" "nothing was published"
[ "$st" = staged ] || [ "$st" = failed ] ; ok $? "the run waits at 'staged' or failed, for the user to decide"
q -c "SELECT fs_backfill_cancel($run)" >/dev/null
is "$(relcount)" "$rels" "after cancel nothing staged is left"

# --- a write before its slice is staged is no conflict -----------------------
first=$(logged_source "CASE WHEN \$1 = '2025-03-02 00:00+00' THEN 3 ELSE 0 END")
run=$(q -c "SELECT fs_backfill_stage('fs', '2025-03-02', '2025-03-04', parallel => 1, source => \$q\$$first\$q\$)")
wait_for 30 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'fs_backfill slice builder' AND wait_event = 'PgSleep')"
ok $? "an auto run builds its first slice"
is "$(q -c "SELECT status FROM fs_backfill.run_slices WHERE run_id = $run AND slice_start = '2025-03-04 00:00+00'")" \
   "pending" "its last slice is pending"
q -c "INSERT INTO feat VALUES (999996, '2025-03-04 10:00+00', 1)"
is "$(q -c "SELECT fs_backfill_wait($run, '120 s')")" "succeeded" "a write into the partition of a slice not yet staged: the run succeeds"
is "$(q -c "SELECT digest('2025-03-02 00:00+00', '2025-03-05 00:00+00')")" \
   "$(q -c "SELECT source_digest('2025-03-02 00:00+00', '2025-03-05 00:00+00')")" "and the interval equals the source"
done_testing
