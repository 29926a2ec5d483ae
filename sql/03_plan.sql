-- fs_backfill_plan: the slices a backfill would replace, changing nothing.
SET datestyle = ISO;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fs_backfill;
RESET client_min_messages;

CREATE TABLE pl_raw (user_id bigint, ts timestamptz, clicks int);
INSERT INTO pl_raw
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', u
  FROM generate_series(0, 9) d, generate_series(1, 50) u;
CREATE TABLE pl_users (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, clicks int,
                       PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
CREATE TABLE pl_users_0302 PARTITION OF pl_users
    FOR VALUES FROM ('2025-03-02 00:00+00') TO ('2025-03-03 00:00+00');
CREATE TABLE pl_users_0303 PARTITION OF pl_users
    FOR VALUES FROM ('2025-03-03 00:00+00') TO ('2025-03-04 00:00+00');
-- a two-day partition, and a gap before 2025-03-07
CREATE TABLE pl_users_0304 PARTITION OF pl_users
    FOR VALUES FROM ('2025-03-04 00:00+00') TO ('2025-03-06 00:00+00');
CREATE TABLE pl_users_0307 PARTITION OF pl_users
    FOR VALUES FROM ('2025-03-07 12:00+00') TO ('2025-03-08 00:00+00');
INSERT INTO pl_users SELECT user_id, ts, clicks FROM pl_raw
 WHERE ts >= '2025-03-02 00:00+00' AND ts < '2025-03-06 00:00+00';
SELECT fs_create_feature_set('pl', 'pl_users', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks FROM pl_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01');

-- Seven whole days: March 1 to March 7.  Missing days become new partitions,
-- aligned to the day in UTC and clipped to the gap before pl_users_0307.
SELECT * FROM fs_backfill_plan('pl', '2025-03-01', '2025-03-07');

-- strategy auto swaps only partitions with at least swap_min_rows rows
SET fs_backfill.swap_min_rows = 50;
SELECT partition, strategy, rows_now FROM fs_backfill_plan('pl', '2025-03-02', '2025-03-05');
RESET fs_backfill.swap_min_rows;

-- Partial slices, in the three accepted forms; the stop is exclusive.
SELECT * FROM fs_backfill_plan('pl', '2025-03-02T06:00:00', '2025-03-03 06:00:00');

-- The session's TimeZone changes how results print, not what the text means.
SET TimeZone = 'Asia/Tokyo';
SELECT partition, slice_start AT TIME ZONE 'UTC' AS start_utc,
       slice_stop AT TIME ZONE 'UTC' AS stop_utc
  FROM fs_backfill_plan('pl', '2025-03-03', '2025-03-03');
SET TimeZone = 'UTC';

-- reset: every partition's rows outside the interval are deleted too
SELECT * FROM fs_backfill_plan('pl', '2025-03-03', '2025-03-04', reset => true);

-- start defaults to backfill_start; nothing was changed by any plan
SELECT min(slice_start), count(*) FROM fs_backfill_plan('pl', stop_time => '2025-03-03');
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'pl_users'::regclass;
SELECT count(*) AS rows FROM pl_users;
SELECT count(*) AS runs FROM fs_backfill.runs;

-- a plain table is a single slice
CREATE TABLE pl_plain (user_id bigint, feature_time timestamptz, clicks int);
SELECT fs_create_feature_set('pl_plain', 'pl_plain', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks FROM pl_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01');
SELECT * FROM fs_backfill_plan('pl_plain', '2025-03-01', '2025-03-07');

-- monthly and hourly partition intervals align to months and hours in UTC
CREATE TABLE pl_monthly (user_id bigint, feature_time timestamptz) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('pl_monthly', 'pl_monthly', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM pl_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-01-01', partition_interval => '1 month');
SELECT * FROM fs_backfill_plan('pl_monthly', '2024-12-15', '2025-02-01T00:00:00');
SELECT fs_create_feature_set('pl_hourly', 'pl_monthly', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM pl_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-01-01', partition_interval => '6 hours');
SELECT * FROM fs_backfill_plan('pl_hourly', '2025-01-01T05:00:00', '2025-01-01T13:00:00');

SELECT fs_drop_feature_set(name) FROM fs_backfill.feature_sets WHERE name LIKE 'pl%';
DROP TABLE pl_raw, pl_users, pl_plain, pl_monthly;
