-- gmm_pgvector over vector (float4) columns: the same results as float8[] rows
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = error;	-- gmm_fit's convergence warnings depend on the libm
SELECT extname FROM pg_extension WHERE extname IN ('gmm', 'vector', 'gmm_pgvector') ORDER BY 1;

-- 300 rows in three groups, 3 dimensions; v is a vector column
CREATE TABLE pts AS
SELECT i, ARRAY[(i % 3) * 4 + sin(i * 1.7), (i % 3) * -3 + cos(i * 2.3),
                ((i % 3) = 1)::int * 5 + sin(i * 0.37) * 0.8]::real[]::vector(3) AS v
FROM generate_series(1, 300) i;
-- every function over v rows equals the float8[] function over the same values
-- (v::real[]::float8[]: pgvector's own cast, exact), compared by text form, which is the
-- shortest round-trip form of every double: equal text, equal model
SELECT gmm_n_components(gmm_fit(v, 3)) AS k, gmm_n_features(gmm_fit(v, 3)) AS d FROM pts;
SELECT gmm_fit(v, 3)::text = gmm_fit(v::real[]::float8[], 3)::text AS fit,
       gmm_fit(v, 2, gmm_options(covariance_type => 'diag', n_init => 2))::text =
       gmm_fit(v::real[]::float8[], 2, gmm_options(covariance_type => 'diag', n_init => 2))::text AS fit_options,
       gmm_fit_weighted(v, (i % 4)::float8, 3)::text =
       gmm_fit_weighted(v::real[]::float8[], (i % 4)::float8, 3)::text AS fit_weighted,
       gmm_fit_weighted(v, (i % 4)::float8, 3, '{"covariance_type": "tied"}')::text =
       gmm_fit_weighted(v::real[]::float8[], (i % 4)::float8, 3, '{"covariance_type": "tied"}')::text AS fit_weighted_options,
       gmm_fit_auto(v, 1, 4)::text = gmm_fit_auto(v::real[]::float8[], 1, 4)::text AS fit_auto,
       gmm_fit_auto(v, 1, 3, '{"covariance_type": "spherical"}')::text =
       gmm_fit_auto(v::real[]::float8[], 1, 3, '{"covariance_type": "spherical"}')::text AS fit_auto_options
FROM pts;

-- warm starts, EM passes and initial models from a model of a different fit
CREATE TEMP TABLE start AS
SELECT gmm_fit(v::real[]::float8[], 3, '{"max_iter": 2}') AS m FROM pts;
SELECT gmm_refit(v, m)::text = gmm_refit(v::real[]::float8[], m)::text AS refit,
       gmm_refit(v, m, '{"max_iter": 3}')::text =
       gmm_refit(v::real[]::float8[], m, '{"max_iter": 3}')::text AS refit_options,
       gmm_refit_weighted(v, (i % 3)::float8, m)::text =
       gmm_refit_weighted(v::real[]::float8[], (i % 3)::float8, m)::text AS refit_weighted,
       gmm_refit_weighted(v, (i % 3)::float8, m, '{"tol": 0.1}')::text =
       gmm_refit_weighted(v::real[]::float8[], (i % 3)::float8, m, '{"tol": 0.1}')::text AS refit_weighted_options,
       gmm_em_step(v, m)::text = gmm_em_step(v::real[]::float8[], m)::text AS em_step,
       gmm_em_step(v, (i % 5)::float8, m)::text =
       gmm_em_step(v::real[]::float8[], (i % 5)::float8, m)::text AS em_step_weighted,
       gmm_init(v, 3)::text = gmm_init(v::real[]::float8[], 3)::text AS init,
       gmm_init(v, 3, '{"sample_size": 50, "random_state": 7}')::text =
       gmm_init(v::real[]::float8[], 3, '{"sample_size": 50, "random_state": 7}')::text AS init_sampled
FROM pts, start;
-- the EM pass changed the model, so the comparison above compared something
SELECT (SELECT gmm_em_step(v, m) FROM pts)::text <> m::text AS em_step_moved FROM start;

-- scoring, row by row and as aggregates (a serial plan: the same order of summation)
SELECT bool_and(gmm_score_samples(m, v) = gmm_score_samples(m, v::real[]::float8[])) AS score_samples,
       bool_and(gmm_predict(m, v) = gmm_predict(m, v::real[]::float8[])) AS predict,
       bool_and(gmm_predict_proba(m, v) = gmm_predict_proba(m, v::real[]::float8[])) AS predict_proba,
       count(DISTINCT gmm_predict(m, v)) AS components_used
FROM pts, start;
SELECT bool_and(a.component = b.component AND a.probability = b.probability) AS predict_top,
       count(*) AS rows_compared
FROM pts, start,
     LATERAL (SELECT row_number() OVER () AS r, * FROM gmm_predict_top(m, v, 2)) a
     JOIN LATERAL (SELECT row_number() OVER () AS r, * FROM gmm_predict_top(m, v::real[]::float8[], 2)) b
     USING (r);
SELECT gmm_score(m, v) = gmm_score(m, v::real[]::float8[]) AS score,
       gmm_bic(m, v) = gmm_bic(m, v::real[]::float8[]) AS bic,
       gmm_aic(m, v) = gmm_aic(m, v::real[]::float8[]) AS aic
FROM pts, start;

-- NULL rows are skipped as for float8[]: the same model as without them
INSERT INTO pts (i, v) SELECT -i, NULL FROM generate_series(1, 3) i;
CREATE TEMP TABLE with_nulls AS
SELECT gmm_fit(v, 3) AS fit, gmm_em_step(v, m) AS step, gmm_init(v, 3) AS init,
       gmm_score(m, v) AS score, count(*) FILTER (WHERE gmm_score_samples(m, v) IS NULL) AS null_scores
FROM pts, start;
CREATE TEMP TABLE without_nulls AS
SELECT gmm_fit(v, 3) AS fit, gmm_em_step(v, m) AS step, gmm_init(v, 3) AS init,
       gmm_score(m, v) AS score
FROM pts, start WHERE v IS NOT NULL;
SELECT a.fit::text = b.fit::text AS fit_skips_nulls, a.step::text = b.step::text AS em_step_skips_nulls,
       a.init::text = b.init::text AS init_skips_nulls, a.score = b.score AS score_skips_nulls,
       a.null_scores
FROM with_nulls a, without_nulls b;
DROP TABLE with_nulls, without_nulls;
DELETE FROM pts WHERE i < 0;
DROP TABLE start;

-- vectors stored out of line (600 dimensions, 2408 bytes: TOASTed) and of 5 dimensions (a
-- short varlena header on disk, as the 3-dimensional rows above); a halfvec of 600 dimensions
-- stays inline
CREATE TABLE wide AS
SELECT i, v, subvector(v, 1, 5) AS v5, v::halfvec AS h FROM (
  SELECT i, array_agg(((i * 7 + j * 13) % 17) / 4.0 + (i % 2) * 3 ORDER BY j)::real[]::vector AS v
  FROM generate_series(1, 40) i, generate_series(1, 600) j GROUP BY i) s;
SELECT pg_relation_size(reltoastrelid) > 0 AS toasted FROM pg_class WHERE relname = 'wide';
SELECT gmm_fit(v, 2, '{"covariance_type": "diag"}')::text =
       gmm_fit(v::real[]::float8[], 2, '{"covariance_type": "diag"}')::text AS fit_600_dims,
       gmm_fit(h, 2, '{"covariance_type": "diag"}')::text =
       gmm_fit(h::real[]::float8[], 2, '{"covariance_type": "diag"}')::text AS fit_600_dims_half,
       gmm_fit(v5, 2)::text = gmm_fit(v5::real[]::float8[], 2)::text AS fit_5_dims
FROM wide;
SELECT bool_and(gmm_score_samples(m, v) = gmm_score_samples(m, v::real[]::float8[])) AS score_600_dims
FROM wide, (SELECT gmm_fit(v, 2, '{"covariance_type": "diag"}') AS m FROM wide) f;
DROP TABLE wide;
DROP TABLE pts;
