-- Fit option rng: 'xoshiro256' (ours, the default) or 'sklearn' (numpy's
-- legacy RandomState seeded with random_state, and scikit-learn 1.2's own
-- draws), the model's rng field, and the errors.  The full comparison with
-- scikit-learn is test/conformance/sklearn_rng.py; the numbers here are
-- GaussianMixture(2, covariance_type, init_params, n_init, random_state=42)
-- .fit(X) of Debian's scikit-learn 1.2.1 on the same 40 rows.
CREATE FUNCTION err(q text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  state := '00000';
  message := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $f$;

-- two blobs (numpy RandomState(5), rounded to 3 decimals), in id order
CREATE TABLE rrows (id int, x float8[]);
INSERT INTO rrows VALUES (1, '{0.441, -0.331}'), (2, '{2.431, -0.252}'), (3, '{0.11, 1.582}'), (4, '{-0.909, -0.592}'), (5, '{0.188, -0.33}'), (6, '{-1.193, -0.205}'), (7, '{-0.359, 0.603}'), (8, '{-1.665, -0.7}'), (9, '{1.151, 1.857}'), (10, '{-1.511, 0.645}'), (11, '{-0.981, -0.857}'), (12, '{-0.872, -0.423}'), (13, '{0.996, 0.712}'), (14, '{0.059, -0.363}'), (15, '{0.003, -0.106}'), (16, '{0.793, -0.632}'), (17, '{-0.006, -0.101}'), (18, '{-0.052, 0.249}'), (19, '{0.198, 1.335}'), (20, '{-0.087, 1.562}'), (21, '{3.786, 0.666}'), (22, '{4.071, 1.249}'), (23, '{4.189, 1.904}'), (24, '{4.798, 1.346}'), (25, '{3.765, 0.93}'), (26, '{4.989, 1.155}'), (27, '{3.082, 0.517}'), (28, '{3.596, 1.807}'), (29, '{3.925, 2.582}'), (30, '{4.46, 1.087}'), (31, '{3.695, 1.681}'), (32, '{3.832, 0.423}'), (33, '{4.398, 1.009}'), (34, '{4.832, 0.948}'), (35, '{1.998, 1.553}'), (36, '{2.686, 2.077}'), (37, '{5.275, 0.701}'), (38, '{3.185, 0.022}'), (39, '{4.611, 0.859}'), (40, '{3.581, 0.83}');

SELECT gmm_options(rng => 'sklearn', random_state => 42);

-- scikit-learn's fits: n_iter, weights, means, lower_bound_ and predict(X)
CREATE TABLE skl (init text, cov text, n_init int, n_iter int, weights float8[],
	means float8[], lower_bound float8, labels int[]);
INSERT INTO skl VALUES
('kmeans', 'full', 1, 3, '{0.516046625667, 0.483953374333}',
 '{{3.896507644978, 1.092726703408}, {-0.151987001177, 0.229520193105}}', -2.9643052395968184,
 '{1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}'),
('random_from_data', 'diag', 3, 5, '{0.512222667871, 0.487777332129}',
 '{{3.902774047474, 1.119908385389}, {-0.126829048049, 0.207743436175}}', -3.0137879943500723,
 '{1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}'),
('random', 'tied', 1, 2, '{0.451617780181, 0.548382219819}',
 '{{1.764959311678, 0.650894801124}, {2.079093654653, 0.694806142531}}', -3.3023568624328745,
 '{1,1,1,1,1,0,1,0,1,0,1,1,1,1,1,1,1,1,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}'),
('k-means++', 'spherical', 3, 4, '{0.482687590288, 0.517312409712}',
 '{{-0.154891913886, 0.212294798766}, {3.889312080855, 1.106687031676}}', -3.025327400601447,
 '{0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}');

CREATE TABLE fits AS
SELECT s.init, s.cov, s.n_init,
	(SELECT gmm_fit(x, 2, gmm_options(covariance_type => s.cov, init_params => s.init,
		n_init => s.n_init, random_state => 42, rng => 'sklearn') ORDER BY id) FROM rrows) AS m
FROM skl s;
SELECT f.init, f.cov, f.n_init, gmm_n_iter(f.m) = s.n_iter AS same_n_iter,
	(SELECT max(abs(a - b)) < 1e-6 FROM unnest(gmm_weights(f.m), s.weights) u(a, b)) AS weights,
	(SELECT max(abs(a - b)) < 1e-6 FROM unnest(gmm_means(f.m), s.means) u(a, b)) AS means,
	abs(gmm_lower_bound(f.m) - s.lower_bound) < 1e-6 AS lower_bound,
	(SELECT array_agg(gmm_predict(f.m, x) ORDER BY id) FROM rrows) = s.labels AS labels
FROM fits f JOIN skl s USING (init, cov, n_init) ORDER BY 1;

-- the same seed gives the same model; the default generator another one
SELECT count(DISTINCT m::text) AS models FROM
	(SELECT (SELECT gmm_fit(x, 2, '{"random_state": 42, "rng": "sklearn"}' ORDER BY id) FROM rrows) AS m
	 FROM generate_series(1, 3)) s;
SELECT (SELECT gmm_fit(x, 2, '{"random_state": 42, "rng": "sklearn", "init_params": "random"}' ORDER BY id) FROM rrows)::text
	<> (SELECT gmm_fit(x, 2, '{"random_state": 42, "init_params": "random"}' ORDER BY id) FROM rrows)::text AS differs;
-- "rng": "xoshiro256" is the default, byte for byte
SELECT (SELECT gmm_fit(x, 2, '{"random_state": 3, "rng": "xoshiro256"}' ORDER BY id) FROM rrows)::bytea
	= (SELECT gmm_fit(x, 2, '{"random_state": 3}' ORDER BY id) FROM rrows)::bytea AS same;

-- the model keeps the generator: format version 2, "rng" in its options
SELECT gmm_format_version(m), gmm_fit_options(m) ->> 'rng' AS rng, get_byte(m::bytea, 88) AS byte88,
	gmm_fit_options(m) ->> 'random_state' AS random_state
FROM fits WHERE init = 'kmeans';
SELECT gmm_format_version(m), gmm_fit_options(m) ? 'rng' AS has_rng
FROM (SELECT gmm_fit(x, 2) AS m FROM rrows) s;
-- gmm_refit and gmm_fit_auto keep it
SELECT gmm_fit_options(r) ->> 'rng' AS refit_rng, gmm_format_version(r)
FROM (SELECT gmm_refit(x, (SELECT m FROM fits WHERE init = 'kmeans'), '{"max_iter": 5}') AS r FROM rrows) s;
SELECT gmm_fit_options(a) ->> 'rng' AS auto_rng, gmm_n_components(a), gmm_format_version(a)
FROM (SELECT gmm_fit_auto(x, 1, 3, '{"random_state": 42, "rng": "sklearn"}' ORDER BY id) AS a FROM rrows) s;
-- a refit can switch back, and a version 1 model results
SELECT gmm_fit_options(r) ? 'rng' AS has_rng, gmm_format_version(r)
FROM (SELECT gmm_refit(x, (SELECT m FROM fits WHERE init = 'kmeans'), '{"rng": "xoshiro256"}') AS r FROM rrows) s;
-- the refit of a weighted table keeps rng too (it draws nothing)
SELECT gmm_fit_options(gmm_refit_weighted(x, 2.0, (SELECT m FROM fits WHERE init = 'kmeans'))) ->> 'rng' AS rng
FROM rrows;

\x on
-- ---------------------------------------------------- errors
SELECT * FROM err($$ SELECT gmm_fit(x, 2, '{"rng": "mt19937"}') FROM rrows $$);
SELECT * FROM err($$ SELECT gmm_fit(x, 2, '{"rng": 1}') FROM rrows $$);
SELECT * FROM err($$ SELECT gmm_fit(x, 2, gmm_options(rng => 'numpy')) FROM rrows $$);
-- numpy's seeds are 32-bit
SELECT * FROM err($$ SELECT gmm_fit(x, 2, '{"rng": "sklearn", "random_state": 4294967296}') FROM rrows $$);
SELECT * FROM err($$ SELECT gmm_fit(x, 2, '{"random_state": 4294967295, "rng": "sklearn"}') FROM rrows $$);
SELECT * FROM err($$ SELECT gmm_refit(x, (SELECT m FROM fits WHERE init = 'kmeans'), '{"random_state": 4294967296}') FROM rrows $$);
-- scikit-learn has no sample weights and no sample-based initialisation
SELECT * FROM err($$ SELECT gmm_fit_weighted(x, 1.0, 2, '{"rng": "sklearn"}') FROM rrows $$);
SELECT * FROM err($$ SELECT gmm_init(x, 2, '{"rng": "sklearn"}') FROM rrows $$);
SELECT * FROM err($$ SELECT gmm_train('rrows', 'x', 2, '{"rng": "sklearn"}') $$);
\x off
DROP TABLE rrows, skl, fits;
DROP FUNCTION err(text);
