#!/usr/bin/env bash
# Smoke test of an installed gmm: the extension installs, drops and reinstalls cleanly, the
# type and the documented functions are declared as intended, and a tiny fit scores its rows.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

gmm_fresh_db gmm_smoke

check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"
if [ "$GMM_T_FAILED" -gt 0 ]; then
	echo "# bail out: nothing else can be checked without the extension"
	done_testing || exit 1
fi
# the default version is the Makefile's EXTVERSION, and every released version stays installable
want_version=$(sed -n 's/^EXTVERSION = //p' "$GMM_ROOT/Makefile")
check_sql "extension version is the Makefile's ($want_version)" "$want_version" \
	"SELECT extversion FROM pg_extension WHERE extname = 'gmm'"
check_sql "installable versions: 1.0 to 1.3; update paths 1.0 -> 1.1 -> 1.2 -> 1.3" "1.0,1.1,1.2,1.3|1.0--1.1,1.0--1.2,1.0--1.3,1.1--1.2,1.1--1.3,1.2--1.3" \
	"SELECT (SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'gmm')
	 || '|' || (SELECT string_agg(source || '--' || target, ',' ORDER BY source, target) FROM pg_extension_update_paths('gmm') WHERE path IS NOT NULL AND source < target)"

# the model holds doubles and int64s: aligned as double, stored out of line / compressible
check_sql "type gmm: varlena, align double, storage main (inline compressed, TOAST past a page)" "-1|d|m" \
	"SELECT typlen || '|' || typalign::text || '|' || typstorage::text FROM pg_type WHERE oid = 'gmm'::regtype"

check_sql "gmm_fit(float8[], int) is an aggregate returning gmm" "gmm" \
	"SELECT format_type(p.prorettype, NULL) FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid
	 WHERE p.oid = 'gmm_fit(float8[], int)'::regprocedure"

# the documented scoring functions: pure functions of their arguments
for f in 'gmm_predict(gmm, float8[])' 'gmm_predict_proba(gmm, float8[])' \
	'gmm_score_samples(gmm, float8[])' 'gmm_means(gmm)' 'gmm_weights(gmm)'; do
	check_sql "$f is IMMUTABLE STRICT PARALLEL SAFE" "i|t|s" \
		"SELECT provolatile::text || '|' || CASE WHEN proisstrict THEN 't' ELSE 'f' END || '|' || proparallel::text FROM pg_proc
		 WHERE oid = '$f'::regprocedure"
done

# gmm_train is the one exception: it runs queries of its own (SPI), which a parallel worker
# cannot do, so it must be PARALLEL UNSAFE
check_sql "no function of the extension but gmm_train is PARALLEL UNSAFE" "gmm_train(regclass,name,integer,jsonb)" \
	"SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), 'none')
	 FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gmm')
	   AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' AND p.proparallel = 'u'"

# STYLE.md: COMMENT ON every object; here the type and every function a user calls (type I/O
# functions, aggregate support functions and what takes or returns internal are exempt)
check_sql "the type and every user-facing function have a COMMENT" "none" \
	"SELECT coalesce(string_agg(pg_describe_object(d.classid, d.objid, 0), ', '), 'none')
	 FROM pg_depend d
	 LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
	 LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gmm') AND d.deptype = 'e'
	   AND (p.oid IS NOT NULL OR (t.oid IS NOT NULL AND t.typcategory <> 'A'))
	   AND NOT (p.oid IS NOT NULL AND (p.prorettype IN ('cstring'::regtype, 'internal'::regtype)
	            OR 'cstring'::regtype = ANY (p.proargtypes) OR 'internal'::regtype = ANY (p.proargtypes)
	            OR EXISTS (SELECT 1 FROM pg_type io WHERE p.oid IN (io.typsend, io.typreceive))
	            OR EXISTS (SELECT 1 FROM pg_aggregate a
	                       WHERE p.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn,
	                                       a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn))))
	   AND obj_description(d.objid, d.classid::regclass::name) IS NULL"

# two well-separated blobs with a deterministic jitter: every blob must get one label
gmm_sql "CREATE TABLE pts AS
	SELECT g, g % 2 AS blob,
	       ARRAY[(g % 2) * 10 + sin(g) * 0.5, (g % 2) * 10 + cos(g * 1.7) * 0.5]::float8[] AS x
	FROM generate_series(1, 200) g" >/dev/null
check_sql "fit on two blobs, predict: one label per blob, two labels in all" "2|2" \
	"WITH m AS (SELECT gmm_fit(x, 2) AS m FROM pts),
	      lab AS (SELECT blob, gmm_predict(m, x) AS l FROM pts, m)
	 SELECT (SELECT count(DISTINCT (blob, l)) FROM lab) || '|' || (SELECT count(DISTINCT l) FROM lab)"
check_sql "predict_proba rows sum to 1, score_samples is finite" "t" \
	"WITH m AS (SELECT gmm_fit(x, 2) AS m FROM pts)
	 SELECT bool_and(abs((SELECT sum(v) FROM unnest(gmm_predict_proba(m, x)) v) - 1) < 1e-9
	                 AND gmm_score_samples(m, x) > '-Infinity'::float8
	                 AND gmm_score_samples(m, x) < 'Infinity'::float8)
	 FROM pts, m"
check_sql "text output round-trips exactly" "t" \
	"WITH m AS (SELECT gmm_fit(x, 2) AS m FROM pts) SELECT m::text::gmm::text = m::text FROM m"

gmm_sql "DROP TABLE pts" >/dev/null
check "DROP EXTENSION gmm" gmm_sql "DROP EXTENSION gmm"
check_sql "nothing of gmm is left after DROP EXTENSION" "0" \
	"SELECT count(*) FROM pg_type WHERE typname = 'gmm'"
check "CREATE EXTENSION gmm again" gmm_sql "CREATE EXTENSION gmm"

# relocatable = true: it can live in and move to another schema
check "ALTER EXTENSION gmm SET SCHEMA" gmm_sql "CREATE SCHEMA ml; ALTER EXTENSION gmm SET SCHEMA ml"
check_sql "the type moved with it" "ml.gmm" "SELECT 'ml.gmm'::regtype::text"

check_sql "the server is still up" "1" "SELECT 1"
done_testing
