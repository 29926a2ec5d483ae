-- fs_backfill's errors: each names the object, carries the right SQLSTATE,
-- and is raised before anything changes.
SET datestyle = ISO;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fs_backfill;
-- errors only: the NOTICEs of successful slices carry their times
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE er_raw (user_id bigint, ts timestamptz, clicks int);
INSERT INTO er_raw
SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', u
  FROM generate_series(0, 4) d, generate_series(1, 10) u;
CREATE TABLE er_users (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, clicks int,
                       PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('er', 'er_users', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks FROM er_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01');
SELECT fs_backfill('er', '2025-03-01', '2025-03-04');
CREATE FUNCTION er_state() RETURNS text LANGUAGE sql AS $$
    SELECT format('%s rows, %s partitions, %s runs',
                  (SELECT count(*) FROM er_users),
                  (SELECT count(*) FROM pg_inherits WHERE inhparent = 'er_users'::regclass),
                  (SELECT count(*) FROM fs_backfill.runs))
$$;
SELECT er_state();

\echo unknown or hostile feature set names (42704)
SELECT fs_backfill('nope');
SELECT fs_backfill('er''; DROP TABLE er_users; --');
SELECT fs_backfill(repeat('x', 100));
SELECT * FROM fs_backfill_plan('nope');

\echo bad time text (22007)
SELECT fs_backfill('er', '2025-3-1');
SELECT fs_backfill('er', '2025-03-01 00:00');
SELECT fs_backfill('er', '2025-03-01T00:00:00Z');
SELECT fs_backfill('er', '2025-03-01 00:00:00+02');
SELECT fs_backfill('er', 'yesterday');
SELECT fs_backfill('er', 'infinity');
SELECT fs_backfill('er', '2025-02-29');
SELECT fs_backfill('er', '2025-04-31');
SELECT fs_backfill('er', '2025-13-01');
SELECT fs_backfill('er', '2025-03-01 24:00:00');
SELECT fs_backfill('er', '2025-03-01 23:60:00');
SELECT fs_backfill('er', '0000-01-01');
SELECT fs_backfill('er', '2025-03-01', 'now');
SELECT * FROM fs_backfill_plan('er', '2025-03-01', '03/07/2025');

\echo reversed or empty interval, infinite bounds (22023)
SELECT fs_backfill('er', '2025-03-05', '2025-03-01');
SELECT fs_backfill('er', '2025-03-01 12:00:00', '2025-03-01 12:00:00');
SELECT fs_backfill('er', timestamptz '2025-03-02', timestamptz '2025-03-01');
SELECT fs_backfill('er', timestamptz '-infinity', timestamptz '2025-03-01');
SELECT fs_backfill('er', timestamptz '2025-03-01', timestamptz 'infinity');

\echo NULL arguments (22004)
SELECT fs_backfill(NULL);
SELECT fs_backfill('er', reset => NULL);
SELECT fs_backfill('er', strategy => NULL);
SELECT fs_backfill('er', allow_empty => NULL);
SELECT * FROM fs_backfill_plan(NULL);

\echo other arguments
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', strategy => 'fastest');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', resource_profile => 'huge');

\echo checks: malformed ones are refused up front (22023), a failed one is 23514
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '[1]');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"min_row": 1}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"min_rows": -1}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"min_rows": 5, "max_rows": 4}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"max_null_fraction": {"nope": 0.1}}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"max_null_fraction": {"clicks": 2}}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"unique_key": "yes"}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"max_drift": {"feature_time": 0.1}}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"max_drift": {"clicks": -1}}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"min_rows": 1000}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"max_rows": 1}');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02', checks => '{"max_drift": {"clicks": 0.5}}',
                   source => 'SELECT user_id, ts AS feature_time, clicks * 2 AS clicks FROM er_raw WHERE ts >= $1 AND ts < $2');

\echo a source override that is not one SELECT, or does not fit (22023, 42804)
SELECT fs_backfill('er', '2025-03-01', '2025-03-02',
                   source => 'DELETE FROM er_users RETURNING user_id, feature_time');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02',
                   source => 'SELECT 1; DROP TABLE er_users');
SELECT fs_backfill('er', '2025-03-01', '2025-03-02',
                   source => 'SELECT user_id, ts AS feature_time, clicks::text AS clicks FROM er_raw');

\echo a source row outside its slice (23514)
SELECT fs_backfill('er', '2025-03-01', '2025-03-02',
                   source => 'SELECT user_id, ts AS feature_time, clicks FROM er_raw');
SELECT fs_backfill('er', '2025-03-02', '2025-03-02', strategy => 'delete_insert',
                   source => $$SELECT user_id, ts + interval '1 day' AS feature_time, clicks
                                FROM er_raw WHERE ts >= $1 AND ts < $2$$);
SELECT fs_backfill('er', '2025-03-02', '2025-03-02', strategy => 'delete_insert',
                   source => $$SELECT user_id, NULL::timestamptz AS feature_time, clicks
                                FROM er_raw WHERE ts >= $1 AND ts < $2$$);

\echo an empty source does not wipe a slice by accident (23514)
SELECT fs_backfill('er', '2025-03-02', '2025-03-02',
                   source => $$SELECT user_id, ts AS feature_time, clicks FROM er_raw WHERE false$$);
SELECT fs_backfill('er', '2025-03-02', '2025-03-02', strategy => 'delete_insert',
                   source => $$SELECT user_id, ts AS feature_time, clicks FROM er_raw WHERE false$$);

\echo duplicate keys from the source (23505)
SELECT fs_backfill('er', '2025-03-02', '2025-03-02', strategy => 'swap',
                   source => $$SELECT user_id, ts AS feature_time, clicks FROM er_raw
                                WHERE ts >= $1 AND ts < $2
                               UNION ALL
                               SELECT user_id, ts, clicks FROM er_raw
                                WHERE ts >= $1 AND ts < $2 AND user_id = 3$$);

\echo privileges (42501)
CREATE ROLE fsb_regress_reader;
GRANT SELECT ON er_users, er_raw TO fsb_regress_reader;
-- a feature set is for its registrant and the owner's members, whatever
-- table privileges a role has (the roles' names, in full, once)
CREATE ROLE fsb_regress_owner;
CREATE TABLE er_owned (user_id bigint NOT NULL, feature_time timestamptz NOT NULL);
ALTER TABLE er_owned OWNER TO fsb_regress_owner;
GRANT SELECT ON er_raw TO fsb_regress_owner;
SET ROLE fsb_regress_owner;
SELECT fs_create_feature_set('er_owned', 'er_owned', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM er_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
GRANT SELECT, INSERT, DELETE ON er_owned TO fsb_regress_reader;
SET ROLE fsb_regress_reader;
SELECT fs_backfill('er_owned', '2025-03-01', '2025-03-02');
RESET ROLE;
SELECT fs_drop_feature_set('er_owned');
DROP TABLE er_owned;
DROP OWNED BY fsb_regress_owner;
DROP ROLE fsb_regress_owner;
GRANT INSERT, DELETE ON er_users TO fsb_regress_reader;
SET ROLE fsb_regress_reader;
\set VERBOSITY terse
SELECT fs_backfill('er', '2025-03-01', '2025-03-02');
SELECT * FROM fs_backfill_plan('er');
SELECT fs_backfill_catchup('er');
SELECT fs_alter_feature_set('er', '{"catchup_delay": "1 day"}');
SELECT fs_online_resync('er');
SELECT fs_schedule_catchup('er', '* * * * *');
\set VERBOSITY default
RESET ROLE;
REVOKE INSERT, DELETE ON er_users FROM fsb_regress_reader;
-- the reader registers its own while it owns the table, which then goes back
SELECT current_user AS er_owner \gset
ALTER TABLE er_users OWNER TO fsb_regress_reader;
SET ROLE fsb_regress_reader;
SELECT fs_create_feature_set('er_reader', 'er_users', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks FROM er_raw WHERE ts >= $1 AND ts < $2$$,
    '2025-03-01', online => false);
RESET ROLE;
ALTER TABLE er_users OWNER TO :"er_owner";
GRANT SELECT ON er_users TO fsb_regress_reader;
SET ROLE fsb_regress_reader;
SELECT fs_backfill('er_reader', '2025-03-01', '2025-03-02');
RESET ROLE;
GRANT INSERT ON er_users TO fsb_regress_reader;
SET ROLE fsb_regress_reader;
SELECT fs_backfill('er_reader', '2025-03-01', '2025-03-02');
RESET ROLE;
REVOKE SELECT ON er_raw FROM fsb_regress_reader;
GRANT DELETE ON er_users TO fsb_regress_reader;
SET ROLE fsb_regress_reader;
SELECT fs_backfill('er_reader', '2025-03-01', '2025-03-02', strategy => 'delete_insert');
RESET ROLE;
SELECT fs_drop_feature_set('er_reader');

\echo the target went away (42P01)
CREATE TABLE er_gone (user_id bigint, feature_time timestamptz);
SELECT fs_create_feature_set('er_gone', 'er_gone', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time FROM er_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
DROP TABLE er_gone;
SELECT fs_backfill('er_gone', '2025-03-01', '2025-03-02');
SELECT fs_drop_feature_set('er_gone');

\echo catch-up, alteration and scheduling: NULLs, unknown names, no pg_cron here
SELECT fs_backfill_catchup(NULL);
SELECT fs_backfill_catchup('nope');
SELECT fs_alter_feature_set(NULL, '{}');
SELECT fs_alter_feature_set('er', NULL);
SELECT fs_alter_feature_set('nope', '{}');
SELECT fs_alter_feature_set('er', '[]');
SELECT fs_alter_feature_set('er', '{"name": "other"}');
SELECT fs_alter_feature_set('er', '{"backfil_start": "2025-01-01"}');
SELECT fs_alter_feature_set('er', '{"online": null}');
SELECT fs_alter_feature_set('er', '{"resource_profile": "huge"}');
SELECT fs_alter_feature_set('er', '{"partition_interval": "0"}');
SELECT fs_schedule_catchup(NULL, '* * * * *');
SELECT fs_schedule_catchup('er', NULL);
SELECT fs_schedule_catchup('nope', '* * * * *');
SELECT fs_schedule_catchup('er', '* * * * *');
SELECT fs_unschedule_catchup(NULL);
SELECT fs_unschedule_catchup('er');
SELECT count(*) FROM fs_backfill_progress();

\echo after all that, nothing changed
SELECT er_state();

SELECT fs_drop_feature_set('er');
DROP OWNED BY fsb_regress_reader;
DROP ROLE fsb_regress_reader;
DROP FUNCTION er_state();
DROP TABLE er_raw, er_users;
