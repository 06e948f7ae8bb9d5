-- gmm_ellipses and gmm_bic_trace: rows a chart draws.
-- Golden numbers are hand derivations (given next to each query); numpy checks the outlines of
-- fitted models in test/integration/35_plot.sh.
SET extra_float_digits = 0;

-- one hand-written model per covariance type: 2 components, 3 features, the same means
CREATE TABLE pm(name text, m gmm);
INSERT INTO pm VALUES
('full', '{"covariance_type": "full", "weights": [0.4, 0.6], "means": [[1, -2, 0.5], [4, 3, -1]],
  "covariances": [[[4, 1.2, 0.3], [1.2, 1, 0.1], [0.3, 0.1, 2]],
                  [[1, -0.5, 0], [-0.5, 2, 0.4], [0, 0.4, 3]]]}'),
('tied', '{"covariance_type": "tied", "weights": [0.4, 0.6], "means": [[1, -2, 0.5], [4, 3, -1]],
  "covariances": [[4, 1.2, 0.3], [1.2, 1, 0.1], [0.3, 0.1, 2]]}'),
('diag', '{"covariance_type": "diag", "weights": [0.4, 0.6], "means": [[1, -2, 0.5], [4, 3, -1]],
  "covariances": [[4, 1, 2], [1, 2, 3]]}'),
('spherical', '{"covariance_type": "spherical", "weights": [0.4, 0.6], "means": [[1, -2, 0.5], [4, 3, -1]],
  "covariances": [2, 0.5]}');

-- ------------------------------------------------------------ shape of the result
-- defaults: features {1,2}, 64 segments, so 65 rows per component numbered from 0 like
-- gmm_components, points 0 .. 64
SELECT name, count(*) AS rows, count(DISTINCT component) AS components,
	   min(component) AS first_c, max(component) AS last_c, min(point) AS first_p, max(point) AS last_p
FROM pm, gmm_ellipses(m) GROUP BY name ORDER BY name;
-- every component has each point number once
SELECT name, bool_and(n = 1) AS each_point_once
FROM (SELECT name, component, point, count(*) AS n FROM pm, gmm_ellipses(m, '{3,1}', 0.5, 7)
	  GROUP BY 1, 2, 3) s GROUP BY name ORDER BY name;
-- closed: the last point equals the first exactly (= on float8, not a tolerance)
SELECT name, bool_and(f.x = l.x AND f.y = l.y) AS closed, count(*) AS components
FROM pm, gmm_ellipses(m, '{2,3}', 0.9, 5) f
JOIN gmm_ellipses(m, '{2,3}', 0.9, 5) l ON l.component = f.component AND l.point = 5
WHERE f.point = 0 GROUP BY name ORDER BY name;
-- the smallest and the largest n_points
SELECT count(*) FROM pm, gmm_ellipses(m, '{1,2}', 0.95, 3) WHERE name = 'full';
SELECT count(*) FROM pm, gmm_ellipses(m, '{1,2}', 0.95, 100000) WHERE name = 'spherical';
-- STRICT: a NULL argument gives no rows
SELECT count(*) FROM pm, gmm_ellipses(m, NULL) WHERE name = 'full';
SELECT count(*) FROM pm, gmm_ellipses(m, '{1,2}', NULL) WHERE name = 'full';
SELECT count(*) FROM pm, gmm_ellipses(m, '{1,2}', 0.5, NULL) WHERE name = 'full';

-- ------------------------------------------------------------ hand-derived points
-- diag component 0 over features {1,2}: mean (1, -2), variances 4 and 1.  With confidence
-- 1 - exp(-1/2), r^2 = -2 ln(exp(-1/2)) = 1, so the outline is (1 + 2 cos t, -2 + sin t):
-- (3, -2), (1, -1), (-1, -2), (1, -3), (3, -2) for n_points 4
SELECT point, round(x::numeric, 12) AS x, round(y::numeric, 12) AS y
FROM pm, gmm_ellipses(m, '{1,2}', 1 - exp(-0.5), 4)
WHERE name = 'diag' AND component = 0 ORDER BY point;
-- features in the other order swap the axes: (-2 + sin t, 1 + 2 cos t) scaled to
-- variances 1 and 4 start on the first axis: (-1, 1), (-2, 3), (-3, 1), (-2, -1)
SELECT point, round(x::numeric, 12) AS x, round(y::numeric, 12) AS y
FROM pm, gmm_ellipses(m, '{2,1}', 1 - exp(-0.5), 4)
WHERE name = 'diag' AND component = 0 ORDER BY point;
-- spherical component 1 (variance 0.5) over {3,2}: a circle of radius sqrt(0.5 r^2) around
-- (-1, 3); with r^2 = -2 ln(1 - 0.95) = 5.991464547107979 the radius is 1.730818382602
SELECT round(min(sqrt((x + 1) ^ 2 + (y - 3) ^ 2))::numeric, 12) AS min_radius,
	   round(max(sqrt((x + 1) ^ 2 + (y - 3) ^ 2))::numeric, 12) AS max_radius
FROM pm, gmm_ellipses(m, '{3,2}') WHERE name = 'spherical' AND component = 1;

-- ------------------------------------------------------------ every point on its ellipse
-- (p - mu)^T S^-1 (p - mu) = -2 ln(1 - confidence) with S the 2x2 sub-matrix of the
-- component's covariance (from gmm_components, D x D for every type) and its inverse
-- written out: [[c, -b], [-b, a]] / (ac - b^2); worst relative error below 1e-12
CREATE TABLE pairs(f int[]);
INSERT INTO pairs VALUES ('{1,2}'), ('{2,1}'), ('{1,3}'), ('{3,2}');
SELECT name, f, conf,
	   max(abs(((s.c * dx * dx - 2 * s.b * dx * dy + s.a * dy * dy) / (s.a * s.c - s.b * s.b))
			   / (-2 * ln(1 - conf)) - 1)) < 1e-12 AS on_ellipse,
	   count(*) AS points
FROM pm, pairs, (VALUES (0.5), (0.95), (0.999)) cf(conf),
	 LATERAL (SELECT component, mean[f[1]] AS mx, mean[f[2]] AS my,
					 covariance[f[1]][f[1]] AS a, covariance[f[1]][f[2]] AS b,
					 covariance[f[2]][f[2]] AS c
			  FROM gmm_components(m)) s,
	 LATERAL (SELECT x - s.mx AS dx, y - s.my AS dy
			  FROM gmm_ellipses(m, f, conf, 16) e WHERE e.component = s.component) p
GROUP BY name, f, conf ORDER BY name, f, conf;
-- the outline is the linear image of a regular n-gon, so its area (shoelace) is
-- (n / 2) sin(2 pi / n) r^2 sqrt(det S): checks the shape as a whole (orientation included:
-- positive area means counter-clockwise)
SELECT name, component,
	   abs(area / ((16 / 2.0) * sin(2 * pi() / 16) * (-2 * ln(1 - 0.9)) * sqrt(det)) - 1) < 1e-12 AS area_ok
FROM (SELECT name, e.component, 0.5 * sum(e.x * n.y - n.x * e.y) AS area
	  FROM pm, gmm_ellipses(m, '{1,3}', 0.9, 16) e
	  JOIN gmm_ellipses(m, '{1,3}', 0.9, 16) n ON n.component = e.component AND n.point = e.point + 1
	  GROUP BY name, e.component) a
JOIN (SELECT name, component, covariance[1][1] * covariance[3][3] - covariance[1][3] ^ 2 AS det
	  FROM pm, gmm_components(m)) d USING (name, component)
ORDER BY name, component;
-- the mass inside: of 20000 rows drawn from a 1-component model, the share whose quadratic
-- form is at most that of the 0.9 outline's point 0 (the radius gmm_ellipses drew) is 0.9
-- within sampling error (3 standard errors: 0.0064)
WITH m1(m) AS (SELECT '{"weights": [1], "means": [[1, -2, 0.5]],
  "covariances": [[[4, 1.2, 0.3], [1.2, 1, 0.1], [0.3, 0.1, 2]]]}'::gmm),
q(x, y) AS (SELECT x - 1, y + 2 FROM m1, gmm_ellipses(m, '{1,2}', 0.9) WHERE point = 0)
SELECT abs(avg(((s.x[1] - 1) ^ 2 - 2 * 1.2 * (s.x[1] - 1) * (s.x[2] + 2) + 4 * (s.x[2] + 2) ^ 2
				 <= q.x ^ 2 - 2 * 1.2 * q.x * q.y + 4 * q.y ^ 2)::int) - 0.9) < 0.0064 AS mass_ok
FROM m1, q, gmm_sample(m, 20000, 7) s;
-- tied: every component has the same shape, moved to its own mean
SELECT bool_and(abs((a.x - 1) - (b.x - 4)) < 1e-12 AND abs((a.y + 2) - (b.y - 3)) < 1e-12) AS same_shape
FROM pm, gmm_ellipses(m) a JOIN gmm_ellipses(m) b ON b.point = a.point AND b.component = 1
WHERE name = 'tied' AND a.component = 0;

-- ------------------------------------------------------------ errors
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
CREATE TABLE bad(arg text);
INSERT INTO bad VALUES
-- features: count, dimensions, NULL, range, equal
('''{1}'''), ('''{1,2,3}'''), ('''{}'''), ('''{{1},{2}}'''), ('''{1,NULL}'''), ('''{NULL,NULL}'''),
('''{0,2}'''), ('''{1,4}'''), ('''{-1,2}'''), ('''{2,2}'''),
-- confidence
('''{1,2}'', 0'), ('''{1,2}'', 1'), ('''{1,2}'', -0.5'), ('''{1,2}'', 1.5'), ('''{1,2}'', ''NaN'''),
('''{1,2}'', ''Infinity'''), ('''{1,2}'', ''-Infinity'''),
-- n_points
('''{1,2}'', 0.95, 2'), ('''{1,2}'', 0.95, 0'), ('''{1,2}'', 0.95, -1'), ('''{1,2}'', 0.95, 100001');
\x on
SELECT arg, e.*
FROM bad, LATERAL err(format($q$ SELECT * FROM pm, gmm_ellipses(m, %s) WHERE name = 'full' $q$, arg)) e;
\x off
-- the features array is checked before the other arguments, also for a 1-feature model
SELECT * FROM gmm_ellipses('{"weights": [1], "means": [[0]], "covariances": [[[1]]]}');

-- ------------------------------------------------------------ gmm_bic_trace
CREATE OR REPLACE FUNCTION gauss() RETURNS float8 LANGUAGE sql VOLATILE AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
SELECT setseed(0.25);
CREATE TABLE plot_blobs AS
SELECT ARRAY[10 * c + gauss(), 6 * (c % 2) + gauss()] AS x
FROM generate_series(0, 2) c, generate_series(1, 100) r;
CREATE TABLE plot_auto AS SELECT gmm_fit_auto(x, 1, 5) AS m FROM plot_blobs;
-- one row per K tried, in order, each equal (exactly) to the model's JSON bic_trace
SELECT array_agg(n_components ORDER BY n_components) AS ks, count(*) AS rows FROM plot_auto, gmm_bic_trace(m);
SELECT bool_and(t.n_components = (e->>'n_components')::int AND t.bic = (e->>'bic')::float8) AS same_as_json,
	   count(*) AS rows
FROM plot_auto, jsonb_array_elements((m::jsonb)->'bic_trace') WITH ORDINALITY AS j(e, i),
	 LATERAL (SELECT * FROM gmm_bic_trace(m) WITH ORDINALITY AS t(n_components, bic, i)) t
WHERE t.i = j.i;
-- the minimum is the kept model
SELECT (SELECT n_components FROM gmm_bic_trace(m) ORDER BY bic LIMIT 1) = gmm_n_components(m) AS min_is_kept,
	   (SELECT min(bic) FROM gmm_bic_trace(m)) = gmm_bic(m) AS min_bic_is_models
FROM plot_auto;
-- the trace survives the text and binary (bytea) forms
SELECT (SELECT array_agg(t ORDER BY t) FROM gmm_bic_trace(m::text::gmm) t)
	   = (SELECT array_agg(t ORDER BY t) FROM gmm_bic_trace(m) t) AS via_text,
	   (SELECT array_agg(t ORDER BY t) FROM gmm_bic_trace(m::bytea::gmm) t)
	   = (SELECT array_agg(t ORDER BY t) FROM gmm_bic_trace(m) t) AS via_bytea
FROM plot_auto;
-- a hand-written trace reads back as written
SELECT * FROM gmm_bic_trace('{"weights": [1], "means": [[0]], "covariances": [[[1]]],
  "bic_trace": [{"n_components": 1, "bic": 12.5}, {"n_components": 2, "bic": -3.25}]}');
-- no trace: no rows (a gmm_fit model, a hand-written one); NULL: no rows
SELECT count(*) FROM (SELECT gmm_fit(x, 2) AS m FROM plot_blobs) f, gmm_bic_trace(m);
SELECT count(*) FROM pm, gmm_bic_trace(m);
SELECT count(*) FROM gmm_bic_trace(NULL);

-- the catalog: both IMMUTABLE STRICT PARALLEL SAFE, with a row estimate and a comment
SELECT p.oid::regprocedure AS function, provolatile, proisstrict, proparallel, prorows,
	   obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p WHERE proname IN ('gmm_ellipses', 'gmm_bic_trace') ORDER BY proname;

DROP FUNCTION err(text);
DROP TABLE pm, pairs, bad, plot_blobs, plot_auto;
