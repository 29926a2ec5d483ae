-- Security: the caller's privileges and row-level security apply, ownership
-- is needed to register, the catalog is written only through the functions,
-- and objects planted on search_path change nothing the extension runs.
-- The writer here registered the feature set while it owned the table, which
-- then went to fsb_tap_owner: a registrant may run it, with its own rights
-- (who else may: 12_privileges.sql).
BEGIN;
SELECT plan(24);

CREATE ROLE fsb_tap_owner;
CREATE ROLE fsb_tap_writer;
CREATE ROLE fsb_tap_reader;
CREATE SCHEMA sec AUTHORIZATION fsb_tap_owner;
GRANT USAGE ON SCHEMA sec TO fsb_tap_writer, fsb_tap_reader;
SET LOCAL ROLE fsb_tap_owner;
CREATE TABLE sec.raw (user_id bigint, ts timestamptz, v int);
INSERT INTO sec.raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(0, 3) d, generate_series(1, 20) u;
CREATE TABLE sec.feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                       PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
GRANT SELECT ON sec.raw TO fsb_tap_writer, fsb_tap_reader;
RESET ROLE;
ALTER TABLE sec.feat OWNER TO fsb_tap_writer;
SET LOCAL ROLE fsb_tap_writer;
SELECT fs_create_feature_set('sec', 'sec.feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM sec.raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
RESET ROLE;
ALTER TABLE sec.feat OWNER TO fsb_tap_owner;
SET LOCAL ROLE fsb_tap_owner;
GRANT SELECT, INSERT, DELETE ON sec.feat TO fsb_tap_writer;
GRANT SELECT ON sec.feat TO fsb_tap_reader;
RESET ROLE;

-- a writer backfills with its own rights; partitions it needs belong to the owner
SET LOCAL ROLE fsb_tap_writer;
SELECT lives_ok($$SELECT fs_backfill('sec', '2025-03-01', '2025-03-02')$$,
                'a role with SELECT, INSERT and DELETE can backfill');
RESET ROLE;
SELECT is((SELECT count(*) FROM sec.feat), 40::bigint, 'and the rows are there');
SELECT is((SELECT DISTINCT relowner::regrole::text FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
            WHERE i.inhparent = 'sec.feat'::regclass), 'fsb_tap_owner',
          'partitions created for a writer are owned by the table owner');
SET LOCAL fs_backfill.swap_min_rows = 0;
SET LOCAL ROLE fsb_tap_writer;
SELECT fs_backfill('sec', '2025-03-01', '2025-03-02', strategy => 'swap') \gset
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT strategy, ',') FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)), 'delete_insert',
          'a caller who does not own the partitions never swaps them');

SET LOCAL ROLE fsb_tap_reader;
SELECT throws_ok($$SELECT fs_backfill('sec', '2025-03-01', '2025-03-02')$$, '42501', NULL,
                 'a role without INSERT and DELETE cannot backfill');
SELECT throws_ok($$SELECT fs_create_feature_set('sec2', 'sec.feat', ARRAY['user_id'], 'feature_time',
                   'SELECT user_id, ts AS feature_time FROM sec.raw', '2025-03-01')$$, '42501', NULL,
                 'a role that does not own the table cannot register it');
SELECT throws_ok($$SELECT fs_drop_feature_set('sec')$$, '42501', NULL,
                 'nor drop its feature set');
SELECT throws_ok($$INSERT INTO fs_backfill.runs (feature_set, start_time, stop_time, reset, source,
                   source_md5, resource_profile, run_by, started_at, finished_at, partitions,
                   rows_deleted, rows_inserted) VALUES ('sec', now(), now(), false, '', '', 'small',
                   'x', now(), now(), 0, 0, 0)$$, '42501', NULL, 'runs cannot be written directly');
SELECT throws_ok($$UPDATE fs_backfill.feature_sets SET source = 'SELECT 1'$$, '42501', NULL,
                 'feature sets cannot be changed directly');
SELECT throws_ok($$DELETE FROM fs_backfill.run_partitions$$, '42501', NULL,
                 'run partitions cannot be deleted directly');
SELECT throws_ok($$INSERT INTO fs_backfill.resource_profiles VALUES ('mine', '{}')$$, '42501', NULL,
                 'profiles cannot be added directly');
RESET ROLE;

-- a writer lacking DELETE, or INSERT
REVOKE DELETE ON sec.feat FROM fsb_tap_writer;
SET LOCAL ROLE fsb_tap_writer;
SELECT throws_ok($$SELECT fs_backfill('sec', '2025-03-01', '2025-03-02')$$, '42501',
                 'permission denied for table feat', 'DELETE is required');
RESET ROLE;
GRANT DELETE ON sec.feat TO fsb_tap_writer;
REVOKE INSERT ON sec.feat FROM fsb_tap_writer;
SET LOCAL ROLE fsb_tap_writer;
SELECT throws_ok($$SELECT fs_backfill('sec', '2025-03-01', '2025-03-02')$$, '42501',
                 'permission denied for table feat', 'INSERT is required');
RESET ROLE;
GRANT INSERT ON sec.feat TO fsb_tap_writer;

-- row-level security binds the writer's delete and insert
ALTER TABLE sec.feat ENABLE ROW LEVEL SECURITY;
CREATE POLICY low_users ON sec.feat TO fsb_tap_writer USING (user_id < 10) WITH CHECK (user_id < 10);
SET LOCAL ROLE fsb_tap_writer;
SELECT throws_ok($$SELECT fs_backfill('sec', '2025-03-01', '2025-03-02')$$, '42501', NULL,
                 'row-level security refuses rows the writer may not insert');
SELECT lives_ok($$SELECT fs_backfill('sec', '2025-03-01', '2025-03-02', allow_empty => true,
                   source => 'SELECT user_id, ts AS feature_time, -1 AS v FROM sec.raw
                              WHERE ts >= $1 AND ts < $2 AND user_id < 10')$$,
                'the writer replaces the rows it may see');
RESET ROLE;
SELECT is((SELECT count(*) FROM sec.feat WHERE v = -1), 18::bigint, 'those rows were replaced');
SELECT is((SELECT count(*) FROM sec.feat WHERE user_id >= 10), 22::bigint,
          'rows hidden from the writer by its policy are untouched');
ALTER TABLE sec.feat DISABLE ROW LEVEL SECURITY;

-- an attacker's search_path: planted operators, functions and temp tables
CREATE SCHEMA evil;
CREATE FUNCTION evil.yes(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.yes);
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.yes);
CREATE FUNCTION evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE FUNCTION evil.md5(text) RETURNS text LANGUAGE sql AS $$SELECT 'planted'$$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$SELECT 'epoch'::timestamptz$$;
CREATE FUNCTION evil.jsonb_each_text(jsonb, OUT key text, OUT value text) RETURNS SETOF record
    LANGUAGE sql AS $$SELECT 'work_mem', '1MB'$$;
CREATE TEMP TABLE feature_sets (name text, target regclass);
CREATE TEMP TABLE runs (run_id bigint);
CREATE FUNCTION pg_temp.under_attack() RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_temp, evil, pg_catalog, public AS $$
BEGIN
    PERFORM count(*) FROM fs_backfill_plan('sec', '2025-03-03', '2025-03-03');
    RETURN fs_backfill('sec', '2025-03-03', '2025-03-03',
                       source => 'SELECT user_id, ts AS feature_time, v FROM sec.raw
                                  WHERE tstzrange($1, $2) @> ts');
END $$;
CREATE TEMP TABLE digest_before AS
SELECT md5(string_agg(f::text, '|' ORDER BY user_id, feature_time)) AS d
  FROM sec.feat f WHERE feature_time < '2025-03-03 00:00+00';
SELECT lives_ok($$SELECT pg_temp.under_attack()$$,
                'a backfill runs with planted objects first on search_path');
SELECT is((SELECT md5(string_agg(f::text, '|' ORDER BY user_id, feature_time))
             FROM sec.feat f WHERE feature_time < '2025-03-03 00:00+00'),
          (SELECT d FROM digest_before),
          'planted comparison operators did not widen the delete');
SELECT ok((SELECT source_md5 = md5(source) AND finished_at > 'epoch'
             FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1),
          'planted md5() and clock_timestamp() were not called');
SELECT is((SELECT count(*) FROM sec.feat WHERE feature_time >= '2025-03-03 00:00+00'), 20::bigint,
          'and the backfill did its work');

-- a feature set whose table is gone: only the role that registered it drops it
SET LOCAL ROLE fsb_tap_owner;
DROP TABLE sec.feat;
SELECT throws_ok($$SELECT fs_drop_feature_set('sec')$$, '42501',
                 'must be the role that registered feature set "sec" to drop it',
                 'another role cannot drop a feature set whose table is gone');
RESET ROLE;
SET LOCAL ROLE fsb_tap_writer;
SELECT lives_ok($$SELECT fs_drop_feature_set('sec')$$,
                'the role that registered it can');
RESET ROLE;
SELECT is((SELECT count(*) FROM fs_backfill.feature_sets WHERE name = 'sec'), 0::bigint,
          'and it is gone');

SELECT * FROM finish();
ROLLBACK;
