-- Rows outside [start, stop) are byte-for-byte unchanged, whatever the
-- strategy, including rows just outside a partial slice and a row exactly
-- at stop; rows inside equal the source's.
BEGIN;
SELECT plan(16);

SET LOCAL TimeZone = 'America/New_York';   -- text bounds are UTC regardless
SET LOCAL fs_backfill.swap_min_rows = 0;

CREATE TABLE t_raw (user_id bigint, ts timestamptz, v float8, tag text);
INSERT INTO t_raw
SELECT u, timestamptz '2025-03-01 00:00+00' + i * interval '7 minutes', u * i, 'u' || u
  FROM generate_series(1, 20) u, generate_series(0, 10 * 24 * 60 / 7) i;
-- a row exactly at the start and one exactly at the stop of the partial run
INSERT INTO t_raw VALUES (999, '2025-03-03 12:00+00', 1, 'start'), (999, '2025-03-05 06:00+00', 1, 'stop');
CREATE TABLE t_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v float8,
                     tag text, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('t', 't_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v, tag FROM t_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01') \gset
SELECT fs_backfill('t', '2025-03-01', '2025-03-10') \gset

CREATE FUNCTION pg_temp.digest(lo timestamptz, hi timestamptz, inside boolean) RETURNS text
LANGUAGE sql AS $$
    SELECT md5(coalesce(string_agg(f::text, '|' ORDER BY user_id, feature_time), ''))
      FROM t_feat f
     WHERE (feature_time >= lo AND feature_time < hi) = inside
$$;
CREATE FUNCTION pg_temp.source_digest(lo timestamptz, hi timestamptz) RETURNS text
LANGUAGE sql AS $$
    SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY user_id, feature_time), ''))
      FROM (SELECT user_id, ts AS feature_time, v, tag FROM t_raw
             WHERE ts >= lo AND ts < hi) r
$$;

SELECT is(pg_temp.digest('2025-03-01 00:00+00', '2025-03-10 00:00+00', true),
          pg_temp.source_digest('2025-03-01 00:00+00', '2025-03-10 00:00+00'),
          'the first load equals the source');

UPDATE t_raw SET v = v + 0.5, tag = tag || '*';

-- auto: partial slices at both ends, a whole partition between
CREATE TEMP TABLE before AS
SELECT pg_temp.digest('2025-03-03 12:00+00', '2025-03-05 06:00+00', false) AS outside,
       (SELECT f::text FROM t_feat f WHERE user_id = 999 AND feature_time = '2025-03-05 06:00+00') AS at_stop;
SELECT lives_ok($$SELECT fs_backfill('t', '2025-03-03 12:00:00', '2025-03-05T06:00:00')$$,
                'auto backfill of a partial interval');
SELECT is(pg_temp.digest('2025-03-03 12:00+00', '2025-03-05 06:00+00', false),
          (SELECT outside FROM before), 'auto: rows outside the interval are unchanged');
SELECT is(pg_temp.digest('2025-03-03 12:00+00', '2025-03-05 06:00+00', true),
          pg_temp.source_digest('2025-03-03 12:00+00', '2025-03-05 06:00+00'),
          'auto: rows inside the interval equal the source');
SELECT is((SELECT f::text FROM t_feat f WHERE user_id = 999 AND feature_time = '2025-03-05 06:00+00'),
          (SELECT at_stop FROM before), 'the row exactly at stop is untouched');
SELECT is((SELECT tag FROM t_feat WHERE user_id = 999 AND feature_time = '2025-03-03 12:00+00'),
          'start*', 'the row exactly at start is replaced');
SELECT results_eq(
    $$SELECT strategy FROM fs_backfill.run_partitions
       WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs) ORDER BY slice_start$$,
    ARRAY['delete_insert', 'swap', 'delete_insert'],
    'partial slices are replaced in place, the whole partition is swapped');

-- swap and delete_insert, explicitly
UPDATE t_raw SET v = v * 2;
DROP TABLE before;
CREATE TEMP TABLE before AS
SELECT pg_temp.digest('2025-03-06 00:00+00', '2025-03-08 00:00+00', false) AS outside;
SELECT lives_ok($$SELECT fs_backfill('t', '2025-03-06', '2025-03-07', strategy => 'swap')$$,
                'swap backfill of two days');
SELECT is(pg_temp.digest('2025-03-06 00:00+00', '2025-03-08 00:00+00', false),
          (SELECT outside FROM before), 'swap: rows outside the interval are unchanged');
SELECT is(pg_temp.digest('2025-03-06 00:00+00', '2025-03-08 00:00+00', true),
          pg_temp.source_digest('2025-03-06 00:00+00', '2025-03-08 00:00+00'),
          'swap: rows inside equal the source');
SELECT results_eq(
    $$SELECT DISTINCT strategy FROM fs_backfill.run_partitions
       WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)$$,
    ARRAY['swap'], 'both days were swapped');

DROP TABLE before;
CREATE TEMP TABLE before AS
SELECT pg_temp.digest('2025-03-08 00:00+00', '2025-03-09 00:00+00', false) AS outside;
SELECT lives_ok($$SELECT fs_backfill('t', '2025-03-08', '2025-03-08', strategy => 'delete_insert')$$,
                'delete_insert backfill of one day');
SELECT is(pg_temp.digest('2025-03-08 00:00+00', '2025-03-09 00:00+00', false),
          (SELECT outside FROM before), 'delete_insert: rows outside the interval are unchanged');
SELECT is(pg_temp.digest('2025-03-08 00:00+00', '2025-03-09 00:00+00', true),
          pg_temp.source_digest('2025-03-08 00:00+00', '2025-03-09 00:00+00'),
          'delete_insert: rows inside equal the source');

-- swapped partitions keep their indexes usable and consistent
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM t_feat WHERE user_id = 7 AND feature_time >= '2025-03-06 00:00+00'
                                        AND feature_time < '2025-03-08 00:00+00'),
          (SELECT count(*) FROM t_raw WHERE user_id = 7 AND ts >= '2025-03-06 00:00+00'
                                        AND ts < '2025-03-08 00:00+00'),
          'an index scan of a swapped partition finds every row');
SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'pg_temp_%' AND relkind = 'r'
             AND relnamespace = 'public'::regnamespace), 0::bigint,
          'no transient heap is left behind');

SELECT * FROM finish();
ROLLBACK;
