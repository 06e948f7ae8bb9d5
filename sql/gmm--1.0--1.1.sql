/* gmm 1.0 -> 1.1 (ALTER EXTENSION gmm UPDATE TO '1.1'); gmm--1.1.sql is gmm--1.0.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.1'" to load this file. \quit


-- ---- pictures: rows a chart draws (confidence ellipses, the BIC trace) ----

CREATE FUNCTION gmm_ellipses(model gmm, features int[] DEFAULT '{1,2}',
		confidence float8 DEFAULT 0.95, n_points int DEFAULT 64)
	RETURNS TABLE(component int, point int, x float8, y float8)
	AS 'MODULE_PATHNAME', 'gmm_ellipses'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 650;
COMMENT ON FUNCTION gmm_ellipses(gmm, int[], float8, int) IS 'per component (numbered from 0), the closed outline (points 0 .. n_points, the last equal to the first) of the ellipse holding the share confidence of its mass in the plane of two features (1-based positions)';

CREATE FUNCTION gmm_bic_trace(model gmm)
	RETURNS TABLE(n_components int, bic float8)
	AS 'MODULE_PATHNAME', 'gmm_bic_trace'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION gmm_bic_trace(gmm) IS 'the BIC of every number of components gmm_fit_auto tried, in order; no rows for other models';
