#!/usr/bin/env bash
# A Redis that answers nonsense: a fake one on loopback takes the worker's
# connection set-up as Redis would, then answers every push with an array of
# 2,147,483,647 or 999,999,999,999 elements, or with garbage bytes.  The
# worker reports each (in worker_status and the log), never allocates what
# the reply announces, never crashes the cluster, and once pointed back at
# the real Redis pushes everything that was queued meanwhile.
DB=postgres
. "$(dirname "$0")/lib.sh"
FAKE_DIR=$(mktemp -d)
fake_pid=
restore() {
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
    q -c "ALTER SYSTEM RESET fs_backfill.redis_url" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    rm -rf "$FAKE_DIR"
}
trap restore EXIT

cat > "$FAKE_DIR/fake_redis.py" <<'PY'
# fake_redis.py MODE DIR: a fake Redis on a free loopback port (written to
# DIR/port); every command's name is appended to DIR/commands.
import socket, sys, threading
mode, where = sys.argv[1], sys.argv[2]
BAD = {'huge': b'*2147483647\r\n', 'huger': b'*999999999999\r\n',
       'garbage': b'\x00\xff\x13garbage\r\n!?\r\n'}[mode]

def command(f):
    line = f.readline()
    if not line.startswith(b'*'):
        return None
    args = []
    for _ in range(int(line[1:])):
        size = int(f.readline()[1:])
        args.append(f.read(size + 2)[:-2])
    return args

def serve(conn):
    f = conn.makefile('rb')
    try:
        while True:
            args = command(f)
            if args is None:
                break
            name = args[0].upper()
            with open(where + '/commands', 'a') as log:
                log.write(name.decode(errors='replace') + '\n')
            if name == b'SCRIPT':
                conn.sendall(b'$40\r\n' + b'0' * 40 + b'\r\n')
            elif name == b'EXISTS':
                conn.sendall(b':1\r\n')
            elif name == b'EVALSHA':
                conn.sendall(BAD)
            else:
                conn.sendall(b'+OK\r\n')
    except Exception:
        pass
    conn.close()

s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(16)
with open(where + '/port.tmp', 'w') as p:
    p.write(str(s.getsockname()[1]))
__import__('os').rename(where + '/port.tmp', where + '/port')
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
start_fake() {     # start_fake MODE: sets fake_port
    rm -f "$FAKE_DIR/port" "$FAKE_DIR/commands"
    python3 "$FAKE_DIR/fake_redis.py" "$1" "$FAKE_DIR" & fake_pid=$!
    local i; for i in $(seq 1 100); do [ -f "$FAKE_DIR/port" ] && break; sleep 0.05; done
    fake_port=$(cat "$FAKE_DIR/port")
}
stop_fake() { kill "$fake_pid"; wait "$fake_pid" 2>/dev/null; fake_pid=; }
log_files() { ls "$PG_DATA_DIR"/fsb_restart.log "$PG_DATA_DIR"/../../../log/*.log 2>/dev/null; }
# what the server logged since log_mark, whichever file it logs to
log_mark() { for f in $(log_files); do echo "$f $(stat -c %s "$f")"; done > "$FAKE_DIR/log_mark"; }
log_since() {
    local f n
    for f in $(log_files); do
        n=$(awk -v f="$f" '$1 == f { print $2 }' "$FAKE_DIR/log_mark")
        tail -c +"$((${n:-0} + 1))" "$f"
    done
}

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS raw, feat" \
  -c "DROP FUNCTION IF EXISTS digest, source_digest" >/dev/null 2>&1
pg_ctl_as_postgres status >/dev/null     # remember where the cluster lives
empty_redis
q -c "CREATE EXTENSION fs_backfill" >/dev/null
make_feature_set 1 1000
fs_converged; ok $? "1,000 entities in Redis"
checkpointer=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
log_mark

step=0
for mode in huge huger garbage; do
    step=$((step + 1))
    start_fake "$mode"
    q -c "ALTER SYSTEM SET fs_backfill.redis_url = 'redis://127.0.0.1:$fake_port'" -c "SELECT pg_reload_conf()" >/dev/null
    q -c "UPDATE raw SET v = v + 1 + 1.0 / 7" -c "SELECT fs_backfill('fs', '2025-03-01', '2025-03-01')" >/dev/null
    case $mode in
        garbage) want="LIKE '%Protocol error%'" ;;
        *) want="SIMILAR TO '%(more than 1024 elements|out of range)%'" ;;
    esac
    wait_for 30 "SELECT last_error LIKE 'could not talk to Redis at 127.0.0.1:$fake_port: %' AND last_error $want FROM fs_backfill.worker_status()"
    ok $? "$mode reply: the worker reports $(q -c "SELECT last_error FROM fs_backfill.worker_status()")"
    grep -q EVALSHA "$FAKE_DIR/commands"; ok $? "$mode reply: it answered pushes"
    is "$(q -c "SELECT count(*) FROM fs_backfill.online_queue")" "1000" "$mode reply: every entry stays queued"
    stop_fake
done
log_since | grep -q "WARNING:  could not talk to Redis at 127.0.0.1:"
ok $? "the log says the worker could not talk to Redis"

q -c "ALTER SYSTEM RESET fs_backfill.redis_url" -c "SELECT pg_reload_conf()" >/dev/null
fs_converged; ok $? "pointed back at the real Redis, every hash equals its entity's latest row"
is "$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")" "$checkpointer" \
   "the cluster never restarted (same checkpointer)"
log_since | grep -E "terminated by signal|was terminated by|server process .* exited" >/dev/null
ok $((1 - $?)) "no process of the cluster crashed"
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'fs_backfill online worker'")" "1" "the worker runs"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE raw, feat" -c "DROP FUNCTION digest, source_digest" >/dev/null 2>&1
done_testing
