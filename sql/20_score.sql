-- Scoring: gmm_predict, gmm_predict_proba, gmm_score_samples, against a
-- hand-written model, with the per-query model cache exercised by several
-- models (inline and TOASTed) changing from row to row.
SET extra_float_digits = 0;

-- One 2-D component at the origin with identity covariance: the log-density
-- of x is -log(2 pi) - |x|^2 / 2 (hand derivation): -1.8379 at 0,
-- -2.3379 at (1,0), -3.8379 at (1,1.7320508).
CREATE TABLE hm AS SELECT
	'{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0], [0, 1]]]}'::gmm AS m;
SELECT round(gmm_score_samples(m, '{0,0}')::numeric, 4),
	   round(gmm_score_samples(m, '{1,0}')::numeric, 4),
	   round(gmm_score_samples(m, '{1,1.7320508}')::numeric, 4),
	   gmm_predict(m, '{5,5}'), gmm_predict_proba(m, '{5,5}')
FROM hm;

-- Two equal-weight components at -2 and +2 on a line, unit variance: at 0
-- the posterior is 1/2 each; at x the log-odds of component 1 is 4x (hand
-- derivation), so at x = 0.5 p1 = 1/(1+e^-2) = 0.8808.
CREATE TABLE two AS SELECT
	'{"weights": [0.5, 0.5], "means": [[-2], [2]], "covariances": [[[1]], [[1]]]}'::gmm AS m;
SELECT gmm_predict_proba(m, '{0}') AS at_zero,
	   round((gmm_predict_proba(m, '{0.5}'))[2]::numeric, 4) AS p1_at_half,
	   gmm_predict(m, '{0.5}') AS label_half, gmm_predict(m, '{-0.5}') AS label_minus_half,
	   round(gmm_score_samples(m, '{0}')::numeric, 4) AS score_zero
FROM two;

-- Far in the tail the responsibilities stay finite and sum to 1 (log-sum-exp).
SELECT gmm_predict(m, '{1000}'), gmm_predict_proba(m, '{1000}'),
	   gmm_score_samples(m, '{1000}') < -400000 AS very_unlikely
FROM two;

-- probabilities sum to 1 and predict is their argmax, on fitted models
CREATE TABLE sp AS
SELECT i, ARRAY[(i % 9)::float8 + 6 * (i % 3), ((i * 5) % 7)::float8 - 4 * (i % 3)] AS x
FROM generate_series(1, 90) i;
CREATE TABLE sm AS
SELECT t AS cov, gmm_fit(x, 3, gmm_options(covariance_type => t)) AS m
FROM sp, (VALUES ('full'), ('tied'), ('diag'), ('spherical')) v(t) GROUP BY t;
SELECT cov,
	   (SELECT bool_and(abs((SELECT sum(p) FROM unnest(gmm_predict_proba(m, x)) p) - 1) < 1e-12)
		FROM sp) AS sums_to_one,
	   (SELECT bool_and(gmm_predict(m, x) + 1 =
						(SELECT o FROM unnest(gmm_predict_proba(m, x)) WITH ORDINALITY u(p, o)
						 ORDER BY p DESC, o LIMIT 1))
		FROM sp) AS predict_is_argmax,
	   abs((SELECT avg(gmm_score_samples(m, x)) FROM sp) - gmm_log_likelihood(m)) < 1e-9 AS mean_score_is_ll
FROM sm ORDER BY cov;

-- The cache never serves a stale model: with the model changing from row to
-- row (a join against several models, inline and TOASTed), each row's score
-- equals the score computed with that model alone.
CREATE TABLE big_feat AS
SELECT i, ARRAY(SELECT ((i * j) % 11)::float8 + (i % 3) * 4 FROM generate_series(1, 24) j) AS x
FROM generate_series(1, 120) i;
CREATE TABLE models (name text, m gmm);
-- EXTENDED: the large models go out of line (the type's default, MAIN, keeps them inline)
ALTER TABLE models ALTER m SET STORAGE EXTENDED;
INSERT INTO models
SELECT 'k' || k, gmm_fit(x, k) FROM big_feat, generate_series(1, 3) k GROUP BY k;
INSERT INTO models SELECT 'small', m FROM two;
-- the 24-feature models are larger than a page's share and live in TOAST
SELECT name, pg_column_size(m) > 2000 AS toasted_size FROM models ORDER BY name;
CREATE TABLE per_model AS
SELECT name, i, CASE WHEN name = 'small' THEN gmm_score_samples(m, x[1:1])
					 ELSE gmm_score_samples(m, x) END AS s
FROM models, big_feat;
-- interleave models row by row: a table whose consecutive rows carry
-- different models (each row its own TOAST value for the large ones)
CREATE TABLE interleaved AS
SELECT q.name, q.m, f.i, f.x FROM models q, big_feat f ORDER BY random();
SELECT count(*) AS rows_checked,
	   bool_and(abs(p.s - CASE WHEN q.name = 'small' THEN gmm_score_samples(q.m, q.x[1:1])
							   ELSE gmm_score_samples(q.m, q.x) END) < 1e-12) AS all_match
FROM interleaved q JOIN per_model p USING (name, i);
-- the model from a scalar subquery, and as a prepared statement's parameter
SELECT abs((SELECT sum(gmm_score_samples((SELECT m FROM models WHERE name = 'k2'), x)) FROM big_feat)
		   - (SELECT sum(s) FROM per_model WHERE name = 'k2')) < 1e-6 AS subquery_ok;
PREPARE score_with(gmm) AS SELECT round(sum(gmm_score_samples($1, x))::numeric, 6) FROM big_feat;
SELECT m AS k3_model FROM models WHERE name = 'k3' \gset
EXECUTE score_with(:'k3_model');
SELECT round(sum(s)::numeric, 6) FROM per_model WHERE name = 'k3';

-- errors
SELECT gmm_predict(m, '{1,2,3}') FROM hm;
SELECT gmm_score_samples(m, '{1,NaN}') FROM hm;
SELECT gmm_predict_proba(m, '{1,NULL}') FROM hm;
SELECT gmm_predict(m, '{{1,2}}') FROM hm;
SELECT gmm_predict(m, '{}') FROM hm;
-- STRICT: NULL in, NULL out
SELECT gmm_predict(m, NULL) IS NULL, gmm_score_samples(NULL, '{1,2}') IS NULL FROM hm;

-- Extreme rows and models never give NaN.  A row so far away that every
-- density underflows scores -Infinity and gets the prior (the weights) as
-- its responsibilities; a spherical model with a subnormal variance scores
-- its own mean finitely (both found by the fuzzer).
SELECT gmm_score_samples(m, '{1e200}'), gmm_predict(m, '{1e200}'), gmm_predict_proba(m, '{1e200}')
FROM (SELECT '{"weights": [0.25, 0.75], "means": [[-2], [2]], "covariances": [[[1]], [[1]]]}'::gmm AS m) s;
SELECT gmm_score_samples(m, '{0,0}') BETWEEN 0 AND 1e300 AS finite_high, gmm_predict_proba(m, '{0,0}')
FROM (SELECT '{"covariance_type": "spherical", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]],
			   "covariances": [8e-320, 4e-316]}'::gmm AS m) s;
