-- gmm_pgvector 1.0: gmm's fitting, EM, initialisation and scoring over pgvector's vector
-- (float4) and halfvec (float2) columns, read without a cast.  Each object is the gmm
-- function or aggregate of the same name over float8[], with the row argument of the pgvector
-- type; the aggregates use gmm's own final, combine and state functions.

-- complain if the script is sourced in psql rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION gmm_pgvector CASCADE" to load this file. \quit


-- ---------------------------------------------------------------------------
-- vector (float4) rows
-- ---------------------------------------------------------------------------

CREATE FUNCTION gmm_fit_transfn(internal, vector, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_fit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_transfn(internal, vector, int)
	IS 'transition function of gmm_fit over vector rows';
CREATE FUNCTION gmm_fit_transfn(internal, vector, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_fit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_transfn(internal, vector, int, jsonb)
	IS 'transition function of gmm_fit over vector rows';
CREATE FUNCTION gmm_fit_weighted_transfn(internal, vector, float8, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_fit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_weighted_transfn(internal, vector, float8, int)
	IS 'transition function of gmm_fit_weighted over vector rows';
CREATE FUNCTION gmm_fit_weighted_transfn(internal, vector, float8, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_fit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_weighted_transfn(internal, vector, float8, int, jsonb)
	IS 'transition function of gmm_fit_weighted over vector rows';
CREATE FUNCTION gmm_refit_transfn(internal, vector, gmm)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_refit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_transfn(internal, vector, gmm)
	IS 'transition function of gmm_refit over vector rows';
CREATE FUNCTION gmm_refit_transfn(internal, vector, gmm, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_refit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_transfn(internal, vector, gmm, jsonb)
	IS 'transition function of gmm_refit over vector rows';
CREATE FUNCTION gmm_refit_weighted_transfn(internal, vector, float8, gmm)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_refit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_weighted_transfn(internal, vector, float8, gmm)
	IS 'transition function of gmm_refit_weighted over vector rows';
CREATE FUNCTION gmm_refit_weighted_transfn(internal, vector, float8, gmm, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_refit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_weighted_transfn(internal, vector, float8, gmm, jsonb)
	IS 'transition function of gmm_refit_weighted over vector rows';
CREATE FUNCTION gmm_fit_auto_transfn(internal, vector, int, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_fit_auto_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_auto_transfn(internal, vector, int, int)
	IS 'transition function of gmm_fit_auto over vector rows';
CREATE FUNCTION gmm_fit_auto_transfn(internal, vector, int, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_fit_auto_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_auto_transfn(internal, vector, int, int, jsonb)
	IS 'transition function of gmm_fit_auto over vector rows';

CREATE AGGREGATE gmm_fit(x vector, n_components int) (
	SFUNC = gmm_fit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit(vector, int)
	IS 'fit a Gaussian mixture with n_components components to the vector rows';

CREATE AGGREGATE gmm_fit(x vector, n_components int, options jsonb) (
	SFUNC = gmm_fit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit(vector, int, jsonb)
	IS 'fit a Gaussian mixture with n_components components to the vector rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_fit_weighted(x vector, weight float8, n_components int) (
	SFUNC = gmm_fit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_weighted(vector, float8, int)
	IS 'fit a Gaussian mixture to weighted vector rows: a row of weight w counts as w identical rows';

CREATE AGGREGATE gmm_fit_weighted(x vector, weight float8, n_components int, options jsonb) (
	SFUNC = gmm_fit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_weighted(vector, float8, int, jsonb)
	IS 'fit a Gaussian mixture to weighted vector rows: a row of weight w counts as w identical rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_refit(x vector, model gmm) (
	SFUNC = gmm_refit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit(vector, gmm)
	IS 'continue EM from the model''s parameters over the vector rows (warm start)';

CREATE AGGREGATE gmm_refit(x vector, model gmm, options jsonb) (
	SFUNC = gmm_refit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit(vector, gmm, jsonb)
	IS 'continue EM from the model''s parameters over the vector rows (warm start), with options (see gmm_options)';

CREATE AGGREGATE gmm_refit_weighted(x vector, weight float8, model gmm) (
	SFUNC = gmm_refit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit_weighted(vector, float8, gmm)
	IS 'continue EM from the model''s parameters over weighted vector rows';

CREATE AGGREGATE gmm_refit_weighted(x vector, weight float8, model gmm, options jsonb) (
	SFUNC = gmm_refit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit_weighted(vector, float8, gmm, jsonb)
	IS 'continue EM from the model''s parameters over weighted vector rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_fit_auto(x vector, min_components int, max_components int) (
	SFUNC = gmm_fit_auto_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_auto_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_auto(vector, int, int)
	IS 'fit every number of components in the range to the vector rows and return the model with the lowest BIC';

CREATE AGGREGATE gmm_fit_auto(x vector, min_components int, max_components int, options jsonb) (
	SFUNC = gmm_fit_auto_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_auto_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_auto(vector, int, int, jsonb)
	IS 'fit every number of components in the range to the vector rows and return the model with the lowest BIC, with options (see gmm_options)';

CREATE FUNCTION gmm_em_step_transfn(gmm_em_state, vector, gmm)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_em_step_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_transfn(gmm_em_state, vector, gmm)
	IS 'transition function of gmm_em_step over vector rows';
CREATE FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, vector, float8, gmm)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_em_step_weighted_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, vector, float8, gmm)
	IS 'transition function of the weighted gmm_em_step over vector rows';

CREATE AGGREGATE gmm_em_step(x vector, model gmm) (
	SFUNC = gmm_em_step_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(vector, gmm)
	IS 'one EM iteration over the vector rows from the model (combinable)';

CREATE AGGREGATE gmm_em_step(x vector, weight float8, model gmm) (
	SFUNC = gmm_em_step_weighted_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(vector, float8, gmm)
	IS 'one EM iteration over the weighted vector rows from the model (combinable)';

CREATE FUNCTION gmm_init_transfn(gmm_init_state, vector, int)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_init_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, vector, int)
	IS 'transition function of gmm_init over vector rows';
CREATE FUNCTION gmm_init_transfn(gmm_init_state, vector, int, jsonb)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_init_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, vector, int, jsonb)
	IS 'transition function of gmm_init over vector rows';

CREATE AGGREGATE gmm_init(x vector, n_components int) (
	SFUNC = gmm_init_transfn,
	STYPE = gmm_init_state,
	COMBINEFUNC = gmm_init_combine,
	FINALFUNC = gmm_init_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_init(vector, int)
	IS 'initial model from a uniform sample of the vector rows (combinable)';

CREATE AGGREGATE gmm_init(x vector, n_components int, options jsonb) (
	SFUNC = gmm_init_transfn,
	STYPE = gmm_init_state,
	COMBINEFUNC = gmm_init_combine,
	FINALFUNC = gmm_init_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_init(vector, int, jsonb)
	IS 'initial model from a uniform sample of the vector rows (combinable), with options';

CREATE FUNCTION gmm_predict(model gmm, x vector)
RETURNS int AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_predict'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_predict(gmm, vector)
	IS 'most likely component of the vector row (0-based)';

CREATE FUNCTION gmm_predict_proba(model gmm, x vector)
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_predict_proba'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_predict_proba(gmm, vector)
	IS 'posterior probability of each component for the vector row (sums to 1)';

CREATE FUNCTION gmm_score_samples(model gmm, x vector)
RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_score_samples'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_samples(gmm, vector)
	IS 'log-likelihood of the vector row under the mixture';

CREATE FUNCTION gmm_predict_top(model gmm, x vector, n int)
RETURNS TABLE(component int, probability float8)
AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_predict_top'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION gmm_predict_top(gmm, vector, int)
	IS 'the n most likely components of the vector row with their probabilities, most likely first';

CREATE FUNCTION gmm_score_accum(float8[], gmm, vector)
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_pgvector_vector_score_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_accum(float8[], gmm, vector)
	IS 'transition function of gmm_score, gmm_bic and gmm_aic over vector rows';

CREATE AGGREGATE gmm_score(model gmm, x vector) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_score_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_score(gmm, vector)
	IS 'mean log-likelihood of the vector rows under the model';

CREATE AGGREGATE gmm_bic(model gmm, x vector) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_bic_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_bic(gmm, vector)
	IS 'Bayesian information criterion of the model on the vector rows';

CREATE AGGREGATE gmm_aic(model gmm, x vector) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_aic_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_aic(gmm, vector)
	IS 'Akaike information criterion of the model on the vector rows';


-- ---------------------------------------------------------------------------
-- halfvec (float2) rows
-- ---------------------------------------------------------------------------

CREATE FUNCTION gmm_fit_transfn(internal, halfvec, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_fit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_transfn(internal, halfvec, int)
	IS 'transition function of gmm_fit over halfvec rows';
CREATE FUNCTION gmm_fit_transfn(internal, halfvec, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_fit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_transfn(internal, halfvec, int, jsonb)
	IS 'transition function of gmm_fit over halfvec rows';
CREATE FUNCTION gmm_fit_weighted_transfn(internal, halfvec, float8, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_fit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_weighted_transfn(internal, halfvec, float8, int)
	IS 'transition function of gmm_fit_weighted over halfvec rows';
CREATE FUNCTION gmm_fit_weighted_transfn(internal, halfvec, float8, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_fit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_weighted_transfn(internal, halfvec, float8, int, jsonb)
	IS 'transition function of gmm_fit_weighted over halfvec rows';
CREATE FUNCTION gmm_refit_transfn(internal, halfvec, gmm)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_refit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_transfn(internal, halfvec, gmm)
	IS 'transition function of gmm_refit over halfvec rows';
CREATE FUNCTION gmm_refit_transfn(internal, halfvec, gmm, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_refit_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_transfn(internal, halfvec, gmm, jsonb)
	IS 'transition function of gmm_refit over halfvec rows';
CREATE FUNCTION gmm_refit_weighted_transfn(internal, halfvec, float8, gmm)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_refit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_weighted_transfn(internal, halfvec, float8, gmm)
	IS 'transition function of gmm_refit_weighted over halfvec rows';
CREATE FUNCTION gmm_refit_weighted_transfn(internal, halfvec, float8, gmm, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_refit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_refit_weighted_transfn(internal, halfvec, float8, gmm, jsonb)
	IS 'transition function of gmm_refit_weighted over halfvec rows';
CREATE FUNCTION gmm_fit_auto_transfn(internal, halfvec, int, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_fit_auto_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_auto_transfn(internal, halfvec, int, int)
	IS 'transition function of gmm_fit_auto over halfvec rows';
CREATE FUNCTION gmm_fit_auto_transfn(internal, halfvec, int, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_fit_auto_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_auto_transfn(internal, halfvec, int, int, jsonb)
	IS 'transition function of gmm_fit_auto over halfvec rows';

CREATE AGGREGATE gmm_fit(x halfvec, n_components int) (
	SFUNC = gmm_fit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit(halfvec, int)
	IS 'fit a Gaussian mixture with n_components components to the halfvec rows';

CREATE AGGREGATE gmm_fit(x halfvec, n_components int, options jsonb) (
	SFUNC = gmm_fit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit(halfvec, int, jsonb)
	IS 'fit a Gaussian mixture with n_components components to the halfvec rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_fit_weighted(x halfvec, weight float8, n_components int) (
	SFUNC = gmm_fit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_weighted(halfvec, float8, int)
	IS 'fit a Gaussian mixture to weighted halfvec rows: a row of weight w counts as w identical rows';

CREATE AGGREGATE gmm_fit_weighted(x halfvec, weight float8, n_components int, options jsonb) (
	SFUNC = gmm_fit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_weighted(halfvec, float8, int, jsonb)
	IS 'fit a Gaussian mixture to weighted halfvec rows: a row of weight w counts as w identical rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_refit(x halfvec, model gmm) (
	SFUNC = gmm_refit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit(halfvec, gmm)
	IS 'continue EM from the model''s parameters over the halfvec rows (warm start)';

CREATE AGGREGATE gmm_refit(x halfvec, model gmm, options jsonb) (
	SFUNC = gmm_refit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit(halfvec, gmm, jsonb)
	IS 'continue EM from the model''s parameters over the halfvec rows (warm start), with options (see gmm_options)';

CREATE AGGREGATE gmm_refit_weighted(x halfvec, weight float8, model gmm) (
	SFUNC = gmm_refit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit_weighted(halfvec, float8, gmm)
	IS 'continue EM from the model''s parameters over weighted halfvec rows';

CREATE AGGREGATE gmm_refit_weighted(x halfvec, weight float8, model gmm, options jsonb) (
	SFUNC = gmm_refit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit_weighted(halfvec, float8, gmm, jsonb)
	IS 'continue EM from the model''s parameters over weighted halfvec rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_fit_auto(x halfvec, min_components int, max_components int) (
	SFUNC = gmm_fit_auto_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_auto_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_auto(halfvec, int, int)
	IS 'fit every number of components in the range to the halfvec rows and return the model with the lowest BIC';

CREATE AGGREGATE gmm_fit_auto(x halfvec, min_components int, max_components int, options jsonb) (
	SFUNC = gmm_fit_auto_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_auto_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_auto(halfvec, int, int, jsonb)
	IS 'fit every number of components in the range to the halfvec rows and return the model with the lowest BIC, with options (see gmm_options)';

CREATE FUNCTION gmm_em_step_transfn(gmm_em_state, halfvec, gmm)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_em_step_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_transfn(gmm_em_state, halfvec, gmm)
	IS 'transition function of gmm_em_step over halfvec rows';
CREATE FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, halfvec, float8, gmm)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_em_step_weighted_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, halfvec, float8, gmm)
	IS 'transition function of the weighted gmm_em_step over halfvec rows';

CREATE AGGREGATE gmm_em_step(x halfvec, model gmm) (
	SFUNC = gmm_em_step_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(halfvec, gmm)
	IS 'one EM iteration over the halfvec rows from the model (combinable)';

CREATE AGGREGATE gmm_em_step(x halfvec, weight float8, model gmm) (
	SFUNC = gmm_em_step_weighted_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(halfvec, float8, gmm)
	IS 'one EM iteration over the weighted halfvec rows from the model (combinable)';

CREATE FUNCTION gmm_init_transfn(gmm_init_state, halfvec, int)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_init_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, halfvec, int)
	IS 'transition function of gmm_init over halfvec rows';
CREATE FUNCTION gmm_init_transfn(gmm_init_state, halfvec, int, jsonb)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_init_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, halfvec, int, jsonb)
	IS 'transition function of gmm_init over halfvec rows';

CREATE AGGREGATE gmm_init(x halfvec, n_components int) (
	SFUNC = gmm_init_transfn,
	STYPE = gmm_init_state,
	COMBINEFUNC = gmm_init_combine,
	FINALFUNC = gmm_init_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_init(halfvec, int)
	IS 'initial model from a uniform sample of the halfvec rows (combinable)';

CREATE AGGREGATE gmm_init(x halfvec, n_components int, options jsonb) (
	SFUNC = gmm_init_transfn,
	STYPE = gmm_init_state,
	COMBINEFUNC = gmm_init_combine,
	FINALFUNC = gmm_init_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_init(halfvec, int, jsonb)
	IS 'initial model from a uniform sample of the halfvec rows (combinable), with options';

CREATE FUNCTION gmm_predict(model gmm, x halfvec)
RETURNS int AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_predict'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_predict(gmm, halfvec)
	IS 'most likely component of the halfvec row (0-based)';

CREATE FUNCTION gmm_predict_proba(model gmm, x halfvec)
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_predict_proba'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_predict_proba(gmm, halfvec)
	IS 'posterior probability of each component for the halfvec row (sums to 1)';

CREATE FUNCTION gmm_score_samples(model gmm, x halfvec)
RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_score_samples'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_samples(gmm, halfvec)
	IS 'log-likelihood of the halfvec row under the mixture';

CREATE FUNCTION gmm_predict_top(model gmm, x halfvec, n int)
RETURNS TABLE(component int, probability float8)
AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_predict_top'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION gmm_predict_top(gmm, halfvec, int)
	IS 'the n most likely components of the halfvec row with their probabilities, most likely first';

CREATE FUNCTION gmm_score_accum(float8[], gmm, halfvec)
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_pgvector_halfvec_score_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_accum(float8[], gmm, halfvec)
	IS 'transition function of gmm_score, gmm_bic and gmm_aic over halfvec rows';

CREATE AGGREGATE gmm_score(model gmm, x halfvec) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_score_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_score(gmm, halfvec)
	IS 'mean log-likelihood of the halfvec rows under the model';

CREATE AGGREGATE gmm_bic(model gmm, x halfvec) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_bic_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_bic(gmm, halfvec)
	IS 'Bayesian information criterion of the model on the halfvec rows';

CREATE AGGREGATE gmm_aic(model gmm, x halfvec) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_aic_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_aic(gmm, halfvec)
	IS 'Akaike information criterion of the model on the halfvec rows';
