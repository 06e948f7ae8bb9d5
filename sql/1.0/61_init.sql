
-- ---------------------------------------------------------------------------
-- gmm_init: the initial model from a bounded random sample (combinable)
-- ---------------------------------------------------------------------------

CREATE TYPE gmm_init_state;

CREATE FUNCTION gmm_init_state_in(cstring) RETURNS gmm_init_state
	AS 'MODULE_PATHNAME', 'gmm_init_state_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_init_state_out(gmm_init_state) RETURNS cstring
	AS 'MODULE_PATHNAME', 'gmm_init_state_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_init_state_recv(internal) RETURNS gmm_init_state
	AS 'MODULE_PATHNAME', 'gmm_init_state_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_init_state_send(gmm_init_state) RETURNS bytea
	AS 'MODULE_PATHNAME', 'gmm_init_state_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE gmm_init_state (
	INPUT = gmm_init_state_in,
	OUTPUT = gmm_init_state_out,
	RECEIVE = gmm_init_state_recv,
	SEND = gmm_init_state_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);
COMMENT ON TYPE gmm_init_state IS 'state of gmm_init: a seeded, mergeable uniform sample of at most sample_size rows';
COMMENT ON FUNCTION gmm_init_state_in(cstring) IS 'gmm_init_state input: the binary format in hexadecimal, validated as binary input';
COMMENT ON FUNCTION gmm_init_state_out(gmm_init_state) IS 'gmm_init_state output: the binary format in hexadecimal';
COMMENT ON FUNCTION gmm_init_state_recv(internal) IS 'gmm_init_state binary input (big-endian; shapes, counts, options and finite values checked)';
COMMENT ON FUNCTION gmm_init_state_send(gmm_init_state) IS 'gmm_init_state binary output (big-endian)';

CREATE FUNCTION gmm_init_transfn(gmm_init_state, float8[], int)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_init_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gmm_init_transfn(gmm_init_state, float8[], int, jsonb)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_init_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gmm_init_combine(gmm_init_state, gmm_init_state)
RETURNS gmm_init_state AS 'MODULE_PATHNAME', 'gmm_init_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_init_final(gmm_init_state)
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_init_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, float8[], int)
	IS 'transition function of gmm_init: reservoir sampling (Algorithm R)';
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, float8[], int, jsonb)
	IS 'transition function of gmm_init with options';
COMMENT ON FUNCTION gmm_init_combine(gmm_init_state, gmm_init_state)
	IS 'combine function of gmm_init: merges two samples into a uniform sample of their union';
COMMENT ON FUNCTION gmm_init_final(gmm_init_state)
	IS 'final function of gmm_init: gmm_fit''s initialisation on the sample (the state is not changed)';

CREATE AGGREGATE gmm_init(x float8[], n_components int) (
	SFUNC = gmm_init_transfn,
	STYPE = gmm_init_state,
	COMBINEFUNC = gmm_init_combine,
	FINALFUNC = gmm_init_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_init(float8[], int)
	IS 'initial model (k-means on a uniform sample of at most 10000 rows, n_iter 0) for gmm_em_step and gmm_train';

CREATE AGGREGATE gmm_init(x float8[], n_components int, options jsonb) (
	SFUNC = gmm_init_transfn,
	STYPE = gmm_init_state,
	COMBINEFUNC = gmm_init_combine,
	FINALFUNC = gmm_init_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_init(float8[], int, jsonb)
	IS 'initial model from a uniform sample of the rows, with gmm_fit''s options plus sample_size';
