#!/usr/bin/env bash
# test/bench/model_ref.sh: what a model read from a table costs against a literal model, for
# gmm_em_step, gmm_score and gmm_score_samples.  Not part of the test command: its numbers
# depend on the machine; it prints ratios against the literal measured in the same run.
#
#   PGHOST=/tmp PGPORT=5432 PGUSER=postgres bash test/bench/model_ref.sh [ROWS] [REPS]
#
# Needs a database (PGDATABASE, default: the user's) where CREATE EXTENSION gmm works; it
# creates and drops the schema gmm_bench.  Data: ROWS (default 300000) rows of 8 features
# drawn from a 4-component mixture; the model is a 4-component full-covariance gmm_fit of
# them (4.5 kB, 3.3 kB compressed).  Each statement runs serially, REPS times (default 5), and the best
# execution time (EXPLAIN ANALYZE, TIMING OFF) is printed, for four ways of passing the model:
#   literal   the model's text in the statement (a plan Const)
#   subquery  (SELECT model FROM m_ref)
#   join      FROM features, m_ref (a 1-row table)
#   joinlit   the literal, with the same join (what the join itself costs)
#   plpgsql   a PL/pgSQL variable (a Param, or a Const in its custom plans)
# each with the model table stored as default (compressed if it shrinks, else out of line),
# STORAGE MAIN (compressed inline) and STORAGE EXTERNAL (out of line, not compressed).
set -euo pipefail

ROWS=${1:-300000}
REPS=${2:-5}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

q() { "${PSQL[@]}" -c "$1"; }

# the statement of function fn with model expression $1 and extra FROM items $2
agg() {
	case $fn in
	em_step) echo "SELECT gmm_em_step(x, $1) FROM features $2" ;;
	score) echo "SELECT gmm_score($1, x) FROM features $2" ;;
	score_samples) echo "SELECT sum(gmm_score_samples($1, x)) FROM features $2" ;;
	esac
}

# best execution time in seconds of a statement over REPS runs
best_time() {
	local stmt=$1 best= t
	for _ in $(seq "$REPS"); do
		t=$("${PSQL[@]}" -c "SET search_path = gmm_bench, public; SET max_parallel_workers_per_gather = 0;
			EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $stmt" |
			awk '/Execution Time/ { printf "%.4f", $3 / 1000 }')
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
	done
	printf '%s\n' "$best"
}

q "CREATE EXTENSION IF NOT EXISTS gmm"
q "DROP SCHEMA IF EXISTS gmm_bench CASCADE"
q "CREATE SCHEMA gmm_bench"
trap 'q "DROP SCHEMA IF EXISTS gmm_bench CASCADE" || true' EXIT

q "CREATE TABLE gmm_bench.truth AS
   SELECT jsonb_build_object(
	'covariance_type', 'diag',
	'weights', (SELECT jsonb_agg(0.25) FROM generate_series(1, 4)),
	'means', (SELECT jsonb_agg((SELECT jsonb_agg(round((5 * sin(j * 7 + t * 3))::numeric, 3))
							   FROM generate_series(1, 8) t)) FROM generate_series(1, 4) j),
	'covariances', (SELECT jsonb_agg((SELECT jsonb_agg(1 + (j + t) % 3) FROM generate_series(1, 8) t))
					FROM generate_series(1, 4) j))::gmm AS m"
q "CREATE TABLE gmm_bench.features AS SELECT x FROM gmm_bench.truth, gmm_sample(m, $ROWS, 1) s(x, c);
   ANALYZE gmm_bench.features"
q "CREATE TABLE gmm_bench.model AS
   SELECT gmm_fit(x, 4, gmm_options(max_iter => 20, random_state => 1)) AS model
   FROM (SELECT x FROM gmm_bench.features LIMIT 5000) s"
MODEL=$(q "SELECT model FROM gmm_bench.model")
q "CREATE FUNCTION gmm_bench.pl_em(m gmm) RETURNS gmm LANGUAGE plpgsql AS
   \$\$ DECLARE r gmm; BEGIN SELECT gmm_em_step(x, m) INTO r FROM gmm_bench.features; RETURN r; END \$\$;
   CREATE FUNCTION gmm_bench.pl_score(m gmm) RETURNS float8 LANGUAGE plpgsql AS
   \$\$ DECLARE r float8; BEGIN SELECT gmm_score(m, x) INTO r FROM gmm_bench.features; RETURN r; END \$\$;
   CREATE FUNCTION gmm_bench.pl_samples(m gmm) RETURNS float8 LANGUAGE plpgsql AS
   \$\$ DECLARE r float8; BEGIN SELECT sum(gmm_score_samples(m, x)) INTO r FROM gmm_bench.features; RETURN r; END \$\$"

echo "rows: $ROWS x 8, model: $(q "SELECT pg_column_size(model) FROM gmm_bench.model") bytes, best of $REPS"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1), $(nproc) cores"
printf '%-9s %-17s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n' storage function literal subquery join \
	joinlit plpgsql 'sub/lit' 'join/lit' 'j/jlit' 'pl/lit'
for storage in default main external; do
	q "DROP TABLE IF EXISTS gmm_bench.m_ref; CREATE TABLE gmm_bench.m_ref (model gmm)"
	[ "$storage" = default ] || q "ALTER TABLE gmm_bench.m_ref ALTER model SET STORAGE ${storage^^}"
	# a fresh datum (not the stored, already compressed one), so that the storage applies
	q "INSERT INTO gmm_bench.m_ref VALUES ('$MODEL'); ANALYZE gmm_bench.m_ref"
	form=$(q "SELECT coalesce(pg_column_compression(model), 'plain') FROM gmm_bench.m_ref")
	toasted=$(q "SELECT CASE WHEN pg_relation_size(reltoastrelid) > 0 THEN 'out of line' ELSE 'inline' END
		FROM pg_class WHERE oid = 'gmm_bench.m_ref'::regclass")
	echo "# $storage: $form, $toasted"
	for fn in em_step score score_samples; do
		pl=pl_${fn/score_samples/samples}
		pl=${pl/pl_em_step/pl_em}
		lit=$(best_time "$(agg "'$MODEL'::gmm" "")")
		sub=$(best_time "$(agg "(SELECT model FROM m_ref)" "")")
		join=$(best_time "$(agg "m_ref.model" ", m_ref")")
		jlit=$(best_time "$(agg "'$MODEL'::gmm" ", m_ref")")
		plt=$(best_time "SELECT $pl(model) FROM m_ref")
		printf '%-9s %-17s %8s %8s %8s %8s %8s %8.2f %8.2f %8.2f %8.2f\n' "$storage" "gmm_$fn" "$lit" \
			"$sub" "$join" "$jlit" "$plt" "$(awk -v a="$sub" -v b="$lit" 'BEGIN { print a / b }')" \
			"$(awk -v a="$join" -v b="$lit" 'BEGIN { print a / b }')" \
			"$(awk -v a="$join" -v b="$jlit" 'BEGIN { print a / b }')" \
			"$(awk -v a="$plt" -v b="$lit" 'BEGIN { print a / b }')"
	done
done
