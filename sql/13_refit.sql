-- gmm_refit / gmm_refit_weighted: EM continues from a given model (warm start).
SET extra_float_digits = 0;
CREATE OR REPLACE FUNCTION gauss() RETURNS float8 LANGUAGE sql VOLATILE AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
SELECT setseed(0.5);
-- "yesterday" and "today": the same three clusters, today shifted a little
CREATE TABLE days AS
SELECT day, c, r, ARRAY[10 * c + gauss() + 2 * day, 5 * (c % 2) + gauss()] AS x
FROM generate_series(0, 1) day, generate_series(0, 2) c, generate_series(1, 200) r;
CREATE TABLE yesterday AS
SELECT gmm_fit(x, 3, '{"tol": 1e-4}') AS m FROM days WHERE day = 0;

-- today's refit keeps K, the covariance type and the recorded options, and
-- converges in a few iterations from yesterday's parameters
SELECT gmm_n_components(r), gmm_covariance_type(r), gmm_converged(r),
	   gmm_n_iter(r) <= 5 AS few_iterations,
	   gmm_fit_options(r)->>'tol' AS tol, gmm_n_samples(r)
FROM (SELECT gmm_refit(x, (SELECT m FROM yesterday)) AS r FROM days WHERE day = 1) f;

-- the refit model follows today's data: each mean moved by about +2 in x1
-- (tolerance 0.5: five standard errors of a difference of two means of 200
-- unit-variance draws)
SELECT bool_and(abs((gmm_means(r))[j][1] - (gmm_means(y.m))[j][1] - 2) < 0.5) AS moved
FROM (SELECT gmm_refit(x, (SELECT m FROM yesterday)) AS r FROM days WHERE day = 1) f,
	 yesterday y, generate_series(1, 3) j;

-- options override the model's: max_iter 1 stops after one iteration
SELECT gmm_n_iter(gmm_refit(x, (SELECT m FROM yesterday), '{"max_iter": 1, "tol": 0}'))
FROM days WHERE day = 1;

-- refit on the training rows of a converged model barely moves it
SELECT abs(gmm_lower_bound(r) - gmm_log_likelihood(y.m)) < 1e-3 AS stable
FROM (SELECT gmm_refit(x, (SELECT m FROM yesterday)) AS r FROM days WHERE day = 0) f, yesterday y;

-- every covariance type warm-starts
SELECT t, gmm_covariance_type(gmm_refit(x, m)) = t AS kept
FROM (SELECT t, gmm_fit(x, 2, gmm_options(covariance_type => t)) AS m
	  FROM days, (VALUES ('full'), ('tied'), ('diag'), ('spherical')) v(t)
	  WHERE day = 0 GROUP BY t) fits, days
WHERE day = 1 GROUP BY t, m::bytea ORDER BY t;

-- weighted refit over distinct rows equals refit over the repeated rows
CREATE TABLE wdays AS SELECT x, 1 + (c + r) % 3 AS w FROM days WHERE day = 1 AND r <= 40;
WITH a AS (SELECT gmm_refit_weighted(x, w, (SELECT m FROM yesterday)) AS m FROM wdays),
	 b AS (SELECT gmm_refit(x, (SELECT m FROM yesterday)) AS m
		   FROM (SELECT x FROM wdays, generate_series(1, w)) s)
SELECT gmm_n_iter(a.m) = gmm_n_iter(b.m) AS same_iter,
	   (SELECT max(abs(u - v)) FROM unnest(gmm_means(a.m), gmm_means(b.m)) t(u, v)) < 1e-9 AS same_means,
	   (SELECT max(abs(u - v)) FROM unnest(gmm_covariances(a.m), gmm_covariances(b.m)) t(u, v)) < 1e-9 AS same_covs
FROM a, b;

-- errors
SELECT gmm_refit(ARRAY[x[1], x[2], 0], (SELECT m FROM yesterday)) FROM days;
SELECT gmm_refit(x[1:1], (SELECT m FROM yesterday)) FROM days;
SELECT gmm_refit(x, (SELECT m FROM yesterday), '{"covariance_type": "diag"}') FROM days;
SELECT gmm_refit(x, (SELECT m FROM yesterday), gmm_options(means_init => '{{1,2},{3,4},{5,6}}')) FROM days;
SELECT gmm_refit(x, NULL::gmm) FROM days;
SELECT gmm_refit(x, (SELECT m FROM yesterday)) FROM days WHERE c = 0 AND r <= 2 AND day = 0;

-- warm start as scikit-learn's (warm_start=True keeps lower_bound_): the first
-- iteration of a refit compares with the input model's lower bound, so chained
-- refits with max_iter 1 converge, and EM never lowers the bound
DO $$
DECLARE
	m gmm;
	prev float8;
	calls int := 1;
	monotonic bool := true;
BEGIN
	SET LOCAL client_min_messages = error;	-- each unconverged call warns
	SELECT gmm_fit(x, 3, '{"max_iter": 1, "init_params": "random_from_data", "random_state": 3}') INTO m
	FROM days WHERE day = 0;
	WHILE NOT gmm_converged(m) AND calls < 200 LOOP
		prev := gmm_lower_bound(m);
		SELECT gmm_refit(x, m, '{"max_iter": 1}') INTO m FROM days WHERE day = 0;
		calls := calls + 1;
		monotonic := monotonic AND gmm_lower_bound(m) >= prev - 1e-12 * abs(prev);
		IF gmm_n_iter(m) <> 1 THEN
			RAISE EXCEPTION 'refit with max_iter 1 ran % iterations', gmm_n_iter(m);
		END IF;
	END LOOP;
	SET LOCAL client_min_messages = notice;
	RAISE NOTICE 'converged: %, monotonic: %, more than 2 calls: %, within 200 calls: %',
		gmm_converged(m), monotonic, calls > 2, calls < 200;
END
$$;
-- a refit of a converged model converges at its first iteration: the bound
-- changes by less than tol from the stored one
SELECT gmm_n_iter(r), gmm_converged(r)
FROM (SELECT gmm_refit(x, (SELECT m FROM yesterday)) AS r FROM days WHERE day = 0) f;
-- a model without a lower bound (max_iter 0) starts the test from minus infinity
SELECT gmm_n_iter(gmm_refit(x, m0, '{"max_iter": 1}')) AS n_iter,
	   gmm_converged(gmm_refit(x, m0, '{"max_iter": 1}')) AS converged
FROM (SELECT gmm_fit(x, 3, '{"max_iter": 0}') AS m0 FROM days WHERE day = 0) z, days WHERE day = 0
GROUP BY m0::bytea;
