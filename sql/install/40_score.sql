
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
