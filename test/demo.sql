-- make demo: a real backfill on sample data, in a throw-away cluster.
\pset footer off
SET datestyle = ISO;
SET TimeZone = 'UTC';
CREATE EXTENSION fs_backfill;

-- Raw events, and the feature table the online model reads: one row per user per hour.
CREATE TABLE events (user_id bigint, at timestamptz, clicks int, spend numeric);
INSERT INTO events
SELECT u, timestamptz '2025-03-01 00:00+00' + (i * 3889 % (9 * 86400)) * interval '1 second',
       1 + i % 5, round((i % 100) * 0.37, 2)
  FROM generate_series(1, 500) u, generate_series(1, 200) i;

CREATE TABLE user_features (
    user_id      bigint NOT NULL,
    feature_time timestamptz NOT NULL,
    clicks_1h    int,
    spend_1h     numeric,
    PRIMARY KEY (user_id, feature_time)
) PARTITION BY RANGE (feature_time);

SELECT fs_create_feature_set('users', 'user_features', ARRAY['user_id'], 'feature_time',
  $$SELECT user_id, date_trunc('hour', at) AS feature_time,
           sum(clicks)::int AS clicks_1h, sum(spend) AS spend_1h
      FROM events WHERE at >= $1 AND at < $2
     GROUP BY 1, 2$$,
  backfill_start => '2025-03-01');

-- What would a backfill of March 1-7 do?  (Nothing exists yet: partitions get created.)
SELECT * FROM fs_backfill_plan('users', '2025-03-01', '2025-03-07');

-- Do it: seven days, one transaction.
SELECT fs_backfill('users', '2025-03-01', '2025-03-07', comment => 'initial load') AS run_id;
SELECT run_id, start_time, stop_time, partitions, rows_deleted, rows_inserted, status
  FROM fs_backfill.runs;

-- A pipeline bug: March 3 lost its spend.  Find it, fix it.
UPDATE user_features SET spend_1h = NULL
 WHERE feature_time >= '2025-03-03 00:00+00' AND feature_time < '2025-03-04 00:00+00';
ANALYZE user_features;   -- plans estimate rows from statistics
SELECT date_trunc('day', feature_time)::date AS day, count(*) AS rows,
       count(spend_1h) AS with_spend
  FROM user_features GROUP BY 1 ORDER BY 1;

SELECT * FROM fs_backfill_plan('users', '2025-03-03', '2025-03-03');
SELECT fs_backfill('users', '2025-03-03', '2025-03-03', comment => 'fix March 3') AS run_id;
SELECT date_trunc('day', feature_time)::date AS day, count(*) AS rows,
       count(spend_1h) AS with_spend
  FROM user_features GROUP BY 1 ORDER BY 1;

SELECT partition, slice_start, slice_stop, strategy, rows_before, rows_after, duration
  FROM fs_backfill.run_partitions WHERE run_id = 2;
ANALYZE user_features;
SELECT feature_set, partition, rows_estimate, last_run_id FROM fs_backfill.coverage ORDER BY range_start;

-- Checks gate every slice before it replaces anything: a source that lost
-- most of a day fails min_rows, and nothing changes.
SELECT fs_alter_feature_set('users', '{"checks": {"min_rows": 5000, "unique_key": true}}');
\set ON_ERROR_STOP 0
SELECT fs_backfill('users', '2025-03-03', '2025-03-03',
  source => $$SELECT user_id, date_trunc('hour', at) AS feature_time,
                     sum(clicks)::int AS clicks_1h, sum(spend) AS spend_1h
                FROM events WHERE at >= $1 AND at < $2 AND user_id < 100
               GROUP BY 1, 2$$);
\set ON_ERROR_STOP 1
SELECT count(*) AS runs FROM fs_backfill.runs;
-- Running backfills, from any session (none now): phase, slices done, rows.
SELECT * FROM fs_backfill_progress();

-- Big backfills: a staged run builds its slices in background workers, two
-- at a time here, and publishes them in one short transaction.  With
-- publish => 'manual' it stops at staged, to be looked at before it goes live.
SELECT fs_alter_feature_set('users', '{"checks": {}}');
SELECT fs_backfill_stage('users', '2025-03-01', '2025-03-07', parallel => 2,
                         publish => 'manual', comment => 'the week again') AS run \gset
SELECT fs_backfill_wait(:run);
SELECT slice, partition, staged, rows FROM fs_backfill.staged_relations(:run);
SELECT fs_backfill_publish(:run);
SELECT run_id, status, partitions, rows_inserted, comment FROM fs_backfill.runs WHERE run_id = :run;
-- The same from the shell, with the command-line client (piped: one line
-- per slice; on a terminal, a progress bar):
\echo '$ fs-backfill -d postgres backfill --feature-set users --start-time 2025-03-05 --stop-time 2025-03-06 --comment \'from the shell\''
\! "$(pg_config --bindir)/fs-backfill" -d postgres backfill --feature-set users --start-time 2025-03-05 --stop-time 2025-03-06 --comment 'from the shell'

-- The online cache: the worker pushed each touched user's latest row to
-- Redis once the backfills committed.  Wait for it to drain the queue.
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM fs_backfill.online_queue);
    COMMIT;
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT feature_set, pending, pushed, last_error FROM fs_backfill.online_status;
SELECT redis, pushed, last_error FROM fs_backfill.worker_status();
SELECT * FROM user_features WHERE user_id = 42 ORDER BY feature_time DESC LIMIT 1;
