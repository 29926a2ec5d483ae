#!/usr/bin/env bash
# fs-backfill in a real terminal (a private tmux server; send-keys and
# capture-pane): Ctrl-C cancels a statement that waits (a plan behind a
# lock) and exits 3; a password is asked for when the server wants one (a
# pg_hba.conf line for one role, for the test's duration); the progress bar is redrawn in place, one line that
# counts the slices up and ends at 100%; Ctrl-C while a run builds a slow
# slice cancels the run (status cancelled, the table unchanged) and exits 3.
DB=fsb_shell_cli_tty
. "$(dirname "$0")/lib.sh"
PATH=$(pg_config --bindir):$PATH     # make install puts fs-backfill beside psql
command -v tmux >/dev/null || { echo "Bail out! tmux is not installed (test/setup_deps.sh)"; exit 1; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP ROLE IF EXISTS fsb_cli_tty" -c "CREATE ROLE fsb_cli_tty LOGIN PASSWORD '${PGPASSWORD:-unused}'" >/dev/null 2>&1
fresh_db
q -c "GRANT CREATE ON SCHEMA public TO fsb_cli_tty" >/dev/null
PGUSER=fsb_cli_tty make_feature_set 6 50
set_source() {
    PGUSER=fsb_cli_tty q -c "SELECT fs_alter_feature_set('fs', jsonb_build_object('source', \$s\$$1\$s\$::text))" >/dev/null
}
table() { q -c "SELECT digest('2025-03-01', '2025-03-07')"; }

# a tmux server of our own: it inherits this environment (PGHOST, PGPORT, PATH)
sock=fsb_cli_tty_$$
T() { tmux -L "$sock" "$@"; }
T new-session -d -s cli -x 200 -y 40 bash --norc --noprofile
hba=$(q -c "SHOW hba_file")
hba_saved=$(mktemp)
cp -p "$hba" "$hba_saved"
restore_hba() { cp -p "$hba_saved" "$hba"; q -c "SELECT pg_reload_conf()" >/dev/null; }
trap 'T kill-server 2>/dev/null; restore_hba; rm -f "$hba_saved"' EXIT
pane() { T capture-pane -p -t cli; }
# wait_pane SECONDS REGEX: polls the screen until REGEX shows; false at the deadline
wait_pane() {
    local deadline
    deadline=$(awk -v n="$(now_s)" -v s="$1" 'BEGIN { printf "%.3f", n + s }')
    while lt "$(now_s)" "$deadline"; do
        pane | grep -Eq "$2" && return 0
        sleep 0.05
    done
    return 1
}
# type COMMAND: on a cleared screen (nothing left of the command before but
# the prompt), runs it in the terminal, followed by its exit code
type_cmd() {
    T send-keys -t cli "clear" Enter
    local i
    for i in $(seq 1 100); do [ "$(pane | grep -c .)" = 1 ] && break; sleep 0.05; done
    T send-keys -t cli "$1; echo EXIT=\$?" Enter
}
cli="fs-backfill -U fsb_cli_tty -d $DB backfill --feature-set fs --start-time 2025-03-01 --stop-time 2025-03-06 --parallel 1"

# --- Ctrl-C while a statement waits: a plan behind a lock on the table --------
PGAPPNAME=fsb_cli_tty_holder q -c "BEGIN" -c "LOCK TABLE feat" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
wait_for 10 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'fsb_cli_tty_holder'
                             AND wait_event = 'PgSleep')"
type_cmd "fs-backfill -U fsb_cli_tty -d $DB plan --feature-set fs"
wait_for 10 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'fs-backfill'
                             AND wait_event_type = 'Lock')"
ok $? "the plan waits for the lock"
T send-keys -t cli C-c
wait_pane 10 '^EXIT=[0-9]'
ok $? "Ctrl-C ends the client"
# (the terminal echoes ^C where the cursor is)
is "$(pane | sed 's/^^C//' | grep -e '^fs-backfill' -e '^EXIT=[0-9]' | tr '\n' '|')" "fs-backfill: error: cancelled; nothing was changed|EXIT=3|" \
   "it cancelled the statement, said so, and exits 3"
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fs-backfill'")" "0" \
   "and left no session behind"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fsb_cli_tty_holder'" >/dev/null
wait "$holder"

# --- a password asked for on the terminal, for a role that must give one ---
q -c "DROP ROLE IF EXISTS fsb_cli_pw" -c "CREATE ROLE fsb_cli_pw LOGIN PASSWORD 'pw-4711'" >/dev/null
{ echo "host all fsb_cli_pw 127.0.0.1/32 scram-sha-256"; echo "host all fsb_cli_pw ::1/128 scram-sha-256"
  cat "$hba_saved"; } >"$hba"
q -c "SELECT pg_reload_conf()" >/dev/null
pw_cmd="env -u PGPASSWORD -u PGPASSFILE -u PGSERVICE fs-backfill -h 127.0.0.1 -U fsb_cli_pw -d $DB runs --limit 1"
type_cmd "$pw_cmd"
wait_pane 10 '^Password: *$'
ok $? "the client asks for the password"
T send-keys -t cli 'pw-4711' Enter
wait_pane 10 '^EXIT=[0-9]'
ok "$(pane | grep -q '^(0 rows)$' && pane | grep -qx 'EXIT=0'; echo $?)" "and connects with it ($(pane | grep -e EXIT -e rows -e error | tr '\n' '|'))"
type_cmd "$pw_cmd"
wait_pane 10 '^Password: *$'
T send-keys -t cli 'wrong' Enter
wait_pane 10 '^EXIT=[0-9]'
is "$(pane | grep -A1 '^Password:' | tail -1)|$(pane | grep '^EXIT=[0-9]')" \
   'fs-backfill: error: connection to server at "127.0.0.1", port '"$PGPORT"' failed: FATAL:  password authentication failed for user "fsb_cli_pw"|EXIT=1' \
   "a wrong one: one line, exit 1"
restore_hba
q -c "DROP ROLE fsb_cli_pw" >/dev/null

# --- the bar: six slices of 0.4 s each, one at a time ------------------------
q -c "UPDATE raw SET v = v + 1" >/dev/null
set_source 'WITH pause AS MATERIALIZED (SELECT pg_sleep(0.4))
            SELECT user_id, ts AS feature_time, v FROM raw, pause WHERE ts >= $1 AND ts < $2'
type_cmd "$cli"
seen=""
deadline=$(awk -v n="$(now_s)" 'BEGIN { printf "%.3f", n + 60 }')
while lt "$(now_s)" "$deadline"; do
    screen=$(pane)
    n=$(printf '%s\n' "$screen" | sed -n 's/^\([0-5]\)\/6 slices \[.*/\1/p' | tail -1)
    [ -n "$n" ] && case " $seen " in *" $n "*) ;; *) seen="$seen $n" ;; esac
    printf '%s\n' "$screen" | grep -q '^EXIT=[0-9]' && break
    sleep 0.05
done
screen=$(pane)
is "$(printf '%s\n' "$screen" | grep -c 'slices \[')" "1" "the bar is one line, redrawn in place"
ok "$([ "$(echo $seen | wc -w)" -ge 3 ]; echo $?)" "it counted the slices up while the run went on (seen:$seen)"
ok "$(printf '%s\n' "$screen" | grep -Eq '^6/6 slices \[={24}\] 100%  300 rows  [0-9]+ rows/s  [0-9:]+ elapsed  ETA 00:00  succeeded *$'; echo $?)" \
   "and it ends at 100%: slices, rows, rate, elapsed, ETA ($(printf '%s\n' "$screen" | grep 'slices \['))"
ok "$(printf '%s\n' "$screen" | grep -Eq '^run [0-9]+ succeeded: 6 slices, 300 rows in [0-9:]+$'; echo $?)" "then the result"
is "$(printf '%s\n' "$screen" | grep '^EXIT=[0-9]')" "EXIT=0" "exit code 0"
is "$(q -c "SELECT digest('2025-03-01', '2025-03-07') = source_digest('2025-03-01', '2025-03-07')")" "t" \
   "the table equals the source"

# --- Ctrl-C: the second slice takes 60 s; cancel while it builds -----------------
q -c "UPDATE raw SET v = v + 1" >/dev/null
before=$(table)
set_source "$(slow_source 60 '2025-03-02 00:00:00+00')"
start=$(now_s)
type_cmd "$cli"
wait_for 20 "SELECT EXISTS (SELECT FROM fs_backfill.run_slices s JOIN fs_backfill.runs r USING (run_id)
                             WHERE r.status = 'staging' AND s.slice_start = '2025-03-02 00:00:00+00'
                               AND s.status = 'building')"
ok $? "the run is building its slow slice"
wait_pane 5 '^1/6 slices \['
ok $? "while the bar shows the first slice done"
id=$(q -c "SELECT max(run_id) FROM fs_backfill.runs")
T send-keys -t cli C-c
wait_pane 30 '^EXIT=[0-9]'
ok $? "Ctrl-C ends the client"
screen=$(pane)
is "$(printf '%s\n' "$screen" | grep '^EXIT=[0-9]')" "EXIT=3" "with exit code 3"
ok "$(printf '%s\n' "$screen" | grep -q "^fs-backfill: cancelling run $id$" &&
      printf '%s\n' "$screen" | grep -q "^fs-backfill: run $id cancelled$"; echo $?)" \
   "saying so: cancelling, then cancelled ($(printf '%s\n' "$screen" | grep -i cancel | tr '\n' '|'))"
ok "$(lt "$(elapsed "$start")" 30; echo $?)" "well before the slow slice would have ended"
is "$(q -c "SELECT status FROM fs_backfill.runs WHERE run_id = $id")" "cancelled" "the run is cancelled"
is "$(table)" "$before" "the table is unchanged"
done_testing
