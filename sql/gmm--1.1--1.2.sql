/* gmm 1.1 -> 1.2 (ALTER EXTENSION gmm UPDATE TO '1.2'); gmm--1.2.sql is gmm--1.1.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.2'" to load this file. \quit

-- One block per concern, each starting with a line "-- ---- <concern> ----".

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
