-- Models read from a table, row by row: the scoring functions and
-- aggregates and gmm_em_step recognise the same model from its raw datum
-- (compressed inline bytes, or a TOAST pointer) without decompressing it,
-- and still see a different model on a later row.  Every result is compared
-- with the same computation on a literal model (a plan Const, decoded once).
SET extra_float_digits = 0;
SET max_parallel_workers_per_gather = 0;

-- A 4-component, 12-feature full model: tridiagonal covariances and
-- repeating means, about 9.8 kB, which pglz compresses to under 4 kB.
-- shift moves every mean: shifts 0.125 and 0.375 give two models whose
-- values repeat in the same pattern, so they compress to the same length.
CREATE FUNCTION mc_model(shift float8) RETURNS gmm LANGUAGE sql AS $$
SELECT jsonb_build_object(
	'weights', (SELECT jsonb_agg(0.25) FROM generate_series(1, 4)),
	'means', (SELECT jsonb_agg((SELECT jsonb_agg(shift + 2 * c + (j % 3))
								FROM generate_series(1, 12) j))
			  FROM generate_series(1, 4) c),
	'covariances', (SELECT jsonb_agg((SELECT jsonb_agg((SELECT jsonb_agg(
						CASE WHEN i = j THEN 1.5 + 0.25 * c WHEN abs(i - j) = 1 THEN 0.3 ELSE 0 END)
									   FROM generate_series(1, 12) j))
								  FROM generate_series(1, 12) i))
					FROM generate_series(1, 4) c))::gmm
$$;
SELECT mc_model(0.125) AS ma, mc_model(0.375) AS mb \gset
SELECT pg_column_size(:'ma'::gmm) AS model_bytes;

CREATE TABLE mc_x AS
SELECT i, ARRAY(SELECT ((i * j) % 7)::float8 / 2 + (i % 4) * 2 FROM generate_series(1, 12) j) AS x
FROM generate_series(1, 300) i;

-- the same two models in two storage forms
CREATE TABLE mc_main (name text, m gmm);
ALTER TABLE mc_main ALTER m SET STORAGE MAIN;
CREATE TABLE mc_ext (name text, m gmm);
ALTER TABLE mc_ext ALTER m SET STORAGE EXTERNAL;
INSERT INTO mc_main VALUES ('a', :'ma'), ('b', :'mb');
INSERT INTO mc_ext VALUES ('a', :'ma'), ('b', :'mb');
-- inline and compressed (no TOAST values), resp. out of line and not
-- compressed (one TOAST value per model)
SELECT reltoastrelid::regclass AS main_toast FROM pg_class WHERE relname = 'mc_main' \gset
SELECT reltoastrelid::regclass AS ext_toast FROM pg_class WHERE relname = 'mc_ext' \gset
SELECT name, pg_column_compression(m) AS compression, pg_column_size(m) < 4000 AS compressed_below_4k
FROM mc_main ORDER BY name;
-- the two compressed models have the same length (only their bytes differ)
SELECT count(DISTINCT pg_column_size(m)) AS compressed_lengths FROM mc_main;
SELECT count(DISTINCT chunk_id) AS main_toast_values FROM :main_toast;
SELECT name, pg_column_compression(m) AS compression FROM mc_ext ORDER BY name;
SELECT count(DISTINCT chunk_id) AS ext_toast_values FROM :ext_toast;

-- the literal results, row by row; the two models score every row differently
CREATE TABLE mc_lit AS
SELECT i, gmm_score_samples(:'ma'::gmm, x) AS sa, gmm_score_samples(:'mb'::gmm, x) AS sb,
	   gmm_predict(:'ma'::gmm, x) AS pa, gmm_predict(:'mb'::gmm, x) AS pb,
	   gmm_predict_proba(:'ma'::gmm, x) AS qa, gmm_predict_proba(:'mb'::gmm, x) AS qb
FROM mc_x;
SELECT count(*) FILTER (WHERE sa <> sb) AS rows_scored_differently,
	   count(*) FILTER (WHERE pa <> pb) AS rows_labelled_differently
FROM mc_lit;

-- Scalar scoring with the model read from the table on every row, the model
-- alternating from row to row: each row equals the literal of its model.
SELECT 'main' AS storage, count(*) AS rows,
	   count(*) FILTER (WHERE s = CASE WHEN i % 2 = 0 THEN sa ELSE sb END
						  AND p = CASE WHEN i % 2 = 0 THEN pa ELSE pb END
						  AND q = CASE WHEN i % 2 = 0 THEN qa ELSE qb END) AS equal_literal
FROM (SELECT i, gmm_score_samples(m, x) AS s, gmm_predict(m, x) AS p, gmm_predict_proba(m, x) AS q
	  FROM (SELECT i, x, (SELECT m FROM mc_main WHERE name = CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END) AS m
			FROM mc_x OFFSET 0) r) s JOIN mc_lit USING (i)
UNION ALL
SELECT 'external', count(*),
	   count(*) FILTER (WHERE s = CASE WHEN i % 2 = 0 THEN sa ELSE sb END
						  AND p = CASE WHEN i % 2 = 0 THEN pa ELSE pb END
						  AND q = CASE WHEN i % 2 = 0 THEN qa ELSE qb END)
FROM (SELECT i, gmm_score_samples(m, x) AS s, gmm_predict(m, x) AS p, gmm_predict_proba(m, x) AS q
	  FROM (SELECT i, x, (SELECT m FROM mc_ext WHERE name = CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END) AS m
			FROM mc_x OFFSET 0) r) s JOIN mc_lit USING (i);

-- the same through a join (nested loop, the models table inner): the model
-- of every row is its join partner's
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SELECT t.name, count(*) AS rows,
	   count(*) FILTER (WHERE gmm_score_samples(t.m, x.x) = CASE t.name WHEN 'a' THEN l.sa ELSE l.sb END) AS equal_literal
FROM mc_x x JOIN mc_ext t ON t.name = CASE WHEN x.i % 3 = 0 THEN 'a' ELSE 'b' END
	 JOIN mc_lit l ON l.i = x.i
GROUP BY t.name ORDER BY t.name;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- Scoring aggregates with the model from the table equal the literal's;
-- GROUP BY runs one per model.
CREATE TABLE mc_lit_aggs AS
SELECT name, gmm_score(m, x) AS score, gmm_bic(m, x) AS bic, gmm_aic(m, x) AS aic
FROM mc_x, (VALUES ('a', :'ma'::gmm), ('b', :'mb'::gmm)) v(name, m) GROUP BY name;
SELECT count(DISTINCT score) AS distinct_scores FROM mc_lit_aggs;
SELECT 'main' AS storage, name, t.score = l.score AS score_equal, t.bic = l.bic AS bic_equal,
	   t.aic = l.aic AS aic_equal
FROM (SELECT name, gmm_score(m, x) AS score, gmm_bic(m, x) AS bic, gmm_aic(m, x) AS aic
	  FROM mc_x, mc_main GROUP BY name) t JOIN mc_lit_aggs l USING (name)
UNION ALL
SELECT 'external', name, t.score = l.score, t.bic = l.bic, t.aic = l.aic
FROM (SELECT name, gmm_score(m, x) AS score, gmm_bic(m, x) AS bic, gmm_aic(m, x) AS aic
	  FROM mc_x, mc_ext GROUP BY name) t JOIN mc_lit_aggs l USING (name)
ORDER BY 1, 2;
-- with the model alternating inside one gmm_score, each row is scored by
-- its own model: the mean of the literal per-row scores
SELECT abs(gmm_score((SELECT m FROM mc_main WHERE name = CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END), x)
		   - (SELECT avg(CASE WHEN i % 2 = 0 THEN sa ELSE sb END) FROM mc_lit)) < 1e-12 AS alternating_main,
	   abs(gmm_score((SELECT m FROM mc_ext WHERE name = CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END), x)
		   - (SELECT avg(CASE WHEN i % 2 = 0 THEN sa ELSE sb END) FROM mc_lit)) < 1e-12 AS alternating_external
FROM mc_x;

-- gmm_em_step with the model from the table equals the literal's pass, in
-- both storage forms, also with the model's raw form changing between rows
-- (compressed inline, TOAST pointer, literal: the same model).
SELECT gmm_em_step(x, :'ma'::gmm)::text AS lit_step_a, gmm_em_step(x, :'mb'::gmm)::text AS lit_step_b,
	   gmm_em_step(x, i % 3, :'mb'::gmm)::text AS lit_wstep_b
FROM mc_x \gset
SELECT :'lit_step_a' <> :'lit_step_b' AS passes_differ;
SELECT (SELECT gmm_em_step(x, m)::text = :'lit_step_a' FROM mc_x, mc_main WHERE name = 'a') AS main_equal,
	   (SELECT gmm_em_step(x, m)::text = :'lit_step_a' FROM mc_x, mc_ext WHERE name = 'a') AS external_equal,
	   (SELECT gmm_em_step(x, i % 3, m)::text = :'lit_wstep_b' FROM mc_x, mc_main WHERE name = 'b') AS weighted_main_equal,
	   (SELECT gmm_em_step(x, i % 3, m)::text = :'lit_wstep_b' FROM mc_x, mc_ext WHERE name = 'b') AS weighted_external_equal;
SELECT gmm_em_step(x, CASE i % 3 WHEN 0 THEN (SELECT m FROM mc_main WHERE name = 'a')
								 WHEN 1 THEN (SELECT m FROM mc_ext WHERE name = 'a')
								 ELSE :'ma'::gmm END)::text = :'lit_step_a' AS mixed_forms_equal
FROM mc_x;
SELECT name, gmm_em_step(x, m)::text = CASE name WHEN 'a' THEN :'lit_step_a' ELSE :'lit_step_b' END AS equal_literal
FROM mc_x, mc_main GROUP BY name ORDER BY name;

-- A different model on a later row is an error, whatever the storage form
-- and wherever the change happens: after the first row, or only on the last.
SELECT gmm_em_step(x, (SELECT m FROM mc_main WHERE name = CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END))
FROM mc_x;
SELECT gmm_em_step(x, (SELECT m FROM mc_ext WHERE name = CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END))
FROM mc_x;
SELECT gmm_em_step(x, (SELECT m FROM mc_main WHERE name = CASE WHEN i = 300 THEN 'b' ELSE 'a' END))
FROM mc_x;
SELECT gmm_em_step(x, (SELECT m FROM mc_ext WHERE name = CASE WHEN i = 300 THEN 'b' ELSE 'a' END))
FROM mc_x;
SELECT gmm_em_step(x, i % 3, (SELECT m FROM mc_ext WHERE name = CASE WHEN i = 300 THEN 'b' ELSE 'a' END))
FROM mc_x;
-- a different model in another raw form than the first row's (a TOAST
-- pointer, a literal) is an error too
SELECT gmm_em_step(x, CASE WHEN i = 300 THEN (SELECT m FROM mc_ext WHERE name = 'b')
						   ELSE (SELECT m FROM mc_main WHERE name = 'a') END)
FROM mc_x;
SELECT gmm_em_step(x, CASE WHEN i = 300 THEN :'mb'::gmm
						   ELSE (SELECT m FROM mc_main WHERE name = 'a') END)
FROM mc_x;

-- External parameters.  A generic plan keeps $1 as a Param, whose value
-- stays the same for one execution: the cache identifies it by address, and
-- every execution (a new plan state) starts afresh, so a different model on
-- the next EXECUTE is scored with its own parameters.
SET plan_cache_mode = force_generic_plan;
PREPARE mc_sum(gmm) AS
	SELECT sum(gmm_score_samples($1, x)) AS s, sum(gmm_predict($1, x)) AS p, gmm_score($1, x) AS g
	FROM mc_x;
EXPLAIN (COSTS OFF) EXECUTE mc_sum(:'ma');
SELECT sum(sa) AS lit_sa, sum(sb) AS lit_sb, sum(pa) AS lit_pa, sum(pb) AS lit_pb FROM mc_lit \gset
EXECUTE mc_sum(:'ma') \gset e1_
EXECUTE mc_sum(:'mb') \gset e2_
EXECUTE mc_sum(:'ma') \gset e3_
SELECT abs(:e1_s - :lit_sa) < 1e-9 AND :e1_p = :lit_pa AND abs(:e1_g - :lit_sa / 300) < 1e-12 AS first_a,
	   abs(:e2_s - :lit_sb) < 1e-9 AND :e2_p = :lit_pb AND abs(:e2_g - :lit_sb / 300) < 1e-12 AS then_b,
	   abs(:e3_s - :lit_sa) < 1e-9 AND :e3_p = :lit_pa AND abs(:e3_g - :lit_sa / 300) < 1e-12 AS again_a;
DEALLOCATE mc_sum;
RESET plan_cache_mode;

-- PL/pgSQL.  A simple expression (no FROM) keeps its expression state for
-- the whole transaction while its variables change between evaluations (an
-- assignment frees the old value, whose address the next one may take):
-- each evaluation must score with the current value.  A query with the
-- variable as a parameter sees one value per execution, and a cursor's
-- query the values it was opened with (PostgreSQL copies them into the
-- portal), even when the loop body assigns the variable meanwhile.
CREATE FUNCTION mc_plpgsql(OUT simple_equal int, OUT query_equal int,
						   OUT cursor_first_model boolean)
LANGUAGE plpgsql AS $$
DECLARE
	-- small models (palloc'd chunks under 8 kB, which a context reuses
	-- last freed first), each a different one
	models gmm[] := ARRAY(SELECT format('{"weights": [0.5, 0.5], "means": [[%s, 0], [0, %s]],
										 "covariances": [[1, 0.5], [0.5, 2]], "covariance_type": "tied"}',
										c, -c)::gmm
						  FROM generate_series(1, 3) c ORDER BY c);
	x2 float8[] := ARRAY[0.25, -0.75];
	r record;
	m gmm;
	s float8;
	lit float8[];
	lit_sums float8[];
	total float8;
BEGIN
	simple_equal := 0;
	query_equal := 0;
	lit := ARRAY[gmm_score_samples(models[1], x2), gmm_score_samples(models[2], x2),
				 gmm_score_samples(models[3], x2)];
	SELECT ARRAY[sum(gmm_score_samples(models[1], x[1:2])), sum(gmm_score_samples(models[2], x[1:2])),
				 sum(gmm_score_samples(models[3], x[1:2]))] INTO lit_sums FROM mc_x;
	-- three models in turn; the variable is emptied first, so that each new
	-- copy takes the address the previous one had
	FOR g IN 0..8 LOOP
		m := NULL;
		m := models[1 + g % 3];
		s := gmm_score_samples(m, x2);
		IF s = lit[1 + g % 3] THEN simple_equal := simple_equal + 1; END IF;
		SELECT sum(gmm_score_samples(m, x[1:2])) INTO total FROM mc_x;
		IF abs(total - lit_sums[1 + g % 3]) < 1e-9 THEN
			query_equal := query_equal + 1;
		END IF;
	END LOOP;
	m := models[1];
	total := 0;
	FOR r IN SELECT gmm_score_samples(m, x[1:2]) AS s FROM mc_x ORDER BY i LOOP
		total := total + r.s;
		m := models[2];
	END LOOP;
	cursor_first_model := abs(total - lit_sums[1]) < 1e-9;
END
$$;
-- 9 simple evaluations and 9 queries
SELECT * FROM mc_plpgsql();
