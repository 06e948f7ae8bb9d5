
-- ---------------------------------------------------------------------------
-- The gmm type: a fitted Gaussian mixture model
-- ---------------------------------------------------------------------------

CREATE TYPE gmm;

CREATE FUNCTION gmm_in(cstring) RETURNS gmm
	AS 'MODULE_PATHNAME', 'gmm_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gmm_out(gmm) RETURNS cstring
	AS 'MODULE_PATHNAME', 'gmm_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gmm_recv(internal) RETURNS gmm
	AS 'MODULE_PATHNAME', 'gmm_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gmm_send(gmm) RETURNS bytea
	AS 'MODULE_PATHNAME', 'gmm_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE gmm (
	INPUT = gmm_in,
	OUTPUT = gmm_out,
	RECEIVE = gmm_recv,
	SEND = gmm_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);

COMMENT ON TYPE gmm IS 'Gaussian mixture model (weights, means, covariances and fit metadata); text form is JSON with scikit-learn''s names';
COMMENT ON FUNCTION gmm_in(cstring) IS 'gmm input: a JSON object with weights, means, covariances and optional fit metadata';
COMMENT ON FUNCTION gmm_out(gmm) IS 'gmm output: JSON with scikit-learn''s names, floats in shortest round-trip form';
COMMENT ON FUNCTION gmm_recv(internal) IS 'gmm binary input (big-endian, validated as text input)';
COMMENT ON FUNCTION gmm_send(gmm) IS 'gmm binary output (big-endian, primary fields only)';

-- casts: jsonb uses the text form, bytea the binary form

CREATE FUNCTION gmm_to_jsonb(gmm) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'gmm_to_jsonb'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gmm_from_jsonb(jsonb) RETURNS gmm
	AS 'MODULE_PATHNAME', 'gmm_from_jsonb'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gmm_to_bytea(gmm) RETURNS bytea
	AS 'MODULE_PATHNAME', 'gmm_to_bytea'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gmm_from_bytea(bytea) RETURNS gmm
	AS 'MODULE_PATHNAME', 'gmm_from_bytea'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (gmm AS jsonb) WITH FUNCTION gmm_to_jsonb(gmm);
CREATE CAST (jsonb AS gmm) WITH FUNCTION gmm_from_jsonb(jsonb);
CREATE CAST (gmm AS bytea) WITH FUNCTION gmm_to_bytea(gmm);
CREATE CAST (bytea AS gmm) WITH FUNCTION gmm_from_bytea(bytea);

COMMENT ON FUNCTION gmm_to_jsonb(gmm) IS 'the JSON text form of a gmm as jsonb';
COMMENT ON FUNCTION gmm_from_jsonb(jsonb) IS 'gmm from a JSON document, as text input';
COMMENT ON FUNCTION gmm_to_bytea(gmm) IS 'the binary send format of a gmm as bytea';
COMMENT ON FUNCTION gmm_from_bytea(bytea) IS 'gmm from the binary send format, as binary input';
COMMENT ON CAST (gmm AS jsonb) IS 'the JSON text form of the model';
COMMENT ON CAST (jsonb AS gmm) IS 'a model from its JSON form (same rules as text input)';
COMMENT ON CAST (gmm AS bytea) IS 'the binary send format of the model';
COMMENT ON CAST (bytea AS gmm) IS 'a model from the binary send format (validated)';
