/*
 * gmm_train.c
 *	  gmm_train(source, column_name, n_components [, options]): EM over a
 *	  table, view or materialized view of any size, one combinable
 *	  aggregate pass per iteration, so that every pass can run in parallel
 *	  workers (or, on Citus, on every node) and no backend holds the rows.
 *
 * The function runs through SPI with the caller's privileges (it is not
 * SECURITY DEFINER: a caller without SELECT on the source gets PostgreSQL's
 * own permission error).  The queries name the source by its schema-qualified,
 * quoted name, the column with quote_identifier and the extension's
 * functions with the extension's schema, so neither the search_path nor the
 * names can change what runs.
 *
 *	  1. SELECT gmm_init(col, k, options) FROM source   (or options.init_model)
 *	  2. SELECT gmm_em_step(col, model) FROM source     until converged
 *	  3. one more gmm_em_step pass: the log-likelihood of the final model
 *
 * gmm_fit's semantics: the lower bound of iteration i is the mean
 * log-likelihood of the model of iteration i - 1 (the E-step of pass i), and
 * EM stops after the iteration whose lower bound differs from the previous
 * one by less than tol, or after max_iter iterations.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "gmm.h"
#include "gmm_fit.h"

/* gmm_text.c: jsonb -> gmm */
extern Datum gmm_from_jsonb(PG_FUNCTION_ARGS);

typedef struct TrainOptions
{
	GmmOptions	fit;			/* gmm_fit's options */
	GmmModel   *init_model;		/* options.init_model, or NULL */
	Jsonb	   *init_options;	/* what gmm_init gets */
} TrainOptions;

static Jsonb *
JsonbWithout(Jsonb *j, const char *key)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(j),
											  CStringGetTextDatum(key)));
}

static JsonbValue *
JsonbKey(Jsonb *j, const char *key)
{
	return getKeyJsonValueFromContainer(&j->root, key, strlen(key), NULL);
}

/*
 * gmm_train's own option (init_model) and gmm_init's (gmm_fit's
 * plus sample_size; verbose is gmm_fit's too), checked before any pass over the data.
 */
static void
TrainParseOptions(Jsonb *opts, int k, TrainOptions *t)
{
	JsonbValue *v;
	Jsonb	   *rest;

	memset(t, 0, sizeof(*t));
	if (!JB_ROOT_IS_OBJECT(opts) || JB_ROOT_IS_SCALAR(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gmm options must be a JSON object")));
	v = JsonbKey(opts, "init_model");
	if (v != NULL && v->type != jbvNull)
	{
		Jsonb	   *mj = JsonbValueToJsonb(v);

		if (v->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"init_model\" must be a model as JSON (model::jsonb), not %s",
							gmm_jsonb_type_name(v))));
		t->init_model = (GmmModel *) DatumGetPointer(
			DirectFunctionCall1(gmm_from_jsonb, JsonbPGetDatum(mj)));
	}
	rest = JsonbWithout(opts, "init_model");
	/* gmm_init runs silently: the progress is gmm_train's */
	t->init_options = JsonbWithout(JsonbWithout(rest, "verbose"), "verbose_interval");

	/* gmm_fit's options (verbose too); sample_size is gmm_init's, checked there */
	gmm_options_init(&t->fit);
	v = JsonbKey(rest, "sample_size");
	gmm_options_apply(v ? JsonbWithout(rest, "sample_size") : rest, &t->fit);
	gmm_options_reject_sklearn_rng(&t->fit, "gmm_train");
	if (t->fit.fit.n_init != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("gmm_train runs one initialisation: n_init must be 1, not %d",
						t->fit.fit.n_init),
				 errhint("Call gmm_train once per random_state and keep the model with the highest log-likelihood.")));
	if (t->init_model)
	{
		GmmModel   *m = t->init_model;

		if (t->fit.weights_init.values || t->fit.means_init.values ||
			t->fit.precisions_init.values || v != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"init_model\" cannot be combined with weights_init, means_init, precisions_init or sample_size")));
		if (m->n_components != k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("init_model has %d components, but n_components is %d",
							m->n_components, k)));
		if (JsonbKey(rest, "covariance_type") != NULL &&
			t->fit.fit.cov_type != (GmmCovType) m->cov_type)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("init_model has %s covariance, but the options ask for %s",
							gmm_cov_type_name((GmmCovType) m->cov_type),
							gmm_cov_type_name(t->fit.fit.cov_type))));
		t->fit.fit.cov_type = (GmmCovType) m->cov_type;
	}
}

/*
 * A copy of m in CurrentMemoryContext carrying the options of the run
 * (gmm_em_step reads reg_covar from the model), validated again.
 */
static GmmModel *
WithRunOptions(GmmModel *m, const GmmFitOptions *o)
{
	GmmModel   *c = palloc(VARSIZE(m));

	memcpy(c, m, VARSIZE(m));
	c->max_iter = o->max_iter;
	c->tol = o->tol;
	c->reg_covar = o->reg_covar;
	c->n_init = 1;
	c->random_state = (int64) o->random_state;
	c->init_params = (uint8) o->init_params;
	gmm_model_finish(c, ERRCODE_DATA_EXCEPTION);
	return c;
}

/* column col of the query's one row (NULL: NULL), copied to ctx */
static GmmModel *
ModelColumn(int col, MemoryContext ctx)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col,
								  &isnull);
	GmmModel   *m = NULL;

	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		m = (GmmModel *) PG_DETOAST_DATUM_COPY(d);
		MemoryContextSwitchTo(old);
	}
	return m;
}

/*
 * Run a prepared one-row query of gmm columns; its first result copied to
 * ctx, and its second to *second when not NULL.
 */
static GmmModel *
RunModelsQuery(SPIPlanPtr plan, Datum *values, const char *nulls,
			   MemoryContext ctx, GmmModel **second)
{
	int			rc = SPI_execute_plan(plan, values, nulls, true, 0);
	GmmModel   *m;

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "gmm_train: unexpected SPI result %d (" UINT64_FORMAT " rows)",
			 rc, (uint64) SPI_processed);
	m = ModelColumn(1, ctx);
	if (second)
		*second = ModelColumn(2, ctx);
	SPI_freetuptable(SPI_tuptable);
	return m;
}

/* run a prepared one-row, one-column query; its gmm result copied to ctx */
static GmmModel *
RunModelQuery(SPIPlanPtr plan, Datum *values, const char *nulls,
			  MemoryContext ctx)
{
	return RunModelsQuery(plan, values, nulls, ctx, NULL);
}

PG_FUNCTION_INFO_V1(gmm_train);
Datum
gmm_train(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *colname;
	int			k;
	bool		missing_rows;
	GmmModel   *calibrated;
	Jsonb	   *opts;
	TrainOptions t;
	char		relkind;
	AttrNumber	attnum;
	Oid			atttype;
	Oid			gmm_oid = get_func_rettype(fcinfo->flinfo->fn_oid);
	char	   *extschema;
	char	   *relname;
	char	   *qcol;
	StringInfoData q;
	SPIPlanPtr	step_plan;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext loopctx;
	GmmModel   *model;
	GmmModel   *final;
	GmmModel   *result;
	double		prev = -INFINITY;
	double		lb = get_float8_nan();
	int			n_iter = 0;
	bool		converged = false;
	GmmVerbose	verbose;
	GmmProgress ev;
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source, column_name and n_components of gmm_train must not be NULL")));
	relid = PG_GETARG_OID(0);
	colname = NameStr(*PG_GETARG_NAME(1));
	k = PG_GETARG_INT32(2);
	gmm_check_n_components("n_components", k);
	opts = PG_ARGISNULL(3) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P(3);
	TrainParseOptions(opts, k, &t);
	gmm_verbose_start(&verbose, &t.fit);

	/* the source: a relation with rows and a float8[] column */
	relkind = get_rel_relkind(relid);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view, materialized view or foreign table",
						relname)));
	attnum = get_attnum(relid, colname);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, relname)));
	atttype = getBaseType(get_atttype(relid, attnum));
	if (atttype != FLOAT8ARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s, not double precision[]",
						colname, relname, format_type_be(get_atttype(relid, attnum)))));

	extschema = get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 relname);
	qcol = (char *) quote_identifier(colname);

	loopctx = AllocSetContextCreate(caller, "gmm_train", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "gmm_train: SPI_connect failed");

	/* 1. the initial model */
	memset(&ev, 0, sizeof(ev));
	ev.kind = GMM_PROGRESS_INIT_BEGIN;
	gmm_verbose_progress(&ev, &verbose);
	if (t.init_model)
	{
		MemoryContext old = MemoryContextSwitchTo(loopctx);

		model = WithRunOptions(t.init_model, &t.fit.fit);
		MemoryContextSwitchTo(old);
		/* a warm start, as gmm_refit: the first test compares with its bound */
		if (isfinite(t.init_model->lower_bound))
			prev = t.init_model->lower_bound;
	}
	else
	{
		Oid			types[2] = {INT4OID, JSONBOID};
		SPIPlanPtr	plan;
		GmmModel   *init;

		initStringInfo(&q);
		appendStringInfo(&q, "SELECT %s.gmm_init(%s, $1, $2) FROM %s",
						 quote_identifier(extschema), qcol, relname);
		plan = SPI_prepare_cursor(q.data, 2, types, CURSOR_OPT_PARALLEL_OK);
		if (plan == NULL)
			elog(ERROR, "gmm_train: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		values[0] = Int32GetDatum(k);
		values[1] = JsonbPGetDatum(t.init_options);
		init = RunModelQuery(plan, values, nulls, loopctx);
		if (init == NULL)
		{
			/* no rows: like an aggregate over no rows */
			SPI_finish();
			MemoryContextDelete(loopctx);
			PG_RETURN_NULL();
		}
		model = init;
	}

	/* 2. EM passes */
	initStringInfo(&q);
	/* missing => 'em': the passes take NULL elements as missing values */
	appendStringInfo(&q, "SELECT %s.gmm_em_step(%s, $1%s) FROM %s",
					 quote_identifier(extschema), qcol,
					 t.fit.missing_em ? ", '{\"missing\": \"em\"}'::jsonb" : "",
					 relname);
	step_plan = SPI_prepare_cursor(q.data, 1, &gmm_oid, CURSOR_OPT_PARALLEL_OK);
	if (step_plan == NULL)
		elog(ERROR, "gmm_train: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	for (int it = 1; it <= t.fit.fit.max_iter; it++)
	{
		GmmModel   *next;

		CHECK_FOR_INTERRUPTS();
		values[0] = PointerGetDatum(model);
		next = RunModelQuery(step_plan, values, nulls, loopctx);
		if (next == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the rows of \"%s\" disappeared during gmm_train", relname)));
		lb = next->lower_bound;
		n_iter = it;
		converged = fabs(lb - prev) < t.fit.fit.tol;
		ev.kind = GMM_PROGRESS_ITER_END;
		ev.iter = it;
		ev.lower_bound = lb;
		ev.change = lb - prev;
		gmm_verbose_progress(&ev, &verbose);
		pfree(model);
		model = next;
		prev = lb;
		if (converged)
			break;
	}

	/*
	 * 3. the log-likelihood of the final model over every row, and its
	 * calibration: an EM pass whose state also sketches the log-densities
	 * (gmm_calibrate, gmm_anomaly.c)
	 */
	values[0] = PointerGetDatum(model);
	/*
	 * Rows with NULL elements (missing => 'em', some value missing): a plain
	 * pass over every row (the counts and the log-likelihood) and, in the
	 * same scan, gmm_calibrate over the complete rows, whose log-densities
	 * are the calibration (none without a complete row).  Without a missing
	 * value the model is the one without the option, byte for byte.
	 */
	missing_rows = t.fit.missing_em && gmm_model_n_missing(model) > 0;
	calibrated = NULL;
	final = RunModelsQuery(gmm_train_final_plan(extschema, qcol, relname, gmm_oid,
												missing_rows),
						   values, nulls, loopctx, missing_rows ? &calibrated : NULL);
	if (final == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the rows of \"%s\" disappeared during gmm_train", relname)));
	ev.kind = GMM_PROGRESS_INIT_END;
	ev.iter = n_iter;
	ev.lower_bound = n_iter > 0 ? lb : prev;
	ev.converged = converged;
	gmm_verbose_progress(&ev, &verbose);
	SPI_finish();

	MemoryContextSwitchTo(caller);
	result = palloc(VARSIZE(model));
	memcpy(result, model, VARSIZE(model));
	result->n_iter = n_iter;
	result->flags = converged ? GMM_FLAG_CONVERGED : 0;
	result->max_iter = t.fit.fit.max_iter;
	result->tol = t.fit.fit.tol;
	result->reg_covar = t.fit.fit.reg_covar;
	result->n_init = 1;
	result->random_state = (int64) t.fit.fit.random_state;
	result->init_params = (uint8) t.fit.fit.init_params;
	result->lower_bound = n_iter > 0 ? lb : get_float8_nan();
	if (missing_rows)
	{
		/* the pass's E-step is of the final parameters: its lower bound */
		result->log_likelihood = final->lower_bound;
		result->n_samples = final->n_samples;
		result->sum_weights = final->sum_weights;
	}
	else
		gmm_train_final_counters(final, result);
	gmm_model_finish(result, ERRCODE_DATA_EXCEPTION);
	if (!missing_rows)
		result = gmm_model_copy_section(result, final, GMM_SECTION_CALIBRATION);
	else if (calibrated != NULL)
		result = gmm_model_copy_section(result, calibrated, GMM_SECTION_CALIBRATION);
	MemoryContextDelete(loopctx);

	if (!converged && t.fit.fit.max_iter > 0)
		ereport(WARNING,
				(errmsg_plural("gmm_train did not converge after %d iteration",
							   "gmm_train did not converge after %d iterations",
							   n_iter, n_iter),
				 errdetail("The mean log-likelihood still changed by more than tol = %g.",
						   t.fit.fit.tol),
				 errhint("Increase max_iter or tol, or check the scale of the features.")));
	PG_RETURN_GMM_P(result);
}
