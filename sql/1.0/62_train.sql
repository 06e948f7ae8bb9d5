
-- ---------------------------------------------------------------------------
-- gmm_train: EM over a relation, one combinable aggregate pass per iteration
-- ---------------------------------------------------------------------------

-- Runs with the caller's privileges (not SECURITY DEFINER); the queries it
-- runs are schema-qualified and quote the relation and column names.
CREATE FUNCTION gmm_train(source regclass, column_name name, n_components int,
						  options jsonb DEFAULT '{}')
RETURNS gmm AS 'MODULE_PATHNAME', 'gmm_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION gmm_train(regclass, name, int, jsonb)
	IS 'fit a Gaussian mixture to a float8[] column of a table, view or materialized view: gmm_init, then gmm_em_step passes (parallel, distributable) until converged; options as gmm_fit plus sample_size, init_model and verbose';
