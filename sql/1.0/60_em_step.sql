
-- ---------------------------------------------------------------------------
-- One EM pass as a combinable aggregate (parallel workers, Citus)
-- ---------------------------------------------------------------------------

-- The state is a real SQL type, not internal: partial states travel between
-- processes and nodes as plain values (binary send/recv, or text in/out,
-- which is the same bytes in hex), validated on input.
CREATE TYPE gmm_em_state;

CREATE FUNCTION gmm_em_state_in(cstring) RETURNS gmm_em_state
	AS 'MODULE_PATHNAME', 'gmm_em_state_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_em_state_out(gmm_em_state) RETURNS cstring
	AS 'MODULE_PATHNAME', 'gmm_em_state_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_em_state_recv(internal) RETURNS gmm_em_state
	AS 'MODULE_PATHNAME', 'gmm_em_state_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_em_state_send(gmm_em_state) RETURNS bytea
	AS 'MODULE_PATHNAME', 'gmm_em_state_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE gmm_em_state (
	INPUT = gmm_em_state_in,
	OUTPUT = gmm_em_state_out,
	RECEIVE = gmm_em_state_recv,
	SEND = gmm_em_state_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);
COMMENT ON TYPE gmm_em_state IS 'state of gmm_em_step: the model, shifted E-step statistics and up to 255 buffered rows';
COMMENT ON FUNCTION gmm_em_state_in(cstring) IS 'gmm_em_state input: the binary format in hexadecimal, validated as binary input';
COMMENT ON FUNCTION gmm_em_state_out(gmm_em_state) IS 'gmm_em_state output: the binary format in hexadecimal';
COMMENT ON FUNCTION gmm_em_state_recv(internal) IS 'gmm_em_state binary input (big-endian; model, shapes, finite values and fingerprint checked)';
COMMENT ON FUNCTION gmm_em_state_send(gmm_em_state) IS 'gmm_em_state binary output (big-endian)';

CREATE FUNCTION gmm_em_state_info(gmm_em_state) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'gmm_em_state_info'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_state_info(gmm_em_state)
	IS 'what a gmm_em_state holds: shape, model fingerprint, rows and sums (buffered rows included)';

CREATE FUNCTION gmm_em_step_transfn(gmm_em_state, float8[], gmm)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_em_step_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, float8[], float8, gmm)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_em_step_weighted_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gmm_em_step_combine(gmm_em_state, gmm_em_state)
RETURNS gmm_em_state AS 'MODULE_PATHNAME', 'gmm_em_step_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gmm_em_step_final(gmm_em_state)
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_em_step_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_em_step_transfn(gmm_em_state, float8[], gmm)
	IS 'transition function of gmm_em_step: buffers the row, runs the blocked E-step every 256 rows';
COMMENT ON FUNCTION gmm_em_step_weighted_transfn(gmm_em_state, float8[], float8, gmm)
	IS 'transition function of the weighted gmm_em_step';
COMMENT ON FUNCTION gmm_em_step_combine(gmm_em_state, gmm_em_state)
	IS 'combine function of gmm_em_step: adds the statistics of two passes against the same model';
COMMENT ON FUNCTION gmm_em_step_final(gmm_em_state)
	IS 'final function of gmm_em_step: the M-step (the state is not changed)';

CREATE AGGREGATE gmm_em_step(x float8[], model gmm) (
	SFUNC = gmm_em_step_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(float8[], gmm)
	IS 'one EM iteration over the rows from the model: the M-step model, lower_bound = mean log-likelihood under the input model';

CREATE AGGREGATE gmm_em_step(x float8[], weight float8, model gmm) (
	SFUNC = gmm_em_step_weighted_transfn,
	STYPE = gmm_em_state,
	COMBINEFUNC = gmm_em_step_combine,
	FINALFUNC = gmm_em_step_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_em_step(float8[], float8, gmm)
	IS 'one EM iteration over weighted rows from the model (a row of weight w counts as w rows)';
