-- The online queue: a backfill queues, in its own transaction, exactly the
-- entities whose latest row lies in its interval before or after it.
BEGIN;
SELECT plan(16);

CREATE TABLE oq_raw (user_id bigint, ts timestamptz, v int);
-- users 1-5 have rows on March 1-3; user 6 also on March 9 (newer data)
INSERT INTO oq_raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(0, 2) d, generate_series(1, 6) u;
INSERT INTO oq_raw VALUES (6, '2025-03-09 00:00+00', 9);
CREATE TABLE oq_feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                      PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('oq', 'oq_feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM oq_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01') \gset
CREATE FUNCTION pg_temp.queued() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(entity[1] || '@' || guard_ts, ' ' ORDER BY entity[1]::bigint), '')
      FROM fs_backfill.online_queue WHERE feature_set = 'oq'
$$;

SELECT fs_backfill('oq', '2025-03-09', '2025-03-09') \gset
DELETE FROM fs_backfill.online_queue WHERE feature_set = 'oq';   -- as if pushed
SELECT is(pg_temp.queued(), '', 'the queue starts empty');

SAVEPOINT s;
SELECT fs_backfill('oq', '2025-03-01', '2025-03-03') \gset
ROLLBACK TO SAVEPOINT s;
SELECT is(pg_temp.queued(), '', 'a rolled-back backfill queues nothing');

SELECT fs_backfill('oq', '2025-03-01', '2025-03-03') \gset
SELECT is(pg_temp.queued(),
          '1@2025-03-04T00:00:00.000000Z 2@2025-03-04T00:00:00.000000Z 3@2025-03-04T00:00:00.000000Z '
          '4@2025-03-04T00:00:00.000000Z 5@2025-03-04T00:00:00.000000Z',
          'entities whose latest row is in the interval are queued, guarded by the run''s stop; not user 6, whose latest row is newer');
SELECT is((SELECT online_entities FROM fs_backfill.runs ORDER BY run_id DESC LIMIT 1), 5::bigint,
          'the run counts them');
SELECT is((SELECT count(DISTINCT run_id) FROM fs_backfill.online_queue WHERE feature_set = 'oq'), 1::bigint,
          'and they carry its run id');
SELECT is((SELECT run_id FROM fs_backfill.online_queue WHERE feature_set = 'oq' LIMIT 1),
          (SELECT max(run_id) FROM fs_backfill.runs), 'its run id');

-- an entity whose rows all left the interval is queued too (it had its latest row there)
DELETE FROM oq_raw WHERE user_id = 2;
DELETE FROM fs_backfill.online_queue WHERE feature_set = 'oq';
SELECT fs_backfill('oq', '2025-03-03', '2025-03-03', allow_empty => true) \gset
SELECT ok(pg_temp.queued() LIKE '%2@2025-03-04T00:00:00.000000Z%',
          'an entity whose latest row left the interval is queued');

-- a backfill of old days does not queue an entity with newer rows
DELETE FROM fs_backfill.online_queue WHERE feature_set = 'oq';
SELECT fs_backfill('oq', '2025-03-01', '2025-03-01') \gset
SELECT is(pg_temp.queued(), '', 'a backfill of old days queues no entity whose latest row is later');

-- pending entries merge: one per entity, with the latest guard
SELECT fs_backfill('oq', '2025-03-02', '2025-03-03') \gset
SELECT fs_backfill('oq', '2025-03-03', '2025-03-03') \gset
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'oq'), 5::bigint,
          'two runs queue each entity once');
SELECT fs_backfill('oq', '2025-03-03', '2025-03-05') \gset
SELECT is((SELECT guard_ts FROM fs_backfill.online_queue WHERE feature_set = 'oq' AND entity = '{1}'),
          '2025-03-06T00:00:00.000000Z', 'with the latest guard');

-- reset and resync queue every entity, with a guard that always writes
DELETE FROM fs_backfill.online_queue WHERE feature_set = 'oq';
SELECT fs_backfill('oq', '2025-03-01', '2025-03-01', reset => true) \gset
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'oq'
             AND guard_ts = '9999-12-31T23:59:59.999999Z'), 5::bigint,
          'a reset queues every entity it had');
DELETE FROM fs_backfill.online_queue WHERE feature_set = 'oq';
SELECT is(fs_online_resync('oq'), 5::bigint, 'fs_online_resync queues every entity');
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'oq' AND run_id IS NULL),
          5::bigint, 'without a run');

-- offline feature sets queue nothing
CREATE TABLE oq_off (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int)
    PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('oq_off', 'oq_off', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM oq_raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01',
    online => false) \gset
SELECT fs_backfill('oq_off', '2025-03-01', '2025-03-03') \gset
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'oq_off'), 0::bigint,
          'an offline feature set queues nothing');
SELECT throws_ok($$SELECT fs_online_resync('oq_off')$$, '55000', NULL, 'and cannot be resynced');

SELECT fs_drop_feature_set('oq') \gset
SELECT is((SELECT count(*) FROM fs_backfill.online_queue WHERE feature_set = 'oq'), 0::bigint,
          'dropping a feature set empties its queue');

SELECT * FROM finish();
ROLLBACK;
