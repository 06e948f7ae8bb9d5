
-- ---------------------------------------------------------------------------
-- Scoring rows
-- ---------------------------------------------------------------------------

CREATE FUNCTION gmm_predict(model gmm, x float8[])
RETURNS int AS 'MODULE_PATHNAME', 'gmm_predict'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_predict(gmm, float8[])
	IS 'most likely component of the row (0-based)';

CREATE FUNCTION gmm_predict_proba(model gmm, x float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_predict_proba'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_predict_proba(gmm, float8[])
	IS 'posterior probability of each component for the row (sums to 1)';

CREATE FUNCTION gmm_score_samples(model gmm, x float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_score_samples'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_score_samples(gmm, float8[])
	IS 'log-likelihood of the row under the mixture';

CREATE FUNCTION gmm_predict_top(model gmm, x float8[], n int)
RETURNS TABLE(component int, probability float8)
AS 'MODULE_PATHNAME', 'gmm_predict_top'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION gmm_predict_top(gmm, float8[], int)
	IS 'the n most likely components of the row with their probabilities, most likely first';

-- aggregates over scored rows; the float8[3] state makes them combinable
CREATE FUNCTION gmm_score_accum(float8[], gmm, float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_score_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gmm_score_combine(float8[], float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'gmm_score_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_score_final(float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_score_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_bic_final(float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_bic_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_aic_final(float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'gmm_aic_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE gmm_score(model gmm, x float8[]) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_score_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_score(gmm, float8[])
	IS 'mean log-likelihood of the rows under the model (scikit-learn''s score)';

CREATE AGGREGATE gmm_bic(model gmm, x float8[]) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_bic_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_bic(gmm, float8[])
	IS 'Bayesian information criterion of the model on the rows (scikit-learn''s bic)';

CREATE AGGREGATE gmm_aic(model gmm, x float8[]) (
	SFUNC = gmm_score_accum,
	STYPE = float8[],
	INITCOND = '{0,0,0}',
	COMBINEFUNC = gmm_score_combine,
	FINALFUNC = gmm_aic_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_aic(gmm, float8[])
	IS 'Akaike information criterion of the model on the rows (scikit-learn''s aic)';
