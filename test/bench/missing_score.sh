#!/usr/bin/env bash
# test/bench/missing_score.sh: what scoring rows with NULL elements costs against complete rows
# (issue 10).  Not part of the test command: its numbers depend on the machine; every
# comparison is a ratio between runs of this one script, the statements taking turns.
#
#   PGHOST=... PGPORT=... PGUSER=... bash test/bench/missing_score.sh [N]
#     (or, inside a Debian root: bash tools/test.sh test/bench/missing_score.sh, N = 1e6;
#      GMM_BENCH_N=200000 for a smaller run)
#
# N rows (default 1000000) x 16 features, an 8-component full-covariance model, scored with
# sum(gmm_score_samples(literal model, x)) and with gmm_score, serial plans:
#   complete   the rows as they are
#   random     the same rows with 20% of the values NULL at random (nearly every row its own
#              missingness pattern: the Schur-complement route, targets <= 2x complete)
#   patterns   the same rows with the NULLs confined to 3 patterns of 3 or 4 features (the
#              per-pattern cached marginal, target <= 1.2x complete)
# then the core alone (test/bench/missing_kernel.c, built here with cc when it is there): ns a
# row of each route for rows in 3 patterns, and of the Cholesky route without a cache.
# Creates and drops the schema gmm_missing_bench.
set -euo pipefail

N=${1:-${GMM_BENCH_N:-1000000}}
REPS=${REPS:-5}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
q() { printf '%s\n' "SET search_path = gmm_missing_bench, public; SET client_min_messages = error;" "$1" | "${PSQL[@]}" -f -; }

# seconds of CPU the backend spent on a statement (its /proc/self/schedstat, read through
# pg_read_file: a superuser on the same machine), so that the other work of a shared machine
# does not count; the statement's execution time (EXPLAIN ANALYZE) where that is not readable
CPU_CLOCK=0
run_once() {
	if [ "$CPU_CLOCK" = 1 ]; then
		q "SET max_parallel_workers_per_gather = 0; SET work_mem = '1GB';
			SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS t0 \\gset
			$1 \\g /dev/null
			SELECT round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :t0) / 1e9, 4)"
	else
		q "SET max_parallel_workers_per_gather = 0; SET work_mem = '1GB';
			EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $1" |
			awk '/Execution Time/ { printf "%.4f", $3 / 1000 }'
	fi
}
if q "SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint > 0" 2>/dev/null | grep -q t; then
	CPU_CLOCK=1
fi
# the best of $REPS runs of each statement, the statements taking turns
best_of() {
	local -a best=()
	local i t stmt
	for _ in $(seq "$REPS"); do
		i=0
		for stmt in "$@"; do
			t=$(run_once "$stmt")
			if [ -z "${best[i]:-}" ] || awk -v a="$t" -v b="${best[i]}" 'BEGIN { exit !(a < b) }'; then
				best[i]=$t
			fi
			i=$((i + 1))
		done
	done
	echo "${best[@]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per_row_us() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t / n * 1e6 }'; }

"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS gmm"
"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS gmm_missing_bench CASCADE" -c "CREATE SCHEMA gmm_missing_bench"
trap '"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS gmm_missing_bench CASCADE" >/dev/null 2>&1 || true' EXIT

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
echo "== machine: $cpu, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(q "SELECT version()" | cut -d, -f1)"
echo "== $N rows x 16 features, K = 8, full covariances; times: $([ "$CPU_CLOCK" = 1 ] && echo "the backend's CPU seconds" || echo "execution time (EXPLAIN ANALYZE)"), best of $REPS"

# 8 clusters with correlated features: x_j = centre_cj + z1 + 0.5 z2 (j odd) + noise
q "SELECT setseed(0.125);
   CREATE TABLE base AS
   SELECT i, ARRAY(SELECT ((i % 8) * 3 + ((j * (i % 8)) % 5)) + a + (j % 2) * 0.5 * b + random()
					 FROM generate_series(1, 16) j) AS x
   FROM (SELECT i, random() AS a, random() AS b FROM generate_series(1, $N) i) s;
   CREATE TABLE complete AS SELECT i, x FROM base;
   CREATE TABLE random_nulls AS
   SELECT i, ARRAY(SELECT CASE WHEN random() < 0.2 THEN NULL ELSE x[j] END
					 FROM generate_series(1, 16) j) AS x FROM base;
   CREATE TABLE patterns AS
   SELECT i, ARRAY(SELECT CASE WHEN j = ANY (CASE i % 3 WHEN 0 THEN '{1,6,11}'::int[]
											  WHEN 1 THEN '{2,7,12,16}'::int[]
											  ELSE '{4,9,14}'::int[] END)
						   THEN NULL ELSE x[j] END
					 FROM generate_series(1, 16) j) AS x FROM base;
   VACUUM ANALYZE complete, random_nulls, patterns"
echo "values NULL: random $(q "SELECT round(100.0 * sum(16 - array_length(array_remove(x, NULL), 1)) / (16 * count(*)), 1) FROM random_nulls")%, patterns $(q "SELECT round(100.0 * sum(16 - array_length(array_remove(x, NULL), 1)) / (16 * count(*)), 1) FROM patterns")%"
M=$(q "SELECT gmm_fit(x, 8, '{\"covariance_type\": \"full\", \"max_iter\": 20, \"random_state\": 1}'::jsonb)::text
	   FROM complete WHERE i <= 20000")

read -r tc tr tp < <(best_of "SELECT sum(gmm_score_samples('$M'::gmm, x)) FROM complete" \
	"SELECT sum(gmm_score_samples('$M'::gmm, x)) FROM random_nulls" \
	"SELECT sum(gmm_score_samples('$M'::gmm, x)) FROM patterns")
echo "sum(gmm_score_samples): complete $tc s ($(per_row_us "$tc" "$N") us a row), random $tr s ($(per_row_us "$tr" "$N") us a row), patterns $tp s ($(per_row_us "$tp" "$N") us a row)"
echo "  random / complete   $(ratio "$tr" "$tc")  (target <= 2)"
echo "  patterns / complete $(ratio "$tp" "$tc")  (target <= 1.2)"
read -r ac ar ap < <(best_of "SELECT gmm_score('$M'::gmm, x) FROM complete" \
	"SELECT gmm_score('$M'::gmm, x) FROM random_nulls" \
	"SELECT gmm_score('$M'::gmm, x) FROM patterns")
echo "gmm_score: complete $ac s, random $ar s, patterns $ap s"
echo "  random / complete   $(ratio "$ar" "$ac")  (target <= 2)"
echo "  patterns / complete $(ratio "$ap" "$ac")  (target <= 1.2)"

# the core alone, when a compiler is there
root=$(cd "$(dirname "$0")/../.." && pwd)
if command -v cc >/dev/null 2>&1; then
	tmp=$(mktemp -d)
	if cc -O2 -I "$root/src/core" -o "$tmp/missing_kernel" "$root/test/bench/missing_kernel.c" \
		"$root"/src/core/*.c -llapack -lblas -lm 2>"$tmp/cc.log"; then
		echo "== the core alone (test/bench/missing_kernel.c), 3 of 16 features missing"
		OPENBLAS_NUM_THREADS=1 "$tmp/missing_kernel" "$(( N < 200000 ? N : 200000 ))" 16 8 3
	else
		echo "== the core alone: not built ($(head -n 1 "$tmp/cc.log"))"
	fi
	rm -rf "$tmp"
fi
