-- An error in any slice, or in the exchange at the end, leaves every slice
-- as it was: nothing deleted, no partition created, no run recorded.
BEGIN;
SELECT plan(12);
SET LOCAL fs_backfill.swap_min_rows = 0;

CREATE TABLE at_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO at_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(0, 6) d, generate_series(1, 30) u;
CREATE TABLE at_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                      PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
-- five of the seven days exist; two will be created
SELECT fs_create_feature_set('at', 'at_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM at_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('at', '2025-03-01', '2025-03-05') \gset
UPDATE at_raw SET v = v + 100;

CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(f::text, '|' ORDER BY user_id, feature_time)) || ' ' ||
           (SELECT count(*) FROM pg_inherits WHERE inhparent = 'at_feat'::regclass) || ' ' ||
           (SELECT count(*) FROM fs_backfill.runs) || ' ' ||
           (SELECT count(*) FROM pg_class WHERE relname LIKE 'pg_temp_%' AND relkind = 'r'
              AND relnamespace = 'public'::regnamespace)
      FROM at_feat f
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.state() AS state;

-- the third of seven slices fails (division by zero inside the source)
SELECT throws_ok($$SELECT fs_backfill('at', '2025-03-01', '2025-03-07',
    source => 'SELECT user_id, ts AS feature_time, v / (CASE WHEN $1 = ''2025-03-03 00:00+00'' THEN 0 ELSE 1 END) AS v
                 FROM at_raw WHERE ts >= $1 AND ts < $2')$$,
    '22012', NULL, 'auto: the third slice fails');
SELECT is(pg_temp.state(), (SELECT state FROM before), 'auto: all seven slices are as they were');
SELECT throws_ok($$SELECT fs_backfill('at', '2025-03-01', '2025-03-07', strategy => 'delete_insert',
    source => 'SELECT user_id, ts AS feature_time, v / (CASE WHEN $1 = ''2025-03-03 00:00+00'' THEN 0 ELSE 1 END) AS v
                 FROM at_raw WHERE ts >= $1 AND ts < $2')$$,
    '22012', NULL, 'delete_insert: the third slice fails');
SELECT is(pg_temp.state(), (SELECT state FROM before), 'delete_insert: all seven slices are as they were');
SELECT throws_ok($$SELECT fs_backfill('at', '2025-03-01', '2025-03-07', strategy => 'swap',
    source => 'SELECT user_id, ts AS feature_time, v / (CASE WHEN $1 = ''2025-03-03 00:00+00'' THEN 0 ELSE 1 END) AS v
                 FROM at_raw WHERE ts >= $1 AND ts < $2')$$,
    '22012', NULL, 'swap: the third slice fails');
SELECT is(pg_temp.state(), (SELECT state FROM before), 'swap: all seven slices are as they were');

-- the last slice brings a duplicate key: found when the swap builds indexes,
-- after every other slice was replaced
SELECT throws_ok($$SELECT fs_backfill('at', '2025-03-01', '2025-03-07', strategy => 'swap',
    source => 'SELECT user_id, ts AS feature_time, v FROM at_raw WHERE ts >= $1 AND ts < $2
               UNION ALL
               SELECT user_id, ts, v FROM at_raw WHERE ts >= $1 AND ts < $2
                  AND $1 = ''2025-03-07 00:00+00'' AND user_id = 1')$$,
    '23505', NULL, 'swap: a duplicate key in the last slice fails the exchange');
SELECT is(pg_temp.state(), (SELECT state FROM before), 'and all seven slices are as they were');

-- a row outside its slice in the sixth slice
SELECT throws_ok($$SELECT fs_backfill('at', '2025-03-01', '2025-03-07',
    source => 'SELECT user_id, CASE WHEN $1 = ''2025-03-06 00:00+00'' THEN ts - interval ''1 day'' ELSE ts END AS feature_time, v
                 FROM at_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', NULL, 'a source row outside its slice fails the backfill');
SELECT is(pg_temp.state(), (SELECT state FROM before), 'and all seven slices are as they were');

-- the same backfill, correct, then rolled back with its transaction
SAVEPOINT s;
SELECT fs_backfill('at', '2025-03-01', '2025-03-07') \gset
ROLLBACK TO SAVEPOINT s;
SELECT is(pg_temp.state(), (SELECT state FROM before), 'a rolled-back backfill leaves nothing');
SELECT lives_ok($$SELECT fs_backfill('at', '2025-03-01', '2025-03-07')$$, 'and the backfill itself works');

SELECT * FROM finish();
ROLLBACK;
