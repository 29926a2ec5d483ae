#!/usr/bin/env bash
# The command-line client fs-backfill against the live cluster, piped (not a
# terminal; test/shell/cli_tty.sh covers the terminal): every command, its
# exit code, one-line errors, no carriage return in piped output, --json
# lines that jq parses.  It runs as fsb_cli_user, a role with no attribute,
# that owns the target and may read the raw table: the rights the SQL API
# asks for, nothing more.
DB=fsb_shell_cli
. "$(dirname "$0")/lib.sh"
PATH=$(pg_config --bindir):$PATH     # make install puts fs-backfill beside psql
command -v jq >/dev/null || { echo "Bail out! jq is not installed (test/setup_deps.sh)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${DB}_noext" -c "CREATE DATABASE ${DB}_noext" \
     -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP ROLE IF EXISTS fsb_cli_user" -c "CREATE ROLE fsb_cli_user LOGIN PASSWORD '${PGPASSWORD:-unused}'" >/dev/null 2>&1
fresh_db
q -c "GRANT CREATE ON SCHEMA public TO fsb_cli_user" >/dev/null
PGUSER=fsb_cli_user make_feature_set 4 50
is "$(q -c "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles WHERE rolname = 'fsb_cli_user'")" \
   "f" "the client's role has no attribute"
# a source that fails in the slice of March 2 while the gate is shut (so that
# a run fails, and resumes)
PGUSER=fsb_cli_user q >/dev/null <<'SQL'
CREATE TABLE gate (shut boolean);
INSERT INTO gate VALUES (false);
CREATE FUNCTION gate_open(slice_start timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT shut FROM gate) AND slice_start = '2025-03-02 00:00:00+00' THEN
        RAISE EXCEPTION 'the gate is shut';
    END IF;
    RETURN true;
END $$;
SQL

cli() { fs-backfill -U fsb_cli_user -d "$DB" "$@"; }
# run CMD...: exit code in $rc, stdout in $out, stderr in $err
run() {
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
    cat "$tmp/out" "$tmp/err" >>"$tmp/all"
}
no_cr() { ! grep -q $'\r' "$tmp/all"; }
json_ok() { [ -s "$tmp/out" ] && jq -e . "$tmp/out" >/dev/null 2>&1; }
lines() { printf '%s' "$1" | grep -c ''; }
table() { q -c "SELECT digest('2025-03-01', '2025-03-05')"; }
set_source() {    # set_source SQL: the feature set's registered source
    PGUSER=fsb_cli_user q -c "SELECT fs_alter_feature_set('fs', jsonb_build_object('source', \$s\$$1\$s\$::text))" >/dev/null
}
plain_source='SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= $1 AND ts < $2'

# --- usage, help, version ---------------------------------------------------
run fs-backfill --help
is "$rc" 0 "--help exits 0"
ok "$(grep -c -e '^Usage:' -e 'backfill --feature-set NAME' -e '--environment' "$tmp/out" | grep -qx 3; echo $?)" \
   "--help shows the usage, the commands and the connection options"
run fs-backfill --version
is "$out" "fs-backfill (fs_backfill) $(sed -n "s/^default_version = '\(.*\)'/\1/p" fs_backfill.control)" \
   "--version names the extension's version"
for args in "" "frob" "plan" "plan --feature-set fs --detach" "status x1" "publish" \
            "backfill --feature-set fs --publish later" "backfill --feature-set fs --parallel 0" \
            "runs --no-such-option" "status 1 2"; do
    run fs-backfill $args
    is "$rc" 1 "usage error exits 1: fs-backfill $args"
done
run fs-backfill plan
is "$err" 'fs-backfill: error: command "plan" needs --feature-set NAME
fs-backfill: hint: Try "fs-backfill --help" for more information.' "a usage error says what is missing and where help is"

# --- errors: one line each -----------------------------------------------------
port=$(for p in $(seq 25999 -1 25900); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; break; }; done)
run fs-backfill -h 127.0.0.1 -p "$port" -U fsb_cli_user -d "$DB" runs
is "$rc/$(lines "$err")" "1/1" "connection refused: exit 1, one line"
ok "$(grep -q "^fs-backfill: error: connection to server at \"127.0.0.1\", port $port failed: Connection refused$" "$tmp/err"; echo $?)" \
   "and the line says where and why ($err)"
run fs-backfill -U fsb_cli_user -d "${DB}_noext" runs
is "$rc/$err" "1/fs-backfill: error: extension \"fs_backfill\" is not installed in database \"${DB}_noext\"" \
   "extension missing: exit 1, one line"
run cli plan --feature-set nope
is "$rc/$err" '1/fs-backfill: error: feature set "nope" does not exist' "unknown feature set: exit 1, one line"
run cli runs --feature-set nope
is "$rc/$err" '1/fs-backfill: error: feature set "nope" does not exist' "runs of an unknown feature set: the same"
run cli plan --feature-set fs --start-time yesterday
is "$rc/$(lines "$err")" "1/1" "bad time text: exit 1, one line"
ok "$(grep -q 'yesterday' "$tmp/err"; echo $?)" "naming the value ($err)"
run cli backfill --feature-set nope
is "$rc/$err" '1/fs-backfill: error: feature set "nope" does not exist' "backfill of an unknown feature set: exit 1, one line"
run cli backfill --feature-set fs --stop-time 2025-13-45
is "$rc/$(lines "$err")" "1/1" "backfill with bad time text: exit 1, one line ($err)"
run cli -v plan --feature-set nope
ok "$(grep -q '^fs-backfill: hint: ' "$tmp/err" && grep -q 'SQLSTATE 42704' "$tmp/err"; echo $?)" \
   "--verbose adds the hint and the SQLSTATE"
run cli status 999999
is "$rc/$err" '1/fs-backfill: error: run 999999 does not exist' "status of a run that does not exist: exit 1"

# --- plan, --dry-run: nothing changes ----------------------------------------------
before_runs=$(q -c "SELECT count(*) FROM fs_backfill.runs")
before=$(table)
run cli plan --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-05
is "$rc" 0 "plan exits 0"
ok "$(grep -q 'Plan of a backfill of feature set "fs"' "$tmp/out" && grep -q '(5 rows)' "$tmp/out"; echo $?)" \
   "plan prints the plan's table: 5 slices"
run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-05 --dry-run
is "$rc" 0 "backfill --dry-run exits 0"
ok "$(grep -q '(5 rows)' "$tmp/out"; echo $?)" "and prints the plan"
run cli plan --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-05 --json
is "$rc/$(lines "$out")" "0/5" "plan --json: a line per slice"
ok "$(json_ok && jq -e 'has("partition") and has("strategy") and (.rows_now | type == "number") and (.creates_partition | type == "boolean")' "$tmp/out" >/dev/null; echo $?)" \
   "each line parses with jq, numbers and booleans typed"
is "$(q -c "SELECT count(*) FROM fs_backfill.runs")/$(table)" "$before_runs/$before" "plan and --dry-run changed nothing"

# --- runs, status, online ---------------------------------------------
run cli runs
ok "$([ "$rc" = 0 ] && grep -q '^ *1 | fs  *| succeeded' "$tmp/out"; echo $?)" "runs lists the first run"
run cli runs --feature-set fs --limit 1 --json
is "$rc/$(lines "$out")" "0/1" "runs --limit 1 --json: one line"
ok "$(json_ok && jq -e '.feature_set == "fs" and (.run_id | type == "number")' "$tmp/out" >/dev/null; echo $?)" "that jq parses"
run cli status 1
ok "$([ "$rc" = 0 ] && grep -q '^status *| succeeded' "$tmp/out" && grep -q 'feat_p20250301' "$tmp/out"; echo $?)" \
   "status RUN_ID shows the run and its slices"
run cli status
is "$rc" 0 "status with no run id exits 0"
run cli status --json
ok "$([ "$rc" = 0 ] && { [ ! -s "$tmp/out" ] || json_ok; }; echo $?)" "status --json prints JSON lines (or nothing)"
run cli online
ok "$([ "$rc" = 0 ] && grep -q '^ fs  *|' "$tmp/out" && grep -q '^pid ' "$tmp/out"; echo $?)" \
   "online shows the feature set's queue and the worker"
run cli online --json
ok "$([ "$rc" = 0 ] && json_ok; echo $?)" "online --json parses"

# --- connection: conninfo, service file, PG* variables ------------------------------
run fs-backfill -d "dbname=$DB user=fsb_cli_user application_name=cli_test" runs --limit 1
is "$rc" 0 "-d takes a conninfo string"
cat >"$tmp/pg_service.conf" <<EOF
[fsb_cli_test]
host=$PGHOST
port=$PGPORT
dbname=$DB
user=fsb_cli_user
EOF
run env -u PGDATABASE -u PGUSER PGSERVICEFILE="$tmp/pg_service.conf" fs-backfill --environment fsb_cli_test runs --limit 1 --json
ok "$([ "$rc" = 0 ] && json_ok; echo $?)" "--environment SERVICE connects through pg_service.conf"
run env PGSERVICEFILE="$tmp/pg_service.conf" fs-backfill --environment no_such_service runs
is "$rc/$err" '1/fs-backfill: error: definition of service "no_such_service" not found' "an unknown service: exit 1, one line"
run env PGDATABASE="$DB" PGUSER=fsb_cli_user fs-backfill runs --limit 1
is "$rc" 0 "the PG* variables work"

ok "$(no_cr; echo $?)" "no carriage return in any output so far"

# --- backfill (staged runs) ---------------------------------------------------------
q -c "UPDATE raw SET v = v + 1" >/dev/null       # the source now differs from the table

run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-03 --comment 'from the cli' --parallel 2
is "$rc" 0 "backfill, followed to its end, exits 0"
ok "$(no_cr; echo $?)" "piped: no carriage return"
is "$(grep -c '^run [0-9]*: slice [1-3]/3 \[2025-03-0[1-3] 00:00:00, 2025-03-0[2-4] 00:00:00) .*: staged, 50 rows' "$tmp/err")" "3" \
   "one line per finished slice on stderr ($(head -c 300 "$tmp/err" | tr "\n" "|"))"
ok "$(grep -Eq '^run [0-9]+ succeeded: 3 slices, 150 rows in [0-9:]+$' "$tmp/out"; echo $?)" "the result on stdout ($out)"
id=$(sed -n 's/^run \([0-9]*\) succeeded.*/\1/p' "$tmp/out")
is "$(q -c "SELECT status || '/' || comment FROM fs_backfill.runs WHERE run_id = ${id:-0}")" "succeeded/from the cli" \
   "the run is recorded as succeeded, with its comment"
is "$(q -c "SELECT digest('2025-03-01', '2025-03-04') = source_digest('2025-03-01', '2025-03-04')")" "t" \
   "and the three days equal the source"

run cli backfill --name fs --start-time 2025-03-03 --stop-time 2025-03-04 --cluster-template medium --json
is "$rc" 0 "backfill --json exits 0"
ok "$(json_ok; echo $?)" "every line parses with jq"
is "$(jq -r .event "$tmp/out" | sort | uniq -c | awk '{print $2 "=" $1}' | grep -E '^(staged|slice|finished)=' | tr '\n' ' ')" \
   "finished=1 slice=2 staged=1 " "events: staged, a slice each, finished"
is "$(jq -r 'select(.event == "finished") | "\(.status) \(.exit_code) \(.slices) \(.rows)"' "$tmp/out")" "succeeded 0 2 100" \
   "finished: status, exit code, slices, rows"
is "$(jq -r 'select(.event == "slice") | "\(.status) \(.rows)"' "$tmp/out" | sort -u)" "staged 50" "slice events: status and rows"
is "$(q -c "SELECT digest('2025-03-01', '2025-03-05') = source_digest('2025-03-01', '2025-03-05')")" "t" \
   "the table now equals the source"
id=$(jq -r 'select(.event == "staged") | .run_id' "$tmp/out")
is "$(q -c "SELECT resource_profile FROM fs_backfill.runs WHERE run_id = ${id:-0}")" "medium" \
   "--cluster-template names the run's resource profile"

# --reset-backfill: every row goes, then [start, stop) is refilled
run cli backfill --name fs --reset-backfill --start-time 2025-03-02 --stop-time 2025-03-02
is "$rc/$(q -c "SELECT count(*) FROM feat")/$(q -c "SELECT min(feature_time)::date FROM feat")" "0/50/2025-03-02" \
   "--reset-backfill: only the refilled day is left"
run cli backfill --name fs --start-time 2025-03-01 --stop-time 2025-03-04
is "$rc/$(q -c "SELECT digest('2025-03-01', '2025-03-05') = source_digest('2025-03-01', '2025-03-05')")" "0/t" \
   "and a backfill brings the rest back"

q -c "UPDATE raw SET v = v + 1" >/dev/null
before=$(table)
run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-04 --detach
ok "$([ "$rc" = 0 ] && [[ "$out" =~ ^[0-9]+$ ]]; echo $?)" "--detach prints the run id and exits 0 ($out)"
id=$out
wait_for 30 "SELECT status = 'succeeded' FROM fs_backfill.runs WHERE run_id = $id"
ok $? "the detached run goes on and is published"
run cli status "$id"
ok "$([ "$rc" = 0 ] && grep -q '^status *| succeeded' "$tmp/out" && [ "$(grep -c ' staged \| succeeded \| published ' "$tmp/out")" -ge 4 ]; echo $?)" \
   "status RUN_ID shows it and its slices"

# manual publish: exit 4, nothing published until publish RUN_ID
q -c "UPDATE raw SET v = v + 1" >/dev/null
before=$(table)
run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-04 --publish manual
is "$rc" 4 "--publish manual: exit 4, staged and waiting"
ok "$(grep -Eq '^run [0-9]+ staged: 4 slices, 200 rows; publish it with: fs-backfill publish [0-9]+$' "$tmp/out"; echo $?)" "saying how to publish ($out)"
id=$(sed -n 's/^run \([0-9]*\) staged.*/\1/p' "$tmp/out")
is "$(q -c "SELECT status FROM fs_backfill.runs WHERE run_id = ${id:-0}")/$(table)" "staged/$before" "the run waits at staged; the table is unchanged"
run cli publish "$id"
is "$rc/$out" "0/run $id published" "publish RUN_ID exits 0"
is "$(q -c "SELECT status FROM fs_backfill.runs WHERE run_id = $id")/$(q -c "SELECT digest('2025-03-01', '2025-03-05') = source_digest('2025-03-01', '2025-03-05')")" \
   "succeeded/t" "and the run is published"
run cli publish "$id"
ok "$([ "$rc" != 0 ] && [ "$(lines "$err")" = 1 ]; echo $?)" "publishing it again fails, in one line ($rc: $err)"

# a failing check: exit 2, the table unchanged
q -c "UPDATE raw SET v = v + 1" >/dev/null
before=$(table)
PGUSER=fsb_cli_user q -c "SELECT fs_alter_feature_set('fs', '{\"checks\": {\"min_rows\": 1000}}')" >/dev/null
run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-02
is "$rc" 2 "a run that fails a check exits 2"
ok "$(grep -q '^fs-backfill: error: run [0-9]* failed: slice .*min_rows' "$tmp/err"; echo $?)" "saying which slice and check ($(tail -1 "$tmp/err"))"
is "$(table)" "$before" "the table is unchanged"
id=$(q -c "SELECT max(run_id) FROM fs_backfill.runs")
run cli cancel "$id"
is "$rc/$out/$(q -c "SELECT status FROM fs_backfill.runs WHERE run_id = $id")" "0/run $id cancelled/cancelled" \
   "cancel RUN_ID of the failed run: exit 0, the run cancelled"
PGUSER=fsb_cli_user q -c "SELECT fs_alter_feature_set('fs', '{\"checks\": {}}')" >/dev/null

# resume: a run that failed (the gate was shut) finishes once it is open
set_source "$plain_source AND gate_open(\$1)"
q -c "UPDATE gate SET shut = true" >/dev/null
run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-03 --parallel 1
is "$rc" 2 "a run whose source fails exits 2"
ok "$(grep -q '^fs-backfill: error: run [0-9]* failed: slice 2: the gate is shut$' "$tmp/err"; echo $?)" \
   "with the failed slice and the source's error ($(grep error: "$tmp/err"))"
id=$(q -c "SELECT max(run_id) FROM fs_backfill.runs")
is "$(q -c "SELECT status FROM fs_backfill.runs WHERE run_id = $id")/$(table)" "failed/$before" "the run failed; the table is unchanged"
q -c "UPDATE gate SET shut = false" >/dev/null
unstaged=$(q -c "SELECT count(*) FROM fs_backfill.run_slices WHERE run_id = $id AND status <> 'staged'")
run cli resume "$id" --json
is "$rc" 0 "resume RUN_ID follows the run to its end: exit 0"
is "$(json_ok && jq -r .event "$tmp/out" | sed -n '1p;$p' | tr '\n' ' ')" "resumed finished " "--json: resumed first, finished last"
is "$unstaged/$(jq -s '[.[] | select(.event == "slice")] | length' "$tmp/out")" "2/2" \
   "a slice event for each slice built again (2 of 3), none for the one staged before"
is "$(q -c "SELECT status FROM fs_backfill.runs WHERE run_id = $id")/$(q -c "SELECT digest('2025-03-01', '2025-03-03') = source_digest('2025-03-01', '2025-03-03')")" \
   "succeeded/t" "the resumed run is published"
run cli resume "$id"
is "$rc" 1 "resuming a run that succeeded: exit 1"

# cancel RUN_ID: a detached run, slow in its first slice
q -c "UPDATE raw SET v = v + 1" >/dev/null
before=$(table)
set_source "$(slow_source 30 '2025-03-01 00:00:00+00')"
run cli backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-04 --detach --parallel 1
id=$out
wait_for 10 "SELECT count(*) > 0 FROM fs_backfill.run_slices WHERE run_id = ${id:-0} AND status = 'building'"
ok $? "the detached run is building its first slice"
run cli status
ok "$([ "$rc" = 0 ] && grep -Eq "^ +$id \| fs +\| staging +\|" "$tmp/out"; echo $?)" "status lists the run under way ($(grep -E "^ +$id " "$tmp/out" | head -1))"
run cli status --json
ok "$(json_ok && jq -s -e "any(.[]; .run_id == $id and .status == \"staging\" and .slices == 4)" "$tmp/out" >/dev/null; echo $?)" \
   "and status --json too"
run cli cancel "$id"
is "$rc/$out" "0/run $id cancelled" "cancel RUN_ID exits 0"
wait_for 10 "SELECT status = 'cancelled' FROM fs_backfill.runs WHERE run_id = $id"
ok $? "the run is cancelled"
is "$(table)" "$before" "and the table unchanged"
run cli cancel "$id"
is "$rc/$out" "0/run $id is cancelled: nothing to cancel" "cancelling it again changes nothing"
set_source "$plain_source"

# --- operators planted on the role's search_path are not the client's --------
PGUSER=fsb_cli_user q >/dev/null <<'SQL'
CREATE FUNCTION planted(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'a planted operator ran'; END $$;
CREATE FUNCTION planted(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'a planted operator ran'; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = planted);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = planted);
ALTER ROLE fsb_cli_user SET search_path = public, pg_catalog;
SQL
fails=""
for args in "status" "status 1" "runs --feature-set fs" "online" \
            "backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-02 --json"; do
    run cli $args
    [ "$rc" = 0 ] || fails="$fails [$args: $rc $err]"
done
is "$fails" "" "with public's = first on the search_path, every command still uses pg_catalog's"
q -c "ALTER ROLE fsb_cli_user RESET search_path" -c "DROP OPERATOR public.= (bigint, bigint)" \
  -c "DROP OPERATOR public.= (text, text)" >/dev/null

# --- catchup (last: it fills the feature set up to now) -----------------------
run cli catchup fs
ok "$([ "$rc" = 0 ] && grep -Eq '^run [0-9]+ caught feature set "fs" up$|is up to date$' "$tmp/out"; echo $?)" \
   "catchup NAME exits 0 and says what it did ($out)"
run cli catchup fs --json
ok "$([ "$rc" = 0 ] && json_ok && jq -e '.feature_set == "fs" and has("run_id")' "$tmp/out" >/dev/null; echo $?)" \
   "catchup --json parses"
run cli catchup nope
is "$rc/$err" '1/fs-backfill: error: feature set "nope" does not exist' "catchup of an unknown feature set: exit 1"

ok "$(no_cr; echo $?)" "no carriage return in piped output"
done_testing
