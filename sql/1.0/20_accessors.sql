
-- ---------------------------------------------------------------------------
-- Accessors of the gmm type (scikit-learn's attribute names and shapes)
-- ---------------------------------------------------------------------------

CREATE FUNCTION gmm_n_components(gmm) RETURNS int
	AS 'MODULE_PATHNAME', 'gmm_n_components'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_n_components(gmm) IS 'number of mixture components (K)';

CREATE FUNCTION gmm_n_features(gmm) RETURNS int
	AS 'MODULE_PATHNAME', 'gmm_n_features'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_n_features(gmm) IS 'number of features (D)';

CREATE FUNCTION gmm_covariance_type(gmm) RETURNS text
	AS 'MODULE_PATHNAME', 'gmm_covariance_type'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_covariance_type(gmm) IS 'covariance type: full, tied, diag or spherical';

CREATE FUNCTION gmm_weights(gmm) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'gmm_weights'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_weights(gmm) IS 'mixture weights, K elements (scikit-learn''s weights_)';

CREATE FUNCTION gmm_means(gmm) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'gmm_means'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_means(gmm) IS 'component means, a K x D array (scikit-learn''s means_)';

CREATE FUNCTION gmm_covariances(gmm) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'gmm_covariances'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_covariances(gmm) IS 'covariances in scikit-learn''s shape: full K x D x D, tied D x D, diag K x D, spherical K';

CREATE FUNCTION gmm_precisions_cholesky(gmm) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'gmm_precisions_cholesky'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_precisions_cholesky(gmm) IS 'Cholesky factors of the precisions (scikit-learn''s precisions_cholesky_), shaped as gmm_covariances';

CREATE FUNCTION gmm_converged(gmm) RETURNS bool
	AS 'MODULE_PATHNAME', 'gmm_converged'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_converged(gmm) IS 'whether the fit converged (scikit-learn''s converged_)';

CREATE FUNCTION gmm_n_iter(gmm) RETURNS int
	AS 'MODULE_PATHNAME', 'gmm_n_iter'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_n_iter(gmm) IS 'EM iterations of the best initialisation (scikit-learn''s n_iter_)';

CREATE FUNCTION gmm_lower_bound(gmm) RETURNS float8
	AS 'MODULE_PATHNAME', 'gmm_lower_bound'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_lower_bound(gmm) IS 'lower bound of the log-likelihood at the last EM step (scikit-learn''s lower_bound_), NULL if none';

CREATE FUNCTION gmm_log_likelihood(gmm) RETURNS float8
	AS 'MODULE_PATHNAME', 'gmm_log_likelihood'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_log_likelihood(gmm) IS 'mean log-likelihood of the final model on its training rows, NULL if none';

CREATE FUNCTION gmm_n_samples(gmm) RETURNS bigint
	AS 'MODULE_PATHNAME', 'gmm_n_samples'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_n_samples(gmm) IS 'number of training rows (with positive weight)';

CREATE FUNCTION gmm_fit_options(gmm) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'gmm_fit_options'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_fit_options(gmm) IS 'options the model was fitted with: max_iter, tol, reg_covar, random_state, init_params, n_init';

CREATE FUNCTION gmm_n_parameters(gmm) RETURNS bigint
	AS 'MODULE_PATHNAME', 'gmm_n_parameters_of'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_n_parameters(gmm) IS 'number of free parameters (scikit-learn''s _n_parameters)';

CREATE FUNCTION gmm_bic(gmm) RETURNS float8
	AS 'MODULE_PATHNAME', 'gmm_bic'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_bic(gmm) IS 'Bayesian information criterion on the training data (scikit-learn''s bic(X))';

CREATE FUNCTION gmm_aic(gmm) RETURNS float8
	AS 'MODULE_PATHNAME', 'gmm_aic'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_aic(gmm) IS 'Akaike information criterion on the training data (scikit-learn''s aic(X))';

CREATE FUNCTION gmm_components(gmm)
	RETURNS TABLE(component int, weight float8, mean float8[], covariance float8[])
	AS 'MODULE_PATHNAME', 'gmm_components'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION gmm_components(gmm) IS 'one row per component (numbered from 0): weight, mean and D x D covariance matrix';

-- diagnostics

CREATE FUNCTION gmm_blas_info() RETURNS text
	AS 'MODULE_PATHNAME', 'gmm_blas_info'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gmm_blas_info() IS 'the BLAS and LAPACK libraries this backend loaded (and OpenBLAS''s configuration and threads)';
