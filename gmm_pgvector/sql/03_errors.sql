-- gmm_pgvector: bad rows fail as float8[] rows do (same message, detail and SQLSTATE)
\set VERBOSITY default
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = error;
CREATE TABLE m AS
SELECT gmm_fit(ARRAY[i % 3, i % 5, i % 7]::float8[], 2) AS model FROM generate_series(1, 50) i;

-- rows of different lengths in one aggregate: each message once for vector, halfvec, float8[]
SELECT gmm_fit(x, 1) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(x);
SELECT gmm_fit(x, 1) FROM (VALUES ('[1,2]'::halfvec), ('[1,2,3]')) t(x);
SELECT gmm_fit(x, 1) FROM (VALUES ('{1,2}'::float8[]), ('{1,2,3}')) t(x);
SELECT gmm_fit_weighted(x, 1, 1) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(x);
SELECT gmm_fit_auto(x, 1, 2) FROM (VALUES ('[1,2]'::halfvec), ('[1,2,3]')) t(x);
SELECT gmm_init(x, 1) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(x);
SELECT gmm_init(x, 1) FROM (VALUES ('[1,2]'::halfvec), ('[1,2,3]')) t(x);

-- rows that do not match the model's 3 features
SELECT gmm_score_samples(model, '[1,2]'::vector) FROM m;
SELECT gmm_score_samples(model, '[1,2]'::halfvec) FROM m;
SELECT gmm_score_samples(model, '{1,2}'::float8[]) FROM m;
SELECT gmm_predict(model, '[1,2,3,4]'::vector) FROM m;
SELECT gmm_predict_proba(model, '[1,2,3,4]'::halfvec) FROM m;
SELECT * FROM m, gmm_predict_top(model, '[1]'::vector, 1);
SELECT gmm_score(model, '[1,2]'::vector) FROM m;
SELECT gmm_bic(model, '[1,2]'::halfvec) FROM m;
SELECT gmm_aic(model, '[1,2]'::vector) FROM m;
SELECT gmm_refit('[1,2]'::vector, model) FROM m;
SELECT gmm_refit_weighted('[1,2]'::halfvec, 1, model) FROM m;
SELECT gmm_em_step('[1,2]'::vector, model) FROM m;
SELECT gmm_em_step('[1,2]'::halfvec, 2, model) FROM m;
-- the second row of an EM pass, against the model's length (the first row was fine)
SELECT gmm_em_step(x, model) FROM m, (VALUES ('[1,2,3]'::vector), ('[1,2]')) t(x);

-- more features than gmm allows (pgvector allows up to 16000 dimensions)
SELECT gmm_fit(array_fill(0.5::real, ARRAY[10001])::vector, 1);
SELECT gmm_fit(array_fill(0.5::real, ARRAY[10001])::halfvec, 1);
SELECT gmm_fit(array_fill(0.5::float8, ARRAY[10001]), 1);

-- empty rows and NaN or infinite values cannot reach gmm: pgvector rejects them itself
-- (gmm_pgvector checks them anyway, with float8[]'s messages)
SELECT '[]'::vector;
SELECT '[NaN]'::vector;
SELECT '[1e6]'::halfvec;
SELECT gmm_fit('{}'::float8[], 1);

-- bad weights, components and models: gmm's own checks, for vector rows too
SELECT gmm_fit_weighted('[1,2]'::vector, -1, 1);
SELECT gmm_fit('[1,2]'::vector, 0);
SELECT gmm_fit(x, 2) FROM (VALUES ('[1,2]'::vector)) t(x);
SELECT gmm_refit('[1,2,3]'::vector, NULL::gmm);
SELECT gmm_em_step('[1,2,3]'::vector, NULL::gmm);
SELECT gmm_predict_top(model, '[1,2,3]'::vector, 0) FROM m;
-- NULL rows score NULL (the functions are strict); an all-NULL fit is NULL
SELECT gmm_score_samples(model, NULL::vector) IS NULL AS null_row FROM m;
SELECT gmm_fit(x, 1) IS NULL AS all_null FROM (VALUES (NULL::halfvec)) t(x);
SELECT (SELECT gmm_score(model, x) FROM (VALUES (NULL::vector)) t(x)) IS NULL AS no_rows FROM m;

-- the SQLSTATEs, too: each case as vector, halfvec and float8[] rows
CREATE FUNCTION pgv_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT c.name, pgv_error(format(c.q, 'vector', '[1,2]', '[1,2,3]')) AS vector,
       pgv_error(format(c.q, 'vector', '[1,2]', '[1,2,3]')) =
       pgv_error(format(c.q, 'halfvec', '[1,2]', '[1,2,3]')) AS same_halfvec,
       pgv_error(format(c.q, 'vector', '[1,2]', '[1,2,3]')) =
       pgv_error(format(c.q, 'float8[]', '{1,2}', '{1,2,3}')) AS same_float8
FROM (VALUES
  ('fit', 'SELECT gmm_fit(x::%1$s, 1) FROM (VALUES (%2$L), (%3$L)) t(x)'),
  ('score', 'SELECT gmm_score_samples(model, %2$L::%1$s) FROM m'),
  ('score agg', 'SELECT gmm_score(model, %2$L::%1$s) FROM m'),
  ('em_step', 'SELECT gmm_em_step(x::%1$s, model) FROM m, (VALUES (%3$L), (%2$L)) t(x)'),
  ('init', 'SELECT gmm_init(x::%1$s, 1) FROM (VALUES (%2$L), (%3$L)) t(x)'),
  ('too few rows', 'SELECT gmm_fit(x::%1$s, 3) FROM (VALUES (%2$L), (%2$L)) t(x)'),
  ('fine', 'SELECT gmm_score(model, %3$L::%1$s) FROM m')) c(name, q);
SELECT pgv_error('SELECT gmm_fit(array_fill(0.5::real, ARRAY[10001])::vector, 1)') =
       pgv_error('SELECT gmm_fit(array_fill(0.5::float8, ARRAY[10001]), 1)') AS same_too_long,
       pgv_error('SELECT gmm_fit(array_fill(0.5::float8, ARRAY[10001]), 1)') AS too_long;
DROP FUNCTION pgv_error(text);

-- the transition functions refuse to run outside an aggregate
SELECT gmm_score_accum('{0,0,0}', model, '[1,2,3]'::vector) FROM m;
DROP TABLE m;
