-- gmm_pgvector: the combinable aggregates in parallel plans over vector columns
SET client_min_messages = error;
CREATE TABLE pv AS
SELECT i, ARRAY[(i % 3) * 4 + sin(i * 1.7), (i % 3) * -3 + cos(i * 2.3)]::real[]::vector(2) AS v
FROM generate_series(1, 20000) i;
ANALYZE pv;
SET max_parallel_workers_per_gather = 0;
SELECT gmm_fit(v, 3)::text AS model FROM pv \gset
CREATE TABLE serial AS
SELECT gmm_score(:'model'::gmm, v::real[]::float8[]) AS score,
       gmm_bic(:'model'::gmm, v::real[]::float8[]) AS bic,
       gmm_aic(:'model'::gmm, v::real[]::float8[]) AS aic,
       gmm_em_step(v::real[]::float8[], :'model'::gmm) AS step
FROM pv;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gmm_score(:'model'::gmm, v) FROM pv;
EXPLAIN (COSTS OFF) SELECT gmm_em_step(v, :'model'::gmm) FROM pv;
-- the workers ran (and loaded gmm_pgvector and gmm themselves): the plan's node names and
-- worker counts, without the row counts and buffers that differ between PostgreSQL versions
CREATE FUNCTION pgv_explain(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		IF line ~ 'Aggregate|Gather|Scan|Workers' THEN
			RETURN NEXT regexp_replace(line, ' \(actual.*\)$', '');
		END IF;
	END LOOP;
END $$;
SELECT pgv_explain(format('SELECT gmm_bic(%L::gmm, v) FROM pv', :'model'));
DROP FUNCTION pgv_explain(text);
-- the same sums in another order: equal to 1e-12 (relative), and every row counted
SELECT abs(p.score - s.score) <= 1e-12 * abs(s.score) AS score,
       abs(p.bic - s.bic) <= 1e-12 * abs(s.bic) AS bic,
       abs(p.aic - s.aic) <= 1e-12 * abs(s.aic) AS aic
FROM (SELECT gmm_score(:'model'::gmm, v) AS score, gmm_bic(:'model'::gmm, v) AS bic,
             gmm_aic(:'model'::gmm, v) AS aic FROM pv) p, serial s;
SELECT gmm_n_samples(p.step) AS rows, gmm_n_samples(p.step) = gmm_n_samples(s.step) AS same_rows,
       abs(gmm_lower_bound(p.step) - gmm_lower_bound(s.step)) <= 1e-12 * abs(gmm_lower_bound(s.step)) AS lower_bound,
       (SELECT bool_and(abs(a - b) <= 1e-9) FROM unnest(gmm_means(p.step), gmm_means(s.step)) u(a, b)) AS means
FROM (SELECT gmm_em_step(v, :'model'::gmm) AS step FROM pv) p, serial s;
RESET ALL;
DROP TABLE serial;
DROP TABLE pv;
