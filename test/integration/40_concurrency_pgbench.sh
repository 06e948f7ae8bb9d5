#!/usr/bin/env bash
# Concurrency: pgbench, 8 clients for 10 s, scores rows through the latest-model view while
# another session keeps retraining (gmm_fit, deterministic per random_state) and swapping the
# latest model in a transaction.  Each pgbench statement checks that all its scores come from one
# model: every score must equal the score of that row under one of the four models the writer
# produces (precomputed in ref), and all rows of the statement under the same one; a mismatch
# raises, which pgbench reports as an aborted client.  Then: zero errors, every statement checked
# and recorded, and readers saw several models over the run.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

DURATION=${GMM_PGBENCH_SECONDS:-10}
CLIENTS=8
export PGOPTIONS="-c client_min_messages=warning"
gmm_fresh_db gmm_pgbench
check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmm-pgbench.XXXXXX")
# shellcheck disable=SC2016 # expanded when the hook runs
gmm_on_exit 'rm -rf "$WORK"'

gmm_psql <<'SQL'
CREATE TABLE features (id int PRIMARY KEY, x float8[] NOT NULL);
INSERT INTO features
	SELECT g, ARRAY[(g % 3) * 4 + sin(g) * 0.8, (g % 3) * 2 - cos(g * 1.7) * 0.6]
	FROM generate_series(1, 1000) g;
CREATE TABLE models (
	name text NOT NULL,
	trained_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	model gmm NOT NULL,
	PRIMARY KEY (name, trained_at));
CREATE VIEW scored AS
	SELECT f.id, gmm_score_samples(m.model, f.x) AS log_density
	FROM features f
	CROSS JOIN LATERAL (SELECT model FROM models WHERE name = 'demo'
	                    ORDER BY trained_at DESC LIMIT 1) m;

-- the writer's retraining, model i of 0..3: deterministic, so its scores can be precomputed
CREATE FUNCTION train(i int) RETURNS gmm LANGUAGE sql AS $$
	SELECT gmm_fit(x, 2 + i % 2, gmm_options(covariance_type => (ARRAY['full', 'diag', 'tied', 'spherical'])[i + 1],
	                                         random_state => i))
	FROM features WHERE id % 2 = 0
$$;
CREATE TABLE ref AS
	SELECT i AS model_id, f.id, gmm_score_samples(m, f.x) AS ld
	FROM generate_series(0, 3) i, LATERAL train(i) m, features f;
CREATE INDEX ON ref (id, ld);
INSERT INTO models (name, model) VALUES ('demo', train(0));

-- raises unless the n scores of one statement all match one and the same model
CREATE FUNCTION one_model(ids int[], n bigint, want bigint) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	IF n <> want OR array_position(ids, NULL) IS NOT NULL
	   OR (SELECT count(DISTINCT i) FROM unnest(ids) i) <> 1 THEN
		RAISE EXCEPTION 'scores of one statement from several models: % rows, model ids %', n, ids;
	END IF;
	RETURN ids[1];
END $$;
CREATE UNLOGGED TABLE seen (model_id int NOT NULL);

-- the writer: retrain and swap the latest model, one transaction per swap, for some seconds
CREATE TABLE swaps (n int);
CREATE PROCEDURE swap_loop(seconds float8) LANGUAGE plpgsql AS $$
DECLARE
	stop timestamptz := clock_timestamp() + make_interval(secs => seconds);
	i int := 0;
	m gmm;
BEGIN
	WHILE clock_timestamp() < stop LOOP
		i := i + 1;
		m := train(i % 4);
		DELETE FROM models WHERE name = 'demo';
		INSERT INTO models (name, model) VALUES ('demo', m);
		COMMIT;
	END LOOP;
	INSERT INTO swaps VALUES (i);
END $$;
SQL

check_sql "sanity: the four models score every row differently" "0" \
	"SELECT count(*) FROM ref a JOIN ref b ON a.id = b.id AND a.model_id < b.model_id AND a.ld = b.ld"
check_sql "sanity: retraining is deterministic (train(0) again gives the stored model)" "t" \
	"SELECT train(0)::bytea = model::bytea FROM models"

cat >"$WORK/score.sql" <<'SQL'
\set k random(0, 19)
INSERT INTO seen (model_id)
	SELECT one_model(array_agg(r.model_id), count(*), 50)
	FROM scored s LEFT JOIN ref r ON r.id = s.id AND r.ld = s.log_density
	WHERE s.id % 20 = :k;
SQL

# the check can fail: the same statement against a wrong reference (one model's scores
# shifted) aborts the pgbench client, and the parsing below notices
gmm_sql "CREATE TABLE ref_ok AS SELECT * FROM ref; UPDATE ref SET ld = ld + 1 WHERE model_id = 0" >/dev/null
out=$("$GMM_TEST_PGBIN/pgbench" -n -f "$WORK/score.sql" -c 1 -t 1 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'scores of one statement from several models' <<<"$out"; then
	ok "negative control: a mismatching score aborts the pgbench client (exit status $rc)"
else
	not_ok "negative control: a mismatching score aborts the pgbench client" "exit status $rc: $out"
fi
gmm_sql "DROP TABLE ref; ALTER TABLE ref_ok RENAME TO ref; CREATE INDEX ON ref (id, ld); TRUNCATE seen" >/dev/null

# the writer starts first and runs a little longer than pgbench
gmm_psql -c "CALL swap_loop($DURATION + 1.5)" >"$WORK/writer.out" 2>&1 &
wpid=$!
sleep 0.5
out=$("$GMM_TEST_PGBIN/pgbench" -n -f "$WORK/score.sql" -c "$CLIENTS" -j 2 -T "$DURATION" 2>&1) && rc=0 || rc=$?
wrc=0
wait "$wpid" || wrc=$?
printf '%s\n' "$out" | grep -E 'number of|tps|latency average|aborted|ERROR' | head -n 20 | sed 's/^/# /'

check_eq "pgbench exit status 0 (no client aborted)" "0" "$rc"
check_eq "no client aborted, no ERROR" "0" "$(grep -cE 'aborted|ERROR' <<<"$out" || true)"
failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$out")
check_eq "number of failed transactions: 0" "0" "${failed:-missing}"
processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
if [ "${processed:-0}" -gt 0 ]; then ok "pgbench processed $processed transactions"; else not_ok "pgbench processed transactions" "$out"; fi
check_sql "every transaction recorded one checked statement" "${processed:-?}" "SELECT count(*) FROM seen"
check_eq "the writer finished without error" "0" "$wrc"
[ "$wrc" -eq 0 ] || sed 's/^/#   /' "$WORK/writer.out"
swaps=$(gmm_sql "SELECT coalesce(max(n), 0) FROM swaps")
if [ "$swaps" -ge 10 ]; then ok "the writer retrained and swapped the model $swaps times"; else not_ok "the writer swapped at least 10 times" "swaps: $swaps"; fi
check_sql "readers saw all four models over the run" "4" "SELECT count(DISTINCT model_id) FROM seen"

gmm_psql -d postgres -c "DROP DATABASE gmm_pgbench"
done_testing
