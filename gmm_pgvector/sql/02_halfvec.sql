-- gmm_pgvector over halfvec (float2) columns: the same results as float8[] rows
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = error;	-- gmm_fit's convergence warnings depend on the libm

-- the values of 01_vector.sql rounded to half precision; h is a halfvec column
CREATE TABLE pts AS
SELECT i, ARRAY[(i % 3) * 4 + sin(i * 1.7), (i % 3) * -3 + cos(i * 2.3),
                ((i % 3) = 1)::int * 5 + sin(i * 0.37) * 0.8]::real[]::halfvec(3) AS h
FROM generate_series(1, 300) i;
-- every function over h rows equals the float8[] function over the same values
-- (h::real[]::float8[]: pgvector's own cast, exact), compared by text form, which is the
-- shortest round-trip form of every double: equal text, equal model
SELECT gmm_n_components(gmm_fit(h, 3)) AS k, gmm_n_features(gmm_fit(h, 3)) AS d FROM pts;
SELECT gmm_fit(h, 3)::text = gmm_fit(h::real[]::float8[], 3)::text AS fit,
       gmm_fit(h, 2, gmm_options(covariance_type => 'diag', n_init => 2))::text =
       gmm_fit(h::real[]::float8[], 2, gmm_options(covariance_type => 'diag', n_init => 2))::text AS fit_options,
       gmm_fit_weighted(h, (i % 4)::float8, 3)::text =
       gmm_fit_weighted(h::real[]::float8[], (i % 4)::float8, 3)::text AS fit_weighted,
       gmm_fit_weighted(h, (i % 4)::float8, 3, '{"covariance_type": "tied"}')::text =
       gmm_fit_weighted(h::real[]::float8[], (i % 4)::float8, 3, '{"covariance_type": "tied"}')::text AS fit_weighted_options,
       gmm_fit_auto(h, 1, 4)::text = gmm_fit_auto(h::real[]::float8[], 1, 4)::text AS fit_auto,
       gmm_fit_auto(h, 1, 3, '{"covariance_type": "spherical"}')::text =
       gmm_fit_auto(h::real[]::float8[], 1, 3, '{"covariance_type": "spherical"}')::text AS fit_auto_options
FROM pts;

-- warm starts, EM passes and initial models from a model of a different fit
CREATE TEMP TABLE start AS
SELECT gmm_fit(h::real[]::float8[], 3, '{"max_iter": 2}') AS m FROM pts;
SELECT gmm_refit(h, m)::text = gmm_refit(h::real[]::float8[], m)::text AS refit,
       gmm_refit(h, m, '{"max_iter": 3}')::text =
       gmm_refit(h::real[]::float8[], m, '{"max_iter": 3}')::text AS refit_options,
       gmm_refit_weighted(h, (i % 3)::float8, m)::text =
       gmm_refit_weighted(h::real[]::float8[], (i % 3)::float8, m)::text AS refit_weighted,
       gmm_refit_weighted(h, (i % 3)::float8, m, '{"tol": 0.1}')::text =
       gmm_refit_weighted(h::real[]::float8[], (i % 3)::float8, m, '{"tol": 0.1}')::text AS refit_weighted_options,
       gmm_em_step(h, m)::text = gmm_em_step(h::real[]::float8[], m)::text AS em_step,
       gmm_em_step(h, (i % 5)::float8, m)::text =
       gmm_em_step(h::real[]::float8[], (i % 5)::float8, m)::text AS em_step_weighted,
       gmm_init(h, 3)::text = gmm_init(h::real[]::float8[], 3)::text AS init,
       gmm_init(h, 3, '{"sample_size": 50, "random_state": 7}')::text =
       gmm_init(h::real[]::float8[], 3, '{"sample_size": 50, "random_state": 7}')::text AS init_sampled
FROM pts, start;
-- the EM pass changed the model, so the comparison above compared something
SELECT (SELECT gmm_em_step(h, m) FROM pts)::text <> m::text AS em_step_moved FROM start;

-- scoring, row by row and as aggregates (a serial plan: the same order of summation)
SELECT bool_and(gmm_score_samples(m, h) = gmm_score_samples(m, h::real[]::float8[])) AS score_samples,
       bool_and(gmm_predict(m, h) = gmm_predict(m, h::real[]::float8[])) AS predict,
       bool_and(gmm_predict_proba(m, h) = gmm_predict_proba(m, h::real[]::float8[])) AS predict_proba,
       count(DISTINCT gmm_predict(m, h)) AS components_used
FROM pts, start;
SELECT bool_and(a.component = b.component AND a.probability = b.probability) AS predict_top,
       count(*) AS rows_compared
FROM pts, start,
     LATERAL (SELECT row_number() OVER () AS r, * FROM gmm_predict_top(m, h, 2)) a
     JOIN LATERAL (SELECT row_number() OVER () AS r, * FROM gmm_predict_top(m, h::real[]::float8[], 2)) b
     USING (r);
SELECT gmm_score(m, h) = gmm_score(m, h::real[]::float8[]) AS score,
       gmm_bic(m, h) = gmm_bic(m, h::real[]::float8[]) AS bic,
       gmm_aic(m, h) = gmm_aic(m, h::real[]::float8[]) AS aic
FROM pts, start;

-- NULL rows are skipped as for float8[]: the same model as without them
INSERT INTO pts (i, h) SELECT -i, NULL FROM generate_series(1, 3) i;
CREATE TEMP TABLE with_nulls AS
SELECT gmm_fit(h, 3) AS fit, gmm_em_step(h, m) AS step, gmm_init(h, 3) AS init,
       gmm_score(m, h) AS score, count(*) FILTER (WHERE gmm_score_samples(m, h) IS NULL) AS null_scores
FROM pts, start;
CREATE TEMP TABLE without_nulls AS
SELECT gmm_fit(h, 3) AS fit, gmm_em_step(h, m) AS step, gmm_init(h, 3) AS init,
       gmm_score(m, h) AS score
FROM pts, start WHERE h IS NOT NULL;
SELECT a.fit::text = b.fit::text AS fit_skips_nulls, a.step::text = b.step::text AS em_step_skips_nulls,
       a.init::text = b.init::text AS init_skips_nulls, a.score = b.score AS score_skips_nulls,
       a.null_scores
FROM with_nulls a, without_nulls b;
DROP TABLE with_nulls, without_nulls;
DELETE FROM pts WHERE i < 0;
DROP TABLE start;

-- every finite half-precision value reads as itself: the 2 x 31 x 1024 values
-- sign * 2^(e - 15) * (1 + m / 1024) (e = 1..30) and sign * m * 2^-24 (subnormals, e = 0),
-- computed here in float8 (exactly) from their definition, in 7 halfvecs of up to 10000
-- dimensions; a one-row diagonal fit's mean is the row itself
CREATE TABLE halves AS
SELECT n, CASE WHEN e = 0 THEN s * m * 2.0::float8 ^ -24
               ELSE s * 2.0::float8 ^ (e - 15) * (1 + m / 1024.0::float8) END AS x
FROM (SELECT row_number() OVER (ORDER BY s, e, m) - 1 AS n, s, e, m
      FROM (VALUES (1.0::float8), (-1.0::float8)) sg(s), generate_series(0, 30) e,
           generate_series(0, 1023) m) t;
CREATE TABLE half_rows AS
SELECT n / 10000 AS chunk, array_agg(x ORDER BY n) AS expected,
       array_agg(x ORDER BY n)::real[]::halfvec AS h
FROM halves GROUP BY 1;
-- (63487 distinct doubles: -0 and +0 are equal)
SELECT count(*) AS values, count(DISTINCT x) AS distinct_values FROM halves;
-- pgvector's own halfvec -> real cast agrees with the definition
SELECT bool_and(h::real[]::float8[] = expected) AS pgvector_cast FROM half_rows;
SELECT bool_and(m.means = r.expected) AS read_exactly, count(*) AS chunks
FROM half_rows r,
     LATERAL (SELECT array_agg(v ORDER BY o) AS means
              FROM unnest(gmm_means((SELECT gmm_fit(h, 1, '{"covariance_type": "diag"}')
                                     FROM half_rows q WHERE q.chunk = r.chunk))) WITH ORDINALITY u(v, o)) m;
DROP TABLE half_rows;
DROP TABLE halves;
DROP TABLE pts;
