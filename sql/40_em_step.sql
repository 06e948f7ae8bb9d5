-- gmm_em_step: one EM pass as a combinable aggregate.  A pass equals one
-- iteration of gmm_fit from the same model; parallel and combined passes
-- equal the serial pass; the state type's text and binary forms round-trip
-- and reject corrupted input; combining incompatible states is an error.
SET extra_float_digits = 0;

-- max |a - b| <= tol * max(|a|, |b|) over the elements (norm-wise relative)
CREATE FUNCTION em_close(a float8[], b float8[], tol float8) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
	SELECT cardinality(a) = cardinality(b) AND
		   (SELECT max(abs(x - y)) <= tol * max(greatest(abs(x), abs(y)))
			FROM unnest(a, b) u(x, y))
$$;
CREATE FUNCTION em_models_close(a gmm, b gmm, tol float8) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
	SELECT em_close(gmm_weights(a), gmm_weights(b), tol) AND
		   em_close(gmm_means(a), gmm_means(b), tol) AND
		   em_close(gmm_covariances(a), gmm_covariances(b), tol) AND
		   em_close(ARRAY[gmm_lower_bound(a)], ARRAY[gmm_lower_bound(b)], tol)
$$;

-- 3000 rows drawn from a known mixture, reproducibly
CREATE TABLE em_pts AS
SELECT i::int AS i, x, c
FROM gmm_sample('{"covariance_type": "full", "weights": [0.5, 0.3, 0.2],
				  "means": [[0, 0], [6, 1], [2, 7]],
				  "covariances": [[[1, 0.3], [0.3, 1]], [[0.5, 0], [0, 2]],
								  [[1.5, -0.4], [-0.4, 0.8]]]}'::gmm, 3000, 42)
	 WITH ORDINALITY s(x, c, i);

-- One pass from gmm_fit's initial model (max_iter 0) equals gmm_fit with
-- max_iter 1, for every covariance type.
CREATE TABLE em_init AS
SELECT t AS cov, gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'max_iter', 0)) AS m
FROM em_pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t GROUP BY t;
SET client_min_messages = error;	-- gmm_fit warns that one iteration did not converge
CREATE TABLE em_fit1 AS
SELECT t AS cov, gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'max_iter', 1)) AS m
FROM em_pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t GROUP BY t;
RESET client_min_messages;
CREATE TABLE em_pass1 AS
SELECT cov, gmm_em_step(x, m) AS m FROM em_pts, em_init GROUP BY cov;
SELECT p.cov, em_models_close(p.m, f.m, 1e-9) AS equals_gmm_fit,
	   gmm_n_iter(p.m) AS n_iter, gmm_n_samples(p.m) AS n_samples,
	   gmm_converged(p.m) AS converged,
	   gmm_log_likelihood(p.m) IS NULL AS no_log_likelihood,
	   gmm_covariance_type(p.m) = p.cov AS same_type
FROM em_pass1 p JOIN em_fit1 f USING (cov) ORDER BY p.cov;

-- The pass's lower bound is the mean log-likelihood of the input model.
SELECT cov, abs(gmm_lower_bound(p.m) - gmm_log_likelihood(i.m)) < 1e-9 AS lower_bound
FROM em_pass1 p JOIN em_init i USING (cov) ORDER BY cov;

-- Chained passes reproduce gmm_fit, including the convergence rule.
WITH RECURSIVE chain(n, m) AS (
	SELECT 0, m FROM em_init WHERE cov = 'full'
	UNION ALL
	SELECT n + 1, (SELECT gmm_em_step(x, chain.m) FROM em_pts)
	FROM chain WHERE n < 100 AND NOT gmm_converged(m)
), last AS (SELECT m FROM chain ORDER BY n DESC LIMIT 1),
	fit AS (SELECT gmm_fit(x, 3) AS m FROM em_pts)
SELECT em_models_close(last.m, fit.m, 1e-9) AS equals_gmm_fit,
	   gmm_n_iter(last.m) = gmm_n_iter(fit.m) AS same_n_iter,
	   gmm_converged(last.m) AS converged
FROM last, fit;

-- Weights: integer weights equal repeated rows; weight 0 and NULL rows are
-- skipped; fewer rows than one block of 256.
SELECT em_models_close(
		(SELECT gmm_em_step(x, 1 + (i % 3)::float8, m) FROM em_pts, em_init WHERE cov = 'full'),
		(SELECT gmm_em_step(x, m) FROM em_pts, em_init, generate_series(0, 2) r
		 WHERE cov = 'full' AND r <= i % 3), 1e-9) AS weights_are_repeats;
SELECT em_models_close(
		(SELECT gmm_em_step(x, CASE WHEN i % 5 = 0 THEN 0 ELSE 1 END, m) FROM em_pts, em_init WHERE cov = 'diag'),
		(SELECT gmm_em_step(x, m) FROM em_pts, em_init WHERE cov = 'diag' AND i % 5 <> 0), 1e-9) AS zero_weights_skipped,
	   em_models_close(
		(SELECT gmm_em_step(CASE WHEN i % 7 = 0 THEN NULL ELSE x END, m) FROM em_pts, em_init WHERE cov = 'diag'),
		(SELECT gmm_em_step(x, m) FROM em_pts, em_init WHERE cov = 'diag' AND i % 7 <> 0), 1e-9) AS null_rows_skipped,
	   gmm_n_samples((SELECT gmm_em_step(x, m) FROM em_pts, em_init WHERE cov = 'diag' AND i <= 255)) AS one_partial_block;

-- no rows: NULL; only weight-0 rows: an error
SELECT gmm_em_step(x, m) IS NULL AS empty FROM em_pts, em_init WHERE false;
SELECT gmm_em_step(x, 0, m) FROM em_pts, em_init WHERE cov = 'full';

-- row errors
SELECT gmm_em_step(x, NULL::gmm) FROM em_pts;
SELECT gmm_em_step(ARRAY[1, 2, 3]::float8[], m) FROM em_init WHERE cov = 'full';
SELECT gmm_em_step(x, -1, m) FROM em_pts, em_init WHERE cov = 'full';
SELECT gmm_em_step(x, 'NaN', m) FROM em_pts, em_init WHERE cov = 'full';
SELECT gmm_em_step(ARRAY[1, 'NaN']::float8[], m) FROM em_init WHERE cov = 'full';
-- a different model on a later row
SELECT gmm_em_step(x, m) FROM em_pts, em_init WHERE cov IN ('full', 'tied') AND i < 3;
SELECT gmm_em_step(x, CASE WHEN i < 2 THEN a.m ELSE b.m END)
FROM em_pts, em_init a, em_init b
WHERE a.cov = 'diag' AND b.cov = 'spherical' AND i < 4;
-- the transition function outside an aggregate
SELECT gmm_em_step_transfn(NULL, '{1,2}', m) FROM em_init WHERE cov = 'full';

-- Parallel: Partial Aggregate under Gather, and the same pass as the serial
-- one.  100000 rows so that workers get blocks.
CREATE TABLE em_big AS
SELECT x FROM em_init, gmm_sample(m, 100000, 7) s(x, c) WHERE cov = 'full';
ANALYZE em_big;
SELECT m AS em_init_full FROM em_init WHERE cov = 'full' \gset
SET max_parallel_workers_per_gather = 0;
CREATE TABLE em_serial AS SELECT gmm_em_step(x, :'em_init_full'::gmm) AS m FROM em_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gmm_em_step(x, :'em_init_full'::gmm) FROM em_big;
CREATE TABLE em_parallel AS SELECT gmm_em_step(x, :'em_init_full'::gmm) AS m FROM em_big;
SELECT em_models_close(p.m, s.m, 1e-9) AS parallel_equals_serial,
	   gmm_n_samples(p.m) AS n_samples
FROM em_parallel p, em_serial s;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- The raw state, through an aggregate without a final function.
CREATE AGGREGATE em_state(float8[], gmm) (
	SFUNC = gmm_em_step_transfn, STYPE = gmm_em_state);
CREATE TABLE em_states AS
SELECT cov, i % 2 AS half, em_state(x, m) AS s
FROM em_pts, em_init GROUP BY cov, i % 2;
SELECT cov, half, gmm_em_state_info(s) - 'fingerprint' - 'sum_log_likelihood' AS info
FROM em_states ORDER BY cov, half;

-- combining the two halves directly equals the pass over every row
SELECT a.cov,
	   em_models_close(gmm_em_step_final(gmm_em_step_combine(a.s, b.s)), p.m, 1e-9) AS combined
FROM em_states a JOIN em_states b ON a.cov = b.cov AND a.half = 0 AND b.half = 1
JOIN em_pass1 p ON p.cov = a.cov ORDER BY a.cov;
-- a direct call does not change its arguments
SELECT gmm_em_state_info(s)->'n_rows' AS rows_before,
	   gmm_em_state_info(gmm_em_step_combine(s, s))->'n_rows' AS combined,
	   gmm_em_state_info(s)->'n_rows' AS rows_after
FROM em_states WHERE cov = 'full' AND half = 0;

-- Combining states of different shapes or models is an error.
SELECT gmm_em_step_combine(a.s, b.s)
FROM em_states a, em_states b WHERE a.cov = 'full' AND b.cov = 'diag' AND a.half = 0 AND b.half = 0;
SELECT gmm_em_step_combine(a.s, b.s)
FROM em_states a,
	 (SELECT em_state(x, m) AS s FROM em_pts,
		(SELECT gmm_fit(x, 2, '{"max_iter": 0}') AS m FROM em_pts) f) b
WHERE a.cov = 'full' AND a.half = 0;
CREATE TABLE em_pts3 AS SELECT i, ARRAY[x[1], x[2], i % 3] AS x FROM em_pts;
SELECT gmm_em_step_combine(a.s, b.s)
FROM em_states a,
	 (SELECT em_state(x, m) AS s FROM em_pts3,
		(SELECT gmm_fit(x, 3, '{"max_iter": 0}') AS m FROM em_pts3) f) b
WHERE a.cov = 'full' AND a.half = 0;
-- (terse: the detail shows the fingerprints, which depend on the last bits)
\set VERBOSITY terse
SELECT gmm_em_step_combine(a.s, b.s)
FROM em_states a,
	 (SELECT em_state(x, m) AS s FROM em_pts,
		(SELECT gmm_fit(x, 3, '{"max_iter": 0, "random_state": 5, "init_params": "random"}') AS m
		 FROM em_pts) r) b
WHERE a.cov = 'full' AND a.half = 0;
\set VERBOSITY default

-- text and binary round trips (buffered rows included)
SELECT cov, half, s::text::gmm_em_state::text = s::text AS text_round_trip
FROM em_states ORDER BY cov, half;
CREATE TABLE em_states_bin (LIKE em_states);
\copy em_states TO '/tmp/gmm_regress_40_em_step.bin' WITH (FORMAT binary)
\copy em_states_bin FROM '/tmp/gmm_regress_40_em_step.bin' WITH (FORMAT binary)
SELECT a.cov, a.half, a.s::text = b.s::text AS binary_round_trip
FROM em_states a JOIN em_states_bin b USING (cov, half) ORDER BY 1, 2;

-- corrupted states
CREATE TABLE em_txt AS SELECT s::text AS t FROM em_states WHERE cov = 'tied' AND half = 1;
SELECT ''::gmm_em_state;
SELECT 'abc'::gmm_em_state;
SELECT 'zz'::gmm_em_state;
SELECT overlay(t placing '00000000' from 1)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '02' from 9)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '04' from 13)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '09' from 11)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '00000000' from 17)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '7fffffff' from 17)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '00000100' from 33)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '000000ff' from 33)::gmm_em_state FROM em_txt;
SELECT overlay(t placing 'ffffffff' from 41)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '0000000000000000' from 49)::gmm_em_state FROM em_txt;
SELECT overlay(t placing 'ffffffffffffffff' from 65)::gmm_em_state FROM em_txt;
SELECT overlay(t placing '7ff0000000000000' from 97)::gmm_em_state FROM em_txt;
SELECT left(t, -2)::gmm_em_state FROM em_txt;
SELECT (t || '00')::gmm_em_state FROM em_txt;
-- inside the embedded model (the gmm type's own checks): its version byte
SELECT overlay(t placing '07' from 2 * (56 + 4) + 1)::gmm_em_state FROM em_txt;
-- in the statistics: s0[0] NaN, s0[0] negative; the last buffered weight 0
WITH o AS (SELECT t, 2 * (56 + ('x' || substr(t, 41, 8))::bit(32)::int) + 1 AS s0 FROM em_txt)
SELECT overlay(t placing '7ff8000000000000' from s0)::gmm_em_state FROM o;
WITH o AS (SELECT t, 2 * (56 + ('x' || substr(t, 41, 8))::bit(32)::int) + 1 AS s0 FROM em_txt)
SELECT overlay(t placing 'bff0000000000000' from s0)::gmm_em_state FROM o;
SELECT overlay(t placing '0000000000000000' from length(t) - 15)::gmm_em_state FROM em_txt;
-- sums that no rows can give: s0[0] = 10000 (the responsibilities of 1280
-- rows sum to 1280), and a negative second moment (s2[0][0], after the
-- 3 + 3 x 2 doubles of s0 and s1); terse: the detail shows the sums
\set VERBOSITY terse
WITH o AS (SELECT t, 2 * (56 + ('x' || substr(t, 41, 8))::bit(32)::int) + 1 AS s0 FROM em_txt)
SELECT overlay(t placing '40c3880000000000' from s0)::gmm_em_state FROM o;
\set VERBOSITY default
WITH o AS (SELECT t, 2 * (56 + ('x' || substr(t, 41, 8))::bit(32)::int) + 1 AS s0 FROM em_txt)
SELECT overlay(t placing 'bff0000000000000' from s0 + 2 * 8 * 9)::gmm_em_state FROM o;
-- the same state again: accepted
SELECT t::gmm_em_state::text = t AS intact FROM em_txt;

-- Models joined from a table, large enough to be TOASTed (K = 8, D = 16,
-- full): the per-row check recognises the same model by its TOAST pointer,
-- GROUP BY runs one pass per model, and two models in one group are an error.
CREATE TABLE em_d16 AS
SELECT i, ARRAY(SELECT sin(i * t + t) + (i % 5) FROM generate_series(1, 16) t) AS x
FROM generate_series(1, 3000) i;
CREATE TABLE em_models (name text, m gmm);
INSERT INTO em_models SELECT 'a', gmm_init(x, 8) FROM em_d16;
INSERT INTO em_models SELECT 'b', gmm_init(x, 8, '{"random_state": 3, "init_params": "random"}') FROM em_d16;
-- (more than a page: stored out of line, in the TOAST table)
SELECT name, pg_column_size(m) > 8192 AS out_of_line FROM em_models ORDER BY name;
SELECT m AS em_model_a FROM em_models WHERE name = 'a' \gset
SELECT gmm_em_step(x, m)::text = (SELECT gmm_em_step(x, :'em_model_a'::gmm)::text FROM em_d16) AS joined_equals_constant
FROM em_d16, em_models WHERE name = 'a';
SELECT name, gmm_n_samples(gmm_em_step(x, m)) AS n_samples
FROM em_d16, em_models GROUP BY name ORDER BY name;
SELECT gmm_em_step(x, m) FROM em_d16, em_models;
