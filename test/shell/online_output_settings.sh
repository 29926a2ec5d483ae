#!/usr/bin/env bash
# Values reach Redis as text the same way whatever the server's output
# settings: the worker pins IntervalStyle, bytea_output and lc_monetary (as it
# pins DateStyle, TimeZone and extra_float_digits).  Here the server says
# IntervalStyle = iso_8601, bytea_output = escape and another lc_monetary;
# Redis still gets postgres-style intervals, hex bytea and money as under
# lc_monetary 'C'.
DB=postgres
. "$(dirname "$0")/lib.sh"
restore() {
    q -c "ALTER SYSTEM RESET IntervalStyle" -c "ALTER SYSTEM RESET bytea_output" \
      -c "ALTER SYSTEM RESET lc_monetary" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
}
trap restore EXIT
# a locale whose money differs from C's, if the machine has one
monetary=$(locale -a | grep -E '^(en_US|en_GB|de_DE|fr_FR)\.utf-?8$' | head -1)
monetary=${monetary:-C.utf8}

q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS o_feat" >/dev/null 2>&1
empty_redis
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE TABLE o_feat (id bigint NOT NULL, feature_time timestamptz NOT NULL, iv interval, bv bytea, mv money)
  PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('outs', 'o_feat', ARRAY['id'], 'feature_time',
    $$SELECT * FROM (VALUES (1::bigint, timestamptz '2025-03-01 12:00+00', interval '1 day 02:03:04',
                             bytea '\x616263', money '1234.56')) r(id, feature_time, iv, bv, mv)
       WHERE feature_time >= $1 AND feature_time < $2$$, '2025-03-01');
SQL
q -c "ALTER SYSTEM SET IntervalStyle = 'iso_8601'" -c "ALTER SYSTEM SET bytea_output = 'escape'" \
  -c "ALTER SYSTEM SET lc_monetary = '$monetary'" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 "SELECT current_setting('IntervalStyle') = 'iso_8601'"
ok $? "the server's IntervalStyle is iso_8601, bytea_output escape, lc_monetary $monetary"
want_money=$(q -c "SET lc_monetary = 'C'" -c "SELECT money '1234.56'")
q -c "SELECT fs_backfill('outs', '2025-03-01', '2025-03-01')" >/dev/null
wait_drained; ok $? "drained"
is "$(rcli hget fs:outs:1 iv)" "1 day 02:03:04" "an interval is postgres-style"
is "$(rcli hget fs:outs:1 bv)" '\x616263' "bytea is hex"
is "$(rcli hget fs:outs:1 mv)" "$want_money" "money is as under lc_monetary 'C'"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE o_feat" >/dev/null 2>&1
done_testing
