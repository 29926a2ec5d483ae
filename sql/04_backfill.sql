-- fs_backfill: a run, what it records, and what the table holds after it.
SET datestyle = ISO;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fs_backfill;
RESET client_min_messages;
-- one NOTICE per slice; terse leaves out its DETAIL, the time it took
\set VERBOSITY terse

CREATE TABLE bf_raw (user_id bigint, ts timestamptz, clicks int);
INSERT INTO bf_raw
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', u * d
  FROM generate_series(0, 9) d, generate_series(1, 20) u;
CREATE TABLE bf_users (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                       clicks int, version int DEFAULT 1,
                       PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('bf', 'bf_users', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks FROM bf_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01');

-- the first run creates the partitions; swap is used for whole new ones
SELECT fs_backfill('bf', '2025-03-01', '2025-03-03', comment => 'first load') AS run_id;
SELECT run_id, feature_set, start_time, stop_time, reset, source_md5 = md5(source) AS md5_ok,
       resource_profile, comment, run_by = current_user AS run_by_ok, partitions,
       rows_deleted, rows_inserted, online_entities, status
  FROM fs_backfill.runs ORDER BY run_id;
SELECT run_id, partition, slice_start, slice_stop, strategy, rows_before, rows_after
  FROM fs_backfill.run_partitions ORDER BY run_id, slice_start;
SELECT tableoid::regclass AS partition, count(*), sum(clicks), min(version), max(version)
  FROM bf_users GROUP BY 1 ORDER BY 1;
\d bf_users_p20250302

-- the source changes; a partial slice is replaced in place
UPDATE bf_raw SET clicks = clicks + 1000;
SELECT fs_backfill('bf', '2025-03-02 00:10:00', '2025-03-02T00:15:00',
                   strategy => 'delete_insert', resource_profile => 'medium') AS run_id;
SELECT partition, slice_start, slice_stop, strategy, rows_before, rows_after
  FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs);
SELECT user_id, feature_time, clicks FROM bf_users
 WHERE feature_time >= '2025-03-02 00:08:00+00' AND feature_time < '2025-03-02 00:17:00+00'
 ORDER BY feature_time;

-- the timestamptz form takes computed bounds
SELECT fs_backfill('bf', timestamptz '2025-03-03 00:00+00', timestamptz '2025-03-03 00:00+00' + interval '1 day') AS run_id;
SELECT partition, strategy, rows_before, rows_after FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs);

-- reset empties every other partition
SELECT fs_backfill('bf', '2025-03-02', '2025-03-02', reset => true, allow_empty => true) AS run_id;
SELECT partition, slice_start, slice_stop, strategy, rows_before, rows_after
  FROM fs_backfill.run_partitions WHERE run_id = (SELECT max(run_id) FROM fs_backfill.runs) ORDER BY slice_start, strategy;
SELECT tableoid::regclass AS partition, count(*) FROM bf_users GROUP BY 1 ORDER BY 1;

-- coverage: per partition, the last run that wrote it
SELECT feature_set, partition, range_start, range_stop, last_run_id
  FROM fs_backfill.coverage WHERE feature_set = 'bf' ORDER BY range_start;

-- the settings of the profile lasted for the run only
SHOW work_mem;

SELECT fs_drop_feature_set('bf');
SELECT count(*) AS runs_left FROM fs_backfill.runs WHERE feature_set = 'bf';
DROP TABLE bf_raw, bf_users;
