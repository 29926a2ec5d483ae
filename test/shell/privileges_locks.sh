#!/usr/bin/env bash
# A role that may not use a feature set holds none of its locks: each entry
# point checks the caller first and locks after.  The role calls each entry
# point in an open transaction and keeps it open; meanwhile it holds no
# advisory or relation lock of the feature set, and a backfill from a second
# session with lock_timeout = 2s goes through.  (A call that fails releases
# its locks when its transaction aborts; the ones that mattered succeeded
# while holding them: a catch-up with nothing to do, a plan.)
. "$(dirname "$0")/lib.sh"

psql -X -q -d postgres -c "DROP ROLE IF EXISTS fsb_lk_stranger" >/dev/null 2>&1
fresh_db
make_feature_set 3 20
# caught up: a catch-up has nothing to do; analyzed: a plan reads no row
q -c "SELECT fs_alter_feature_set('fs', '{\"catchup_delay\": \"100 years\"}')" -c "ANALYZE feat" >/dev/null
q >/dev/null <<'SQL'
CREATE ROLE fsb_lk_stranger;
SQL

fifo=$(mktemp -u); out=$(mktemp)
# hold CALL: the stranger runs CALL in a transaction it keeps open
hold() {
    mkfifo "$fifo"
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v VERBOSITY=verbose -d "$DB" \
        <"$fifo" >"$out" 2>&1 &
    held=$!
    exec 3>"$fifo"
    echo "SET application_name = fsb_lk; SET ROLE fsb_lk_stranger; BEGIN; $1;" >&3
    wait_for 10 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'fsb_lk'
                                  AND state LIKE 'idle in transaction%' AND query LIKE '%fs_%')"
}
release() { echo "ROLLBACK;" >&3; exec 3>&-; wait "$held"; rm -f "$fifo"; }
# locks of the held session on the feature set: advisory ones, the tables
locks() {
    q -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE a.application_name = 'fsb_lk'
             AND (l.locktype = 'advisory'
                  OR l.relation IN (SELECT oid FROM pg_class WHERE relname ~ '^(feat|raw)'
                                       AND relnamespace = 'public'::regnamespace))"
}

for call in "SELECT fs_backfill_catchup('fs')" \
            "SELECT * FROM fs_backfill_plan('fs', '2025-03-01', '2025-03-03')" \
            "SELECT fs_backfill('fs', '2025-03-01', '2025-03-02')" \
            "SELECT fs_alter_feature_set('fs', '{\"catchup_delay\": \"1 day\"}')" \
            "SELECT fs_online_resync('fs')"; do
    hold "$call"
    is "$(locks)" "0" "$call holds no lock of the feature set in the stranger's open transaction"
    t0=$(now_s)
    q -c "SET lock_timeout = '2s'" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-02')" >/dev/null 2>&1
    ok $? "meanwhile a backfill of the feature set goes through ($(elapsed "$t0") s)"
    release
    grep -q 'ERROR:  42501: permission denied for feature set "fs"' "$out"
    ok $? "the refusal was 42501: $(grep ERROR "$out" | head -1)"
done
rm -f "$out"

psql -X -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)" -c "DROP ROLE fsb_lk_stranger" >/dev/null 2>&1
done_testing
