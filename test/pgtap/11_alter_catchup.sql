-- fs_alter_feature_set() and fs_backfill_catchup().  Altering converts each
-- value to its setting's type, validates the result as a registration does,
-- refuses name/target, unknown keys, nulls, unknown feature sets and
-- non-owners, and on error changes nothing.  Catch-up backfills whole
-- partitions from the watermark to now() - catchup_delay floored to a
-- partition boundary (midnight UTC), re-runs reprocess_partitions partitions
-- before the watermark for late rows, returns NULL when caught up, and a
-- failed catch-up leaves the watermark where it was.  now() is fixed inside
-- the transaction, so "today" below is the catch-up's midnight.
BEGIN;
SELECT plan(65);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE d AS
SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today,
       date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '5 days' AS bstart;
-- 3 users every 6 hours, from 7 days before today to 2 days after (rows in the future too)
CREATE TABLE ac_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO ac_raw SELECT u, t, u * 100 + extract(hour FROM t)::int
  FROM d, generate_series(1, 3) u,
       generate_series(d.today - interval '7 days', d.today + interval '2 days', interval '6 hours') t;
CREATE FUNCTION pg_temp.mk(tbl text, fs text, delay interval) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                                     PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time)', tbl);
    PERFORM fs_create_feature_set(fs, tbl::regclass, ARRAY['user_id'], 'feature_time',
        $q$SELECT user_id, ts AS feature_time, v FROM ac_raw WHERE ts >= $1 AND ts < $2$q$,
        (SELECT bstart FROM d), online => false, catchup_delay => delay);
END $$;
SELECT pg_temp.mk('ac_alt_feat', 'ac_alt', '0');
SELECT pg_temp.mk('ac_feat', 'ac', '0');
SELECT pg_temp.mk('ac_late_feat', 'ac_late', '0');
SELECT pg_temp.mk('ac_fail_feat', 'ac_fail', '3 days');
SELECT pg_temp.mk('ac_gap_feat', 'ac_gap', '0');
CREATE FUNCTION pg_temp.last_run(fs text) RETURNS fs_backfill.runs LANGUAGE sql AS $$
    SELECT * FROM fs_backfill.runs WHERE feature_set = fs ORDER BY run_id DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.fs_row(fs text) RETURNS text LANGUAGE sql AS $$
    SELECT f::text FROM fs_backfill.feature_sets f WHERE name = fs
$$;

------------------------------------------------------------------------------
-- fs_alter_feature_set
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_alt', '{"catchup_delay": "1 day", "reprocess_partitions": 2}')$$,
                'catchup_delay and reprocess_partitions altered');
SELECT is((SELECT (catchup_delay, reprocess_partitions)::text FROM fs_backfill.feature_sets WHERE name = 'ac_alt'),
          ('1 day'::interval, 2)::text, 'each value converted to its setting''s type');
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_alt', '{"online": true, "online_ttl": "7 days",
    "partition_interval": "2 days", "backfill_start": "2025-01-01", "resource_profile": "large",
    "checks": {"min_rows": 1}, "time_column": "feature_time", "entity_columns": ["user_id"],
    "source": "SELECT user_id, ts AS feature_time FROM ac_raw WHERE ts >= $1 AND ts < $2"}')$$,
    'every other setting altered at once');
SELECT is((SELECT (online, online_ttl, partition_interval, backfill_start, resource_profile, checks,
                   source, catchup_delay, reprocess_partitions)::text
             FROM fs_backfill.feature_sets WHERE name = 'ac_alt'),
          (true, '7 days'::interval, '2 days'::interval, '2025-01-01 00:00+00'::timestamptz, 'large',
           '{"min_rows": 1}'::jsonb, 'SELECT user_id, ts AS feature_time FROM ac_raw WHERE ts >= $1 AND ts < $2',
           '1 day'::interval, 2)::text,
          'stored, and the settings not named kept their values');
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_alt', '{"online_ttl": null}')$$, 'online_ttl may be set to null');
SELECT is((SELECT online_ttl FROM fs_backfill.feature_sets WHERE name = 'ac_alt'), NULL, 'and is null');
-- '{"checks": null}' once crashed the backend (a NULL read as jsonb)
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_alt', '{"checks": null}')$$, 'checks may be set to null');
SELECT is((SELECT checks FROM fs_backfill.feature_sets WHERE name = 'ac_alt'), '{}'::jsonb, 'and means no checks');

CREATE TEMP TABLE alt_before AS SELECT pg_temp.fs_row('ac_alt') AS row;
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"source": "SELECT user_id, ts::date AS feature_time FROM ac_raw"}')$$,
                 '42804', NULL, 'a source that does not fit the target');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"catchup_delay": "3 days", "reprocess_partitions": -1}')$$,
                 '22023', 'reprocess_partitions must be zero or positive', 'a negative reprocess_partitions');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"catchup_delay": "-1 day"}')$$,
                 '22023', NULL, 'a negative catchup_delay');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"resource_profile": "huge"}')$$,
                 '42704', NULL, 'an unknown resource profile');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"entity_columns": ["nope"]}')$$,
                 '42703', NULL, 'an entity column the target does not have');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"checks": {"min_rows": -1}}')$$,
                 '22023', 'invalid checks for feature set "ac_alt"', 'invalid checks');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"catchup_delay": "soon"}')$$,
                 '22007', NULL, 'a value that is not of the setting''s type');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"name": "ac_other"}')$$,
                 '22023', 'cannot change the name of feature set "ac_alt"', 'the name cannot change');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"reprocess_partitions": 1, "target": "ac_feat"}')$$,
                 '22023', 'cannot change the target of feature set "ac_alt"', 'the target cannot change');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"reprocess_partitions": 1, "nope": 1}')$$,
                 '22023', 'unknown setting "nope" for feature set "ac_alt"', 'an unknown setting');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"source": null}')$$,
                 '22004', NULL, 'a null source');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"catchup_delay": null}')$$,
                 '22004', NULL, 'a null catchup_delay');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"online": null}')$$,
                 '22004', NULL, 'a null online');
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_nope', '{"catchup_delay": "1 day"}')$$,
                 '42704', NULL, 'an unknown feature set');
CREATE ROLE fsb_tap_ac_other;
SET LOCAL ROLE fsb_tap_ac_other;
SELECT throws_ok($$SELECT fs_alter_feature_set('ac_alt', '{"catchup_delay": "3 days"}')$$,
                 '42501', NULL, 'a role that does not own the target cannot alter');
RESET ROLE;
SELECT is(pg_temp.fs_row('ac_alt'), (SELECT row FROM alt_before), 'no refused alteration changed anything');

------------------------------------------------------------------------------
-- catch-up from an empty feature set: [backfill_start, midnight)
------------------------------------------------------------------------------
CREATE TEMP TABLE c1 AS SELECT fs_backfill_catchup('ac') AS run_id;
SELECT is((SELECT run_id FROM c1), (pg_temp.last_run('ac')).run_id, 'catch-up returns its run id');
SELECT is((SELECT (r.start_time, r.stop_time, r.comment, r.reset)::text FROM pg_temp.last_run('ac') r),
          (SELECT (bstart, today, 'catch-up', false)::text FROM d),
          'it ran [backfill_start, today''s midnight UTC), comment catch-up');
SELECT set_eq($$SELECT user_id, feature_time, v FROM ac_feat$$,
              $$SELECT user_id, ts, v FROM ac_raw, d WHERE ts >= bstart AND ts < today$$,
              'the table holds exactly the source''s rows of that range');
SELECT is((SELECT count(*) FROM ac_feat, d WHERE feature_time >= today), 0::bigint, 'no row at or after midnight');
SELECT is((SELECT array_agg(array[range_start, range_stop] ORDER BY range_start) FROM fs_backfill._partitions('ac_feat')),
          (SELECT array_agg(array[t, t + interval '1 day'] ORDER BY t)
             FROM d, generate_series(bstart, today - interval '1 day', interval '1 day') t),
          'the five daily partitions were created');
SELECT is((SELECT array_agg(array[slice_start, slice_stop] ORDER BY slice_start) FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT run_id FROM c1)),
          (SELECT array_agg(array[t, t + interval '1 day'] ORDER BY t)
             FROM d, generate_series(bstart, today - interval '1 day', interval '1 day') t),
          'in whole-partition slices');
CREATE TEMP TABLE runs1 AS SELECT count(*) AS n FROM fs_backfill.runs;
SELECT is(fs_backfill_catchup('ac'), NULL, 'a second catch-up returns NULL');
SELECT is((SELECT count(*) FROM fs_backfill.runs), (SELECT n FROM runs1), 'and records no run');

------------------------------------------------------------------------------
-- catchup_delay, then reprocess_partitions for late rows
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_late', '{"catchup_delay": "2 days"}')$$, 'catchup_delay set to 2 days');
CREATE TEMP TABLE c2 AS SELECT fs_backfill_catchup('ac_late') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_late') r),
          (SELECT ((SELECT run_id FROM c2), bstart, today - interval '2 days')::text FROM d),
          'catch-up stops at midnight minus 2 days');
SELECT set_eq($$SELECT user_id, feature_time, v FROM ac_late_feat$$,
              $$SELECT user_id, ts, v FROM ac_raw, d WHERE ts >= bstart AND ts < today - interval '2 days'$$,
              'with exactly the source''s rows of that range');
SELECT is(fs_backfill_catchup('ac_late'), NULL, 'and is then caught up');
INSERT INTO ac_raw SELECT 99, today - interval '3 days' + interval '1 hour', 9901 FROM d;   -- last covered partition
INSERT INTO ac_raw SELECT 98, today - interval '4 days' + interval '1 hour', 9801 FROM d;   -- two partitions back
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_late', '{"catchup_delay": "0", "reprocess_partitions": 1}')$$,
                'catchup_delay back to 0, reprocess_partitions 1');
CREATE TEMP TABLE c3 AS SELECT fs_backfill_catchup('ac_late') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time, r.comment)::text FROM pg_temp.last_run('ac_late') r),
          (SELECT ((SELECT run_id FROM c3), today - interval '3 days', today, 'catch-up')::text FROM d),
          'catch-up covers [watermark - 1 day, midnight)');
SELECT is((SELECT v FROM ac_late_feat WHERE user_id = 99), 9901, 'the late row in the last covered partition is picked up');
SELECT is((SELECT count(*) FROM ac_late_feat WHERE user_id = 98), 0::bigint, 'the late row two partitions back is not');
SELECT set_eq($$SELECT user_id, feature_time, v FROM ac_late_feat$$,
              $$SELECT user_id, ts, v FROM ac_raw, d WHERE ts >= bstart AND ts < today AND user_id <> 98$$,
              'and every other row is the source''s');
-- no new whole partition is due: the last one is re-run all the same
INSERT INTO ac_raw SELECT 97, today - interval '1 day' + interval '2 hours', 9701 FROM d;   -- late, last partition
CREATE TEMP TABLE c3b AS SELECT fs_backfill_catchup('ac_late') AS run_id;
SELECT isnt((SELECT run_id FROM c3b), NULL, 'with nothing new due, catch-up still re-runs the last partition');
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_late') r),
          (SELECT ((SELECT run_id FROM c3b), today - interval '1 day', today)::text FROM d),
          'over [midnight - 1 day, midnight)');
SELECT is((SELECT v FROM ac_late_feat WHERE user_id = 97), 9701, 'a late row in the last partition is picked up');
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_late', '{"reprocess_partitions": 10}')$$,
                'reprocess_partitions beyond backfill_start');
CREATE TEMP TABLE c3c AS SELECT fs_backfill_catchup('ac_late') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_late') r),
          (SELECT ((SELECT run_id FROM c3c), bstart, today)::text FROM d),
          're-runs every partition since backfill_start, no further');
SELECT is((SELECT v FROM ac_late_feat WHERE user_id = 98), 9801, 'and picks up the late row two partitions back');
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_late', '{"reprocess_partitions": 0}')$$, 'reprocess_partitions 0');
SELECT is(fs_backfill_catchup('ac_late'), NULL, 'then, with nothing new due, catch-up does nothing');

------------------------------------------------------------------------------
-- a failed catch-up leaves the watermark where it was
------------------------------------------------------------------------------
CREATE TEMP TABLE c4 AS SELECT fs_backfill_catchup('ac_fail') AS run_id;
SELECT is((SELECT (r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_fail') r),
          (SELECT (bstart, today - interval '3 days')::text FROM d), 'registered with catchup_delay 3 days');
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_fail', '{"catchup_delay": "0", "checks": {"min_rows": 1000000}}')$$,
                'a feature-set check that must fail');
CREATE TEMP TABLE fail_before AS
SELECT (SELECT array_agg(r::text ORDER BY run_id) FROM fs_backfill.runs r WHERE feature_set = 'ac_fail') AS runs,
       (SELECT md5(string_agg(f::text, '|' ORDER BY f::text)) FROM ac_fail_feat f) AS rows,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'ac_fail_feat'::regclass) AS parts;
SELECT throws_ok($$SELECT fs_backfill_catchup('ac_fail')$$, '23514',
                 format('check min_rows failed for slice [%s+00, %s+00) of feature set "ac_fail": %s rows, limit 1000000',
                        to_char(today - interval '3 days', 'YYYY-MM-DD HH24:MI:SS'),
                        to_char(today - interval '2 days', 'YYYY-MM-DD HH24:MI:SS'),
                        (SELECT count(*) FROM ac_raw WHERE ts >= today - interval '3 days' AND ts < today - interval '2 days')),
                 'the catch-up fails its check in its first slice')
  FROM d;
SELECT is((SELECT array_agg(r::text ORDER BY run_id) FROM fs_backfill.runs r WHERE feature_set = 'ac_fail'),
          (SELECT runs FROM fail_before), 'no run was recorded');
SELECT is((SELECT md5(string_agg(f::text, '|' ORDER BY f::text)) FROM ac_fail_feat f), (SELECT rows FROM fail_before),
          'no row changed');
SELECT is((SELECT count(*) FROM pg_inherits WHERE inhparent = 'ac_fail_feat'::regclass), (SELECT parts FROM fail_before),
          'no partition was created');
SELECT lives_ok($$SELECT fs_alter_feature_set('ac_fail', '{"checks": {}}')$$, 'the check removed');
CREATE TEMP TABLE c5 AS SELECT fs_backfill_catchup('ac_fail') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_fail') r),
          (SELECT ((SELECT run_id FROM c5), today - interval '3 days', today)::text FROM d),
          'the next catch-up starts from the same watermark');
SELECT set_eq($$SELECT user_id, feature_time, v FROM ac_fail_feat$$,
              $$SELECT user_id, ts, v FROM ac_raw, d WHERE ts >= bstart AND ts < today$$,
              'and the table is the source''s rows of [backfill_start, midnight)');

------------------------------------------------------------------------------
-- the watermark: gaps and resets
------------------------------------------------------------------------------
SELECT fs_backfill('ac_gap', today - interval '2 days', today - interval '1 day') FROM d \gset
CREATE TEMP TABLE c6 AS SELECT fs_backfill_catchup('ac_gap') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_gap') r),
          (SELECT ((SELECT run_id FROM c6), bstart, today)::text FROM d),
          'a run that starts after the watermark does not move it');
SELECT fs_backfill('ac_gap', today - interval '2 days', today - interval '1 day', reset => true) FROM d \gset
CREATE TEMP TABLE c7 AS SELECT fs_backfill_catchup('ac_gap') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_gap') r),
          (SELECT ((SELECT run_id FROM c7), bstart, today)::text FROM d),
          'a reset run that starts after backfill_start moves it back to backfill_start');
SELECT fs_backfill('ac_gap', bstart, today - interval '1 day', reset => true) FROM d \gset
CREATE TEMP TABLE c8 AS SELECT fs_backfill_catchup('ac_gap') AS run_id;
SELECT is((SELECT (r.run_id, r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_gap') r),
          (SELECT ((SELECT run_id FROM c8), today - interval '1 day', today)::text FROM d),
          'a reset run from backfill_start moves it to its stop');
SELECT fs_backfill('ac_gap', bstart + interval '1 day', today - interval '1 hour') FROM d \gset
SELECT is(fs_backfill_catchup('ac_gap'), NULL, 'a run inside the covered range leaves it: nothing to catch up');
SELECT set_eq($$SELECT user_id, feature_time, v FROM ac_gap_feat$$,
              $$SELECT user_id, ts, v FROM ac_raw, d WHERE ts >= bstart AND ts < today$$,
              'and the table is the source''s rows');

-- a watermark inside a partition: catch-up starts at that partition's start
CREATE TABLE ac_mid_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('ac_mid', 'ac_mid_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM ac_raw WHERE ts >= $1 AND ts < $2$$,
    today - interval '3 days', online => false) FROM d \gset
SELECT fs_backfill('ac_mid', today - interval '3 days', today - interval '2 days' + interval '6 hours') FROM d \gset
CREATE TEMP TABLE c9 AS SELECT fs_backfill_catchup('ac_mid') AS run_id;
SELECT is((SELECT (r.start_time, r.stop_time)::text FROM pg_temp.last_run('ac_mid') r),
          (SELECT (today - interval '2 days', today)::text FROM d),
          'whole partitions: from the start of the one holding the watermark');
SELECT set_eq($$SELECT user_id, feature_time, v FROM ac_mid_feat$$,
              $$SELECT user_id, ts, v FROM ac_raw, d WHERE ts >= today - interval '3 days' AND ts < today$$,
              'and the table is the source''s rows');

SELECT * FROM finish();
ROLLBACK;
