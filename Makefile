# gmm: Gaussian mixture models for PostgreSQL (PGXS build)

EXTENSION = gmm
EXTVERSION = 1.3

MODULE_big = gmm
# numerical core, src/core/ (no PostgreSQL headers; linked by the C unit tests too)
CORE_OBJS = $(addprefix src/core/,params.o linalg.o em.o mstep_centred.o bayes.o kmeans.o rng.o sample.o \
	plot.o blas_kernel.o threads.o mt19937.o kmeans_sklearn.o em_missing.o marginal.o)
CORE_OBJS += src/core/sketch.o src/core/score.o src/core/fullsmall.o
# SQL-facing layer, src/: the type, fitting and scoring, the combinable passes
SQL_OBJS = src/gmm_model.o src/gmm_sections.o src/gmm_text.o src/gmm_binary.o src/gmm_wire.o \
	src/gmm_accessors.o src/gmm_array.o src/gmm_options.o src/gmm_fit.o \
	src/gmm_rowstore.o src/gmm_score.o src/gmm_sampling.o src/gmm_srf.o \
	src/gmm_em_state.o src/gmm_em_step.o src/gmm_init.o src/gmm_train.o \
	src/gmm_plot.o src/gmm_bayes.o src/gmm_bayes_section.o src/gmm_missing.o
SQL_OBJS += src/gmm_calibration.o src/gmm_calibration_json.o src/gmm_anomaly.o
OBJS = $(CORE_OBJS) $(SQL_OBJS)

# Install scripts.  gmm--1.0.sql (released) is assembled from one frozen piece per concern in
# sql/1.0/; each later version is one upgrade script, sql/gmm--A--B.sql, and the full script of
# the newest version is the oldest one plus every upgrade in order (as hll does), so that a
# fresh install always equals an upgraded one.  A released piece or upgrade is never edited.
INSTALL_PIECES_1_0 = $(sort $(wildcard sql/1.0/*.sql))
UPGRADES = sql/gmm--1.0--1.1.sql sql/gmm--1.1--1.2.sql sql/gmm--1.2--1.3.sql
DATA = $(UPGRADES)
# every released version's full script stays installed, as it shipped: 1.1 = 1.0 + 1.0--1.1,
# 1.2 = 1.1 + 1.1--1.2
DATA_built = $(EXTENSION)--1.0.sql $(EXTENSION)--1.1.sql $(EXTENSION)--1.2.sql $(EXTENSION)--$(EXTVERSION).sql

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/[0-9]*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core
SHLIB_LINK = -llapack -lblas -lm -lpthread
PG_CFLAGS = -Wall -Wmissing-prototypes -Wpointer-arith -Wendif-labels \
	-Wformat-security -fno-strict-aliasing $(GMM_WERROR)

EXTRA_CLEAN = test/unit/test_core test/unit/*.o test/fuzz/*.o

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies (unless the server was configured with
# --enable-depend): every object is rebuilt when any of the project's headers changes
$(OBJS): $(wildcard src/*.h src/core/*.h)

$(EXTENSION)--1.0.sql: $(INSTALL_PIECES_1_0)
	cat $^ > $@

$(EXTENSION)--1.1.sql: $(EXTENSION)--1.0.sql sql/gmm--1.0--1.1.sql
	{ cat $(EXTENSION)--1.0.sql; grep -v '^\\echo .*\\quit$$' sql/gmm--1.0--1.1.sql; } > $@

$(EXTENSION)--1.2.sql: $(EXTENSION)--1.1.sql sql/gmm--1.1--1.2.sql
	{ cat $(EXTENSION)--1.1.sql; grep -v '^\\echo .*\\quit$$' sql/gmm--1.1--1.2.sql; } > $@

# 1.0 plus each upgrade, without the upgrades' own "\echo ... \quit" guard lines
$(EXTENSION)--$(EXTVERSION).sql: $(EXTENSION)--1.0.sql $(UPGRADES)
	{ cat $(EXTENSION)--1.0.sql; for u in $(UPGRADES); do grep -v '^\\echo .*\\quit$$' $$u; done; } > $@

# C unit tests of the numerical core: no server needed.  One BLAS thread
# keeps valgrind and timings sane.  test/unit/golden.h is committed; refresh
# it with `make unittest-golden` (Debian's python3 with scikit-learn).
UNIT_CFLAGS = -O2 -g -std=gnu99 -Wall -Wextra -Wno-psabi -Isrc/core $(UNIT_SAN)
CORE_SRCS = $(CORE_OBJS:.o=.c)
UNIT_ENV = OPENBLAS_NUM_THREADS=1
test/unit/test_core: test/unit/test_core.c test/unit/unit.h test/unit/golden.h test/unit/golden_bayes.h \
		$(CORE_SRCS) $(wildcard src/core/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_core.c $(CORE_SRCS) -llapack -lblas -lm -lpthread

.PHONY: unittest unittest-valgrind unittest-golden
unittest: test/unit/test_core
	$(UNIT_ENV) ./test/unit/test_core

unittest-valgrind: test/unit/test_core
	$(UNIT_ENV) valgrind -q --error-exitcode=1 --leak-check=full \
		--suppressions=test/unit/valgrind.supp ./test/unit/test_core

unittest-golden:
	/usr/bin/python3 test/unit/gen_golden.py > test/unit/golden.h

# Fuzzing (libFuzzer, Debian's clang): test/fuzz/fuzz_codec runs the binary format (bytea::gmm,
# gmm_recv) through the real gmm_binary.c, gmm_model.c and the core, linked against a stand-in
# for the backend (test/fuzz/pg_shim.c) and PostgreSQL's libpgcommon/libpgport.  `make fuzz`
# replays test/fuzz/regressions/ and the seed corpus, then fuzzes for FUZZ_TIME seconds.
FUZZ_CC = clang
FUZZ_TIME = 30
FUZZ_CFLAGS = -g -O1 -D_GNU_SOURCE -DUSE_ASSERT_CHECKING -Wall -Wno-ignored-attributes \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$(includedir_server) -Isrc -Isrc/core -Itest/fuzz
FUZZ_SRCS = test/fuzz/fuzz_codec.c test/fuzz/pg_shim.c src/gmm_binary.c src/gmm_wire.c src/gmm_model.c \
	src/gmm_sections.c src/gmm_bayes_section.c src/gmm_calibration.c \
	$(CORE_SRCS)
FUZZ_LIBS = -L$(pkglibdir) -L$(libdir) -lpgcommon -lpgport -llapack -lblas -lm -ldl -lpthread
EXTRA_CLEAN += test/fuzz/fuzz_codec

test/fuzz/fuzz_codec: $(FUZZ_SRCS) test/fuzz/pg_shim.h src/gmm.h src/core/gmm_core.h src/core/blas.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS) $(FUZZ_LIBS)

.PHONY: fuzz fuzz-corpus
fuzz: test/fuzz/fuzz_codec
	FUZZ_TIME=$(FUZZ_TIME) test/fuzz/run.sh

fuzz-corpus:
	/usr/bin/python3 test/fuzz/gen_corpus.py test/fuzz/corpus
