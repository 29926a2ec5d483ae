-- make_feature_table(name, first_day, days): a feature table as the
-- benchmarks use it, partitioned by day on feature_time, with `days` daily
-- partitions from first_day.  A procedure, committing every 500 partitions:
-- one transaction cannot lock 3,650.
CREATE PROCEDURE make_feature_table(name text, first_day date, days int)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE %I (user_id bigint NOT NULL, feature_time timestamptz NOT NULL,
                  f1 float8, f2 float8, f3 float8, f4 float8, PRIMARY KEY (user_id, feature_time))
                  PARTITION BY RANGE (feature_time)', name);
  FOR i IN 0 .. days - 1 LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   name || '_' || to_char(first_day + i, 'YYYYMMDD'), name,
                   (first_day + i)::timestamp AT TIME ZONE 'UTC',
                   (first_day + i + 1)::timestamp AT TIME ZONE 'UTC');
    IF i % 500 = 499 THEN COMMIT; END IF;
  END LOOP;
END $$;
