-- What the catalog shows to whom: a role sees only the feature sets it
-- registered, may SELECT from, or owns (as a member of the owner role), with
-- their runs, slices, online state, coverage and online status; queued
-- entity keys only when it may read the table's rows, row-level security
-- included.  worker_status() keeps the Redis state and last error (they name
-- the endpoint) to superusers and pg_monitor.
BEGIN;
SELECT plan(21);

CREATE ROLE fsb_tap_pv_owner;
CREATE ROLE fsb_tap_pv_writer;                             -- every table privilege, no membership
CREATE ROLE fsb_tap_pv_reader;                             -- SELECT on the table only
CREATE ROLE fsb_tap_pv_stranger;                           -- nothing
CREATE ROLE fsb_tap_pv_monitor IN ROLE pg_monitor;
CREATE SCHEMA pv AUTHORIZATION fsb_tap_pv_owner;
GRANT USAGE ON SCHEMA pv TO fsb_tap_pv_writer, fsb_tap_pv_reader, fsb_tap_pv_stranger;

SET LOCAL ROLE fsb_tap_pv_owner;
CREATE TABLE pv.raw (user_id bigint, ts timestamptz, v int);
INSERT INTO pv.raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(0, 2) d, generate_series(1, 10) u;
CREATE TABLE pv.feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                      PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
GRANT SELECT ON pv.raw TO fsb_tap_pv_writer, fsb_tap_pv_reader;
GRANT SELECT, INSERT, DELETE ON pv.feat TO fsb_tap_pv_writer;
GRANT SELECT ON pv.feat TO fsb_tap_pv_reader;
SELECT fs_create_feature_set('pv', 'pv.feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM pv.raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
SELECT fs_backfill('pv', '2025-03-01', '2025-03-02') \gset
RESET ROLE;
-- a second feature set, registered by the writer while it owned the table
ALTER TABLE pv.feat OWNER TO fsb_tap_pv_writer;
SET LOCAL ROLE fsb_tap_pv_writer;
SELECT fs_create_feature_set('pv_w', 'pv.feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM pv.raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    online => false) \gset
RESET ROLE;
ALTER TABLE pv.feat OWNER TO fsb_tap_pv_owner;
SET LOCAL ROLE fsb_tap_pv_owner;
GRANT SELECT, INSERT, DELETE ON pv.feat TO fsb_tap_pv_writer;
RESET ROLE;
-- the worker drains another database: these stay queued; and an error of its own
INSERT INTO fs_backfill.online_state (feature_set, last_error) VALUES ('pv', 'pv failed');
SELECT ok((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'pv') > 0,
          'the backfill queued entities (seen by a superuser)');

------------------------------------------------------------------------------
-- the catalog: a stranger sees none of it
------------------------------------------------------------------------------
SET LOCAL ROLE fsb_tap_pv_stranger;
SELECT is((SELECT count(*) FROM fs_backfill.feature_sets WHERE name LIKE 'pv%'), 0::bigint,
          'a stranger sees no feature set (nor its source)');
SELECT is((SELECT count(*) FROM fs_backfill.runs WHERE feature_set LIKE 'pv%'), 0::bigint,
          'no run (nor the source it ran)');
SELECT is((SELECT count(*) FROM fs_backfill.run_partitions WHERE partition::text LIKE 'pv.%'), 0::bigint,
          'no run partition');
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set LIKE 'pv%'), 0::bigint,
          'no queued entity key');
SELECT is((SELECT count(*) FROM fs_backfill.online_state WHERE feature_set LIKE 'pv%'), 0::bigint,
          'no online state');
SELECT is((SELECT count(*) FROM fs_backfill.coverage WHERE feature_set LIKE 'pv%'), 0::bigint,
          'no coverage');
SELECT is((SELECT count(*) FROM fs_backfill.online_status WHERE feature_set LIKE 'pv%'), 0::bigint,
          'no online status');
SELECT is((SELECT redis FROM fs_backfill.worker_status()), NULL,
          'worker_status() keeps the Redis state from it');
SELECT is((SELECT last_error FROM fs_backfill.worker_status()), NULL,
          'and the last error, which names the endpoint');
RESET ROLE;

------------------------------------------------------------------------------
-- a reader of the table sees the feature set; its queued keys only while no
-- row-level security filters the table for it
------------------------------------------------------------------------------
SET LOCAL ROLE fsb_tap_pv_reader;
SELECT is((SELECT count(*) FROM fs_backfill.feature_sets WHERE name LIKE 'pv%'), 2::bigint,
          'a role that may SELECT from the table sees its feature sets');
SELECT ok((SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'pv') > 0, 'their runs');
SELECT ok((SELECT count(*) FROM fs_backfill.run_partitions WHERE partition::text LIKE 'pv.%') > 0,
          'their run partitions');
SELECT ok((SELECT count(*) FROM fs_backfill.coverage WHERE feature_set = 'pv') > 0, 'their coverage');
SELECT is((SELECT last_error FROM fs_backfill.online_status WHERE feature_set = 'pv'), 'pv failed',
          'their online status');
SELECT ok((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'pv') > 0,
          'and their queued entity keys');
RESET ROLE;
ALTER TABLE pv.feat ENABLE ROW LEVEL SECURITY;
CREATE POLICY low ON pv.feat TO fsb_tap_pv_reader USING (user_id < 5);
SET LOCAL ROLE fsb_tap_pv_reader;
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'pv'), 0::bigint,
          'but no key of a table whose row-level security applies to it');
SELECT ok((SELECT pending FROM fs_backfill.online_status WHERE feature_set = 'pv') = 0,
          'nor counts them pending');
RESET ROLE;
ALTER TABLE pv.feat DISABLE ROW LEVEL SECURITY;

------------------------------------------------------------------------------
-- the owner sees what it owns, the registrant what it registered; pg_monitor
-- sees the worker's state
------------------------------------------------------------------------------
SET LOCAL ROLE fsb_tap_pv_owner;
SELECT is((SELECT count(*) FROM fs_backfill.feature_sets WHERE name LIKE 'pv%'), 2::bigint,
          'the owner sees the feature sets of its table');
RESET ROLE;
REVOKE SELECT ON pv.feat FROM fsb_tap_pv_writer;
SET LOCAL ROLE fsb_tap_pv_writer;
SELECT is((SELECT string_agg(name, ',') FROM fs_backfill.feature_sets WHERE name LIKE 'pv%'), 'pv_w',
          'a registrant that may not read the table sees the one it registered');
RESET ROLE;
SET LOCAL ROLE fsb_tap_pv_monitor;
SELECT isnt((SELECT redis FROM fs_backfill.worker_status()), NULL,
            'a member of pg_monitor sees the Redis state');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
