-- reset => true empties every partition of the feature set, then refills
-- [start, stop) from the source.
BEGIN;
SELECT plan(6);
SET LOCAL fs_backfill.swap_min_rows = 0;

CREATE TABLE rs_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO rs_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 hour', d
  FROM generate_series(0, 9) d, generate_series(1, 20) u;
CREATE TABLE rs_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('rs', 'rs_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM rs_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('rs', '2025-03-01', '2025-03-10') \gset
-- rows the source no longer has, outside and inside the interval
INSERT INTO rs_feat VALUES (500, '2025-03-02 05:30+00', -1), (500, '2025-03-05 05:30+00', -1);
DELETE FROM rs_raw WHERE user_id = 500;

SELECT is((SELECT count(*) FROM rs_feat), 202::bigint, 'before: ten days of rows plus two strays');
SELECT lives_ok($$SELECT fs_backfill('rs', '2025-03-04', '2025-03-06T12:00:00', reset => true)$$,
                'reset backfill');
SELECT is((SELECT count(*) FROM rs_feat WHERE feature_time < '2025-03-04 00:00+00'
                                           OR feature_time >= '2025-03-06 12:00+00'),
          0::bigint, 'every row outside the interval is gone, in every partition');
SELECT set_eq($$SELECT user_id, feature_time, v FROM rs_feat$$,
              $$SELECT user_id, ts, v FROM rs_raw WHERE ts >= '2025-03-04 00:00+00' AND ts < '2025-03-06 12:00+00'$$,
              'the interval holds exactly the source rows');
SELECT is((SELECT count(*) FROM pg_inherits WHERE inhparent = 'rs_feat'::regclass), 10::bigint,
          'partitions stay (empty): reset deletes rows, not partitions');
SELECT is((SELECT rows_deleted FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), 202::bigint,
          'the run counts every deleted row');

SELECT * FROM finish();
ROLLBACK;
