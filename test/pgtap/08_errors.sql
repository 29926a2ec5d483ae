-- Every bad input is refused with the SQLSTATE of SPEC section 7, before
-- anything is changed.
BEGIN;
SELECT plan(28);

CREATE TABLE er_raw (user_id bigint, ts timestamptz, v int);
INSERT INTO er_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(0, 2) d, generate_series(1, 10) u;
CREATE TABLE er_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int)
    PARTITION BY RANGE (feature_time);
CREATE TABLE er_list (user_id bigint, feature_time timestamptz) PARTITION BY LIST (user_id);
SELECT fs_create_feature_set('er', 'er_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM er_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('er', '2025-03-01', '2025-03-02') \gset
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT (SELECT md5(string_agg(f::text, '|' ORDER BY user_id, feature_time)) FROM er_feat f) || ' ' ||
           (SELECT count(*) FROM pg_inherits WHERE inhparent = 'er_feat'::regclass) || ' ' ||
           (SELECT count(*) FROM fs_backfill.runs) || ' ' ||
           (SELECT count(*) FROM fs_backfill.feature_sets)
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.state() AS state;

-- unknown and hostile feature-set names
SELECT throws_ok($$SELECT fs_backfill('nope')$$, '42704', NULL, 'unknown feature set');
SELECT throws_ok($$SELECT fs_backfill('er''); DROP TABLE er_feat; --')$$, '42704', NULL,
                 'a name with a quote and a semicolon is just an unknown name');
SELECT throws_ok($$SELECT fs_backfill(repeat('e', 64))$$, '42704', NULL, 'a name of 64 bytes');
SELECT throws_ok($$SELECT fs_create_feature_set('er; x', 'er_feat', ARRAY['user_id'], 'feature_time',
                   'SELECT user_id, ts AS feature_time FROM er_raw', '2025-03-01')$$, '22023', NULL,
                 'registering a hostile name is refused');
SELECT throws_ok($$SELECT fs_create_feature_set(repeat('e', 64), 'er_feat', ARRAY['user_id'], 'feature_time',
                   'SELECT user_id, ts AS feature_time FROM er_raw', '2025-03-01')$$, '22023', NULL,
                 'registering a 64-byte name is refused');
-- NULL arguments
SELECT throws_ok($$SELECT fs_backfill(NULL)$$, '22004', NULL, 'a NULL feature set');
SELECT throws_ok($$SELECT fs_backfill('er', reset => NULL)$$, '22004', NULL, 'a NULL reset');
SELECT throws_ok($$SELECT fs_create_feature_set('er2', NULL, ARRAY['user_id'], 'feature_time',
                   'SELECT 1', '2025-03-01')$$, '22004', NULL, 'a NULL target');
-- the source: one SELECT
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'SELECT 1; SELECT 2')$$, '22023', NULL,
                 'two statements');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'DELETE FROM er_feat RETURNING user_id, feature_time, v')$$,
                 '22023', NULL, 'DELETE ... RETURNING');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source =>
                   'WITH d AS (DELETE FROM er_raw RETURNING *) SELECT user_id, ts AS feature_time, v FROM d')$$,
                 '22023', NULL, 'a data-modifying WITH');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'SELECT user_id, ts AS feature_time INTO er_x FROM er_raw')$$,
                 '22023', NULL, 'SELECT INTO');
-- a source that locks what it reads would block the writers of its tables
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source =>
                   'SELECT user_id, ts AS feature_time, v FROM er_raw WHERE ts >= $1 AND ts < $2 FOR UPDATE')$$,
                 '22023', 'source of feature set "er" must be a single SELECT statement', 'FOR UPDATE');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source =>
                   'SELECT * FROM (SELECT user_id, ts AS feature_time, v FROM er_raw FOR SHARE) s')$$,
                 '22023', NULL, 'FOR SHARE in a subquery');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source =>
                   'WITH r AS (SELECT * FROM er_raw FOR KEY SHARE) SELECT user_id, ts AS feature_time, v FROM r')$$,
                 '22023', NULL, 'FOR KEY SHARE in WITH');
SELECT throws_ok($$SELECT fs_create_feature_set('er_lock', 'er_feat', ARRAY['user_id'], 'feature_time',
                   'SELECT user_id, ts AS feature_time FROM er_raw WHERE user_id IN (SELECT user_id FROM er_raw FOR NO KEY UPDATE)',
                   '2025-03-01')$$, '22023', NULL, 'FOR NO KEY UPDATE in a sublink, at registration');
-- the source: its columns
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'SELECT ts AS feature_time, v FROM er_raw')$$,
                 '42804', NULL, 'a missing key column');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'SELECT user_id, v FROM er_raw')$$,
                 '42804', NULL, 'a missing time column');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'SELECT user_id, ts::date AS feature_time FROM er_raw')$$,
                 '42804', NULL, 'a time column of the wrong type');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', source => 'SELECT user_id, ts AS feature_time, v::bigint AS v FROM er_raw')$$,
                 '42804', NULL, 'a value column of the wrong type');
-- a source row outside its slice, for each strategy
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', '2025-03-01', source => 'SELECT user_id, ts AS feature_time, v FROM er_raw')$$,
                 '23514', NULL, 'a row outside its slice (auto)');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', '2025-03-01', strategy => 'swap',
                   source => 'SELECT user_id, ts AS feature_time, v FROM er_raw')$$,
                 '23514', NULL, 'a row outside its slice (swap)');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', '2025-03-01', strategy => 'delete_insert',
                   source => 'SELECT user_id, ts AS feature_time, v FROM er_raw')$$,
                 '23514', NULL, 'a row outside its slice (delete_insert)');
-- the target
SELECT throws_ok($$SELECT fs_create_feature_set('er2', 'er_list', ARRAY['user_id'], 'feature_time',
                   'SELECT user_id, ts AS feature_time FROM er_raw', '2025-03-01')$$, '42809', NULL,
                 'a table not partitioned by range on its time column');
SELECT throws_ok($$SELECT fs_create_feature_set('er2', 'er_feat', ARRAY['user_id'], 'v',
                   'SELECT user_id, ts AS feature_time FROM er_raw', '2025-03-01')$$, '42804', NULL,
                 'a time column that is not timestamptz');
SELECT throws_ok($$SELECT fs_create_feature_set('er2', 'er_feat', ARRAY['nope'], 'feature_time',
                   'SELECT user_id, ts AS feature_time FROM er_raw', '2025-03-01')$$, '42703', NULL,
                 'an entity column the table does not have');
SELECT throws_ok($$SELECT fs_backfill('er', '2025-03-01', strategy => 'fast')$$, '22023', NULL,
                 'an unknown strategy');

SELECT is(pg_temp.state(), (SELECT state FROM before), 'nothing changed');

SELECT * FROM finish();
ROLLBACK;
