# fs_backfill: PGXS build of the extension and of its command-line client
# (bin/), plus the two commands of the README (demo, test).

EXTENSION = fs_backfill
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = fs_backfill
OBJS = \
	src/fs_backfill.o \
	src/guc.o \
	src/guard.o \
	src/privilege.o \
	src/timearg.o \
	src/catalog.o \
	src/catalog_queue.o \
	src/source.o \
	src/bounds.o \
	src/partition.o \
	src/feature_set.o \
	src/plan.o \
	src/checks.o \
	src/progress.o \
	src/catchup.o \
	src/slice_dest.o \
	src/replace.o \
	src/swap.o \
	src/execute.o \
	src/catalog_stage.o \
	src/stage_mark.o \
	src/stage_build.o \
	src/stage.o \
	src/publish.o \
	src/stage_control.o \
	src/stage_shmem.o \
	src/stage_worker.o \
	src/shmem.o \
	src/redis_sink.o \
	src/queue.o \
	src/worker_xact.o \
	src/drain.o \
	src/worker.o

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql

REGRESS = 01_install 02_feature_sets 03_plan 04_backfill 05_errors 06_staged
REGRESS_OPTS = --dbname=fsb_regression
# Isolation specs as pgvector lays them out: test/specs/*.spec, their outputs
# in test/expected/; run by make installcheck after the regression tests.
ISOLATION = backfill_readers backfill_overlap backfill_ingest backfill_partition_ddl swap_online_claim
ISOLATION_OPTS = --inputdir=test --load-extension=fs_backfill

PG_CPPFLAGS += -I$(srcdir)/src
SHLIB_LINK += -lhiredis
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
ifdef CI
PG_CFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies (the server is built without
# --enable-depend): every object is rebuilt when a header changes.
$(OBJS): $(wildcard src/*.h)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

# The command-line client fs-backfill (bin/, its own PGXS PROGRAM) follows
# the extension through make, make install, make uninstall and make clean.
all: bin-all
install: bin-install
uninstall: bin-uninstall
clean: bin-clean
.PHONY: bin-all bin-install bin-uninstall bin-clean
bin-all bin-install bin-uninstall bin-clean:
	$(MAKE) -C bin $(patsubst bin-%,%,$@) PG_CONFIG=$(PG_CONFIG)

.PHONY: deps demo test bench
deps:
	test/setup_deps.sh

demo: deps
	$(MAKE) install
	test/with_cluster.sh test/demo.sh

test: deps
	$(MAKE) install
	test/with_cluster.sh test/run_all.sh

# The benchmarks turn fsync on (pg_virtualenv turns it off) and give the
# server room to work in memory.
BENCH_PG_OPTS = -o fsync=on -o shared_buffers=2GB -o max_wal_size=20GB -o maintenance_work_mem=256MB
bench: deps
	$(MAKE) install
	FSB_PG_OPTS="$(BENCH_PG_OPTS)" test/with_cluster.sh bench/run.sh
	FSB_PG_OPTS="$(BENCH_PG_OPTS)" test/with_cluster.sh bench/online.sh
	FSB_PG_OPTS="$(BENCH_PG_OPTS)" test/with_cluster.sh bench/lock_hold.sh
	ONLINE=true FSB_PG_OPTS="$(BENCH_PG_OPTS)" test/with_cluster.sh bench/lock_hold.sh
	STAGED=true FSB_PG_OPTS="$(BENCH_PG_OPTS)" test/with_cluster.sh bench/lock_hold.sh
	FSB_PG_OPTS="$(BENCH_PG_OPTS)" test/with_cluster.sh bench/staged.sh
