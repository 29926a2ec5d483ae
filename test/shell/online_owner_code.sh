#!/usr/bin/env bash
# A table owner cannot become superuser through fs_backfill: code the owner
# wrote (a domain's CHECK on a key column, casts of a key type of its own to
# and from text) never runs with more rights than the owner's, in the
# backfill that queues entities nor in the online worker that reads their
# latest rows.  Each trap tries ALTER ROLE ... SUPERUSER and records who ran
# it; the entities still reach Redis.
DB=postgres
. "$(dirname "$0")/lib.sh"

q >/dev/null 2>&1 <<'SQL'
DROP EXTENSION IF EXISTS fs_backfill CASCADE;
DROP SCHEMA IF EXISTS mal CASCADE;
DROP OWNED BY mallory;
DROP ROLE IF EXISTS mallory;
SQL
empty_redis
# pg_virtualenv's clients log in with a password: give mallory the same
q -c "CREATE EXTENSION fs_backfill" -c "CREATE ROLE mallory LOGIN PASSWORD '${PGPASSWORD:-unused}'" \
  -c "CREATE SCHEMA mal AUTHORIZATION mallory" >/dev/null
PGUSER=mallory q >/dev/null <<'SQL'
SET search_path = mal, public;
CREATE TABLE ran (who name, what text);
CREATE FUNCTION trap(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mal.ran VALUES (current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
END $$;

-- a key of a domain whose CHECK calls the trap
CREATE FUNCTION id_ok(v bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.trap('domain check'); RETURN v > 0; END $$;
CREATE DOMAIN uid AS bigint CHECK (mal.id_ok(VALUE));

-- a key of a type of its own, with casts to and from text that call it
CREATE TYPE mood AS ENUM ('calm', 'angry');
CREATE FUNCTION mood_text(m mood) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.trap('cast to text'); RETURN format('%s', m); END $$;
CREATE FUNCTION text_mood(t text) RETURNS mood LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.trap('cast from text');
      RETURN (SELECT m FROM unnest(enum_range(NULL::mal.mood)) m WHERE format('%s', m) = t); END $$;
CREATE CAST (mood AS text) WITH FUNCTION mood_text(mood);
CREATE CAST (text AS mood) WITH FUNCTION text_mood(text);

CREATE TABLE raw (id bigint, ts timestamptz, v int);
INSERT INTO raw VALUES (1, '2025-03-01 10:00+00', 10), (2, '2025-03-01 11:00+00', 20);
CREATE TABLE f_dom (id uid NOT NULL, feature_time timestamptz NOT NULL, v int,
                    PRIMARY KEY (id, feature_time)) PARTITION BY RANGE (feature_time);
CREATE TABLE f_enm (id mood NOT NULL, feature_time timestamptz NOT NULL, v int,
                    PRIMARY KEY (id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('dom', 'f_dom', ARRAY['id'], 'feature_time',
    $$SELECT id::mal.uid AS id, ts AS feature_time, v FROM mal.raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SELECT fs_create_feature_set('enm', 'f_enm', ARRAY['id'], 'feature_time',
    $$SELECT (enum_range(NULL::mal.mood))[id] AS id, ts AS feature_time, v
        FROM mal.raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SQL
is "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" "f" "mallory is no superuser"

PGUSER=mallory q -c "SELECT fs_backfill('dom', '2025-03-01', '2025-03-01')" \
                 -c "SELECT fs_backfill('enm', '2025-03-01', '2025-03-01')" >/dev/null
ok $? "mallory backfills both feature sets"
wait_drained 30; ok $? "the worker drained the queue"
is "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" "f" "mallory is still no superuser"
is "$(q -c "SELECT coalesce(string_agg(DISTINCT who || ': ' || what, ', '), 'nobody')
              FROM mal.ran WHERE who <> 'mallory'")" "nobody" "no trap ran as another role"
is "$(rcli hget fs:dom:1 v) $(rcli hget fs:dom:2 v)" "10 20" "the domain-keyed entities reached Redis"
is "$(rcli hget fs:enm:calm v) $(rcli hget fs:enm:angry v)" "10 20" "the enum-keyed entities reached Redis"

# a resync queues every entity: the keys are read as their owner there too
PGUSER=mallory q -c "SELECT fs_online_resync('enm')" >/dev/null
wait_drained 30; ok $? "a resync drained"
is "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" "f" "mallory is still no superuser after the resync"
is "$(q -c "SELECT count(*) FROM mal.ran WHERE who <> 'mallory'")" "0" "no trap ran as another role in it"

q >/dev/null 2>&1 <<'SQL'
DROP EXTENSION fs_backfill CASCADE;
DROP SCHEMA mal CASCADE;
DROP ROLE mallory;
SQL
done_testing
