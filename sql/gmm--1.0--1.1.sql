/* gmm 1.0 -> 1.1 (ALTER EXTENSION gmm UPDATE TO '1.1'); gmm--1.1.sql is gmm--1.0.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.1'" to load this file. \quit


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
