#!/usr/bin/env bash
# test/bench/citus.sh: gmm's aggregates on a Citus cluster (a coordinator and two workers on
# this machine, started here and removed on exit: tools/lib/citus.sh) against the same rows in
# a local table on the coordinator.  Not part of the test command: its numbers depend on the
# machine (and on the cores the three nodes share).
#
#   GMM_CITUS_TARBALL=/path/citus-13.2.2.tar.gz bash test/bench/citus.sh   (after make install)
#
# Environment: GMM_BENCH_ROWS (default 300000), GMM_BENCH_REPS (default 3: the median is
# reported), PG_CONFIG.  Data: 8 features, 4 clusters; `features` distributed in 32 shards,
# `features_local` the same rows.  Models: K = 4, full covariance, from gmm_init.
#
#   1. one gmm_em_step pass, gmm_init, gmm_score and gmm_train (10 iterations, tol 0) on the
#      32 shards vs the local table with parallel query off (the serial peer)
#   2. the model read from a table: gmm_em_step(x, (SELECT model FROM m_ref)) and gmm_score
#      joined with the reference table m_ref, vs the same model as a literal, both on the shards
# Each statement runs once to warm the caches, then GMM_BENCH_REPS times; times are the client's
# (psql \timing): EXPLAIN ANALYZE of a pushed-down custom aggregate fails in Citus 13.2.
set -euo pipefail

cd "$(dirname "$0")/../.."
GMM_ROOT=$PWD
export GMM_ROOT
# shellcheck source=../../tools/lib/common.sh
. tools/lib/common.sh
# shellcheck source=../../tools/lib/cluster.sh
. tools/lib/cluster.sh
# shellcheck source=../../tools/lib/citus.sh
. tools/lib/citus.sh

ROWS=${GMM_BENCH_ROWS:-300000}
REPS=${GMM_BENCH_REPS:-3}
gmm_pick_pg_major
gmm_find_pg_config >/dev/null
gmm_citus_supported || gmm_die "Citus 13.2 supports PostgreSQL 15 to $GMM_CITUS_MAX_PG_MAJOR, not $("$PG_CONFIG" --version)"
gmm_citus_build
gmm_citus_cluster_create 2 >/dev/null

q() { gmm_citus_psql 0 -At -c "$1"; }

# median wall time in seconds (psql \timing) of SQL, after one warm-up run
timed() {
	local sql=$1 i
	for ((i = 0; i <= REPS; i++)); do
		gmm_citus_psql 0 -At -c 'SET client_min_messages = error' -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
			if [ "$i" -eq 0 ]; then cat >/dev/null; else cat; fi
	done | sort -g | awk '{ t[NR] = $1 } END { printf "%.3f", t[int((NR + 1) / 2)] / 1000 }'
}

# NAME SQL_A SQL_B: the two median times and their ratio a/b
compare() {
	local a b
	a=$(timed "$2")
	b=$(timed "$3")
	printf '%-58s %8s s %8s s %7s\n' "$1" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }')"
}

cpu=$( (lscpu 2>/dev/null || true) | sed -n 's/^Model name: *//p' | head -n 1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
echo "== machine: $(nproc) cores, $cpu"
echo "== $("$PG_CONFIG" --version), $(q "SELECT 'Citus ' || extversion FROM pg_extension WHERE extname = 'citus'"), coordinator + 2 workers on 127.0.0.1"

q "SET client_min_messages = warning; CREATE EXTENSION gmm" >/dev/null
q "SELECT gmm_blas_info()" | sed 's/^/== /' | cut -c1-120
gmm_citus_psql 0 -c "SELECT setseed(0.25)" -c "
CREATE TABLE features_local AS
SELECT i::bigint AS id,
       ARRAY(SELECT 4.0 * ((i % 4) * (j % 3) - (i % 4 + j) % 2) + (1 + i % 4 * 0.25)
                    * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())
             FROM generate_series(1, 8) j ORDER BY j)::float8[] AS x
FROM generate_series(1, $ROWS) i" -c "
CREATE TABLE features (id bigint, x float8[])" -c "SET client_min_messages = warning" -c "
SELECT create_distributed_table('features', 'id', shard_count => 32)" -c "
INSERT INTO features SELECT id, x FROM features_local" -c "ANALYZE features_local" -c "ANALYZE features" >/dev/null
m=$(q "SET max_parallel_workers_per_gather = 0; SELECT gmm_init(x, 4) FROM features_local")
gmm_citus_psql 0 -c "CREATE TABLE m_ref (name text PRIMARY KEY, model gmm)" -c "SET client_min_messages = warning" \
	-c "SELECT create_reference_table('m_ref')" -c "INSERT INTO m_ref VALUES ('m', '$m')" >/dev/null
echo "== $ROWS rows x 8 features (32 shards, 2 workers); model K = 4 full, $(q "SELECT pg_column_size(model) FROM m_ref") bytes stored; median of $REPS runs"
SERIAL="SET max_parallel_workers_per_gather = 0;"
OPTS='{"max_iter": 10, "tol": 0}'

echo
printf '%-58s %10s %10s %8s\n' "1. distributed vs local (serial)" "32 shards" "local" "ratio"
compare "gmm_em_step pass (literal model)" "SELECT gmm_em_step(x, '$m'::gmm) FROM features" \
	"$SERIAL SELECT gmm_em_step(x, '$m'::gmm) FROM features_local"
compare "gmm_init(x, 4)" "SELECT gmm_init(x, 4) FROM features" "$SERIAL SELECT gmm_init(x, 4) FROM features_local"
compare "gmm_score (literal model)" "SELECT gmm_score('$m'::gmm, x) FROM features" \
	"$SERIAL SELECT gmm_score('$m'::gmm, x) FROM features_local"
compare "gmm_train(..., 4, '$OPTS')" "SELECT gmm_train('features', 'x', 4, '$OPTS')" \
	"$SERIAL SELECT gmm_train('features_local', 'x', 4, '$OPTS')"

echo
printf '%-58s %10s %10s %8s\n' "2. model from a table vs a literal, on 32 shards" "table" "literal" "ratio"
compare "gmm_em_step(x, (SELECT model FROM m_ref))" "SELECT gmm_em_step(x, (SELECT model FROM m_ref)) FROM features" \
	"SELECT gmm_em_step(x, '$m'::gmm) FROM features"
compare "gmm_score(m_ref.model, x) joined with m_ref" "SELECT gmm_score(r.model, f.x) FROM features f JOIN m_ref r ON r.name = 'm'" \
	"SELECT gmm_score('$m'::gmm, x) FROM features"
