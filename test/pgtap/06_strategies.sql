-- swap carries everything of a partition over but its rows, and is used
-- only where it is safe; delete_insert everywhere else.
BEGIN;
SELECT plan(31);
SET LOCAL fs_backfill.swap_min_rows = 0;

CREATE ROLE fsb_tap_viewer;
CREATE TABLE st_raw (user_id bigint, ts timestamptz, v int, note text, amount numeric);
INSERT INTO st_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute',
                          d, repeat(md5(u::text), 100), u * 1.005
  FROM generate_series(0, 5) d, generate_series(1, 40) u;
CREATE TABLE st_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                      note text, version int DEFAULT 7, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('st', 'st_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v, note FROM st_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('st', '2025-03-01', '2025-03-05') \gset

-- dress one partition up
ALTER TABLE st_feat DROP COLUMN version;             -- a dropped column in the parent
ALTER TABLE st_feat ADD COLUMN version int DEFAULT 7;
CREATE INDEX st_local_idx ON st_feat_p20250302 (v);
ALTER TABLE st_feat_p20250302 ADD CONSTRAINT st_v_small CHECK (v < 1000);
GRANT SELECT ON st_feat_p20250302 TO fsb_tap_viewer;
COMMENT ON TABLE st_feat_p20250302 IS 'the second day';
CREATE TEMP TABLE before AS
SELECT c.oid, c.relfilenode, c.relacl::text, c.relowner,
       (SELECT array_agg(indexrelid::regclass::text ORDER BY 1) FROM pg_index WHERE indrelid = c.oid) AS indexes,
       (SELECT array_agg(conname::text ORDER BY 1) FROM pg_constraint WHERE conrelid = c.oid) AS constraints
  FROM pg_class c WHERE c.oid = 'st_feat_p20250302'::regclass;

UPDATE st_raw SET v = v + 10;
SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap') \gset
SELECT is((SELECT strategy FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)), 'swap', 'the partition was swapped');
SELECT isnt((SELECT relfilenode FROM pg_class WHERE oid = 'st_feat_p20250302'::regclass),
            (SELECT relfilenode FROM before), 'its storage is new');
SELECT is((SELECT oid FROM pg_class WHERE relname = 'st_feat_p20250302'), (SELECT oid FROM before),
          'its OID is the same');
SELECT is((SELECT array_agg(indexrelid::regclass::text ORDER BY 1) FROM pg_index
            WHERE indrelid = 'st_feat_p20250302'::regclass), (SELECT indexes FROM before),
          'its indexes, local and inherited, are there');
SELECT ok((SELECT bool_and(indisvalid AND indisready) FROM pg_index WHERE indrelid = 'st_feat_p20250302'::regclass),
          'and valid');
SELECT is((SELECT array_agg(conname::text ORDER BY 1) FROM pg_constraint WHERE conrelid = 'st_feat_p20250302'::regclass),
          (SELECT constraints FROM before), 'its constraints are there');
SELECT is((SELECT relacl::text FROM pg_class WHERE oid = 'st_feat_p20250302'::regclass), (SELECT relacl FROM before),
          'its grants are the same');
SELECT is((SELECT relowner FROM pg_class WHERE oid = 'st_feat_p20250302'::regclass), (SELECT relowner FROM before),
          'its owner is the same');
SELECT is(obj_description('st_feat_p20250302'::regclass, 'pg_class'), 'the second day', 'its comment is the same');
SELECT is((SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a
             ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            WHERE d.adrelid = 'st_feat_p20250302'::regclass AND a.attname = 'version'), '7',
          'its defaults are the same');
SELECT set_eq($$SELECT user_id, feature_time, v, note, version FROM st_feat_p20250302$$,
              $$SELECT user_id, ts, v, note, 7 FROM st_raw WHERE ts >= '2025-03-02 00:00+00' AND ts < '2025-03-03 00:00+00'$$,
              'its rows are the source rows, long values and defaults included');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM st_feat_p20250302 WHERE v = 11), 40::bigint, 'the local index finds every row');
RESET enable_seqscan;
RESET enable_bitmapscan;

-- the rows a swap replaces are counted exactly, from all-visible pages or not
SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap') \gset
SELECT is((SELECT rows_before FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)), 40::bigint,
          'rows before a swap, counted on all-visible pages');
INSERT INTO st_feat (user_id, feature_time, v) VALUES (999, '2025-03-02 12:00+00', 1);
SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap') \gset
SELECT is((SELECT rows_before FROM fs_backfill.run_partitions
            WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)), 41::bigint,
          'and on pages that are not');

-- swap checks what INSERT would check, under the partition's own names
SELECT throws_ok($$SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap',
                   source => 'SELECT user_id, ts AS feature_time, v + 5000 AS v, note FROM st_raw WHERE ts >= $1 AND ts < $2')$$,
                 '23514', 'new row for relation "st_feat_p20250302" violates check constraint "st_v_small"',
                 'a CHECK constraint is enforced by swap');
SELECT throws_ok($$SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap',
                   source => 'SELECT NULL::bigint AS user_id, ts AS feature_time FROM st_raw WHERE ts >= $1 AND ts < $2')$$,
                 '23502', NULL, 'NOT NULL is enforced by swap');

-- where swap is not safe, delete_insert is used, and says why
CREATE FUNCTION pg_temp.last_strategies() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(strategy, ',' ORDER BY slice_start) FROM fs_backfill.run_partitions
     WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs)
$$;
SELECT fs_backfill('st', '2025-03-01 12:00:00', '2025-03-02', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert,swap', 'a partial slice is never swapped');

CREATE TABLE st_calls (n int);
CREATE FUNCTION pg_temp.count_call() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO st_calls VALUES (1); RETURN NULL; END$$;
CREATE TRIGGER st_audit AFTER INSERT ON st_feat FOR EACH ROW EXECUTE FUNCTION pg_temp.count_call();
SELECT fs_backfill('st', '2025-03-03', '2025-03-03', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a table with triggers is not swapped');
SELECT is((SELECT count(*) FROM st_calls), 40::bigint, 'and its triggers fire for every row');
DROP TRIGGER st_audit ON st_feat;

ALTER TABLE st_feat_p20250303 ENABLE ROW LEVEL SECURITY;
SELECT fs_backfill('st', '2025-03-03', '2025-03-03', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a partition with row-level security is not swapped');
ALTER TABLE st_feat_p20250303 DISABLE ROW LEVEL SECURITY;

CREATE TABLE st_ref (user_id bigint, feature_time timestamptz,
                     FOREIGN KEY (user_id, feature_time) REFERENCES st_feat);
SELECT fs_backfill('st', '2025-03-03', '2025-03-03', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a table referenced by a foreign key is not swapped');
DROP TABLE st_ref;

CREATE PUBLICATION st_pub FOR TABLE st_feat;
SELECT fs_backfill('st', '2025-03-03', '2025-03-03', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a published table is not swapped');
DROP PUBLICATION st_pub;

SELECT fs_backfill('st', '2025-03-03', '2025-03-03', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'swap', 'without them, swap is used again');

-- a column that needs coercion goes through INSERT
ALTER TABLE st_feat ADD COLUMN amount numeric(10, 2);
SELECT fs_backfill('st', '2025-03-03', '2025-03-03', strategy => 'swap',
                   source => 'SELECT user_id, ts AS feature_time, v, note, amount FROM st_raw WHERE ts >= $1 AND ts < $2') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a source whose typmod differs is not swapped');
SELECT is((SELECT amount::text FROM st_feat WHERE user_id = 3 AND feature_time >= '2025-03-03 00:00+00'
             AND feature_time < '2025-03-04 00:00+00'), '3.02', 'and its values are coerced as INSERT does');

-- a new partition made after a column was dropped has a layout of its own
SELECT fs_backfill('st', '2025-03-06', '2025-03-06', strategy => 'swap') \gset
SELECT isnt((SELECT relnatts FROM pg_class WHERE oid = 'st_feat_p20250306'::regclass),
            (SELECT relnatts FROM pg_class WHERE oid = 'st_feat'::regclass),
            'a partition created after a dropped column is laid out differently');
SELECT set_eq($$SELECT user_id, feature_time, v, note, version, amount FROM st_feat_p20250306$$,
              $$SELECT user_id, ts, v, note, 7, NULL::numeric FROM st_raw WHERE ts >= '2025-03-06 00:00+00' AND ts < '2025-03-07 00:00+00'$$,
              'swap writes each column to its place in it, defaults from the parent');

-- an omitted column of a domain type: its NULL is checked by INSERT
CREATE DOMAIN pg_temp.positive AS int CHECK (VALUE > 0);
ALTER TABLE st_feat ADD COLUMN rank pg_temp.positive;
SELECT fs_backfill('st', '2025-03-04', '2025-03-04', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a source omitting a domain column is not swapped');
ALTER TABLE st_feat DROP COLUMN rank;

-- rules are honoured by delete_insert only
CREATE TABLE st_log (n int);
CREATE RULE st_logged AS ON INSERT TO st_feat DO ALSO INSERT INTO st_log VALUES (1);
SELECT fs_backfill('st', '2025-03-04', '2025-03-04', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'a table with rules is not swapped');
DROP RULE st_logged ON st_feat;

-- auto swaps only partitions with at least swap_min_rows rows
SET LOCAL fs_backfill.swap_min_rows = 1000;
SELECT fs_backfill('st', '2025-03-04', '2025-03-04') \gset
SELECT is(pg_temp.last_strategies(), 'delete_insert', 'auto: a small partition is replaced in place');
SET LOCAL fs_backfill.swap_min_rows = 10;
SELECT fs_backfill('st', '2025-03-04', '2025-03-04') \gset
SELECT is(pg_temp.last_strategies(), 'swap', 'auto: a partition of more rows is swapped');

SELECT * FROM finish();
ROLLBACK;
