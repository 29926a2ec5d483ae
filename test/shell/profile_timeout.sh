#!/usr/bin/env bash
# A resource profile's statement_timeout bounds the run: it is set after the
# statement's timer was armed, so fs_backfill arms it for the run.  A run
# longer than it is cancelled (57014) and changes nothing; the session's own
# shorter statement_timeout still wins; a run within it succeeds.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 3 100
q >/dev/null <<'SQL'
INSERT INTO fs_backfill.resource_profiles VALUES ('quick', '{"statement_timeout": "500ms"}'),
                                                ('patient', '{"statement_timeout": "60s"}');
SQL
before=$(q -c "SELECT digest('2025-03-01', '2025-03-04')")
runs=$(q -c "SELECT count(*) FROM fs_backfill.runs")
slow=$(slow_source 3 '2025-03-02 00:00:00+00')

t0=$(now_s)
err=$(q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-03', source => \$q\$$slow\$q\$,
                               resource_profile => 'quick')" 2>&1 >/dev/null)
took=$(elapsed "$t0")
echo "$err" | grep -q "canceling statement due to statement timeout"
ok $? "a run slower than its profile's statement_timeout is cancelled: $(echo "$err" | head -1)"
lt "$took" 2.5; ok $? "after the profile's 500 ms, not the source's 3 s sleep (took $took s)"
is "$(q -c "SELECT digest('2025-03-01', '2025-03-04')")" "$before" "nothing changed"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs")" "$runs" "no run recorded"
is "$(q -c "SHOW statement_timeout")" "0" "the session's statement_timeout is untouched"

err=$(PGOPTIONS="-c client_min_messages=warning -c statement_timeout=1s" \
      q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-03', source => \$q\$$slow\$q\$,
                               resource_profile => 'patient')" 2>&1 >/dev/null)
echo "$err" | grep -q "canceling statement due to statement timeout"
ok $? "a profile's longer statement_timeout does not extend the session's shorter one"

is "$(q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-03', resource_profile => 'quick') > 0")" "t" \
   "a run within the profile's statement_timeout succeeds"
done_testing
