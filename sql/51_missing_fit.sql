-- Fitting with NULL elements (issue 10): option missing ('error' by default, or 'em': EM
-- over the observed values, missing at random), in gmm_fit, gmm_fit_weighted, gmm_refit,
-- gmm_fit_auto, gmm_em_step, gmm_init and gmm_train.  Counts below are computed here in
-- SQL from the data; the EM numbers themselves are checked against an independent numpy
-- implementation in test/conformance/missing_em.py.
SET extra_float_digits = 0;

-- three clusters in three features, deterministic; x0 is missing on every 5th row, x2 on
-- every 7th, so some rows miss two values and most none
CREATE TABLE mf AS
SELECT i, ARRAY[CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 3) * 5 + sin(i) END,
				(i % 3) * 2 + cos(i * 1.3),
				CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 3) - sin(i * 0.7) END]::float8[] AS x,
	   1 + (i % 4) AS w
FROM generate_series(1, 600) i;
-- the complete rows only, and one row with only NULLs
CREATE TABLE mf_complete AS SELECT * FROM mf WHERE array_position(x, NULL) IS NULL;
CREATE TABLE mf_allnull AS SELECT * FROM mf UNION ALL SELECT 0, '{NULL,NULL,NULL}', 1;
SELECT count(*) AS rows,
	   sum((x[1] IS NULL)::int + (x[2] IS NULL)::int + (x[3] IS NULL)::int) AS null_values,
	   count(*) FILTER (WHERE array_position(x, NULL) IS NULL) AS complete_rows
FROM mf;

-- parameters of two models of the same shape: the largest difference
CREATE FUNCTION mf_maxdiff(a gmm, b gmm) RETURNS float8 LANGUAGE sql AS $$
	SELECT greatest(
		(SELECT max(abs(p - q)) FROM unnest(gmm_weights(a), gmm_weights(b)) u(p, q)),
		(SELECT max(abs(p - q)) FROM unnest(gmm_means(a), gmm_means(b)) u(p, q)),
		(SELECT max(abs(p - q)) FROM unnest(gmm_covariances(a), gmm_covariances(b)) u(p, q)))
$$;

-- ---------------------------------------------------------------------------
-- the default: a NULL element is an error, with a hint naming the option
-- ---------------------------------------------------------------------------
SELECT gmm_fit(x, 3) FROM mf;
SELECT gmm_fit(x, 3, '{"missing": "error"}') FROM mf;
SELECT gmm_fit_weighted(x, w, 3) FROM mf;
SELECT gmm_fit_auto(x, 1, 2) FROM mf;
SELECT gmm_init(x, 3) FROM mf;
SELECT gmm_refit(x, (SELECT gmm_fit(x, 3) FROM mf_complete)) FROM mf;
SELECT gmm_em_step(x, (SELECT gmm_fit(x, 3) FROM mf_complete)) FROM mf;
SELECT gmm_train('mf', 'x', 3);
-- an all-NULL row is an error too
SELECT gmm_fit(x, 1) FROM mf_allnull WHERE i = 0;

-- ---------------------------------------------------------------------------
-- the option's errors
-- ---------------------------------------------------------------------------
SELECT gmm_fit(x, 3, '{"missing": "impute"}') FROM mf;
SELECT gmm_fit(x, 3, '{"missing": 1}') FROM mf;
SELECT gmm_em_step(x, (SELECT gmm_fit(x, 3) FROM mf_complete), '{"missing": "yes"}') FROM mf;
SELECT gmm_init(x, 3, '{"missing": "EM"}') FROM mf;
-- gmm_options builds it; null means the default
SELECT gmm_options(missing => 'em') ->> 'missing' AS missing,
	   gmm_options() ? 'missing' AS default_has_key;
SELECT gmm_fit(x, 3, '{"missing": null}') FROM mf;

-- NaN and infinity stay input errors with missing => 'em'; so does a wrong length
SELECT gmm_fit(x, 1, '{"missing": "em"}') FROM (VALUES ('{1,NULL,NaN}'::float8[])) v(x);
SELECT gmm_fit(x, 1, '{"missing": "em"}') FROM (VALUES ('{1,NULL,-Infinity}'::float8[])) v(x);
SELECT gmm_fit(x, 1, '{"missing": "em"}')
FROM (VALUES (1, '{1,NULL,3}'::float8[]), (2, '{1,NULL}')) v(i, x);

-- ---------------------------------------------------------------------------
-- without NULLs, missing => 'em' is the same model, byte for byte
-- ---------------------------------------------------------------------------
SELECT t,
	   gmm_fit(x, 3, jsonb_build_object('covariance_type', t))::bytea =
	   gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'missing', 'em'))::bytea AS same,
	   gmm_format_version(gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'missing', 'em'))) AS version,
	   gmm_n_missing(gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'missing', 'em'))) AS n_missing
FROM mf_complete, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t
GROUP BY t ORDER BY t;
SELECT gmm_fit_weighted(x, w, 3)::bytea = gmm_fit_weighted(x, w, 3, gmm_options(missing => 'em'))::bytea AS weighted,
	   gmm_init(x, 3)::bytea = gmm_init(x, 3, '{"missing": "em"}')::bytea AS init,
	   gmm_fit_auto(x, 1, 3)::bytea = gmm_fit_auto(x, 1, 3, '{"missing": "em"}')::bytea AS auto
FROM mf_complete;
WITH m AS (SELECT gmm_init(x, 3) AS m FROM mf_complete)
SELECT gmm_em_step(x, m)::bytea = gmm_em_step(x, m, '{"missing": "em"}')::bytea AS em_step,
	   gmm_refit(x, m)::bytea = gmm_refit(x, m, '{"missing": "em"}')::bytea AS refit
FROM mf_complete, m GROUP BY m::bytea;
SELECT gmm_train('mf_complete', 'x', 3)::bytea =
	   gmm_train('mf_complete', 'x', 3, '{"missing": "em"}')::bytea AS train;

-- ---------------------------------------------------------------------------
-- with NULLs
-- ---------------------------------------------------------------------------
CREATE TABLE mf_models AS
SELECT t, gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'missing', 'em')) AS m
FROM mf, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t GROUP BY t;
-- n_missing counts the NULL elements (format version 2, the JSON key); every row is used
SELECT t, gmm_n_missing(m), gmm_format_version(m), gmm_n_samples(m), gmm_converged(m),
	   (m::jsonb ->> 'n_missing')::int AS json_n_missing,
	   gmm_n_components(m), gmm_covariance_type(m)
FROM mf_models ORDER BY t;
-- the clusters are found: means near (0,0,0), (5,2,1), (10,4,2), weights near 1/3
SELECT t,
	   (SELECT bool_and(abs(w - 1.0 / 3) < 0.01) FROM unnest(gmm_weights(m)) w) AS weights_ok,
	   (SELECT bool_and(abs((gmm_means(m))[j][f] -
							round((gmm_means(m))[j][1] / 5) * (ARRAY[5, 2, 1])[f]) < 0.1)
		FROM generate_series(1, 3) j, generate_series(1, 3) f) AS means_ok
FROM mf_models ORDER BY t;
-- the text form round-trips with its section
SELECT t, m::text::gmm::bytea = m::bytea AS text_round_trip,
	   m::bytea::gmm::bytea = m::bytea AS bytea_round_trip
FROM mf_models ORDER BY t;

-- a row with only NULLs carries no information: skipped, the same model
SELECT (SELECT gmm_fit(x, 3, '{"missing": "em"}') FROM mf_allnull)::bytea =
	   (SELECT gmm_fit(x, 3, '{"missing": "em"}') FROM mf)::bytea AS all_null_row_skipped;
SELECT gmm_fit(x, 1, '{"missing": "em"}') FROM mf_allnull WHERE i = 0;
-- a feature that is never observed cannot be initialised
SELECT gmm_fit(ARRAY[x[1], NULL, x[3]], 2, '{"missing": "em"}') FROM mf;
-- ... unless the initial parameters are given
SELECT gmm_n_missing(gmm_fit(ARRAY[x[1], NULL, x[3]], 1,
		'{"missing": "em", "weights_init": [1], "means_init": [[5, 2, 1]],
		  "precisions_init": [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], "max_iter": 2}'))
FROM mf;
-- too few usable rows
SELECT gmm_fit(x, 3, '{"missing": "em"}') FROM mf_allnull WHERE i IN (0, 1, 2);

-- weights: n_samples counts rows, sum_weights their weights
SELECT gmm_n_missing(m), gmm_n_samples(m), (m::jsonb ->> 'sum_weights')::float8 AS sum_weights,
	   (SELECT sum(w) FROM mf) AS expected_sum
FROM (SELECT gmm_fit_weighted(x, w, 3, '{"missing": "em", "covariance_type": "diag"}') AS m
	  FROM mf) f;

-- gmm_fit_auto keeps the count in the model it picks
SELECT gmm_n_components(m), gmm_n_missing(m), jsonb_array_length(m::jsonb -> 'bic_trace')
FROM (SELECT gmm_fit_auto(x, 1, 4, '{"missing": "em"}') AS m FROM mf) f;

-- gmm_refit from the fitted model: one more EM iteration is gmm_em_step's
CREATE TABLE mf_start AS
SELECT gmm_fit(x, 3, '{"missing": "em", "max_iter": 2}') AS m FROM mf;
SELECT gmm_n_iter(r), gmm_n_missing(r),
	   mf_maxdiff(r, e) < 1e-10 AS refit_equals_em_step,
	   abs(gmm_lower_bound(r) - gmm_lower_bound(e)) < 1e-12 AS same_lower_bound
FROM (SELECT gmm_refit(x, m, '{"missing": "em", "max_iter": 1, "tol": 0}') AS r,
			 gmm_em_step(x, m, '{"missing": "em"}') AS e
	  FROM mf, mf_start GROUP BY m::bytea) q;

-- gmm_em_step chained from gmm_init is gmm_refit from it (the same E- and M-steps)
DO $$
DECLARE
	m0 gmm;
	m gmm;
	f gmm;
BEGIN
	SELECT gmm_init(x, 3, '{"missing": "em"}') INTO m0 FROM mf;
	SELECT gmm_refit(x, m0, '{"missing": "em"}') INTO f FROM mf;
	m := m0;
	FOR it IN 1..gmm_n_iter(f) LOOP
		SELECT gmm_em_step(x, m, '{"missing": "em"}') INTO m FROM mf;
	END LOOP;
	RAISE NOTICE 'em_step chain: % iterations (converged %), parameters within 1e-9: %, lower bound within 1e-12: %, n_missing %',
		gmm_n_iter(m), gmm_converged(m), mf_maxdiff(m, f) < 1e-9,
		abs(gmm_lower_bound(m) - gmm_lower_bound(f)) < 1e-12, gmm_n_missing(m);
END $$;

-- the transition functions as aggregates without a final function: the states themselves
CREATE AGGREGATE mf_em_partial(float8[], gmm, jsonb) (
	SFUNC = gmm_em_step_transfn, STYPE = gmm_em_state);
CREATE AGGREGATE mf_em_partial(float8[], gmm) (
	SFUNC = gmm_em_step_transfn, STYPE = gmm_em_state);
CREATE AGGREGATE mf_init_partial(float8[], int, jsonb) (
	SFUNC = gmm_init_transfn, STYPE = gmm_init_state);
-- the state: its info and its text form (two buffered rows, three values missing; the
-- all-NULL row is skipped)
SELECT gmm_em_state_info(s) - 'fingerprint' - 'sum_log_likelihood' AS info,
	   s::text::gmm_em_state::text = s::text AS text_round_trip,
	   substr(s::text, 13, 2) AS flags_byte
FROM (SELECT mf_em_partial(x, m, '{"missing": "em"}') AS s
	  FROM (VALUES ('{1,NULL,2}'::float8[]), ('{NULL,2,NULL}'), ('{NULL,NULL,NULL}')) v(x),
		   mf_start GROUP BY m::bytea) q;
-- combining two halves' passes (each with its buffered rows) equals one pass over all rows
CREATE TABLE mf_halves AS
SELECT i % 2 AS half, mf_em_partial(x, m, '{"missing": "em"}') AS s
FROM mf, mf_start GROUP BY i % 2;
SELECT mf_maxdiff(gmm_em_step_final(gmm_em_step_combine(a.s, b.s)), w.e) < 1e-12 AS combined,
	   gmm_n_missing(gmm_em_step_final(gmm_em_step_combine(a.s, b.s))) AS n_missing,
	   gmm_em_step_final(gmm_em_step_combine(a.s::text::gmm_em_state, b.s::text::gmm_em_state))::bytea =
	   gmm_em_step_final(gmm_em_step_combine(a.s, b.s))::bytea AS text_forms_combine
FROM mf_halves a, mf_halves b,
	 (SELECT gmm_em_step(x, m, '{"missing": "em"}') AS e FROM mf, mf_start GROUP BY m::bytea) w
WHERE a.half = 0 AND b.half = 1;
-- states of different missing options do not combine
SELECT gmm_em_step_combine(
	(SELECT mf_em_partial(x, m, '{"missing": "em"}') FROM mf, mf_start GROUP BY m::bytea),
	(SELECT mf_em_partial(x, m) FROM mf_complete, mf_start GROUP BY m::bytea));
-- a NULL in a pass without the option
SELECT gmm_em_step(x, m, '{"missing": "error"}') FROM mf, mf_start GROUP BY m::bytea;

-- parallel workers: the same pass
CREATE TABLE mf_big AS SELECT i, x FROM mf, generate_series(1, 20) g;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
\i sql/include/plan_shape.sql
SELECT plan_shape($q$SELECT gmm_em_step(x, (SELECT m FROM mf_start), '{"missing": "em"}') FROM mf_big$q$);
CREATE TABLE mf_par AS
SELECT gmm_em_step(x, (SELECT m FROM mf_start), '{"missing": "em"}') AS e FROM mf_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT mf_maxdiff(e, s) < 1e-12 AS parallel_same, gmm_n_missing(e) = gmm_n_missing(s) AS same_count,
	   gmm_n_missing(e) AS n_missing
FROM mf_par, (SELECT gmm_em_step(x, (SELECT m FROM mf_start), '{"missing": "em"}') AS s FROM mf_big) q;
RESET max_parallel_workers_per_gather;

-- gmm_init samples rows with NULLs (NaN sorts after every number); its count is the sample's
SELECT gmm_n_missing(gmm_init(x, 3, '{"missing": "em"}')) AS all_rows,
	   gmm_n_missing(gmm_init(x, 3, '{"missing": "em", "sample_size": 100}')) <= 100 * 2 AS sample
FROM mf;
SELECT gmm_init_final(s::text::gmm_init_state)::bytea = gmm_init_final(s)::bytea AS init_text_round_trip,
	   gmm_n_missing(gmm_init_final(s))
FROM (SELECT mf_init_partial(x, 1, '{"missing": "em"}') AS s
	  FROM (VALUES ('{1,NULL,3}'::float8[]), ('{4,5,NULL}'), ('{6,NULL,NULL}')) v(x)) q;
-- the sample's order is total with NaN: any arrival order, the same sample and model
SELECT count(DISTINCT m::bytea) AS distinct_models
FROM (SELECT gmm_init(x, 3, '{"missing": "em", "sample_size": 50}' ORDER BY i) AS m FROM mf
	  UNION ALL
	  SELECT gmm_init(x, 3, '{"missing": "em", "sample_size": 50}' ORDER BY -i) FROM mf
	  UNION ALL
	  SELECT gmm_init(x, 3, '{"missing": "em", "sample_size": 50}' ORDER BY (i * 7919) % 601) FROM mf) q;

-- gmm_init_key accepts NULL elements: a NULL hashes as one distinct value (the sample's missing
-- value).  Golden keys from the hash as documented in src/gmm_init.c, written in Python for
-- this test (splitmix64's finaliser, a NULL as the bits 0x7FF8000000000000; the same code
-- reproduces 41_gmm_init's keys of complete rows)
SELECT gmm_init_key('{1, NULL, 3}', 0) = 527577235296494556 AS k1,
	   gmm_init_key('{NULL, NULL}', 5) = 3194482745305186353 AS k2,
	   gmm_init_key('{NULL}') = 70322057382049021 AS k3,
	   gmm_init_key('{2.5, NULL}', 9) = 1297391187217295047 AS k4,
	   gmm_init_key('{1, NULL}') <> gmm_init_key('{1, 0}') AS null_is_not_zero,
	   gmm_init_key('{1, NULL}') <> gmm_init_key('{1}') AS null_counts,
	   gmm_init_key('{NULL, 1}') <> gmm_init_key('{1, NULL}') AS position_counts;
-- equal rows, equal keys (every row twice)
SELECT count(DISTINCT gmm_init_key(x, 3)) = count(DISTINCT x) AS one_key_per_distinct_row,
	   count(DISTINCT x) AS distinct_rows
FROM (SELECT x FROM mf_allnull UNION ALL SELECT x FROM mf_allnull) q;
-- NaN stays an error
SELECT gmm_init_key('{NaN, NULL, 1}', 0);
-- gmm_init with missing => 'em' is gmm_fit's initial model over its sample in the sampling
-- order: every row (the all-NULL one skipped by both), and a sample of 100 rows
SELECT mf_maxdiff(i, f) = 0 AS every_row_equals_gmm_fit,
	   gmm_n_missing(i) = gmm_n_missing(f) AS same_count, gmm_n_samples(i) AS n_samples
FROM (SELECT gmm_init(x, 3, '{"missing": "em", "random_state": 4}') AS i FROM mf_allnull) a,
	 (SELECT gmm_fit(x, 3, '{"missing": "em", "random_state": 4, "max_iter": 0}'
					 ORDER BY gmm_init_key(x, 4), x) AS f FROM mf_allnull) b;
SELECT mf_maxdiff(i, f) = 0 AS sample_equals_gmm_fit,
	   gmm_n_missing(i) = gmm_n_missing(f) AS same_count, gmm_n_samples(i) AS n_samples
FROM (SELECT gmm_init(x, 3, '{"missing": "em", "random_state": 4, "sample_size": 100}') AS i
	  FROM mf) a,
	 (SELECT gmm_fit(x, 3, '{"missing": "em", "random_state": 4, "max_iter": 0}'
					 ORDER BY gmm_init_key(x, 4), x) AS f
	  FROM (SELECT x FROM mf ORDER BY gmm_init_key(x, 4), x LIMIT 100) s) b;

-- gmm_train: gmm_init and gmm_em_step passes with the option
WITH i AS (SELECT gmm_init(x, 3, '{"missing": "em"}') AS m0 FROM mf),
	 r AS (SELECT gmm_refit(x, m0, '{"missing": "em"}') AS r FROM mf, i GROUP BY m0::bytea)
SELECT gmm_converged(m), gmm_n_missing(m), gmm_n_samples(m),
	   mf_maxdiff(m, r) < 1e-9 AS equals_refit_from_init
FROM (SELECT gmm_train('mf', 'x', 3, '{"missing": "em"}') AS m) q, r;
