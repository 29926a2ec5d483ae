#!/usr/bin/env bash
# fs_backfill_progress() from a second session while a backfill of several
# slices runs, and the NOTICE each finished slice sends its own session.
DB=fsb_progress
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 4 50

# every slice of this source takes 0.8 s
src="WITH pause AS MATERIALIZED (SELECT pg_sleep(0.8)) SELECT user_id, ts AS feature_time, v FROM raw, pause WHERE ts >= \$1 AND ts < \$2"
PGOPTIONS="-c client_min_messages=notice" q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-04', source => \$q\$$src\$q\$)" \
  2>/tmp/fsb_progress_notices.$$ >/tmp/fsb_progress_run.$$ &
bf=$!

wait_for 10 "SELECT partitions_done >= 1 FROM fs_backfill_progress() WHERE feature_set = 'fs'"
ok $? "another session sees the backfill's first slice done"
row=$(q -c "SELECT phase, partitions_total, rows_written >= 50, partitions_done < partitions_total,
                   pid <> pg_backend_pid(), started_at <= now()
              FROM fs_backfill_progress() WHERE feature_set = 'fs'")
is "$row" "replacing slices|4|t|t|t|t" "phase, slices of the total, rows written, while it runs ($row)"
run_seen=$(q -c "SELECT run_id FROM fs_backfill_progress() WHERE feature_set = 'fs'")
wait "$bf"; ok $? "the backfill commits"
is "$(cat /tmp/fsb_progress_run.$$)" "$run_seen" "progress showed the run id it returned"
is "$(q -c "SELECT count(*) FROM fs_backfill_progress()")" "0" "and nothing once it is done"
is "$(grep -c 'NOTICE:  feature set "fs": slice [1-4] of 4 \[2025-03-0[1-4] 00:00:00+00, 2025-03-0[2-5] 00:00:00+00) done by [a-z_]*, 50 rows' /tmp/fsb_progress_notices.$$)" \
   "4" "one NOTICE per slice, with its bounds, strategy and rows"
is "$(grep -c 'DETAIL:  It took [0-9.]* s.' /tmp/fsb_progress_notices.$$)" "4" "and the time it took"
rm -f /tmp/fsb_progress_notices.$$ /tmp/fsb_progress_run.$$

# a failed backfill leaves no progress behind
q -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-04', checks => '{\"min_rows\": 1000}')" >/dev/null 2>&1
is "$(q -c "SELECT count(*) FROM fs_backfill_progress()")" "0" "a failed backfill leaves no progress row"
# nor one that failed inside a savepoint (an EXCEPTION block) of a longer transaction
is "$(q -c "BEGIN" -c "DO \$\$ BEGIN PERFORM fs_backfill('fs', '2025-03-01', '2025-03-04', checks => '{\"min_rows\": 1000}');
                              EXCEPTION WHEN check_violation THEN NULL; END \$\$" \
          -c "SELECT count(*) FROM fs_backfill_progress()" -c "COMMIT")" "0" \
   "nor one caught by an EXCEPTION block, while its transaction goes on"
done_testing
