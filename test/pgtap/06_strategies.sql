-- swap carries everything of a partition over but its rows, and is used
-- only where it is safe; delete_insert everywhere else.
BEGIN;
SELECT plan(52);
SET LOCAL fs_backfill.swap_min_rows = 0;

CREATE ROLE fsb_tap_viewer;
CREATE TABLE st_raw (user_id bigint, ts timestamptz, v int, note text, amount numeric);
INSERT INTO st_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute',
                          d, (SELECT string_agg(md5(u::text || i), '') FROM generate_series(1, 100) i), u * 1.005
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
ALTER TABLE st_feat ALTER COLUMN note SET STORAGE EXTERNAL;  -- long values go to TOAST
CREATE INDEX st_local_idx ON st_feat_p20250302 (v);
CREATE INDEX st_head_idx ON st_feat_p20250302 (left(note, 8)) WITH (fillfactor = 70);
CREATE INDEX st_even_idx ON st_feat_p20250302 (user_id) WHERE user_id % 2 = 0;
CREATE INDEX st_hash_idx ON st_feat_p20250302 USING hash (note);
ALTER TABLE st_feat_p20250302 ADD CONSTRAINT st_one_per_instant
    EXCLUDE USING gist (tstzrange(feature_time, feature_time, '[]') WITH &&);
ALTER TABLE st_feat_p20250302 ADD CONSTRAINT st_v_small CHECK (v < 1000);
GRANT SELECT ON st_feat_p20250302 TO fsb_tap_viewer;
COMMENT ON TABLE st_feat_p20250302 IS 'the second day';
CREATE TEMP TABLE before AS
SELECT c.oid, c.relfilenode, c.relacl::text, c.relowner,
       (SELECT array_agg(pg_relation_filenode(indexrelid)) FROM pg_index WHERE indrelid = c.oid) AS index_filenodes,
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

-- the exchange moved storage only: each index got the storage of a copy
-- built on the new rows before the lock, the old storage went with the copies
SELECT ok((SELECT bool_and(pg_relation_filenode(indexrelid) <> ALL ((SELECT index_filenodes FROM before)::oid[]))
             FROM pg_index WHERE indrelid = 'st_feat_p20250302'::regclass), 'every index has new storage');
SELECT is((SELECT count(*) FROM pg_class
            WHERE relfilenode = ANY ((SELECT index_filenodes FROM before) || (SELECT relfilenode FROM before))),
          0::bigint, 'the old storage belongs to no relation any more');
SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'pg\_temp\_%'), 0::bigint,
          'the new heap and the index copies are gone');
SELECT is((SELECT t.relname::text FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
            WHERE c.oid = 'st_feat_p20250302'::regclass),
          'pg_toast_' || 'st_feat_p20250302'::regclass::oid, 'its TOAST table is named after it');
SELECT ok(pg_relation_size((SELECT reltoastrelid FROM pg_class WHERE oid = 'st_feat_p20250302'::regclass)) > 0,
          'and holds the long values');
SELECT is((SELECT reltuples FROM pg_class WHERE oid = 'st_feat_p20250302'::regclass), 40::real,
          'its row count is recorded');
CREATE EXTENSION amcheck;
CREATE FUNCTION pg_temp.btrees_match_heap(part regclass) RETURNS boolean LANGUAGE sql AS $$
    SELECT count(bt_index_check(i.indexrelid::regclass, true)) > 0
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
     WHERE i.indrelid = part AND a.amname = 'btree'
$$;
SELECT ok(pg_temp.btrees_match_heap('st_feat_p20250302'), 'amcheck: every btree index matches the heap, every row indexed');

-- each index, forced, returns what a sequential scan returns
CREATE FUNCTION pg_temp.plan_uses(query text, index text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF line LIKE '%' || index || '%' THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END $$;
CREATE TEMP TABLE seq_rows AS SELECT user_id, feature_time, v, left(note, 8) AS head FROM st_feat_p20250302;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT ok(pg_temp.plan_uses($$SELECT v FROM st_feat_p20250302 WHERE user_id = 7 AND feature_time = '2025-03-02 00:07+00'$$,
                            'st_feat_p20250302_pkey')
          AND (SELECT v FROM st_feat_p20250302 WHERE user_id = 7 AND feature_time = '2025-03-02 00:07+00') = 11,
          'a lookup by primary key goes through it and finds the row');
SELECT ok(pg_temp.plan_uses($$SELECT 1 FROM st_feat_p20250302 WHERE left(note, 8) = left(md5('71'), 8)$$, 'st_head_idx')
          AND (SELECT count(*) FROM st_feat_p20250302 WHERE left(note, 8) = left(md5('71'), 8)) =
              (SELECT count(*) FROM seq_rows WHERE head = left(md5('71'), 8)),
          'an index on an expression of a TOAST column finds what a sequential scan finds');
SELECT ok(pg_temp.plan_uses($$SELECT user_id FROM st_feat_p20250302 WHERE user_id % 2 = 0 AND user_id > 0$$, 'st_even_idx')
          AND (SELECT array_agg(user_id ORDER BY user_id) FROM st_feat_p20250302 WHERE user_id % 2 = 0 AND user_id > 0) =
              (SELECT array_agg(user_id ORDER BY user_id) FROM seq_rows WHERE user_id % 2 = 0),
          'so does a partial index');
SELECT ok(pg_temp.plan_uses($$SELECT 1 FROM st_feat_p20250302 WHERE note = (SELECT string_agg(md5('7' || i), '') FROM generate_series(1, 100) i)$$,
                            'st_hash_idx')
          AND (SELECT count(*) FROM st_feat_p20250302 WHERE note = (SELECT string_agg(md5('7' || i), '') FROM generate_series(1, 100) i)) = 1,
          'and a hash index on the TOAST column');
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT throws_ok($$INSERT INTO st_feat (user_id, feature_time, v) VALUES (7, '2025-03-02 00:07+00', 0)$$, '23505',
                 'duplicate key value violates unique constraint "st_feat_p20250302_pkey"',
                 'the primary key still rejects a duplicate');
SELECT throws_ok($$INSERT INTO st_feat (user_id, feature_time, v) VALUES (1000, '2025-03-02 00:07+00', 0)$$, '23P01',
                 NULL, 'the exclusion constraint still rejects an overlap');

-- what the copies' builds check, they check before the next slice is built,
-- naming the partition's index
CREATE SEQUENCE st_source_runs;
SELECT throws_ok($$SELECT fs_backfill('st', '2025-03-02', '2025-03-03', strategy => 'swap',
                   source => 'WITH run AS (SELECT nextval(''st_source_runs''))
                              SELECT user_id, ts AS feature_time, v, note FROM st_raw, run WHERE ts >= $1 AND ts < $2
                              UNION ALL
                              SELECT user_id, ts, v, note FROM st_raw WHERE ts >= $1 AND ts < $2 AND user_id = 3')$$,
                 '23505', 'could not create unique index "st_feat_p20250302_pkey"',
                 'a duplicate key fails its slice, naming the partition''s index');
SELECT is((SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM st_source_runs), 1::bigint,
          'before the next slice''s source runs');
SELECT throws_ok($$SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap',
                   source => 'SELECT user_id, ts AS feature_time, v, note FROM st_raw WHERE ts >= $1 AND ts < $2
                              UNION ALL
                              SELECT 1000, ts, v, note FROM st_raw WHERE ts >= $1 AND ts < $2 AND user_id = 3')$$,
                 '23P01', 'could not create exclusion constraint "st_one_per_instant"',
                 'an exclusion constraint is checked by swap');

-- a swap rolled back leaves the partition's storage and indexes as they were
CREATE TEMP TABLE kept AS
SELECT c.relfilenode, c.reltoastrelid,
       (SELECT array_agg(pg_relation_filenode(indexrelid) ORDER BY indexrelid) FROM pg_index WHERE indrelid = c.oid) AS index_filenodes
  FROM pg_class c WHERE c.oid = 'st_feat_p20250302'::regclass;
SAVEPOINT before_swap;
SELECT fs_backfill('st', '2025-03-02', '2025-03-02', strategy => 'swap') \gset
ROLLBACK TO SAVEPOINT before_swap;
SELECT is((SELECT ROW(c.relfilenode, c.reltoastrelid,
                      (SELECT array_agg(pg_relation_filenode(indexrelid) ORDER BY indexrelid) FROM pg_index WHERE indrelid = c.oid))::text
             FROM pg_class c WHERE c.oid = 'st_feat_p20250302'::regclass),
          (SELECT ROW(relfilenode, reltoastrelid, index_filenodes)::text FROM kept),
          'a rolled-back swap leaves the partition on its storage');
SELECT ok((SELECT bool_and(indisvalid AND indisready) FROM pg_index WHERE indrelid = 'st_feat_p20250302'::regclass)
          AND pg_temp.btrees_match_heap('st_feat_p20250302'), 'with its indexes valid and matching it');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM st_feat_p20250302 WHERE v = 11), 40::bigint, 'and finding every row');
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

-- an unlogged partition is swapped into unlogged storage, its index too
ALTER TABLE st_feat_p20250305 SET UNLOGGED;
SELECT fs_backfill('st', '2025-03-05', '2025-03-05', strategy => 'swap') \gset
SELECT is(pg_temp.last_strategies() || ' ' ||
          (SELECT string_agg(DISTINCT relpersistence::text, ',') FROM pg_class
            WHERE oid = 'st_feat_p20250305'::regclass
               OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'st_feat_p20250305'::regclass)),
          'swap u', 'an unlogged partition is swapped and stays unlogged, its index too');
SELECT ok(pg_temp.btrees_match_heap('st_feat_p20250305'), 'and its index matches it');

SELECT * FROM finish();
ROLLBACK;
