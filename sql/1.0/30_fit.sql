
-- ---------------------------------------------------------------------------
-- Fit options and the fitting aggregates
-- ---------------------------------------------------------------------------

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
	precisions_init float8[] DEFAULT NULL)
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
		'precisions_init', to_jsonb(precisions_init)))
$$;
COMMENT ON FUNCTION gmm_options(text, int, float8, float8, bigint, text, int, float8[], float8[], float8[])
	IS 'fit options for gmm_fit and friends, with named arguments and scikit-learn''s defaults';

CREATE FUNCTION gmm_fit_transfn(internal, float8[], int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_transfn(internal, float8[], int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_weighted_transfn(internal, float8[], float8, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_weighted_transfn(internal, float8[], float8, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_finalfn(internal)
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_fit_finalfn'
LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE gmm_fit(x float8[], n_components int) (
	SFUNC = gmm_fit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit(float8[], int)
	IS 'fit a Gaussian mixture with n_components components to the rows (EM, k-means initialisation)';

CREATE AGGREGATE gmm_fit(x float8[], n_components int, options jsonb) (
	SFUNC = gmm_fit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit(float8[], int, jsonb)
	IS 'fit a Gaussian mixture with n_components components to the rows, with options (see gmm_options)';

CREATE AGGREGATE gmm_fit_weighted(x float8[], weight float8, n_components int) (
	SFUNC = gmm_fit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_weighted(float8[], float8, int)
	IS 'fit a Gaussian mixture to weighted rows: a row of weight w counts as w identical rows';

CREATE AGGREGATE gmm_fit_weighted(x float8[], weight float8, n_components int, options jsonb) (
	SFUNC = gmm_fit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_weighted(float8[], float8, int, jsonb)
	IS 'fit a Gaussian mixture to weighted rows, with options (see gmm_options)';

-- warm start: EM continues from a model's parameters
CREATE FUNCTION gmm_refit_transfn(internal, float8[], gmm)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_refit_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_refit_transfn(internal, float8[], gmm, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_refit_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_refit_weighted_transfn(internal, float8[], float8, gmm)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_refit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_refit_weighted_transfn(internal, float8[], float8, gmm, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_refit_weighted_transfn'
LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE gmm_refit(x float8[], model gmm) (
	SFUNC = gmm_refit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit(float8[], gmm)
	IS 'continue EM from the model''s parameters over the rows (warm start; K and covariance type from the model)';
CREATE AGGREGATE gmm_refit(x float8[], model gmm, options jsonb) (
	SFUNC = gmm_refit_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit(float8[], gmm, jsonb)
	IS 'continue EM from the model''s parameters over the rows, with options overriding the model''s';
CREATE AGGREGATE gmm_refit_weighted(x float8[], weight float8, model gmm) (
	SFUNC = gmm_refit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit_weighted(float8[], float8, gmm)
	IS 'continue EM from the model''s parameters over weighted rows';
CREATE AGGREGATE gmm_refit_weighted(x float8[], weight float8, model gmm, options jsonb) (
	SFUNC = gmm_refit_weighted_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_refit_weighted(float8[], float8, gmm, jsonb)
	IS 'continue EM from the model''s parameters over weighted rows, with options';

-- model selection: the number of components with the lowest BIC
CREATE FUNCTION gmm_fit_auto_transfn(internal, float8[], int, int)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_auto_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_auto_transfn(internal, float8[], int, int, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'gmm_fit_auto_transfn'
LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION gmm_fit_auto_finalfn(internal)
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_fit_auto_finalfn'
LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE gmm_fit_auto(x float8[], min_components int, max_components int) (
	SFUNC = gmm_fit_auto_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_auto_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_auto(float8[], int, int)
	IS 'fit every number of components in the range and return the model with the lowest BIC';
CREATE AGGREGATE gmm_fit_auto(x float8[], min_components int, max_components int, options jsonb) (
	SFUNC = gmm_fit_auto_transfn,
	STYPE = internal,
	FINALFUNC = gmm_fit_auto_finalfn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gmm_fit_auto(float8[], int, int, jsonb)
	IS 'fit every number of components in the range, with options, and return the model with the lowest BIC';
