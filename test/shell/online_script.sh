#!/usr/bin/env bash
# The push script in a real Redis, for what online_sync.sh does not show:
# - with online_ttl, a key expires at feature time + ttl, and a value already
#   expired is not written (an old one is deleted);
# - entries of two runs drained together keep each its own run's guard;
# - two entities whose values joined with ':' spell the same text keep two
#   keys: a ':' or '\' inside a value of a multi-column key is escaped.
DB=postgres
. "$(dirname "$0")/lib.sh"


q -c "DROP EXTENSION IF EXISTS fs_backfill CASCADE" -c "DROP TABLE IF EXISTS s_raw, s_feat, s_pair" >/dev/null 2>&1
empty_redis
q >/dev/null <<'SQL'
CREATE EXTENSION fs_backfill;
CREATE TABLE s_raw (id bigint, ts timestamptz, v int);
INSERT INTO s_raw VALUES (1, '2025-03-01 12:00+00', 1), (2, '2025-03-03 12:00+00', 2);
CREATE TABLE s_feat (id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
SQL

# expiry: feature time + ttl, to the millisecond
q -c "SELECT fs_create_feature_set('longttl', 's_feat', ARRAY['id'], 'feature_time',
        \$\$SELECT id, ts AS feature_time, v FROM s_raw WHERE ts >= \$1 AND ts < \$2\$\$,
        '2025-03-01', online_ttl => '100 years')" \
  -c "SELECT fs_backfill('longttl', '2025-03-01', '2025-03-03')" >/dev/null
wait_drained; ok $? "a feature set with online_ttl drained"
is "$(rcli pexpiretime fs:longttl:1)" \
   "$(q -c "SELECT (extract(epoch FROM timestamptz '2025-03-01 12:00+00' + interval '100 years') * 1000)::bigint")" \
   "its key expires at feature time + online_ttl"
is "$(rcli hget fs:longttl:2 v)" "2" "and holds the latest row"

q -c "SELECT fs_drop_feature_set('longttl')" -c "TRUNCATE s_feat" >/dev/null
rcli hset fs:shortttl:1 _ts 2025-02-01T00:00:00.000000Z v 0 >/dev/null
q -c "SELECT fs_create_feature_set('shortttl', 's_feat', ARRAY['id'], 'feature_time',
        \$\$SELECT id, ts AS feature_time, v FROM s_raw WHERE ts >= \$1 AND ts < \$2\$\$,
        '2025-03-01', online_ttl => '1 day')" \
  -c "SELECT fs_backfill('shortttl', '2025-03-01', '2025-03-03')" >/dev/null
wait_drained; ok $? "a feature set whose values expired long ago drained"
is "$(rcli exists fs:shortttl:1 fs:shortttl:2)" "0" "an expired value is not written, and an older one is deleted"

# two runs' entries in one drain, each with its own guard
q -c "SELECT fs_drop_feature_set('shortttl')" -c "TRUNCATE s_feat" >/dev/null
q -c "SELECT fs_create_feature_set('guards', 's_feat', ARRAY['id'], 'feature_time',
        \$\$SELECT id, ts AS feature_time, v FROM s_raw WHERE ts >= \$1 AND ts < \$2\$\$, '2025-03-01')" >/dev/null
wait_drained    # the feature set's first resync
empty_redis
hold_worker
q -c "SELECT fs_backfill('guards', '2025-03-01', '2025-03-01')" \
  -c "SELECT fs_backfill('guards', '2025-03-03', '2025-03-03')" >/dev/null
is "$(q -c "SELECT string_agg(DISTINCT guard_ts, ' ' ORDER BY guard_ts) FROM fs_backfill.online_queue")" \
   "2025-03-02T00:00:00.000000Z 2025-03-04T00:00:00.000000Z" "two runs queued an entity each, with their stops as guards"
# both values in Redis are newer than the first run and older than the second
rcli hset fs:guards:1 _ts 2025-03-02T12:00:00.000000Z v 100 >/dev/null
rcli hset fs:guards:2 _ts 2025-03-02T12:00:00.000000Z v 200 >/dev/null
release_worker
wait_drained; ok $? "drained together"
is "$(rcli hget fs:guards:1 v)" "100" "the first run's entity kept the value newer than its stop"
is "$(rcli hget fs:guards:2 v)" "2" "the second run's entity was replaced"

# two entities spelling the same text when joined with ':', in an empty Redis
q >/dev/null <<'SQL'
CREATE TABLE s_pair (a text NOT NULL, b text NOT NULL, feature_time timestamptz NOT NULL, v int, w int)
  PARTITION BY RANGE (feature_time);
SQL
empty_redis
q -c "SELECT fs_create_feature_set('pair', 's_pair', ARRAY['a', 'b'], 'feature_time',
        \$\$SELECT * FROM (VALUES ('x', 'y:z', timestamptz '2025-03-01 11:00+00', 2, 5),
                                 ('x:y', 'z', timestamptz '2025-03-01 10:00+00', 1, NULL),
                                 ('x\\', 'y', timestamptz '2025-03-01 10:00+00', 3, NULL))
                 r(a, b, feature_time, v, w) WHERE feature_time >= \$1 AND feature_time < \$2\$\$, '2025-03-01')" \
  -c "SELECT fs_backfill('pair', '2025-03-01', '2025-03-01')" >/dev/null
wait_drained; ok $? "three entities drained"
is "$(rcli --scan --pattern 'fs:pair:*' | LC_ALL=C sort | tr '\n' ' ')" \
   'fs:pair:x:y\:z fs:pair:x\:y:z fs:pair:x\\:y ' "each has its own key, ':' and '\\' escaped inside values"
is "$(rcli hgetall 'fs:pair:x:y\:z' | paste -d= - - | LC_ALL=C sort | tr '\n' ' ')" \
   "_ts=2025-03-01T11:00:00.000000Z v=2 w=5 " "('x', 'y:z') holds its own row"
is "$(rcli hgetall 'fs:pair:x\:y:z' | paste -d= - - | LC_ALL=C sort | tr '\n' ' ')" \
   "_ts=2025-03-01T10:00:00.000000Z v=1 " "('x:y', 'z') holds its own row"

q -c "DROP EXTENSION fs_backfill CASCADE" -c "DROP TABLE s_raw, s_feat, s_pair" >/dev/null 2>&1
done_testing
