#!/usr/bin/env bash
# test/bench/pgvector.sh: what reading pgvector columns directly (gmm_pgvector) saves over a
# cast, and what a 768-dimensional model costs.  Not part of the test command: its numbers
# depend on the machine; every comparison is a ratio between runs of this one script.
#
#   PGHOST=... PGPORT=... PGUSER=... bash test/bench/pgvector.sh [--quick] [--768]
#
# Needs a database (PGDATABASE, default: the user's) where CREATE EXTENSION gmm_pgvector
# CASCADE works.  It creates and drops the schema gmm_pgv_bench.  Serial plans throughout
# (max_parallel_workers_per_gather = 0), one BLAS thread is the server's business.
#
#   1. gmm_fit (K = 4, full, max_iter 5, tol 0) over N x 64 rows (N = 200000; --quick 50000):
#      a vector column, the same column cast (v::real[]::float8[]), and a float8[] column
#   2. scoring the same rows: gmm_score (aggregate) and sum(gmm_score_samples(...)) with a
#      literal model, vector vs cast vs float8[]
#   3. a 768-dimensional model (K = 4) on 20000 rows (--quick 5000; --768: this part only):
#      bytes of the model, time of a fit of 3 iterations, of one EM iteration (a gmm_em_step
#      pass over the rows) and of scoring a row (2000 rows), full vs diagonal covariances
set -euo pipefail

N=200000 N768=20000 ONLY768=0
for a in "$@"; do
	case $a in
	--quick) N=50000 N768=5000 ;;
	--768) ONLY768=1 ;;
	*) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
# statements go through stdin: a literal model is longer than a command-line argument may be
q() { printf '%s\n' "SET search_path = gmm_pgv_bench, public; SET client_min_messages = error;" "$1" | "${PSQL[@]}" -f -; }

# execution time of a statement in seconds (EXPLAIN ANALYZE, serial)
run_once() {
	q "SET max_parallel_workers_per_gather = 0; SET work_mem = '1GB';
		EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $1" |
		awk '/Execution Time/ { printf "%.4f", $3 / 1000 }'
}
# the best of $REPS runs of each statement, the statements taking turns (so that a busy
# moment of the machine does not fall on one of them only); one time per statement
REPS=${REPS:-3}
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
exec_time() { best_of "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per_row_us() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t / n * 1e6 }'; }

"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS gmm_pgvector CASCADE"
"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS gmm_pgv_bench CASCADE" -c "CREATE SCHEMA gmm_pgv_bench"
trap '"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS gmm_pgv_bench CASCADE" || true' EXIT

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1 || true)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
echo "== machine: $cpu, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(q "SELECT version()" | cut -d, -f1)"

if [ "$ONLY768" = 0 ]; then
echo "== 1. gmm_fit over $N rows x 64 (K = 4, full, 5 iterations)"
q "SELECT setseed(0.25); CREATE TABLE t64 AS
   SELECT i, v, v::real[]::float8[] AS a FROM (
     SELECT i, array_agg(((i % 4) * 2 + random() + random() + random())::real ORDER BY j)::vector(64) AS v
     FROM generate_series(1, $N) i, generate_series(1, 64) j GROUP BY i) s;
   VACUUM ANALYZE t64"
FOPTS="'{\"max_iter\": 5, \"tol\": 0, \"n_init\": 1}'"
same=$(q "SELECT (SELECT gmm_fit(v, 4, $FOPTS)::text FROM t64) = (SELECT gmm_fit(a, 4, $FOPTS)::text FROM t64)")
echo "same model from the vector and the float8[] column: $same"
read -r tv tc ta < <(best_of "SELECT gmm_fit(v, 4, $FOPTS) FROM t64" \
	"SELECT gmm_fit(v::real[]::float8[], 4, $FOPTS) FROM t64" "SELECT gmm_fit(a, 4, $FOPTS) FROM t64")
echo "vector column:            $tv s"
echo "vector::real[]::float8[]: $tc s  (cast / vector $(ratio "$tc" "$tv"); cast costs $(per_row_us "$(awk -v a="$tc" -v b="$tv" 'BEGIN{print a-b}')" "$N") us a row)"
echo "float8[] column:          $ta s  (float8[] / vector $(ratio "$ta" "$tv"))"

echo "== 2. scoring the $N rows (literal model)"
M=$(q "SELECT gmm_fit(v, 4, $FOPTS)::text FROM t64")
read -r sv sc sa < <(best_of "SELECT gmm_score('$M'::gmm, v) FROM t64" \
	"SELECT gmm_score('$M'::gmm, v::real[]::float8[]) FROM t64" "SELECT gmm_score('$M'::gmm, a) FROM t64")
read -r pv pc pa < <(best_of "SELECT sum(gmm_score_samples('$M'::gmm, v)) FROM t64" \
	"SELECT sum(gmm_score_samples('$M'::gmm, v::real[]::float8[])) FROM t64" \
	"SELECT sum(gmm_score_samples('$M'::gmm, a)) FROM t64")
for f in "v $sv $pv" "v::real[]::float8[] $sc $pc" "a $sa $pa"; do
	read -r form s1 s2 <<<"$f"
	printf '%-20s gmm_score %s s (%s us a row), sum(gmm_score_samples) %s s (%s us a row)\n' \
		"$form" "$s1" "$(per_row_us "$s1" "$N")" "$s2" "$(per_row_us "$s2" "$N")"
done
echo "gmm_score: cast / vector $(ratio "$sc" "$sv"), float8[] / vector $(ratio "$sa" "$sv"); gmm_score_samples: cast / vector $(ratio "$pc" "$pv"), float8[] / vector $(ratio "$pa" "$pv")"

fi

echo "== 3. a 768-dimensional model, K = 4, $N768 rows"
q "SELECT setseed(0.5); CREATE TABLE t768 AS
   SELECT i, array_agg(((i % 4) + random() + random() + random())::real ORDER BY j)::vector(768) AS v
   FROM generate_series(1, $N768) i, generate_series(1, 768) j GROUP BY i;
   VACUUM ANALYZE t768"
for cov in diag full; do
	o1="'{\"covariance_type\": \"$cov\", \"max_iter\": 1, \"tol\": 0}'"
	o3="'{\"covariance_type\": \"$cov\", \"max_iter\": 3, \"tol\": 0}'"
	q "CREATE TABLE m768_$cov AS SELECT gmm_fit(v, 4, $o1) AS m FROM t768"
	bytes=$(q "SELECT pg_size_pretty(octet_length(m::bytea)::bigint) || ' binary, ' || pg_size_pretty(pg_column_size(m)::bigint) || ' in the table' FROM m768_$cov")
	t3=$(REPS=1 exec_time "SELECT gmm_fit(v, 4, $o3) FROM t768")
	# one EM iteration over the rows, and scoring 2000 of them; the model joined from its
	# table (a TOAST pointer, decoded once per query)
	read -r tp st < <(REPS=2 best_of "SELECT gmm_em_step(v, m) FROM t768, m768_$cov" \
		"SELECT gmm_score(m, v) FROM t768, m768_$cov WHERE i <= 2000")
	echo "$cov: model $bytes; gmm_fit of 3 iterations $t3 s; one EM iteration (gmm_em_step) $tp s ($(per_row_us "$tp" "$N768") us a row); scoring $(per_row_us "$st" 2000) us a row"
done
