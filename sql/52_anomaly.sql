-- Anomaly detection (issue 11): calibration stored in fitted models, gmm_calibrate,
-- gmm_score_percentile, gmm_score_threshold, gmm_mahalanobis, gmm_explain.
-- Golden numbers are hand derivations given in the comments.
SET extra_float_digits = 0;

-- a version-1 fixture model (test/fixtures/models_v1.tsv, spherical): it loads, scores as
-- before, and has no calibration, so percentiles and thresholds name gmm_calibrate
CREATE TABLE v1 AS SELECT '{"format_version": 1, "covariance_type": "spherical", "n_components": 3, "n_features": 3, "weights": [0.3333333333333411, 0.33333333333335063, 0.3333333333333082], "means": [[-0.003709096069035425, 0.005438159493659569, 0.0038972100248869474], [8.001674858292747, 3.9989721298901757, 0.006252447070343584], [4.005518955664544, 1.9948267113153597, 0.007761444736393052]], "covariances": [0.2092060136524093, 0.2150500080926989, 0.2010789274353724], "converged": true, "n_iter": 2, "lower_bound": -3.002731557881646, "log_likelihood": -3.002731557881646, "n_samples": 300, "sum_weights": 300, "options": {"max_iter": 100, "tol": 0.001, "reg_covar": 1e-06, "random_state": 7, "init_params": "kmeans", "n_init": 1}}'::gmm AS m
UNION ALL SELECT decode('474d4d4201030001000000030000000300000002000000640000000100000000000000000000012c00000000000000074072c00000000000c00805981f7e2681c00805981f7e26813f50624dd2f1a9fc3eb0c6f7a0b5ed8d000000000000000000000000000000003fd55555555555e13fd555555555568d3fd5555555555391bf6e6289ca0e2aa03f764652d2cfaa8f3f6fed0ab347f2d6402000db86eb2f81400ffde5199bf33d3f799c2a7afe591d401005a6c2d859633fffeacf69e496563f7fca76f50014723fcac7433d61be8b3fcb86c237e19f673fc9bcf44c9ff591', 'hex')::gmm;
SELECT gmm_format_version(m), round(gmm_score_samples(m, '{0,0,0}')::numeric, 6) FROM v1;
SELECT gmm_score_percentile(m, '{0,0,0}') FROM v1 LIMIT 1;
SELECT gmm_score_threshold(m, 0.01) FROM v1 LIMIT 1;

-- rows x = (i - 0.5) / n on [0, 1], n = 10000, model N(0.5, 1): the log-density falls with
-- |x - 0.5|, so the fraction of rows below the row x is 1 - 2 |x - 0.5| (hand derivation)
CREATE TABLE u AS SELECT i, ARRAY[(i - 0.5) / 10000.0]::float8[] AS x
	FROM generate_series(1, 10000) i;
CREATE TABLE n1 AS SELECT '{"weights": [1], "means": [[0.5]], "covariances": [[[1]]]}'::gmm AS m;
SELECT gmm_score_percentile(m, '{0.5}') FROM n1;
CREATE TABLE c1 AS SELECT gmm_calibrate(x, (SELECT m FROM n1)) AS m FROM u;
SELECT gmm_format_version(m), (m::text::jsonb->'calibration'->>'n_rows')::int AS n_rows,
	jsonb_array_length(m::text::jsonb->'calibration'->'quantiles') AS knots FROM c1;
-- min -0.5 log(2 pi) - 0.49995^2 / 2 = -1.04391353, max -0.5 log(2 pi) - 0.00005^2 / 2 = -0.91893853
SELECT round((m::text::jsonb->'calibration'->>'min')::numeric, 8) AS min,
	round((m::text::jsonb->'calibration'->>'max')::numeric, 8) AS max FROM c1;
SELECT x, round(gmm_score_percentile(m, ARRAY[x])::numeric, 3) AS pct,
	abs(gmm_score_percentile(m, ARRAY[x]) - greatest(1 - 2 * abs(x - 0.5), 0)) < 0.005 AS within
	FROM c1, unnest('{0.5, 0.45, 0.3, 0.1, 0.01, 0.001, 0.0, -3, 7}'::float8[]) x;
-- threshold(q): the log-density at |x - 0.5| = (1 - q) / 2: -0.5 log(2 pi) - ((1 - q) / 2)^2 / 2
SELECT q, round(gmm_score_threshold(m, q)::numeric, 4) AS threshold,
	abs(gmm_score_threshold(m, q) - (-0.5 * ln(2 * pi()) - ((1 - q) / 2) ^ 2 / 2)) < 1e-3 AS within
	FROM c1, unnest('{0, 0.001, 0.01, 0.2, 0.5, 0.9, 1}'::float8[]) q;
-- inverse of each other
SELECT bool_and(abs(gmm_score_percentile(m, ARRAY[0.5 - sqrt(2 * (-0.5 * ln(2 * pi()) - gmm_score_threshold(m, q / 100.0)))]) - q / 100.0) < 1e-6)
	FROM c1, generate_series(1, 99) q;
SELECT gmm_score_threshold(m, 1.5) FROM c1;
SELECT gmm_score_threshold(m, 'NaN') FROM c1;
SELECT gmm_score_percentile(m, '{1,2}') FROM c1;
SELECT gmm_score_percentile(m, NULL), gmm_score_threshold(m, NULL) FROM c1;
-- weighted: weight 2 on every row is the same distribution
SELECT (SELECT m FROM c1)::text::jsonb->'calibration'->'quantiles' =
	(gmm_calibrate(x, 2.0, (SELECT m FROM n1))::text::jsonb->'calibration'->'quantiles')
	FROM u;
-- no rows, NULL rows
SELECT gmm_calibrate(x, m) IS NULL FROM u, n1 WHERE false;
SELECT gmm_calibrate(NULL::float8[], m) IS NULL FROM n1;
SELECT gmm_calibrate(x, m) FROM (VALUES ('{1,2}'::float8[])) t(x), n1;
-- recalibrating replaces the calibration; other fields stay
SELECT gmm_calibrate(x, (SELECT m FROM c1))::bytea = (SELECT m FROM c1)::bytea FROM u;

-- text and binary round trips of a calibrated model
SELECT m::text::gmm::bytea = m::bytea AS text_trip, m::bytea::gmm::text = m::text AS binary_trip FROM c1;
CREATE TABLE c1copy (m gmm);
COPY c1 TO '/tmp/gmm_52_anomaly.bin' WITH (FORMAT binary);
COPY c1copy FROM '/tmp/gmm_52_anomaly.bin' WITH (FORMAT binary);
SELECT (SELECT m::bytea FROM c1) = (SELECT m::bytea FROM c1copy) AS copy_binary_trip;
-- the section's checks, through the text form
SELECT jsonb_set(m::text::jsonb, '{calibration,n_rows}', '0')::gmm FROM c1;
SELECT jsonb_set(m::text::jsonb, '{calibration,sd}', '-1')::gmm FROM c1;
SELECT jsonb_set(m::text::jsonb, '{calibration,quantiles,3}', '5')::gmm FROM c1;
SELECT jsonb_set(m::text::jsonb, '{calibration,quantiles}', '[1]')::gmm FROM c1;
SELECT jsonb_set(m::text::jsonb, '{calibration,min}', '-2')::gmm FROM c1;
SELECT (m::text::jsonb #- '{calibration,mean}')::gmm FROM c1;
SELECT jsonb_set(m::text::jsonb, '{calibration,extra}', '1')::gmm FROM c1;
SELECT jsonb_set(m::text::jsonb, '{calibration}', '"x"')::gmm FROM c1;
-- a small hand-written calibration: two knots (q = 0 at -2, 1 at 0), linear between:
-- log N(0.5; 0.5, 1) = -0.918939, so (2 - 0.918939) / 2 = 0.540531; q = 0.25 at -1.5
SELECT gmm_score_percentile(m, '{0.5}'), gmm_score_threshold(m, 0.25)
	FROM (SELECT jsonb_set('{"weights": [1], "means": [[0.5]], "covariances": [[[1]]]}'::jsonb,
		'{calibration}', '{"n_rows": 4, "sum_weights": 4, "min": -2, "max": 0, "mean": -1, "sd": 0.5, "quantiles": [-2, 0]}')::gmm AS m) t;

-- parallel plans: the same calibration as the serial pass (the sketch is exact)
CREATE TABLE big AS SELECT ARRAY[sin(i * 0.37) * 3 + (i % 7), cos(i * 0.11) * 2]::float8[] AS x
	FROM generate_series(1, 30000) i;
ANALYZE big;
CREATE TABLE fitted AS SELECT gmm_fit(x, 3, '{"random_state": 1}') AS m FROM big;
CREATE TABLE serial AS SELECT gmm_calibrate(x, (SELECT m FROM fitted)) AS m FROM big;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
\i sql/include/plan_shape.sql
SELECT plan_shape('SELECT gmm_calibrate(x, (SELECT m FROM fitted)) FROM big');
SELECT gmm_calibrate(x, (SELECT m FROM fitted))::bytea = (SELECT m::bytea FROM serial) AS parallel_equals_serial FROM big;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- the fit carries the calibration of its final E-step: every row, mean = log_likelihood
SELECT gmm_format_version(m), (m::text::jsonb->'calibration'->>'n_rows')::int,
	abs((m::text::jsonb->'calibration'->>'mean')::float8 - (m::text::jsonb->>'log_likelihood')::float8) < 1e-12 AS mean_is_ll
	FROM fitted;
-- and it is the one gmm_calibrate computes from the same rows (to rounding of the E-step's blocks)
SELECT max(abs(a.v::float8 - b.v::float8)) < 1e-9 AS same_quantiles
	FROM jsonb_array_elements_text((SELECT m::text::jsonb->'calibration'->'quantiles' FROM fitted)) WITH ORDINALITY a(v, i)
	JOIN jsonb_array_elements_text((SELECT m::text::jsonb->'calibration'->'quantiles' FROM serial)) WITH ORDINALITY b(v, i) USING (i);
-- gmm_refit, gmm_fit_weighted, gmm_fit_auto carry one too
SELECT gmm_format_version(gmm_refit(x, (SELECT m FROM fitted))),
	gmm_format_version(gmm_fit_weighted(x, 1.0, 2)),
	gmm_format_version(gmm_fit_auto(x, 1, 2)) FROM big;
-- gmm_train's final pass is gmm_calibrate: its calibration is that of its model on the rows
CREATE TABLE trained AS SELECT gmm_train('big', 'x', 3, '{"random_state": 1}') AS m;
SELECT (m::text::jsonb->'calibration') = (SELECT gmm_calibrate(x, (SELECT m FROM trained))::text::jsonb->'calibration' FROM big) AS train_calibrated,
	(m::text::jsonb->'calibration'->>'mean')::float8 = (m::text::jsonb->>'log_likelihood')::float8 AS ll
	FROM trained;
-- one pass flags the unusual rows: about 1% below the training 1% threshold
SELECT round(avg((gmm_score_percentile(m, x) < 0.01)::int)::numeric, 3) FROM big, fitted;
SELECT abs(avg((gmm_score_samples(m, x) < gmm_score_threshold(m, 0.01))::int) - 0.01) < 0.0005 FROM big, fitted;
-- the states: gmm_calibrate's carries a sketch (flag 0x01 in the gmm_em_state format)
CREATE AGGREGATE calib_state(float8[], gmm) (SFUNC = gmm_calibrate_transfn, STYPE = gmm_em_state);
CREATE AGGREGATE step_state(float8[], gmm) (SFUNC = gmm_em_step_transfn, STYPE = gmm_em_state);
CREATE TABLE states AS SELECT (SELECT calib_state(x, (SELECT m FROM fitted)) FROM big) AS c,
	(SELECT step_state(x, (SELECT m FROM fitted)) FROM big) AS s;
SELECT substr(c::text, 13, 2) AS calib_flags, substr(s::text, 13, 2) AS step_flags FROM states;
-- text (and so binary) round trip of a state with a sketch, then the same model
SELECT gmm_calibrate_final(c::text::gmm_em_state)::bytea = (SELECT m::bytea FROM serial) FROM states;
-- combining a state with itself doubles the weight: the same distribution
SELECT gmm_calibrate_final(gmm_em_step_combine(c, c))::text::jsonb->'calibration'->'quantiles' =
	(SELECT m::text::jsonb->'calibration'->'quantiles' FROM serial) FROM states;
SELECT gmm_em_step_combine(c, s) FROM states;
SELECT gmm_calibrate_final(s) FROM states;
-- a truncated sketch is refused (test_core.c's test_sketch_deterministic corrupts every field)
SELECT left(c::text, -16)::gmm_em_state FROM states;
-- gmm_mahalanobis, hand derivations:
-- diag variances [4, 1], x - mu = [2, 1]: 4/4 + 1/1 = 2; second component mean [2, 1]: 0
SELECT gmm_mahalanobis('{"covariance_type": "diag", "weights": [0.5, 0.5], "means": [[0, 0], [2, 1]], "covariances": [[4, 1], [4, 1]]}', '{2, 1}');
-- full [[2, 1], [1, 2]] (inverse [[2, -1], [-1, 2]] / 3), x = [1, 0]: 2/3; [1, 1]: 2/3
SELECT array(SELECT round(v::numeric, 12) FROM unnest(gmm_mahalanobis('{"weights": [1], "means": [[0, 0]], "covariances": [[[2, 1], [1, 2]]]}', x)) v)
	FROM (VALUES ('{1, 0}'::float8[]), ('{1, 1}')) t(x);
-- tied [[2, 1], [1, 2]], spherical variance 2: |x|^2 / 2
SELECT array(SELECT round(v::numeric, 12) FROM unnest(gmm_mahalanobis('{"covariance_type": "tied", "weights": [0.5, 0.5], "means": [[0, 0], [1, 0]], "covariances": [[2, 1], [1, 2]]}', '{1, 0}')) v);
SELECT gmm_mahalanobis('{"covariance_type": "spherical", "weights": [0.5, 0.5], "means": [[0, 0], [1, 1]], "covariances": [2, 0.5]}', '{1, 1}');
SELECT gmm_mahalanobis(m, '{1, 2, 3}') FROM fitted;

-- gmm_explain, one full component N(0, [[2, 1], [1, 2]]) at x = [1, 0] (hand derivation):
-- x1 | x2 = 0 ~ N(0, 2 - 1/2 = 1.5): z = 1/sqrt(1.5) = 0.8165, log N(1; 0, 1.5) = -1.4550;
-- x2 | x1 = 1 ~ N(0.5, 1.5): z = -0.4082, log N(0; 0.5, 1.5) = -1.2050; least likely first
SELECT feature, value, round(expected::numeric, 6) AS expected, round(sd::numeric, 6) AS sd,
	round(z::numeric, 4) AS z, round(log_density::numeric, 4) AS log_density
	FROM gmm_explain('{"weights": [1], "means": [[0, 0]], "covariances": [[[2, 1], [1, 2]]]}', '{1, 0}');
-- diagonal: the conditional is the marginal; two components: a mixture of the conditionals
SELECT feature, round(expected::numeric, 6), round(sd::numeric, 6), round(log_density::numeric, 6)
	FROM gmm_explain('{"covariance_type": "diag", "weights": [1], "means": [[1, 2]], "covariances": [[4, 9]]}', '{3, 2}');
-- two well separated spherical components, x at the second: expected = its mean, sd = 1
SELECT feature, round(expected::numeric, 6), round(sd::numeric, 6)
	FROM gmm_explain('{"covariance_type": "spherical", "weights": [0.5, 0.5], "means": [[0, 0], [100, 100]], "covariances": [1, 1]}', '{100, 101}');
-- sum over features of log_density matches nothing in general, but with independent features
-- (one diag component) it is the row's log-density
SELECT round(sum(log_density)::numeric, 10) = round(gmm_score_samples('{"covariance_type": "diag", "weights": [1], "means": [[1, 2]], "covariances": [[4, 9]]}', '{3, 2}')::numeric, 10)
	FROM gmm_explain('{"covariance_type": "diag", "weights": [1], "means": [[1, 2]], "covariances": [[4, 9]]}', '{3, 2}');
SELECT * FROM gmm_explain((SELECT m FROM fitted), '{1}');
SELECT count(*) FROM v1, gmm_explain(m, '{0, 0, 0}');

-- ---- NULL elements (issue 11) ----
-- gmm_mahalanobis over the observed features, each component's observed block (hand derivations):
-- full [[2, 1], [1, 2]], x = [1, NULL]: 1 / 2; [NULL, 2]: 4 / 2 = 2
SELECT gmm_mahalanobis('{"weights": [1], "means": [[0, 0]], "covariances": [[[2, 1], [1, 2]]]}', x)
	FROM (VALUES ('{1, NULL}'::float8[]), ('{NULL, 2}')) t(x);
-- full 3-D: [[2, 1, 0], [1, 2, 0], [0, 0, 1]], x = [1, 0, NULL] is the 2-D case above: 2/3
SELECT round((gmm_mahalanobis('{"weights": [1], "means": [[0, 0, 0]], "covariances": [[[2, 1, 0], [1, 2, 0], [0, 0, 1]]]}', '{1, 0, NULL}'))[1]::numeric, 12);
-- diag variances [4, 1], x = [2, NULL]: 4/4 = 1, and 0 to the second component's mean [2, 1];
-- tied [[2, 1], [1, 2]], x = [NULL, 1]: 1/2 and (1 - 1)^2 / 2 = 0; spherical 2: 1/2
SELECT gmm_mahalanobis('{"covariance_type": "diag", "weights": [0.5, 0.5], "means": [[0, 0], [2, 1]], "covariances": [[4, 1], [4, 1]]}', '{2, NULL}') AS diag,
	gmm_mahalanobis('{"covariance_type": "tied", "weights": [0.5, 0.5], "means": [[0, 0], [0, 1]], "covariances": [[2, 1], [1, 2]]}', '{NULL, 1}') AS tied,
	gmm_mahalanobis('{"covariance_type": "spherical", "weights": [1], "means": [[0, 0]], "covariances": [2]}', '{NULL, 1}') AS spherical;
-- a row of NULLs only: NULL
SELECT gmm_mahalanobis(m, '{NULL, NULL}') IS NULL FROM fitted;
-- gmm_explain of N(0, [[2, 1], [1, 2]]) at x = [1, NULL] (hand derivation): feature 1 given no
-- other observed feature is N(0, 2): z = 1/sqrt(2), log N(1; 0, 2) = -log(4 pi)/2 - 1/4 = -1.5155;
-- feature 2 (missing) given x1 = 1: N(0 + 1/2, 2 - 1/2), sd sqrt(1.5) = 1.224745, value/z/log_density NULL
SELECT feature, value, round(expected::numeric, 6) AS expected, round(sd::numeric, 6) AS sd,
	round(z::numeric, 4) AS z, round(log_density::numeric, 4) AS log_density
	FROM gmm_explain('{"weights": [1], "means": [[0, 0]], "covariances": [[[2, 1], [1, 2]]]}', '{1, NULL}');
-- 3-D with feature 3 missing (independent of the others): features 1 and 2 as the complete
-- 2-D case above (-1.4550, -1.2050), feature 3 its own N(0, 1); missing features come last
SELECT feature, value, round(expected::numeric, 6) AS expected, round(sd::numeric, 6) AS sd,
	round(z::numeric, 4) AS z, round(log_density::numeric, 4) AS log_density
	FROM gmm_explain('{"weights": [1], "means": [[0, 0, 5]], "covariances": [[[2, 1, 0], [1, 2, 0], [0, 0, 1]]]}', '{1, 0, NULL}');
-- two spherical components far apart, x2 = 100 observed: x1 (missing) is the second's mean, sd 1;
-- x2 given no other observed feature is the mixture 0.5 N(0, 1) + 0.5 N(100, 1): mean 50,
-- sd sqrt(1 + 50^2) = 50.009999, z = 50 / 50.009999 = 0.9998, log(0.5 N(100; 100, 1)) = -1.6121
SELECT feature, value, round(expected::numeric, 6), round(sd::numeric, 6), round(z::numeric, 4) AS z,
	round(log_density::numeric, 4) AS log_density
	FROM gmm_explain('{"covariance_type": "spherical", "weights": [0.5, 0.5], "means": [[0, 0], [100, 100]], "covariances": [1, 1]}', '{NULL, 100}');
-- a row of NULLs only: no rows
SELECT count(*) FROM fitted, gmm_explain(m, '{NULL, NULL}');
-- rows in three missingness patterns, interleaved, in one scan: a call site keeps each
-- pattern's marginal from its first row on (gmm_prepared_marginal), so every row must still
-- get its own pattern's: its distances and explanation equal those of gmm_marginal over its
-- observed features, scoring the packed row as a complete one (all four covariance types)
CREATE TABLE pat4 AS SELECT t, gmm_fit(x, 2, ('{"random_state": 3, "covariance_type": "' || t || '"}')::jsonb) AS m
	FROM (SELECT ARRAY[sin(i * 0.37) * 3 + (i % 7), cos(i * 0.11) * 2 + (i % 7) * 0.3,
		(i % 5) * 0.7 + sin(i), cos(i * 0.7) - (i % 7) * 0.2]::float8[] AS x
		FROM generate_series(1, 400) i) s, unnest('{full,tied,diag,spherical}'::text[]) t
	GROUP BY t;
CREATE TABLE pat4rows AS SELECT i, obs,
	ARRAY(SELECT CASE WHEN f = ANY (obs) THEN x[f] END FROM generate_series(1, 4) f) AS xm,
	ARRAY(SELECT x[o] FROM unnest(obs) o) AS xo
	FROM (SELECT i, ARRAY[sin(i * 0.53) * 3 + (i % 7), cos(i * 0.29) * 2, (i % 3) * 0.9, sin(i * 1.7)]::float8[] AS x,
		(ARRAY['{1,3,4}', '{2,4}', '{1,2,3}'])[i % 3 + 1]::int[] AS obs
		FROM generate_series(1, 60) i) s;
-- (per model, the rows in order inside a LATERAL subquery that OFFSET 0 keeps from being
-- flattened: a plan that took the models innermost would reset the cache at every row)
SELECT t, count(*) AS rows, bool_and(ok) AS mahalanobis_same
	FROM pat4, LATERAL (SELECT (SELECT bool_and(abs(a - b) <= 1e-11 * greatest(abs(b), 1))
			FROM unnest(gmm_mahalanobis(pat4.m, xm), gmm_mahalanobis(gmm_marginal(pat4.m, obs), xo)) u(a, b)) AS ok
		FROM pat4rows ORDER BY i OFFSET 0) r
	GROUP BY t ORDER BY t;
SELECT t, count(*) AS features, bool_and(same) AS explain_same
	FROM pat4, LATERAL (SELECT abs(e.expected - f.expected) <= 1e-11 * greatest(abs(f.expected), 1)
			AND abs(e.sd - f.sd) <= 1e-11 * f.sd AND abs(e.z - f.z) <= 1e-11 * greatest(abs(f.z), 1)
			AND abs(e.log_density - f.log_density) <= 1e-11 * greatest(abs(f.log_density), 1) AS same
		FROM (SELECT * FROM pat4rows ORDER BY i OFFSET 0) r, gmm_explain(pat4.m, r.xm) e,
			gmm_explain(gmm_marginal(pat4.m, r.obs), r.xo) f
		WHERE e.feature = r.obs[f.feature] OFFSET 0) x
	GROUP BY t ORDER BY t;
-- a Bayesian model refuses rows with NULL elements, as gmm_score_samples does
CREATE TABLE bayes AS SELECT gmm_fit_bayesian(x, 2, '{"random_state": 1}') AS m FROM (SELECT x FROM big LIMIT 300) t;
SELECT gmm_mahalanobis(m, '{1, NULL}') FROM bayes;
SELECT * FROM gmm_explain((SELECT m FROM bayes), '{1, NULL}');
SELECT array_length(gmm_mahalanobis(m, '{1, 2}'), 1), (SELECT count(*) FROM gmm_explain((SELECT m FROM bayes), '{1, 2}')) FROM bayes;
-- percentiles of rows with NULL elements are refused: the calibration is of complete rows
SELECT gmm_score_percentile(m, '{1, NULL}') FROM fitted;
SELECT gmm_score_percentile(m, '{NULL, NULL}') FROM fitted;
SELECT gmm_calibrate(x, m) FROM (VALUES ('{1, 2}'::float8[]), ('{1, NULL}')) t(x), fitted;
-- the working path: a marginal model calibrated on the observed feature's held-out values,
-- scoring the sub-rows; its log-density is the marginal one gmm_score_samples gives the row
-- (held-out rows: big's formula on i = 30001 .. 60000)
CREATE TABLE held AS SELECT ARRAY[sin(i * 0.37) * 3 + (i % 7), cos(i * 0.11) * 2]::float8[] AS x
	FROM generate_series(30001, 60000) i;
CREATE TABLE marg AS SELECT gmm_calibrate(ARRAY[x[1]], (SELECT gmm_marginal(m, ARRAY[1]) FROM fitted)) AS m
	FROM held;
SELECT (m::text::jsonb->'calibration'->>'n_rows')::int AS n_rows FROM marg;
SELECT max(abs(gmm_score_samples(marg.m, ARRAY[x[1]]) - gmm_score_samples(fitted.m, ARRAY[x[1], NULL]))) < 1e-12 AS same_scale
	FROM big, marg, fitted;
-- big's rows with their second feature NULL, flagged against it: about 1% below 1%
SELECT abs(avg((gmm_score_percentile(marg.m, ARRAY[x[1]]) < 0.01)::int) - 0.01) < 0.002 AS flags_1pct,
	abs(avg(gmm_score_percentile(marg.m, ARRAY[x[1]])) - 0.5) < 0.01 AS mean_half
	FROM big, marg;

-- missing => 'em': the calibration of the fit's complete training rows (every tenth row of
-- big has its second feature NULL)
CREATE TABLE bigm AS SELECT CASE WHEN i % 10 = 0 THEN ARRAY[x[1], NULL] ELSE x END AS x
	FROM (SELECT x, row_number() OVER () AS i FROM big) t;
ANALYZE bigm;
CREATE TABLE fitm AS SELECT gmm_fit(x, 3, '{"random_state": 1, "missing": "em"}') AS m FROM bigm;
SELECT (m::text::jsonb->'calibration'->>'n_rows')::int AS n_rows,
	(m::text::jsonb->>'n_samples')::int AS n_samples FROM fitm;
-- the complete rows' log-densities under the final model, gmm_calibrate's (to rounding of the blocks)
CREATE TABLE calm AS SELECT gmm_calibrate(x, (SELECT m FROM fitm)) AS m FROM bigm WHERE array_position(x, NULL) IS NULL;
SELECT max(abs(a.v::float8 - b.v::float8)) < 1e-9 AS same_quantiles, count(*) AS knots
	FROM jsonb_array_elements_text((SELECT m::text::jsonb->'calibration'->'quantiles' FROM fitm)) WITH ORDINALITY a(v, i)
	JOIN jsonb_array_elements_text((SELECT m::text::jsonb->'calibration'->'quantiles' FROM calm)) WITH ORDINALITY b(v, i) USING (i);
SELECT abs((a.m::text::jsonb->'calibration'->>'mean')::float8 - (b.m::text::jsonb->'calibration'->>'mean')::float8) < 1e-9 AS same_mean
	FROM fitm a, calm b;
-- gmm_train with missing => 'em': the same scan as its last pass calibrates on the complete rows,
-- which is gmm_calibrate's calibration of its model over them, serial and parallel alike
CREATE TABLE trainm AS SELECT gmm_train('bigm', 'x', 3, '{"random_state": 1, "missing": "em"}') AS m;
SELECT (m::text::jsonb->'calibration') = (SELECT gmm_calibrate(x, (SELECT m FROM trainm))::text::jsonb->'calibration'
		FROM bigm WHERE array_position(x, NULL) IS NULL) AS train_calibrated,
	(m::text::jsonb->'calibration'->>'n_rows')::int AS n_rows,
	(m::text::jsonb->>'n_samples')::int AS n_samples FROM trainm;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT plan_shape('SELECT gmm_calibrate(x, (SELECT m FROM trainm)) FROM bigm WHERE array_position(x, NULL) IS NULL');
SELECT (m::text::jsonb->'calibration') = (SELECT gmm_calibrate(x, (SELECT m FROM trainm))::text::jsonb->'calibration'
		FROM bigm WHERE array_position(x, NULL) IS NULL) AS parallel_equals_train FROM trainm;
CREATE TABLE trainmp AS SELECT gmm_train('bigm', 'x', 3, '{"random_state": 1, "missing": "em"}') AS m;
-- parallel passes add the workers' sums in another order, so the model is the same to
-- rounding, not to the bit: parameters within 1e-9 relative, the calibration of the same
-- complete rows (counts exact, quantiles within 1e-9 of the log-density's scale)
SELECT (SELECT bool_and(abs(a - b) <= 1e-9 * greatest(abs(b), 1))
		FROM unnest(gmm_weights(p.m) || ARRAY(SELECT unnest(gmm_means(p.m))) || ARRAY(SELECT unnest(gmm_covariances(p.m))),
			gmm_weights(s.m) || ARRAY(SELECT unnest(gmm_means(s.m))) || ARRAY(SELECT unnest(gmm_covariances(s.m)))) u(a, b)) AS parallel_train_same,
	(p.m::text::jsonb->'calibration'->>'n_rows') = (s.m::text::jsonb->'calibration'->>'n_rows') AS same_calibration_rows,
	(SELECT bool_and(abs(a.v::float8 - b.v::float8) <= 1e-9 * greatest(abs(b.v::float8), 1))
		FROM jsonb_array_elements_text(p.m::text::jsonb->'calibration'->'quantiles') WITH ORDINALITY a(v, i)
		JOIN jsonb_array_elements_text(s.m::text::jsonb->'calibration'->'quantiles') WITH ORDINALITY b(v, i) USING (i)) AS same_quantiles
	FROM trainmp p, trainm s;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- no complete row: no calibration
CREATE TABLE nocomplete AS SELECT CASE WHEN i % 2 = 0 THEN ARRAY[x[1], NULL] ELSE ARRAY[NULL, x[2]] END::float8[] AS x
	FROM (SELECT x, row_number() OVER () AS i FROM big LIMIT 500) t;
SELECT gmm_score_threshold(gmm_fit(x, 2, '{"random_state": 1, "missing": "em"}'), 0.01) FROM nocomplete;
SELECT gmm_score_threshold(gmm_train('nocomplete', 'x', 2, '{"random_state": 1, "missing": "em"}'), 0.01);
