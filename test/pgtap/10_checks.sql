-- Checks (SPEC 5) and resource profiles (SPEC 6).  Each of the five checks
-- fails when it should and passes exactly at its limit; a failed check is
-- 23514 naming the slice, the check, the value and the limit, and leaves
-- every slice, partition and run as it was (also when it is the third of
-- five slices, under swap and delete_insert); max_drift and its edge cases
-- (no rows now, NULL means, an old mean of 0, NaN, a column the source
-- leaves out); the feature set's checks apply
-- unless a run passes its own, which replace them ('{}': none); invalid
-- checks are 22023 at registration, at fs_alter_feature_set and at
-- fs_backfill, before anything changes.  A resource profile is in force
-- during the run only, also when the run fails, and a broken one fails the
-- run with 22023.
BEGIN;
SELECT plan(165);
SET LOCAL TimeZone = 'UTC';
SET LOCAL fs_backfill.swap_min_rows = 0;

-- six days of 100 users; label is NULL for users 1-30 (a null fraction of 0.3)
CREATE TABLE ck_raw (user_id bigint, ts timestamptz, v int, label text);
INSERT INTO ck_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute',
                          d, CASE WHEN u > 30 THEN 'l' || u END
  FROM generate_series(0, 5) d, generate_series(1, 100) u;
-- no primary key: only the unique_key check keeps duplicates out
CREATE TABLE ck_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int, label text)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('ck', 'ck_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    online => false, checks => '{"min_rows": 100}') \gset

-- the state a failed run must leave as it was
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT md5(string_agg(f::text, '|' ORDER BY f::text)) FROM ck_feat f), 'empty') || ' ' ||
           (SELECT count(*) FROM pg_inherits WHERE inhparent = 'ck_feat'::regclass) || ' ' ||
           (SELECT count(*) FROM fs_backfill.runs) || ' ' ||
           (SELECT md5(string_agg(s::text, '|' ORDER BY name)) FROM fs_backfill.feature_sets s)
$$;
CREATE FUNCTION pg_temp.first_two() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(f::text, '|' ORDER BY f::text)) FROM ck_feat f
     WHERE feature_time >= '2025-03-01 00:00+00' AND feature_time < '2025-03-03 00:00+00'
$$;
CREATE TEMP TABLE snap (state text, first_two text);
-- changes the source's values first, so that a run that went through would show
CREATE FUNCTION pg_temp.snapshot() RETURNS void LANGUAGE sql AS $$
    UPDATE ck_raw SET v = v + 1;
    DELETE FROM snap;
    INSERT INTO snap SELECT pg_temp.state(), pg_temp.first_two();
$$;
CREATE FUNCTION pg_temp.slice_rows(day date) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM ck_feat WHERE feature_time >= day::timestamptz AND feature_time < day::timestamptz + interval '1 day'
$$;
-- the settings a resource profile changes, as they are outside a run
SET LOCAL work_mem = '3MB';
SET LOCAL maintenance_work_mem = '17MB';
SET LOCAL max_parallel_workers_per_gather = 1;
CREATE FUNCTION pg_temp.gucs() RETURNS text LANGUAGE sql AS $$
    SELECT current_setting('work_mem') || ' ' || current_setting('maintenance_work_mem') || ' ' ||
           current_setting('max_parallel_workers_per_gather') || ' ' || current_setting('statement_timeout')
$$;
CREATE TEMP TABLE gucs0 AS SELECT pg_temp.gucs() AS gucs;

-- feature-set checks: min_rows 100, exactly the 100 rows of each day
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05')$$,
                'min_rows: exactly at the limit passes (the feature set''s checks)');
SELECT is(pg_temp.slice_rows('2025-03-03'), 100::bigint, 'the run wrote its rows');
SELECT is((SELECT resource_profile FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), 'small',
          'the run used the feature set''s resource profile, small');
SELECT is(pg_temp.gucs(), (SELECT gucs FROM gucs0), 'and its settings are gone after the run');

------------------------------------------------------------------------------
-- invalid checks: 22023 at registration, alter and fs_backfill
------------------------------------------------------------------------------
SELECT pg_temp.snapshot();
CREATE TEMP TABLE bad_checks (n serial, checks text, what text);
INSERT INTO bad_checks (checks, what) VALUES
    ('{"min_rowz": 1}',                          'an unknown check'),
    ('{"min_rows": "10"}',                       'min_rows as a string'),
    ('{"min_rows": 1.5}',                        'min_rows not a whole number'),
    ('{"max_rows": -1}',                         'a negative max_rows'),
    ('{"min_rows": 10, "max_rows": 5}',          'min_rows above max_rows'),
    ('{"unique_key": 1}',                        'unique_key not a boolean'),
    ('{"max_row_change": -0.1}',                 'a negative max_row_change'),
    ('{"max_row_change": "0.5"}',                'max_row_change as a string'),
    ('{"max_null_fraction": {"nope": 0.1}}',     'max_null_fraction of a column the target does not have'),
    ('{"max_null_fraction": {"label": 1.5}}',    'a null fraction above 1'),
    ('{"max_null_fraction": {"label": -0.1}}',   'a negative null fraction'),
    ('{"max_null_fraction": 0.1}',               'max_null_fraction not an object'),
    ('{"max_drift": {"nope": 0.1}}',             'max_drift of a column the target does not have'),
    ('{"max_drift": {"label": 0.1}}',            'max_drift of a text column (no mean)'),
    ('{"max_drift": {"v": -0.1}}',               'a negative max_drift'),
    ('{"max_drift": {"v": "0.1"}}',              'max_drift as a string'),
    ('{"max_drift": 0.1}',                       'max_drift not an object'),
    ('[{"min_rows": 1}]',                        'checks that are not an object');
SELECT throws_ok(format($$SELECT fs_create_feature_set('ck_bad', 'ck_feat', ARRAY['user_id'], 'feature_time',
                            'SELECT user_id, ts AS feature_time FROM ck_raw WHERE ts >= $1 AND ts < $2',
                            '2025-03-01', checks => %L)$$, checks),
                 '22023', 'invalid checks for feature set "ck_bad"', 'registration refuses ' || what)
  FROM bad_checks ORDER BY n;
SELECT throws_ok(format($$SELECT fs_alter_feature_set('ck', %L)$$, jsonb_build_object('checks', checks::jsonb)),
                 '22023', 'invalid checks for feature set "ck"', 'fs_alter_feature_set refuses ' || what)
  FROM bad_checks ORDER BY n;
-- 2025-03-06 has no partition yet: none may be created
SELECT throws_ok(format($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-06', checks => %L)$$, checks),
                 '22023', 'invalid checks for feature set "ck"', 'fs_backfill refuses ' || what)
  FROM bad_checks ORDER BY n;
SELECT is(pg_temp.state(), (SELECT state FROM snap),
          'invalid checks changed nothing: rows, partitions, runs, feature sets');

------------------------------------------------------------------------------
-- a failure in the third of five slices, by the feature set's min_rows
------------------------------------------------------------------------------
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'swap',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND NOT (user_id = 1 AND $1 = ''2025-03-03 00:00+00'')')$$,
    '23514', 'check min_rows failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 99 rows, limit 100',
    'swap: min_rows fails in the third slice');
SELECT is(pg_temp.first_two(), (SELECT first_two FROM snap), 'swap: the first two slices are as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'swap: nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'delete_insert',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND NOT (user_id = 1 AND $1 = ''2025-03-03 00:00+00'')')$$,
    '23514', 'check min_rows failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 99 rows, limit 100',
    'delete_insert: min_rows fails in the third slice');
SELECT is(pg_temp.first_two(), (SELECT first_two FROM snap), 'delete_insert: the first two slices are as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'delete_insert: nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', checks => NULL,
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND NOT (user_id = 1 AND $1 = ''2025-03-03 00:00+00'')')$$,
    '23514', NULL, 'auto, checks => NULL: the feature set''s checks apply');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'auto: nothing changed');

------------------------------------------------------------------------------
-- every check at its limit passes, under swap and delete_insert
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'swap',
    checks => '{"min_rows": 100, "max_rows": 100, "max_null_fraction": {"label": 0.3, "v": 0},
                "unique_key": true, "max_row_change": 0}')$$,
    'swap: all five checks exactly at their limits pass');
SELECT is((SELECT array_agg(DISTINCT strategy) FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)), ARRAY['swap'], 'and the run swapped');
SELECT is((SELECT count(*) FROM ck_feat f JOIN ck_raw r ON r.user_id = f.user_id AND r.ts = f.feature_time AND r.v = f.v),
          500::bigint, 'and wrote the source''s rows');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'delete_insert',
    checks => '{"min_rows": 100, "max_rows": 100, "max_null_fraction": {"label": 0.3, "v": 0},
                "unique_key": true, "max_row_change": 0}')$$,
    'delete_insert: all five checks exactly at their limits pass');
SELECT is((SELECT array_agg(DISTINCT strategy) FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)), ARRAY['delete_insert'], 'and the run deleted and inserted');

------------------------------------------------------------------------------
-- min_rows (a run's override)
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-02', '2025-03-02', checks => '{"min_rows": 100}')$$,
                'min_rows 100 with 100 rows passes');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-02', '2025-03-02', checks => '{"min_rows": 101}')$$,
    '23514', 'check min_rows failed for slice [2025-03-02 00:00:00+00, 2025-03-03 00:00:00+00) of feature set "ck": 100 rows, limit 101',
    'min_rows 101 with 100 rows fails');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');

------------------------------------------------------------------------------
-- max_rows
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-02', '2025-03-02', checks => '{"max_rows": 100}')$$,
                'max_rows 100 with 100 rows passes');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'swap', checks => '{"max_rows": 99}')$$,
    '23514', 'check max_rows failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "ck": 100 rows, limit 99',
    'swap: max_rows 99 with 100 rows fails');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'delete_insert', checks => '{"max_rows": 99}')$$,
    '23514', 'check max_rows failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "ck": 100 rows, limit 99',
    'delete_insert: max_rows 99 with 100 rows fails');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');

------------------------------------------------------------------------------
-- max_null_fraction
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-02', '2025-03-02', checks => '{"max_null_fraction": {"label": 0.3}}')$$,
                'max_null_fraction 0.3 with 30 of 100 null passes');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'swap',
                   checks => '{"max_null_fraction": {"v": 0, "label": 0.29}}')$$,
    '23514', 'check max_null_fraction of column "label" failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "ck": 0.3 null (30 of 100 rows), limit 0.29',
    'swap: max_null_fraction 0.29 with 30 of 100 null fails');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'delete_insert',
                   checks => '{"max_null_fraction": {"label": 0.29}}')$$,
    '23514', 'check max_null_fraction of column "label" failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "ck": 0.3 null (30 of 100 rows), limit 0.29',
    'delete_insert: max_null_fraction 0.29 with 30 of 100 null fails');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-03', '2025-03-03', checks => '{"max_null_fraction": {"label": 0.99}}',
                   source => 'SELECT user_id, ts AS feature_time, v FROM ck_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', 'check max_null_fraction of column "label" failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 1 null (100 of 100 rows), limit 0.99',
    'a column the source leaves out counts as all null');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');

------------------------------------------------------------------------------
-- unique_key
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-02', '2025-03-02', checks => '{"unique_key": true}')$$,
                'unique_key with no duplicate passes');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'swap', checks => '{"unique_key": true}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
               UNION ALL
               SELECT user_id, ts, v + 1, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND user_id = 7 AND $1 = ''2025-03-03 00:00+00''')$$,
    '23514', 'check unique_key failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 1 duplicate (entity, time) rows, limit 0',
    'swap: one duplicate (entity, time) in the third slice fails unique_key');
SELECT is(pg_temp.first_two(), (SELECT first_two FROM snap), 'the first two slices are as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'delete_insert', checks => '{"unique_key": true}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
               UNION ALL
               SELECT user_id, ts, v + 1, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND user_id = 7 AND $1 = ''2025-03-03 00:00+00''')$$,
    '23514', 'check unique_key failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 1 duplicate (entity, time) rows, limit 0',
    'delete_insert: one duplicate (entity, time) in the third slice fails unique_key');
SELECT is(pg_temp.first_two(), (SELECT first_two FROM snap), 'the first two slices are as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-03', '2025-03-03', checks => '{"unique_key": false}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
               UNION ALL
               SELECT user_id, ts, v + 1, label FROM ck_raw WHERE ts >= $1 AND ts < $2 AND user_id = 7')$$,
    'unique_key false lets the duplicate through');
SELECT is(pg_temp.slice_rows('2025-03-03'), 101::bigint, 'and the slice holds it');
SELECT fs_backfill('ck', '2025-03-03', '2025-03-03', checks => '{}') \gset

------------------------------------------------------------------------------
-- max_row_change: |new - now| / now; skipped on a slice with no rows now
------------------------------------------------------------------------------
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'swap', checks => '{"max_row_change": 0.49}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND (user_id <= 50 OR $1 <> ''2025-03-03 00:00+00'')')$$,
    '23514', 'check max_row_change failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 0.5 (100 rows now, 50 new), limit 0.49',
    'swap: 50 rows for 100 fails max_row_change 0.49 in the third slice');
SELECT is(pg_temp.first_two(), (SELECT first_two FROM snap), 'the first two slices are as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', strategy => 'delete_insert', checks => '{"max_row_change": 0.49}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND (user_id <= 50 OR $1 <> ''2025-03-03 00:00+00'')')$$,
    '23514', 'check max_row_change failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 0.5 (100 rows now, 50 new), limit 0.49',
    'delete_insert: 50 rows for 100 fails max_row_change 0.49 in the third slice');
SELECT is(pg_temp.first_two(), (SELECT first_two FROM snap), 'the first two slices are as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-03', '2025-03-03', checks => '{"max_row_change": 0.5}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2 AND user_id <= 50')$$,
    'max_row_change 0.5 with 50 rows for 100 passes');
SELECT is(pg_temp.slice_rows('2025-03-03'), 50::bigint, 'and the slice holds 50 rows');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-03', '2025-03-03', checks => '{"max_row_change": 0.99}')$$,
    '23514', 'check max_row_change failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "ck": 1 (50 rows now, 100 new), limit 0.99',
    'growth counts too: 100 rows for 50 fails max_row_change 0.99');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-03', '2025-03-03', checks => '{"max_row_change": 1}')$$,
                'and passes max_row_change 1');
SELECT is(pg_temp.slice_rows('2025-03-03'), 100::bigint, 'the slice holds 100 rows again');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-06', '2025-03-06', checks => '{"max_row_change": 0}')$$,
                'max_row_change is skipped for a slice with no rows now (a new partition)');
SELECT is(pg_temp.slice_rows('2025-03-06'), 100::bigint, 'and the new slice was written');

------------------------------------------------------------------------------
-- max_drift: |new mean - old mean| / |old mean| per column, against the rows
-- the slice holds now
------------------------------------------------------------------------------
-- four days of 10 users: x 10, y 2, z 4 everywhere
CREATE DOMAIN dr_amount AS numeric;
CREATE TABLE dr_raw (user_id bigint, ts timestamptz, x int, y float8, z dr_amount);
INSERT INTO dr_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', 10, 2, 4
  FROM generate_series(0, 3) d, generate_series(1, 10) u;
CREATE TABLE dr_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, x int, y float8, z dr_amount,
                      tag text, w int DEFAULT 5) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('dr', 'dr_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    online => false) \gset
CREATE FUNCTION pg_temp.dr_state() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT md5(string_agg(f::text, '|' ORDER BY f::text)) FROM dr_feat f), 'empty') || ' ' ||
           (SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'dr')
$$;
CREATE FUNCTION pg_temp.dr_mean(day date) RETURNS numeric LANGUAGE sql AS $$
    SELECT avg(x) FROM dr_feat WHERE feature_time >= day::timestamptz AND feature_time < day::timestamptz + interval '1 day'
$$;
CREATE TEMP TABLE dr_snap AS SELECT pg_temp.dr_state() AS state;
CREATE FUNCTION pg_temp.dr_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM dr_snap;
    INSERT INTO dr_snap SELECT pg_temp.dr_state();
$$;

SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-04', checks => '{"max_drift": {"x": 0, "y": 0, "z": 0}}')$$,
                'max_drift passes on new partitions: no rows now, nothing to drift from');
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-04', checks => '{"max_drift": {"x": 0, "y": 0, "z": 0}}')$$,
                'max_drift 0 with the same means passes, on every column type');
SELECT pg_temp.dr_snapshot();
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-04', strategy => 'swap', checks => '{"max_drift": {"x": 0.09}}',
    source => 'SELECT user_id, ts AS feature_time, CASE WHEN $1 = ''2025-03-03 00:00+00'' THEN x + 1 ELSE x END AS x, y, z
                 FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', 'check max_drift of column "x" failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "dr": 0.1 (mean 10 now, 11 new), limit 0.09',
    'swap: a mean from 10 to 11 fails max_drift 0.09 in the third slice');
SELECT is(pg_temp.dr_state(), (SELECT state FROM dr_snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-04', strategy => 'delete_insert', checks => '{"max_drift": {"x": 0.09}}',
    source => 'SELECT user_id, ts AS feature_time, CASE WHEN $1 = ''2025-03-03 00:00+00'' THEN x + 1 ELSE x END AS x, y, z
                 FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', 'check max_drift of column "x" failed for slice [2025-03-03 00:00:00+00, 2025-03-04 00:00:00+00) of feature set "dr": 0.1 (mean 10 now, 11 new), limit 0.09',
    'delete_insert: the same fails');
SELECT is(pg_temp.dr_state(), (SELECT state FROM dr_snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-03', '2025-03-03', checks => '{"max_drift": {"x": 0.1}}',
    source => 'SELECT user_id, ts AS feature_time, x + 1 AS x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    'max_drift 0.1 with a mean from 10 to 11 passes (at the limit)');
SELECT is(pg_temp.dr_mean('2025-03-03'), 11::numeric, 'and the slice holds the new rows');
SELECT pg_temp.dr_snapshot();
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-02', '2025-03-02', checks => '{"max_drift": {"x": 0.19}}',
    source => 'SELECT user_id, ts AS feature_time, x - 2 AS x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', 'check max_drift of column "x" failed for slice [2025-03-02 00:00:00+00, 2025-03-03 00:00:00+00) of feature set "dr": 0.2 (mean 10 now, 8 new), limit 0.19',
    'a fall counts too: 10 to 8 fails max_drift 0.19');
SELECT is(pg_temp.dr_state(), (SELECT state FROM dr_snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-02', '2025-03-02', checks => '{"max_drift": {"x": 0}}',
    source => 'SELECT user_id, ts AS feature_time, CASE WHEN user_id <= 5 THEN 0 ELSE 20 END AS x, y, z
                 FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    'max_drift compares means, not rows: every value changed, the mean did not');
SELECT pg_temp.dr_snapshot();
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-02', '2025-03-02', checks => '{"max_drift": {"x": 1, "y": 0.5, "z": 0.2}}',
    source => 'SELECT user_id, ts AS feature_time, x, y * 1.5 AS y, (z * 0.75)::dr_amount AS z FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', 'check max_drift of column "z" failed for slice [2025-03-02 00:00:00+00, 2025-03-03 00:00:00+00) of feature set "dr": 0.25 (mean 4 now, 3 new), limit 0.2',
    'each column has its limit: y (double precision) within, z (a domain over numeric) past it');
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-02', '2025-03-02', checks => '{"max_drift": {"y": 1000}}',
    source => 'SELECT user_id, ts AS feature_time, x, CASE WHEN user_id = 1 THEN ''NaN'' ELSE y END AS y, z
                 FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    '23514', 'check max_drift of column "y" failed for slice [2025-03-02 00:00:00+00, 2025-03-03 00:00:00+00) of feature set "dr": NaN (mean 2 now, NaN new), limit 1000',
    'a NaN among the new values fails any limit');
SELECT is(pg_temp.dr_state(), (SELECT state FROM dr_snap), 'nothing changed');

-- edge cases: NULL means, an old mean of 0, a column the source leaves out
SELECT fs_backfill('dr', '2025-03-04', '2025-03-04', checks => '{}',
    source => 'SELECT user_id, ts AS feature_time, NULL::int AS x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2') \gset
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-04', '2025-03-04', checks => '{"max_drift": {"x": 0}}')$$,
                'rows now all NULL in the column (a NULL old mean): nothing to drift from, passes');
SELECT is(pg_temp.dr_mean('2025-03-04'), 10::numeric, 'and the slice holds the new rows');
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-04', '2025-03-04', checks => '{"max_drift": {"x": 0}}',
    source => 'SELECT user_id, ts AS feature_time, NULL::int AS x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    'new rows all NULL in the column (a NULL new mean) pass: max_null_fraction is the check for that');
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-04', '2025-03-04', checks => '{"max_drift": {"x": 0}}', allow_empty => true,
    source => 'SELECT user_id, ts AS feature_time, x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2 AND false')$$,
    'no new rows pass too: min_rows and max_row_change are the checks for that');
SELECT fs_backfill('dr', '2025-03-01', '2025-03-01', checks => '{}',
    source => 'SELECT user_id, ts AS feature_time, 0 AS x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2') \gset
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-01', checks => '{"max_drift": {"x": 0}}',
    source => 'SELECT user_id, ts AS feature_time, x - x AS x, y, z FROM dr_raw WHERE ts >= $1 AND ts < $2')$$,
    'an old mean of 0 and a new mean of 0: no drift, passes');
SELECT pg_temp.dr_snapshot();
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-01', checks => '{"max_drift": {"x": 1000000}}')$$,
    '23514', 'check max_drift of column "x" failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "dr": infinite (mean 0 now, 10 new), limit 1e+06',
    'an old mean of 0 and any other new mean: an infinite drift, fails any limit');
SELECT is(pg_temp.dr_state(), (SELECT state FROM dr_snap), 'nothing changed');
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-04', checks => '{"max_drift": {"w": 0.5}}')$$,
    '22023', 'check max_drift of column "w" cannot be evaluated for feature set "dr"',
    'a column the source leaves out (here with a default) has no new mean: the run is refused');
SELECT is(pg_temp.dr_state(), (SELECT state FROM dr_snap), 'nothing changed');

-- the feature set's max_drift applies to its runs; a run's override replaces it
SELECT lives_ok($$SELECT fs_alter_feature_set('dr', '{"checks": {"max_drift": {"x": 0.05}}}')$$,
                'a feature set''s checks can hold max_drift');
SELECT throws_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-01')$$,
    '23514', 'check max_drift of column "x" failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "dr": infinite (mean 0 now, 10 new), limit 0.05',
    'and a run without checks of its own applies it');
SELECT lives_ok($$SELECT fs_backfill('dr', '2025-03-01', '2025-03-01', checks => '{"min_rows": 10}')$$,
                'a run''s checks replace it');
SELECT is(pg_temp.dr_mean('2025-03-01'), 10::numeric, 'and the slice holds the new rows');
SELECT throws_ok($$SELECT fs_alter_feature_set('dr', '{"checks": {"max_drift": {"tag": 0.05}}}')$$,
    '22023', 'invalid checks for feature set "dr"', 'max_drift of a text column is refused by fs_alter_feature_set');

------------------------------------------------------------------------------
-- the feature set's checks, a run's override, and '{}'
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_alter_feature_set('ck', '{"checks": {"min_rows": 101}}')$$,
                'the feature set''s checks can be altered');
SELECT is((SELECT checks FROM fs_backfill.feature_sets WHERE name = 'ck'), '{"min_rows": 101}'::jsonb, 'and are stored');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05')$$,
    '23514', 'check min_rows failed for slice [2025-03-01 00:00:00+00, 2025-03-02 00:00:00+00) of feature set "ck": 100 rows, limit 101',
    'the altered checks apply to the next run');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', checks => '{"max_rows": 100}')$$,
                'a run''s checks replace the feature set''s: its min_rows does not apply');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', checks => '{"max_rows": 100}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
               UNION ALL
               SELECT user_id + 1000, ts, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2
                  AND user_id = 1 AND $1 = ''2025-03-04 00:00+00''')$$,
    '23514', 'check max_rows failed for slice [2025-03-04 00:00:00+00, 2025-03-05 00:00:00+00) of feature set "ck": 101 rows, limit 100',
    'while the run''s own checks do');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'nothing changed');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-04', '2025-03-04', checks => '{}',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2 AND user_id <= 10')$$,
    'checks => ''{}'' runs with no checks at all');
SELECT is(pg_temp.slice_rows('2025-03-04'), 10::bigint, 'and wrote its 10 rows');
SELECT is((SELECT checks FROM fs_backfill.feature_sets WHERE name = 'ck'), '{"min_rows": 101}'::jsonb,
          'a run''s checks leave the feature set''s as they were');
SELECT lives_ok($$SELECT fs_alter_feature_set('ck', '{"checks": {}}')$$, 'the feature set''s checks can be removed');
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-04', '2025-03-04',
    source => 'SELECT user_id, ts AS feature_time, v, label FROM ck_raw WHERE ts >= $1 AND ts < $2 AND user_id <= 5')$$,
    'and then a run has none');
SELECT fs_backfill('ck', '2025-03-01', '2025-03-06') \gset

------------------------------------------------------------------------------
-- resource profiles: for the run only
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_backfill('ck', '2025-03-02', '2025-03-02', resource_profile => 'medium',
    source => 'SELECT user_id, ts AS feature_time, v, current_setting(''work_mem'') || '' '' || current_setting(''maintenance_work_mem'')
                      || '' '' || current_setting(''max_parallel_workers_per_gather'') AS label
                 FROM ck_raw WHERE ts >= $1 AND ts < $2')$$,
    'a run with resource profile medium');
SELECT is((SELECT array_agg(DISTINCT label) FROM ck_feat WHERE feature_time >= '2025-03-02 00:00+00' AND feature_time < '2025-03-03 00:00+00'),
          ARRAY['256MB 1GB 2'], 'the profile''s settings were in force while the source ran');
SELECT is(pg_temp.gucs(), (SELECT gucs FROM gucs0), 'and are gone after the run');
SELECT is((SELECT resource_profile FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), 'medium',
          'runs.resource_profile records the profile used');
SELECT pg_temp.snapshot();
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', resource_profile => 'large',
                   checks => '{"max_rows": 99}')$$,
    '23514', NULL, 'a run under profile large that fails a check');
SELECT is(pg_temp.gucs(), (SELECT gucs FROM gucs0), 'leaves work_mem and the other settings as they were');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'and nothing changed');
INSERT INTO fs_backfill.resource_profiles VALUES ('broken', '{"work_mem": "lots"}');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', resource_profile => 'broken')$$,
    '22023', NULL, 'a profile with a bad value fails the run');
SELECT is(pg_temp.gucs(), (SELECT gucs FROM gucs0), 'and leaves work_mem as it was');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'and the table as it was');
SELECT throws_ok($$SELECT fs_backfill('ck', '2025-03-01', '2025-03-05', resource_profile => 'nope')$$,
    '42704', NULL, 'an unknown profile fails the run');
SELECT is(pg_temp.state(), (SELECT state FROM snap), 'and changes nothing');

-- max_null_fraction of a column the source leaves out: its default, or NULL
CREATE TABLE ck_def (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                     tag text DEFAULT 'd', note text) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('ck_def', 'ck_def', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM ck_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    online => false) \gset
SELECT lives_ok($$SELECT fs_backfill('ck_def', '2025-03-01', '2025-03-01', checks => '{"max_null_fraction": {"tag": 0}}')$$,
    'a left-out column with a default counts as filled');
SELECT is((SELECT count(*) FROM ck_def WHERE tag = 'd'), 100::bigint, 'as the rows written show');
SELECT throws_like($$SELECT fs_backfill('ck_def', '2025-03-01', '2025-03-01', checks => '{"max_null_fraction": {"note": 0.5}}')$$,
    '%check max_null_fraction of column "note" failed%: 1 null (100 of 100 rows), limit 0.5',
    'a left-out column without one counts as all NULL');

SELECT * FROM finish();
ROLLBACK;
