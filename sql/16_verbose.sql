-- verbose and verbose_interval: scikit-learn's progress messages as NOTICEs
-- (_print_verbose_msg_init_beg, _iter_end, _init_end of sklearn/mixture/_base.py):
-- "initialization N" at the start of each run, every verbose_interval-th
-- iteration with the change of the lower bound (level 2: and the lower bound,
-- the time as a DETAIL, hidden here by VERBOSITY terse), and whether the run
-- converged at its end.
SET extra_float_digits = 0;
\set VERBOSITY terse
-- two overlapping clusters, deterministic rows (EM takes a few tens of iterations)
CREATE TABLE vrows AS
SELECT i, ARRAY[1.5 * (i % 2) + sin(i), cos(1.3 * i) + 0.5 * (i % 2)] AS x, 1 + (i % 3) AS w
FROM generate_series(1, 200) i;

-- level 1, every iteration: the first change is from minus infinity
SELECT gmm_n_iter(gmm_fit(x, 2, '{"verbose": 1, "verbose_interval": 1, "max_iter": 3, "tol": 0}'))
FROM vrows;
-- verbose_interval 2: iterations 2 and 4 only; n_init 2: two initializations
SELECT gmm_n_iter(gmm_fit(x, 2, '{"verbose": 1, "verbose_interval": 2, "max_iter": 4, "tol": 0, "n_init": 2}'))
FROM vrows;
-- a run that converges says so; the default interval is 10 (no iteration line)
SELECT gmm_converged(gmm_fit(x, 2, '{"verbose": 1}')) FROM vrows;
-- level 2 adds the lower bound
SELECT gmm_n_iter(gmm_fit(x, 2, gmm_options(verbose => 2, verbose_interval => 1, max_iter => 2, tol => 0)))
FROM vrows;
-- verbose 0 and false are silent; true is level 1 (gmm 1.0's gmm_train took a boolean)
SELECT gmm_n_iter(gmm_fit(x, 2, '{"verbose": 0}')) FROM vrows;
SELECT gmm_n_iter(gmm_fit(x, 2, '{"verbose": false}')) FROM vrows;
SELECT gmm_n_iter(gmm_fit(x, 2, '{"verbose": true, "max_iter": 1, "verbose_interval": 1}')) FROM vrows;

-- every fitting aggregate reports
SELECT gmm_n_iter(gmm_fit_weighted(x, w, 2, '{"verbose": 1, "verbose_interval": 1, "max_iter": 2, "tol": 0}'))
FROM vrows;
CREATE TABLE vmodel AS SELECT gmm_fit(x, 2, '{"max_iter": 2, "tol": 0}') AS m FROM vrows;
SELECT gmm_n_iter(gmm_refit(x, (SELECT m FROM vmodel), '{"verbose": 1, "verbose_interval": 1, "max_iter": 2, "tol": 0}'))
FROM vrows;
SELECT gmm_n_iter(gmm_refit_weighted(x, w, (SELECT m FROM vmodel), '{"verbose": 1, "verbose_interval": 1, "max_iter": 1, "tol": 0}'))
FROM vrows;
SELECT gmm_n_components(gmm_fit_auto(x, 1, 2, '{"verbose": 1, "verbose_interval": 1, "max_iter": 1, "tol": 0}'))
FROM vrows;

-- gmm_train: the same scheme, one iteration per pass
SELECT gmm_n_iter(gmm_train('vrows', 'x', 2, '{"verbose": 1, "verbose_interval": 1, "max_iter": 2, "tol": 0}'));
SELECT gmm_n_iter(gmm_train('vrows', 'x', 2, '{"verbose": true, "max_iter": 20}'));

-- gmm_options builds the two options, and leaves them out by default
SELECT gmm_options(verbose => 2, verbose_interval => 5) ? 'verbose' AS has,
	   gmm_options(verbose => 2, verbose_interval => 5)->>'verbose_interval' AS interval,
	   gmm_options() ? 'verbose' AS default_has;

-- errors
SELECT gmm_fit(x, 2, '{"verbose": 3}') FROM vrows;
SELECT gmm_fit(x, 2, '{"verbose": -1}') FROM vrows;
SELECT gmm_fit(x, 2, '{"verbose": 1.5}') FROM vrows;
\set VERBOSITY default
SELECT gmm_fit(x, 2, '{"verbose": "yes"}') FROM vrows;
\set VERBOSITY terse
SELECT gmm_fit(x, 2, '{"verbose_interval": 0}') FROM vrows;
SELECT gmm_fit(x, 2, '{"verbose_interval": "10"}') FROM vrows;
SELECT gmm_train('vrows', 'x', 2, '{"verbose": 7}');
SELECT gmm_fit(x, 2, '{"verbosity": 1}') FROM vrows;
