-- Who may use a feature set: running, planning, catching up, resyncing,
-- altering and scheduling it is for its registrant and the roles with the
-- privileges of its table's owner.  A role with every table privilege but
-- neither gets 42501: it would run a source someone else wrote, with its own
-- rights.  (What the catalog shows to whom: 14_catalog_visibility.sql.)
BEGIN;
SELECT plan(21);

CREATE ROLE fsb_tap_pv_owner;
CREATE ROLE fsb_tap_pv_member IN ROLE fsb_tap_pv_owner;    -- inherits the owner's privileges
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
CREATE TEMP TABLE pv_before AS
SELECT (SELECT count(*) FROM pv.feat) AS feat_rows,
       (SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'pv') AS runs,
       (SELECT row(f.*)::text FROM fs_backfill.feature_sets f WHERE name = 'pv') AS fs_row;

------------------------------------------------------------------------------
-- a role with SELECT, INSERT and DELETE, but not the registrant nor a member
-- of the owner role, may not run someone else's source
------------------------------------------------------------------------------
SET LOCAL ROLE fsb_tap_pv_writer;
SELECT throws_ok($$SELECT fs_backfill('pv', '2025-03-01', '2025-03-02')$$, '42501',
                 'permission denied for feature set "pv"', 'the writer cannot run fs_backfill');
SELECT throws_ok($$SELECT fs_backfill('pv', timestamptz '2025-03-01', timestamptz '2025-03-02')$$, '42501',
                 'permission denied for feature set "pv"', 'nor its timestamptz form');
SELECT throws_ok($$SELECT * FROM fs_backfill_plan('pv', '2025-03-01', '2025-03-02')$$, '42501',
                 'permission denied for feature set "pv"', 'nor fs_backfill_plan');
SELECT throws_ok($$SELECT fs_backfill_catchup('pv')$$, '42501',
                 'permission denied for feature set "pv"', 'nor fs_backfill_catchup');
SELECT throws_ok($$SELECT fs_online_resync('pv')$$, '42501',
                 'permission denied for feature set "pv"', 'nor fs_online_resync');
SELECT throws_ok($$SELECT fs_alter_feature_set('pv', '{"source": "SELECT user_id, ts AS feature_time FROM pv.raw WHERE ts >= $1 AND ts < $2"}')$$,
                 '42501', 'permission denied for feature set "pv"', 'nor fs_alter_feature_set');
SELECT throws_ok($$SELECT fs_schedule_catchup('pv', '* * * * *')$$, '42501',
                 'permission denied for feature set "pv"',
                 'nor fs_schedule_catchup (refused before pg_cron is even looked for)');
SELECT throws_ok($$SELECT fs_schedule_catchup('pv_nope', '* * * * *')$$, '42704', NULL,
                 'scheduling an unknown feature set is still 42704');
RESET ROLE;
SELECT is((SELECT row(feat_rows, runs, fs_row)::text FROM pv_before),
          (SELECT row((SELECT count(*) FROM pv.feat),
                      (SELECT count(*) FROM fs_backfill.runs WHERE feature_set = 'pv'),
                      (SELECT row(f.*)::text FROM fs_backfill.feature_sets f WHERE name = 'pv'))::text),
          'and none of the refused calls changed anything');

------------------------------------------------------------------------------
-- a member of the owner role may; so may the registrant once the table went
-- to another owner
------------------------------------------------------------------------------
SET LOCAL ROLE fsb_tap_pv_member;
SELECT lives_ok($$SELECT fs_backfill('pv', '2025-03-02', '2025-03-02')$$,
                'a member of the owner role runs it');
SELECT is((SELECT count(*) FROM fs_backfill_plan('pv', '2025-03-01', '2025-03-03')), 3::bigint,
          'and plans it');
SELECT lives_ok($$SELECT fs_alter_feature_set('pv', '{"catchup_delay": "1 hour"}')$$,
                'and alters it');
SELECT lives_ok($$SELECT fs_online_resync('pv')$$, 'and resyncs it');
RESET ROLE;

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
SET LOCAL ROLE fsb_tap_pv_writer;
SELECT lives_ok($$SELECT fs_backfill('pv_w', '2025-03-03', '2025-03-03')$$,
                'the registrant runs its feature set after the table went to another owner');
SELECT throws_ok($$SELECT fs_backfill('pv', '2025-03-03', '2025-03-03')$$, '42501',
                 'permission denied for feature set "pv"', 'but still not the other one');
RESET ROLE;

-- an owner member who changes the source becomes the registrant: the one
-- before may no longer run a source it did not write (its cron job neither)
SET LOCAL ROLE fsb_tap_pv_member;
SELECT lives_ok($$SELECT fs_alter_feature_set('pv_w', '{"source": "SELECT user_id, ts AS feature_time, v + 1 AS v FROM pv.raw WHERE ts >= $1 AND ts < $2"}')$$,
                'an owner member changes the source of the writer''s feature set');
RESET ROLE;
SELECT is((SELECT created_by::text FROM fs_backfill.feature_sets WHERE name = 'pv_w'), 'fsb_tap_pv_member',
          'and is its registrant now');
SET LOCAL ROLE fsb_tap_pv_writer;
SELECT throws_ok($$SELECT fs_backfill('pv_w', '2025-03-03', '2025-03-03')$$, '42501',
                 'permission denied for feature set "pv_w"', 'the former registrant may not run a source it did not write');
RESET ROLE;
SET LOCAL ROLE fsb_tap_pv_owner;
SELECT lives_ok($$SELECT fs_alter_feature_set('pv_w', '{"catchup_delay": "1 hour", "source": "SELECT user_id, ts AS feature_time, v + 1 AS v FROM pv.raw WHERE ts >= $1 AND ts < $2"}')$$,
                'the owner alters another setting, the source given as it is');
RESET ROLE;
SELECT is((SELECT created_by::text FROM fs_backfill.feature_sets WHERE name = 'pv_w'), 'fsb_tap_pv_member',
          'keeps the registrant');

-- losing the membership loses the right
REVOKE fsb_tap_pv_owner FROM fsb_tap_pv_member;
SET LOCAL ROLE fsb_tap_pv_member;
SELECT throws_ok($$SELECT fs_backfill_catchup('pv')$$, '42501',
                 'permission denied for feature set "pv"', 'a role no longer a member cannot catch up');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
