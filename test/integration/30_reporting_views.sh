#!/usr/bin/env bash
# Scoring in reporting views (the README's "Scoring in reporting views" recipe): a view scoring
# every feature row with the latest model of a name, a materialised view refreshed after
# retraining, and an anomaly report (rows below the 1st percentile of the log-density).
#
# Readers never see a mix of models: a reader's statement is held half-way through the rows (on
# an advisory lock) while another session replaces the latest model and commits; every score of
# that statement must come from the old model.  The same interleaving over a deliberately wrong
# view (the model fetched per row by a VOLATILE function, which takes a new snapshot per call)
# must be caught mixing models, which shows that the check can fail.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export PGOPTIONS="-c client_min_messages=warning"
gmm_fresh_db gmm_views
check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"

gmm_psql <<'SQL'
CREATE TABLE features (id int PRIMARY KEY, x float8[] NOT NULL);
INSERT INTO features
	SELECT g, ARRAY[(g % 3) * 4 + sin(g) * 0.8, (g % 3) * 2 - cos(g * 1.7) * 0.6]
	FROM generate_series(1, 1000) g;
-- five far outliers
INSERT INTO features SELECT 9000 + g, ARRAY[20 + g, -15 - g]::float8[] FROM generate_series(1, 5) g;
CREATE TABLE models (
	name text NOT NULL,
	trained_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	model gmm NOT NULL,
	PRIMARY KEY (name, trained_at));
INSERT INTO models (name, model)
	SELECT 'demo', gmm_fit(x, 3, gmm_options(random_state => 1)) FROM features WHERE id < 9000;
-- the next model (retrained differently), and a copy of the first, for the checks
CREATE TABLE m_old AS SELECT model FROM models;
CREATE TABLE m_new AS
	SELECT gmm_fit(x, 3, gmm_options(covariance_type => 'diag', random_state => 2)) AS model
	FROM features WHERE id < 9000;

-- the recipe: score each row with the latest model of its name
CREATE VIEW scored AS
	SELECT f.id, gmm_predict(m.model, f.x) AS component,
	       gmm_score_samples(m.model, f.x) AS log_density, m.trained_at
	FROM features f
	CROSS JOIN LATERAL (SELECT model, trained_at FROM models WHERE name = 'demo'
	                    ORDER BY trained_at DESC LIMIT 1) m;
CREATE MATERIALIZED VIEW scored_mv AS SELECT * FROM scored;
CREATE UNIQUE INDEX ON scored_mv (id);
CREATE VIEW anomalies AS
	SELECT s.* FROM scored s
	WHERE s.log_density < (SELECT percentile_cont(0.01) WITHIN GROUP (ORDER BY log_density) FROM scored);

-- the wrong way, for the negative control: a new snapshot per row
CREATE FUNCTION latest_model_volatile(p_name text) RETURNS gmm LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RETURN (SELECT model FROM models WHERE name = p_name ORDER BY trained_at DESC LIMIT 1);
END $$;
CREATE VIEW scored_wrong AS
	SELECT f.id, gmm_score_samples(latest_model_volatile('demo'), f.x) AS log_density FROM features f;

-- holds a reader's statement at one row until the writer lets go of advisory lock 4242
CREATE FUNCTION gate() RETURNS bool LANGUAGE sql VOLATILE AS
	$$ SELECT pg_advisory_lock_shared(4242) IS NOT NULL AND pg_advisory_unlock_shared(4242) $$;

-- which_model(table): how many rows of a snapshot (id, log_density) match the old model's
-- scores and how many the new one's, "matches_old|matches_new|rows"
CREATE FUNCTION which_model(snap regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) FILTER (WHERE s.log_density = gmm_score_samples(o.model, f.x))
	                || ''|'' || count(*) FILTER (WHERE s.log_density = gmm_score_samples(n.model, f.x))
	                || ''|'' || count(*)
	                FROM %s s JOIN features f USING (id), m_old o, m_new n', snap) INTO r;
	RETURN r;
END $$;
SQL

check_sql "sanity: the two models score every row differently" "0" \
	"SELECT count(*) FROM features f, m_old o, m_new n
	 WHERE gmm_score_samples(o.model, f.x) = gmm_score_samples(n.model, f.x)"
check_sql "the view equals direct scoring with the latest model" "1005|1005" \
	"SELECT count(*) || '|' || count(*) FILTER (WHERE s.component = gmm_predict(o.model, f.x)
	                                           AND s.log_density = gmm_score_samples(o.model, f.x))
	 FROM scored s JOIN features f USING (id), m_old o"
check_sql "the materialised view equals direct scoring" "1005|0|1005" "SELECT which_model('scored_mv')"
check_sql "anomaly report: the rows below the 1st percentile (11 of 1005), the 5 outliers among them" "11|5" \
	"SELECT count(*) || '|' || count(*) FILTER (WHERE id > 9000) FROM anomalies"
check_sql "anomaly report equals a direct computation" "0" \
	"WITH d AS (SELECT f.id, gmm_score_samples(o.model, f.x) AS ld FROM features f, m_old o),
	      p AS (SELECT percentile_cont(0.01) WITHIN GROUP (ORDER BY ld) AS p FROM d)
	 SELECT count(*) FROM ((SELECT id FROM d, p WHERE ld < p.p) EXCEPT ALL (SELECT id FROM anomalies)) x"

# interleave VIEW: a reader copies VIEW (one statement) and is held at row 500 while a writer
# replaces the latest model in a transaction and commits; prints which_model of the copy
interleave() {
	local view=$1 wpid i
	gmm_sql "DROP TABLE IF EXISTS snap; DELETE FROM models;
	         INSERT INTO models (name, model) SELECT 'demo', model FROM m_old" >/dev/null
	# the writer: take the gate, wait until the reader waits on it, replace, commit, open the gate
	gmm_psql -c "SELECT pg_advisory_lock(4242)" \
		-c "DO \$\$ BEGIN
		      WHILE NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted) LOOP
		        PERFORM pg_sleep(0.01);
		      END LOOP;
		    END \$\$" \
		-c "BEGIN" -c "DELETE FROM models WHERE name = 'demo'" \
		-c "INSERT INTO models (name, model) SELECT 'demo', model FROM m_new" -c "COMMIT" \
		-c "SELECT pg_advisory_unlock(4242)" >/dev/null &
	wpid=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(gmm_sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted")" = 1 ] && break
		sleep 0.05
	done
	gmm_sql "CREATE TABLE snap AS SELECT id, log_density FROM $view WHERE CASE WHEN id = 500 THEN gate() ELSE true END" >/dev/null
	wait "$wpid" || echo "writer failed"
	gmm_sql "SELECT which_model('snap')"
}

check_eq "a reader held across the replacement sees only the old model" "1005|0|1005" "$(interleave scored 2>&1)"
check_sql "the next read sees only the new model" "0|1005|1005" \
	"CREATE TEMP TABLE snap2 AS SELECT id, log_density FROM scored; SELECT which_model('snap2')"
check_sql "the materialised view still holds the old scores before REFRESH" "1005|0|1005" \
	"SELECT which_model('scored_mv')"
check "REFRESH MATERIALIZED VIEW CONCURRENTLY" gmm_sql "REFRESH MATERIALIZED VIEW CONCURRENTLY scored_mv"
check_sql "after REFRESH the materialised view holds the new model's scores" "0|1005|1005" \
	"SELECT which_model('scored_mv')"
check_sql "the anomaly report follows the new model" "0|11" \
	"WITH d AS (SELECT f.id, gmm_score_samples(n.model, f.x) AS ld FROM features f, m_new n),
	      p AS (SELECT percentile_cont(0.01) WITHIN GROUP (ORDER BY ld) AS p FROM d)
	 SELECT (SELECT count(*) FROM ((SELECT id FROM d, p WHERE ld < p.p) EXCEPT ALL (SELECT id FROM anomalies)) x)
	        || '|' || (SELECT count(*) FROM anomalies)"

# negative control: the check above does catch a mix
got=$(interleave scored_wrong 2>&1)
if [[ $got =~ ^([0-9]+)\|([0-9]+)\|1005$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[2]}" -gt 0 ] &&
	[ $((BASH_REMATCH[1] + BASH_REMATCH[2])) -eq 1005 ]; then
	ok "negative control: a per-row VOLATILE model lookup is caught mixing models ($got)"
else
	not_ok "negative control: a per-row VOLATILE model lookup is caught mixing models" "got: $got"
fi

gmm_psql -d postgres -c "DROP DATABASE gmm_views"
done_testing
