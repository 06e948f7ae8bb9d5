#!/usr/bin/env bash
# test/bench/scale.sh: how gmm_em_step, gmm_train and gmm_fit scale.  Not part of the test
# command: it takes minutes and its numbers depend on the machine.
#
#   PGHOST=/tmp PGPORT=5432 PGUSER=postgres bash test/bench/scale.sh [--big]
#
# Needs a database (PGDATABASE, default: the user's) where CREATE EXTENSION gmm works and
# max_worker_processes / max_parallel_workers allow 2 workers.  It creates and drops the
# schema gmm_bench.  Data: rows drawn (gmm_sample) from an 8-component, 16-feature mixture.
#
#   1. one EM pass (gmm_em_step, full covariance, K = 8) over 1M rows x 16 features:
#      serial, then with 2 parallel workers (EXPLAIN ANALYZE: execution time, workers)
#   2. gmm_train vs gmm_fit on the same 1M rows, 10 iterations each (tol 0)
#   3. one pass and gmm_train (10 iterations) for N = 1e5, 3e5, 1e6 (--big: and 1e7, about
#      2 GB of table and, for gmm_fit, 1.3 GB of packed rows in one backend; gmm_fit is
#      skipped at 1e7)
set -euo pipefail

BIG=0
[ "${1:-}" = "--big" ] && BIG=1

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)

q() { "${PSQL[@]}" -c "$1"; }

# execution time in seconds of a statement, from EXPLAIN ANALYZE, with settings before it;
# the workers launched when the statement's own plan has a Gather (gmm_train's passes are
# nested queries: their plans are not shown)
exec_time() {
	local settings=$1 stmt=$2
	"${PSQL[@]}" -c "SET search_path = gmm_bench, public; SET client_min_messages = error; $settings
		EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $stmt" |
		awk '/Workers Launched/ { w = $3 } /Execution Time/ { t = $3 / 1000 }
		     END { printf "%.3f s%s\n", t, (w == "" ? "" : " (workers launched: " w ")") }'
}

SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0;
	SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"

q "CREATE EXTENSION IF NOT EXISTS gmm"
q "DROP SCHEMA IF EXISTS gmm_bench CASCADE"
q "CREATE SCHEMA gmm_bench"
trap 'q "DROP SCHEMA IF EXISTS gmm_bench CASCADE" || true' EXIT

# the generating mixture: 8 components, 16 features, diagonal covariances
q "CREATE TABLE gmm_bench.truth AS
   SELECT jsonb_build_object(
	'covariance_type', 'diag',
	'weights', (SELECT jsonb_agg(0.125) FROM generate_series(1, 8)),
	'means', (SELECT jsonb_agg((SELECT jsonb_agg(round((6 * sin(j * 7 + t * 3))::numeric, 3))
							   FROM generate_series(1, 16) t)) FROM generate_series(1, 8) j),
	'covariances', (SELECT jsonb_agg((SELECT jsonb_agg(1 + (j + t) % 3) FROM generate_series(1, 16) t))
					FROM generate_series(1, 8) j))::gmm AS m"

make_table() {
	local name=$1 n=$2
	q "CREATE TABLE gmm_bench.$name AS
	   SELECT x FROM gmm_bench.truth, gmm_sample(m, $n, 1) s(x, c);
	   ANALYZE gmm_bench.$name"
}

# the model every pass starts from: gmm_init on a 10000-row sample
init_model() {
	q "CREATE TABLE gmm_bench.init_$1 AS
	   SELECT gmm_init(x, 8, '{\"random_state\": 1}') AS m FROM gmm_bench.$1"
}

echo "== machine: $(nproc) cores; $(q "SELECT gmm_blas_info()" | cut -c1-120)"

echo "== 1. one EM pass over 1M rows x 16 features, K = 8, full covariance"
make_table t1m 1000000
init_model t1m
STEP="SELECT gmm_em_step(x, (SELECT m FROM init_t1m)) FROM t1m"
exec_time "$SERIAL" "$STEP" >/dev/null # warm the cache
echo "serial:     $(exec_time "$SERIAL" "$STEP")"
echo "2 workers:  $(exec_time "$PARALLEL" "$STEP")"

echo "== 2. gmm_train vs gmm_fit, 1M rows, 10 iterations (tol 0), same initialisation options"
OPTS='{"max_iter": 10, "tol": 0, "random_state": 1}'
echo "gmm_fit:               $(exec_time "" "SELECT gmm_fit(x, 8, '$OPTS') FROM t1m")"
echo "gmm_train serial:      $(exec_time "$SERIAL" "SELECT gmm_train('t1m', 'x', 8, '$OPTS')")"
echo "gmm_train 2 workers:   $(exec_time "$PARALLEL" "SELECT gmm_train('t1m', 'x', 8, '$OPTS')")"

echo "== 3. growth in N: one pass, and gmm_train (10 iterations)"
SIZES=(100000 300000 1000000)
[ "$BIG" = 1 ] && SIZES+=(10000000)
for n in "${SIZES[@]}"; do
	if [ "$n" = 1000000 ]; then
		t=t1m
	else
		t=t$n
		make_table "$t" "$n"
		init_model "$t"
	fi
	echo "N = $n"
	echo "  pass serial:         $(exec_time "$SERIAL" "SELECT gmm_em_step(x, (SELECT m FROM init_$t)) FROM $t")"
	echo "  pass 2 workers:      $(exec_time "$PARALLEL" "SELECT gmm_em_step(x, (SELECT m FROM init_$t)) FROM $t")"
	echo "  gmm_train 2 workers: $(exec_time "$PARALLEL" "SELECT gmm_train('$t', 'x', 8, '$OPTS')")"
	if [ "$n" -le 1000000 ]; then
		echo "  gmm_fit:             $(exec_time "" "SELECT gmm_fit(x, 8, '$OPTS') FROM $t")"
	fi
	[ "$t" = t1m ] || q "DROP TABLE gmm_bench.$t"
done
