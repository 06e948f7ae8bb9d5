#!/usr/bin/env bash
# Scheduled retraining with pg_cron (the README's "Retraining on a schedule" recipe): a job
# appends a model warm-started from the latest one with gmm_refit; the new model scores rows.
# A job whose feature table holds a bad row fails with gmm's error in cron.job_run_details and
# leaves the previous model the latest, unchanged.
#
# pg_cron 1.5+ accepts '[1-59] seconds' schedules; Debian 12's pg_cron 1.4 does not, so there the
# jobs run at the next minute boundary and this script waits up to 75 s for them.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

DB=gmm_cron
export PGOPTIONS="-c client_min_messages=warning"
gmm_fresh_db "$DB"
# background workers: the jobs need no libpq connection (the cluster has no TCP listener)
check "restart with pg_cron preloaded" gmm_cluster_restart \
	"shared_preload_libraries = 'pg_cron'" "cron.database_name = '$DB'" \
	"cron.use_background_workers = on" "max_worker_processes = 16"
check "CREATE EXTENSION pg_cron, gmm" gmm_sql "CREATE EXTENSION pg_cron; CREATE EXTENSION gmm"
if [ "$GMM_T_FAILED" -gt 0 ]; then
	echo "# bail out: pg_cron is not usable"
	gmm_cluster_log_tail 20 | sed 's/^/#   /'
	done_testing || exit 1
fi
echo "# pg_cron $(gmm_sql "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")"

gmm_psql <<'SQL'
CREATE TABLE features (id bigserial PRIMARY KEY, name text NOT NULL, x float8[] NOT NULL);
CREATE TABLE models (
	name text NOT NULL,
	trained_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	model gmm NOT NULL,
	PRIMARY KEY (name, trained_at));
INSERT INTO features (name, x)
	SELECT n, ARRAY[(g % 3) * 4 + sin(g) * 0.8, (g % 3) * 2 - cos(g * 1.7) * 0.6]
	FROM generate_series(1, 600) g, unnest(ARRAY['a', 'b']) n;
-- the first model of each name: gmm_fit
INSERT INTO models (name, model)
	SELECT name, gmm_fit(x, 3, gmm_options(random_state => 1)) FROM features GROUP BY name;
-- new data for 'a' (the clusters drift), a row of the wrong length for 'b'
INSERT INTO features (name, x)
	SELECT 'a', ARRAY[(g % 3) * 4 + 0.5 + sin(g) * 0.8, (g % 3) * 2 + 0.3 - cos(g * 1.7) * 0.6]
	FROM generate_series(1, 600) g;
INSERT INTO features (name, x) VALUES ('b', '{1, 2, 3}');
CREATE TABLE seed AS SELECT name, trained_at, model::bytea AS bytes FROM models;
SQL

# the finest schedule this pg_cron accepts
if out=$(gmm_sql "SELECT cron.unschedule(cron.schedule('probe', '5 seconds', 'SELECT 1'))" 2>&1); then
	schedule='5 seconds' wait_s=30
	echo "# '5 seconds' schedules are supported: using them"
else
	schedule='* * * * *' wait_s=75
	echo "# '5 seconds' is not a valid schedule here ($out): using '* * * * *'"
fi

retrain_job() { # the job's command for name $1: the README recipe
	printf '%s' "INSERT INTO models (name, model)
	SELECT '$1', gmm_refit(x, (SELECT model FROM models WHERE name = '$1' ORDER BY trained_at DESC LIMIT 1))
	FROM features WHERE name = '$1'"
}
check_sql "schedule the retraining of 'a' and of 'b'" "2" \
	"SELECT count(*) FROM (VALUES (cron.schedule('retrain-a', '$schedule', \$job\$$(retrain_job a)\$job\$)),
	                              (cron.schedule('retrain-b', '$schedule', \$job\$$(retrain_job b)\$job\$))) v(id)
	 WHERE id IS NOT NULL"

# wait (bounded) until both jobs have a finished run
finished_sql="SELECT count(DISTINCT j.jobname) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE d.status IN ('succeeded', 'failed')"
t0=$SECONDS
while [ "$(gmm_sql "$finished_sql")" != 2 ] && [ $((SECONDS - t0)) -lt "$wait_s" ]; do sleep 1; done
echo "# both jobs finished a run after $((SECONDS - t0)) s"
check_sql "unschedule both jobs" "true|true" \
	"SELECT cron.unschedule('retrain-a') || '|' || cron.unschedule('retrain-b')"
check_sql "no job left in cron.job" "0" "SELECT count(*) FROM cron.job"

check_sql "retrain-a succeeded" "succeeded|INSERT 0 1" \
	"SELECT string_agg(DISTINCT status, ',') || '|' || min(return_message)
	 FROM cron.job_run_details WHERE command LIKE '%''a''%'"
check_sql "retrain-a appended one model per successful run" "t" \
	"SELECT (SELECT count(*) FROM models WHERE name = 'a') =
	        1 + (SELECT count(*) FROM cron.job_run_details WHERE command LIKE '%''a''%' AND status = 'succeeded')
	    AND (SELECT count(*) FROM models WHERE name = 'a') >= 2"
check_sql "the new model of 'a' is newer than the seed and was refitted on the drifted data" "true|true|true" \
	"WITH latest AS (SELECT * FROM models WHERE name = 'a' ORDER BY trained_at DESC LIMIT 1)
	 SELECT (l.trained_at > s.trained_at)::text || '|' || (l.model::bytea <> s.bytes)::text || '|' ||
	        (gmm_n_samples(l.model) = 1200)::text
	 FROM latest l JOIN seed s USING (name)"
check_sql "the new model of 'a' scores every row, better than the seed on the new data" "1200|true" \
	"WITH latest AS (SELECT model FROM models WHERE name = 'a' ORDER BY trained_at DESC LIMIT 1)
	 SELECT count(gmm_predict(l.model, f.x)) FILTER (WHERE gmm_score_samples(l.model, f.x) > '-Infinity')
	        || '|' || (gmm_score(l.model, f.x) > gmm_score(s.bytes::gmm, f.x))::text
	 FROM features f, latest l, seed s WHERE f.name = 'a' AND s.name = 'a'"

check_sql "retrain-b failed with gmm's error" "failed|true" \
	"SELECT string_agg(DISTINCT status, ',') || '|' ||
	        bool_and(return_message LIKE '%feature array has 3 elements, expected 2%')::text
	 FROM cron.job_run_details WHERE command LIKE '%''b''%'"
check_sql "after the failure the seed of 'b' is still the only, latest and intact model" "1|true" \
	"SELECT count(*) || '|' || bool_and(m.model::bytea = s.bytes AND m.trained_at = s.trained_at)::text
	 FROM models m JOIN seed s USING (name) WHERE name = 'b'"
check_sql "and it still scores rows" "600" \
	"SELECT count(gmm_predict(m.model, f.x)) FROM models m JOIN features f USING (name)
	 WHERE name = 'b' AND cardinality(f.x) = 2"

check "back to the base configuration" gmm_cluster_restart
done_testing
