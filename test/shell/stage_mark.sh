#!/usr/bin/env bash
# The write check of staged runs (src/stage_mark.c), through its two test
# helpers: a mark taken under EXCLUSIVE lock, then, in a later transaction,
# "was the table written since?".  Every kind of write counts, including one
# by a transaction whose xid existed before the mark, and one in a
# subtransaction, and a deletion whose dead rows pruning or VACUUM reclaimed
# before the question; what only touches pages (pruning or VACUUM of rows
# dead before the mark, freezing, row locks, hint bits, a checkpoint) does
# not.  Where a case is meant to make
# the check read tuples, the test first shows that pages did change since
# the mark (pageinspect), so that it cannot pass on the cheap path alone.
. "$(dirname "$0")/lib.sh"
fresh_db
q >/dev/null <<'SQL'
CREATE EXTENSION pageinspect;
CREATE TABLE t (id int, ts timestamptz, v float8) PARTITION BY RANGE (ts);
CREATE TABLE p PARTITION OF t FOR VALUES FROM ('2025-03-01') TO ('2025-03-02')
    WITH (autovacuum_enabled = off);
CREATE UNLOGGED TABLE u (id int, ts timestamptz, v float8) WITH (autovacuum_enabled = off);
CREATE TABLE other (id int);
-- pages of a table whose LSN is beyond the mark's
CREATE FUNCTION pages_changed(rel regclass, mark text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM generate_series(0, pg_relation_size(rel) / 8192 - 1) b
     WHERE (page_header(get_raw_page(rel::text, b::int))).lsn >
           substring(mark FROM 'lsn=([0-9A-F]+/[0-9A-F]+)')::pg_lsn $$;
SQL
fill() {    # fill TABLE: 2,000 rows, committed, hint bits unset
    q -c "TRUNCATE $1" -c "INSERT INTO $1 SELECT i, '2025-03-01 12:00+00', i FROM generate_series(1, 2000) i"
}
M=
mark() { M=$(q -c "SELECT fs_backfill._stage_mark('${1:-p}')"); }
written() { q -c "SELECT fs_backfill._stage_mark_written('${1:-p}', '$M')"; }
changed() { q -c "SELECT pages_changed('${1:-p}', '$M')"; }

fill p
mark
echo "$M" | grep -Eq '^fsb1 rel=[0-9]+ node=[0-9]+ blocks=[1-9][0-9]* lsn=[0-9A-F]+/[0-9A-F]+ xmin=[0-9]+ xmax=[0-9]+ overflow=0 alive=[0-9]+\*[0-9]+(,[0-9]+\*[0-9]+)* running=[0-9,]*$'
ok $? "a mark is printable text: $M"
is "$(written)" "f" "nothing written: false"
is "$(written)" "f" "asked again: still false"

# --- writes ------------------------------------------------------------------
mark; q -c "INSERT INTO t VALUES (0, '2025-03-01 13:00+00', 0)"
is "$(written)" "t" "an INSERT through the parent: true"
mark; q -c "UPDATE p SET v = v + 1 WHERE id = 1000"
is "$(written)" "t" "an UPDATE of one row: true"
mark; q -c "DELETE FROM p WHERE id = 1500"
is "$(written)" "t" "a DELETE of one row: true"
mark; q -c "COPY p FROM PROGRAM 'echo 7,2025-03-01 14:00+00,7' WITH (FORMAT csv)"
is "$(written)" "t" "a COPY: true"
mark; q -c "TRUNCATE p"
is "$(written)" "t" "a TRUNCATE (a new relfilenode): true"
fill p
mark; q -c "VACUUM FULL p"
is "$(written)" "t" "VACUUM FULL counts too (a new relfilenode, documented as conservative)"
mark; q -c "BEGIN" -c "INSERT INTO p VALUES (8, '2025-03-01 15:00+00', 8)" -c "DELETE FROM p WHERE id = 8" -c "COMMIT"
is "$(written)" "t" "a row inserted and deleted again (its dead version is still there): true"
mark; q -c "INSERT INTO p VALUES (9, '2025-03-01 15:00+00', 9)" -c "VACUUM (FREEZE) p"
is "$(written)" "t" "an INSERT that VACUUM (FREEZE) froze before the question: true (the raw xmin stays)"
out=$(q <<'SQL'
BEGIN;
SELECT fs_backfill._stage_mark('p') AS m \gset
INSERT INTO p VALUES (10, '2025-03-01 15:00+00', 10);
SELECT fs_backfill._stage_mark_written('p', :'m');
ROLLBACK;
SQL
)
is "$out" "t" "a write by the marking transaction itself, after the mark: true"

# An xid assigned before the mark, the write into the partition after it.
# (A transaction ends before each such mark: otherwise the server reuses its
# last snapshot, whose xmax is below the new xid, and the xid-in-running
# path would not be the one tested.)
bg_open
xid=$(bg_do "BEGIN; INSERT INTO other VALUES (1); SELECT txid_current();")
q -c "SELECT txid_current()" >/dev/null; mark
echo "$M" | grep -Eq "running=(.*,)?$xid(,|\$)"
ok $? "the open transaction ($xid) is in the mark's running list"
bg_do "INSERT INTO p VALUES (11, '2025-03-01 16:00+00', 11); COMMIT;" >/dev/null
is "$(written)" "t" "a transaction with an xid from before the mark that wrote after it: true"

# the same through a subtransaction whose subxid existed before the mark
bg_do "BEGIN; INSERT INTO other VALUES (2); SAVEPOINT s; INSERT INTO other VALUES (3);" >/dev/null
q -c "SELECT txid_current()" >/dev/null; mark
bg_do "INSERT INTO p VALUES (12, '2025-03-01 16:00+00', 12); RELEASE s; COMMIT;" >/dev/null
is "$(written)" "t" "a subtransaction with a subxid from before the mark that wrote after it: true"
# and through one begun after the mark
bg_do "BEGIN; INSERT INTO other VALUES (4);" >/dev/null
mark
bg_do "SAVEPOINT s; INSERT INTO p VALUES (13, '2025-03-01 16:00+00', 13); RELEASE s; COMMIT;" >/dev/null
is "$(written)" "t" "a subtransaction begun after the mark: true"

# A transaction with more subtransactions than the proc array caches (64):
# the mark's snapshot overflowed, and the mark finds the missing subxids in
# pg_subtrans.  Then a row committed while that transaction ran, whose page
# a row lock touches after the mark, is no write; a subtransaction whose
# subxid existed before the mark and that wrote after it is one.
subxacts() {    # subxacts N: N subtransactions with an xid each, in bg's open transaction
    echo "DO \$\$ BEGIN FOR i IN 1..$1 LOOP BEGIN INSERT INTO other VALUES (i); EXCEPTION WHEN others THEN NULL; END; END LOOP; END \$\$;"
}
running_count() { echo "$M" | sed 's/.*running=//' | tr ',' '\n' | grep -c .; }
fill p
bg_do "BEGIN; $(subxacts 70) SAVEPOINT s; INSERT INTO other VALUES (0);" >/dev/null
q -c "INSERT INTO p VALUES (15, '2025-03-01 16:00+00', 15)"
mark
echo "$M" | grep -q " overflow=0 "
ok $? "a snapshot overflowed by 71 subtransactions is resolved at the mark"
[ "$(running_count)" -ge 72 ]; ok $? "the mark lists the transaction and its 71 subxids ($(running_count) xids)"
q -c "BEGIN" -c "SELECT count(*) FROM (SELECT FROM p WHERE id = 15 FOR UPDATE) l" -c "COMMIT" >/dev/null
[ "$(changed)" -gt 0 ]; ok $? "(a row lock touched the page of a row committed before the mark)"
is "$(written)" "f" "resolved: a row committed while the long transaction ran is not a write"
bg_do "INSERT INTO p VALUES (16, '2025-03-01 16:00+00', 16); RELEASE s; COMMIT;" >/dev/null
is "$(written)" "t" "resolved: its 71st subtransaction wrote after the mark: true"

# Too many subxids to list: the mark stays overflowed, and conservative.
fill p
bg_do "BEGIN; $(subxacts 10001) SAVEPOINT s; INSERT INTO other VALUES (0);" >/dev/null
q -c "INSERT INTO p VALUES (15, '2025-03-01 16:00+00', 15)"
mark
echo "$M" | grep -q " overflow=1 "
ok $? "a transaction with 10,002 subtransactions leaves the mark overflowed"
is "$(written)" "f" "overflowed, nothing written: false"
q -c "BEGIN" -c "SELECT count(*) FROM (SELECT FROM p WHERE id = 15 FOR UPDATE) l" -c "COMMIT" >/dev/null
is "$(written)" "t" "overflowed: a row committed while it ran, on a page touched since, counts (conservative, documented)"
fill p
mark
bg_do "INSERT INTO p VALUES (16, '2025-03-01 16:00+00', 16); RELEASE s; COMMIT;" >/dev/null
is "$(written)" "t" "overflowed: a subtransaction with a subxid from before the mark that wrote after it: true"

# The lock: a mark waits for a writer in progress, whose write is then
# before it; a writer that waits for the marking transaction writes after it.
fill p
bg_do "BEGIN; INSERT INTO p VALUES (17, '2025-03-01 16:00+00', 17);" >/dev/null
marked=$(mktemp)
q -c "SELECT fs_backfill._stage_mark('p')" >"$marked" &
waiter=$!
wait_for 10 "SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'p'::regclass AND mode = 'ExclusiveLock' AND NOT granted)"
ok $? "a mark waits for a writer in progress"
bg_do "COMMIT;" >/dev/null
wait $waiter
M=$(cat "$marked")
is "$(written)" "f" "that writer committed before the mark: false"
M=$(bg_do "BEGIN; SELECT fs_backfill._stage_mark('p');")
q -c "INSERT INTO p VALUES (18, '2025-03-01 16:00+00', 18)" &
waiter=$!
wait_for 10 "SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'p'::regclass AND mode = 'RowExclusiveLock' AND NOT granted)"
ok $? "a writer waits for the marking transaction"
bg_do "COMMIT;" >/dev/null
wait $waiter
is "$(written)" "t" "its write lands after the mark: true"
rm -f "$marked"

# --- not writes ---------------------------------------------------------------
fill p
mark; q -c "BEGIN" -c "INSERT INTO p VALUES (20, '2025-03-01 17:00+00', 20)" -c "ROLLBACK"
is "$(written)" "f" "an aborted INSERT: false"
mark
bg_do "BEGIN; SAVEPOINT s; INSERT INTO p VALUES (21, '2025-03-01 17:00+00', 21); ROLLBACK TO s; INSERT INTO other VALUES (21); COMMIT;" >/dev/null
is "$(written)" "f" "an INSERT rolled back to a savepoint, its transaction committed: false"
[ "$(changed)" -gt 0 ]; ok $? "(its page did change since the mark)"

fill p
mark; q -c "VACUUM (FREEZE) p"
[ "$(changed)" -gt 0 ]; ok $? "VACUUM (FREEZE) changed $(changed) pages since the mark"
is "$(written)" "f" "VACUUM (FREEZE): false"

fill p
mark; q -c "BEGIN" -c "SELECT count(*) FROM (SELECT FROM p WHERE id <= 500 FOR UPDATE) l" -c "COMMIT" >/dev/null
[ "$(changed)" -gt 0 ]; ok $? "SELECT ... FOR UPDATE changed pages since the mark"
is "$(written)" "f" "a SELECT ... FOR UPDATE row lock: false"
mark
bg_do "BEGIN; SELECT count(*) FROM (SELECT FROM p WHERE id > 1500 FOR SHARE) l;" >/dev/null
q -c "BEGIN" -c "SELECT count(*) FROM (SELECT FROM p WHERE id > 1500 FOR SHARE) l" -c "COMMIT" >/dev/null
bg_do "COMMIT;" >/dev/null
is "$(q -c "SELECT count(*) FROM generate_series(0, pg_relation_size('p') / 8192 - 1) b,
                 heap_page_items(get_raw_page('p', b::int)) WHERE t_infomask & 4096 <> 0")" "500" \
   "(two sessions' FOR SHARE left 500 multixact row locks)"
is "$(written)" "f" "FOR SHARE in two sessions (multixact row locks): false"
mark
bg_do "BEGIN; SELECT count(*) FROM (SELECT FROM p WHERE id = 1999 FOR KEY SHARE) l;" >/dev/null
q -c "UPDATE p SET v = -1 WHERE id = 1999"
bg_do "COMMIT;" >/dev/null
is "$(written)" "t" "an UPDATE of a row another session holds FOR KEY SHARE (a multixact with an updater): true"

# pruning and VACUUM after a delete committed before the mark
fill p
q -c "DELETE FROM p WHERE id % 10 <> 0"
mark; q -c "SELECT count(*) FROM p" >/dev/null
[ "$(changed)" -gt 0 ]; ok $? "a reader pruned $(changed) pages since the mark"
is "$(written)" "f" "pruning of rows deleted before the mark: false"
q -c "DELETE FROM p WHERE id % 20 = 0"
mark; q -c "VACUUM p"
[ "$(changed)" -gt 0 ]; ok $? "VACUUM changed pages since the mark"
is "$(written)" "f" "VACUUM of rows deleted before the mark: false"
fill p
q -c "DELETE FROM p WHERE id > 1000"
blocks=$(q -c "SELECT pg_relation_size('p') / 8192")
mark; q -c "VACUUM p"
lt "$(q -c "SELECT pg_relation_size('p') / 8192")" "$blocks"
ok $? "VACUUM truncated the table below the marked $blocks blocks"
is "$(written)" "f" "VACUUM truncating rows deleted before the mark: false"

# deletions since the mark whose dead rows are gone by the question
fill p
mark; q -c "DELETE FROM p WHERE id % 10 <> 0" -c "SELECT count(*) FROM p" >/dev/null
is "$(q -c "SELECT count(*) FROM heap_page_items(get_raw_page('p', 0)) WHERE lp_flags = 1 AND t_xmax <> 0")" "0" \
   "(a reader pruned the rows deleted since the mark)"
is "$(written)" "t" "a DELETE since the mark, pruned away: true"
fill p
mark; q -c "DELETE FROM p WHERE id = 1000" -c "VACUUM p"
is "$(q -c "SELECT count(*) FROM p WHERE id = 1000")" "0" "(one row deleted since the mark)"
is "$(written)" "t" "a DELETE of one row since the mark, vacuumed away: true"
fill p
blocks=$(q -c "SELECT pg_relation_size('p') / 8192")
mark; q -c "DELETE FROM p WHERE id > 1000" -c "VACUUM p"
lt "$(q -c "SELECT pg_relation_size('p') / 8192")" "$blocks"
ok $? "(VACUUM truncated the pages emptied by a DELETE since the mark)"
is "$(written)" "t" "a DELETE since the mark, its pages truncated away: true"
fill p
mark; q -c "UPDATE p SET id = -id WHERE id <= 100" -c "DELETE FROM p WHERE id < 0" -c "VACUUM p"
is "$(written)" "t" "an UPDATE, then a DELETE of the new versions, all vacuumed away: true"

fill p
mark; q -c "CHECKPOINT" -c "SELECT count(*) FROM p" >/dev/null
hints=$(q -c "SELECT current_setting('wal_log_hints') = 'on' OR current_setting('data_checksums') = 'on'")
if [ "$hints" = t ]; then
    [ "$(changed)" -gt 0 ]; ok $? "hint bits set after a CHECKPOINT were WAL-logged (wal_log_hints or checksums)"
fi
is "$(written)" "f" "a CHECKPOINT, then a reader setting hint bits: false (hint bits logged: $hints)"

# --- an unlogged table: no page LSNs, every tuple is read ---------------------
fill u
mark u
echo "$M" | grep -q " lsn=0/0 "
ok $? "the mark of an unlogged table carries no WAL position"
is "$(written u)" "f" "unlogged, nothing written: false"
q -c "VACUUM (FREEZE) u"
is "$(written u)" "f" "unlogged, VACUUM (FREEZE): false"
q -c "INSERT INTO u VALUES (1, now(), 1)"
is "$(written u)" "t" "unlogged, an INSERT: true"
mark u; q -c "UPDATE u SET v = 0 WHERE id = 7"
is "$(written u)" "t" "unlogged, an UPDATE: true"

# --- bad marks and callers ---------------------------------------------------
out=$(q -c "SELECT fs_backfill._stage_mark_written('p', 'fsb1 rel=1')" 2>&1)
echo "$out" | grep -q 'invalid stage mark "fsb1 rel=1"'; ok $? "a truncated mark is refused: $out"
mark u
out=$(q -c "SELECT fs_backfill._stage_mark_written('p', '$M')" 2>&1)
echo "$out" | grep -q 'is not a mark of table "public.p"'; ok $? "a mark of another table is refused"
out=$(q -c "SELECT fs_backfill._stage_mark('t')" 2>&1)
echo "$out" | grep -q '"public.t" is not a heap table'; ok $? "a partitioned table cannot be marked"
q -c "CREATE ROLE fsb_sm_user" -c "GRANT ALL ON p TO fsb_sm_user" -c "GRANT USAGE ON SCHEMA fs_backfill TO fsb_sm_user"
out=$(q -c "SET ROLE fsb_sm_user" -c "SELECT fs_backfill._stage_mark('p')" 2>&1)
echo "$out" | grep -q "permission denied for function _stage_mark"; ok $? "a non-superuser cannot call the helpers"
q -c "DROP OWNED BY fsb_sm_user" -c "DROP ROLE fsb_sm_user"
bg_close

# --- cost on a 300k-row partition (printed, not asserted) --------------------
q >/dev/null <<'SQL'
CREATE TABLE big PARTITION OF t FOR VALUES FROM ('2025-03-02') TO ('2025-03-03')
    WITH (autovacuum_enabled = off);
INSERT INTO big SELECT i, '2025-03-02 00:00+00'::timestamptz + i * interval '250 ms', i FROM generate_series(1, 300000) i;
VACUUM (FREEZE, ANALYZE) big;
SQL
t0=$(now_s); mark big
echo "# 300k rows: taking the mark (every tuple read) took $(elapsed "$t0") s, psql included"
timed() {    # "t|f milliseconds" of one question about "big"
    q -v m="$M" <<'SQL'
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT fs_backfill._stage_mark_written('big', :'m') AS w \gset
SELECT :'w' || ' ' || round((extract(epoch FROM clock_timestamp()) - :t0)::numeric * 1000, 2);
SQL
}
blocks=$(q -c "SELECT pg_relation_size('big') / 8192")
is "$(timed | cut -d' ' -f1)" "f" "300k rows, nothing written: false"
echo "# 300k rows ($blocks blocks), nothing written: $(timed | cut -d' ' -f2) ms, again $(timed | cut -d' ' -f2) ms"
q -c "UPDATE big SET v = v WHERE id = 300000"
echo "# 300k rows, one row updated at the end: $(timed) ms (written, ms)"
mark big; q -c "SELECT count(*) FROM (SELECT FROM big FOR SHARE) l" >/dev/null
echo "# 300k rows, every row locked since the mark (all tuples read): $(timed) ms (written, ms)"

done_testing
