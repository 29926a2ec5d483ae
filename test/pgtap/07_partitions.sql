-- Missing partitions: created aligned to partition_interval in UTC, clipped
-- to the gaps between existing ones, with free names; plain tables work too.
BEGIN;
SELECT plan(9);

CREATE TABLE pt_raw (user_id bigint, ts timestamptz);
INSERT INTO pt_raw SELECT u, timestamptz '2025-03-01 00:00+00' + h * interval '1 hour' + u * interval '1 second'
  FROM generate_series(0, 24 * 6 - 1) h, generate_series(1, 3) u;
CREATE TABLE pt_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL)
    PARTITION BY RANGE (feature_time);
CREATE TABLE pt_feat_existing PARTITION OF pt_feat
    FOR VALUES FROM ('2025-03-02 06:00+00') TO ('2025-03-02 18:00+00');
CREATE TABLE pt_feat_p20250303 (x int);   -- takes the name a new partition would want
SELECT fs_create_feature_set('pt', 'pt_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM pt_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset

SET LOCAL TimeZone = 'Pacific/Auckland';
SELECT fs_backfill('pt', '2025-03-01 12:00:00', '2025-03-03') \gset
SELECT results_eq(
    $$SELECT partition::text, range_start AT TIME ZONE 'UTC', range_stop AT TIME ZONE 'UTC'
        FROM fs_backfill._partitions('pt_feat')$$,
    $$VALUES ('pt_feat_p20250301', timestamp '2025-03-01 00:00', timestamp '2025-03-02 00:00'),
             ('pt_feat_p20250302', '2025-03-02 00:00', '2025-03-02 06:00'),
             ('pt_feat_existing', '2025-03-02 06:00', '2025-03-02 18:00'),
             ('pt_feat_p20250302_180000', '2025-03-02 18:00', '2025-03-03 00:00'),
             ('pt_feat_p20250303_1', '2025-03-03 00:00', '2025-03-04 00:00')$$,
    'new partitions are whole UTC days, clipped to the gaps, with free names');
SELECT set_eq($$SELECT user_id, feature_time FROM pt_feat$$,
              $$SELECT user_id, ts FROM pt_raw WHERE ts >= '2025-03-01 12:00+00' AND ts < '2025-03-04 00:00+00'$$,
              'and they hold the rows');
SELECT is((SELECT partitions FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), 5, 'five slices');

-- hourly feature sets get hourly partitions
CREATE TABLE pt_hourly (user_id bigint NOT NULL, feature_time timestamptz NOT NULL)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('pt_h', 'pt_hourly', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM pt_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    partition_interval => '1 hour') \gset
SELECT fs_backfill('pt_h', '2025-03-05 22:00:00', '2025-03-06 01:00:00') \gset
SELECT is((SELECT count(*) FROM fs_backfill._partitions('pt_hourly')), 3::bigint, 'three hourly partitions');
SELECT is((SELECT min(range_start) FROM fs_backfill._partitions('pt_hourly')),
          timestamptz '2025-03-05 22:00+00', 'starting on the hour, in UTC');

-- monthly
CREATE TABLE pt_monthly (user_id bigint NOT NULL, feature_time timestamptz NOT NULL)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('pt_m', 'pt_monthly', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM pt_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    partition_interval => '3 months') \gset
SELECT fs_backfill('pt_m', '2025-03-01', '2025-03-05') \gset
SELECT results_eq($$SELECT range_start, range_stop FROM fs_backfill._partitions('pt_monthly')$$,
                  $$VALUES (timestamptz '2025-01-01 00:00+00', timestamptz '2025-04-01 00:00+00')$$,
                  'a quarter-long partition starts on a quarter');

-- a plain table is one slice, replaced in place
CREATE TABLE pt_plain (user_id bigint, feature_time timestamptz);
INSERT INTO pt_plain VALUES (1, '2020-01-01 00:00+00');
SELECT fs_create_feature_set('pt_p', 'pt_plain', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM pt_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('pt_p', '2025-03-01', '2025-03-02') \gset
SELECT is((SELECT count(*) FROM pt_plain), 145::bigint, 'a plain table gets the rows of the interval');
SELECT is((SELECT strategy FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)),
          'delete_insert', 'by delete_insert');
INSERT INTO pt_plain VALUES (2, 'infinity'), (3, '-infinity'), (4, NULL);
SELECT fs_backfill('pt_p', '2025-03-01', '2025-03-01', reset => true) \gset
SELECT is((SELECT count(*) FROM pt_plain), 72::bigint,
          'reset empties a plain table outside the interval, infinite and null times included');

SELECT * FROM finish();
ROLLBACK;
