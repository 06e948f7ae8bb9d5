#!/usr/bin/env bash
# test/bench/citus_init.sh: gmm_init and gmm_train on a Citus cluster against the same rows in
# a local table.  Not part of the test command (its numbers depend on the machine); run as
# root in a machine or chroot where PostgreSQL, gmm and Citus are installed:
#
#   PGBIN=/usr/lib/postgresql/15/bin bash test/bench/citus_init.sh [ROWS] [SHARDS]
#
# It starts a coordinator and two workers as the postgres user on 127.0.0.1 ports 56431-56433
# (data under /tmp/gmm-citus-bench, removed at the end), creates a distributed table of ROWS
# (default 300000) rows x 8 features in SHARDS (default 32) shards and an identical local
# table on the coordinator, and prints, as medians of 3 runs timed by psql (\timing):
#   - gmm_init(x, 4) on the local table (serial) and on the distributed table, and the ratio;
#   - the same with sample_size 100 (small states), and for scale count(*) and one
#     gmm_em_step pass on both;
#   - whether every distributed run gives the byte-identical model of the local serial one;
#   - gmm_train on both (10 iterations, tol 0): times and the largest relative difference of
#     the parameters;
# and EXPLAIN VERBOSE of the distributed gmm_init (worker_partial_agg on the shards).
# GMM_BENCH_SETUP_ONLY=1: only set up the cluster and the tables, and leave it running.
set -euo pipefail

ROWS=${1:-300000}
SHARDS=${2:-32}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BASE=/tmp/gmm-citus-bench
PORTS=(56431 56432 56433)

as_pg() { su postgres -s /bin/bash -c "$*"; }
stop_all() {
	for p in "${PORTS[@]}"; do
		[ -d "$BASE/n$p" ] && as_pg "$PGBIN/pg_ctl -D $BASE/n$p -m fast -w stop" >/dev/null 2>&1 || true
	done
	rm -rf "$BASE"
}
stop_all
[ -n "${GMM_BENCH_SETUP_ONLY:-}" ] || trap stop_all EXIT
mkdir -p "$BASE" && chown postgres "$BASE"
for p in "${PORTS[@]}"; do
	as_pg "$PGBIN/initdb -D $BASE/n$p -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync" >/dev/null
	cat >>"$BASE/n$p/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $p
unix_socket_directories = '$BASE'
shared_preload_libraries = 'citus'
fsync = off
max_parallel_workers_per_gather = 0
CONF
	as_pg "$PGBIN/pg_ctl -D $BASE/n$p -l $BASE/n$p.log -w start" >/dev/null
	as_pg "$PGBIN/psql -X -q -h 127.0.0.1 -p $p -d postgres -c 'CREATE EXTENSION citus'"
done
# SQL on stdin, to the coordinator
sqlc() { as_pg "$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p ${PORTS[0]} -d postgres"; }
sqlc <<<"SELECT citus_set_coordinator_host('127.0.0.1', ${PORTS[0]});
	SELECT citus_add_node('127.0.0.1', ${PORTS[1]}); SELECT citus_add_node('127.0.0.1', ${PORTS[2]});
	CREATE EXTENSION gmm;" >/dev/null
sqlc >/dev/null <<SQL
CREATE TABLE local_pts AS
SELECT i::int AS id, x FROM gmm_sample(jsonb_build_object(
	'covariance_type', 'diag', 'weights', '[0.25, 0.25, 0.25, 0.25]'::jsonb,
	'means', (SELECT jsonb_agg((SELECT jsonb_agg(round((5 * sin(j * 7 + t * 3))::numeric, 3))
							   FROM generate_series(1, 8) t)) FROM generate_series(1, 4) j),
	'covariances', (SELECT jsonb_agg((SELECT jsonb_agg(1 + (j + t) % 3) FROM generate_series(1, 8) t))
					FROM generate_series(1, 4) j))::gmm, $ROWS, 1) WITH ORDINALITY s(x, c, i);
CREATE TABLE dist_pts (id int, x float8[]);
SELECT create_distributed_table('dist_pts', 'id', shard_count := $SHARDS);
INSERT INTO dist_pts SELECT * FROM local_pts;
ANALYZE local_pts;
ANALYZE dist_pts;
CREATE TABLE m_local AS SELECT gmm_init(x, 4)::text AS m FROM local_pts;
SQL
if [ -n "${GMM_BENCH_SETUP_ONLY:-}" ]; then
	echo "cluster left running on 127.0.0.1:${PORTS[0]} (data in $BASE)"
	exit 0
fi
echo "Citus $(sqlc <<<"SELECT extversion FROM pg_extension WHERE extname = 'citus'"), $SHARDS shards on 2 workers; $ROWS rows x 8 features"
echo "EXPLAIN VERBOSE of gmm_init on the distributed table (the query sent to the shards):"
sqlc <<<"EXPLAIN (VERBOSE, COSTS OFF) SELECT gmm_init(x, 4) FROM dist_pts" |
	grep -m1 'worker_partial_agg' | sed 's/^ */  /' || echo '  (no worker_partial_agg: not pushed down)'

# median of 3 psql-timed runs of a query (ms)
timed() {
	for _ in 1 2 3; do
		printf '\\timing on\n%s;\n' "$1" | sqlc | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	done | sort -n | sed -n 2p
}
loc=$(timed "SELECT gmm_init(x, 4) IS NULL FROM local_pts")
dis=$(timed "SELECT gmm_init(x, 4) IS NULL FROM dist_pts")
echo "gmm_init, local serial: $loc ms; distributed: $dis ms; distributed / local = $(awk -v a="$dis" -v b="$loc" 'BEGIN { printf "%.2f", a / b }')"
loc_s=$(timed "SELECT gmm_init(x, 4, '{\"sample_size\": 100}') IS NULL FROM local_pts")
dis_s=$(timed "SELECT gmm_init(x, 4, '{\"sample_size\": 100}') IS NULL FROM dist_pts")
echo "  the same with sample_size 100 (states of 100 rows to ship): local $loc_s ms, distributed $dis_s ms"
cnt=$(timed "SELECT count(*) FROM dist_pts")
agg=$(timed "SELECT gmm_em_step(x, (SELECT m::gmm FROM m_local)) IS NULL FROM dist_pts")
lagg=$(timed "SELECT gmm_em_step(x, (SELECT m::gmm FROM m_local)) IS NULL FROM local_pts")
echo "  for scale: count(*) distributed $cnt ms; one gmm_em_step pass local $lagg ms, distributed $agg ms"
same=$(for _ in 1 2 3; do sqlc <<<"SELECT (SELECT gmm_init(x, 4)::text FROM dist_pts) = m FROM m_local"; done | sort | uniq -c | tr -s ' ')
echo "distributed gmm_init byte-identical to local serial, 3 runs:$same"
opts='{"max_iter": 10, "tol": 0}'
lt=$(timed "SELECT gmm_train('local_pts', 'x', 4, '$opts') IS NULL")
dt=$(timed "SELECT gmm_train('dist_pts', 'x', 4, '$opts') IS NULL")
diff=$(sqlc <<<"WITH a AS (SELECT gmm_train('local_pts', 'x', 4, '$opts') AS m),
	b AS (SELECT gmm_train('dist_pts', 'x', 4, '$opts') AS m)
	SELECT max(abs(u - v) / greatest(abs(u), abs(v), 1e-300)) FROM a, b,
		LATERAL (SELECT * FROM unnest(gmm_weights(a.m), gmm_weights(b.m))
				 UNION ALL SELECT * FROM unnest(gmm_means(a.m), gmm_means(b.m))
				 UNION ALL SELECT * FROM unnest(gmm_covariances(a.m), gmm_covariances(b.m))) u(u, v)")
echo "gmm_train (10 iterations), local serial: $lt ms; distributed: $dt ms; largest relative difference of the parameters: $diff"
