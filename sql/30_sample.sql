-- gmm_sample: deterministic draws, and a round trip: fitting many draws of
-- a known model recovers it.
SET extra_float_digits = 0;
CREATE TABLE known AS SELECT
	'{"weights": [0.3, 0.7],
	  "means": [[-3, 1], [4, -2]],
	  "covariances": [[[1, 0.5], [0.5, 2]], [[0.5, 0], [0, 0.25]]]}'::gmm AS m;

-- the same random_state gives the same rows, another gives others, and a
-- shorter draw is a prefix of a longer one
SELECT (SELECT array_agg(x ORDER BY ord) FROM known, gmm_sample(m, 50, 7) WITH ORDINALITY s(x, c, ord))
	 = (SELECT array_agg(x ORDER BY ord) FROM known, gmm_sample(m, 50, 7) WITH ORDINALITY s(x, c, ord)) AS same,
	   (SELECT array_agg(x ORDER BY ord) FROM known, gmm_sample(m, 50, 7) WITH ORDINALITY s(x, c, ord))
	 <> (SELECT array_agg(x ORDER BY ord) FROM known, gmm_sample(m, 50, 8) WITH ORDINALITY s(x, c, ord)) AS other_seed,
	   (SELECT array_agg(x ORDER BY ord) FROM known, gmm_sample(m, 50, 7) WITH ORDINALITY s(x, c, ord))
	 = (SELECT (array_agg(x ORDER BY ord))[1:50] FROM known, gmm_sample(m, 5000, 7) WITH ORDINALITY s(x, c, ord)) AS prefix;

-- 40000 draws: component shares within 0.01 of the weights (about 4
-- standard errors, sqrt(0.21/40000) = 0.0023)
CREATE TABLE draws AS SELECT s.* FROM known, gmm_sample(m, 40000, 1) s;
SELECT component, abs(count(*) / 40000.0 - CASE component WHEN 0 THEN 0.3 ELSE 0.7 END) < 0.01 AS share_ok,
	   array_length(min(x), 1) AS dims
FROM draws GROUP BY component ORDER BY component;

-- fitting the draws recovers the model: means within 0.05, weights within
-- 0.01, covariances within 0.1 (several standard errors at this size)
WITH f AS (SELECT gmm_fit(x, 2, '{"tol": 1e-6}') AS m FROM draws),
	 c AS (SELECT fc.*, kc.component AS kcomp, kc.weight AS kw, kc.mean AS kmean, kc.covariance AS kcov
		   FROM f, gmm_components(f.m) fc, known, gmm_components(known.m) kc
		   WHERE abs(fc.mean[1] - kc.mean[1]) < 1)
SELECT kcomp, abs(weight - kw) < 0.01 AS weight_ok,
	   (SELECT max(abs(u - v)) FROM unnest(mean, kmean) t(u, v)) < 0.05 AS mean_ok,
	   (SELECT max(abs(u - v)) FROM unnest(covariance, kcov) t(u, v)) < 0.1 AS cov_ok
FROM c ORDER BY kcomp;

-- every covariance type draws with its own shape of covariance
SELECT gmm_covariance_type(m), count(*), min(array_length(x, 1))
FROM (SELECT gmm_fit(x, 2, gmm_options(covariance_type => t)) AS m
	  FROM draws, (VALUES ('tied'), ('diag'), ('spherical')) v(t) GROUP BY t) f,
	 gmm_sample(m, 100) GROUP BY 1 ORDER BY 1;

SELECT count(*) FROM known, gmm_sample(m, 0);
SELECT * FROM known, gmm_sample(m, -1);
SELECT * FROM known, gmm_sample(m, 1, -5);
