-- Registering feature sets: what is accepted and every way it is refused.
SET datestyle = ISO;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fs_backfill;
RESET client_min_messages;

CREATE TABLE fs_raw (user_id bigint, ts timestamptz, clicks int, score float8, label text);
CREATE TABLE fs_users (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                       clicks int, score float8, PRIMARY KEY (user_id, feature_time))
    PARTITION BY RANGE (feature_time);

SELECT fs_create_feature_set('users', 'fs_users', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, clicks, score FROM fs_raw
       WHERE ts >= $1 AND ts < $2$$,
    '2025-01-01');
SELECT name, target, entity_columns, time_column, backfill_start, partition_interval,
       online, online_ttl, checks, resource_profile, catchup_delay, reprocess_partitions
  FROM fs_backfill.feature_sets;

-- a subset of the value columns is fine; so is a trailing semicolon
SELECT fs_create_feature_set('users_clicks', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time, clicks FROM fs_raw WHERE ts >= $1 AND ts < $2;',
    '2025-01-01', partition_interval => '1 hour', resource_profile => 'medium');

-- names
SELECT fs_create_feature_set('users', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('Users', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('x"; DROP TABLE fs_users; --', 'fs_users', ARRAY['user_id'],
    'feature_time', 'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set(repeat('a', 64), 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('9lives', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');

-- NULL arguments
SELECT fs_create_feature_set(NULL, 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    NULL, '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', NULL);
SELECT fs_create_feature_set('n', 'fs_users', ARRAY[NULL], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');

-- the target
CREATE TABLE fs_by_list (user_id bigint, feature_time timestamptz) PARTITION BY LIST (user_id);
CREATE TABLE fs_by_other (user_id bigint, feature_time timestamptz, t2 timestamptz)
    PARTITION BY RANGE (t2);
CREATE TABLE fs_with_default (user_id bigint, feature_time timestamptz)
    PARTITION BY RANGE (feature_time);
CREATE TABLE fs_with_default_d PARTITION OF fs_with_default DEFAULT;
CREATE TABLE fs_plain_ts (user_id bigint, feature_time timestamp);
CREATE VIEW fs_view AS SELECT * FROM fs_raw;
SELECT fs_create_feature_set('n', 'fs_by_list', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_by_other', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_with_default', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_plain_ts', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts::timestamp AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_view', ARRAY['user_id'], 'ts',
    'SELECT user_id, ts FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_no_such_table', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');

-- key and time columns
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['nope'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id', 'user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', '{}', 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'clicks',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');

-- the source: one SELECT, with the target's names and types
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw; SELECT 1', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'DELETE FROM fs_raw RETURNING user_id, ts AS feature_time', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'WITH d AS (DELETE FROM fs_raw RETURNING *) SELECT user_id, ts AS feature_time FROM d',
    '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time INTO fs_copy FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    '', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw WHERE', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM no_such_table', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT ts AS feature_time, clicks FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, clicks FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id::int AS user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time, label FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time, clicks, clicks FROM fs_raw', '2025-01-01');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw WHERE ts < $3', '2025-01-01');

-- settings
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01',
    partition_interval => '1 month 1 day');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01',
    partition_interval => '-1 day');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', 'infinity');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01',
    resource_profile => 'huge');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01',
    online_ttl => '0');
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01',
    reprocess_partitions => -1);
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01',
    checks => '[]');

-- ownership: registering needs the table's owner
CREATE ROLE fsb_regress_stranger;
GRANT SELECT, INSERT, DELETE ON fs_users TO fsb_regress_stranger;
GRANT SELECT ON fs_raw TO fsb_regress_stranger;
SET ROLE fsb_regress_stranger;
SELECT fs_create_feature_set('n', 'fs_users', ARRAY['user_id'], 'feature_time',
    'SELECT user_id, ts AS feature_time FROM fs_raw', '2025-01-01');
SELECT fs_drop_feature_set('users');
-- and the catalog cannot be written around the functions
INSERT INTO fs_backfill.feature_sets (name, target, entity_columns, time_column, source,
    backfill_start, created_by)
VALUES ('sneaky', 'fs_users', '{user_id}', 'feature_time', 'SELECT 1', now(), 'x');
DELETE FROM fs_backfill.feature_sets;
UPDATE fs_backfill.runs SET status = 'failed';
TRUNCATE fs_backfill.run_partitions;
SELECT count(*) FROM fs_backfill.feature_sets;
RESET ROLE;

-- nothing was stored by any of the failed calls
SELECT name FROM fs_backfill.feature_sets ORDER BY name;

SELECT fs_drop_feature_set('users_clicks');
SELECT fs_drop_feature_set('users_clicks');
SELECT fs_drop_feature_set(NULL);
SELECT name FROM fs_backfill.feature_sets ORDER BY name;

SELECT fs_drop_feature_set('users');
DROP OWNED BY fsb_regress_stranger;
DROP ROLE fsb_regress_stranger;
DROP VIEW fs_view;
DROP TABLE fs_raw, fs_users, fs_by_list, fs_by_other, fs_with_default, fs_plain_ts;
