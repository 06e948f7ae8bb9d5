#!/usr/bin/env bash
# tools/demo.sh: from a bare Debian 12 machine to a fitted Gaussian mixture in one command.
# Installs what is missing (apt), builds and installs gmm, starts a private throwaway
# PostgreSQL cluster, fits a 3-component model to three generated 2-D blobs, scores the rows,
# prints the results, and removes the cluster on exit.
#
#   bash tools/demo.sh           run the demo
#   bash tools/demo.sh --psql    ... then open psql on the demo database (until you quit it)
# Environment: GMM_SKIP_APT=1 skips the package step; PG_CONFIG picks the PostgreSQL.
set -euo pipefail

cd "$(dirname "$0")/.."
GMM_ROOT=$PWD
# shellcheck source=lib/common.sh
. "$GMM_ROOT/tools/lib/common.sh"
# shellcheck source=lib/cluster.sh
. "$GMM_ROOT/tools/lib/cluster.sh"

open_psql=0
case "${1:-}" in
"") ;;
--psql) open_psql=1 ;;
-h | --help)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*) gmm_die "unknown argument: $1 (try --help)" ;;
esac

gmm_pick_pg_major
gmm_ensure_packages "${GMM_PKGS_BUILD[@]}"
gmm_find_pg_config

gmm_say "building (make)"
build_log=$(mktemp "${TMPDIR:-/tmp}/gmm-build.XXXXXX")
if ! gmm_build >"$build_log" 2>&1; then
	tail -n 40 "$build_log" >&2
	gmm_die "the build failed (last lines above; full log: $build_log)"
fi
if ! missing=$(gmm_undefined_symbols gmm.so); then
	gmm_warn "gmm.so uses functions defined nowhere, so CREATE EXTENSION will fail: ${missing//$'\n'/ }"
fi
gmm_say "installing (make install)"
if ! gmm_install >"$build_log" 2>&1; then
	tail -n 20 "$build_log" >&2
	gmm_die "make install failed (last lines above; full log: $build_log)"
fi
rm -f "$build_log"

gmm_say "starting a private PostgreSQL cluster"
gmm_on_exit 'gmm_say "removing the private cluster"; gmm_cluster_destroy'
gmm_cluster_create
gmm_say "cluster up on socket $PGHOST, port $PGPORT"

"$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off -d postgres \
	-c "CREATE DATABASE gmm_demo"
export PGDATABASE=gmm_demo

"$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off -v demo_data="$GMM_ROOT/tools/lib/demo_data.sql" -f - <<'SQL'
\echo
\echo '-- 1. CREATE EXTENSION gmm'
CREATE EXTENSION gmm;

\echo '-- 2. features: 600 points from three Gaussian blobs in 2-D (setseed + Box-Muller)'
\i :demo_data
SELECT count(*) AS rows, min(id) AS first_id, max(id) AS last_id FROM features;

\echo '-- 3. fit: SELECT gmm_fit(x, 3) FROM features'
CREATE TABLE model AS SELECT gmm_fit(x, 3) AS m FROM features;

\echo '-- the model'
SELECT EXISTS (SELECT 1 FROM pg_cast
			   WHERE castsource = 'gmm'::regtype AND casttarget = 'jsonb'::regtype) AS has_jsonb
\gset
\pset format unaligned
\pset tuples_only on
\if :has_jsonb
SELECT jsonb_pretty(m::jsonb) FROM model;
\else
SELECT m::text FROM model;
\endif
\pset format aligned
\pset tuples_only off

\echo
\echo '-- component weights and means: gmm_weights(m), gmm_means(m)'
SELECT t.i - 1 AS component, round(t.w::numeric, 3) AS weight,
	(SELECT array_agg(round(v::numeric, 3)) FROM unnest((gmm_means(m))[t.i:t.i][:]) AS v) AS mean
FROM model, unnest(gmm_weights(m)) WITH ORDINALITY AS t(w, i)
ORDER BY t.i;

\echo '-- 4. score rows: gmm_predict, gmm_predict_proba, gmm_score_samples'
SELECT f.id, f.blob AS true_blob,
	(SELECT array_agg(round(v::numeric, 2)) FROM unnest(f.x) AS v) AS x,
	gmm_predict(m, f.x) AS cluster,
	(SELECT array_agg(round(v::numeric, 3)) FROM unnest(gmm_predict_proba(m, f.x)) AS v) AS proba,
	round(gmm_score_samples(m, f.x)::numeric, 3) AS log_density
FROM features f, model
WHERE f.id <= 9
ORDER BY f.id;

\echo '-- cluster sizes'
SELECT gmm_predict(m, x) AS cluster, count(*) AS rows,
	round(avg(gmm_score_samples(m, x))::numeric, 3) AS mean_log_density
FROM features, model
GROUP BY 1 ORDER BY 1;

\echo '-- generating blob vs. fitted cluster (labels are arbitrary: expect one cluster per blob)'
SELECT blob AS true_blob, gmm_predict(m, x) AS cluster, count(*) AS rows
FROM features, model
GROUP BY 1, 2 ORDER BY 1, 2;
SQL

gmm_say "demo finished: the model is in table 'model', the data in 'features' (database gmm_demo)"
if [ "$open_psql" = 1 ]; then
	if [ -t 0 ]; then
		gmm_say "opening psql; the cluster is removed when you quit (\\q)"
		"$GMM_TEST_PGBIN/psql" -X
	else
		gmm_warn "--psql needs a terminal; skipped"
	fi
fi
