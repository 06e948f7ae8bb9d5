#!/usr/bin/env bash
# Upgrades: gmm 1.0 (and every later release) updated with ALTER EXTENSION gmm UPDATE has exactly the catalog of a fresh
# install of the newest version (every member object with its full definition: functions and
# aggregates with their flags, costs and support functions, types, casts, operators, comments
# and privileges), models stored under 1.0 stay byte-identical and score the same after the
# update, and pg_dump of an updated database restores into a fresh install.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export PGOPTIONS="-c client_min_messages=warning"
newest=$(sed -n 's/^EXTVERSION = //p' "$GMM_ROOT/Makefile")

# every member of extension gmm, one line each, with what defines it (schema-independent)
CATALOG_SQL=$(
	cat <<'SQL'
WITH members AS (
	SELECT d.classid, d.objid, d.objsubid
	FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
	WHERE e.extname = 'gmm' AND d.deptype = 'e'
), lines AS (
	SELECT pg_describe_object(m.classid, m.objid, m.objsubid) AS obj,
		coalesce(obj_description(m.objid, m.classid::regclass::name), '<no comment>') AS what
	FROM members m
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure::text,
		format('kind=%s volatile=%s parallel=%s strict=%s secdef=%s leakproof=%s cost=%s rows=%s result=%s lang=%s src=%s bin=%s config=%s acl=%s',
			p.prokind, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof,
			p.procost, p.prorows, pg_get_function_result(p.oid), l.lanname, p.prosrc, p.probin,
			p.proconfig, p.proacl)
	FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT 'argument defaults ' || p.oid::regprocedure::text, pg_get_expr(p.proargdefaults, 0)
	FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	WHERE p.proargdefaults IS NOT NULL
	UNION ALL
	SELECT 'aggregate ' || a.aggfnoid::regprocedure::text,
		format('kind=%s sfunc=%s stype=%s final=%s(%s,%s) combine=%s serial=%s deserial=%s msfunc=%s init=%s sspace=%s',
			a.aggkind, a.aggtransfn::regprocedure, a.aggtranstype::regtype, a.aggfinalfn::regprocedure,
			a.aggfinalextra, a.aggfinalmodify, a.aggcombinefn::regprocedure, a.aggserialfn::regprocedure,
			a.aggdeserialfn::regprocedure, a.aggmtransfn::regprocedure, a.agginitval, a.aggtransspace)
	FROM members m JOIN pg_aggregate a ON m.classid = 'pg_proc'::regclass AND a.aggfnoid = m.objid
	UNION ALL
	SELECT 'type ' || t.oid::regtype::text,
		format('len=%s byval=%s align=%s storage=%s in=%s out=%s recv=%s send=%s typmod_in=%s category=%s elem=%s array=%s',
			t.typlen, t.typbyval, t.typalign, t.typstorage, t.typinput::regproc, t.typoutput::regproc,
			t.typreceive::regproc, t.typsend::regproc, t.typmodin::regproc, t.typcategory,
			t.typelem::regtype, t.typarray::regtype)
	FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'cast ' || c.castsource::regtype::text || ' -> ' || c.casttarget::regtype::text,
		format('func=%s context=%s method=%s', c.castfunc::regprocedure, c.castcontext, c.castmethod)
	FROM members m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'operator ' || o.oid::regoperator::text,
		format('code=%s commutator=%s negator=%s restrict=%s join=%s', o.oprcode::regproc,
			o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest::regproc, o.oprjoin::regproc)
	FROM members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
)
SELECT obj || ' | ' || what FROM lines ORDER BY 1;
SQL
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmm-upgrade.XXXXXX")
# shellcheck disable=SC2016 # expanded when the hook runs
gmm_on_exit 'rm -rf "$WORK"'

gmm_fresh_db gmm_fresh
check "CREATE EXTENSION gmm (fresh $newest)" gmm_sql "CREATE EXTENSION gmm"
check_sql "fresh install is version $newest" "$newest" "SELECT extversion FROM pg_extension WHERE extname = 'gmm'"
gmm_sql "$CATALOG_SQL" >"$WORK/fresh.txt"

gmm_fresh_db gmm_updated
check "CREATE EXTENSION gmm VERSION '1.0'" gmm_sql "CREATE EXTENSION gmm VERSION '1.0'"
gmm_sql "$CATALOG_SQL" >"$WORK/v10.txt"
# models stored under 1.0, and their scores
gmm_psql <<'SQL'
CREATE TABLE pts AS
	SELECT g, ARRAY[(g % 3) * 4 + sin(g) * 0.8, (g % 3) * 2 - cos(g * 1.7) * 0.6]::float8[] AS x
	FROM generate_series(1, 300) g;
CREATE TABLE models AS
	SELECT t AS covariance_type, gmm_fit(x, 3, gmm_options(covariance_type => t, random_state => 1)) AS m
	FROM pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t GROUP BY t;
CREATE TABLE before AS
	SELECT covariance_type, m::text AS txt, gmm_send(m) AS bin,
		(SELECT sum(gmm_score_samples(m, x)) FROM pts) AS score
	FROM models;
SQL
check "ALTER EXTENSION gmm UPDATE" gmm_sql "ALTER EXTENSION gmm UPDATE"
check_sql "updated install is version $newest" "$newest" "SELECT extversion FROM pg_extension WHERE extname = 'gmm'"
gmm_sql "$CATALOG_SQL" >"$WORK/updated.txt"

if [ -s "$WORK/fresh.txt" ] && diff -u "$WORK/fresh.txt" "$WORK/updated.txt" >"$WORK/diff.txt"; then
	ok "1.0 + UPDATE has the fresh $newest catalog ($(wc -l <"$WORK/fresh.txt") lines compared)"
else
	not_ok "1.0 + UPDATE has the fresh $newest catalog" "$(head -n 40 "$WORK/diff.txt")"
fi
if [ "$newest" != 1.0 ] && ! cmp -s "$WORK/v10.txt" "$WORK/updated.txt"; then
	ok "the update changed the catalog (the comparison sees what an upgrade does)"
else
	not_ok "the update changed the catalog" "1.0's catalog equals $newest's"
fi

# every later released version (an install script on main) updates to the same catalog too
for v in $(cd "$GMM_ROOT/sql" && ls gmm--*--*.sql | sed -n 's/^gmm--\([0-9.]*\)--[0-9.]*\.sql$/\1/p' | sort -V); do
	[ "$v" = 1.0 ] && continue
	gmm_fresh_db "gmm_from_${v/./_}"
	gmm_sql "CREATE EXTENSION gmm VERSION '$v'" >/dev/null
	gmm_sql "ALTER EXTENSION gmm UPDATE" >/dev/null
	gmm_sql "$CATALOG_SQL" >"$WORK/from_$v.txt"
	if [ -s "$WORK/from_$v.txt" ] && diff -u "$WORK/fresh.txt" "$WORK/from_$v.txt" >"$WORK/diff_$v.txt"; then
		ok "$v + UPDATE has the fresh $newest catalog"
	else
		not_ok "$v + UPDATE has the fresh $newest catalog" "$(head -n 40 "$WORK/diff_$v.txt")"
	fi
	PGDATABASE=postgres gmm_sql "DROP DATABASE IF EXISTS gmm_from_${v/./_}" >/dev/null
done
export PGDATABASE=gmm_updated
check_sql "models stored under 1.0: same text, same binary form, same scores after the update" "4|4" \
	"SELECT count(*) FILTER (WHERE b.txt = m.m::text AND b.bin = gmm_send(m.m)
		AND b.score = (SELECT sum(gmm_score_samples(m.m, x)) FROM pts)), count(*)
	 FROM before b JOIN models m USING (covariance_type)"

# pg_dump of the updated database restores into a fresh database (CREATE EXTENSION gmm = newest)
"$GMM_TEST_PGBIN/pg_dump" -Fc -f "$WORK/updated.dump" gmm_updated
gmm_fresh_db gmm_restored
check "pg_restore of the updated database" \
	"$GMM_TEST_PGBIN/pg_restore" --exit-on-error -d gmm_restored "$WORK/updated.dump"
check_sql "restored: version $newest, same models" "$newest|4" \
	"SELECT (SELECT extversion FROM pg_extension WHERE extname = 'gmm') || '|' ||
	 (SELECT count(*) FROM before b JOIN models m USING (covariance_type) WHERE b.bin = gmm_send(m.m))"

export PGDATABASE=postgres
for db in gmm_fresh gmm_updated gmm_restored; do gmm_sql "DROP DATABASE IF EXISTS $db" >/dev/null; done
done_testing
