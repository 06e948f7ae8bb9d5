-- gmm_fit_bayesian: scikit-learn's BayesianGaussianMixture (the numbers are
-- checked against scikit-learn by test/conformance/sklearn_bayes.py; here:
-- options and their defaults, components switched off, scoring, the text and
-- binary forms of the "bayesian" section, and every error).
SET extra_float_digits = 0;
CREATE FUNCTION err(q text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  state := '00000';
  message := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $f$;
-- three separated clusters of 60 rows, deterministic (no random())
CREATE TABLE bpts AS
SELECT c * 60 + i AS id,
	   ARRAY[(c % 2) * 8 + 0.9 * sin(i * 1.7 + c), (c / 2) * 7 + c + 0.7 * cos(i * 2.3 + c)] AS x
FROM generate_series(0, 2) c, generate_series(1, 60) i;

-- six components for three clusters: the Dirichlet-process prior switches
-- three off (weights far below 1 / 6)
CREATE TABLE bfit AS
SELECT t, gmm_fit_bayesian(x, 6, jsonb_build_object('covariance_type', t,
		'weight_concentration_prior', 0.001, 'random_state', 1)) AS m
FROM bpts, (VALUES ('full'), ('tied'), ('diag'), ('spherical')) v(t) GROUP BY t;
SELECT t, gmm_n_components(m) AS k, gmm_converged(m),
	   (SELECT count(*) FROM unnest(gmm_weights(m)) w WHERE w > 0.01) AS active,
	   (SELECT round(sum(w)::numeric, 12) FROM unnest(gmm_weights(m)) w) AS sum_w,
	   gmm_format_version(m) AS version
FROM bfit ORDER BY t;
-- gmm_components shows the switched-off ones by their weight
SELECT t, count(*) FILTER (WHERE weight < 0.01) AS off, count(*) AS components
FROM bfit, gmm_components(m) GROUP BY t ORDER BY t;

-- scoring: predict_proba sums to 1, predict is its argmax, the three
-- clusters get three different labels, score_samples is finite
SELECT t, bool_and(abs((SELECT sum(p) FROM unnest(gmm_predict_proba(m, x)) p) - 1) < 1e-12) AS sums_to_1,
	   bool_and(gmm_predict(m, x) + 1 = (SELECT o FROM unnest(gmm_predict_proba(m, x)) WITH ORDINALITY u(p, o)
										  ORDER BY p DESC LIMIT 1)) AS argmax,
	   count(DISTINCT gmm_predict(m, x)) AS labels,
	   bool_and(gmm_score_samples(m, x) > -20 AND gmm_score_samples(m, x) < 0) AS finite
FROM bfit, bpts GROUP BY t ORDER BY t;
SELECT t, bool_and(n = 1) AS one_label_per_cluster
FROM (SELECT t, count(DISTINCT gmm_predict(m, x)) AS n
	  FROM bfit, bpts GROUP BY t, (id - 1) / 60) s GROUP BY t ORDER BY t;
-- the scoring aggregate works, sampling draws rows from the active components
SELECT t, gmm_score(m, x) = avg(gmm_score_samples(m, x)) OR
		  abs(gmm_score(m, x) - avg(gmm_score_samples(m, x))) < 1e-12 AS score_is_mean
FROM bfit, bpts GROUP BY t, m::bytea ORDER BY t;
SELECT t, count(*) AS drawn FROM bfit, gmm_sample(m, 50, 7) GROUP BY t ORDER BY t;

-- the defaults, scikit-learn's: weight_concentration_prior 1 / n_components,
-- mean_precision_prior 1, degrees_of_freedom_prior n_features, mean_prior the
-- rows' mean, covariance_prior their covariance (n - 1), dirichlet_process
CREATE TABLE bdef AS SELECT gmm_fit_bayesian(x, 4) AS m FROM bpts;
SELECT b ->> 'weight_concentration_prior_type' AS type,
	   (b ->> 'weight_concentration_prior')::float8 = 0.25 AS wcp,
	   b -> 'mean_precision_prior' AS mpp, b -> 'degrees_of_freedom_prior' AS dofp,
	   jsonb_array_length(b -> 'weight_concentration') AS wc_rows,
	   jsonb_array_length(b -> 'weight_concentration' -> 0) AS wc_cols,
	   jsonb_array_length(b -> 'mean_precision') AS mp_len,
	   jsonb_array_length(b -> 'degrees_of_freedom') AS dof_len
FROM (SELECT m::jsonb -> 'bayesian' AS b FROM bdef) s;
SELECT abs((b -> 'mean_prior' ->> 0)::float8 - avg(x[1])) < 1e-12 AS mean1,
	   abs((b -> 'mean_prior' ->> 1)::float8 - avg(x[2])) < 1e-12 AS mean2,
	   abs((b -> 'covariance_prior' -> 0 ->> 0)::float8 - var_samp(x[1])) < 1e-12 AS var1,
	   abs((b -> 'covariance_prior' -> 0 ->> 1)::float8 - covar_samp(x[1], x[2])) < 1e-12 AS cov12,
	   abs((b -> 'covariance_prior' -> 1 ->> 1)::float8 - var_samp(x[2])) < 1e-12 AS var2
FROM (SELECT m::jsonb -> 'bayesian' AS b FROM bdef) s, bpts GROUP BY b;
-- diag: the per-feature variances (spherical: their mean, below); tied: one
-- degrees_of_freedom (scikit-learn's scalar)
SELECT t, abs(cp - (SELECT var_samp(x[1]) FROM bpts)) < 1e-12 AS first_is_var1, dof
FROM (SELECT t, (CASE WHEN jsonb_typeof(b -> 'covariance_prior') = 'number' THEN b ->> 'covariance_prior'
					  WHEN jsonb_typeof(b -> 'covariance_prior' -> 0) = 'number' THEN b -> 'covariance_prior' ->> 0
					  ELSE b -> 'covariance_prior' -> 0 ->> 0 END)::float8 AS cp,
			 jsonb_typeof(b -> 'degrees_of_freedom') AS dof
	  FROM (SELECT t, gmm_fit_bayesian(x, 2, jsonb_build_object('covariance_type', t, 'max_iter', 0))::jsonb -> 'bayesian' AS b
			FROM bpts, (VALUES ('diag'), ('tied'), ('full')) v(t) GROUP BY t) s) s2
ORDER BY t;
SELECT abs((b ->> 'covariance_prior')::float8 - (SELECT (var_samp(x[1]) + var_samp(x[2])) / 2 FROM bpts)) < 1e-12 AS spherical_mean
FROM (SELECT gmm_fit_bayesian(x, 2, '{"covariance_type": "spherical", "max_iter": 0}')::jsonb -> 'bayesian' AS b FROM bpts) s;

-- given priors are stored as given; dirichlet_distribution keeps K concentrations
SELECT b ->> 'weight_concentration_prior_type' AS type, b -> 'weight_concentration_prior' AS wcp,
	   b -> 'mean_precision_prior' AS mpp, b -> 'mean_prior' AS mean_prior,
	   b -> 'degrees_of_freedom_prior' AS dofp, b -> 'covariance_prior' AS cov_prior,
	   jsonb_typeof(b -> 'weight_concentration' -> 0) AS wc_elem
FROM (SELECT gmm_fit_bayesian(x, 3, gmm_options(weight_concentration_prior_type => 'dirichlet_distribution',
		weight_concentration_prior => 2, mean_precision_prior => 0.5, mean_prior => '{1,2}',
		degrees_of_freedom_prior => 4.5, covariance_prior => '{{2,0.5},{0.5,1}}'))::jsonb -> 'bayesian' AS b
	  FROM bpts) s;
SELECT (gmm_fit_bayesian(x, 2, gmm_options(covariance_type => 'spherical', covariance_prior => '{3}'))::jsonb
		-> 'bayesian' -> 'covariance_prior') AS spherical_prior_from_an_array FROM bpts;
SELECT (gmm_fit_bayesian(x, 2, '{"covariance_type": "diag", "covariance_prior": [3, 4]}')::jsonb
		-> 'bayesian' -> 'covariance_prior') AS diag_prior FROM bpts;
-- the common options apply: max_iter, n_init, init_params, tol, reg_covar
SELECT gmm_n_iter(m), gmm_converged(m), gmm_fit_options(m) ->> 'max_iter' AS max_iter
FROM (SELECT gmm_fit_bayesian(x, 3, '{"max_iter": 0}') AS m FROM bpts) s;
SELECT gmm_lower_bound(m) IS NULL AS no_lower_bound_without_iterations
FROM (SELECT gmm_fit_bayesian(x, 3, '{"max_iter": 0}') AS m FROM bpts) s;
SELECT gmm_fit_options(m) ->> 'n_init' AS n_init, gmm_fit_options(m) ->> 'init_params' AS init,
	   gmm_converged(m)
FROM (SELECT gmm_fit_bayesian(x, 3, '{"n_init": 2, "init_params": "random_from_data", "tol": 1e-4, "reg_covar": 1e-5, "random_state": 5}') AS m
	  FROM bpts) s;
-- one iteration: a WARNING, as gmm_fit
SELECT gmm_n_iter(gmm_fit_bayesian(x, 3, '{"max_iter": 1}')) FROM bpts;
-- verbose reports the lower bound
SET client_min_messages = notice;
\set VERBOSITY terse
SELECT gmm_n_components(gmm_fit_bayesian(x, 3, '{"verbose": 1, "verbose_interval": 100}')) FROM bpts;
\set VERBOSITY default
-- the same rows in the same order give the same model; NULL rows are skipped
SELECT (SELECT gmm_fit_bayesian(x, 3) FROM bpts)::bytea =
	   (SELECT gmm_fit_bayesian(x, 3) FROM (SELECT x FROM bpts UNION ALL SELECT NULL) s)::bytea AS same;
SELECT gmm_fit_bayesian(x, 3) IS NULL AS no_rows FROM bpts WHERE false;
-- as a window function: the final function leaves the state as it was
SELECT count(DISTINCT w::bytea) AS one_model, bool_and(w::bytea = (SELECT gmm_fit_bayesian(x, 3) FROM bpts)::bytea) AS same
FROM (SELECT gmm_fit_bayesian(x, 3) OVER () AS w FROM bpts) s;

-- text and binary round trips of the "bayesian" section
SELECT t, m::text::gmm::text = m::text AS text_round_trip,
	   m::bytea::gmm::bytea = m::bytea AS bytea_round_trip,
	   m::jsonb::gmm::bytea = m::bytea AS jsonb_round_trip,
	   m::text::gmm::bytea = m::bytea AS text_exact
FROM bfit ORDER BY t;
CREATE TABLE bcopy (t text, m gmm);
COPY (SELECT t, m FROM bfit) TO '/tmp/gmm_53_bayes.bin' WITH (FORMAT binary);
COPY bcopy FROM '/tmp/gmm_53_bayes.bin' WITH (FORMAT binary);
SELECT b.t, b.m::bytea = f.m::bytea AS binary_copy FROM bcopy b JOIN bfit f USING (t) ORDER BY t;
-- scoring a model read back gives the same numbers
SELECT bool_and(gmm_score_samples(b.m, x) = gmm_score_samples(f.m, x)) AS same_scores
FROM bcopy b JOIN bfit f USING (t), bpts;
-- the section's keys, in the text form after bic_trace
SELECT jsonb_object_keys(m::jsonb -> 'bayesian') AS key FROM bfit WHERE t = 'full';
SELECT position('"bayesian"' IN m::text) > position('"bic_trace"' IN m::text) AS after_trace
FROM bfit WHERE t = 'full';

-- bad sections in the text form
CREATE TABLE bjs AS SELECT (SELECT m::jsonb FROM bfit WHERE t = 'diag') AS j;
SELECT (err(format('SELECT %L::gmm', (j #- '{bayesian,mean_precision}')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,extra}', '1')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,weight_concentration_prior_type}', '"dirichlet"')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,mean_precision}', '[1, 2]')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,mean_precision,0}', '-1')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,degrees_of_freedom_prior}', '0.5')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,covariance_prior,0}', '0')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,weight_concentration}', '[1, 2, 3, 4, 5, 6]')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian,mean_prior}', '"x"')::text))).* FROM bjs;
SELECT (err(format('SELECT %L::gmm', jsonb_set(j, '{bayesian}', '[]')::text))).* FROM bjs;
-- tied: one degrees_of_freedom, as scikit-learn's
SELECT (err(format('SELECT %L::gmm', jsonb_set((SELECT m::jsonb FROM bfit WHERE t = 'tied'),
	'{bayesian,degrees_of_freedom}', '[1, 2, 3, 4, 5, 6]')::text))).*;

-- errors of gmm_fit_bayesian
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"weights_init": [0.5, 0.5]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"means_init": [[0, 0], [1, 1]]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"weight_concentration_prior_type": "dirichlet"}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"weight_concentration_prior": 0}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"mean_precision_prior": -1}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"mean_precision_prior": "x"}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"degrees_of_freedom_prior": 1}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"mean_prior": [1, 2, 3]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"covariance_prior": [1, 2]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"covariance_prior": [[1, 2], [0, 1]]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"covariance_prior": [[1, 2], [2, 1]]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"covariance_type": "diag", "covariance_prior": [1, -2]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"covariance_type": "spherical", "covariance_prior": [1, 2]}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"covariance_type": "spherical", "covariance_prior": 0}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 0) FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 5) FROM bpts WHERE id < 3$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 1) FROM bpts WHERE id = 1$$)).*;
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"nonsense": 1}') FROM bpts$$)).*;
-- the priors are gmm_fit_bayesian's only
SELECT (err($$SELECT gmm_fit(x, 2, '{"mean_precision_prior": 2}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_fit(x, 2, gmm_options(weight_concentration_prior_type => 'dirichlet_process')) FROM bpts$$)).*;
-- no bic or aic for a Bayesian model
SELECT (err($$SELECT gmm_bic(m) FROM bfit WHERE t = 'full'$$)).*;
SELECT (err($$SELECT gmm_aic(m) FROM bfit WHERE t = 'full'$$)).*;
SELECT (err($$SELECT gmm_bic(m, x) FROM bfit, bpts WHERE t = 'full' GROUP BY m::bytea$$)).*;
SELECT (err($$SELECT gmm_aic(m, x) FROM bfit, bpts WHERE t = 'full' GROUP BY m::bytea$$)).*;
-- gmm_refit of a Bayesian model: scikit-learn's warm_start, the variational
-- fit continued from the model's posterior and priors (the numbers against
-- scikit-learn: test/conformance/sklearn_bayes.py)
SET client_min_messages = error;
CREATE TABLE bwarm AS
SELECT t, gmm_fit_bayesian(x, 6, jsonb_build_object('covariance_type', t,
		'weight_concentration_prior', 0.001, 'random_state', 1, 'max_iter', 1)) AS m1,
	   gmm_fit_bayesian(x, 6, jsonb_build_object('covariance_type', t,
		'weight_concentration_prior', 0.001, 'random_state', 1, 'max_iter', 100)) AS m100
FROM bpts, (VALUES ('full'), ('tied'), ('diag'), ('spherical')) v(t) GROUP BY t;
-- one iteration, then 99 more by gmm_refit: the same fit as 100 at once
-- (the refit counts its own iterations)
SELECT t, gmm_n_iter(r) = gmm_n_iter(m100) - 1 AS n_iter, gmm_converged(r),
	   abs(gmm_lower_bound(r) - gmm_lower_bound(m100)) <= 1e-12 * abs(gmm_lower_bound(m100)) AS lower_bound,
	   (SELECT max(abs(a - b)) FROM unnest(gmm_means(r), gmm_means(m100)) u(a, b)) < 1e-12 AS means,
	   (SELECT max(abs(a - b)) FROM unnest(gmm_weights(r), gmm_weights(m100)) u(a, b)) < 1e-12 AS weights,
	   (r::jsonb -> 'bayesian' -> 'mean_prior') = (m100::jsonb -> 'bayesian' -> 'mean_prior') AS same_prior
FROM (SELECT t, m100, (SELECT gmm_refit(x, m1, '{"max_iter": 99}') FROM bpts) AS r FROM bwarm) s
ORDER BY t;
-- a chain of max_iter 1 refits: the lower bound never decreases, and the
-- first iteration's convergence test compares with the model's lower bound,
-- so the chain converges (once converged, a refit converges at once)
CREATE TABLE bchain AS
WITH RECURSIVE c(t, i, m) AS (
	SELECT t, 1, m1 FROM bwarm
	UNION ALL
	SELECT t, i + 1, (SELECT gmm_refit(x, m, '{"max_iter": 1}') FROM bpts)
	FROM c WHERE i < 60 AND NOT gmm_converged(m))
SELECT * FROM c;
SELECT t, bool_or(gmm_converged(m)) AS converges, count(*) < 60 AS within_60,
	   bool_and(gmm_n_iter(m) = 1) AS one_iteration_each,
	   bool_and(dlb >= -1e-9 * abs(gmm_lower_bound(m))) AS monotonic
FROM (SELECT t, m, gmm_lower_bound(m) - lag(gmm_lower_bound(m)) OVER (PARTITION BY t ORDER BY i) AS dlb
	  FROM bchain) s
GROUP BY t ORDER BY t;
RESET client_min_messages;
SELECT t, gmm_converged(r), gmm_n_iter(r), r::jsonb ? 'bayesian' AS bayesian
FROM (SELECT t, (SELECT gmm_refit(x, m) FROM bpts) AS r FROM bfit) s ORDER BY t;
-- a weighted refit continues it too (weights 1: the same model)
SELECT t, abs(gmm_lower_bound((SELECT gmm_refit_weighted(x, 1.0, m) FROM bpts)) -
			  gmm_lower_bound((SELECT gmm_refit(x, m) FROM bpts))) < 1e-9 AS weights_1
FROM bfit ORDER BY t;
-- the priors are the model's; no EM step, no change of the covariance type, n_components rows at least
SELECT (err($$SELECT gmm_refit(x, (SELECT m FROM bfit WHERE t = 'full'), '{"mean_precision_prior": 2}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_refit(x, (SELECT m FROM bfit WHERE t = 'full'), '{"covariance_type": "diag"}') FROM bpts$$)).*;
SELECT (err($$SELECT gmm_refit(x, (SELECT m FROM bfit WHERE t = 'full')) FROM bpts WHERE id < 4$$)).*;
SELECT (err($$SELECT gmm_em_step(x, (SELECT m FROM bfit WHERE t = 'full')) FROM bpts$$)).*;
-- a plain model still has both
SELECT gmm_bic(m) > 0 AS bic, gmm_aic(m) > 0 AS aic FROM (SELECT gmm_fit(x, 3) AS m FROM bpts) s;

-- missing => 'em' is gmm_fit's only (a Bayesian fit over NULL elements would be silently wrong)
SELECT (err($$SELECT gmm_fit_bayesian(x, 2, '{"missing": "em"}') FROM bpts$$)).*;
-- nor does a Bayesian model score rows with NULL elements (its digamma terms are of every feature)
SELECT (err($$SELECT gmm_score_samples(m, '{1, NULL}') FROM (SELECT gmm_fit_bayesian(x, 2) AS m FROM bpts) s$$)).*;
-- and its marginals, conditionals and imputations are not a Gaussian mixture's
SELECT (err($$SELECT gmm_marginal(m, '{1}') FROM (SELECT gmm_fit_bayesian(x, 2) AS m FROM bpts) s$$)).state;
SELECT (err($$SELECT gmm_impute(m, '{1, NULL}') FROM (SELECT gmm_fit_bayesian(x, 2) AS m FROM bpts) s$$)).message;
