-- Staged runs (SPEC section 8), what a transaction that never commits can
-- show: the run and its slices are recorded in the caller's transaction,
-- one slice per partition the interval overlaps, all pending; bad arguments
-- are refused with the usual SQLSTATEs.  (Builders start at commit: the
-- shell tests test/shell/stage_*.sh cover what they do.)
BEGIN;
SELECT plan(16);

-- five days of twenty users; the feature table has their shape and a key
CREATE TABLE st_raw AS
SELECT u::bigint AS user_id, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute' AS ts, d AS v
  FROM generate_series(0, 4) d, generate_series(1, 20) u;
CREATE TABLE st_feat (user_id bigint, feature_time timestamptz, v int) PARTITION BY RANGE (feature_time);
ALTER TABLE st_feat ADD PRIMARY KEY (user_id, feature_time);
SELECT fs_create_feature_set('st', 'st_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM st_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('st', '2025-03-01', '2025-03-03') \gset

SELECT fs_backfill_stage('st', '2025-03-02 06:00:00', '2025-03-04 18:00:00', comment => 'tap') AS run \gset
SELECT ok(:run > 0, 'fs_backfill_stage returns a run id');
SELECT is((SELECT status FROM fs_backfill.runs WHERE run_id = :run), 'staging',
          'the run is recorded in the caller''s transaction, staging');
SELECT is((SELECT comment FROM fs_backfill.runs WHERE run_id = :run), 'tap', 'with its comment');
SELECT results_eq(
    $$SELECT slice_start, slice_stop, status, attempts FROM fs_backfill.run_slices
       WHERE run_id = $$ || :run || $$ ORDER BY slice$$,
    $$VALUES (timestamptz '2025-03-02 06:00+00', timestamptz '2025-03-03 00:00+00', 'pending', 0),
             (timestamptz '2025-03-03 00:00+00', timestamptz '2025-03-04 00:00+00', 'pending', 0),
             (timestamptz '2025-03-04 00:00+00', timestamptz '2025-03-04 18:00+00', 'pending', 0)$$,
    'one pending slice per partition the interval overlaps, cut at its bounds');
SELECT is((SELECT count(*) FROM fs_backfill.run_slices WHERE run_id = :run AND staged_relation IS NOT NULL),
          0::bigint, 'nothing is staged before commit');
SELECT ok(fs_backfill_stage('st', timestamptz '2025-03-01', timestamptz '2025-03-02') > :run,
          'the timestamptz overload stages too');

-- bad arguments
SELECT throws_ok($$SELECT fs_backfill_stage('st_nope')$$, '42704', NULL, 'an unknown feature set: 42704');
SELECT throws_ok($$SELECT fs_backfill_stage('st', '2025-03-01', '2025-03-02', parallel => 0)$$,
                 '22023', NULL, 'parallel => 0: 22023');
SELECT throws_ok($$SELECT fs_backfill_stage('st', '2025-03-01', '2025-03-02', retries => -1)$$,
                 '22023', NULL, 'retries => -1: 22023');
SELECT throws_ok($$SELECT fs_backfill_stage('st', '2025-03-01', '2025-03-02', publish => 'later')$$,
                 '22023', NULL, 'publish => ''later'': 22023');
SELECT throws_ok($$SELECT fs_backfill_stage('st', '2025-03-03', '2025-03-01')$$,
                 '22023', NULL, 'a reversed interval: 22023');
SELECT throws_ok($$SELECT fs_backfill_stage('st', 'yesterday')$$, '22007', NULL, 'bad time text: 22007');
SELECT throws_ok($$SELECT fs_backfill_stage('st', '2025-03-01', '2025-03-02',
                      source => 'SELECT user_id FROM st_raw WHERE ts >= $1 AND ts < $2')$$,
                 '42804', NULL, 'a source with wrong columns: 42804');
SELECT throws_ok($$SELECT fs_backfill_publish(-1)$$, '42704', NULL, 'publish of an unknown run: 42704');
SELECT throws_ok($$SELECT fs_backfill_publish($$ || :run || $$)$$, '55000', NULL,
                 'publish of a run still staging: 55000');
SELECT throws_ok($$SELECT fs_backfill_wait(-1)$$, '42704', NULL, 'wait for an unknown run: 42704');

SELECT * FROM finish();
ROLLBACK;
