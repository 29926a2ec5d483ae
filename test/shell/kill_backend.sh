#!/usr/bin/env bash
# A backend killed with SIGKILL in the middle of a backfill (after some
# slices were replaced, some swapped into new heaps, partitions created)
# leaves the table exactly as before once the cluster has recovered.
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 5 5000
q -c "UPDATE raw SET v = v + 7" -c "INSERT INTO raw SELECT user_id, ts + interval '5 days', v FROM raw WHERE ts < '2025-03-03 00:00+00'" >/dev/null

before=$(q -c "SELECT digest('-infinity', 'infinity') || ' ' || (SELECT count(*) FROM pg_inherits WHERE inhparent = 'feat'::regclass) || ' ' || (SELECT count(*) FROM fs_backfill.runs)")
src=$(slow_source 60 '2025-03-07 00:00+00')
q -c "SET fs_backfill.swap_min_rows = 0" \
  -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-07 12:00:00', source => \$q\$$src\$q\$)" >/dev/null 2>&1 &
wait_for 20 "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database())"
ok $? "the backfill reached its seventh slice"
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()")
kill -9 "$pid"; ok $? "SIGKILL to backend $pid"
wait
wait_for_server 60; ok $? "the cluster recovered"

after=$(q -c "SELECT digest('-infinity', 'infinity') || ' ' || (SELECT count(*) FROM pg_inherits WHERE inhparent = 'feat'::regclass) || ' ' || (SELECT count(*) FROM fs_backfill.runs)")
is "$after" "$before" "rows, partitions and runs are as before"
is "$(q -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'pg_temp_%' AND relkind = 'r' AND relnamespace = 'public'::regnamespace")" \
   "0" "no transient heap is visible"
q -c "SET fs_backfill.swap_min_rows = 0" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-07 12:00:00')" >/dev/null
ok $? "the same backfill then succeeds"
is "$(q -c "SELECT digest('2025-03-01 00:00+00', '2025-03-07 12:00+00') = source_digest('2025-03-01 00:00+00', '2025-03-07 12:00+00')")" \
   "t" "and the table equals the source"
done_testing
