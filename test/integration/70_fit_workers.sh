#!/usr/bin/env bash
# One fit on several cores (gmm.fit_workers): the model is the same, to the byte, with 1, 2 and 4
# workers, for every covariance type, weighted or not, over rows spanning several chunks of the
# parallel E-step; while a long fit runs with 2 workers the backend has more than one thread, and
# after it (and after a cancelled one) exactly one again; statement_timeout still cancels it and
# the session stays usable; the setting's bounds.  Timings are for test/bench, not here.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export PGOPTIONS="-c client_min_messages=error"
gmm_fresh_db gmm_fit_workers
check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmm-workers.XXXXXX")
# shellcheck disable=SC2016 # expanded when the hook runs
gmm_on_exit 'rm -rf "$WORK"'

# 300 000 rows x 4 features, K = 3: blocks of 2048 rows, chunks of 131 072: three chunks
gmm_psql <<'SQL'
CREATE TABLE pts AS
	SELECT g, ARRAY[(g % 3) * 4 + sin(g) * 0.8, (g % 3) * 2 - cos(g * 1.7) * 0.6,
	                sin(g * 0.37), cos(g * 0.11) * 0.5]::float8[] AS x, 1 + (g % 5) * 0.25 AS w
	FROM generate_series(1, 300000) g;
SQL
fits() {
	gmm_sql "SET gmm.fit_workers = $1;
		SELECT string_agg(md5(m::text), ',' ORDER BY t) FROM (
			SELECT t, gmm_fit(x, 3, gmm_options(covariance_type => t, max_iter => 4, tol => 0)) AS m
			FROM pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t GROUP BY t
			UNION ALL
			SELECT 'b' || t, gmm_fit_bayesian(x, 3, gmm_options(covariance_type => t, max_iter => 4, tol => 0))
			FROM pts, unnest(ARRAY['full', 'spherical']) t GROUP BY t
			UNION ALL
			SELECT 'w' || t, gmm_fit_weighted(x, w, 3, gmm_options(covariance_type => t, max_iter => 4, tol => 0))
			FROM pts, unnest(ARRAY['full', 'diag']) t GROUP BY t) s"
}
one=$(fits 1)
check_eq "2 workers: the same eight models (two Bayesian), byte for byte, as 1" "$one" "$(fits 2)"
check_eq "4 workers (more than the cores): the same eight models" "$one" "$(fits 4)"
check_sql "gmm_fit_auto and gmm_refit with 2 workers equal 1" "true|true" \
	"SET client_min_messages = error; SET gmm.fit_workers = 1;
	 CREATE TEMP TABLE a1 AS SELECT gmm_fit_auto(x, 1, 3, gmm_options(max_iter => 3, tol => 0)) AS m FROM pts;
	 CREATE TEMP TABLE r1 AS SELECT gmm_refit(x, (SELECT m FROM a1), '{\"max_iter\": 2, \"tol\": 0}') AS m FROM pts;
	 SET gmm.fit_workers = 2;
	 SELECT ((SELECT gmm_fit_auto(x, 1, 3, gmm_options(max_iter => 3, tol => 0)) FROM pts)::text = (SELECT m::text FROM a1))::text
	     || '|' || ((SELECT gmm_refit(x, (SELECT m FROM a1), '{\"max_iter\": 2, \"tol\": 0}') FROM pts)::text = (SELECT m::text FROM r1))::text"

# a long fit with 2 workers: look at the backend's threads from another session, then cancel it
gmm_sql "CREATE TABLE big AS SELECT x FROM pts, generate_series(1, 2) r" >/dev/null
# made before the session starts: the loops below read it at once
: >"$WORK/victim.out"
(
	gmm_psql -At -v ON_ERROR_STOP=0 -c "SET gmm.fit_workers = 2" -c "SET statement_timeout = '6s'" \
		-c "SELECT 'pid:' || pg_backend_pid()" \
		-c "SELECT gmm_blas_info() IS NOT NULL" \
		-c "SELECT 'base:' || count(*) FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') t" \
		-c "SELECT gmm_fit(x, 6, gmm_options(max_iter => 100000, tol => 0)) FROM big" \
		-c "SELECT 'usable:' || 1 + 1" >"$WORK/victim.out" 2>&1 || true
	gmm_psql -At -c "SET statement_timeout = '6s'" -c "SELECT 'again:' || pg_backend_pid()" >>"$WORK/victim.out" 2>&1 || true
) &
victim=$!
pid=""
for _ in $(seq 1 50); do
	pid=$(sed -n 's/^pid://p' "$WORK/victim.out" 2>/dev/null | head -1)
	[ -n "$pid" ] && break
	sleep 0.1
done
base=""
for _ in $(seq 1 50); do
	base=$(sed -n 's/^base://p' "$WORK/victim.out" 2>/dev/null | head -1)
	[ -n "$base" ] && break
	sleep 0.1
done
# the backend's threads once gmm (and OpenBLAS, which may start its own) is loaded, and the fit's
maxthreads=0
for _ in $(seq 1 40); do
	[ -n "$pid" ] && [ -d "/proc/$pid/task" ] || break
	# || true: find fails when a thread ends while it reads the directory, and under pipefail
	# that failure ended this script
	nt=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l || true)
	[ "$nt" -gt "$maxthreads" ] && maxthreads=$nt
	sleep 0.1
done
check_eq "while the fit runs with gmm.fit_workers = 2 its backend has one more thread than before (${base:-?})" \
	"$((${base:-0} + 1))" "$maxthreads"
wait "$victim"
check "statement_timeout cancels a fit on 2 workers" grep -q 'canceling statement due to statement timeout' "$WORK/victim.out"
check "the session is still usable afterwards" grep -q '^usable:2$' "$WORK/victim.out"
if [ -n "$pid" ] && [ -d "/proc/$pid/task" ]; then
	not_ok "the backend ended with its session" "pid $pid still exists"
else
	ok "the backend ended with its session"
fi
check_sql "a backend that ran a cancelled 2-worker fit has as many threads as before it" "t" \
	"DO \$\$ BEGIN PERFORM gmm_blas_info(); END \$\$; SET gmm.fit_workers = 2; SET statement_timeout = '1s';
	 CREATE TEMP TABLE before AS SELECT count(*) AS n FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') t;
	 DO \$\$ BEGIN PERFORM gmm_fit(x, 6, gmm_options(max_iter => 100000, tol => 0)) FROM big;
	 EXCEPTION WHEN query_canceled THEN NULL; END \$\$;
	 RESET statement_timeout;
	 SELECT (SELECT count(*) FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') t) = (SELECT n FROM before)"
# once gmm is loaded in the session (before, gmm.fit_workers is a placeholder PostgreSQL accepts)
check_sql_error "gmm.fit_workers is at least 1" "0 is outside the valid range" \
	"SELECT gmm_blas_info() IS NOT NULL; SET gmm.fit_workers = 0"
check_sql_error "gmm.fit_workers is at most 64" "65 is outside the valid range" \
	"SELECT gmm_blas_info() IS NOT NULL; SET gmm.fit_workers = 65"

PGDATABASE=postgres gmm_sql "DROP DATABASE gmm_fit_workers" >/dev/null
done_testing
