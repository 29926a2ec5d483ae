#!/usr/bin/env bash
# CREATE EXTENSION fs_backfill into a database where a role without
# privileges prepared the ground first:
#  - with CREATE on the database: the schema fs_backfill, owned by it, with a
#    table and a function in it: CREATE EXTENSION fails (the script says
#    CREATE SCHEMA, without IF NOT EXISTS) and uses nothing of it;
#  - with CREATE on schema public (the extension's schema; PostgreSQL 14 and
#    older grant it to everyone, and upgraded databases keep that): a
#    function with the signature of any user-facing one: CREATE EXTENSION
#    fails (CREATE FUNCTION, without OR REPLACE) and the planted one stays
#    the attacker's, never silently taken over;
#  - operators in public that match the views' comparisons better than
#    pg_catalog's do (=(oid, regclass), =(regclass, regclass), <(real,
#    integer), ...): CREATE EXTENSION runs with search_path "public,
#    pg_temp", so a view binds to whatever it resolves then; the views'
#    operators are schema-qualified, so a superuser reading them later runs
#    nothing of the attacker's;
#  - an overload in public with another signature (fs_backfill(text)) is not
#    refused: CREATE EXTENSION succeeds, and a call that both could take is
#    an error (42725, not unique) rather than the attacker's function.
# Every planted function records that it ran and tries ALTER ROLE ...
# SUPERUSER; the attacker must stay a plain role.
. "$(dirname "$0")/lib.sh"
ATK=fsb_shell_ext_attacker
DBS=()
cleanup() {
    local d
    for d in "${DBS[@]}"; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $ATK" >/dev/null 2>&1
}
trap cleanup EXIT
cleanup
psql -X -q -d postgres -c "CREATE ROLE $ATK LOGIN" >/dev/null

# a database the attacker may create in (and in its schema public if $2),
# with its trap recorder: DB is set to it
attack_db() {
    DB=fsb_shell_ext_$1; DBS+=("$DB")
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null 2>&1
    q -c "GRANT CREATE ON DATABASE $DB TO $ATK" -c "ALTER ROLE $ATK NOSUPERUSER" >/dev/null
    [ "${2:-}" = public ] && q -c "GRANT CREATE ON SCHEMA public TO $ATK" >/dev/null
    q >/dev/null <<SQL
SET ROLE $ATK;
CREATE SCHEMA atk;
CREATE TABLE atk.sprung (what text, by_role name DEFAULT current_user);
GRANT USAGE ON SCHEMA atk TO PUBLIC;
GRANT INSERT ON atk.sprung TO PUBLIC;
CREATE FUNCTION atk.spring(what text) RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN
    INSERT INTO atk.sprung (what) VALUES (what);
    BEGIN
        ALTER ROLE $ATK SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
END \$\$;
SQL
}
as_attacker() {    # as_attacker [psql args]: the statements of -c, or of stdin
    if [ $# -gt 0 ]; then q -c "SET ROLE $ATK" "$@"; else { echo "SET ROLE $ATK;"; cat; } | q; fi
}
sprung() { q -c "SELECT coalesce(string_agg(DISTINCT what, ', '), 'nothing') FROM atk.sprung"; }
not_super() { q -c "SELECT NOT rolsuper FROM pg_roles WHERE rolname = '$ATK'"; }
# CREATE EXTENSION as the superuser: prints the SQLSTATE and message of its error
create_ext() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v VERBOSITY=verbose -d "$DB" \
        -c "CREATE EXTENSION fs_backfill" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]*\): /\1 /p'
}
installed() { q -c "SELECT count(*) FROM pg_extension WHERE extname = 'fs_backfill'"; }

# --- the schema fs_backfill, the attacker's ---------------------------------
attack_db schema
as_attacker >/dev/null <<'SQL'
CREATE SCHEMA fs_backfill;
CREATE TABLE fs_backfill.feature_sets (name text PRIMARY KEY);
GRANT ALL ON SCHEMA fs_backfill TO PUBLIC;
GRANT ALL ON fs_backfill.feature_sets TO PUBLIC;
CREATE FUNCTION fs_backfill._partitions(target regclass, OUT partition regclass,
    OUT range_start timestamptz, OUT range_stop timestamptz) RETURNS SETOF record
    LANGUAGE plpgsql AS $$BEGIN PERFORM atk.spring('fs_backfill._partitions'); END$$;
SQL
is "$(create_ext)" '42P06 schema "fs_backfill" already exists' \
   "a schema fs_backfill made by another role: CREATE EXTENSION fails"
is "$(installed)" 0 "and nothing is installed"
is "$(q -c "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'fs_backfill'")" "$ATK" \
   "the schema is still the attacker's, with nothing added"
is "$(q -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'fs_backfill'::regnamespace")" 2 \
   "(its table and primary key only)"
is "$(sprung)" nothing "nothing of the attacker's ran"

# --- a user-facing function's signature, planted in public ------------------
signatures=(
    "fs_create_feature_set(text, regclass, text[], text, text, timestamptz, interval, boolean, interval, jsonb, text, interval, integer)"
    "fs_drop_feature_set(text)"
    "fs_backfill(text, text, text, boolean, text, text, text, text, boolean, jsonb)"
    "fs_backfill(text, timestamptz, timestamptz, boolean, text, text, text, text, boolean, jsonb)"
    "fs_backfill_plan(text, text, text, boolean)"
    "fs_online_resync(text)"
    "fs_alter_feature_set(text, jsonb)"
    "fs_backfill_catchup(text)"
    "fs_backfill_progress()"
    "fs_schedule_catchup(text, text)"
    "fs_unschedule_catchup(text)"
)
n=0
for sig in "${signatures[@]}"; do
    n=$((n + 1))
    attack_db "sig$n" public
    as_attacker -c "CREATE FUNCTION public.$sig RETURNS bigint LANGUAGE plpgsql AS
                    \$\$BEGIN PERFORM atk.spring('$sig'); RETURN 0; END\$\$" >/dev/null
    is "$(create_ext)" "42723 function \"${sig%%(*}\" already exists with same argument types" \
       "$sig planted in public: CREATE EXTENSION fails"
    is "$(installed):$(q -c "SELECT p.proowner::regrole FROM pg_proc p
                             WHERE p.oid = to_regprocedure('public.$sig')")" "0:$ATK" \
       "nothing is installed, and the planted function is still the attacker's"
    psql -X -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null
done

# --- operators in public that the views' comparisons would resolve to ------
attack_db ops public
as_attacker >/dev/null <<'SQL'
DO $do$
DECLARE
    o record;
    n int := 0;
BEGIN
    FOR o IN SELECT * FROM (VALUES
        ('=', 'oid', 'regclass'), ('=', 'regclass', 'oid'), ('=', 'regclass', 'regclass'),
        ('<', 'real', 'integer'), ('=', 'real', 'integer'), ('=', 'text', 'text'),
        ('~', 'text', 'text'), ('=', 'bigint', 'bigint'), ('=', 'name', 'text'),
        ('=', 'text', 'name'), ('<>', 'text', 'text'), ('>=', 'timestamptz', 'timestamptz'),
        ('<', 'timestamptz', 'timestamptz')) AS t(op, l, r)
    LOOP
        n := n + 1;
        EXECUTE format($f$
            CREATE FUNCTION public.trap_%s(a %s, b %s) RETURNS boolean LANGUAGE plpgsql
                SET search_path = pg_catalog, pg_temp AS $b$
            BEGIN
                PERFORM atk.spring(%L);
                RETURN a OPERATOR(pg_catalog.%s) b;
            END $b$$f$, n, o.l, o.r, format('%s(%s, %s)', o.op, o.l, o.r), o.op);
        EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.trap_%s)',
                       o.op, o.l, o.r, n);
    END LOOP;
END $do$;
CREATE FUNCTION public.count_step(s bigint) RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM atk.spring('count(*)'); RETURN s OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE public.count(*) (SFUNC = public.count_step, STYPE = bigint, INITCOND = '0');
SQL
is "$(create_ext)" "" "operators planted in public: CREATE EXTENSION succeeds"
q >/dev/null <<'SQL'
CREATE TABLE raw (user_id bigint, ts timestamptz, v int);
INSERT INTO raw SELECT u, timestamptz '2025-03-01 00:00+00' + d * interval '1 day' + u * interval '1 minute', d
  FROM generate_series(0, 2) d, generate_series(1, 5) u;
CREATE TABLE feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int,
                   PRIMARY KEY (user_id, feature_time)) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('f', 'feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM raw
       WHERE ts OPERATOR(pg_catalog.>=) $1 AND ts OPERATOR(pg_catalog.<) $2$$, '2025-03-01');
SELECT fs_backfill('f', '2025-03-01', '2025-03-03');
SELECT fs_alter_feature_set('f', '{"checks": {"min_rows": 1}}');
SQL
is "$(q -c "SELECT count(*) FROM fs_backfill.coverage WHERE last_run_id IS NOT NULL")" 3 \
   "a superuser reads the coverage view"
is "$(q -c "SELECT pending FROM fs_backfill.online_status")" 5 "and the online_status view"
is "$(sprung)" nothing "nothing of the attacker's ran"
is "$(not_super)" t "the attacker is not a superuser"

# --- an overload in public with another signature ---------------------------
attack_db overload public
as_attacker >/dev/null <<'SQL'
CREATE FUNCTION public.fs_backfill(feature_set text) RETURNS bigint LANGUAGE plpgsql AS
    $$BEGIN PERFORM atk.spring('fs_backfill(text)'); RETURN 0; END$$;
CREATE FUNCTION public.fs_backfill(feature_set text, start_time text) RETURNS bigint LANGUAGE plpgsql AS
    $$BEGIN PERFORM atk.spring('fs_backfill(text, text)'); RETURN 0; END$$;
SQL
is "$(create_ext)" "" "an overload planted in public: CREATE EXTENSION succeeds (not detected)"
q >/dev/null <<'SQL'
CREATE TABLE raw (user_id bigint, ts timestamptz, v int);
CREATE TABLE feat (user_id bigint NOT NULL, feature_time timestamptz NOT NULL, v int) PARTITION BY RANGE (feature_time);
SELECT fs_create_feature_set('f', 'feat', ARRAY['user_id'], 'feature_time',
    $$SELECT user_id, ts AS feature_time, v FROM raw WHERE ts >= $1 AND ts < $2$$, '2025-03-01');
SQL
for call in "fs_backfill('f')" "fs_backfill('f', '2025-03-01')"; do
    is "$(psql -X -q -At -v VERBOSITY=verbose -d "$DB" -c "SELECT $call" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]*\): .*/\1/p')" \
       42725 "$call: not unique, an error"
done
is "$(sprung)" nothing "nothing of the attacker's ran"
is "$(not_super)" t "the attacker is not a superuser"

done_testing
