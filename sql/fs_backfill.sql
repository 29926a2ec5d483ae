-- fs_backfill extension script: catalog tables, views and SQL entry points.
--
-- The user-facing functions go to the extension's schema (the first schema
-- of search_path at CREATE EXTENSION, normally public) so that they are
-- callable unqualified; tables, views and private helpers live in schema
-- fs_backfill.  Every function is SECURITY INVOKER: user work runs with the
-- caller's rights, and the C code switches to the extension owner only for
-- its own fixed statements on the fs_backfill tables.

\echo Use "CREATE EXTENSION fs_backfill" to load this file. \quit

CREATE SCHEMA fs_backfill;
COMMENT ON SCHEMA fs_backfill IS 'fs_backfill catalog: feature sets, runs, coverage';
GRANT USAGE ON SCHEMA fs_backfill TO PUBLIC;

CREATE TABLE fs_backfill.resource_profiles (
	name		text PRIMARY KEY,
	settings	jsonb NOT NULL DEFAULT '{}'
		CHECK (pg_catalog.jsonb_typeof(settings) OPERATOR(pg_catalog.=) 'object')
);
COMMENT ON TABLE fs_backfill.resource_profiles IS
	'settings applied for the duration of a backfill run';

INSERT INTO fs_backfill.resource_profiles (name, settings) VALUES
	('small',  '{"work_mem": "64MB",  "maintenance_work_mem": "256MB", "max_parallel_workers_per_gather": "0"}'),
	('medium', '{"work_mem": "256MB", "maintenance_work_mem": "1GB",   "max_parallel_workers_per_gather": "2"}'),
	('large',  '{"work_mem": "1GB",   "maintenance_work_mem": "4GB",   "max_parallel_workers_per_gather": "4"}');

CREATE TABLE fs_backfill.feature_sets (
	name				text PRIMARY KEY
		CHECK (name OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]{0,62}$'),
	target				regclass NOT NULL,
	entity_columns		text[] NOT NULL,
	time_column			text NOT NULL,
	source				text NOT NULL,
	backfill_start		timestamptz NOT NULL,
	partition_interval	interval NOT NULL DEFAULT '1 day',
	online				boolean NOT NULL DEFAULT true,
	online_ttl			interval,
	checks				jsonb NOT NULL DEFAULT '{}',
	resource_profile	text NOT NULL DEFAULT 'small'
		REFERENCES fs_backfill.resource_profiles (name),
	catchup_delay		interval NOT NULL DEFAULT '0',
	reprocess_partitions integer NOT NULL DEFAULT 0,
	created_by			name NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE fs_backfill.feature_sets IS
	'one row per registered feature set and its settings';

CREATE TABLE fs_backfill.runs (
	run_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	feature_set		text NOT NULL
		REFERENCES fs_backfill.feature_sets (name) ON DELETE CASCADE,
	start_time		timestamptz NOT NULL,
	stop_time		timestamptz NOT NULL,
	reset			boolean NOT NULL,
	source			text NOT NULL,
	source_md5		text NOT NULL,
	resource_profile text NOT NULL,
	comment			text,
	run_by			name NOT NULL,
	started_at		timestamptz NOT NULL,
	finished_at		timestamptz,		-- NULL while a staged run is under way
	partitions		integer NOT NULL,
	rows_deleted	bigint NOT NULL,
	rows_inserted	bigint NOT NULL,
	online_entities bigint NOT NULL DEFAULT 0,
	status			text NOT NULL DEFAULT 'succeeded'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['staging', 'staged',
			'publishing', 'succeeded', 'failed', 'cancelled']))
);
CREATE INDEX ON fs_backfill.runs (feature_set, run_id);
COMMENT ON TABLE fs_backfill.runs IS 'one row per committed backfill run';

CREATE TABLE fs_backfill.run_partitions (
	run_id			bigint NOT NULL
		REFERENCES fs_backfill.runs (run_id) ON DELETE CASCADE,
	partition		regclass NOT NULL,
	slice_start		timestamptz NOT NULL,
	slice_stop		timestamptz NOT NULL,
	strategy		text NOT NULL,
	rows_before		bigint NOT NULL,
	rows_after		bigint NOT NULL,
	duration		interval NOT NULL,
	PRIMARY KEY (run_id, slice_start, partition)
);
CREATE INDEX ON fs_backfill.run_partitions (partition, run_id);
COMMENT ON TABLE fs_backfill.run_partitions IS
	'per run and slice: partition, bounds, strategy, rows before and after, duration';

-- A staged run (fs_backfill_stage): what its workers need beyond its row in
-- runs, and one row per slice.
CREATE TABLE fs_backfill.staged_runs (
	run_id			bigint PRIMARY KEY
		REFERENCES fs_backfill.runs (run_id) ON DELETE CASCADE,
	run_by_oid		oid NOT NULL,		-- the role its workers run as
	parallel		integer NOT NULL CHECK (parallel OPERATOR(pg_catalog.>) 0),
	retries			integer NOT NULL CHECK (retries OPERATOR(pg_catalog.>=) 0),
	publish			text NOT NULL
		CHECK (publish OPERATOR(pg_catalog.=) ANY (ARRAY['auto', 'manual'])),
	allow_empty		boolean NOT NULL,
	checks			jsonb NOT NULL,
	settings		jsonb NOT NULL,		-- the caller's search_path, TimeZone...
	error			text				-- why the run failed
);
COMMENT ON TABLE fs_backfill.staged_runs IS
	'per staged run: parallelism, retries, publish mode and the settings its workers use';

CREATE TABLE fs_backfill.run_slices (
	run_id			bigint NOT NULL
		REFERENCES fs_backfill.runs (run_id) ON DELETE CASCADE,
	slice			integer NOT NULL,
	partition		regclass NOT NULL,
	slice_start		timestamptz NOT NULL,
	slice_stop		timestamptz NOT NULL,
	strategy		text NOT NULL,		-- how publish replaces it: swap, delete_insert
	status			text NOT NULL DEFAULT 'pending'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'building',
			'staged', 'failed', 'cancelled'])),
	attempts		integer NOT NULL DEFAULT 0,	-- since staged or resumed
	builds			integer NOT NULL DEFAULT 0,	-- ever
	rows_before		bigint,
	rows			bigint,
	error			text,
	started_at		timestamptz,
	finished_at		timestamptz,
	staged_relation regclass,
	stage_mark		text,				-- what publish checks for writes since
	PRIMARY KEY (run_id, slice)
);
COMMENT ON TABLE fs_backfill.run_slices IS
	'per staged run and slice: partition, bounds, status, attempts, rows, error, timings';

CREATE TABLE fs_backfill.online_queue (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	feature_set		text NOT NULL,
	entity			text[] NOT NULL,	-- entity column values, as text
	guard_ts		text NOT NULL,		-- a newer _ts in Redis is kept
	run_id			bigint,				-- NULL for a resync
	queued_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (feature_set, entity)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
COMMENT ON TABLE fs_backfill.online_queue IS
	'entities whose latest value the online worker still has to push to Redis';

CREATE TABLE fs_backfill.online_state (
	feature_set		text PRIMARY KEY
		REFERENCES fs_backfill.feature_sets (name) ON DELETE CASCADE,
	pushed			bigint NOT NULL DEFAULT 0,
	last_push		timestamptz,
	last_error		text,
	last_error_at	timestamptz
);
COMMENT ON TABLE fs_backfill.online_state IS
	'per feature set: what the online worker pushed last, and its last error';

-- pg_dump keeps what users configured, and the run history (catch-up's
-- watermark is read from it).
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.feature_sets', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.resource_profiles',
	$$WHERE name NOT IN ('small', 'medium', 'large')$$);
-- Runs under way are not: what they staged is not dumped either.
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.runs',
	$$WHERE status IN ('succeeded', 'cancelled')
	     OR status = 'failed' AND run_id NOT IN (SELECT run_id FROM fs_backfill.staged_runs)$$);
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.run_partitions', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.online_queue', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.online_queue_id_seq', '');

-- Ordinary roles read the catalog; only the extension's functions write it.
REVOKE ALL ON ALL TABLES IN SCHEMA fs_backfill FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA fs_backfill TO PUBLIC;

-- Each role reads only the rows of the feature sets it may see: those it
-- registered (or whose registrant's privileges it has), those whose table it
-- may SELECT from, and those whose table's owner's privileges it has.  Runs,
-- their partitions and the online state follow their feature set.  Queued
-- entity keys are table data: only for roles that may SELECT from the table
-- and that its row-level security does not filter.  The extension's C code
-- reads and writes these tables as their owner, to whom the policies do not
-- apply.  Policies are stored parsed: search_path cannot redirect them.
ALTER TABLE fs_backfill.feature_sets ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.feature_sets FOR SELECT USING (
	EXISTS (SELECT FROM pg_catalog.pg_roles r
			 WHERE r.rolname OPERATOR(pg_catalog.=) created_by
			   AND pg_catalog.pg_has_role(r.oid, 'USAGE'))
	OR pg_catalog.has_table_privilege(target, 'SELECT')
	OR EXISTS (SELECT FROM pg_catalog.pg_class c
				WHERE c.oid OPERATOR(pg_catalog.=) target
				  AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

ALTER TABLE fs_backfill.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.runs FOR SELECT USING (
	EXISTS (SELECT FROM fs_backfill.feature_sets f
			 WHERE f.name OPERATOR(pg_catalog.=) feature_set));

ALTER TABLE fs_backfill.run_partitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.run_partitions FOR SELECT USING (
	EXISTS (SELECT FROM fs_backfill.runs r
			 WHERE r.run_id OPERATOR(pg_catalog.=) run_partitions.run_id));

ALTER TABLE fs_backfill.staged_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.staged_runs FOR SELECT USING (
	EXISTS (SELECT FROM fs_backfill.runs r
			 WHERE r.run_id OPERATOR(pg_catalog.=) staged_runs.run_id));

ALTER TABLE fs_backfill.run_slices ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.run_slices FOR SELECT USING (
	EXISTS (SELECT FROM fs_backfill.runs r
			 WHERE r.run_id OPERATOR(pg_catalog.=) run_slices.run_id));

ALTER TABLE fs_backfill.online_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.online_state FOR SELECT USING (
	EXISTS (SELECT FROM fs_backfill.feature_sets f
			 WHERE f.name OPERATOR(pg_catalog.=) feature_set));

ALTER TABLE fs_backfill.online_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fs_backfill.online_queue FOR SELECT USING (
	EXISTS (SELECT FROM fs_backfill.feature_sets f
			 WHERE f.name OPERATOR(pg_catalog.=) feature_set
			   AND pg_catalog.has_table_privilege(f.target, 'SELECT')
			   AND NOT pg_catalog.row_security_active(f.target)));

-- Private helpers -----------------------------------------------------------

CREATE FUNCTION fs_backfill._partitions(target regclass,
	OUT partition regclass, OUT range_start timestamptz, OUT range_stop timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fs_backfill_partitions'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION fs_backfill._partitions(regclass) IS
	'range partitions of a table with their bounds, in ascending order';

CREATE FUNCTION fs_backfill._row_in_slice(feature_time timestamptz,
	slice_start timestamptz, slice_stop timestamptz, feature_set text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fs_backfill_row_in_slice'
-- VOLATILE keeps the planner from pushing the check below the source's own
-- filters, where it would see rows the source discards.
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION fs_backfill._row_in_slice(timestamptz, timestamptz, timestamptz, text) IS
	'true for a feature time inside its slice; raises check_violation otherwise';

-- For tests of the write check of staged runs (src/stage_mark.c): superusers
-- only, since each takes EXCLUSIVE lock on any table it is given.
CREATE FUNCTION fs_backfill._stage_mark(rel regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'fs_backfill_stage_mark'
LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION fs_backfill._stage_mark(regclass) FROM PUBLIC;
COMMENT ON FUNCTION fs_backfill._stage_mark(regclass) IS
	'for tests: the mark a staged slice takes of its partition, under EXCLUSIVE lock';

CREATE FUNCTION fs_backfill._stage_mark_written(rel regclass, mark text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fs_backfill_stage_mark_written'
LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION fs_backfill._stage_mark_written(regclass, text) FROM PUBLIC;
COMMENT ON FUNCTION fs_backfill._stage_mark_written(regclass, text) IS
	'for tests: true when the table was written since the mark, asked under EXCLUSIVE lock';

-- Views ----------------------------------------------------------------------
--
-- A view keeps the operators and functions resolved when it is created, and
-- this script runs with search_path "@extschema@, pg_temp": an operator that
-- someone able to create in @extschema@ planted there beforehand, matching
-- the arguments better than pg_catalog's (=(oid, regclass), <(real,
-- integer)), would be bound into the view and run by whoever reads it.  So
-- every operator and function in the views is schema-qualified.

-- Both views run with the rights of the role reading them, so that the
-- catalog's policies apply (a view otherwise reads as its owner).
CREATE VIEW fs_backfill.coverage WITH (security_invoker = true) AS
SELECT f.name AS feature_set,
	   p.partition,
	   p.range_start,
	   p.range_stop,
	   CASE WHEN c.reltuples OPERATOR(pg_catalog.<) 0::pg_catalog.float4 THEN NULL
			ELSE c.reltuples::pg_catalog.int8 END AS rows_estimate,
	   w.run_id AS last_run_id,
	   w.finished_at AS last_written_at
  FROM fs_backfill.feature_sets f
 CROSS JOIN LATERAL fs_backfill._partitions(f.target) p
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.partition::pg_catalog.oid
  LEFT JOIN LATERAL (
		SELECT r.run_id, r.finished_at
		  FROM fs_backfill.run_partitions rp
		  JOIN fs_backfill.runs r ON r.run_id OPERATOR(pg_catalog.=) rp.run_id
		 WHERE rp.partition::pg_catalog.oid OPERATOR(pg_catalog.=) p.partition::pg_catalog.oid
		   AND r.feature_set OPERATOR(pg_catalog.=) f.name
		 ORDER BY r.run_id DESC
		 LIMIT 1) w ON true;
COMMENT ON VIEW fs_backfill.coverage IS
	'per feature set and partition: bounds, row count estimate, last run that wrote it';
GRANT SELECT ON fs_backfill.coverage TO PUBLIC;

CREATE VIEW fs_backfill.online_status WITH (security_invoker = true) AS
SELECT f.name AS feature_set,
	   f.online,
	   coalesce(q.pending, 0::pg_catalog.int8) AS pending,
	   q.oldest_pending,
	   s.last_push,
	   coalesce(s.pushed, 0::pg_catalog.int8) AS pushed,
	   s.last_error,
	   s.last_error_at
  FROM fs_backfill.feature_sets f
  LEFT JOIN (SELECT feature_set, pg_catalog.count(*) AS pending,
					pg_catalog.min(queued_at) AS oldest_pending
			   FROM fs_backfill.online_queue GROUP BY feature_set) q
		 ON q.feature_set OPERATOR(pg_catalog.=) f.name
  LEFT JOIN fs_backfill.online_state s ON s.feature_set OPERATOR(pg_catalog.=) f.name;
COMMENT ON VIEW fs_backfill.online_status IS
	'per feature set: pending entities, oldest pending, last push, last error';
GRANT SELECT ON fs_backfill.online_status TO PUBLIC;

CREATE FUNCTION fs_backfill.worker_status(
	OUT pid integer, OUT redis text, OUT pushed bigint, OUT batches bigint,
	OUT last_push timestamptz, OUT last_error text, OUT last_error_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'fs_backfill_worker_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION fs_backfill.worker_status() IS
	'the online worker: pid, Redis state, counters, last error (state and error for superusers and pg_monitor only)';

CREATE FUNCTION fs_backfill._check_use(feature_set text)
RETURNS void
AS 'MODULE_PATHNAME', 'fs_backfill_check_use'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION fs_backfill._check_use(text) IS
	'raises 42704 for an unknown feature set, 42501 for one the caller may not run';

-- User-facing functions ------------------------------------------------------

CREATE FUNCTION @extschema@.fs_create_feature_set(
	name				text,
	target				regclass,
	entity_columns		text[],
	time_column			text,
	source				text,
	backfill_start		timestamptz,
	partition_interval	interval DEFAULT '1 day',
	online				boolean DEFAULT true,
	online_ttl			interval DEFAULT NULL,
	checks				jsonb DEFAULT '{}',
	resource_profile	text DEFAULT 'small',
	catchup_delay		interval DEFAULT '0',
	reprocess_partitions integer DEFAULT 0)
RETURNS void
AS 'MODULE_PATHNAME', 'fs_create_feature_set'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_create_feature_set(text, regclass, text[], text, text,
	timestamptz, interval, boolean, interval, jsonb, text, interval, integer) IS
	'registers a feature set: a time-partitioned table and the query that computes it';

CREATE FUNCTION @extschema@.fs_drop_feature_set(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'fs_drop_feature_set'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_drop_feature_set(text) IS
	'forgets a feature set and its run history; the table is left alone';

CREATE FUNCTION @extschema@.fs_backfill(
	feature_set			text,
	start_time			text DEFAULT NULL,
	stop_time			text DEFAULT NULL,
	reset				boolean DEFAULT false,
	source				text DEFAULT NULL,
	resource_profile	text DEFAULT NULL,
	comment				text DEFAULT NULL,
	strategy			text DEFAULT 'auto',
	allow_empty			boolean DEFAULT false,
	checks				jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_backfill_text'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill(text, text, text, boolean, text, text, text,
	text, boolean, jsonb) IS
	'replaces the rows of a feature set in [start_time, stop_time) from its source; returns the run id';

CREATE FUNCTION @extschema@.fs_backfill(
	feature_set			text,
	start_time			timestamptz,
	stop_time			timestamptz,
	reset				boolean DEFAULT false,
	source				text DEFAULT NULL,
	resource_profile	text DEFAULT NULL,
	comment				text DEFAULT NULL,
	strategy			text DEFAULT 'auto',
	allow_empty			boolean DEFAULT false,
	checks				jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_backfill_timestamptz'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill(text, timestamptz, timestamptz, boolean, text,
	text, text, text, boolean, jsonb) IS
	'replaces the rows of a feature set in [start_time, stop_time) from its source; returns the run id';

CREATE FUNCTION @extschema@.fs_backfill_plan(
	feature_set			text,
	start_time			text DEFAULT NULL,
	stop_time			text DEFAULT NULL,
	reset				boolean DEFAULT false)
RETURNS TABLE (partition regclass, slice_start timestamptz, slice_stop timestamptz,
			   strategy text, rows_now bigint, creates_partition boolean)
AS 'MODULE_PATHNAME', 'fs_backfill_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_plan(text, text, text, boolean) IS
	'dry run: the slices fs_backfill would replace, changing nothing';

CREATE FUNCTION @extschema@.fs_online_resync(feature_set text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_online_resync'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_online_resync(text) IS
	'queues every entity of a feature set for the online cache; returns how many';

CREATE FUNCTION @extschema@.fs_alter_feature_set(name text, settings jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'fs_alter_feature_set'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_alter_feature_set(text, jsonb) IS
	'changes settings of a feature set (all but name and target), validated as at registration';

CREATE FUNCTION @extschema@.fs_backfill_catchup(feature_set text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_backfill_catchup'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_catchup(text) IS
	'backfills whole partitions from the watermark to now() - catchup_delay; the run id, or NULL when caught up';

CREATE FUNCTION @extschema@.fs_backfill_progress()
RETURNS TABLE (pid integer, feature_set text, run_id bigint, phase text,
			   partitions_done integer, partitions_total integer,
			   rows_written bigint, started_at timestamptz)
AS 'MODULE_PATHNAME', 'fs_backfill_progress'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_progress() IS
	'backfills running now, in every session: phase, slices done of total, rows written';

-- Staged runs (SPEC section 8) ----------------------------------------------

CREATE FUNCTION @extschema@.fs_backfill_stage(
	feature_set			text,
	start_time			text DEFAULT NULL,
	stop_time			text DEFAULT NULL,
	reset				boolean DEFAULT false,
	source				text DEFAULT NULL,
	resource_profile	text DEFAULT NULL,
	comment				text DEFAULT NULL,
	checks				jsonb DEFAULT NULL,
	allow_empty			boolean DEFAULT false,
	parallel			integer DEFAULT 2,
	retries				integer DEFAULT 2,
	publish				text DEFAULT 'auto')
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_backfill_stage_text'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_stage(text, text, text, boolean, text, text,
	text, jsonb, boolean, integer, integer, text) IS
	'records a staged run of [start_time, stop_time); background workers build its slices after commit; returns the run id';

CREATE FUNCTION @extschema@.fs_backfill_stage(
	feature_set			text,
	start_time			timestamptz,
	stop_time			timestamptz,
	reset				boolean DEFAULT false,
	source				text DEFAULT NULL,
	resource_profile	text DEFAULT NULL,
	comment				text DEFAULT NULL,
	checks				jsonb DEFAULT NULL,
	allow_empty			boolean DEFAULT false,
	parallel			integer DEFAULT 2,
	retries				integer DEFAULT 2,
	publish				text DEFAULT 'auto')
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_backfill_stage_timestamptz'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_stage(text, timestamptz, timestamptz, boolean,
	text, text, text, jsonb, boolean, integer, integer, text) IS
	'records a staged run of [start_time, stop_time); background workers build its slices after commit; returns the run id';

CREATE FUNCTION @extschema@.fs_backfill_wait(run_id bigint, timeout interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'fs_backfill_wait'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_wait(bigint, interval) IS
	'waits until a staged run succeeded, failed, was cancelled or awaits a manual publish (or the timeout); its status';

CREATE FUNCTION @extschema@.fs_backfill_publish(run_id bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fs_backfill_publish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_publish(bigint) IS
	'publishes a staged run: exchanges every staged slice in one short transaction; the run id';

CREATE FUNCTION @extschema@.fs_backfill_cancel(run_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fs_backfill_cancel'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_cancel(bigint) IS
	'cancels a staged run: stops its workers and drops what it staged; false when it had finished';

CREATE FUNCTION @extschema@.fs_backfill_resume(run_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fs_backfill_resume'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.fs_backfill_resume(bigint) IS
	'restarts a failed staged run from its unstaged slices; false when there was nothing to resume';

CREATE FUNCTION fs_backfill.staged_relations(run_id bigint)
RETURNS TABLE (slice integer, partition regclass, slice_start timestamptz,
			   slice_stop timestamptz, staged regclass, rows bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.slice, s.partition, s.slice_start, s.slice_stop, s.staged_relation, s.rows
	  FROM fs_backfill.run_slices s
	 WHERE s.run_id OPERATOR(pg_catalog.=) $1
	   AND s.staged_relation IS NOT NULL
	 ORDER BY s.slice
$$;
COMMENT ON FUNCTION fs_backfill.staged_relations(bigint) IS
	'the relations a staged run built, one per staged slice, readable by the role that staged it';

-- Scheduling goes through pg_cron, looked up when called: fs_backfill does
-- not require it.  The job runs as the role that scheduled it, which must
-- be allowed to run the feature set, now and when the job runs.
CREATE FUNCTION @extschema@.fs_schedule_catchup(feature_set text, schedule text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
BEGIN
	IF feature_set IS NULL OR schedule IS NULL THEN
		RAISE EXCEPTION 'argument % must not be null',
			CASE WHEN feature_set IS NULL THEN 'feature_set' ELSE 'schedule' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- the job will run it as the caller: the caller must be allowed to
	PERFORM fs_backfill._check_use(feature_set);
	IF to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Install it (Debian: apt-get install postgresql-15-cron), add pg_cron to '
						 'shared_preload_libraries, set cron.database_name to this database, '
						 'restart, and run CREATE EXTENSION pg_cron.';
	END IF;
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
		USING 'fs_backfill:catchup:' || feature_set, schedule,
			  format('SELECT %I.fs_backfill_catchup(%L)', '@extschema@', feature_set);
	RETURN job;
END
$$;
COMMENT ON FUNCTION @extschema@.fs_schedule_catchup(text, text) IS
	'schedules fs_backfill_catchup() with pg_cron as job fs_backfill:catchup:<feature set>; the job id';

CREATE FUNCTION @extschema@.fs_unschedule_catchup(feature_set text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	found boolean;
BEGIN
	IF feature_set IS NULL THEN
		RAISE EXCEPTION 'argument feature_set must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF to_regprocedure('cron.unschedule(name)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Without pg_cron there is no schedule to remove.';
	END IF;
	-- only the caller's own job, as cron.unschedule sees them
	EXECUTE 'SELECT EXISTS (SELECT FROM cron.job WHERE jobname = $1 AND username = current_user)'
		INTO found USING 'fs_backfill:catchup:' || feature_set;
	IF NOT found THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1::name)' INTO found USING 'fs_backfill:catchup:' || feature_set;
	RETURN found;
END
$$;
COMMENT ON FUNCTION @extschema@.fs_unschedule_catchup(text) IS
	'removes the pg_cron job of fs_schedule_catchup(); false when there was none';
