/*
 * gmm_accessors.c
 *	  SQL accessors of the gmm type: shape, parameters in scikit-learn's
 *	  shapes, fit metadata, parameter count, BIC/AIC of the training data and
 *	  a per-component table.
 *
 * Header-only accessors fetch just the header of a toasted model.  Component
 * numbers are 0-based, as scikit-learn's labels.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "gmm.h"

/* A float8[] of the given shape (ndims <= 3, lower bounds 1) from x. */
static ArrayType *
Float8Array(const double *x, int ndims, const int *dims)
{
	int			lbs[3] = {1, 1, 1};
	size_t		n = 1;
	Datum	   *elems;

	for (int i = 0; i < ndims; i++)
		n *= dims[i];
	elems = palloc(sizeof(Datum) * n);
	for (size_t i = 0; i < n; i++)
		elems[i] = Float8GetDatum(x[i]);
	return construct_md_array(elems, NULL, ndims, (int *) dims, lbs,
							  FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE);
}

/* scikit-learn's shape of covariances_ and precisions_cholesky_ */
static int
CovShape(GmmCovType t, int k, int d, int *dims)
{
	switch (t)
	{
		case GMM_COV_FULL:
			dims[0] = k;
			dims[1] = d;
			dims[2] = d;
			return 3;
		case GMM_COV_TIED:
			dims[0] = d;
			dims[1] = d;
			return 2;
		case GMM_COV_DIAG:
			dims[0] = k;
			dims[1] = d;
			return 2;
		case GMM_COV_SPHERICAL:
			dims[0] = k;
			return 1;
	}
	return 0;
}

/* Component j's covariance as a full d x d matrix, for every type. */
static void
ExpandCovariance(const GmmParams *p, int j, double *out)
{
	int			d = p->d;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
			memcpy(out, p->covariances + (size_t) j * d * d,
				   sizeof(double) * d * d);
			break;
		case GMM_COV_TIED:
			memcpy(out, p->covariances, sizeof(double) * d * d);
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			memset(out, 0, sizeof(double) * d * d);
			for (int i = 0; i < d; i++)
				out[(size_t) i * d + i] = p->cov_type == GMM_COV_DIAG ?
					p->covariances[(size_t) j * d + i] : p->covariances[j];
			break;
	}
}

PG_FUNCTION_INFO_V1(gmm_n_components);
Datum
gmm_n_components(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_GMM_HEADER_P(0)->n_components);
}

PG_FUNCTION_INFO_V1(gmm_n_features);
Datum
gmm_n_features(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_GMM_HEADER_P(0)->n_features);
}

PG_FUNCTION_INFO_V1(gmm_covariance_type);
Datum
gmm_covariance_type(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_HEADER_P(0);

	PG_RETURN_TEXT_P(cstring_to_text(gmm_cov_type_name((GmmCovType) m->cov_type)));
}

PG_FUNCTION_INFO_V1(gmm_weights);
Datum
gmm_weights(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	GmmParams	p;

	gmm_model_params(m, &p);
	PG_RETURN_ARRAYTYPE_P(Float8Array(p.weights, 1, &p.k));
}

PG_FUNCTION_INFO_V1(gmm_means);
Datum
gmm_means(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	GmmParams	p;
	int			dims[2];

	gmm_model_params(m, &p);
	dims[0] = p.k;
	dims[1] = p.d;
	PG_RETURN_ARRAYTYPE_P(Float8Array(p.means, 2, dims));
}

/* covariances or prec_chol of the model argument, in scikit-learn's shape */
static Datum
CovarianceShapedArray(FunctionCallInfo fcinfo, bool prec_chol)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	GmmParams	p;
	int			dims[3];
	int			ndims;

	gmm_model_params(m, &p);
	ndims = CovShape(p.cov_type, p.k, p.d, dims);
	PG_RETURN_ARRAYTYPE_P(Float8Array(prec_chol ? p.prec_chol : p.covariances,
									  ndims, dims));
}

PG_FUNCTION_INFO_V1(gmm_covariances);
Datum
gmm_covariances(PG_FUNCTION_ARGS)
{
	return CovarianceShapedArray(fcinfo, false);
}

PG_FUNCTION_INFO_V1(gmm_precisions_cholesky);
Datum
gmm_precisions_cholesky(PG_FUNCTION_ARGS)
{
	return CovarianceShapedArray(fcinfo, true);
}

PG_FUNCTION_INFO_V1(gmm_converged);
Datum
gmm_converged(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL((PG_GETARG_GMM_HEADER_P(0)->flags & GMM_FLAG_CONVERGED) != 0);
}

PG_FUNCTION_INFO_V1(gmm_n_iter);
Datum
gmm_n_iter(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_GMM_HEADER_P(0)->n_iter);
}

/* x as float8, or NULL when it is NaN (the model has none, e.g. hand-written) */
static Datum
Float8OrNull(FunctionCallInfo fcinfo, double x)
{
	if (isnan(x))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(x);
}

PG_FUNCTION_INFO_V1(gmm_lower_bound);
Datum
gmm_lower_bound(PG_FUNCTION_ARGS)
{
	return Float8OrNull(fcinfo, PG_GETARG_GMM_HEADER_P(0)->lower_bound);
}

PG_FUNCTION_INFO_V1(gmm_log_likelihood);
Datum
gmm_log_likelihood(PG_FUNCTION_ARGS)
{
	return Float8OrNull(fcinfo, PG_GETARG_GMM_HEADER_P(0)->log_likelihood);
}

PG_FUNCTION_INFO_V1(gmm_n_samples);
Datum
gmm_n_samples(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_GMM_HEADER_P(0)->n_samples);
}

/* values missing in the training rows (missing => 'em'), 0 without a section */
PG_FUNCTION_INFO_V1(gmm_n_missing);
Datum
gmm_n_missing(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(gmm_model_n_missing(PG_GETARG_GMM_P(0)));
}

/* the format version the model is stored in (the lowest that holds it) */
PG_FUNCTION_INFO_V1(gmm_format_version);
Datum
gmm_format_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_GMM_HEADER_P(0)->version);
}

/* The options the model was fitted with, as the "options" of the text form. */
PG_FUNCTION_INFO_V1(gmm_fit_options);
Datum
gmm_fit_options(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_HEADER_P(0);
	StringInfoData buf;

	initStringInfo(&buf);
	gmm_append_options_json(&buf, m);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* scikit-learn's _n_parameters: free parameters of the mixture */
PG_FUNCTION_INFO_V1(gmm_n_parameters_of);
Datum
gmm_n_parameters_of(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_HEADER_P(0);

	PG_RETURN_INT64(gmm_n_parameters((GmmCovType) m->cov_type,
									 m->n_components, m->n_features));
}

/*
 * -2 log L + penalty, with log L = n * log_likelihood over the training
 * data (n = sum of sample weights): scikit-learn's bic(X) with penalty
 * n_parameters * ln(n), aic(X) with 2 * n_parameters.
 */
static double
InformationCriterion(GmmModel *m, bool bic, const char *fname)
{
	double		n = m->sum_weights;
	double		np = (double) gmm_n_parameters((GmmCovType) m->cov_type,
											   m->n_components, m->n_features);

	if (isnan(m->log_likelihood) || !(n > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs the training log-likelihood of the model", fname),
				 isnan(m->log_likelihood) ?
				 errdetail("The model has no log_likelihood.") :
				 errdetail("The model has no training samples (sum_weights is 0)."),
				 errhint("Fitted models store both; for a model written by hand, set \"log_likelihood\" and \"n_samples\".")));
	return -2.0 * m->log_likelihood * n + (bic ? np * log(n) : 2.0 * np);
}

PG_FUNCTION_INFO_V1(gmm_bic);
Datum
gmm_bic(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(InformationCriterion(PG_GETARG_GMM_HEADER_P(0), true,
										  "gmm_bic"));
}

PG_FUNCTION_INFO_V1(gmm_aic);
Datum
gmm_aic(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(InformationCriterion(PG_GETARG_GMM_HEADER_P(0), false,
										  "gmm_aic"));
}

/*
 * One row per component: (component, weight, mean, covariance), the
 * covariance a d x d matrix for every covariance type.
 */
PG_FUNCTION_INFO_V1(gmm_components);
Datum
gmm_components(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	GmmModel   *m;
	GmmParams	p;
	int			j;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		m = PG_GETARG_GMM_P(0);
		funcctx->user_fctx = m;
		funcctx->max_calls = m->n_components;
		MemoryContextSwitchTo(oldcontext);
	}
	funcctx = SRF_PERCALL_SETUP();
	m = (GmmModel *) funcctx->user_fctx;
	j = (int) funcctx->call_cntr;

	if (j < (int) funcctx->max_calls)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int			dims[2];
		double	   *cov;

		gmm_model_params(m, &p);
		dims[0] = p.d;
		dims[1] = p.d;
		cov = palloc(sizeof(double) * p.d * p.d);
		ExpandCovariance(&p, j, cov);
		values[0] = Int32GetDatum(j);
		values[1] = Float8GetDatum(p.weights[j]);
		values[2] = PointerGetDatum(Float8Array(p.means + (size_t) j * p.d, 1, dims));
		values[3] = PointerGetDatum(Float8Array(cov, 2, dims));
		SRF_RETURN_NEXT(funcctx,
						HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc,
														  values, nulls)));
	}
	SRF_RETURN_DONE(funcctx);
}
