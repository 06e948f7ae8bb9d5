#!/usr/bin/env bash
# Privileges and search_path (the README's "Security and privileges" section): gmm is a trusted
# extension, so a role that is not a superuser but has CREATE on the database installs it; a
# role without CREATE cannot; nothing is SECURITY DEFINER; the SQL-language functions pin their
# search_path; a hostile search_path (a schema ahead of pg_catalog shadowing the functions
# gmm_options calls) does not change results, while the same shadowing does change an unpinned
# call (so the check can fail).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export PGOPTIONS="-c client_min_messages=warning"
DB=gmm_privs
gmm_fresh_db "$DB"
gmm_psql -d postgres <<SQL
DROP ROLE IF EXISTS gmm_owner, gmm_reader, gmm_nocreate;
CREATE ROLE gmm_owner LOGIN;    -- not a superuser: CREATE on the database only
CREATE ROLE gmm_reader LOGIN;
CREATE ROLE gmm_nocreate LOGIN;
GRANT CREATE ON DATABASE $DB TO gmm_owner;
SQL
gmm_on_exit "$GMM_TEST_PGBIN/psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS $DB WITH (FORCE)' -c 'DROP ROLE IF EXISTS gmm_owner, gmm_reader, gmm_nocreate' >/dev/null 2>&1"
# public's CREATE is revoked from PUBLIC since PostgreSQL 15: the owner needs a schema
gmm_sql "CREATE SCHEMA app AUTHORIZATION gmm_owner; GRANT USAGE ON SCHEMA app TO gmm_reader" >/dev/null

check_sql "gmm.control says trusted (every version)" "t" \
	"SELECT bool_and(trusted) FROM pg_available_extension_versions WHERE name = 'gmm'"
check_sql_error "a role without CREATE on the database cannot install gmm" \
	"permission denied to create extension \"gmm\"" \
	"SET ROLE gmm_nocreate; CREATE EXTENSION gmm SCHEMA app"
check "a non-superuser with CREATE on the database installs gmm" \
	env PGUSER=gmm_owner "$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION gmm SCHEMA app"
check_sql "the extension is owned by that role, its objects by the bootstrap superuser" "gmm_owner|0" \
	"SELECT e.extowner::regrole || '|' ||
	        (SELECT count(*) FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	         WHERE d.refobjid = e.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
	           AND p.proowner <> 10)
	 FROM pg_extension e WHERE extname = 'gmm'"
check "the owner fits and stores a model" env PGUSER=gmm_owner "$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "
	SET search_path = app;
	CREATE TABLE app.features AS
		SELECT g AS id, ARRAY[(g % 2) * 6 + sin(g), cos(g * 1.3)]::float8[] AS x FROM generate_series(1, 300) g;
	CREATE TABLE app.models AS SELECT gmm_fit(x, 2, gmm_options(random_state => 1)) AS model FROM app.features;
	GRANT SELECT ON app.features, app.models TO gmm_reader"
check_sql "another role scores with it (EXECUTE is granted to PUBLIC)" "300" \
	"SET ROLE gmm_reader; SELECT count(app.gmm_predict(model, x)) FROM app.features, app.models"

# --- the catalog: nothing runs with other rights than the caller's ---------------------------
ext_procs="FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gmm')
	   AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'"
check_sql "the extension has functions (the checks below are not vacuous)" "t" \
	"SELECT count(*) > 40 $ext_procs"
check_sql "no function of the extension is SECURITY DEFINER" "none" \
	"SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), 'none') $ext_procs AND p.prosecdef"
check_sql "functions are written in C or SQL only (no untrusted language)" "c,sql" \
	"SELECT string_agg(DISTINCT (SELECT lanname FROM pg_language l WHERE l.oid = p.prolang), ',') $ext_procs AND p.prokind <> 'a'"
check_sql "there are SQL-language functions (gmm_options)" "t" \
	"SELECT count(*) >= 1 $ext_procs AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')"
check_sql "every SQL-language function pins search_path (proconfig)" "none" \
	"SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), 'none') $ext_procs
	   AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')
	   AND NOT coalesce(p.proconfig::text[] && ARRAY['search_path=pg_catalog, pg_temp', 'search_path=pg_catalog,pg_temp'], false)"
check_sql "no function is VOLATILE except the aggregates' support functions and gmm_train" "none" \
	"SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), 'none') $ext_procs
	   AND p.provolatile = 'v' AND p.prokind = 'f' AND p.proname <> 'gmm_train'
	   AND NOT EXISTS (SELECT 1 FROM pg_aggregate a WHERE p.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn))"

# --- a hostile search_path -----------------------------------------------------------------
# schema evil, ahead of pg_catalog, shadows the functions gmm_options calls and an operator
gmm_sql "SET ROLE gmm_owner; CREATE SCHEMA evil;
	CREATE FUNCTION evil.jsonb_strip_nulls(jsonb) RETURNS jsonb LANGUAGE sql
		AS \$\$ SELECT '{\"covariance_type\": \"spherical\", \"max_iter\": 1}'::jsonb \$\$;
	CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS \$\$ SELECT 'null'::jsonb \$\$;
	CREATE FUNCTION evil.float8_neq(float8, float8) RETURNS bool LANGUAGE sql AS \$\$ SELECT true \$\$;
	CREATE OPERATOR evil.<> (FUNCTION = evil.float8_neq, LEFTARG = float8, RIGHTARG = float8);
	GRANT USAGE ON SCHEMA evil TO PUBLIC" >/dev/null
HOSTILE="SET search_path = evil, pg_catalog, app, public"
check_sql "control: the shadowing works on an unpinned call" '{"max_iter": 1, "covariance_type": "spherical"}' \
	"$HOSTILE; SELECT jsonb_strip_nulls('{\"a\": null}'::jsonb)"
check_sql "control: the operator is shadowed too" "t" "$HOSTILE; SELECT 1.0::float8 <> 1.0::float8"
opts="SELECT gmm_options(covariance_type => 'diag', max_iter => 7, means_init => '{{0,0},{6,0}}')::text"
want=$(gmm_sql "SET search_path = app; $opts")
check_sql "gmm_options is unchanged under the hostile search_path" "$want" "$HOSTILE; $opts"
fit="SELECT md5(gmm_fit(x, 2, gmm_options(covariance_type => 'diag', random_state => 3))::text) FROM app.features"
want=$(gmm_sql "SET search_path = app; $fit")
check_sql "a fit with gmm_options gives the same model under the hostile search_path" "$want" "$HOSTILE; $fit"
score="SELECT md5(string_agg(gmm_predict_proba(model, x)::text || gmm_score_samples(model, x), ',' ORDER BY id))
	FROM app.features, app.models"
want=$(gmm_sql "SET search_path = app; $score")
check_sql "scores are the same under the hostile search_path" "$want" "$HOSTILE; $score"
# gmm_train reads a relation through SPI: with the caller's privileges, names quoted, the
# extension's functions schema-qualified
train="SELECT md5(app.gmm_train('app.features', 'x', 2, '{\"random_state\": 1}')::text)"
if want=$(gmm_sql "SET ROLE gmm_reader; SET search_path = app; $train" 2>&1) && [ -n "$want" ]; then
	ok "gmm_train as a role with SELECT on the table"
else
	not_ok "gmm_train as a role with SELECT on the table" "$want"
fi
check_sql_error "gmm_train as a role without SELECT on the table: permission denied" \
	"permission denied for (table features|schema app)" "SET ROLE gmm_nocreate; $train"
check_sql_error "gmm_train quotes the column name (no injection)" "column .* does not exist" \
	"SET ROLE gmm_reader; SELECT app.gmm_train('app.features', 'x, x) FROM pg_authid --', 2)"
# evil shadows the aggregates gmm_train runs with plain functions of the same arguments
gmm_sql "SET ROLE gmm_owner;
	CREATE FUNCTION evil.gmm_em_step(float8[], app.gmm) RETURNS app.gmm LANGUAGE sql AS \$\$ SELECT \$2 \$\$;
	CREATE FUNCTION evil.gmm_init(float8[], int, jsonb) RETURNS app.gmm LANGUAGE sql AS \$\$ SELECT NULL::app.gmm \$\$" >/dev/null
check_sql "control: the shadowed gmm_em_step is what an unqualified call runs" "t" \
	"$HOSTILE; SELECT count(*) = 300 FROM (SELECT gmm_em_step(x, model) FROM app.features, app.models) s"
check_sql "gmm_train gives the same model under the hostile search_path" "$want" "SET ROLE gmm_reader; $HOSTILE; $train"

check "the owner (not a superuser) drops the extension" \
	env PGUSER=gmm_owner "$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "DROP EXTENSION gmm CASCADE"
check_sql "nothing of gmm is left" "0" "SELECT count(*) FROM pg_type WHERE typname = 'gmm'"
done_testing
