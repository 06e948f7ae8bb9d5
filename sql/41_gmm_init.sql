-- gmm_init: the initial model from a bounded, seeded, mergeable sample.
-- With no more rows than sample_size it equals gmm_fit with max_iter 0; with
-- more it is reproducible and uses sample_size rows; states merge, round-trip
-- and reject corrupted input.
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

-- every row fits: the sample is every row in scan order, and the model is
-- gmm_fit's initial model (bit for bit), for every covariance type and
-- initialisation; the options given are stored for the passes to come
SELECT t AS cov, p AS init,
	   init_same(gmm_init(x, 3, jsonb_build_object('covariance_type', t, 'init_params', p, 'random_state', 11)),
				 gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'init_params', p, 'random_state', 11, 'max_iter', 0))) AS equals_gmm_fit
FROM init_pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t,
	 unnest(ARRAY['kmeans', 'k-means++', 'random', 'random_from_data']) p
GROUP BY t, p ORDER BY t, p;
SELECT gmm_n_iter(m) AS n_iter, gmm_converged(m) AS converged,
	   gmm_lower_bound(m) IS NULL AS no_lower_bound, gmm_n_samples(m) AS n_samples,
	   gmm_fit_options(m) AS options
FROM (SELECT gmm_init(x, 3, '{"max_iter": 50, "tol": 1e-4, "reg_covar": 1e-5}') AS m FROM init_pts) s;

-- more rows than sample_size: sample_size rows, the same sample every time,
-- another one for another random_state
SELECT gmm_n_samples(gmm_init(x, 3, '{"sample_size": 500}')) AS n_samples FROM init_pts;
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
SELECT gmm_init(x, 3, '{"verbose": true}') FROM init_pts;
SELECT gmm_init(x, 3, '[1]') FROM init_pts;
SELECT gmm_init(x, 3 + i % 2) FROM init_pts;
SELECT gmm_init(x, 3, jsonb_build_object('sample_size', 100 + i % 2)) FROM init_pts;
SELECT gmm_init(CASE WHEN i = 5 THEN ARRAY[1, 2]::float8[] ELSE x END, 3) FROM init_pts;
SELECT gmm_init(x, 3) FROM init_pts WHERE i < 3;

-- parallel: Partial Aggregate under Gather
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gmm_init(x, 3) FROM init_pts;
SELECT gmm_n_samples(gmm_init(x, 3, '{"sample_size": 700}')) AS n_samples,
	   gmm_n_samples(gmm_init(x, 3)) AS all_rows
FROM init_pts;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- the raw state, through an aggregate without a final function
CREATE AGGREGATE init_state(float8[], int, jsonb) (
	SFUNC = gmm_init_transfn, STYPE = gmm_init_state);
CREATE TABLE init_states AS
SELECT i % 2 AS half, init_state(x, 3, '{"sample_size": 600}') AS s,
	   init_state(x, 3, '{"sample_size": 1500}') AS big
FROM init_pts GROUP BY i % 2;

-- merging two samples that fit is their concatenation; merging beyond
-- sample_size keeps sample_size rows of all of them, deterministically
SELECT gmm_init_combine(a.big, b.big)::text =
	   (SELECT init_state(x, 3, '{"sample_size": 1500}') FROM
		  (SELECT x FROM init_pts WHERE i % 2 = 0 UNION ALL
		   SELECT x FROM init_pts WHERE i % 2 = 1 AND i < 1000) u)::text AS concatenation
FROM init_states a, (SELECT init_state(x, 3, '{"sample_size": 1500}') AS big
					 FROM init_pts WHERE i % 2 = 1 AND i < 1000) b
WHERE a.half = 0;
SELECT gmm_n_samples(gmm_init_final(gmm_init_combine(a.s, b.s))) AS n_samples,
	   gmm_init_combine(a.s, b.s)::text = gmm_init_combine(a.s, b.s)::text AS deterministic,
	   gmm_init_combine(a.s, b.s)::text <> gmm_init_combine(b.s, a.s)::text AS order_matters,
	   gmm_init_combine(a.big, b.big)::text = gmm_init_combine(a.big, b.big)::text AS deterministic_big
FROM init_states a, init_states b WHERE a.half = 0 AND b.half = 1;
-- a direct call does not change its arguments
SELECT s::text = (SELECT s FROM init_states WHERE half = 0)::text AS unchanged
FROM init_states, LATERAL (SELECT gmm_init_combine(s, s)) c WHERE half = 0;

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
SELECT gmm_init_combine(a.s, a.big) FROM init_states a WHERE half = 0;
SELECT gmm_init_combine(a.s, (SELECT init_state(x, 2, '{"sample_size": 600}') FROM init_pts))
FROM init_states a WHERE half = 0;
SELECT gmm_init_combine(a.s, (SELECT init_state(x, 3, '{"sample_size": 600, "random_state": 2}') FROM init_pts))
FROM init_states a WHERE half = 0;

-- text and binary round trips
SELECT half, s::text::gmm_init_state::text = s::text AS text_round_trip,
	   big::text::gmm_init_state::text = big::text AS text_round_trip_big
FROM init_states ORDER BY half;
CREATE TABLE init_states_bin (LIKE init_states);
\copy init_states TO '/tmp/gmm_regress_41_gmm_init.bin' WITH (FORMAT binary)
\copy init_states_bin FROM '/tmp/gmm_regress_41_gmm_init.bin' WITH (FORMAT binary)
SELECT a.half, a.s::text = b.s::text AND a.big::text = b.big::text AS binary_round_trip
FROM init_states a JOIN init_states_bin b USING (half) ORDER BY 1;

-- corrupted states
CREATE TABLE init_txt AS SELECT s::text AS t FROM init_states WHERE half = 1;
SELECT 'x'::gmm_init_state;
SELECT '0011'::gmm_init_state;
SELECT overlay(t placing '00000000' from 1)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '05' from 9)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '01' from 11)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '00000000' from 25)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '00000002' from 33)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '00000001' from 41)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '0000000000000001' from 49)::gmm_init_state FROM init_txt;
SELECT overlay(t placing repeat('0', 64) from 65)::gmm_init_state FROM init_txt;
SELECT left(t, -16)::gmm_init_state FROM init_txt;
-- options: not JSON, and a sample_size that does not match the header
SELECT overlay(t placing '5b' from 2 * 68 + 1)::gmm_init_state FROM init_txt;
SELECT overlay(t placing '37' from 2 * 68 + 1 + 2 * length('{"sample_size": 6'))::gmm_init_state FROM init_txt;
-- a sampled value that is not finite
SELECT overlay(t placing '7ff0000000000000' from length(t) - 15)::gmm_init_state FROM init_txt;
SELECT t::gmm_init_state::text = t AS intact FROM init_txt;
