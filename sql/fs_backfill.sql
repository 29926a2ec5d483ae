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
		CHECK (pg_catalog.jsonb_typeof(settings) = 'object')
);
COMMENT ON TABLE fs_backfill.resource_profiles IS
	'settings applied for the duration of a backfill run';

INSERT INTO fs_backfill.resource_profiles (name, settings) VALUES
	('small',  '{"work_mem": "64MB",  "maintenance_work_mem": "256MB", "max_parallel_workers_per_gather": "0"}'),
	('medium', '{"work_mem": "256MB", "maintenance_work_mem": "1GB",   "max_parallel_workers_per_gather": "2"}'),
	('large',  '{"work_mem": "1GB",   "maintenance_work_mem": "4GB",   "max_parallel_workers_per_gather": "4"}');

CREATE TABLE fs_backfill.feature_sets (
	name				text PRIMARY KEY
		CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'),
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
	finished_at		timestamptz NOT NULL,
	partitions		integer NOT NULL,
	rows_deleted	bigint NOT NULL,
	rows_inserted	bigint NOT NULL,
	online_entities bigint NOT NULL DEFAULT 0,
	status			text NOT NULL DEFAULT 'succeeded'
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

-- pg_dump keeps what users configured, and the run history (catch-up's
-- watermark is read from it).
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.feature_sets', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.resource_profiles',
	$$WHERE name NOT IN ('small', 'medium', 'large')$$);
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.runs', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fs_backfill.run_partitions', '');

-- Ordinary roles read the catalog; only the extension's functions write it.
REVOKE ALL ON ALL TABLES IN SCHEMA fs_backfill FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA fs_backfill TO PUBLIC;

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

-- Views ----------------------------------------------------------------------

CREATE VIEW fs_backfill.coverage AS
SELECT f.name AS feature_set,
	   p.partition,
	   p.range_start,
	   p.range_stop,
	   CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS rows_estimate,
	   w.run_id AS last_run_id,
	   w.finished_at AS last_written_at
  FROM fs_backfill.feature_sets f
 CROSS JOIN LATERAL fs_backfill._partitions(f.target) p
  JOIN pg_catalog.pg_class c ON c.oid = p.partition
  LEFT JOIN LATERAL (
		SELECT r.run_id, r.finished_at
		  FROM fs_backfill.run_partitions rp
		  JOIN fs_backfill.runs r ON r.run_id = rp.run_id
		 WHERE rp.partition = p.partition
		   AND r.feature_set = f.name
		 ORDER BY r.run_id DESC
		 LIMIT 1) w ON true;
COMMENT ON VIEW fs_backfill.coverage IS
	'per feature set and partition: bounds, row count estimate, last run that wrote it';
GRANT SELECT ON fs_backfill.coverage TO PUBLIC;

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
