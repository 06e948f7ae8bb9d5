
-- ---------------------------------------------------------------------------
-- Drawing from a model
-- ---------------------------------------------------------------------------

CREATE FUNCTION gmm_sample(model gmm, n bigint, random_state bigint DEFAULT 0)
RETURNS TABLE(x float8[], component int)
AS 'MODULE_PATHNAME', 'gmm_sample_rows'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION gmm_sample(gmm, bigint, bigint)
	IS 'draw n rows from the mixture with their components; the same random_state gives the same rows';
