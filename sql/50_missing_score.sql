-- Missing values in scoring (issue 10): rows with NULL elements are scored
-- by the mixture's marginal over their non-NULL features; gmm_impute,
-- gmm_marginal, gmm_condition.  Hand-derived numbers say how; the rest are
-- properties that must hold exactly or to 1e-12 (independent checks against
-- scipy are test/conformance/missing_score.py).
SET extra_float_digits = 0;

-- One 2-D component at the origin, unit variances, correlation 0.5.  The
-- marginal of either feature is N(0, 1): at 1 its log-density is
-- -log(2 pi)/2 - 1/2 = -1.4189 (hand derivation).  Given x1 = 1, x2 is
-- N(0.5, 0.75) (conditional mean rho x1, variance 1 - rho^2).
CREATE TABLE ms_hm AS SELECT
	'{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0.5], [0.5, 1]]]}'::gmm AS m;
SELECT round(gmm_score_samples(m, '{1,NULL}')::numeric, 4) AS x1_only,
	   round(gmm_score_samples(m, '{NULL,1}')::numeric, 4) AS x2_only,
	   gmm_predict(m, '{NULL,1}') AS label,
	   gmm_predict_proba(m, '{1,NULL}') AS proba,
	   gmm_impute(m, '{1,NULL}') AS imputed,
	   gmm_impute(m, '{NULL,NULL}') AS all_null_imputed
FROM ms_hm;
SELECT gmm_weights(c), gmm_means(c), gmm_covariances(c), gmm_covariance_type(c)
FROM (SELECT gmm_condition(m, '{1,NULL}') AS c FROM ms_hm) s;

-- Two equal-weight diagonal components at (-2, 0) and (2, 5), unit
-- variances.  With x2 missing only x1 = 0.5 is evidence: the log-odds of
-- component 1 is 4 x1 = 2, p1 = 1/(1 + e^-2) = 0.8808 (hand derivation);
-- the imputed x2 is the responsibility-weighted mean, 5 p1 = 4.4040.
CREATE TABLE ms_two AS SELECT
	'{"weights": [0.5, 0.5], "means": [[-2, 0], [2, 5]], "covariances": [[1, 1], [1, 1]], "covariance_type": "diag"}'::gmm AS m;
SELECT round((gmm_predict_proba(m, '{0.5,NULL}'))[2]::numeric, 4) AS p1,
	   gmm_predict(m, '{0.5,NULL}') AS label,
	   round((gmm_impute(m, '{0.5,NULL}'))[2]::numeric, 4) AS x2_imputed,
	   (gmm_impute(m, '{0.5,NULL}'))[1] AS x1_kept
FROM ms_two;
SELECT component, round(probability::numeric, 4) FROM ms_two, gmm_predict_top(m, '{0.5,NULL}', 2);
-- the conditional of x2 stays diagonal: weights the posterior, means 0 and
-- 5, variances 1
SELECT gmm_covariance_type(c), gmm_n_features(c),
	   (SELECT array_agg(round(w::numeric, 4)) FROM unnest(gmm_weights(c)) w) AS weights,
	   gmm_means(c), gmm_covariances(c)
FROM (SELECT gmm_condition(m, '{0.5,NULL}') AS c FROM ms_two) s;

-- A row of NULLs only scores NULL (predict_top: no rows) and the aggregates
-- skip it; a row with some NULLs counts as one sample.
SELECT gmm_score_samples(m, '{NULL,NULL}') IS NULL AS samples_null,
	   gmm_predict(m, '{NULL,NULL}') IS NULL AS predict_null,
	   gmm_predict_proba(m, '{NULL,NULL}') IS NULL AS proba_null,
	   (SELECT count(*) FROM gmm_predict_top(m, '{NULL,NULL}', 2)) AS top_rows
FROM ms_two;
CREATE TABLE ms_rows3 (x float8[]);
INSERT INTO ms_rows3 VALUES ('{0.5,NULL}'), ('{NULL,4}'), ('{NULL,NULL}'), ('{1,2}');
WITH per_row AS (SELECT gmm_score_samples((SELECT m FROM ms_two), x) AS v FROM ms_rows3),
	 agg AS (SELECT gmm_score((SELECT m FROM ms_two), x) AS score,
					gmm_bic((SELECT m FROM ms_two), x) AS bic,
					gmm_aic((SELECT m FROM ms_two), x) AS aic FROM ms_rows3),
	 ref AS (SELECT avg(v) AS mean_v, sum(v) AS sum_v, count(v) AS n,
					(SELECT gmm_n_parameters(m) FROM ms_two) AS p FROM per_row)
SELECT n AS scored_rows, abs(score - mean_v) < 1e-12 AS score_is_mean,
	   abs(bic - (-2 * sum_v + p * ln(3))) < 1e-9 AS bic_three_rows,
	   abs(aic - (-2 * sum_v + 2 * p)) < 1e-9 AS aic_three_rows
FROM agg, ref;
SELECT gmm_score((SELECT m FROM ms_two), x) IS NULL AS only_null_rows
FROM (VALUES ('{NULL,NULL}'::float8[])) v(x);

-- Far from every component the posterior of a component can underflow to
-- zero: gmm_condition leaves it out (x1 = 200: log-odds 800)
SELECT gmm_n_components(c), gmm_weights(c), gmm_means(c)
FROM (SELECT gmm_condition(m, '{200,NULL}') AS c FROM ms_two) s;

-- Fitted models of every covariance type, 6 features: a row with NULLs
-- scores as the complete sub-row under gmm_marginal over its observed
-- features, for random masks (many patterns, more than the 16 a call site
-- keeps, and repeated ones: first rows take the Schur route, later ones
-- the cached marginal), and so do predict_proba and predict.
CREATE TABLE ms_f6 AS
SELECT i, ARRAY(SELECT sin(i * j) * 3 + (i % 3) * 4 + cos(i + j) FROM generate_series(1, 6) j) AS x
FROM generate_series(1, 300) i;
CREATE TABLE ms_m6 AS
SELECT t AS cov, gmm_fit(x, 3, gmm_options(covariance_type => t, random_state => 1)) AS m
FROM ms_f6, (VALUES ('full'), ('tied'), ('diag'), ('spherical')) v(t) GROUP BY t;
-- mask bit j of row i: missing with probability about 0.3, never all
CREATE TABLE ms_masked AS
SELECT i, x AS full_x,
	   ARRAY(SELECT CASE WHEN mask & (1 << (j - 1)) <> 0 THEN NULL ELSE x[j] END
			 FROM generate_series(1, 6) j) AS x,
	   ARRAY(SELECT j FROM generate_series(1, 6) j WHERE mask & (1 << (j - 1)) = 0) AS obs
FROM (SELECT i, x, CASE WHEN i % 4 = 0 THEN 5 ELSE (i * 37 + i / 7) % 63 END AS mask FROM ms_f6) s;
SELECT count(DISTINCT obs) AS patterns, count(*) FILTER (WHERE obs = '{2,4,5,6}') AS repeated
FROM ms_masked;
SELECT cov,
	   bool_and(abs(gmm_score_samples(m, x) -
					gmm_score_samples(gmm_marginal(m, obs), ARRAY(SELECT full_x[o] FROM unnest(obs) o)))
				< 1e-10 * (1 + abs(gmm_score_samples(m, x)))) AS samples_match,
	   bool_and((SELECT max(abs(a - b)) FROM unnest(gmm_predict_proba(m, x),
				gmm_predict_proba(gmm_marginal(m, obs), ARRAY(SELECT full_x[o] FROM unnest(obs) o))) u(a, b))
				< 1e-10) AS proba_match,
	   bool_and(gmm_predict(m, x) = gmm_predict(gmm_marginal(m, obs),
												ARRAY(SELECT full_x[o] FROM unnest(obs) o))) AS predict_match
FROM ms_m6, ms_masked GROUP BY cov ORDER BY cov;

-- 24 features, full: rows with many NULLs (20, past the eight-components-
-- at-once limit of 16) then few (2) in one query share one workspace
CREATE TABLE ms_f24 AS
SELECT i, ARRAY(SELECT sin(i * j) * 2 + (i % 2) * 3 + cos(i * 0.3 + j) FROM generate_series(1, 24) j) AS x
FROM generate_series(1, 400) i;
CREATE TABLE ms_m24 AS SELECT gmm_fit(x, 2, gmm_options(random_state => 1)) AS m FROM ms_f24;
CREATE TABLE ms_masked24 AS
SELECT i, x AS full_x,
	   ARRAY(SELECT CASE WHEN (i <= 5 AND j > 4) OR (i > 5 AND j IN (i % 24 + 1, (i * 7) % 24 + 1))
						 THEN NULL ELSE x[j] END FROM generate_series(1, 24) j) AS x
FROM ms_f24 WHERE i <= 60;
SELECT count(*) AS rows_checked,
	   bool_and(abs(gmm_score_samples(m, x) -
					gmm_score_samples(gmm_marginal(m, ARRAY(SELECT j FROM generate_series(1, 24) j WHERE x[j] IS NOT NULL)),
									  array_remove(x, NULL)))
				< 1e-9 * (1 + abs(gmm_score_samples(m, x)))) AS samples_match
FROM (SELECT x FROM ms_masked24 ORDER BY i) r, ms_m24;

-- Rows without NULL are unaffected: the marginal over every feature in
-- order has the model's parameters, and a complete row scores bit for bit as the
-- same row through gmm_impute (which returns it unchanged).
SELECT cov, (SELECT gmm_weights(mm) = gmm_weights(m) AND gmm_means(mm) = gmm_means(m) AND
				   gmm_covariances(mm) = gmm_covariances(m) AND
				   gmm_precisions_cholesky(mm) = gmm_precisions_cholesky(m)
			FROM (SELECT gmm_marginal(m, '{1,2,3,4,5,6}') AS mm) q) AS identity_marginal,
	   (SELECT bool_and(gmm_impute(m, full_x) = full_x) FROM ms_masked) AS impute_unchanged,
	   (SELECT bool_and(gmm_score_samples(m, gmm_impute(m, full_x)) = gmm_score_samples(m, full_x))
		FROM ms_masked) AS same_score
FROM ms_m6 ORDER BY cov;

-- gmm_marginal keeps the order given and the covariance type; a spherical
-- marginal stays spherical
SELECT cov, gmm_n_features(mm), gmm_covariance_type(mm),
	   (SELECT bool_and((gmm_means(mm))[j][1] = (gmm_means(m))[j][3] AND
						(gmm_means(mm))[j][2] = (gmm_means(m))[j][1])
		FROM generate_series(1, 3) j) AS means_permuted,
	   gmm_weights(mm) = gmm_weights(m) AS same_weights
FROM (SELECT cov, m, gmm_marginal(m, '{3,1}') AS mm FROM ms_m6) s
ORDER BY cov;

-- gmm_condition's weights are the row's predict_proba; its weighted means
-- are gmm_impute's values; a spherical conditional stays spherical
SELECT cov, gmm_covariance_type(c), gmm_n_features(c), gmm_n_components(c),
	   (SELECT max(abs(a - b)) FROM unnest(gmm_weights(c), gmm_predict_proba(m, x)) u(a, b)) < 1e-12
		AS weights_are_proba,
	   (SELECT bool_and(abs((SELECT sum((gmm_weights(c))[j] * (gmm_means(c))[j][f])
							 FROM generate_series(1, gmm_n_components(c)) j)
							- (gmm_impute(m, x))[f + 1]) < 1e-10)
		FROM generate_series(1, 2) f) AS means_are_imputation
FROM ms_m6, (VALUES ('{1.5,NULL,NULL,0.5,2,3}'::float8[])) v(x),
	 LATERAL (SELECT gmm_condition(m, x) AS c) l
ORDER BY cov;
-- draws from a conditional: gmm_sample works on it
SELECT count(*) FROM ms_m6, gmm_sample(gmm_condition(m, '{1.5,NULL,NULL,0.5,2,3}'), 5, 1) WHERE cov = 'full';

-- Rows as the heap stores them: a datum of up to 127 bytes (here 6
-- features, and 24 with 14 NULLs) has a one-byte header and is read from a
-- copy, a larger one in place.  Each form, with and without NULLs, scores
-- exactly as the same row rebuilt in memory by a slice (a four-byte
-- header), by the per-row functions and by gmm_score.
CREATE TEMP TABLE ms_stored AS
SELECT 6 AS d, i, x, ARRAY(SELECT CASE WHEN (i + j) % 4 = 0 THEN NULL ELSE x[j] END
                         FROM generate_subscripts(x, 1) j) AS xn
FROM ms_f6
UNION ALL
SELECT 24, i, x, ARRAY(SELECT CASE WHEN (i + j) % 12 < (i % 2) * 7 THEN NULL ELSE x[j] END
                       FROM generate_subscripts(x, 1) j)
FROM ms_f24 WHERE i <= 100;
CREATE TEMP TABLE ms_stored_m AS
SELECT 6 AS d, cov, m FROM ms_m6 UNION ALL SELECT 24, 'full', m FROM ms_m24;
SELECT d, count(*) FILTER (WHERE pg_column_size(xn) <= 127) AS short_rows,
       count(*) FILTER (WHERE pg_column_size(xn) > 127) AS long_rows,
       count(*) FILTER (WHERE xn <> x) AS rows_with_nulls
FROM ms_stored GROUP BY d ORDER BY d;
SELECT d, cov,
       (SELECT bool_and(gmm_score_samples(m, s.x) = gmm_score_samples(m, s.x[1:d]) AND
                        gmm_score_samples(m, s.xn) = gmm_score_samples(m, s.xn[1:d]) AND
                        gmm_predict_proba(m, s.xn) = gmm_predict_proba(m, s.xn[1:d]))
        FROM ms_stored s WHERE s.d = mm.d) AS per_row_same,
       (SELECT gmm_score(m, s.xn) = gmm_score(m, s.xn[1:d])
        FROM ms_stored s WHERE s.d = mm.d) AS score_same
FROM ms_stored_m mm ORDER BY d, cov;
-- and so is one in a row whose pattern has a cached marginal (scored from
-- the stored values as they are, not expanded): 19 rows of one pattern
-- first, then the infinity, with gmm_score_samples and gmm_score
SELECT sum(gmm_score_samples(m, CASE WHEN g = 20 THEN '{1,NULL,Infinity,3,4,5}'
                                     ELSE '{1,NULL,2,3,4,5}' END::float8[]))
FROM ms_m6, generate_series(1, 20) g WHERE cov = 'full';
SELECT gmm_score((SELECT m FROM ms_m6 WHERE cov = 'tied'),
                 CASE WHEN g = 20 THEN '{1,NULL,2,3,-Infinity,5}' ELSE '{1,NULL,2,3,4,5}' END::float8[])
FROM generate_series(1, 20) g;
-- a stored infinity in a one-byte-header row is reported at its position
CREATE TEMP TABLE ms_stored_inf AS SELECT '{1,NULL,Infinity}'::float8[] AS x;
SELECT pg_column_size(x) <= 127 AS short FROM ms_stored_inf;
SELECT gmm_score_samples('{"weights": [1], "means": [[0, 0, 0]],
       "covariances": [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]}'::gmm, x) FROM ms_stored_inf;

-- Errors
-- a NaN or infinite element is still an error, with or without NULLs
SELECT gmm_score_samples(m, '{NaN,NULL}') FROM ms_two;
SELECT gmm_predict(m, '{NULL,Infinity}') FROM ms_two;
SELECT gmm_impute(m, '{NaN,NULL}') FROM ms_two;
SELECT gmm_score((SELECT m FROM ms_two), x) FROM (VALUES ('{-Infinity,NULL}'::float8[])) v(x);
-- a row past 64 features (the reader takes NULL bitmaps 64 bits at a time): NULLs either side
-- of the word boundary (64, 65) and last (70) are scored by the marginal and imputed, and a
-- stored infinity past the boundary is reported at its position
CREATE TEMP TABLE ms_wide AS
SELECT i, ARRAY(SELECT (i % 2) * 3 + sin(i * j) FROM generate_series(1, 70) j) AS x
FROM generate_series(1, 300) i;
CREATE TEMP TABLE ms_wide_m AS
SELECT gmm_fit(x, 2, '{"covariance_type": "diag", "random_state": 1}') AS m FROM ms_wide;
WITH r AS (SELECT x, ARRAY(SELECT CASE WHEN j IN (3, 64, 65, 70) THEN NULL ELSE x[j] END
                           FROM generate_subscripts(x, 1) j) AS xn
           FROM ms_wide WHERE i <= 5),
     s AS (SELECT x, xn, gmm_impute(m, xn) AS imp, m FROM r, ms_wide_m)
SELECT bool_and((SELECT bool_and(CASE WHEN j IN (3, 64, 65, 70) THEN imp[j] IS NOT NULL
                                      ELSE imp[j] = x[j] END)
                 FROM generate_subscripts(x, 1) j)) AS observed_kept,
       max(abs(gmm_score_samples(m, xn) -
               gmm_score_samples(gmm_marginal(m, ARRAY(SELECT j FROM generate_series(1, 70) j
                                                       WHERE j NOT IN (3, 64, 65, 70))),
                                 ARRAY(SELECT x[j] FROM generate_series(1, 70) j
                                       WHERE j NOT IN (3, 64, 65, 70))))) < 1e-9 AS marginal_same
FROM s;
SELECT gmm_score_samples(m, ARRAY(SELECT CASE WHEN j = 2 THEN NULL WHEN j = 66 THEN 'Infinity'::float8
                                          ELSE 1 END FROM generate_series(1, 70) j))
FROM ms_wide_m;
-- a row of the wrong length
SELECT gmm_score_samples(m, '{1,NULL,2}') FROM ms_two;
SELECT gmm_predict_proba(m, '{NULL}') FROM ms_two;
SELECT gmm_impute(m, '{NULL,NULL,NULL}') FROM ms_two;
SELECT gmm_condition(m, '{1,NULL,NULL}') FROM ms_two;
SELECT gmm_score_samples(m, '{{1,NULL},{2,3}}') FROM ms_two;
-- gmm_marginal's positions: empty, out of range, duplicated, NULL
SELECT gmm_marginal(m, '{}') FROM ms_two;
SELECT gmm_marginal(m, '{0}') FROM ms_two;
SELECT gmm_marginal(m, '{1,3}') FROM ms_two;
SELECT gmm_marginal(m, '{2,2}') FROM ms_two;
SELECT gmm_marginal(m, '{1,NULL}') FROM ms_two;
SELECT gmm_marginal(m, '{{1},{2}}') FROM ms_two;
-- gmm_condition needs both NULL and non-NULL elements
SELECT gmm_condition(m, '{1,2}') FROM ms_two;
SELECT gmm_condition(m, '{NULL,NULL}') FROM ms_two;
