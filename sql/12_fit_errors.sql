-- gmm_fit: bad rows and bad arguments are errors that say what is wrong.
CREATE TABLE e (id int, x float8[]);
INSERT INTO e VALUES (1, '{1,2}'), (2, '{2,3}'), (3, '{3,1}'), (4, '{5,5}');

-- rows of different lengths
SELECT gmm_fit(x, 1) FROM (SELECT x FROM e UNION ALL SELECT '{1,2,3}') s;
-- NaN, infinite and NULL elements
SELECT gmm_fit(x, 1) FROM (SELECT x FROM e UNION ALL SELECT '{1,NaN}') s;
SELECT gmm_fit(x, 1) FROM (SELECT x FROM e UNION ALL SELECT '{Infinity,1}') s;
SELECT gmm_fit(x, 1) FROM (SELECT x FROM e UNION ALL SELECT '{1,NULL}') s;
-- multi-dimensional and empty arrays
SELECT gmm_fit(x, 1) FROM (VALUES ('{{1,2},{3,4}}'::float8[])) s(x);
SELECT gmm_fit(x, 1) FROM (VALUES ('{}'::float8[])) s(x);
-- n_components out of range, NULL, varying, or more than the rows
SELECT gmm_fit(x, 0) FROM e;
SELECT gmm_fit(x, -2) FROM e;
SELECT gmm_fit(x, 100000) FROM e;
SELECT gmm_fit(x, NULL) FROM e;
SELECT gmm_fit(x, id % 2 + 1) FROM e;
SELECT gmm_fit(x, 5) FROM e;
-- options that change between rows
SELECT gmm_fit(x, 1, CASE WHEN id = 1 THEN '{}'::jsonb ELSE '{"tol": 0.1}' END) FROM e;
-- weights: negative, NaN, infinite; all zero
SELECT gmm_fit_weighted(x, -1, 1) FROM e;
SELECT gmm_fit_weighted(x, 'NaN', 1) FROM e;
SELECT gmm_fit_weighted(x, 'Infinity', 1) FROM e;
SELECT gmm_fit_weighted(x, 0, 1) FROM e;
-- a covariance that is not positive definite without regularisation: two
-- components on a set of duplicate points
SELECT gmm_fit(x, 2, '{"reg_covar": 0}') FROM (VALUES ('{1,1}'::float8[]), ('{1,1}'), ('{1,1}'), ('{1,1}')) s(x);
-- the internal-state support functions cannot be called from SQL at all: the
-- parser refuses the argument, before the function runs (with a message that
-- depends on the minor release: 15.18 "cannot accept a value of type internal",
-- 15.20 and 17.12 "cannot cast type unknown to internal")
DO $$
BEGIN
	PERFORM gmm_fit_finalfn(NULL::internal);
	RAISE EXCEPTION 'gmm_fit_finalfn(NULL::internal) was called';
EXCEPTION WHEN cannot_coerce OR feature_not_supported THEN
	RAISE NOTICE 'refused: a value of type internal cannot be written in SQL';
END
$$;
-- the backend is still alive and fits
SELECT gmm_n_samples(gmm_fit(x, 1)) FROM e;
