-- gmm type: accessors, parameter count, BIC/AIC, gmm_components, GUC, BLAS info
CREATE TABLE models (name text PRIMARY KEY, m gmm);
INSERT INTO models VALUES
  ('full', '{"weights": [0.25, 0.75], "means": [[0, 0], [1, 2]],
             "covariances": [[[4, 2], [2, 3]], [[1, 0], [0, 1]]],
             "converged": true, "n_iter": 7, "lower_bound": -1.5000001,
             "log_likelihood": -1.5, "n_samples": 100,
             "options": {"max_iter": 200, "tol": 1e-5, "reg_covar": 0.01,
                         "random_state": 7, "init_params": "random", "n_init": 2}}'),
  ('tied', '{"covariance_type": "tied", "weights": [0.5, 0.5],
             "means": [[0, 0], [3, 3]], "covariances": [[2, 0.5], [0.5, 1]]}'),
  ('diag', '{"covariance_type": "diag", "weights": [0.4, 0.6],
             "means": [[1, 2, 3], [-1, -2, -3]], "covariances": [[4, 1, 0.25], [1, 2, 3]]}'),
  ('spherical', '{"covariance_type": "spherical", "weights": [0.1, 0.2, 0.7],
                  "means": [[0.1], [-0.2], [5]], "covariances": [0.25, 1, 4]}');

-- shape and parameters, as written in the input
SELECT name, gmm_n_components(m) AS k, gmm_n_features(m) AS d,
       gmm_covariance_type(m) AS type, gmm_weights(m) AS weights, gmm_means(m) AS means
FROM models ORDER BY name;

-- covariances in scikit-learn's shapes: full K x D x D, tied D x D, diag K x D,
-- spherical K
SELECT name, gmm_covariances(m) AS covariances, array_dims(gmm_covariances(m)) AS dims
FROM models ORDER BY name;

-- precisions_cholesky_, same shapes.  By hand, for component 0 of "full",
-- cov = [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt(2)]], so
-- U = inv(L)^T = [[1/2, -1/(2 sqrt 2)], [0, 1/sqrt 2]]
--   = [[0.5, -0.35355339059327373], [0, 0.7071067811865475]],
-- and U U^T = [[0.375, -0.25], [-0.25, 0.5]] = inv(cov).  diag and spherical:
-- 1/sqrt(variance).  All values equal scikit-learn 1.2's
-- _compute_precision_cholesky on the same covariances.
SELECT name, gmm_precisions_cholesky(m) AS precisions_cholesky,
       array_dims(gmm_precisions_cholesky(m)) AS dims
FROM models ORDER BY name;
SELECT p[1][1][1] = 0.5 AS u11, abs(p[1][1][2] - (-1 / (2 * sqrt(2)))) < 1e-16 AS u12,
       p[1][2][1] = 0 AS u21, abs(p[1][2][2] - 1 / sqrt(2)) < 1e-16 AS u22,
       -- U U^T = inv(cov)
       abs(p[1][1][1] ^ 2 + p[1][1][2] ^ 2 - 0.375) < 1e-15 AS prec11,
       abs(p[1][1][2] * p[1][2][2] - (-0.25)) < 1e-15 AS prec12,
       abs(p[1][2][2] ^ 2 - 0.5) < 1e-15 AS prec22
FROM (SELECT gmm_precisions_cholesky(m) AS p FROM models WHERE name = 'full') s;

-- fit metadata: given for "full", defaults elsewhere (lower bound and
-- log-likelihood NULL when the model has none)
SELECT name, gmm_converged(m) AS converged, gmm_n_iter(m) AS n_iter,
       gmm_lower_bound(m) AS lower_bound, gmm_log_likelihood(m) AS log_likelihood,
       gmm_n_samples(m) AS n_samples, gmm_fit_options(m) AS options
FROM models ORDER BY name;

-- scikit-learn's _n_parameters: full 2*3 + 4 + 1 = 11, tied 3 + 4 + 1 = 8,
-- diag 6 + 6 + 1 = 13, spherical 3 + 3 + 2 = 8
SELECT name, gmm_n_parameters(m) FROM models ORDER BY name;

-- BIC and AIC on the training data, by hand for "full" (log_likelihood -1.5
-- per sample, n = 100, 11 parameters):
--   bic = -2 * (-1.5) * 100 + 11 * ln(100) = 300 + 50.65687204586901 = 350.656872045869
--   aic = -2 * (-1.5) * 100 + 2 * 11      = 322
SELECT gmm_bic(m), gmm_aic(m),
       abs(gmm_bic(m) - (300 + 11 * ln(100))) < 1e-12 AS bic_ok,
       gmm_aic(m) = 322 AS aic_ok
FROM models WHERE name = 'full';
-- weighted fits use n = sum_weights (here 50): 150 + 11 * ln(50) = 193.0322530597096
SELECT gmm_bic(m), gmm_aic(m)
FROM (SELECT (jsonb_set(m::jsonb, '{sum_weights}', '50'))::gmm AS m
      FROM models WHERE name = 'full') s;
-- a model without a training log-likelihood has no BIC
SELECT gmm_bic(m) FROM models WHERE name = 'tied';
SELECT gmm_aic('{"weights": [1], "means": [[0]], "covariances": [[[1]]], "log_likelihood": -1}'::gmm);

-- one row per component, covariance expanded to D x D for every type
SELECT name, c.* FROM models, gmm_components(m) c ORDER BY name, component;

-- NULL in, NULL out
SELECT gmm_n_components(NULL) IS NULL AS k, gmm_weights(NULL) IS NULL AS w,
       gmm_covariances(NULL) IS NULL AS c, gmm_bic(NULL) IS NULL AS bic,
       gmm_fit_options(NULL) IS NULL AS options,
       (SELECT count(*) FROM gmm_components(NULL)) AS components;

-- gmm.blas_threads: 1 by default, 1..64
SHOW gmm.blas_threads;
SET gmm.blas_threads = 2;
SHOW gmm.blas_threads;
SET gmm.blas_threads = 0;
SET gmm.blas_threads = 65;
RESET gmm.blas_threads;

-- which BLAS the backend runs (the paths depend on the system)
SELECT gmm_blas_info() ~ '^blas: .*; lapack: ' AS blas_info;

DROP TABLE models;
