/* gmm 1.1 -> 1.2 (ALTER EXTENSION gmm UPDATE TO '1.2'); gmm--1.2.sql is gmm--1.1.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.2'" to load this file. \quit

-- One block per concern, each starting with a line "-- ---- <concern> ----".

-- ---- model format version 2: sections, the new options ----

CREATE FUNCTION gmm_n_missing(gmm) RETURNS bigint
	AS 'MODULE_PATHNAME', 'gmm_n_missing'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_n_missing(gmm) IS 'number of values (NULL elements) missing in the training rows; 0 when none were';

CREATE FUNCTION gmm_format_version(gmm) RETURNS int
	AS 'MODULE_PATHNAME', 'gmm_format_version'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_format_version(gmm) IS 'the format version the model is stored in: 1, or 2 when it holds what version 1 cannot (n_missing, calibration, a Bayesian model, rng sklearn)';

-- gmm_options gains the options of 1.2 (the generator, missing values,
-- BayesianGaussianMixture's priors), replaced for the reason given in 1.1.
DROP FUNCTION gmm_options(text, int, float8, float8, bigint, text, int, float8[], float8[], float8[], int, int);
CREATE FUNCTION gmm_options(
	covariance_type text DEFAULT 'full',
	max_iter int DEFAULT 100,
	tol float8 DEFAULT 1e-3,
	reg_covar float8 DEFAULT 1e-6,
	random_state bigint DEFAULT 0,
	init_params text DEFAULT 'kmeans',
	n_init int DEFAULT 1,
	weights_init float8[] DEFAULT NULL,
	means_init float8[] DEFAULT NULL,
	precisions_init float8[] DEFAULT NULL,
	verbose int DEFAULT NULL,
	verbose_interval int DEFAULT NULL,
	rng text DEFAULT NULL,
	missing text DEFAULT NULL,
	weight_concentration_prior_type text DEFAULT NULL,
	weight_concentration_prior float8 DEFAULT NULL,
	mean_precision_prior float8 DEFAULT NULL,
	mean_prior float8[] DEFAULT NULL,
	degrees_of_freedom_prior float8 DEFAULT NULL,
	covariance_prior float8[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'covariance_type', covariance_type,
		'max_iter', max_iter,
		'tol', tol,
		'reg_covar', reg_covar,
		'random_state', random_state,
		'init_params', init_params,
		'n_init', n_init,
		'weights_init', to_jsonb(weights_init),
		'means_init', to_jsonb(means_init),
		'precisions_init', to_jsonb(precisions_init),
		'verbose', gmm_options.verbose,
		'verbose_interval', gmm_options.verbose_interval,
		'rng', gmm_options.rng,
		'missing', gmm_options.missing,
		'weight_concentration_prior_type', weight_concentration_prior_type,
		'weight_concentration_prior', weight_concentration_prior,
		'mean_precision_prior', mean_precision_prior,
		'mean_prior', to_jsonb(mean_prior),
		'degrees_of_freedom_prior', degrees_of_freedom_prior,
		'covariance_prior', to_jsonb(covariance_prior)))
$$;
COMMENT ON FUNCTION gmm_options(text, int, float8, float8, bigint, text, int, float8[], float8[], float8[], int, int, text, text, text, float8, float8, float8[], float8, float8[])
	IS 'fit options for gmm_fit, gmm_fit_bayesian and friends, with named arguments and scikit-learn''s defaults (options left NULL are not set)';

-- ---- BayesianGaussianMixture ----
-- gmm_fit_bayesian: variational Bayesian mixtures (scikit-learn's
-- BayesianGaussianMixture).  The transition function is gmm_fit's (the rows
-- are gathered the same way); the final function runs the variational fit.
CREATE FUNCTION gmm_fit_bayesian_transfn(internal, float8[], int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_bayesian_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_bayesian_transfn(internal, float8[], int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_bayesian_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_bayesian_finalfn(internal)
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_fit_bayesian_finalfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_bayesian_transfn(internal, float8[], int)
	IS 'transition function of gmm_fit_bayesian';
COMMENT ON FUNCTION gmm_fit_bayesian_transfn(internal, float8[], int, jsonb)
	IS 'transition function of gmm_fit_bayesian with options';
COMMENT ON FUNCTION gmm_fit_bayesian_finalfn(internal)
	IS 'final function of gmm_fit_bayesian: the variational fit';

CREATE AGGREGATE gmm_fit_bayesian(x float8[], n_components int) (
	SFUNC = gmm_fit_bayesian_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_bayesian_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_bayesian(float8[], int)
	IS 'fit a variational Bayesian Gaussian mixture of at most n_components components (scikit-learn''s BayesianGaussianMixture, Dirichlet-process prior): unneeded components get weights near zero';

CREATE AGGREGATE gmm_fit_bayesian(x float8[], n_components int, options jsonb) (
	SFUNC = gmm_fit_bayesian_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_bayesian_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_bayesian(float8[], int, jsonb)
	IS 'fit a variational Bayesian Gaussian mixture with options: gmm_fit''s (no *_init) and the priors weight_concentration_prior_type, weight_concentration_prior, mean_precision_prior, mean_prior, degrees_of_freedom_prior, covariance_prior';

-- ---- missing values: fitting (issue 10) ----
-- gmm_em_step with options: only "missing" is read ('error', the default, or 'em': EM over
-- the observed values of rows with NULL elements, missing at random); the other options of
-- the pass come from the model.  The transition functions are the same C functions.
CREATE FUNCTION gmm_em_step_transfn(gmm_em_state, float8[], gmm, jsonb)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_em_step_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_transfn(gmm_em_state, float8[], gmm, jsonb)
	IS 'transition function of gmm_em_step with options (missing)';
CREATE FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, float8[], float8, gmm, jsonb)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_em_step_weighted_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, float8[], float8, gmm, jsonb)
	IS 'transition function of the weighted gmm_em_step with options (missing)';

CREATE AGGREGATE gmm_em_step(x float8[], model gmm, options jsonb) (
	SFUNC = gmm_em_step_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(float8[], gmm, jsonb)
	IS 'one EM iteration over the rows from the model; options: missing => ''em'' takes NULL elements as missing at random (expected sufficient statistics, still combinable)';

CREATE AGGREGATE gmm_em_step(x float8[], weight float8, model gmm, options jsonb) (
	SFUNC = gmm_em_step_weighted_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(float8[], float8, gmm, jsonb)
	IS 'one EM iteration over weighted rows from the model, with options (missing)';

-- ---- missing values: scoring, imputation, marginals ----
-- gmm_score_samples, gmm_predict, gmm_predict_proba, gmm_predict_top and the
-- gmm_score/gmm_bic/gmm_aic aggregates keep their 1.0 declarations: their C
-- functions now score a row with NULL elements by the mixture's marginal
-- over its non-NULL features (a row of NULLs only: NULL, skipped by the
-- aggregates).

CREATE FUNCTION gmm_impute(model gmm, x float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_impute'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_impute(gmm, float8[])
	IS 'the row with each NULL element replaced by its conditional expectation given the non-NULL elements (a row of NULLs only: the mixture mean)';

CREATE FUNCTION gmm_marginal(model gmm, features int[])
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_marginal'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_marginal(gmm, int[])
	IS 'the mixture over the listed features (1-based positions, in the order given)';

CREATE FUNCTION gmm_condition(model gmm, x float8[])
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_condition'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_condition(gmm, float8[])
	IS 'the mixture of the row''s NULL features given the values of its non-NULL ones';

-- ---- anomaly detection: calibration, percentiles, explanations ----

CREATE FUNCTION gmm_calibrate_transfn(gmm_em_state, float8[], gmm)
	RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_calibrate_transfn'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_calibrate_transfn(gmm_em_state, float8[], gmm)
	IS 'transition function of gmm_calibrate: an EM pass whose state also sketches the rows'' log-densities';

CREATE FUNCTION gmm_calibrate_weighted_transfn(gmm_em_state, float8[], float8, gmm)
	RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_calibrate_weighted_transfn'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_calibrate_weighted_transfn(gmm_em_state, float8[], float8, gmm)
	IS 'transition function of the weighted gmm_calibrate';

CREATE FUNCTION gmm_calibrate_final(gmm_em_state)
	RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_calibrate_final'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_calibrate_final(gmm_em_state)
	IS 'final function of gmm_calibrate: the model with the calibration of the rows';

CREATE AGGREGATE gmm_calibrate(x float8[], model gmm) (
	SFUNC = gmm_calibrate_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_calibrate_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_calibrate(float8[], gmm)
	IS 'the model with its calibration (the distribution of log-densities behind gmm_score_percentile and gmm_score_threshold) recomputed on these rows';

CREATE AGGREGATE gmm_calibrate(x float8[], weight float8, model gmm) (
	SFUNC = gmm_calibrate_weighted_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_calibrate_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_calibrate(float8[], float8, gmm)
	IS 'gmm_calibrate over weighted rows (a row of weight w counts as w rows)';

CREATE FUNCTION gmm_score_percentile(model gmm, x float8[])
	RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_score_percentile'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_percentile(gmm, float8[])
	IS 'the (weighted) fraction of the calibration rows whose log-density is lower than the row''s, in [0, 1]';

CREATE FUNCTION gmm_score_threshold(model gmm, fraction float8)
	RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_score_threshold'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_threshold(gmm, float8)
	IS 'the log-density below which that fraction of the calibration rows lies (the inverse of gmm_score_percentile)';

CREATE FUNCTION gmm_mahalanobis(model gmm, x float8[])
	RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_mahalanobis'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_mahalanobis(gmm, float8[])
	IS 'squared Mahalanobis distance of the row to each component';

CREATE FUNCTION gmm_explain(model gmm, x float8[])
	RETURNS TABLE(feature int, value float8, expected float8, sd float8, z float8, log_density float8)
	AS 'MODULE_PATHNAME', 'gmm_explain'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_explain(gmm, float8[])
	IS 'per feature (1-based), the distribution of the value given all the other features under the mixture: mean, sd, z and log-density, least likely first';
