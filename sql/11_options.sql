-- Fit options: gmm_options(), every option, every covariance type and
-- initialisation, and the errors for bad options.
SET extra_float_digits = 0;

SELECT gmm_options();
SELECT gmm_options(max_iter => 200, tol => 1e-4, covariance_type => 'diag');
SELECT gmm_options(means_init => '{{1,2},{3,4}}');

CREATE TABLE opt_pts AS
SELECT i, ARRAY[(i % 5)::float8 + 10 * (i % 2), ((i * 7) % 9)::float8 - 8 * (i % 2)] AS x
FROM generate_series(1, 40) i;

-- each covariance type gives its own shapes
SELECT t, gmm_covariance_type(m), array_dims(gmm_covariances(m)) AS cov_dims,
	   gmm_n_parameters(m) AS n_params
FROM (VALUES ('full'), ('tied'), ('diag'), ('spherical')) v(t),
	 LATERAL (SELECT gmm_fit(x, 2, gmm_options(covariance_type => t)) AS m FROM opt_pts) f
ORDER BY t;

-- each initialisation runs and is recorded in the model
SELECT method, gmm_fit_options(m)->>'init_params' AS recorded, gmm_n_components(m)
FROM (VALUES ('kmeans'), ('k-means++'), ('random'), ('random_from_data')) v(method),
	 LATERAL (SELECT gmm_fit(x, 2, gmm_options(init_params => method)) AS m FROM opt_pts) f
ORDER BY method;

-- the options used are recorded
SELECT gmm_fit_options(gmm_fit(x, 2, '{"tol": 0.01, "reg_covar": 0.001, "random_state": 7, "n_init": 2}'))
FROM opt_pts;

-- n_init keeps the best lower bound: never worse than the first run alone
SELECT gmm_lower_bound(gmm_fit(x, 3, '{"n_init": 4, "init_params": "random"}'))
	   >= gmm_lower_bound(gmm_fit(x, 3, '{"n_init": 1, "init_params": "random"}')) AS best_of_four
FROM opt_pts;

-- random_state changes a random initialisation, and the same one repeats
SELECT gmm_fit(x, 3, '{"init_params": "random", "random_state": 1, "max_iter": 2}')::bytea
	 = gmm_fit(x, 3, '{"init_params": "random", "random_state": 1, "max_iter": 2}')::bytea AS same_seed_same_model,
	   gmm_fit(x, 3, '{"init_params": "random", "random_state": 1, "max_iter": 2}')::bytea
	 <> gmm_fit(x, 3, '{"init_params": "random", "random_state": 2, "max_iter": 2}')::bytea AS other_seed_other_model
FROM opt_pts;

-- max_iter reached: a warning, converged = false, n_iter = max_iter
SELECT gmm_converged(m), gmm_n_iter(m)
FROM (SELECT gmm_fit(x, 2, '{"max_iter": 1, "tol": 0, "init_params": "random"}') AS m FROM opt_pts) f;

-- max_iter 0 initialises only
SELECT gmm_converged(m), gmm_n_iter(m)
FROM (SELECT gmm_fit(x, 2, '{"max_iter": 0}') AS m FROM opt_pts) f;

-- null means the default
SELECT gmm_fit_options(gmm_fit(x, 1, '{"tol": null}'))->>'tol' AS tol FROM opt_pts;

-- errors: each names the option
SELECT gmm_fit(x, 2, '{"max_iters": 10}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"max_iter": "ten"}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"max_iter": 2.5}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"max_iter": -1}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"tol": -0.1}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"reg_covar": "big"}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"n_init": 0}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"random_state": -3}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"covariance_type": "ful"}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"init_params": "kmeans+"}') FROM opt_pts;
SELECT gmm_fit(x, 2, '[1, 2]') FROM opt_pts;
SELECT gmm_fit(x, 2, '3') FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(weights_init => '{0.5,0.4}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(weights_init => '{0.5,0.3,0.2}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(weights_init => '{1.5,-0.5}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(means_init => '{1,2}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(means_init => '{{1,2,3},{4,5,6}}')) FROM opt_pts;
SELECT gmm_fit(x, 2, '{"means_init": [[1, 2], [3]]}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"means_init": [[1, "a"], [3, 4]]}') FROM opt_pts;
SELECT gmm_fit(x, 2, '{"means_init": []}') FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(precisions_init => '{{1,0},{0,1}}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(precisions_init => '{{{1,0.5},{0,1}},{{1,0},{0,1}}}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(precisions_init => '{{{1,2},{2,1}},{{1,0},{0,1}}}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(covariance_type => 'diag', precisions_init => '{{1,0},{1,1}}')) FROM opt_pts;
SELECT gmm_fit(x, 2, gmm_options(covariance_type => 'spherical', precisions_init => '{1,2,3}')) FROM opt_pts;
