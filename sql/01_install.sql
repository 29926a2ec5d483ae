-- What CREATE EXTENSION fs_backfill installs, and its settings.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fs_backfill;
RESET client_min_messages;

SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fs_backfill')
   AND deptype = 'e'
 ORDER BY 1;

SELECT name, settings FROM fs_backfill.resource_profiles ORDER BY name;

SELECT name, boot_val, unit, context
  FROM pg_settings WHERE name LIKE 'fs_backfill.%' ORDER BY name;

-- Names are reserved: a typo is an error, not a silent placeholder.
SET fs_backfill.swap_lock_timeut = '2s';

-- The user-facing functions are SECURITY INVOKER and callable unqualified.
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname LIKE 'fs\_%' AND n.nspname = 'public'
 ORDER BY 1::text;
