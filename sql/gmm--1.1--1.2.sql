/* gmm 1.1 -> 1.2 (ALTER EXTENSION gmm UPDATE TO '1.2'); gmm--1.2.sql is gmm--1.1.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.2'" to load this file. \quit

-- One block per concern, each starting with a line "-- ---- <concern> ----".

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
