/*
 * gmm_missing.c
 *	  Missing values beyond scoring: gmm_impute (conditional expectations of
 *	  a row's NULL features), gmm_marginal (the mixture over some features)
 *	  and gmm_condition (the mixture of a row's NULL features given its other
 *	  values).  The arithmetic is in src/core/marginal.c; the scoring
 *	  functions' treatment of NULL elements is in gmm_score.c.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"

#include "gmm.h"

/* a model derived from src, with src's options and provenance, no trace */
static GmmModel *
DerivedModel(const GmmModel *src, GmmCovType t, int k, int d)
{
	GmmModel   *m = gmm_model_alloc(t, k, d, 0);

	m->init_params = src->init_params;
	m->flags = src->flags;
	m->n_iter = src->n_iter;
	m->max_iter = src->max_iter;
	m->n_init = src->n_init;
	m->random_state = src->random_state;
	m->tol = src->tol;
	m->reg_covar = src->reg_covar;
	m->n_samples = src->n_samples;
	m->sum_weights = src->sum_weights;
	/* the fit's likelihoods are of all its features: not this model's */
	m->lower_bound = get_float8_nan();
	m->log_likelihood = get_float8_nan();
	return m;
}

static ArrayType *
Float8Array(const double *v, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		elems[i] = Float8GetDatum(v[i]);
	return construct_array(elems, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

static void
ReportNotPD(GmmStatus st, const char *what)
{
	if (st != GMM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the model's covariance is numerically singular on %s", what)));
}

/*
 * A Bayesian model's scoring terms are of all its features, and its
 * predictive is not a Gaussian mixture: its marginals and conditionals
 * are not these.
 */
static void
RejectBayesian(const GmmModel *m, const char *fname)
{
	if (gmm_model_is_bayesian(m))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not apply to a Bayesian mixture", fname),
				 errdetail("Marginals, conditionals and imputations here are those of a Gaussian mixture; a gmm_fit_bayesian model adds digamma terms of all its features."),
				 errhint("Use a model fitted by gmm_fit.")));
}

/*
 * gmm_impute(model, x): x with each NULL element replaced by its conditional
 * expectation given the non-NULL ones under the mixture; a row without NULL
 * is returned as it is, a row of NULLs only gets the mixture's mean.
 */
PG_FUNCTION_INFO_V1(gmm_impute);
Datum
gmm_impute(PG_FUNCTION_ARGS)
{
	GmmModel   *model = PG_GETARG_GMM_P(0);
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	GmmParams	p;
	const double *x;
	double	   *out;
	int			d;
	int			n_null;

	RejectBayesian(model, "gmm_impute");
	gmm_model_params(model, &p);
	x = gmm_array_row_nulls(a, p.d, "the model", NULL, &d, &n_null);
	if (n_null == 0)
		PG_RETURN_ARRAYTYPE_P(a);
	out = palloc(sizeof(double) * d);
	ReportNotPD(gmm_impute_row(&p, x, out,
							   palloc(sizeof(double) *
									  gmm_missing_work_ndoubles(p.cov_type, p.k, d, n_null))),
				"the observed features of the row");
	PG_RETURN_ARRAYTYPE_P(Float8Array(out, d));
}

/*
 * gmm_marginal(model, features): the mixture over the listed features,
 * 1-based positions in the order given.
 */
PG_FUNCTION_INFO_V1(gmm_marginal);
Datum
gmm_marginal(PG_FUNCTION_ARGS)
{
	GmmModel   *model = PG_GETARG_GMM_P(0);
	ArrayType  *fa = PG_GETARG_ARRAYTYPE_P(1);
	GmmParams	p;
	GmmParams	mp;
	GmmModel   *out;
	int			nf;
	int		   *features;
	int32	   *pos;
	bool	   *seen;
	int			bad;

	RejectBayesian(model, "gmm_marginal");
	gmm_model_params(model, &p);
	if (ARR_ELEMTYPE(fa) != INT4OID)
		elog(ERROR, "gmm: feature positions have element type %u, expected int4",
			 ARR_ELEMTYPE(fa));
	if (ARR_NDIM(fa) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature positions must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(fa))));
	nf = ARR_NDIM(fa) == 0 ? 0 : ARR_DIMS(fa)[0];
	if (nf == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature positions must not be empty"),
				 errhint("List the 1-based positions of the features to keep, e.g. ARRAY[1, 3].")));
	if (ARR_HASNULL(fa) && array_contains_nulls(fa))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feature positions must not contain NULL elements")));
	pos = (int32 *) ARR_DATA_PTR(fa);
	features = palloc(sizeof(int) * nf);
	seen = palloc0(sizeof(bool) * p.d);
	for (int i = 0; i < nf; i++)
	{
		if (pos[i] < 1 || pos[i] > p.d)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature position %d is out of range", pos[i]),
					 errdetail("The model has %d features, numbered from 1.", p.d)));
		if (seen[pos[i] - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature position %d is listed more than once", pos[i])));
		seen[pos[i] - 1] = true;
		features[i] = pos[i] - 1;
	}
	out = DerivedModel(model, p.cov_type, p.k, nf);
	gmm_model_params(out, &mp);
	ReportNotPD(gmm_marginal_params(&p, nf, features, &mp, &bad),
				"the listed features");
	gmm_model_finish(out, ERRCODE_DATA_EXCEPTION);
	PG_RETURN_GMM_P(out);
}

/*
 * gmm_condition(model, x): the mixture of x's NULL features given its
 * non-NULL ones.  Components whose posterior weight underflows to zero are
 * left out (a mixture's weights are positive).
 */
PG_FUNCTION_INFO_V1(gmm_condition);
Datum
gmm_condition(PG_FUNCTION_ARGS)
{
	GmmModel   *model = PG_GETARG_GMM_P(0);
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	GmmParams	p;
	GmmParams	cp;
	GmmParams	op;
	GmmModel   *out;
	const double *x;
	int			d;
	int			m;
	int			kept = 0;
	int			bad;
	size_t		cs;

	RejectBayesian(model, "gmm_condition");
	gmm_model_params(model, &p);
	x = gmm_array_row_nulls(a, p.d, "the model", NULL, &d, &m);
	if (m == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the row has no NULL element to condition"),
				 errhint("Set the features whose distribution you want to NULL and give the values of the others.")));
	if (m == d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the row has no non-NULL element to condition on"),
				 errhint("With nothing observed the conditional mixture is the model itself.")));
	gmm_params_bind(&cp, p.cov_type, p.k, m,
					palloc(sizeof(double) * gmm_params_ndoubles(p.cov_type, p.k, m)));
	ReportNotPD(gmm_condition_params(&p, x, &cp,
									 palloc(sizeof(double) *
											gmm_missing_work_ndoubles(p.cov_type, p.k, d, m)),
									 &bad),
				"the observed features of the row");
	for (int j = 0; j < p.k; j++)
		kept += cp.weights[j] > 0.0 ? 1 : 0;
	out = DerivedModel(model, p.cov_type, kept, m);
	gmm_model_params(out, &op);
	cs = gmm_cov_size(p.cov_type, 1, m);	/* one component's covariance */
	for (int j = 0, i = 0; j < p.k; j++)
	{
		if (!(cp.weights[j] > 0.0))
			continue;
		op.weights[i] = cp.weights[j];
		memcpy(op.means + (size_t) i * m, cp.means + (size_t) j * m,
			   sizeof(double) * m);
		if (p.cov_type != GMM_COV_TIED)
			memcpy(op.covariances + i * cs, cp.covariances + j * cs,
				   sizeof(double) * cs);
		i++;
	}
	if (p.cov_type == GMM_COV_TIED)
		memcpy(op.covariances, cp.covariances, sizeof(double) * cs);
	gmm_model_finish(out, ERRCODE_DATA_EXCEPTION);
	PG_RETURN_GMM_P(out);
}
