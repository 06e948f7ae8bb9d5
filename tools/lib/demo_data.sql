-- tools/lib/demo_data.sql: the demo's features, 600 points from three Gaussian blobs in 2-D
-- (setseed + Box-Muller), the same rows on every run; read by tools/demo.sh and tools/pictures.sh.
SET max_parallel_workers_per_gather = 0;	-- one process draws the random numbers, in order
SELECT setseed(0.42) \gset
CREATE TABLE features AS
WITH blobs(blob, cx, cy, sd) AS (
	VALUES (0, 0.0, 0.0, 0.6), (1, 6.0, 5.0, 0.9), (2, -5.0, 6.0, 0.7)
), u AS MATERIALIZED (
	-- 1 - random() is in (0, 1], so ln() is finite
	SELECT g AS id, g % 3 AS blob, 1 - random() AS u1, random() AS u2
	FROM generate_series(1, 600) AS g
)
SELECT u.id, u.blob,
	ARRAY[b.cx + b.sd * sqrt(-2 * ln(u.u1)) * cos(2 * pi() * u.u2),
		  b.cy + b.sd * sqrt(-2 * ln(u.u1)) * sin(2 * pi() * u.u2)]::float8[] AS x
FROM u JOIN blobs b USING (blob)
ORDER BY u.id;
RESET max_parallel_workers_per_gather;
