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

-- ---- gmm_init: a bottom-k sample, the same whatever the split and merge order ----
-- gmm_init_state format version 2: the sample is the sample_size rows with the
-- smallest seeded hashes of their contents, held in that order; its text form
-- is base64.  Version 1 states (reservoir samples, text in hex) are transient
-- aggregate states and are not read.
CREATE FUNCTION gmm_init_key(x float8[], random_state bigint DEFAULT 0) RETURNS bigint
	AS 'MODULE_PATHNAME', 'gmm_init_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_init_key(float8[], bigint)
	IS 'sampling key of a row for gmm_init: the top 63 bits of a seeded 64-bit hash of its values; gmm_init''s sample is the sample_size rows first in ORDER BY gmm_init_key(x, random_state), x';
COMMENT ON TYPE gmm_init_state
	IS 'state of gmm_init: the bottom-k sample (smallest gmm_init_key) of at most sample_size rows, the same for any split and merge order';
COMMENT ON FUNCTION gmm_init_state_in(cstring)
	IS 'gmm_init_state input: the binary format in base64, validated as binary input';
COMMENT ON FUNCTION gmm_init_state_out(gmm_init_state)
	IS 'gmm_init_state output: the binary format in base64 (RFC 4648, padded, no line breaks)';
COMMENT ON FUNCTION gmm_init_state_recv(internal)
	IS 'gmm_init_state binary input (big-endian; shapes, counts, options, finite values and the sampling order checked)';
COMMENT ON FUNCTION gmm_init_transfn(gmm_init_state, float8[], int)
	IS 'transition function of gmm_init: keeps the sample_size rows with the smallest gmm_init_key';
COMMENT ON FUNCTION gmm_init_combine(gmm_init_state, gmm_init_state)
	IS 'combine function of gmm_init: the first sample_size rows of both samples in the sampling order';
COMMENT ON AGGREGATE gmm_init(float8[], int)
	IS 'initial model (k-means on the bottom-k sample of at most 10000 rows by gmm_init_key, n_iter 0) for gmm_em_step and gmm_train';
COMMENT ON AGGREGATE gmm_init(float8[], int, jsonb)
	IS 'initial model from the bottom-k sample of the rows by gmm_init_key, with gmm_fit''s options plus sample_size';

-- ---- storage: models stay in their row, compressed, up to about a page ----
-- MAIN (as PostGIS's geometry): a model is compressed inline and moved to the TOAST table
-- only when its row would not fit in a page.  Scans that join a table of models, and Citus's
-- pushed-down aggregates (whose arguments are a ROW(...), which detoasts every out-of-line
-- value on every row), then read no TOAST chunks per row.  This is the default for columns
-- created from now on; ALTER TABLE ... ALTER col SET STORAGE MAIN changes an existing one.
ALTER TYPE gmm SET (STORAGE = main);
-- ---- sklearn: verbose progress (verbose, verbose_interval) ----
-- gmm_options gains two named arguments.  A new overload next to the old one
-- would make every call with named arguments ambiguous, so it is replaced.
-- verbose is a keyword of SQL (VERBOSE), so the body qualifies the arguments.
DROP FUNCTION gmm_options(text, int, float8, float8, bigint, text, int, float8[], float8[], float8[]);
CREATE FUNCTION gmm_options(
	covariance_type text DEFAULT 'full',
	max_iter int DEFAULT 100,
	tol float8 DEFAULT 1e-3,
	reg_covar float8 DEFAULT 1e-6,
	random_state bigint DEFAULT 0,
	init_params text DEFAULT 'kmeans',
	n_init int DEFAULT 1,
	weights_init float8[] DEFAULT NULL,
	means_init float8[] DEFAULT NULL,
	precisions_init float8[] DEFAULT NULL,
	verbose int DEFAULT NULL,
	verbose_interval int DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'covariance_type', covariance_type,
		'max_iter', max_iter,
		'tol', tol,
		'reg_covar', reg_covar,
		'random_state', random_state,
		'init_params', init_params,
		'n_init', n_init,
		'weights_init', to_jsonb(weights_init),
		'means_init', to_jsonb(means_init),
		'precisions_init', to_jsonb(precisions_init),
		'verbose', gmm_options.verbose,
		'verbose_interval', gmm_options.verbose_interval))
$$;
COMMENT ON FUNCTION gmm_options(text, int, float8, float8, bigint, text, int, float8[], float8[], float8[], int, int)
	IS 'fit options for gmm_fit and friends, with named arguments and scikit-learn''s defaults (verbose 0, verbose_interval 10 when not given)';
