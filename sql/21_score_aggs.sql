-- gmm_score, gmm_bic(model, x), gmm_aic(model, x) aggregates, parallel
-- plans for them, and gmm_predict_top.
SET extra_float_digits = 0;
CREATE TABLE sa AS
SELECT i, ARRAY[(i % 13)::float8 + 20 * (i % 2), ((i * 7) % 17)::float8] AS x
FROM generate_series(1, 20000) i;
CREATE TABLE sa_model AS SELECT gmm_fit(x, 2) AS m FROM sa;

-- the mean log-likelihood equals the mean of score_samples, and on the
-- training rows gmm_bic/gmm_aic over data equal the stored-likelihood forms
SELECT abs(gmm_score(m, x) - avg(gmm_score_samples(m, x))) < 1e-9 AS score_is_mean,
	   abs(gmm_bic(m, x) - gmm_bic((SELECT m FROM sa_model))) < 1e-6 * abs(gmm_bic(m, x)) AS bic,
	   abs(gmm_aic(m, x) - gmm_aic((SELECT m FROM sa_model))) < 1e-6 * abs(gmm_aic(m, x)) AS aic,
	   abs(gmm_aic(m, x) - (-2 * sum(gmm_score_samples(m, x))
							+ 2 * gmm_n_parameters((SELECT m FROM sa_model)))) < 1e-6 AS aic_formula
FROM sa, sa_model;

-- no rows: NULL
SELECT gmm_score(m, x) IS NULL, gmm_bic(m, x) IS NULL FROM sa, sa_model WHERE false;

-- parallel: partial aggregates in workers give the serial result
CREATE TABLE serial_result AS SELECT gmm_score(m, x) AS s FROM sa, sa_model;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
\i sql/include/plan_shape.sql
SELECT plan_shape('SELECT gmm_score((SELECT m FROM sa_model), x) FROM sa');
SELECT abs(gmm_score((SELECT m FROM sa_model), x) - (SELECT s FROM serial_result)) < 1e-9 AS parallel_equals_serial
FROM sa;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- support functions called directly
SELECT gmm_score_accum('{0,0,0}', NULL, NULL);
SELECT gmm_score_combine('{0,0,0}', '{0,0,0}');

-- gmm_predict_top: hand-written 1-D model, components at -2, 0, 2 with
-- unit variance and weights 0.2, 0.3, 0.5.  At x = 0.4 the posteriors are
-- proportional to w_j exp(-(x-m_j)^2/2): 0.2 e^-2.88, 0.3 e^-0.08,
-- 0.5 e^-1.28 = 0.011226, 0.276935, 0.139019 -> 0.0263, 0.6483, 0.3254
-- (hand derivation).
CREATE TABLE m3 AS SELECT
	'{"weights": [0.2, 0.3, 0.5], "means": [[-2], [0], [2]], "covariances": [[[1]], [[1]], [[1]]]}'::gmm AS m;
SELECT component, round(probability::numeric, 4) FROM m3, gmm_predict_top(m, '{0.4}', 2);
SELECT count(*), round(sum(probability)::numeric, 12) FROM m3, gmm_predict_top(m, '{0.4}', 10);
SELECT gmm_predict_top(m, '{0.4}', 0) FROM m3;
SELECT gmm_predict_top(m, '{0.4, 1}', 1) FROM m3;
