-- Partition bounds read from the catalogs (before anything built the table's
-- partition descriptor in this backend) equal those of the descriptor (after
-- a query on the table built it): MINVALUE and MAXVALUE, infinite values,
-- times before 2000, gaps, a partition attached from an older table, other
-- relations between the partitions, a partition that is itself
-- partitioned, one detached, a timestamptz(3) column; a default partition
-- holds no range, and plans refuse it whenever it appears.
BEGIN;
SELECT plan(11);
SET LOCAL TimeZone = 'UTC';

CREATE TABLE bd_attached (user_id bigint NOT NULL, feature_time timestamptz NOT NULL);
CREATE TABLE bd_ms (user_id bigint NOT NULL, feature_time timestamptz(3) NOT NULL)
    PARTITION BY RANGE (feature_time);
CREATE TABLE bd_ms_a PARTITION OF bd_ms
    FOR VALUES FROM ('2025-03-01 00:00:00.123+00') TO ('2025-03-02 00:00+00');
CREATE TABLE bd_raw (user_id bigint, ts timestamptz);
CREATE TABLE bd_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL)
    PARTITION BY RANGE (feature_time);
CREATE TABLE bd_late PARTITION OF bd_feat FOR VALUES FROM ('2025-03-05 00:00+00') TO ('2025-03-06 00:00+00');
CREATE TABLE bd_later PARTITION OF bd_feat FOR VALUES FROM ('2025-03-06 00:00+00') TO ('infinity');
CREATE TABLE bd_last PARTITION OF bd_feat FOR VALUES FROM ('infinity') TO (MAXVALUE);
CREATE TABLE bd_between (x int PRIMARY KEY);
CREATE TABLE bd_0302 PARTITION OF bd_feat
    FOR VALUES FROM ('2025-03-02 00:00+00') TO ('2025-03-03 00:00+00');
CREATE TABLE bd_early PARTITION OF bd_feat FOR VALUES FROM (MINVALUE) TO ('-infinity');
CREATE TABLE bd_old PARTITION OF bd_feat FOR VALUES FROM ('-infinity') TO ('1999-12-31 12:34:56.789+00');
CREATE TABLE bd_older PARTITION OF bd_feat
    FOR VALUES FROM ('1999-12-31 12:34:56.789+00') TO ('2025-03-01 00:00+00');
CREATE TABLE bd_sub PARTITION OF bd_feat
    FOR VALUES FROM ('2025-03-03 00:00+00') TO ('2025-03-04 00:00+00')
    PARTITION BY RANGE (feature_time);
CREATE TABLE bd_sub_a PARTITION OF bd_sub
    FOR VALUES FROM ('2025-03-03 00:00+00') TO ('2025-03-04 00:00+00');
CREATE TABLE bd_gone PARTITION OF bd_feat
    FOR VALUES FROM ('2025-03-04 00:00+00') TO ('2025-03-04 12:00+00');
ALTER TABLE bd_feat DETACH PARTITION bd_gone;
ALTER TABLE bd_feat ATTACH PARTITION bd_attached
    FOR VALUES FROM ('2025-03-04 12:00+00') TO ('2025-03-05 00:00+00');
SELECT fs_create_feature_set('bd', 'bd_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM bd_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset

CREATE TEMP TABLE want_partitions (partition regclass, range_start timestamptz, range_stop timestamptz);
INSERT INTO want_partitions VALUES
    ('bd_early', '-infinity', '-infinity'),
    ('bd_old', '-infinity', '1999-12-31 12:34:56.789+00'),
    ('bd_older', '1999-12-31 12:34:56.789+00', '2025-03-01 00:00+00'),
    ('bd_0302', '2025-03-02 00:00+00', '2025-03-03 00:00+00'),
    ('bd_sub', '2025-03-03 00:00+00', '2025-03-04 00:00+00'),
    ('bd_attached', '2025-03-04 12:00+00', '2025-03-05 00:00+00'),
    ('bd_late', '2025-03-05 00:00+00', '2025-03-06 00:00+00'),
    ('bd_later', '2025-03-06 00:00+00', 'infinity'),
    ('bd_last', 'infinity', 'infinity');
CREATE TEMP TABLE want_plan (partition regclass, slice_start timestamptz, slice_stop timestamptz,
                             creates_partition boolean);
INSERT INTO want_plan VALUES
    (NULL, '2025-03-01 00:00+00', '2025-03-02 00:00+00', true),
    ('bd_0302', '2025-03-02 00:00+00', '2025-03-03 00:00+00', false),
    ('bd_sub', '2025-03-03 00:00+00', '2025-03-04 00:00+00', false),
    (NULL, '2025-03-04 00:00+00', '2025-03-04 12:00+00', true),
    ('bd_attached', '2025-03-04 12:00+00', '2025-03-05 00:00+00', false),
    ('bd_late', '2025-03-05 00:00+00', '2025-03-06 00:00+00', false);

-- each use runs the function again
CREATE TEMP VIEW got_partitions AS SELECT * FROM fs_backfill._partitions('bd_feat');
CREATE TEMP VIEW got_plan AS
    SELECT partition, slice_start, slice_stop, creates_partition
      FROM fs_backfill_plan('bd', '2025-03-01', '2025-03-05');

-- from the catalogs: the ATTACH above dropped the descriptor it had built
SELECT results_eq('SELECT * FROM got_partitions',
                  'SELECT * FROM want_partitions',
                  'bounds from the catalogs, in order');
SELECT results_eq('SELECT * FROM got_plan',
                  'SELECT * FROM want_plan',
                  'a plan from the catalogs');
SELECT is((SELECT count(*) FROM fs_backfill_plan('bd', '2025-02-27', '2025-03-05', reset => true)
            WHERE strategy = 'delete'), 3::bigint,
          'reset deletes outside the interval in the three partitions that reach out of it');

SELECT results_eq($$SELECT * FROM fs_backfill._partitions('bd_ms')$$,
                  $$VALUES ('bd_ms_a'::regclass, timestamptz '2025-03-01 00:00:00.123+00',
                            timestamptz '2025-03-02 00:00+00')$$,
                  'bounds of a timestamptz(3) column');

-- from the descriptor, which planning a query on the table builds
SELECT is((SELECT count(*) FROM bd_feat), 0::bigint, 'a query on the table');
SELECT results_eq('SELECT * FROM got_partitions',
                  'SELECT * FROM want_partitions',
                  'the same bounds from the partition descriptor');
SELECT results_eq('SELECT * FROM got_plan',
                  'SELECT * FROM want_plan',
                  'the same plan from the partition descriptor');

-- a default partition, attached after registration, is refused; once
-- detached or dropped, planning works again
CREATE TABLE bd_default PARTITION OF bd_feat DEFAULT;
SELECT results_eq('SELECT * FROM got_partitions',
                  'SELECT * FROM want_partitions',
                  'a default partition holds no range');
SELECT throws_ok($$SELECT * FROM fs_backfill_plan('bd', '2025-03-01', '2025-03-05')$$,
                 '42809', 'table "bd_feat" has a default partition',
                 'a default partition is refused');
ALTER TABLE bd_feat DETACH PARTITION bd_default;
SELECT results_eq('SELECT * FROM got_plan',
                  'SELECT * FROM want_plan',
                  'detached, it is gone');
ALTER TABLE bd_feat ATTACH PARTITION bd_default DEFAULT;
DROP TABLE bd_default;
SELECT results_eq('SELECT * FROM got_plan',
                  'SELECT * FROM want_plan',
                  'dropped, it is gone');

SELECT * FROM finish();
ROLLBACK;
