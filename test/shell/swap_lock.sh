#!/usr/bin/env bash
# The exchange of a swap only trades storage: the indexes are built on the
# new heap before the ACCESS EXCLUSIVE lock, so a reader that arrives while
# seven swapped partitions are locked waits far less than rebuilding their
# indexes takes.  (The feature set is offline: an online one also queues
# the entities it touched after the exchange, which needs the new rows.)
. "$(dirname "$0")/lib.sh"
fresh_db
make_feature_set 7 100000
q >/dev/null <<'SQL'
SELECT fs_alter_feature_set('fs', '{"online": false}');
CREATE INDEX ON feat (v);
CREATE INDEX ON feat (user_id);
VACUUM ANALYZE feat;
-- returns once a granted ACCESS EXCLUSIVE lock on rel is seen (or after patience)
CREATE FUNCTION wait_for_lock(rel regclass, patience interval) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + patience;
BEGIN
    LOOP
        IF EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation' AND relation = rel
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND mode = 'AccessExclusiveLock' AND granted) THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
END $$;
SQL
q -c "UPDATE raw SET v = v + 1" >/dev/null

# What the exchange used to do under the lock: rebuild the seven partitions' indexes.
t0=$(now_s)
q -c "REINDEX TABLE feat" >/dev/null
reindex=$(elapsed "$t0")

out=$(mktemp)
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" > "$out" <<'SQL' &
SELECT wait_for_lock('feat_p20250301', '60 s');
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT count(*) FROM feat_p20250301;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SQL
reader=$!
q -c "SET fs_backfill.swap_min_rows = 0" \
  -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-07', strategy => 'swap')" >/dev/null
ok $? "a swap of seven partitions commits"
wait $reader
ok $? "a reader waiting for the exchange's lock runs"
is "$(q -c "SELECT string_agg(DISTINCT strategy, ',') FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)")" \
   "swap" "all seven were swapped"
is "$(sed -n 1p "$out")" "t" "the reader arrived while the partitions were locked"
is "$(sed -n 2p "$out")" "100000" "and read the new partition whole"
waited=$(sed -n 3p "$out")
half=$(awk -v r="$reindex" 'BEGIN { printf "%.3f", r / 2 }')
lt "$waited" "$half"
ok $? "it waited ${waited}s, under half the ${reindex}s that rebuilding the indexes takes"
is "$(q -c "SELECT source_digest('2025-03-01 00:00+00', '2025-03-08 00:00+00') = digest('2025-03-01 00:00+00', '2025-03-08 00:00+00')")" \
   "t" "the seven days hold the new rows"
is "$(q -c "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid
             WHERE h.inhparent = 'feat'::regclass AND NOT (i.indisvalid AND i.indisready)")" \
   "0" "every index of the partitions is valid"
rm -f "$out"
done_testing
