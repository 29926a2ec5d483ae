-- The time-text rules: three forms, always UTC, date-only stop covers the
-- day, future stop rounded down to now, bad or empty intervals refused.
BEGIN;
SELECT plan(26);

CREATE TABLE tt_raw (user_id bigint, ts timestamptz);
CREATE TABLE tt_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('tt', 'tt_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM tt_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01') \gset

CREATE FUNCTION pg_temp.bounds(start_time text, stop_time text) RETURNS text
LANGUAGE sql AS $$
    SELECT to_char(min(slice_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' .. ' ||
           to_char(max(slice_stop) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
      FROM fs_backfill_plan('tt', start_time, stop_time)
$$;

SET LOCAL TimeZone = 'Asia/Kolkata';
SELECT is(pg_temp.bounds('2025-03-02', '2025-03-04'), '2025-03-02 00:00:00 .. 2025-03-05 00:00:00',
          'date-only bounds are UTC days; the stop day is included (Asia/Kolkata)');
SELECT is(pg_temp.bounds('2025-03-02T06:30:15', '2025-03-04T07:00:00'),
          '2025-03-02 06:30:15 .. 2025-03-04 07:00:00', 'YYYY-MM-DDTHH:MI:SS is UTC');
SELECT is(pg_temp.bounds('2025-03-02 06:30:15', '2025-03-04 07:00:00'),
          '2025-03-02 06:30:15 .. 2025-03-04 07:00:00', 'YYYY-MM-DD HH:MI:SS is UTC');
SET LOCAL TimeZone = 'America/Los_Angeles';
SELECT is(pg_temp.bounds('2025-03-02', '2025-03-04'), '2025-03-02 00:00:00 .. 2025-03-05 00:00:00',
          'the same under America/Los_Angeles');
SELECT is(pg_temp.bounds('2025-03-02 06:30:15', '2025-03-04 07:00:00'),
          '2025-03-02 06:30:15 .. 2025-03-04 07:00:00', 'and with a time of day');
SELECT is(pg_temp.bounds('2025-03-02', '2025-03-04 00:00:00'),
          '2025-03-02 00:00:00 .. 2025-03-04 00:00:00', 'a stop with a time is exclusive');
SELECT is(pg_temp.bounds('2024-02-29', '2024-02-29'), '2024-02-29 00:00:00 .. 2024-03-01 00:00:00',
          'a leap day exists in a leap year');

-- the text form, not the timestamptz one, takes quoted literals
SELECT fs_backfill('tt', '2025-03-01', '2025-03-01') \gset
SELECT is((SELECT start_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1),
          timestamptz '2025-03-01 00:00+00', 'quoted literals resolve to the text form (UTC)');
SELECT is((SELECT stop_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1),
          timestamptz '2025-03-02 00:00+00', 'and a date-only stop covers the day');
-- the timestamptz form takes computed bounds, in the session's time zone
SELECT fs_backfill('tt', timestamptz '2025-03-01 00:00', timestamptz '2025-03-01 00:00' + interval '2 hours') \gset
SELECT is((SELECT start_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1),
          timestamptz '2025-03-01 08:00+00', 'a timestamptz bound is an exact instant');
-- start defaults to backfill_start
SELECT fs_backfill('tt', stop_time => '2025-03-01 01:00:00') \gset
SELECT is((SELECT start_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1),
          timestamptz '2025-03-01 00:00+00', 'start defaults to backfill_start');

-- a stop in the future is rounded down to now
SELECT fs_backfill('tt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), '2999-12-31') \gset
SELECT is((SELECT stop_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), now(),
          'a future stop is rounded down to now');
SELECT fs_backfill('tt', now() - interval '1 hour', now() + interval '1 day') \gset
SELECT is((SELECT stop_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), now(),
          'also in the timestamptz form');
SELECT fs_backfill('tt', start_time => to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')) \gset
SELECT is((SELECT stop_time FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), now(),
          'stop defaults to now');

-- refused: with the SQLSTATE of the spec
SELECT throws_ok($$SELECT fs_backfill('tt', '2025-03-05', '2025-03-01')$$, '22023', NULL,
                 'a reversed interval is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', '2025-03-01 06:00:00', '2025-03-01 06:00:00')$$, '22023',
                 NULL, 'an empty interval is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', '2999-01-01')$$, '22023', NULL,
                 'a start in the future is an empty interval');
SELECT throws_ok($$SELECT fs_backfill('tt', 'infinity')$$, '22007', NULL, 'infinity is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', '2025-03-01', '-infinity')$$, '22007', NULL,
                 '-infinity is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', timestamptz 'infinity', now())$$, '22023', NULL,
                 'infinity is refused in the timestamptz form');
SELECT throws_ok($$SELECT fs_backfill('tt', '2025-02-30')$$, '22007', NULL, 'February 30 is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', '2023-02-29')$$, '22007', NULL,
                 'February 29 outside a leap year is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', '2025-03-01 25:00:00')$$, '22007', NULL,
                 'hour 25 is refused');
SELECT throws_ok($$SELECT fs_backfill('tt', '2025-03-01T00:00:00+01')$$, '22007', NULL,
                 'an offset is refused: bounds are UTC');
SELECT throws_ok($$SELECT fs_backfill('tt', 'March 1, 2025')$$, '22007',
                 'invalid value for start_time: "March 1, 2025"', 'the message names the argument');
SELECT is((SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'tt'), 6::bigint,
          'refused calls recorded no run');

SELECT * FROM finish();
ROLLBACK;
