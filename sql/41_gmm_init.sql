-- gmm_init: the initial model from a bounded, seeded bottom-k sample (the
-- sample_size rows with the smallest gmm_init_key, in that order).  With no
-- more rows than sample_size it equals gmm_fit with max_iter 0 over the rows
-- in the sampling order; with more it is exactly the bottom-k; any split of
-- the rows (parallel workers, states combined in any order) gives the
-- byte-identical state and model; states round-trip and reject corrupted
-- input.
SET extra_float_digits = 0;

CREATE FUNCTION init_same(a gmm, b gmm) RETURNS bool LANGUAGE sql IMMUTABLE AS $$
	SELECT gmm_weights(a) = gmm_weights(b) AND gmm_means(a) = gmm_means(b) AND
		   gmm_covariances(a) = gmm_covariances(b)
$$;

CREATE TABLE init_pts AS
SELECT i::int AS i, x
FROM gmm_sample('{"covariance_type": "diag", "weights": [0.4, 0.35, 0.25],
				  "means": [[0, 0, 1], [5, 5, 0], [-4, 6, 2]],
				  "covariances": [[1, 2, 0.5], [0.7, 0.3, 1], [2, 1, 1]]}'::gmm, 2000, 3)
	 WITH ORDINALITY s(x, c, i);

-- The sampling key.  Golden values from an independent Python computation of
-- the definition in src/gmm_init.c's header (/usr/bin/python3):
--   M = 2**64 - 1; G = 0x9E3779B97F4A7C15
--   def mix(z):
--       z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
--       z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
--       return z ^ (z >> 31)
--   def key(x, seed):
--       h = mix((seed + G) & M)
--       for v in x:
--           h = mix(((h ^ struct.unpack('<Q', struct.pack('<d', v + 0.0))[0]) + G) & M)
--       return h >> 1
SELECT gmm_init_key('{0}', 0) = 6017775124710473527 AS k1,
	   gmm_init_key('{1, 2, 3}') = 6587356271820893564 AS k2,
	   gmm_init_key('{1, 2, 3}', 7) = 8172675694137750930 AS k3,
	   gmm_init_key('{0, 0.5}', 0) = 4487094599942215297 AS k4,
	   gmm_init_key('{-0, 0.5}', 0) = 4487094599942215297 AS minus_zero_is_zero,
	   gmm_init_key('{1e300, -2.5e-310, 3.25}', 9223372036854775807) = 2384481976009789973 AS k5;
SELECT gmm_init_key('{1}', -1);
SELECT gmm_init_key('{1, NaN}', 0);

-- every row fits: the sample is every row in the sampling order, and the
-- model is gmm_fit's initial model over the rows in that order (bit for
-- bit), for every covariance type and initialisation; the options given are
-- stored for the passes to come
SELECT t AS cov, p AS init,
	   init_same(gmm_init(x, 3, jsonb_build_object('covariance_type', t, 'init_params', p, 'random_state', 11)),
				 gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'init_params', p, 'random_state', 11, 'max_iter', 0)
						 ORDER BY gmm_init_key(x, 11), x)) AS equals_gmm_fit
FROM init_pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t,
	 unnest(ARRAY['kmeans', 'k-means++', 'random', 'random_from_data']) p
GROUP BY t, p ORDER BY t, p;
-- (in another order it is another initial model: the order matters to gmm_fit)
SELECT init_same(gmm_init(x, 3, '{"init_params": "random_from_data"}'),
				 gmm_fit(x, 3, '{"init_params": "random_from_data", "max_iter": 0}' ORDER BY i)) AS scan_order_same
FROM init_pts;
SELECT gmm_n_iter(m) AS n_iter, gmm_converged(m) AS converged,
	   gmm_lower_bound(m) IS NULL AS no_lower_bound, gmm_n_samples(m) AS n_samples,
	   gmm_fit_options(m) AS options
FROM (SELECT gmm_init(x, 3, '{"max_iter": 50, "tol": 1e-4, "reg_covar": 1e-5}') AS m FROM init_pts) s;

-- more rows than sample_size: sample_size rows, exactly the first ones in
-- ORDER BY gmm_init_key(x, random_state), x, fed in that order; another
-- random_state, another sample
SELECT gmm_n_samples(gmm_init(x, 3, '{"sample_size": 500}')) AS n_samples FROM init_pts;
SELECT seed,
	   init_same((SELECT gmm_init(x, 3, jsonb_build_object('sample_size', 500, 'random_state', seed,
														   'init_params', 'k-means++')) FROM init_pts),
				 (SELECT gmm_fit(x, 3, jsonb_build_object('random_state', seed, 'max_iter', 0,
														  'init_params', 'k-means++')
								 ORDER BY gmm_init_key(x, seed), x)
				  FROM (SELECT x FROM init_pts ORDER BY gmm_init_key(x, seed), x LIMIT 500) b)) AS bottom_k
FROM unnest(ARRAY[0, 5]) seed ORDER BY seed;
-- one component: its mean is the mean of the bottom 50 rows (sums in
-- another order: 1e-12)
SELECT (SELECT max(abs(m - a)) < 1e-12 FROM unnest(
		   (SELECT gmm_means(gmm_init(x, 1, '{"sample_size": 50, "random_state": 3}')) FROM init_pts),
		   (SELECT ARRAY[avg(x[1]), avg(x[2]), avg(x[3])]
			FROM (SELECT x FROM init_pts ORDER BY gmm_init_key(x, 3), x LIMIT 50) b)) u(m, a)) AS mean_of_bottom_50;
SELECT init_same((SELECT gmm_init(x, 3, '{"sample_size": 500}') FROM init_pts),
				 (SELECT gmm_init(x, 3, '{"sample_size": 500}') FROM init_pts)) AS reproducible,
	   init_same((SELECT gmm_init(x, 3, '{"sample_size": 500}') FROM init_pts),
				 (SELECT gmm_init(x, 3, '{"sample_size": 500, "random_state": 1}') FROM init_pts)) AS other_seed_same;
-- a sample of well separated clusters still finds them
SELECT array_agg(round(m[1]) ORDER BY m[1]) AS first_coordinates
FROM (SELECT gmm_init(x, 3, '{"sample_size": 100}') AS g FROM init_pts) s,
	 LATERAL (SELECT mean AS m FROM gmm_components(g)) c;
-- NULL rows are skipped, no rows give NULL
SELECT init_same(gmm_init(CASE WHEN i % 4 = 0 THEN NULL ELSE x END, 3),
				 (SELECT gmm_init(x, 3) FROM init_pts WHERE i % 4 <> 0)) AS nulls_skipped
FROM init_pts;
SELECT gmm_init(x, 3) IS NULL AS empty FROM init_pts WHERE false;

-- errors
SELECT gmm_init(x, 0) FROM init_pts;
SELECT gmm_init(x, NULL) FROM init_pts;
SELECT gmm_init(x, 3, '{"sample_size": 2}') FROM init_pts;
SELECT gmm_init(x, 3, '{"sample_size": 10.5}') FROM init_pts;
SELECT gmm_init(x, 3, '{"sample_size": "many"}') FROM init_pts;
-- verbose: the notices (the weights, counts over n, are exact; the
-- covariances' last digits depend on the BLAS kernel the CPU gets)
SELECT gmm_weights(gmm_init(x, 3, '{"verbose": true}')) FROM init_pts;
SELECT gmm_init(x, 3, '[1]') FROM init_pts;
SELECT gmm_init(x, 3 + i % 2) FROM init_pts;
SELECT gmm_init(x, 3, jsonb_build_object('sample_size', 100 + i % 2)) FROM init_pts;
SELECT gmm_init(CASE WHEN i = 5 THEN ARRAY[1, 2]::float8[] ELSE x END, 3) FROM init_pts;
SELECT gmm_init(x, 3) FROM init_pts WHERE i < 3;

-- the raw state, through an aggregate without a final function
CREATE AGGREGATE init_state(float8[], int, jsonb) (
	SFUNC = gmm_init_transfn, STYPE = gmm_init_state);

-- The state does not depend on the order of the rows: the same text from
-- three orders, with a full sample (600) and with every row (2500).
SELECT count(DISTINCT s) AS states_600, count(DISTINCT big) AS states_2500
FROM (SELECT init_state(x, 3, '{"sample_size": 600}' ORDER BY i)::text AS s,
			 init_state(x, 3, '{"sample_size": 2500}' ORDER BY i)::text AS big FROM init_pts
	  UNION ALL
	  SELECT init_state(x, 3, '{"sample_size": 600}' ORDER BY i DESC)::text,
			 init_state(x, 3, '{"sample_size": 2500}' ORDER BY i DESC)::text FROM init_pts
	  UNION ALL
	  SELECT init_state(x, 3, '{"sample_size": 600}' ORDER BY md5(i::text))::text,
			 init_state(x, 3, '{"sample_size": 2500}' ORDER BY md5(i::text))::text FROM init_pts) o;

-- Ties and signed zeros: identical rows share a key and are sampled
-- together (here 200 copies of each of 5 rows, 30 sampled: 30 copies of one
-- row), whatever their order; -0 is sampled as 0.
CREATE TABLE init_dup AS
SELECT j, ARRAY[(j % 5)::float8, CASE WHEN j % 2 = 0 THEN '-0'::float8 ELSE 0 END] AS x
FROM generate_series(1, 1000) j;
SELECT count(DISTINCT s) AS states, min(s) = (SELECT init_state(abs(x[1]) || ARRAY[0.0::float8], 2, '{"sample_size": 30}')::text
											   FROM init_dup) AS minus_zero_is_zero
FROM (SELECT init_state(x, 2, '{"sample_size": 30}' ORDER BY j)::text AS s FROM init_dup
	  UNION ALL
	  SELECT init_state(x, 2, '{"sample_size": 30}' ORDER BY j DESC)::text FROM init_dup) o;
SELECT gmm_n_samples(m) AS n_samples, gmm_means(m) AS means
FROM (SELECT gmm_init_final(init_state(x, 1, '{"sample_size": 30}')) AS m FROM init_dup) s;
-- the 30 rows are the 30 copies of the row with the smallest key
SELECT x[1] AS sampled_row FROM init_dup ORDER BY gmm_init_key(x, 0), x LIMIT 1;

-- States of a partition of the rows (i % 3), combined in every order and
-- nesting: the same state, byte for byte, as one aggregate over all rows,
-- and the same model as gmm_init.  After every combine the sample holds
-- min(sample_size, rows) rows, and the binary form is exactly that long
-- (36 header bytes, the options as text, 8 bytes a value).
CREATE TABLE init_states AS
SELECT i % 3 AS part, count(*) AS n, init_state(x, 3, '{"sample_size": 600}') AS s,
	   init_state(x, 3, '{"sample_size": 1500}') AS big
FROM init_pts GROUP BY i % 3;
CREATE TABLE init_whole AS
SELECT init_state(x, 3, '{"sample_size": 600}') AS s, init_state(x, 3, '{"sample_size": 1500}') AS big
FROM init_pts;
CREATE TABLE init_orders AS
SELECT o, gmm_init_combine(gmm_init_combine(a.s, b.s), c.s) AS s,
	   gmm_init_combine(gmm_init_combine(a.big, b.big), c.big) AS big,
	   gmm_init_combine(a.s, gmm_init_combine(b.s, c.s)) AS s_nested,
	   gmm_init_combine(a.big, gmm_init_combine(b.big, c.big)) AS big_nested
FROM (VALUES (1, 0, 1, 2), (2, 0, 2, 1), (3, 1, 0, 2), (4, 1, 2, 0), (5, 2, 0, 1), (6, 2, 1, 0)) v(o, pa, pb, pc)
	 JOIN init_states a ON a.part = pa JOIN init_states b ON b.part = pb JOIN init_states c ON c.part = pc;
SELECT count(*) AS orders,
	   bool_and(o.s::text = w.s::text AND o.s_nested::text = w.s::text) AS same_state,
	   bool_and(o.big::text = w.big::text AND o.big_nested::text = w.big::text) AS same_state_big,
	   bool_and(gmm_init_final(o.s)::text = (SELECT gmm_init(x, 3, '{"sample_size": 600}') FROM init_pts)::text AND
				gmm_init_final(o.big)::text = (SELECT gmm_init(x, 3, '{"sample_size": 1500}') FROM init_pts)::text) AS same_model
FROM init_orders o, init_whole w;
CREATE FUNCTION init_rows(s gmm_init_state) RETURNS int LANGUAGE sql IMMUTABLE AS $$
	SELECT gmm_n_samples(gmm_init_final(s))::int $$;
CREATE FUNCTION init_bytes_ok(s gmm_init_state, nrows int, opts text) RETURNS bool LANGUAGE sql IMMUTABLE AS $$
	SELECT octet_length(decode(s::text, 'base64')) = 36 + octet_length(opts) + 8 * 3 * nrows $$;
SELECT a.part AS a, b.part AS b, a.n + b.n AS rows_in,
	   init_rows(gmm_init_combine(a.s, b.s)) AS sample_600,
	   init_rows(gmm_init_combine(a.big, b.big)) AS sample_1500,
	   init_bytes_ok(gmm_init_combine(a.s, b.s), 600, '{"sample_size": 600}') AND
	   init_bytes_ok(gmm_init_combine(a.big, b.big), least(1500, a.n + b.n)::int, '{"sample_size": 1500}') AS sizes
FROM init_states a JOIN init_states b ON a.part < b.part ORDER BY 1, 2;
SELECT part, n, init_rows(s) AS sample_600, init_rows(big) AS sample_1500,
	   init_bytes_ok(s, 600, '{"sample_size": 600}') AND
	   init_bytes_ok(big, n::int, '{"sample_size": 1500}') AS sizes
FROM init_states ORDER BY part;
SELECT init_rows(s) AS sample_600, init_rows(big) AS sample_1500 FROM init_orders WHERE o = 1;
-- combining with itself: every row twice, still the bottom sample_size
SELECT init_rows(gmm_init_combine(big, big)) AS self_combined FROM init_states WHERE part = 0;
-- a direct call does not change its arguments
SELECT s::text = (SELECT s FROM init_states WHERE part = 0)::text AS unchanged
FROM init_states, LATERAL (SELECT gmm_init_combine(s, s)) c WHERE part = 0;

-- parallel: Partial Aggregate under Gather, and the byte-identical model
CREATE TABLE init_par AS
SELECT i::int AS i, x
FROM gmm_sample('{"covariance_type": "spherical", "weights": [0.5, 0.5],
				  "means": [[0, 0, 0, 0], [3, 3, 3, 3]], "covariances": [1, 1]}'::gmm, 30000, 8)
	 WITH ORDINALITY s(x, c, i);
ANALYZE init_par;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE init_par_serial AS
SELECT gmm_init(x, 2)::text AS dflt, gmm_init(x, 2, '{"sample_size": 700}')::text AS small,
	   gmm_init(x, 2, '{"sample_size": 40000, "covariance_type": "diag"}')::text AS every_row,
	   init_state(x, 2, '{"sample_size": 700}')::text AS state
FROM init_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gmm_init(x, 2) FROM init_par;
SELECT gmm_n_samples(gmm_init(x, 2)) AS n_samples,
	   gmm_init(x, 2)::text = s.dflt AS same_default,
	   gmm_init(x, 2, '{"sample_size": 700}')::text = s.small AS same_700,
	   gmm_init(x, 2, '{"sample_size": 40000, "covariance_type": "diag"}')::text = s.every_row AS same_every_row
FROM init_par, init_par_serial s GROUP BY s.dflt, s.small, s.every_row;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- A merged sample is uniform over the union.  40 merges (seeds) of rows
-- 1..1000 and 1001..1200 into samples of 100: the mean of the sampled values
-- estimates the mean of all rows, 600.5 (standard error about 5 over the 40);
-- a merge taking half of each side would give 800.5.
CREATE TABLE init_u AS SELECT g, i, ARRAY[i::float8] AS x
FROM generate_series(1, 40) g, generate_series(1, 1200) i;
SELECT abs(avg((gmm_means(gmm_init_final(m)))[1][1]) - 600.5) < 20 AS uniform
FROM (SELECT g, gmm_init_combine(
			(SELECT init_state(x, 1, jsonb_build_object('sample_size', 100, 'random_state', g))
			 FROM init_u u WHERE u.g = s.g AND i <= 1000),
			(SELECT init_state(x, 1, jsonb_build_object('sample_size', 100, 'random_state', g))
			 FROM init_u u WHERE u.g = s.g AND i > 1000)) AS m
	  FROM generate_series(1, 40) s(g)) t;

-- mismatched states
SELECT gmm_init_combine(a.s, a.big) FROM init_states a WHERE part = 0;
SELECT gmm_init_combine(a.s, (SELECT init_state(x, 2, '{"sample_size": 600}') FROM init_pts))
FROM init_states a WHERE part = 0;
SELECT gmm_init_combine(a.s, (SELECT init_state(x, 3, '{"sample_size": 600, "random_state": 2}') FROM init_pts))
FROM init_states a WHERE part = 0;

-- text and binary round trips; the text form is base64 of the binary form
SELECT part, s::text::gmm_init_state::text = s::text AS text_round_trip,
	   big::text::gmm_init_state::text = big::text AS text_round_trip_big,
	   s::text ~ '^[A-Za-z0-9+/]+=?=?$' AND decode(s::text, 'base64') = gmm_init_state_send(s) AS base64_of_binary
FROM init_states ORDER BY part;
CREATE TABLE init_states_bin (LIKE init_states);
\copy init_states TO '/tmp/gmm_regress_41_gmm_init.bin' WITH (FORMAT binary)
\copy init_states_bin FROM '/tmp/gmm_regress_41_gmm_init.bin' WITH (FORMAT binary)
SELECT a.part, a.s::text = b.s::text AND a.big::text = b.big::text AS binary_round_trip
FROM init_states a JOIN init_states_bin b USING (part) ORDER BY 1;

-- corrupted states, edited as bytes (offsets 1-based: magic 1, version 5,
-- reserved 6-8, K 9, D 13, M 17, S 21, N 25, options length 33, options 37,
-- then the rows)
CREATE FUNCTION b64(bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT translate(encode($1, 'base64'), E'\n', '') $$;
CREATE TABLE init_txt AS SELECT s::text AS t, decode(s::text, 'base64') AS b,
	37 + length('{"sample_size": 600}') AS r FROM init_states WHERE part = 1;
SELECT 'x'::gmm_init_state;
SELECT 'R01JUw'::gmm_init_state;
SELECT 'R01JU w='::gmm_init_state;
SELECT 'R01JUx=='::gmm_init_state;
SELECT 'R01JUw=='::gmm_init_state;
SELECT overlay(t placing E'\n' from 77)::gmm_init_state FROM init_txt;
SELECT '474d495301000000000000030000000300000258'::gmm_init_state;
SELECT b64(overlay(b placing '\x00000000' from 1))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x01' from 5))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x05' from 5))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x01' from 7))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x00000000' from 13))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x00000002' from 17))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x00000001' from 21))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x0000000000000001' from 25))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x00000015' from 33))::gmm_init_state FROM init_txt;
SELECT b64(substr(b, 1, length(b) - 8))::gmm_init_state FROM init_txt;
-- options: not JSON, and a sample_size that does not match the header
SELECT b64(overlay(b placing '\x5b' from 37))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x37' from 37 + length('{"sample_size": ')))::gmm_init_state FROM init_txt;
-- sampled values: not finite, -0, and rows out of the sampling order (the
-- first two swapped), or of another random_state
SELECT b64(overlay(b placing '\x7ff0000000000000' from length(b) - 7))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '\x8000000000000000' from r))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing substr(b, r + 24, 24) || substr(b, r, 24) from r))::gmm_init_state FROM init_txt;
SELECT b64(overlay(b placing '{"sample_size": 600, "random_state": 9}'::bytea from 37 for 20)
		   )::gmm_init_state FROM init_txt;
SELECT b64(overlay(overlay(b placing '{"sample_size": 600, "random_state": 9}'::bytea from 37 for 20)
				   placing '\x00000027' from 33))::gmm_init_state FROM init_txt;
SELECT t::gmm_init_state::text = t AS intact FROM init_txt;
