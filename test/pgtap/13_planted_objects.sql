-- An attacker's search_path (the pg_pathman CVE-2020-14350 pattern): a role
-- without privileges plants, in a schema of its own put first on
-- search_path, operators, functions and aggregates shadowing those of
-- pg_catalog that SQL written by fs_backfill could resolve, and temporary
-- tables shadowing its catalog tables and PostgreSQL's.  Every planted
-- function records that it ran and tries ALTER ROLE ... SUPERUSER.  Then
-- that role, and a superuser, each with the attacker's search_path, run
-- every user-facing function on a feature set of their own, and read the
-- views.  Nothing planted may run, the role stays a plain role, and the
-- results are right.  05_security.sql has the first, smaller version of
-- this (planted comparison operators, md5, clock_timestamp, jsonb_each_text).
--
-- Two search_paths: the usual attack, "fsb_attacker, pg_temp, public", where
-- pg_catalog is still searched first (so only better-matching signatures
-- win: =(oid, regclass), unnest(text[]), count(bigint) ...), and the worst
-- case, "pg_temp, fsb_attacker, pg_catalog, public", where every planted
-- object wins.  The sources are written with OPERATOR(pg_catalog.x): a
-- source runs with the caller's search_path by design, and this test is
-- about the SQL fs_backfill writes around it.
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

CREATE ROLE fsb_attacker;
CREATE SCHEMA fsb_attacker AUTHORIZATION fsb_attacker;
GRANT USAGE ON SCHEMA fsb_attacker TO PUBLIC;
-- a schema of the attacker's and one of the superuser's, each with a feature table
CREATE SCHEMA fsb_atk AUTHORIZATION fsb_attacker;
CREATE SCHEMA fsb_adm;
CREATE TEMP TABLE d AS
SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days' AS bstart;
GRANT SELECT ON d TO PUBLIC;

SET LOCAL ROLE fsb_attacker;
CREATE TABLE fsb_attacker.sprung (what text, by_role name DEFAULT current_user);
GRANT INSERT ON fsb_attacker.sprung TO PUBLIC;
CREATE FUNCTION fsb_attacker.spring(what text) RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO fsb_attacker.sprung (what) VALUES (what);
    BEGIN
        ALTER ROLE fsb_attacker SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
END $$;

-- operators: fsb_attacker.<op>(left, right), answering as pg_catalog's do
DO $do$
DECLARE
    o record;
    n int := 0;
BEGIN
    FOR o IN SELECT * FROM (VALUES
        ('=', 'bigint', 'bigint'), ('=', 'integer', 'integer'), ('=', 'bigint', 'integer'),
        ('>', 'bigint', 'integer'), ('>', 'bigint', 'bigint'), ('<', 'bigint', 'bigint'),
        ('=', 'text', 'text'), ('<>', 'text', 'text'), ('~', 'text', 'text'),
        ('=', 'name', 'name'), ('=', 'name', 'text'), ('=', 'text', 'name'),
        ('=', 'text[]', 'text[]'), ('@>', 'text[]', 'text[]'),
        ('>=', 'timestamptz', 'timestamptz'), ('<', 'timestamptz', 'timestamptz'),
        ('<=', 'timestamptz', 'timestamptz'), ('>', 'timestamptz', 'timestamptz'),
        ('=', 'timestamptz', 'timestamptz'), ('<>', 'timestamptz', 'timestamptz'),
        ('=', 'oid', 'oid'), ('=', 'oid', 'regclass'), ('=', 'regclass', 'oid'),
        ('=', 'regclass', 'regclass'), ('<', 'real', 'integer'), ('=', 'tid', 'tid'),
        ('=', 'jsonb', 'jsonb'), ('?', 'jsonb', 'text'), ('->>', 'jsonb', 'text'))
      AS t(op, l, r)
    LOOP
        n := n + 1;
        EXECUTE format($f$
            CREATE FUNCTION fsb_attacker.op_%s(a %s, b %s) RETURNS %s LANGUAGE plpgsql
                SET search_path = pg_catalog, pg_temp AS $b$
            BEGIN
                PERFORM fsb_attacker.spring(%L);
                RETURN a OPERATOR(pg_catalog.%s) b;
            END $b$$f$, n, o.l, o.r, CASE WHEN o.op = '->>' THEN 'text' ELSE 'boolean' END,
            format('%s(%s, %s)', o.op, o.l, o.r), o.op);
        EXECUTE format('CREATE OPERATOR fsb_attacker.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = fsb_attacker.op_%s)',
                       o.op, o.l, o.r, n);
    END LOOP;
END $do$;

-- functions: fsb_attacker.<name>(args), answering as pg_catalog's do
DO $do$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT * FROM (VALUES
        ('now', '', 'timestamptz', 'pg_catalog.now()'),
        ('clock_timestamp', '', 'timestamptz', 'pg_catalog.clock_timestamp()'),
        ('statement_timestamp', '', 'timestamptz', 'pg_catalog.statement_timestamp()'),
        ('transaction_timestamp', '', 'timestamptz', 'pg_catalog.transaction_timestamp()'),
        ('md5', 'a text', 'text', 'pg_catalog.md5(a)'),
        ('quote_ident', 'a text', 'text', 'pg_catalog.quote_ident(a)'),
        ('quote_literal', 'a text', 'text', 'pg_catalog.quote_literal(a)'),
        ('lower', 'a text', 'text', 'pg_catalog.lower(a)'),
        ('upper', 'a text', 'text', 'pg_catalog.upper(a)'),
        ('jsonb_typeof', 'a jsonb', 'text', 'pg_catalog.jsonb_typeof(a)'),
        ('set_config', 'a text, b text, c boolean', 'text', 'pg_catalog.set_config(a, b, c)'),
        ('current_setting', 'a text', 'text', 'pg_catalog.current_setting(a)'),
        ('to_regclass', 'a text', 'regclass', 'pg_catalog.to_regclass(a)'),
        ('to_regprocedure', 'a text', 'regprocedure', 'pg_catalog.to_regprocedure(a)'),
        ('nextval', 'a regclass', 'bigint', 'pg_catalog.nextval(a)'),
        ('nextval', 'a text', 'bigint', 'pg_catalog.nextval(a)'),
        ('pg_advisory_xact_lock', 'a bigint', 'void', 'pg_catalog.pg_advisory_xact_lock(a)'),
        ('date_trunc', 'a text, b timestamptz', 'timestamptz', 'pg_catalog.date_trunc(a, b)'),
        ('tstzrange', 'a timestamptz, b timestamptz', 'tstzrange', 'pg_catalog.tstzrange(a, b)'),
        ('array_length', 'a text[], b integer', 'integer', 'pg_catalog.array_length(a, b)'),
        ('cardinality', 'a text[]', 'integer', 'pg_catalog.cardinality(a)'),
        ('array_to_string', 'a text[], b text', 'text', 'pg_catalog.array_to_string(a, b)'),
        ('pg_get_expr', 'a pg_node_tree, b oid', 'text', 'pg_catalog.pg_get_expr(a, b)'),
        ('format_type', 'a oid, b integer', 'text', 'pg_catalog.format_type(a, b)'),
        ('has_table_privilege', 'a oid, b text', 'boolean', 'pg_catalog.has_table_privilege(a, b)'),
        ('pg_has_role', 'a name, b text', 'boolean', 'pg_catalog.pg_has_role(a, b)'),
        ('pg_get_userbyid', 'a oid', 'name', 'pg_catalog.pg_get_userbyid(a)'),
        ('to_jsonb', 'a text', 'jsonb', 'pg_catalog.to_jsonb(a)'),
        ('jsonb_build_object', 'a text, b text', 'jsonb', 'pg_catalog.jsonb_build_object(a, b)'))
      AS t(name, args, rettype, body)
    LOOP
        EXECUTE format($f$
            CREATE FUNCTION fsb_attacker.%I(%s) RETURNS %s LANGUAGE plpgsql
                SET search_path = pg_catalog, pg_temp AS $b$
            BEGIN
                PERFORM fsb_attacker.spring(%L);
                %s
            END $b$$f$, f.name, f.args, f.rettype, format('%s(%s)', f.name, f.args),
            CASE WHEN f.rettype = 'void' THEN format('PERFORM %s;', f.body)
                 ELSE format('RETURN %s;', f.body) END);
    END LOOP;
END $do$;
-- set-returning functions; unnest(text[]) beats pg_catalog.unnest(anyarray)
CREATE FUNCTION fsb_attacker.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM fsb_attacker.spring('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION fsb_attacker.unnest(a anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM fsb_attacker.spring('unnest(anyarray)'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION fsb_attacker.jsonb_each_text(a jsonb, OUT key text, OUT value text) RETURNS SETOF record
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM fsb_attacker.spring('jsonb_each_text(jsonb)'); RETURN QUERY SELECT * FROM pg_catalog.jsonb_each_text(a); END $$;
CREATE FUNCTION fsb_attacker.generate_series(a timestamptz, b timestamptz, c interval) RETURNS SETOF timestamptz
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM fsb_attacker.spring('generate_series(timestamptz, timestamptz, interval)');
      RETURN QUERY SELECT pg_catalog.generate_series(a, b, c); END $$;
-- aggregates: count(*), and count(bigint) and count(text), which beat count("any")
CREATE FUNCTION fsb_attacker.count_step(s bigint) RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM fsb_attacker.spring('count'); RETURN s OPERATOR(pg_catalog.+) 1; END $$;
CREATE FUNCTION fsb_attacker.count_step(s bigint, v anyelement) RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM fsb_attacker.spring('count(value)'); RETURN s OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE fsb_attacker.count(*) (SFUNC = fsb_attacker.count_step, STYPE = bigint, INITCOND = '0');
CREATE AGGREGATE fsb_attacker.count(bigint) (SFUNC = fsb_attacker.count_step, STYPE = bigint, INITCOND = '0');
CREATE AGGREGATE fsb_attacker.count(text) (SFUNC = fsb_attacker.count_step, STYPE = bigint, INITCOND = '0');
CREATE AGGREGATE fsb_attacker.max(bigint) (SFUNC = fsb_attacker.count_step, STYPE = bigint, INITCOND = '0');
CREATE AGGREGATE fsb_attacker.min(timestamptz) (SFUNC = fsb_attacker.count_step, STYPE = bigint, INITCOND = '0');

-- the attacker's own feature set
CREATE TABLE fsb_atk.raw (user_id bigint, ts timestamptz, v int);
CREATE TABLE fsb_atk.feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                           PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
RESET ROLE;
CREATE TABLE fsb_adm.raw (user_id bigint, ts timestamptz, v int);
CREATE TABLE fsb_adm.feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                           PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
-- 4 users every 6 hours over the 3 days before today and today until now
INSERT INTO fsb_adm.raw SELECT u, t, u * 100 + extract(hour FROM t)::int
  FROM d, generate_series(1, 4) u, generate_series(d.bstart, now() - interval '1 second', interval '6 hours') t;
INSERT INTO fsb_atk.raw SELECT * FROM fsb_adm.raw;

-- Runs each statement with search_path = path, as the current role, with
-- temporary tables shadowing fs_backfill's catalog and pg_catalog's tables
-- meanwhile (the default search_path reads pg_temp first: dropped at the end).
CREATE FUNCTION pg_temp.attacked(path text, stmts text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stmt text;
    shadows text[] := ARRAY['feature_sets', 'runs', 'run_partitions', 'online_queue', 'online_state',
                            'resource_profiles', 'coverage', 'online_status', 'feat', 'raw',
                            'pg_roles', 'pg_class', 'pg_namespace', 'pg_inherits', 'pg_attribute',
                            'pg_extension', 'pg_authid', 'pg_proc', 'pg_settings'];
BEGIN
    FOREACH stmt IN ARRAY shadows LOOP
        EXECUTE format('CREATE TEMP TABLE %I (name text, target regclass, oid oid, relname name)', stmt);
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', path, true);
    FOREACH stmt IN ARRAY stmts LOOP
        EXECUTE stmt;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', 'public', true);
    FOREACH stmt IN ARRAY shadows LOOP
        EXECUTE format('DROP TABLE pg_temp.%I', stmt);
    END LOOP;
END $$;

-- Every user-facing function on feature set fs over table sch.feat, then
-- every view; ends with the feature set registered again, for checking.
CREATE FUNCTION pg_temp.everything(fs text, sch text) RETURNS text[] LANGUAGE sql AS $$
SELECT ARRAY[
    format($s$SELECT fs_create_feature_set(%L, %L, ARRAY['user_id'], 'feature_time',
        'SELECT user_id, ts AS feature_time, v FROM %I.raw
          WHERE ts OPERATOR(pg_catalog.>=) $1 AND ts OPERATOR(pg_catalog.<) $2',
        %L, checks => '{"unique_key": true, "max_null_fraction": {"v": 0.5}, "max_row_change": 10}')$s$,
        fs, sch || '.feat', sch, (SELECT bstart FROM d)),
    format($s$SELECT * FROM fs_backfill_plan(%L, NULL, NULL)$s$, fs),
    format($s$SELECT fs_backfill(%L, NULL, NULL, strategy => 'delete_insert', comment => 'planted')$s$, fs),
    format($s$SELECT fs_backfill(%L, %L::timestamptz, %L::timestamptz, strategy => 'swap')$s$,
           fs, (SELECT bstart FROM d), (SELECT bstart + interval '1 day' FROM d)),
    format($s$SELECT fs_backfill(%L, reset => true, strategy => 'auto')$s$, fs),
    format($s$SELECT fs_alter_feature_set(%L, '{"reprocess_partitions": 1, "catchup_delay": "1 hour",
                                                "checks": {"unique_key": true}}')$s$, fs),
    format($s$SELECT fs_backfill_catchup(%L)$s$, fs),
    format($s$SELECT fs_online_resync(%L)$s$, fs),
    'SELECT * FROM fs_backfill.coverage',
    'SELECT * FROM fs_backfill.online_status',
    'SELECT * FROM fs_backfill.feature_sets',
    'SELECT * FROM fs_backfill.runs',
    'SELECT * FROM fs_backfill.run_partitions',
    'SELECT * FROM fs_backfill.resource_profiles',
    'SELECT * FROM fs_backfill_progress()',
    format($s$SELECT fs_drop_feature_set(%L)$s$, fs),
    format($s$SELECT fs_create_feature_set(%L, %L, ARRAY['user_id'], 'feature_time',
        'SELECT user_id, ts AS feature_time, v FROM %I.raw
          WHERE ts OPERATOR(pg_catalog.>=) $1 AND ts OPERATOR(pg_catalog.<) $2', %L)$s$,
        fs, sch || '.feat', sch, (SELECT bstart FROM d)),
    format($s$SELECT fs_backfill(%L)$s$, fs)]
$$;

-- The feature table holds exactly the source's rows since backfill_start.
CREATE FUNCTION pg_temp.right_rows(sch text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    have text;
    want text;
BEGIN
    EXECUTE format('SELECT string_agg(f::text, ''|'' ORDER BY user_id, feature_time) FROM %I.feat f', sch)
        INTO have;
    EXECUTE format('SELECT string_agg(r::text, ''|'' ORDER BY user_id, ts) FROM %I.raw r, d
                     WHERE r.ts >= d.bstart', sch) INTO want;
    RETURN have = want;
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA fsb_atk TO PUBLIC;

-- the traps work: with either path, a better-matching planted object runs
SET LOCAL ROLE fsb_attacker;
SELECT pg_temp.attacked('fsb_attacker, pg_temp, public',
                        ARRAY['SELECT unnest(ARRAY[''a''])', 'SELECT 1::oid = ''pg_class''::regclass']);
SELECT pg_temp.attacked('pg_temp, fsb_attacker, pg_catalog, public', ARRAY['SELECT 1::bigint = 1::bigint']);
RESET ROLE;
SELECT is((SELECT string_agg(what, ', ' ORDER BY what) FROM fsb_attacker.sprung),
          '=(bigint, bigint), =(oid, regclass), unnest(text[])',
          'the planted objects run when a query resolves to them');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fsb_attacker'), false,
          'and, run by the attacker itself, do not make it a superuser');
DELETE FROM fsb_attacker.sprung;

-- the attacker, then a superuser, with each search_path
SET LOCAL ROLE fsb_attacker;
SELECT lives_ok(format('SELECT pg_temp.attacked(%L, %L)', 'fsb_attacker, pg_temp, public',
                       pg_temp.everything('atk1', 'fsb_atk')),
                'the attacker runs every function with its search_path');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT what, ', ') FROM fsb_attacker.sprung), NULL, 'nothing planted ran');
SELECT ok(pg_temp.right_rows('fsb_atk'), 'and the rows are right');
SELECT fs_drop_feature_set(name) FROM fs_backfill.feature_sets WHERE name = 'atk1';

SET LOCAL ROLE fsb_attacker;
SELECT lives_ok(format('SELECT pg_temp.attacked(%L, %L)', 'pg_temp, fsb_attacker, pg_catalog, public',
                       pg_temp.everything('atk2', 'fsb_atk')),
                'the attacker runs every function with its objects before pg_catalog');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT what, ', ') FROM fsb_attacker.sprung), NULL, 'nothing planted ran');
SELECT ok(pg_temp.right_rows('fsb_atk'), 'and the rows are right');
SELECT fs_drop_feature_set(name) FROM fs_backfill.feature_sets WHERE name = 'atk2';

SELECT lives_ok(format('SELECT pg_temp.attacked(%L, %L)', 'fsb_attacker, pg_temp, public',
                       pg_temp.everything('adm1', 'fsb_adm')),
                'a superuser runs every function with the attacker''s search_path');
SELECT is((SELECT string_agg(DISTINCT what, ', ') FROM fsb_attacker.sprung), NULL, 'nothing planted ran');
SELECT ok(pg_temp.right_rows('fsb_adm'), 'and the rows are right');
SELECT fs_drop_feature_set(name) FROM fs_backfill.feature_sets WHERE name = 'adm1';

SELECT lives_ok(format('SELECT pg_temp.attacked(%L, %L)', 'pg_temp, fsb_attacker, pg_catalog, public',
                       pg_temp.everything('adm2', 'fsb_adm')),
                'a superuser runs every function with the attacker''s objects before pg_catalog');
SELECT is((SELECT string_agg(DISTINCT what, ', ') FROM fsb_attacker.sprung), NULL, 'nothing planted ran');
SELECT ok(pg_temp.right_rows('fsb_adm'), 'and the rows are right');
SELECT fs_drop_feature_set(name) FROM fs_backfill.feature_sets WHERE name = 'adm2';

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fsb_attacker'), false,
          'the attacker is still not a superuser');

SELECT * FROM finish();
ROLLBACK;
