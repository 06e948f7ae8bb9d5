-- gmm_fit: the reference example, hand-derivable cases, GROUP BY, window use,
-- NULL handling and recovery of well separated clusters.
SET extra_float_digits = 0;

-- The docstring example of the reference implementation (anomalib's
-- GaussianMixture): means [8,5] and [2,2]; rows 0-2 one label, rows 3-5 the
-- other; score_samples 3.8295, 4.5795, 3.8295, 3.8295, 4.5795, 3.8295.
CREATE TABLE seed (id int, x float8[]);
INSERT INTO seed VALUES
	(0, '{2,1}'), (1, '{2,2}'), (2, '{2,3}'),
	(3, '{7,5}'), (4, '{8,5}'), (5, '{9,5}');
CREATE TABLE seed_model AS SELECT gmm_fit(x, 2) AS m FROM seed;

SELECT gmm_n_components(m), gmm_n_features(m), gmm_covariance_type(m),
	   gmm_converged(m), gmm_n_samples(m)
FROM seed_model;

-- the two means, in a fixed order
SELECT round(mean[1]::numeric, 4) AS m1, round(mean[2]::numeric, 4) AS m2
FROM seed_model, gmm_components(m) ORDER BY 1;

-- rows 0-2 share a label, rows 3-5 share the other
SELECT count(DISTINCT gmm_predict(m, x)) FILTER (WHERE id < 3) AS labels_first,
	   count(DISTINCT gmm_predict(m, x)) FILTER (WHERE id >= 3) AS labels_last,
	   count(DISTINCT gmm_predict(m, x)) AS labels_all
FROM seed, seed_model;

SELECT id, round(gmm_score_samples(m, x)::numeric, 4) AS score
FROM seed, seed_model ORDER BY id;

-- One component (hand derivation): the mean is the sample mean and the
-- covariance the biased sample covariance plus reg_covar on the diagonal,
-- computed here independently with avg/var_pop/covar_pop.
CREATE TABLE pts AS
SELECT i, ARRAY[(i % 7)::float8 + i / 10.0, ((i * 13) % 11)::float8 - i / 20.0] AS x
FROM generate_series(1, 50) i;
WITH f AS (SELECT gmm_fit(x, 1) AS m FROM pts),
	 ref AS (SELECT avg(x[1]) a1, avg(x[2]) a2, var_pop(x[1]) v11,
					var_pop(x[2]) v22, covar_pop(x[1], x[2]) v12 FROM pts)
SELECT abs((gmm_means(m))[1][1] - a1) < 1e-9 AS mean1,
	   abs((gmm_means(m))[1][2] - a2) < 1e-9 AS mean2,
	   abs((gmm_covariances(m))[1][1][1] - (v11 + 1e-6)) < 1e-9 AS cov11,
	   abs((gmm_covariances(m))[1][2][2] - (v22 + 1e-6)) < 1e-9 AS cov22,
	   abs((gmm_covariances(m))[1][1][2] - v12) < 1e-9 AS cov12,
	   abs((gmm_weights(m))[1] - 1) < 1e-12 AS weight,
	   gmm_n_iter(m) AS n_iter, gmm_converged(m) AS converged
FROM f, ref;

-- The stored log-likelihood is the mean of score_samples over the training
-- rows (the final E-step), and BIC follows scikit-learn's formula.
WITH f AS (SELECT gmm_fit(x, 1) AS m FROM pts)
SELECT abs(gmm_log_likelihood(m) - (SELECT avg(gmm_score_samples(m, x)) FROM pts)) < 1e-9 AS ll,
	   abs(gmm_bic(m) - (-2 * gmm_log_likelihood(m) * 50 + 5 * ln(50))) < 1e-9 AS bic
FROM f;

-- Well separated clusters are recovered: every true cluster maps to exactly
-- one fitted component, and different clusters to different components.
CREATE OR REPLACE FUNCTION gauss() RETURNS float8 LANGUAGE sql VOLATILE AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
SELECT setseed(0.25);
CREATE TABLE blobs AS
SELECT c AS truth, k, d,
	   ARRAY(SELECT 25.0 * ((c * 7 + j * 3) % 5) + (c * 10) * (j % 2) + gauss()
			 FROM generate_series(1, d) j) AS x
FROM (VALUES (2, 1), (3, 2), (4, 5), (5, 8)) AS cfg(k, d),
	 generate_series(0, 4) c, generate_series(1, 60) r
WHERE c < k;
WITH models AS (SELECT k, d, gmm_fit(x, k) AS m FROM blobs GROUP BY k, d),
	 labelled AS (SELECT b.k, b.d, truth, gmm_predict(m, x) AS p
				  FROM blobs b JOIN models USING (k, d)),
	 per_truth AS (SELECT k, d, truth, count(DISTINCT p) AS n, min(p) AS p
				   FROM labelled GROUP BY k, d, truth)
SELECT k, d, bool_and(n = 1) AS pure, count(DISTINCT p) = k AS distinct_components
FROM per_truth GROUP BY k, d ORDER BY k;

-- GROUP BY gives one model per group.
SELECT truth % 2 AS segment, gmm_n_samples(gmm_fit(x, 1)) AS n
FROM blobs WHERE k = 3 GROUP BY 1 ORDER BY 1;

-- As a window function: the frame grows row by row and the state is never
-- modified by the final function.
SELECT id, gmm_n_samples(gmm_fit(x, 1) OVER (ORDER BY id)) AS n,
	   round((gmm_means(gmm_fit(x, 1) OVER (ORDER BY id)))[1][1]::numeric, 4) AS mean_x
FROM seed ORDER BY id;

-- NULL rows are skipped; no rows (or only NULLs) give NULL.
SELECT gmm_n_samples(gmm_fit(x, 2)) FROM (SELECT x FROM seed UNION ALL SELECT NULL) s;
SELECT gmm_fit(x, 2) IS NULL AS is_null FROM seed WHERE false;
SELECT gmm_fit(NULL::float8[], 2) IS NULL AS is_null FROM seed;

-- Determinism: the same rows in the same order give the identical model.
SELECT (SELECT gmm_fit(x, 3)::bytea FROM blobs WHERE k = 3)
	 = (SELECT gmm_fit(x, 3)::bytea FROM blobs WHERE k = 3) AS same;

-- Weighted rows: a row of weight w counts as w identical rows; weight 0 rows
-- do not count.  Given initial parameters make both runs start alike.
CREATE TABLE wrows AS
SELECT i, x, 1 + i % 3 AS w FROM pts;
WITH o AS (SELECT gmm_options(weights_init => '{0.5,0.5}',
							  means_init => '{{3,2},{6,5}}',
							  precisions_init => '{{{1,0},{0,1}},{{1,0},{0,1}}}') AS opt),
	 a AS (SELECT gmm_fit_weighted(x, w, 2, opt) AS m FROM wrows, o),
	 b AS (SELECT gmm_fit(x, 2, opt) AS m
		   FROM (SELECT x, opt FROM wrows, generate_series(1, w), o) s)
SELECT gmm_n_iter(a.m) = gmm_n_iter(b.m) AS same_iter,
	   (SELECT max(abs(u - v)) FROM unnest(gmm_means(a.m), gmm_means(b.m)) AS t(u, v)) < 1e-9 AS same_means,
	   (SELECT max(abs(u - v)) FROM unnest(gmm_covariances(a.m), gmm_covariances(b.m)) AS t(u, v)) < 1e-9 AS same_covs,
	   (SELECT max(abs(u - v)) FROM unnest(gmm_weights(a.m), gmm_weights(b.m)) AS t(u, v)) < 1e-9 AS same_weights,
	   gmm_n_samples(a.m) AS rows_a, gmm_n_samples(b.m) AS rows_b
FROM a, b;
SELECT gmm_n_samples(gmm_fit_weighted(x, CASE WHEN i <= 10 THEN 0 ELSE 1 END, 1)) AS n
FROM pts;
