-- gmm_train: EM over a relation by gmm_init and gmm_em_step passes.  Same
-- data and initial model: the same fit as gmm_fit (1e-9 relative); tables,
-- partitioned tables, views and materialized views; parallel passes; the
-- caller's privileges; quoted names; verbose progress; errors.
SET extra_float_digits = 0;

CREATE FUNCTION tr_close(a float8[], b float8[], tol float8) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
	SELECT cardinality(a) = cardinality(b) AND
		   (SELECT max(abs(x - y)) <= tol * max(greatest(abs(x), abs(y)))
			FROM unnest(a, b) u(x, y))
$$;
-- parameters, lower bound and log-likelihood to tol; n_iter, converged,
-- n_samples exactly
CREATE FUNCTION tr_same_fit(a gmm, b gmm, tol float8) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
	SELECT tr_close(gmm_weights(a), gmm_weights(b), tol) AND
		   tr_close(gmm_means(a), gmm_means(b), tol) AND
		   tr_close(gmm_covariances(a), gmm_covariances(b), tol) AND
		   tr_close(ARRAY[gmm_lower_bound(a), gmm_log_likelihood(a)],
					ARRAY[gmm_lower_bound(b), gmm_log_likelihood(b)], tol) AND
		   gmm_n_iter(a) = gmm_n_iter(b) AND gmm_converged(a) = gmm_converged(b) AND
		   gmm_n_samples(a) = gmm_n_samples(b)
$$;

CREATE TABLE tr_pts AS
SELECT i::int AS i, x
FROM gmm_sample('{"covariance_type": "full", "weights": [0.45, 0.35, 0.2],
				  "means": [[0, 0], [4, 1], [1, 5]],
				  "covariances": [[[1, 0.3], [0.3, 1]], [[0.5, 0], [0, 2]],
								  [[1.5, -0.4], [-0.4, 0.8]]]}'::gmm, 4000, 5)
	 WITH ORDINALITY s(x, c, i);

-- Every row fits the sample: gmm_init is gmm_fit's initialisation over the
-- rows in the sampling order (ORDER BY gmm_init_key(x, random_state), x),
-- and the passes are gmm_fit's iterations, for every covariance type.
SELECT t AS cov,
	   tr_same_fit(gmm_train('tr_pts', 'x', 3, jsonb_build_object('covariance_type', t, 'tol', 1e-6)),
				   (SELECT gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'tol', 1e-6)
								   ORDER BY gmm_init_key(x, 0), x) FROM tr_pts),
				   1e-9) AS equals_gmm_fit
FROM unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t ORDER BY t;
SELECT gmm_n_iter(m) > 5 AS several_iterations, gmm_converged(m) AS converged,
	   gmm_n_samples(m) AS n_samples, gmm_fit_options(m) AS options
FROM (SELECT gmm_train('tr_pts', 'x', 3, '{"tol": 1e-6, "random_state": 4}') AS m) s;

-- init_model: EM from a given model equals gmm_refit (EM from its
-- parameters) with the same options
CREATE TABLE tr_init AS
SELECT gmm_init(x, 3, '{"sample_size": 300, "covariance_type": "diag", "random_state": 2}') AS m
FROM tr_pts;
SELECT tr_same_fit(gmm_train('tr_pts', 'x', 3,
							 jsonb_build_object('init_model', m::jsonb, 'tol', 1e-5)),
				   (SELECT gmm_refit(x, m, '{"tol": 1e-5, "max_iter": 100}') FROM tr_pts),
				   1e-9) AS equals_gmm_refit
FROM tr_init;

-- the same rows from a view, a materialized view and a partitioned table
-- (rows in another order): the same fit from the same initial model
CREATE VIEW tr_view AS SELECT x AS features FROM tr_pts WHERE i > 0;
CREATE MATERIALIZED VIEW tr_matview AS SELECT x FROM tr_pts ORDER BY i DESC;
CREATE TABLE tr_part (i int, x float8[]) PARTITION BY RANGE (i);
CREATE TABLE tr_part_a PARTITION OF tr_part FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE tr_part_b PARTITION OF tr_part FOR VALUES FROM (1000) TO (MAXVALUE);
INSERT INTO tr_part SELECT i, x FROM tr_pts ORDER BY i DESC;
CREATE TABLE tr_ref AS
SELECT gmm_train('tr_pts', 'x', 3, jsonb_build_object('init_model', m::jsonb)) AS m FROM tr_init;
SELECT src, tr_same_fit(m, (SELECT m FROM tr_ref), 1e-9) AS same_fit
FROM (SELECT 'view' AS src, gmm_train('tr_view', 'features', 3, jsonb_build_object('init_model', m::jsonb)) AS m FROM tr_init
	  UNION ALL
	  SELECT 'matview', gmm_train('tr_matview', 'x', 3, jsonb_build_object('init_model', m::jsonb)) FROM tr_init
	  UNION ALL
	  SELECT 'partitioned', gmm_train('tr_part', 'x', 3, jsonb_build_object('init_model', m::jsonb)) FROM tr_init) s
ORDER BY src;

-- Parallel passes: the same fit as serial ones from the same initial model;
-- and since gmm_init's sample does not depend on which worker read which
-- rows, the byte-identical initial model and the same trained model (1e-9:
-- the passes' sums are added in another order) without one.
CREATE TABLE tr_big AS
SELECT x FROM gmm_sample((SELECT m FROM tr_ref), 60000, 9) s(x, c);
ANALYZE tr_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE tr_serial AS
SELECT gmm_train('tr_big', 'x', 3, jsonb_build_object('init_model', m::jsonb, 'tol', 1e-6)) AS m,
	   gmm_train('tr_big', 'x', 3, '{"tol": 1e-6, "covariance_type": "diag"}') AS m_sampled,
	   (SELECT gmm_init(x, 3, '{"tol": 1e-6, "covariance_type": "diag"}') FROM tr_big) AS m_init
FROM tr_init;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
\i sql/include/plan_shape.sql
SELECT plan_shape('SELECT gmm_em_step(x, (SELECT m FROM tr_ref)) FROM tr_big');
SELECT tr_same_fit(p.m, s.m, 1e-9) AS parallel_equals_serial, gmm_n_samples(p.m) AS n_samples
FROM (SELECT gmm_train('tr_big', 'x', 3, jsonb_build_object('init_model', m::jsonb, 'tol', 1e-6)) AS m
	  FROM tr_init) p, tr_serial s;
EXPLAIN (COSTS OFF) SELECT gmm_init(x, 3, '{"tol": 1e-6, "covariance_type": "diag"}') FROM tr_big;
SELECT (SELECT gmm_init(x, 3, '{"tol": 1e-6, "covariance_type": "diag"}') FROM tr_big)::text = m_init::text
		   AS init_parallel_equals_serial,
	   tr_same_fit(gmm_train('tr_big', 'x', 3, '{"tol": 1e-6, "covariance_type": "diag"}'), m_sampled, 1e-9)
		   AS train_parallel_equals_serial,
	   gmm_n_samples(m_init) AS init_rows
FROM tr_serial;
SELECT gmm_converged(m) AS converged, gmm_n_samples(m) AS n_samples
FROM (SELECT gmm_train('tr_big', 'x', 3, '{"sample_size": 2000}') AS m) s;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- verbose: scikit-learn's scheme, one iteration per pass (3 passes, below verbose_interval 10)
\set VERBOSITY terse
SELECT gmm_n_iter(gmm_train('tr_pts', 'x', 3, '{"verbose": true, "covariance_type": "spherical"}'));
-- no convergence within max_iter: a warning, like gmm_fit
SELECT gmm_n_iter(m), gmm_converged(m)
FROM (SELECT gmm_train('tr_pts', 'x', 3, '{"max_iter": 2}') AS m) s;
\set VERBOSITY default
-- max_iter 0: the initial model with the log-likelihood of every row
SELECT gmm_n_iter(m) AS n_iter, gmm_lower_bound(m) IS NULL AS no_lower_bound,
	   abs(gmm_log_likelihood(m) - (SELECT avg(gmm_score_samples(m, x)) FROM tr_pts)) < 1e-9 AS log_likelihood
FROM (SELECT gmm_train('tr_pts', 'x', 3, '{"max_iter": 0, "sample_size": 100}') AS m) s;

-- Privileges: the caller's.  A role without SELECT gets PostgreSQL's error;
-- with SELECT on the column it works.
CREATE ROLE regress_gmm_trainer;
SET ROLE regress_gmm_trainer;
SELECT gmm_train('tr_pts', 'x', 3);
RESET ROLE;
GRANT SELECT (x) ON tr_pts TO regress_gmm_trainer;
SET ROLE regress_gmm_trainer;
SELECT gmm_n_components(gmm_train('tr_pts', 'x', 3)) AS trained_with_column_privilege;
RESET ROLE;
REVOKE SELECT (x) ON tr_pts FROM regress_gmm_trainer;
DROP ROLE regress_gmm_trainer;

-- Hostile names are quoted, never spliced into the queries.
CREATE TABLE "tr odd""; DROP TABLE tr_pts; --" ("x""); DROP TABLE tr_pts; --" float8[]);
INSERT INTO "tr odd""; DROP TABLE tr_pts; --" SELECT x FROM tr_pts;
SELECT gmm_n_samples(gmm_train('"tr odd""; DROP TABLE tr_pts; --"', 'x"); DROP TABLE tr_pts; --', 2)) AS n_samples;
SELECT count(*) AS tr_pts_still_there FROM tr_pts;
-- and the search_path cannot redirect them
CREATE SCHEMA tr_evil;
CREATE FUNCTION tr_evil.gmm_em_step(float8[], gmm) RETURNS gmm LANGUAGE sql AS 'SELECT NULL::gmm';
SET search_path = tr_evil, public;
SELECT gmm_n_iter(gmm_train('tr_pts', 'x', 3)) > 0 AS extension_functions_used;
RESET search_path;
DROP SCHEMA tr_evil CASCADE;

-- errors
SELECT gmm_train('tr_pts', 'nope', 3);
SELECT gmm_train('tr_pts', 'i', 3);
SELECT gmm_train('tr_pts', 'ctid', 3);
SELECT gmm_train('tr_pts_no_such', 'x', 3);
CREATE SEQUENCE tr_seq;
SELECT gmm_train('tr_seq', 'x', 3);
SELECT gmm_train('tr_pts', 'x', 0);
SELECT gmm_train(NULL, 'x', 3);
SELECT gmm_train('tr_pts', 'x', 3, '{"verbose": "yes"}');
SELECT gmm_train('tr_pts', 'x', 3, '{"n_init": 2}');
SELECT gmm_train('tr_pts', 'x', 3, '{"bogus": 1}');
SELECT gmm_train('tr_pts', 'x', 3, '{"sample_size": 1}');
SELECT gmm_train('tr_pts', 'x', 2, jsonb_build_object('init_model', m::jsonb)) FROM tr_init;
SELECT gmm_train('tr_pts', 'x', 3, jsonb_build_object('init_model', m::jsonb, 'covariance_type', 'full')) FROM tr_init;
SELECT gmm_train('tr_pts', 'x', 3, jsonb_build_object('init_model', m::jsonb, 'sample_size', 10)) FROM tr_init;
SELECT gmm_train('tr_pts', 'x', 3, '{"init_model": 5}');
SELECT gmm_train('tr_pts', 'x', 3, '{"init_model": {"weights": [1]}}');
SELECT gmm_train('tr_pts', 'x', 5000);
-- no rows: NULL, like an aggregate over no rows
CREATE TABLE tr_empty (x float8[]);
SELECT gmm_train('tr_empty', 'x', 2) IS NULL AS empty;
