#!/usr/bin/env bash
# Backup, restore and format stability: a database holding gmm columns (every covariance type,
# a NULL model, a model large enough to be TOASTed) survives pg_dump in plain and custom format
# (restored with psql and pg_restore into fresh databases) with byte-identical models and
# identical predictions; COPY round trips in text and binary format; and models stored in
# format version 1 (test/fixtures/, written once by gen_models_v1.sh) still load, from their
# JSON text and from their binary form, and give the predictions stored with them.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

FIX=$GMM_ROOT/test/fixtures
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmm-dump.XXXXXX")
# shellcheck disable=SC2016 # expanded when the hook runs
gmm_on_exit 'rm -rf "$WORK"'

export PGOPTIONS="-c client_min_messages=warning"
gmm_fresh_db gmm_dump_src
check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"

# two models of each covariance type (K = 2 and 3), a NULL model, and a 40-feature, 6-component
# full model (about 80 kB: stored out of line in the TOAST table)
gmm_psql <<'SQL'
CREATE TABLE pts AS
	SELECT g, ARRAY[(g % 3) * 4 + sin(g) * 0.8, (g % 3) * 2 - cos(g * 1.7) * 0.6,
	                sin(g * 0.37) * 0.5]::float8[] AS x
	FROM generate_series(1, 400) g;
CREATE TABLE wide AS
	SELECT g, array_agg((g % 6) * 3 + sin(g * j * 0.37 + j) ORDER BY j)::float8[] AS x
	FROM generate_series(1, 600) g, generate_series(1, 40) j GROUP BY g;
CREATE TABLE models (id int PRIMARY KEY, note text, model gmm);
INSERT INTO models
	SELECT row_number() OVER (ORDER BY t, k), t || ' K=' || k,
	       gmm_fit(x, k, gmm_options(covariance_type => t, random_state => 3))
	FROM pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t, generate_series(2, 3) k
	GROUP BY t, k;
INSERT INTO models VALUES (100, 'no model', NULL);
INSERT INTO models SELECT 200, 'wide', gmm_fit(x, 6, gmm_options(max_iter => 5)) FROM wide;
SQL

check_sql "source: 8 small models, 1 NULL, 1 wide" "10|1|40" \
	"SELECT count(*) || '|' || count(*) FILTER (WHERE model IS NULL) || '|' ||
	        max(gmm_n_features(model)) FROM models"
# the wide model (far above the 2 kB TOAST threshold, and incompressible doubles) lives in the
# table's TOAST relation, which holds nothing else
toast_sql="SELECT octet_length(model::bytea) > 50000
	        AND pg_relation_size((SELECT reltoastrelid FROM pg_class WHERE oid = 'models'::regclass)) > 0
	 FROM models WHERE id = 200"
check_sql "source: the wide model is TOASTed" "t" "$toast_sql"

# fingerprints: binary form, text form, and scores of every (model, point) pair
fp_bytea="SELECT md5(string_agg(id || ':' || coalesce(encode(model::bytea, 'hex'), 'NULL'), ',' ORDER BY id)) FROM models"
fp_text="SELECT md5(string_agg(id || ':' || coalesce(model::text, 'NULL'), ',' ORDER BY id)) FROM models"
fp_pred="SELECT md5(string_agg(m.id || ':' || p.g || ':' || gmm_predict(m.model, p.x) || ':'
	                || gmm_score_samples(m.model, p.x) || ':' || gmm_predict_proba(m.model, p.x)::text,
	                ',' ORDER BY m.id, p.g))
	 FROM models m, pts p WHERE m.id < 100 AND p.g % 7 = 0"
fp_wide="SELECT md5(string_agg(gmm_score_samples(m.model, w.x)::text, ',' ORDER BY w.g))
	 FROM models m, wide w WHERE m.id = 200 AND w.g % 10 = 0"
src_bytea=$(gmm_sql "$fp_bytea")
src_text=$(gmm_sql "$fp_text")
src_pred=$(gmm_sql "$fp_pred")
src_wide=$(gmm_sql "$fp_wide")

# same_as DB LABEL: the database holds the same models, text, predictions and a TOASTed model
same_as() {
	local db=$1 label=$2
	check_eq "$label: models identical (model::bytea)" "$src_bytea" "$(PGDATABASE=$db gmm_sql "$fp_bytea" 2>&1)"
	check_eq "$label: models identical (text)" "$src_text" "$(PGDATABASE=$db gmm_sql "$fp_text" 2>&1)"
	check_eq "$label: identical predictions" "$src_pred" "$(PGDATABASE=$db gmm_sql "$fp_pred" 2>&1)"
	check_eq "$label: identical scores of the wide model" "$src_wide" "$(PGDATABASE=$db gmm_sql "$fp_wide" 2>&1)"
	check_eq "$label: the NULL model is still NULL" "1" \
		"$(PGDATABASE=$db gmm_sql "SELECT count(*) FROM models WHERE id = 100 AND model IS NULL" 2>&1)"
	check_eq "$label: the wide model is TOASTed" "t" "$(PGDATABASE=$db gmm_sql "$toast_sql" 2>&1)"
}

# --- pg_dump, plain format, restored with psql ---------------------------------------------
check "pg_dump (plain)" "$GMM_TEST_PGBIN/pg_dump" -f "$WORK/plain.sql" gmm_dump_src
gmm_psql -d postgres -c "DROP DATABASE IF EXISTS gmm_dump_plain" -c "CREATE DATABASE gmm_dump_plain"
check "psql restores the plain dump without error" \
	gmm_psql -d gmm_dump_plain -f "$WORK/plain.sql"
same_as gmm_dump_plain "plain dump"

# --- pg_dump -Fc, restored with pg_restore -------------------------------------------------
check "pg_dump -Fc" "$GMM_TEST_PGBIN/pg_dump" -Fc -f "$WORK/custom.dump" gmm_dump_src
gmm_psql -d postgres -c "DROP DATABASE IF EXISTS gmm_dump_custom" -c "CREATE DATABASE gmm_dump_custom"
check "pg_restore restores the custom dump without error" \
	"$GMM_TEST_PGBIN/pg_restore" --exit-on-error -d gmm_dump_custom "$WORK/custom.dump"
same_as gmm_dump_custom "custom dump"

# --- COPY round trips (psql's \copy: the file is the client's) -----------------------------
for fmt in text binary; do
	gmm_sql "DROP TABLE IF EXISTS models_$fmt; CREATE TABLE models_$fmt (LIKE models)" >/dev/null
	check "COPY TO ($fmt)" gmm_psql -c "\\copy models TO '$WORK/models.$fmt' (FORMAT $fmt)"
	check "COPY FROM ($fmt)" gmm_psql -c "\\copy models_$fmt FROM '$WORK/models.$fmt' (FORMAT $fmt)"
	check_sql "COPY $fmt round trip: every model byte-identical, NULL stays NULL" "10|0" \
		"SELECT count(*) || '|' || count(*) FILTER (WHERE b.model::bytea IS DISTINCT FROM a.model::bytea
		                                          OR b.model::text IS DISTINCT FROM a.model::text)
		 FROM models a FULL JOIN models_$fmt b USING (id)"
done
# a corrupted binary COPY stream is rejected, not loaded (the check above can fail): flip the
# format version byte of the first model (after the 19-byte header, the row's field count and
# lengths) -- found by searching for the magic "GMMB"
if /usr/bin/python3 - "$WORK/models.binary" "$WORK/models.bad" <<'PY'; then
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
i = data.find(b'GMMB')
assert i > 0
data[i + 4] = 99
open(sys.argv[2], 'wb').write(data)
PY
	gmm_sql "TRUNCATE models_binary" >/dev/null
	check_sql_error "binary COPY of a model with format version 99 is rejected" \
		"unsupported gmm format version 99" "\\copy models_binary FROM '$WORK/models.bad' (FORMAT binary)"
else
	not_ok "corrupt a binary COPY file" "python3 failed"
fi

# --- format version 1 fixtures -------------------------------------------------------------
gmm_fresh_db gmm_dump_fixture
gmm_psql -c "CREATE EXTENSION gmm" \
	-c "CREATE TABLE fx (cov text PRIMARY KEY, json text, hex text)" \
	-c "CREATE TABLE fp (cov text, x float8[], label int, score float8, proba float8[])"
check "load the v1 fixture files" gmm_psql \
	-c "\\copy fx FROM '$FIX/models_v1.tsv'" -c "\\copy fp FROM '$FIX/predictions_v1.tsv'"
check_sql "fixtures: 4 models of format version 1, 120 stored predictions" "4|4|120" \
	"SELECT count(*) || '|' || count(*) FILTER (WHERE json::jsonb ->> 'format_version' = '1'
	                                            AND get_byte(decode(hex, 'hex'), 4) = 1)
	        || '|' || (SELECT count(*) FROM fp) FROM fx"
check_sql "v1 text and v1 binary load to the same model" "4" \
	"SELECT count(*) FROM fx WHERE json::gmm::text = decode(hex, 'hex')::gmm::text"
check_sql "v1 text form reads back unchanged" "4" \
	"SELECT count(*) FROM fx WHERE json::gmm::text = json"
# labels exactly; log-densities and probabilities to 1e-9 (another BLAS may round differently)
for form in "json::gmm" "decode(hex, 'hex')::gmm"; do
	check_sql "v1 models ($form) give the stored predictions" "120|0|0|0" \
		"SELECT count(*) || '|' || count(*) FILTER (WHERE gmm_predict(m, fp.x) <> fp.label)
		        || '|' || count(*) FILTER (WHERE abs(gmm_score_samples(m, fp.x) - fp.score) > 1e-9 * greatest(1, abs(fp.score)))
		        || '|' || count(*) FILTER (WHERE (SELECT max(abs(a - b)) FROM unnest(gmm_predict_proba(m, fp.x), fp.proba) u(a, b)) > 1e-9)
		 FROM fp JOIN (SELECT cov, $form AS m FROM fx) f USING (cov)"
done

# --- format version 2 fixtures (test/fixtures/gen_models_v2.sh, written once by gmm 1.2) --------
gmm_psql -c "CREATE TABLE fx2 (name text PRIMARY KEY, cov text, json text, hex text)"
check "load the v2 fixture file" gmm_psql -c "\\copy fx2 FROM '$FIX/models_v2.tsv'"
check_sql "fixtures: 16 models of format version 2 (text and binary say so)" "16|16" \
	"SELECT count(*) || '|' || count(*) FILTER (WHERE json::jsonb ->> 'format_version' = '2'
	        AND get_byte(decode(hex, 'hex'), 4) = 2 AND gmm_format_version(json::gmm) = 2) FROM fx2"
check_sql "v2 text and v2 binary load to the same model, and both read back unchanged" "16|16|16" \
	"SELECT count(*) FILTER (WHERE json::gmm::text = decode(hex, 'hex')::gmm::text) || '|' ||
	        count(*) FILTER (WHERE json::gmm::text = json) || '|' ||
	        count(*) FILTER (WHERE encode(json::gmm::bytea, 'hex') = hex) FROM fx2"
check_sql "v2 fixtures keep their n_missing and rng" "4|4" \
	"SELECT count(*) FILTER (WHERE name LIKE 'missing%' AND gmm_n_missing(json::gmm) = 17 + length(cov)) || '|' ||
	        count(*) FILTER (WHERE name LIKE 'rng%' AND gmm_fit_options(json::gmm) ->> 'rng' = 'sklearn') FROM fx2"
check_sql "v2 calibration fixtures keep their calibration (300 rows), percentiles in [0, 1]" "4|4" \
	"SELECT count(*) FILTER (WHERE (json::jsonb -> 'calibration' ->> 'n_rows')::int = 300) || '|' ||
	        count(*) FILTER (WHERE gmm_score_percentile(json::gmm, '{4, 2, 0}') BETWEEN 0 AND 1)
	 FROM fx2 WHERE name LIKE 'calibration%'"
check_sql "v2 fixture models give the v1 models' stored predictions" "360|0|0" \
	"SELECT count(*) || '|' || count(*) FILTER (WHERE gmm_predict(json::gmm, fp.x) <> fp.label)
	        || '|' || count(*) FILTER (WHERE abs(gmm_score_samples(json::gmm, fp.x) - fp.score) > 1e-9 * greatest(1, abs(fp.score)))
	 FROM fp JOIN fx2 USING (cov) WHERE name NOT LIKE 'bayesian%'"
check_sql "v2 Bayesian fixtures keep their section and score every stored row" "4|120|0" \
	"SELECT count(DISTINCT name) FILTER (WHERE json::gmm::jsonb -> 'bayesian' = json::jsonb -> 'bayesian')
	        || '|' || count(*) || '|' ||
	        count(*) FILTER (WHERE NOT gmm_score_samples(json::gmm, fp.x) > -1e6)
	 FROM fp JOIN fx2 USING (cov) WHERE name LIKE 'bayesian%'"

gmm_psql -d postgres -c "DROP DATABASE gmm_dump_plain" -c "DROP DATABASE gmm_dump_custom" \
	-c "DROP DATABASE gmm_dump_fixture" -c "DROP DATABASE gmm_dump_src"
done_testing
