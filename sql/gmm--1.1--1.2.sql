/* gmm 1.1 -> 1.2 (ALTER EXTENSION gmm UPDATE TO '1.2'); gmm--1.2.sql is gmm--1.1.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.2'" to load this file. \quit

-- One block per concern, each starting with a line "-- ---- <concern> ----".

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
