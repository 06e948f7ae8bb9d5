#!/usr/bin/env bash
# test/bench/init.sh: gmm_init's cost, serial vs parallel, and the size and cost of its
# states as a cluster ships them.  Not part of the test command: its numbers depend on the
# machine.
#
#   PGHOST=/tmp PGPORT=5432 PGUSER=postgres bash test/bench/init.sh [ROWS] [PARTS]
#
# Needs a database (PGDATABASE, default: the user's) where CREATE EXTENSION gmm works and 2
# parallel workers are allowed.  It creates and drops the schema gmm_init_bench.  Data: ROWS
# (default 300000) rows x 8 features drawn from a 4-component mixture, K = 4, the default
# sample_size (10000).
#
#   1. gmm_init serial and with 2 parallel workers (EXPLAIN ANALYZE execution time, median
#      of 3), the ratio, and whether the two models are byte-identical;
#   2. the states of PARTS (default 32) shard-like tables (row i in table i % PARTS): rows
#      each, text size each (base64; version 1's hex text of the same sample is
#      2 x (68 + bytes - 36) characters, computed, not measured), the time to build and put
#      out the PARTS states (one query a table), and the time of the coordinator's work:
#      parse the PARTS texts, combine them, run the final function, against the serial
#      gmm_init.
set -euo pipefail

ROWS=${1:-300000}
PARTS=${2:-32}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
q() { "${PSQL[@]}" -c "$1"; }

# median of 3 execution times (s) of a statement from EXPLAIN ANALYZE, with settings first
exec_time() {
	local settings=$1 stmt=$2
	for _ in 1 2 3; do
		"${PSQL[@]}" -c "SET search_path = gmm_init_bench, public; $settings
			EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $stmt" |
			awk '/Execution Time/ { printf "%.4f\n", $3 / 1000 }'
	done | sort -n | sed -n 2p
}
SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0;
	SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"

q "CREATE EXTENSION IF NOT EXISTS gmm"
q "DROP SCHEMA IF EXISTS gmm_init_bench CASCADE"
q "CREATE SCHEMA gmm_init_bench"
trap 'q "DROP SCHEMA IF EXISTS gmm_init_bench CASCADE" || true' EXIT
q "SET search_path = gmm_init_bench, public;
   CREATE TABLE pts AS
   SELECT i::int AS i, x FROM gmm_sample(jsonb_build_object(
	'covariance_type', 'diag', 'weights', '[0.25, 0.25, 0.25, 0.25]'::jsonb,
	'means', (SELECT jsonb_agg((SELECT jsonb_agg(round((5 * sin(j * 7 + t * 3))::numeric, 3))
							   FROM generate_series(1, 8) t)) FROM generate_series(1, 4) j),
	'covariances', (SELECT jsonb_agg((SELECT jsonb_agg(1 + (j + t) % 3) FROM generate_series(1, 8) t))
					FROM generate_series(1, 4) j))::gmm, $ROWS, 1) WITH ORDINALITY s(x, c, i);
   ANALYZE pts;
   CREATE AGGREGATE init_state(float8[], int) (SFUNC = gmm_init_transfn, STYPE = gmm_init_state);
   CREATE AGGREGATE init_merge(gmm_init_state) (SFUNC = gmm_init_combine, STYPE = gmm_init_state);"

echo "gmm_init over $ROWS rows x 8 features, K = 4, sample_size 10000"
ser=$(exec_time "$SERIAL" "SELECT gmm_init(x, 4) FROM pts")
par=$(exec_time "$PARALLEL" "SELECT gmm_init(x, 4) FROM pts")
same=$(q "SET search_path = gmm_init_bench, public; $SERIAL
	CREATE TABLE m_serial AS SELECT gmm_init(x, 4)::text AS m FROM pts; $PARALLEL
	SELECT (SELECT gmm_init(x, 4)::text FROM pts) = m FROM m_serial")
echo "  serial:             $ser s"
echo "  2 parallel workers: $par s (parallel / serial = $(awk -v a="$par" -v b="$ser" 'BEGIN { printf "%.2f", a / b }'))"
echo "  byte-identical models: $same"

# the shards: PARTS tables, each state built and put out as text by its own query (as Citus's
# worker_partial_agg does on each shard), one after another
q "SET search_path = gmm_init_bench, public;
   CREATE TABLE parts (p int, n bigint, t text);
   ALTER TABLE parts ALTER t SET STORAGE EXTERNAL;
   DO \$\$ BEGIN FOR j IN 0..$PARTS - 1 LOOP
	EXECUTE format('CREATE TABLE p_%s AS SELECT x FROM pts WHERE i %% $PARTS = %s', j, j);
   END LOOP; END \$\$;"
shards=$("${PSQL[@]}" -c "SET search_path = gmm_init_bench, public; $SERIAL
   DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
	FOR j IN 0..$PARTS - 1 LOOP
		EXECUTE format('SELECT length(init_state(x, 4)::text) FROM p_%s', j);
	END LOOP;
	RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 4);
	FOR j IN 0..$PARTS - 1 LOOP
		EXECUTE format('INSERT INTO parts SELECT %s, count(*), init_state(x, 4)::text FROM p_%s', j, j);
	END LOOP;
   END \$\$;" 2>&1 | sed -n 's/.*NOTICE: *//p')
"${PSQL[@]}" -F ' ' -c "SET search_path = gmm_init_bench, public;
	SELECT avg(n)::int, round(avg(length(t)) / 1e6, 3),
		   round(avg(2 * (68 + octet_length(decode(t, 'base64')) - 36)) / 1e6, 3),
		   round(sum(length(t)) / 1e6, 1), round(sum(2 * (68 + octet_length(decode(t, 'base64')) - 36)) / 1e6, 1)
	FROM parts" | while read -r n b64 hex tb64 thex; do
	echo "$PARTS partitions: $n rows each; state text $b64 MB each ($tb64 MB in all); version 1's hex text of the same sample: $hex MB ($thex MB)"
done
echo "  shards: the $PARTS states built and put out as text, one query each, one after another: $shards s"
merge=$(exec_time "$SERIAL" "SELECT gmm_init_final(init_merge(t::gmm_init_state)) FROM parts")
fetch=$(exec_time "$SERIAL" "SELECT sum(length(t)) FROM parts")
same=$(q "SET search_path = gmm_init_bench, public;
	SELECT (SELECT gmm_init_final(init_merge(t::gmm_init_state))::text FROM parts) = m FROM m_serial")
echo "  coordinator: read, parse and combine the $PARTS texts and run the final function: $merge s (reading the texts alone: $fetch s); / serial gmm_init = $(awk -v a="$merge" -v b="$ser" 'BEGIN { printf "%.2f", a / b }')"
echo "  model from the merged partitions byte-identical to serial gmm_init: $same"
