-- fs_backfill: staged runs as a psql user sees them: staging, waiting,
-- inspecting, publishing, refusals, cancel and resume.
SET datestyle = ISO;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fs_backfill;
RESET client_min_messages;
\set VERBOSITY default

CREATE TABLE sg_raw (user_id bigint, ts timestamptz, clicks int);
INSERT INTO sg_raw
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', u * d
  FROM generate_series(0, 9) d, generate_series(1, 20) u;
CREATE TABLE sg_users (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                       clicks int, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('sg', 'sg_users', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks FROM sg_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01', online => false);
SET fs_backfill.swap_min_rows = 0;
-- run ids show in messages: start them where earlier tests cannot move them
SELECT setval('fs_backfill.runs_run_id_seq', 100, false) IS NOT NULL AS numbered;

-- stage three days and a half, publish as soon as staged
SELECT fs_backfill_stage('sg', '2025-03-01', '2025-03-04 12:00:00', comment => 'first load') AS run \gset
SELECT fs_backfill_wait(:run);
SELECT feature_set, start_time, stop_time, comment, partitions, rows_deleted, rows_inserted,
       status, finished_at IS NOT NULL AS finished
  FROM fs_backfill.runs WHERE run_id = :run;
SELECT slice, partition, slice_start, slice_stop, strategy, status, attempts, rows_before, rows,
       staged_relation
  FROM fs_backfill.run_slices WHERE run_id = :run ORDER BY slice;
SELECT partition, strategy, rows_before, rows_after
  FROM fs_backfill.run_partitions WHERE run_id = :run ORDER BY slice_start;
SELECT tableoid::regclass AS partition, count(*), sum(clicks) FROM sg_users GROUP BY 1 ORDER BY 1;

-- a manual publish: the run waits at staged, its rows readable for inspection
UPDATE sg_raw SET clicks = clicks + 1000;
SELECT fs_backfill_stage('sg', '2025-03-02', '2025-03-03', publish => 'manual', parallel => 1) AS run \gset
SELECT fs_backfill_wait(:run);
SELECT slice, partition, slice_start, slice_stop, staged::text ~ '^fs_backfill_stage_' AS named, rows
  FROM fs_backfill.staged_relations(:run);
SELECT slice, (xpath('/row/c/text()', query_to_xml(format('SELECT sum(clicks) AS c FROM %s', staged),
                                                    false, true, '')))[1]::text AS staged_clicks
  FROM fs_backfill.staged_relations(:run);
SELECT sum(clicks) AS published_clicks FROM sg_users WHERE feature_time < '2025-03-03';
-- a second run over the same days is refused while this one is under way
SELECT fs_backfill_stage('sg', '2025-03-03', '2025-03-05');
SELECT fs_backfill_publish(:run);
SELECT status, rows_deleted, rows_inserted FROM fs_backfill.runs WHERE run_id = :run;
SELECT count(*) AS staged_left FROM pg_class WHERE relname LIKE 'fs_backfill_stage%';
SELECT sum(clicks) AS published_clicks FROM sg_users WHERE feature_time < '2025-03-03';
SELECT fs_backfill_publish(:run);
SELECT fs_backfill_cancel(:run);

-- a write into a staged partition makes publish refuse; resume builds it again
SELECT fs_backfill_stage('sg', '2025-03-05', '2025-03-05', publish => 'manual') AS run \gset
SELECT fs_backfill_wait(:run);
INSERT INTO sg_users VALUES (99, '2025-03-05 12:00+00', 1);
SELECT fs_backfill_publish(:run);
SELECT count(*) FROM sg_users WHERE user_id = 99;
SELECT fs_backfill_resume(:run);
SELECT fs_backfill_wait(:run);
SELECT slice, status, attempts FROM fs_backfill.run_slices WHERE run_id = :run;
SELECT fs_backfill_publish(:run);
SELECT count(*) FROM sg_users WHERE user_id = 99;

-- a run staged in a savepoint starts with the transaction, even after a
-- sibling savepoint rolled back; waiting for it before the commit is refused
BEGIN;
SAVEPOINT a;
SELECT fs_backfill_stage('sg', '2025-03-06', '2025-03-06', publish => 'manual') AS run \gset
RELEASE SAVEPOINT a;
SAVEPOINT b;
SELECT 1 / 0;
ROLLBACK TO SAVEPOINT b;
SELECT fs_backfill_wait(:run);
ROLLBACK TO SAVEPOINT b;
COMMIT;
SELECT fs_backfill_wait(:run, '60 s');
-- a partition detached after staging is not published into
ALTER TABLE sg_users DETACH PARTITION sg_users_p20250306;
SELECT fs_backfill_publish(:run);
ALTER TABLE sg_users ATTACH PARTITION sg_users_p20250306
    FOR VALUES FROM ('2025-03-06 00:00+00') TO ('2025-03-07 00:00+00');
-- only the role that staged a run may resume it
CREATE ROLE fsb_regress_other LOGIN;
SET ROLE fsb_regress_other;
SELECT fs_backfill_resume(:run);
RESET ROLE;
DROP ROLE fsb_regress_other;
SELECT fs_backfill_cancel(:run);

-- a transaction that staged a run cannot be prepared: nothing would start it
BEGIN;
SELECT fs_backfill_stage('sg', '2025-03-09', '2025-03-09') IS NOT NULL AS staged;
PREPARE TRANSACTION 'fsb_staged';
SELECT count(*) AS runs_of_the_day FROM fs_backfill.runs WHERE start_time = '2025-03-09';

-- a run whose coordinator was stopped: wait says so, resume takes it up
SELECT fs_backfill_stage('sg', '2025-03-07', '2025-03-07', publish => 'manual',
    source => $$SELECT user_id, ts AS feature_time, clicks FROM sg_raw, pg_sleep(1)
                 WHERE ts >= $1 AND ts < $2$$) AS run \gset
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'fs_backfill stage coordinator');
    PERFORM pg_sleep(0.05);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END $$;
SELECT count(pg_terminate_backend(pid)) AS stopped
  FROM pg_stat_activity WHERE backend_type = 'fs_backfill stage coordinator';
SELECT fs_backfill_wait(:run);
SELECT fs_backfill_resume(:run);
SELECT fs_backfill_wait(:run, '60 s');
SELECT fs_backfill_cancel(:run);

-- cancel drops what was staged
SELECT fs_backfill_stage('sg', '2025-03-06', '2025-03-07', publish => 'manual') AS run \gset
SELECT fs_backfill_wait(:run);
SELECT fs_backfill_cancel(:run);
SELECT status FROM fs_backfill.runs WHERE run_id = :run;
SELECT slice, status, staged_relation FROM fs_backfill.run_slices WHERE run_id = :run;
SELECT count(*) AS staged_left FROM pg_class WHERE relname LIKE 'fs_backfill_stage%';
SELECT fs_backfill_cancel(:run);
SELECT fs_backfill_wait(:run, '1 s');

-- bad input: clear errors, nothing recorded
SELECT count(*) AS runs_before FROM fs_backfill.runs \gset
SELECT fs_backfill_stage('nope');
SELECT fs_backfill_stage('sg', '2025-03-01', 'March 2');
SELECT fs_backfill_stage('sg', '2025-03-01', '2025-03-02', parallel => 0);
SELECT fs_backfill_stage('sg', '2025-03-01', '2025-03-02', retries => -1);
SELECT fs_backfill_stage('sg', '2025-03-01', '2025-03-02', publish => 'later');
SELECT fs_backfill_publish(123456);
SELECT fs_backfill_cancel(123456);
SELECT fs_backfill_resume(NULL);
SELECT fs_backfill_wait(123456);
CREATE ROLE fsb_regress_nologin NOLOGIN;
SET ROLE fsb_regress_nologin;
SELECT fs_backfill_stage('sg', '2025-03-01', '2025-03-02');
RESET ROLE;
SELECT count(*) - :runs_before AS new_runs FROM fs_backfill.runs;
-- a failed check fails the run and names the slice
SELECT fs_backfill_stage('sg', '2025-03-08', '2025-03-08', checks => '{"min_rows": 1000}') AS run \gset
SELECT fs_backfill_wait(:run);
SELECT slice, status, attempts, error FROM fs_backfill.run_slices WHERE run_id = :run;
SELECT status, error FROM fs_backfill.runs JOIN fs_backfill.staged_runs USING (run_id) WHERE run_id = :run;
SELECT fs_backfill_cancel(:run);

SELECT fs_drop_feature_set('sg');
DROP TABLE sg_users, sg_raw;
DROP ROLE fsb_regress_nologin;
