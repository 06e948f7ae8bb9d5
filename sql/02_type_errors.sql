-- gmm type: every input error path of text, jsonb, binary and bytea input
-- Each case shows SQLSTATE, message, detail and hint (err() catches them).
CREATE FUNCTION err(q text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  state := '00000';
  message := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $f$;

-- two plain errors as psql shows them
SELECT '{"weights": [1], "means": [[0]], "covariances": [[[1]]], "covarince_type": "full"}'::gmm;
SELECT '{"weights": [1], "means": [[0]], "covariances": [[[NaN]]]}'::gmm;

\x on

-- ---------------------------------------------------------------- JSON syntax
-- malformed JSON gets PostgreSQL's own JSON error
SELECT * FROM err($$ SELECT '{"weights": [1,'::gmm $$);
SELECT * FROM err($$ SELECT ''::gmm $$);
-- not an object
SELECT * FROM err($$ SELECT '[1, 2]'::gmm $$);
SELECT * FROM err($$ SELECT '5'::gmm $$);

-- ----------------------------------------------------------------------- keys
-- unknown keys are errors naming the key, at every level
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0]], "covariances": [[[1]]], "covarinces": 1}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0]], "covariances": [[[1]]], "options": {"tolerance": 0.1}}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0]], "covariances": [[[1]]], "bic_trace": [{"n_components": 1, "bic": 2, "aic": 3}]}'::gmm $$);
-- required keys
SELECT * FROM err($$ SELECT '{"means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{}'::gmm $$);

-- --------------------------------------------------------------------- shapes
SELECT * FROM err($$ SELECT '{"weights": [], "means": [], "covariances": []}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": 1, "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
-- means rows != K
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.5], "means": [[0, 0], [1, 1], [2, 2]], "covariances": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}'::gmm $$);
-- a means row of the wrong length
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.5], "means": [[0, 0], [1, 1, 1]], "covariances": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}'::gmm $$);
-- flat means
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.5], "means": [0, 1], "covariances": [1, 1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
-- covariance dimensions, for each type
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0, 0]], "covariances": [[1, 0], [0, 1]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0], [0, 1, 0]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0], [0, [1]]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "tied", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "diag", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [1, 1]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "spherical", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [1, 1, 1]}'::gmm $$);
-- n_components / n_features must agree with the arrays
SELECT * FROM err($$ SELECT '{"n_components": 2, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_features": 2, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_components": 0, "weights": [], "means": [], "covariances": []}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_features": 0, "weights": [1], "means": [[]], "covariances": [[]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_components": 1.5, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_components": "1", "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_components": 99999999999, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
-- limits
SELECT * FROM err($$ SELECT '{"n_components": 10001, "weights": [1], "means": [[0]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_features": 10001, "weights": [1], "means": [[0]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_components": 5000, "n_features": 5000, "weights": [1], "means": [[0]], "covariances": [1]}'::gmm $$);

-- ---------------------------------------------------------- non-finite values
-- NaN and Infinity are not JSON numbers: as strings they are refused, with a hint
SELECT * FROM err($$ SELECT '{"weights": ["NaN", 1], "means": [[0], [1]], "covariances": [1, 1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [["-Infinity"]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [["zero"]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[null]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
-- bare NaN is a JSON syntax error
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[NaN]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
-- huge exponents overflow a double, tiny ones underflow to zero: both out of range
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[1e309]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0]], "covariances": [[[-1e99999]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[1e-400]], "covariances": [1], "covariance_type": "spherical"}'::gmm $$);
-- through jsonb too
SELECT * FROM err($$ SELECT jsonb_build_object('weights', jsonb_build_array('NaN'::float8), 'means', '[[0]]'::jsonb, 'covariances', '[1]'::jsonb, 'covariance_type', 'spherical')::gmm $$);

-- -------------------------------------------------------------------- weights
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.6], "means": [[0], [1]], "covariances": [1, 1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [-0.5, 1.5], "means": [[0], [1]], "covariances": [1, 1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [0, 1], "means": [[0], [1]], "covariances": [1, 1], "covariance_type": "spherical"}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.5000001], "means": [[0], [1]], "covariances": [1, 1], "covariance_type": "spherical"}'::gmm $$);

-- ---------------------------------------------------------------- covariances
-- asymmetric (names the component and the elements)
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [[[1, 0], [0, 1]], [[1, 0.5], [0.4, 1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "tied", "weights": [1], "means": [[0, 0, 0]], "covariances": [[1, 0, 0], [0, 1, 0.2], [0, 0.25, 1]]}'::gmm $$);
-- symmetric but not positive definite (names the component, sklearn's advice)
SELECT * FROM err($$ SELECT '{"weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [[[1, 0], [0, 1]], [[1, 2], [2, 1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 1], [1, 1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "tied", "weights": [1], "means": [[0, 0]], "covariances": [[0, 0], [0, 0]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "diag", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [[1, 1], [1, 0]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": "spherical", "weights": [1], "means": [[0, 0]], "covariances": [-1]}'::gmm $$);
-- covariance_type
SELECT * FROM err($$ SELECT '{"covariance_type": "ful", "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"covariance_type": 0, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);

-- ------------------------------------------------------ metadata and options
SELECT * FROM err($$ SELECT '{"format_version": 3, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"format_version": 0, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"converged": "yes", "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_iter": -1, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"n_samples": -5, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"sum_weights": -1, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"lower_bound": "high", "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": [], "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": {"init_params": "kmeans++"}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": {"tol": -0.1}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": {"reg_covar": "1e-6"}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": {"max_iter": -1}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": {"n_init": 0}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"options": {"random_state": 9223372036854775808}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"bic_trace": {}, "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"bic_trace": [1], "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"bic_trace": [{"n_components": 1}], "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);
SELECT * FROM err($$ SELECT '{"bic_trace": [{"n_components": 0, "bic": 1}], "weights": [1], "means": [[0]], "covariances": [[[1]]]}'::gmm $$);

-- ----------------------------------------------------------- binary / bytea
-- the binary format of a valid 2 x 2 full model (see gmm_binary.c for offsets)
CREATE TABLE good AS
SELECT '{"weights": [0.25, 0.75], "means": [[0, 0], [1, 2]],
         "covariances": [[[4, 2], [2, 3]], [[1, 0], [0, 1]]]}'::gmm::bytea AS b;
SELECT length(b) FROM good;
SELECT * FROM err($$ SELECT '\x00'::bytea::gmm $$);
SELECT * FROM err($$ SELECT '\xdeadbeef'::bytea::gmm $$);
SELECT * FROM err($$ SELECT ''::bytea::gmm $$);
SELECT * FROM err($$ SELECT '\x474d4d4201'::bytea::gmm $$);
-- last byte chopped, one byte too many
SELECT * FROM err($$ SELECT substr(b, 1, length(b) - 1)::gmm FROM good $$);
SELECT * FROM err($$ SELECT (b || '\x00'::bytea)::gmm FROM good $$);
-- header bytes flipped: version, covariance type, init_params, flags, K, reserved
SELECT * FROM err($$ SELECT set_byte(b, 4, 3)::gmm FROM good $$);
-- version 1's bytes labelled version 2: no section count where one must be
SELECT * FROM err($$ SELECT set_byte(b, 4, 2)::gmm FROM good $$);
-- version 1 with the rng byte (offset 88) set
SELECT * FROM err($$ SELECT set_byte(b, 88, 1)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 5, 7)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 6, 9)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 7, 2)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 11, 0)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 11, 3)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 8, 1)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 27, 0)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 72, get_byte(b, 72) | 128)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 95, 1)::gmm FROM good $$);
-- data bytes: a weight, a NaN mean, an infinite covariance, an asymmetric one
SELECT * FROM err($$ SELECT set_byte(b, 104, 64)::gmm FROM good $$);
SELECT * FROM err($$ SELECT overlay(b PLACING '\x7ff8000000000000'::bytea FROM 1 + 104 + 16 + 8 FOR 8)::gmm FROM good $$);
SELECT * FROM err($$ SELECT overlay(b PLACING '\xfff0000000000000'::bytea FROM 1 + 104 + 16 + 32 + 32 FOR 8)::gmm FROM good $$);
SELECT * FROM err($$ SELECT set_byte(b, 104 + 16 + 32 + 8, 63)::gmm FROM good $$);

-- no corruption of the bytes crashes: every truncation, every byte inverted,
-- every byte zeroed either fails with a clean error or is a valid model
CREATE TABLE mutants AS
SELECT 'truncated' AS kind, substr(b, 1, n) AS m FROM good, generate_series(0, length(b) - 1) n
UNION ALL
SELECT 'inverted', set_byte(b, n, get_byte(b, n) # 255) FROM good, generate_series(0, length(b) - 1) n
UNION ALL
SELECT 'zeroed', set_byte(b, n, 0) FROM good, generate_series(0, length(b) - 1) n;
\x off
SELECT kind, e.state, count(*)
FROM mutants, LATERAL err(format('SELECT %L::bytea::gmm', m)) e
GROUP BY kind, e.state ORDER BY kind, e.state;
-- the ones accepted are valid models that round-trip
SELECT count(*) AS accepted, bool_and(m::gmm::bytea::gmm::bytea = m::gmm::bytea) AS round_trip
FROM mutants, LATERAL err(format('SELECT %L::bytea::gmm', m)) e
WHERE e.state = '00000';

-- the same decoder serves binary COPY
\copy good TO '/tmp/gmm_regress_02_type_errors.bin' WITH (FORMAT binary)
CREATE TABLE good_bin (m gmm);
\copy good_bin FROM '/tmp/gmm_regress_02_type_errors.bin' WITH (FORMAT binary)
\! rm -f /tmp/gmm_regress_02_type_errors.bin
SELECT m::bytea = b AS same FROM good, good_bin;

-- ------------------------------------------------------------------- NULLs
SELECT gmm_in(NULL) IS NULL AS in_null, gmm_out(NULL) IS NULL AS out_null,
       gmm_send(NULL) IS NULL AS send_null, gmm_from_bytea(NULL) IS NULL AS bytea_null,
       gmm_from_jsonb(NULL) IS NULL AS jsonb_null;
-- JSON null is not SQL NULL
\x on
SELECT * FROM err($$ SELECT 'null'::gmm $$);
SELECT * FROM err($$ SELECT 'null'::jsonb::gmm $$);
\x off

DROP TABLE good, good_bin, mutants;
DROP FUNCTION err(text);
