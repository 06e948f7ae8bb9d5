/*
 * gmm_fit.c
 *	  The fitting aggregates: gmm_fit(x, n_components [, options]) and
 *	  gmm_fit_weighted(x, weight, n_components [, options]).
 *
 * The transition function packs each row's values into one contiguous
 * array (N x D doubles, plus N weights for the weighted form): in the
 * aggregate's memory while it fits in work_mem, in temporary files past that
 * (gmm_rowstore.c).  The final function runs EM over the array without
 * changing it, so the aggregate also works as a window function.
 * The state is internal and there is no combine function: EM over a split
 * of the rows is not EM over all of them (gmm_em_step is the combinable
 * path), and a fit must not depend on how rows were spread over workers.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "gmm.h"
#include "gmm_fit.h"
#include "gmm_row.h"

typedef struct GmmFitState
{
	int			k;				/* n_components (gmm_fit_auto: the smallest) */
	int			kmax;			/* gmm_fit_auto: the largest; else k */
	int			d;				/* features, from the first row */
	bool		weighted;
	Jsonb	   *options_raw;	/* the options jsonb of the first row, or NULL */
	GmmOptions	options;		/* parsed once */
	GmmModel   *warm;			/* gmm_refit: the model EM starts from */
	GmmRowStore *rows;			/* packed rows (and weights), spilled past
								 * work_mem; missing values as NaN */
	int64		n_all_null;		/* missing => 'em': rows skipped because
								 * every element is NULL */
} GmmFitState;

/* argument numbers of one aggregate's transition function, -1 if absent */
typedef struct FitArgs
{
	int			x;
	int			w;
	int			k;				/* n_components, or min_components */
	int			kmax;			/* max_components (gmm_fit_auto) */
	int			model;			/* the starting model (gmm_refit) */
	int			opt;
	const char *name;
} FitArgs;

/* the error for a NULL element where no missing value is allowed */
static void
NullElementError(int i)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("feature array must not contain NULL elements"),
			 errdetail("Element %d is NULL.", i + 1),
			 errhint("To fit over the observed values, treating NULL as missing at random, pass the option missing => 'em', e.g. gmm_options(missing => 'em').")));
}

const double *
gmm_array_reader_missing(Datum row, int expected_dim, const char *expected_what,
						 bool allow_null, int *dim_out, void **to_free,
						 int *n_null)
{
	ArrayType  *a = DatumGetArrayTypeP(row);
	bits8	   *bitmap;
	const char *p;
	double	   *out;
	int			n;

	*n_null = 0;
	if (!(ARR_HASNULL(a) && array_contains_nulls(a)) || ARR_NDIM(a) != 1 ||
		ARR_ELEMTYPE(a) != FLOAT8OID)
	{
		/* no NULL (or not a row at all): the shared reader and its checks */
		*to_free = ((Pointer) a != DatumGetPointer(row)) ? (void *) a : NULL;
		return gmm_array_row(a, expected_dim, expected_what, NULL, dim_out);
	}
	n = ARR_DIMS(a)[0];
	bitmap = ARR_NULLBITMAP(a);
	if (!allow_null)
	{
		for (int i = 0; i < n; i++)
			if (!(bitmap[i / 8] & (1 << (i % 8))))
				NullElementError(i);
	}
	gmm_row_check_dim(n, expected_dim, expected_what);
	out = palloc(sizeof(double) * n);
	p = ARR_DATA_PTR(a);
	for (int i = 0; i < n; i++)
	{
		if (!(bitmap[i / 8] & (1 << (i % 8))))
		{
			out[i] = get_float8_nan();
			(*n_null)++;
			continue;
		}
		memcpy(&out[i], p, sizeof(double));
		p += sizeof(double);
		if (unlikely(!isfinite(out[i])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature array must not contain NaN or infinite values"),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(out[i]) ? "NaN" : (out[i] > 0 ? "Infinity" : "-Infinity"))));
	}
	if ((Pointer) a != DatumGetPointer(row))
		pfree(a);
	*to_free = out;
	if (dim_out)
		*dim_out = n;
	return out;
}

/* what (n_components, min_components, ...) must be a usable number of components */
void
gmm_check_n_components(const char *what, int k)
{
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1, not %d", what, k)));
	if (k > GMM_MAX_COMPONENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s must be at most %d, not %d",
						what, GMM_MAX_COMPONENTS, k)));
}

static int
GetIntArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return PG_GETARG_INT32(argno);
}

/* set up the state on the first non-NULL row */
static GmmFitState *
FitStateCreate(FunctionCallInfo fcinfo, const FitArgs *a, MemoryContext aggctx,
			   int d)
{
	GmmFitState *st;
	MemoryContext old;

	old = MemoryContextSwitchTo(aggctx);
	st = palloc0(sizeof(GmmFitState));
	st->d = d;
	st->weighted = (a->w >= 0);
	st->rows = gmm_rowstore_create(aggctx, d, st->weighted);
	if (a->opt >= 0 && !PG_ARGISNULL(a->opt))
		st->options_raw = (Jsonb *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(a->opt));

	if (a->model >= 0)
	{
		GmmCovType	t;

		st->warm = (GmmModel *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(a->model));
		st->k = st->kmax = st->warm->n_components;
		t = (GmmCovType) st->warm->cov_type;
		gmm_options_from_model(&st->options, st->warm);
		gmm_options_apply(st->options_raw, &st->options);
		if (st->options.fit.cov_type != t)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s cannot change the covariance type of the model", a->name),
					 errdetail("The model's covariance type is %s; the options ask for %s.",
							   gmm_cov_type_name(t),
							   gmm_cov_type_name(st->options.fit.cov_type))));
	}
	else
	{
		st->k = GetIntArg(fcinfo, a->k, a->kmax >= 0 ? "min_components" : "n_components");
		gmm_check_n_components(a->kmax >= 0 ? "min_components" : "n_components", st->k);
		st->kmax = st->k;
		if (a->kmax >= 0)
		{
			st->kmax = GetIntArg(fcinfo, a->kmax, "max_components");
			gmm_check_n_components("max_components", st->kmax);
			if (st->kmax < st->k)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the range of components is empty: min_components %d is larger than max_components %d",
								st->k, st->kmax)));
		}
		gmm_options_init(&st->options);
		gmm_options_apply(st->options_raw, &st->options);
	}
	if ((a->model >= 0 || a->kmax >= 0) &&
		(st->options.weights_init.values || st->options.means_init.values ||
		 st->options.precisions_init.values))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not take weights_init, means_init or precisions_init", a->name),
				 errdetail("%s", a->model >= 0 ?
						   "EM starts from the parameters of the given model." :
						   "Each number of components is initialised on its own.")));
	/* a warm start draws nothing: only a fresh weighted fit is refused */
	if (st->weighted && a->model < 0 &&
		st->options.fit.rng == GMM_RNG_KIND_SKLEARN)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not take rng \"sklearn\"", a->name),
				 errdetail("scikit-learn's GaussianMixture takes no sample weights, so there is no fit of it to reproduce."),
				 errhint("Repeat the rows instead of weighting them, or leave rng at xoshiro256.")));
	MemoryContextSwitchTo(old);
	return st;
}

/* every row after the first must agree with it */
static void
FitStateCheckRow(FunctionCallInfo fcinfo, const FitArgs *a, GmmFitState *st)
{
	if (a->model < 0 && GetIntArg(fcinfo, a->k, "n_components") != st->k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be the same for every row of the aggregate",
						a->kmax >= 0 ? "min_components" : "n_components"),
				 errdetail("It was %d on earlier rows and is %d on this one.",
						   st->k, PG_GETARG_INT32(a->k))));
	if (a->kmax >= 0 && GetIntArg(fcinfo, a->kmax, "max_components") != st->kmax)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_components must be the same for every row of the aggregate")));
	if (a->opt >= 0)
	{
		Jsonb	   *opts = PG_ARGISNULL(a->opt) ? NULL : PG_GETARG_JSONB_P(a->opt);
		bool		same;

		if (opts == NULL || st->options_raw == NULL)
			same = (opts == NULL && st->options_raw == NULL);
		else
			same = VARSIZE(opts) == VARSIZE(st->options_raw) &&
				memcmp(opts, st->options_raw, VARSIZE(opts)) == 0;
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options must be the same for every row of the aggregate")));
	}
}

/*
 * The shared transition step of every fitting aggregate: check the row, pack
 * its values.  NULL rows (and NULL weights) are skipped, as strict
 * aggregates skip them; rows of weight 0 are checked but not stored.
 */
static Datum
FitTransition(FunctionCallInfo fcinfo, const FitArgs *a, GmmRowReader read)
{
	MemoryContext aggctx;
	GmmFitState *st;
	Datum		x;
	void	   *to_free;
	const double *vals;
	double		weight = 1.0;
	int			d;
	int			n_null = 0;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "%s transition function called in non-aggregate context", a->name);

	st = PG_ARGISNULL(0) ? NULL : (GmmFitState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(a->x) || (a->w >= 0 && PG_ARGISNULL(a->w)))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	if (a->model >= 0 && PG_ARGISNULL(a->model))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model of %s must not be NULL", a->name)));
	if (a->w >= 0)
	{
		weight = PG_GETARG_FLOAT8(a->w);
		if (!isfinite(weight) || weight < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sample weight must be finite and not negative, not %g", weight)));
	}

	x = PG_GETARG_DATUM(a->x);
	if (st == NULL)
	{
		/* gmm's own rows may hold NULLs: the option decides, read it first */
		int			expected = 0;
		const char *what = NULL;

		if (a->model >= 0)
		{
			GmmModel   *m = PG_GETARG_GMM_P(a->model);

			expected = m->n_features;
			what = "the model";
		}
		if (read == gmm_array_reader)
			vals = gmm_array_reader_missing(x, expected, what,
											a->opt >= 0 && !PG_ARGISNULL(a->opt) &&
											gmm_options_missing_em(PG_GETARG_JSONB_P(a->opt)),
											&d, &to_free, &n_null);
		else
			vals = read(x, expected, what, &d, &to_free);
		st = FitStateCreate(fcinfo, a, aggctx, d);
	}
	else
	{
		const char *what = a->model >= 0 ? "the model" :
			"the first row of the aggregate";

		FitStateCheckRow(fcinfo, a, st);
		if (read == gmm_array_reader)
			vals = gmm_array_reader_missing(x, st->d, what, st->options.missing_em,
											&d, &to_free, &n_null);
		else
			vals = read(x, st->d, what, &d, &to_free);
	}

	/* a row whose every value is missing carries no information: skipped */
	if (n_null == d)
		st->n_all_null++;
	else if (weight > 0)
	{
		gmm_rowstore_append(st->rows, vals, weight);
	}

	/* a detoasted copy of the row is not needed any more */
	if (to_free)
		pfree(to_free);

	PG_RETURN_POINTER(st);
}

/*
 * The transition step of the fitting aggregate kind, with rows read by read:
 * gmm's own functions below read float8[]; companions pass their own
 * readers (gmm_row.h).  Argument 0 is the state, 1 the row, then as in the
 * SQL signature; the options argument is the last one when present.
 */
Datum
gmm_fit_transition(FunctionCallInfo fcinfo, GmmFitKind kind, GmmRowReader read)
{
	FitArgs		a;

	switch (kind)
	{
		case GMM_FIT_PLAIN:
			a = (FitArgs) {1, -1, 2, -1, -1, PG_NARGS() > 3 ? 3 : -1, "gmm_fit"};
			break;
		case GMM_FIT_WEIGHTED:
			a = (FitArgs) {1, 2, 3, -1, -1, PG_NARGS() > 4 ? 4 : -1, "gmm_fit_weighted"};
			break;
		case GMM_FIT_REFIT:
			a = (FitArgs) {1, -1, -1, -1, 2, PG_NARGS() > 3 ? 3 : -1, "gmm_refit"};
			break;
		case GMM_FIT_REFIT_WEIGHTED:
			a = (FitArgs) {1, 2, -1, -1, 3, PG_NARGS() > 4 ? 4 : -1, "gmm_refit_weighted"};
			break;
		case GMM_FIT_AUTO:
			a = (FitArgs) {1, -1, 2, 3, -1, PG_NARGS() > 4 ? 4 : -1, "gmm_fit_auto"};
			break;
		default:
			elog(ERROR, "gmm: unknown fitting aggregate kind %d", (int) kind);
	}
	return FitTransition(fcinfo, &a, read);
}

PG_FUNCTION_INFO_V1(gmm_fit_transfn);
Datum
gmm_fit_transfn(PG_FUNCTION_ARGS)
{
	return gmm_fit_transition(fcinfo, GMM_FIT_PLAIN, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_fit_weighted_transfn);
Datum
gmm_fit_weighted_transfn(PG_FUNCTION_ARGS)
{
	return gmm_fit_transition(fcinfo, GMM_FIT_WEIGHTED, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_refit_transfn);
Datum
gmm_refit_transfn(PG_FUNCTION_ARGS)
{
	return gmm_fit_transition(fcinfo, GMM_FIT_REFIT, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_refit_weighted_transfn);
Datum
gmm_refit_weighted_transfn(PG_FUNCTION_ARGS)
{
	return gmm_fit_transition(fcinfo, GMM_FIT_REFIT_WEIGHTED, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_fit_auto_transfn);
Datum
gmm_fit_auto_transfn(PG_FUNCTION_ARGS)
{
	return gmm_fit_transition(fcinfo, GMM_FIT_AUTO, gmm_array_reader);
}

/* raise the error that a core status stands for */
void
gmm_report_status(GmmStatus status, int bad, int64 n, int k)
{
	switch (status)
	{
		case GMM_OK:
			return;
		case GMM_ERR_NOT_PD:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("covariance of component %d is not positive definite", bad),
					 errdetail("Fitting the mixture failed because the component has an ill-defined empirical covariance, for instance from singleton or collapsed samples."),
					 errhint("Decrease n_components, increase reg_covar, or scale the features.")));
			break;
		case GMM_ERR_INIT_NOT_PD:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("precisions_init[%d] is not positive definite", bad)));
			break;
		case GMM_ERR_TOO_FEW_SAMPLES:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("n_components (%d) is larger than the number of rows (" INT64_FORMAT ")",
							k, n),
					 errhint("Fit fewer components or aggregate more rows.")));
			break;
		case GMM_ERR_ZERO_WEIGHT:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the rows of the fit have a total weight of zero")));
			break;
		case GMM_ERR_NO_OBSERVED:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature %d has no observed value", bad + 1),
					 errdetail("Every row of the fit has a NULL in that position, so there is nothing to initialise it from."),
					 errhint("Leave the feature out of the rows, or give means_init, weights_init and precisions_init.")));
			break;
	}
	elog(ERROR, "gmm: unexpected status %d from the numerical core", (int) status);
}

/*
 * Run EM over rows X (n x d, weights w or NULL) with options o; warm, when
 * not NULL, is the model EM starts from.  Returns a new model in the caller's
 * memory context.  name is the SQL function, for messages.  calibrate: the
 * model carries the calibration of its final E-step (false for gmm_init's
 * starting points, which are not fitted models).
 */
GmmModel *
gmm_fit_rows(const double *X, const double *w, int64 n, int d, int k,
			 GmmOptions *o, GmmModel *warm, const char *name, bool calibrate)
{
	GmmModel   *m;
	GmmParams	params;
	GmmParams	warm_params;
	GmmFitResult res;
	GmmHooks	hooks;
	GmmVerbose	verbose;
	GmmStatus	status;
	MemoryContext fitctx;
	MemoryContext old;

	if (n < k)
		gmm_report_status(GMM_ERR_TOO_FEW_SAMPLES, 0, n, k);
	/* a Bayesian model continues its variational fit (gmm_bayes.c) */
	if (warm != NULL && gmm_model_is_bayesian(warm))
		return gmm_bayes_refit_rows(X, w, n, d, k, o, warm, name);

	gmm_options_bind_init(o, k, d);
	if (warm != NULL)
	{
		gmm_model_params(warm, &warm_params);
		o->fit.warm_start = &warm_params;
		/* NaN (no EM iteration yet) is not finite: the test starts afresh */
		o->fit.warm_lower_bound = warm->lower_bound;
	}
	else
		o->fit.warm_start = NULL;
	gmm_verbose_start(&verbose, o);
	o->fit.progress = o->verbose > 0 ? gmm_verbose_progress : NULL;
	o->fit.progress_arg = &verbose;

	m = gmm_model_alloc(o->fit.cov_type, k, d, 0);
	gmm_model_params(m, &params);
	/*
	 * the final E-step's log-densities: the model's calibration; zeroed, so
	 * a fit that feeds no row to the sketch (missing => 'em' without a
	 * complete row) stores none
	 */
	o->fit.sketch = calibrate ? palloc0(sizeof(GmmSketch)) : NULL;

	/* everything the core allocates goes away with this context */
	fitctx = AllocSetContextCreate(CurrentMemoryContext, "gmm fit",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitctx);
	gmm_core_hooks(&hooks);
	memset(&res, 0, sizeof(res));
	status = gmm_fit(X, w, (size_t) n, d, &o->fit, &hooks, &params, &res);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(fitctx);
	gmm_report_status(status, res.bad_component,
					  status == GMM_ERR_TOO_FEW_SAMPLES ? res.n_samples : n, k);

	m->init_params = (uint8) o->fit.init_params;
	m->rng = (uint8) o->fit.rng;
	/* version 1 has no rng; gmm_model_finish lowers the version again */
	if (m->rng != GMM_RNG_XOSHIRO256)
		m->version = GMM_FORMAT_VERSION;
	m->flags = res.converged ? GMM_FLAG_CONVERGED : 0;
	m->n_iter = res.n_iter;
	m->max_iter = o->fit.max_iter;
	m->n_init = o->fit.n_init;
	m->n_samples = res.n_samples;
	m->random_state = (int64) o->fit.random_state;
	m->sum_weights = res.sum_weights;
	/* no EM iteration (max_iter 0) leaves no lower bound: stored as NaN */
	m->lower_bound = isfinite(res.lower_bound) ? res.lower_bound : get_float8_nan();
	m->log_likelihood = res.log_likelihood;
	m->tol = o->fit.tol;
	m->reg_covar = o->fit.reg_covar;
	gmm_model_finish(m, ERRCODE_DATA_EXCEPTION);
	/* missing => 'em': the count of missing values (none: no section) */
	if (res.n_missing > 0)
	{
		double		nm = (double) res.n_missing;

		m = gmm_model_set_section(m, GMM_SECTION_MISSING, &nm, 1);
	}
	if (o->fit.sketch)
	{
		m = gmm_model_with_sketch(m, o->fit.sketch);
		pfree(o->fit.sketch);
		o->fit.sketch = NULL;
	}

	if (!res.converged && o->fit.max_iter > 0)
		ereport(WARNING,
				(errmsg_plural("%s did not converge after %d iteration",
							   "%s did not converge after %d iterations",
							   res.n_iter, name, res.n_iter),
				 errdetail("The mean log-likelihood still changed by more than tol = %g.",
						   o->fit.tol),
				 errhint("Increase max_iter or tol, or check the scale of the features.")));
	return m;
}

/* the rows of the state for EM (an error when their total weight is 0) */
static int64
FitStateRows(GmmFitState *st, const double **X, const double **w)
{
	int64		n = gmm_rowstore_count(st->rows);

	if (n == 0 && st->n_all_null > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no row of the fit has an observed value"),
				 errdetail("Every row given (" INT64_FORMAT ") has NULL elements only.",
						   st->n_all_null)));
	if (n == 0)
		gmm_report_status(GMM_ERR_ZERO_WEIGHT, 0, 0, st->k);
	gmm_rowstore_view(st->rows, X, w);
	return n;
}

/*
 * For other final functions over gmm_fit's state (gmm_fit_bayesian): its
 * rows (an error when their total weight is 0), shape and a copy of the
 * parsed options.
 */
int64
gmm_fit_state_rows(void *state, const double **X, const double **w, int *d,
				   int *k, GmmOptions *o)
{
	GmmFitState *st = (GmmFitState *) state;

	*d = st->d;
	*k = st->k;
	*o = st->options;
	return FitStateRows(st, X, w);
}

PG_FUNCTION_INFO_V1(gmm_fit_finalfn);
Datum
gmm_fit_finalfn(PG_FUNCTION_ARGS)
{
	GmmFitState *st;
	GmmOptions	o;
	const double *X;
	const double *w;
	int64		n;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_fit_finalfn called in non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (GmmFitState *) PG_GETARG_POINTER(0);
	n = FitStateRows(st, &X, &w);

	/* the state is read-only here: work on a copy of the parsed options */
	o = st->options;
	PG_RETURN_GMM_P(gmm_fit_rows(X, w, n, st->d, st->k, &o, st->warm,
								 st->warm ? "gmm_refit" : "gmm_fit", true));
}

/* scikit-learn's bic(X) on the training rows, from a fitted model */
static double
TrainingBic(GmmModel *m)
{
	double		n = m->sum_weights;

	return -2.0 * m->log_likelihood * n +
		(double) gmm_n_parameters((GmmCovType) m->cov_type, m->n_components,
								  m->n_features) * log(n);
}

/*
 * gmm_fit_auto: fit every number of components in the range over the rows
 * gathered once, keep the model with the lowest BIC, and record the BIC of
 * every candidate in it.
 */
PG_FUNCTION_INFO_V1(gmm_fit_auto_finalfn);
Datum
gmm_fit_auto_finalfn(PG_FUNCTION_ARGS)
{
	GmmFitState *st;
	GmmModel   *best = NULL;
	GmmModel   *result;
	double		best_bic = 0;
	int			ntrace;
	double	   *trace;
	Size		params_bytes;
	const double *X;
	const double *w;
	int64		n;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_fit_auto_finalfn called in non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (GmmFitState *) PG_GETARG_POINTER(0);
	n = FitStateRows(st, &X, &w);
	if (st->kmax > n)
		gmm_report_status(GMM_ERR_TOO_FEW_SAMPLES, 0, n, st->kmax);

	ntrace = st->kmax - st->k + 1;
	trace = palloc(sizeof(double) * 2 * ntrace);
	for (int k = st->k; k <= st->kmax; k++)
	{
		GmmOptions	o = st->options;
		GmmModel   *m = gmm_fit_rows(X, w, n, st->d, k, &o, NULL,
									 "gmm_fit_auto", true);
		double		bic = TrainingBic(m);

		trace[2 * (k - st->k)] = k;
		trace[2 * (k - st->k) + 1] = bic;
		if (best == NULL || bic < best_bic)
		{
			if (best)
				pfree(best);
			best = m;
			best_bic = bic;
		}
		else
			pfree(m);
	}

	result = gmm_model_alloc((GmmCovType) best->cov_type, best->n_components,
							 best->n_features, ntrace);
	params_bytes = sizeof(double) * gmm_params_ndoubles((GmmCovType) best->cov_type,
														best->n_components,
														best->n_features);
	memcpy((char *) result + sizeof(int32), (char *) best + sizeof(int32),
		   GMM_HEADER_SIZE - sizeof(int32) + params_bytes);
	result->n_trace = ntrace;
	memcpy(gmm_model_trace(result), trace, sizeof(double) * 2 * ntrace);
	gmm_model_finish(result, ERRCODE_DATA_EXCEPTION);
	if (gmm_model_n_missing(best) > 0)
	{
		double		nm = (double) gmm_model_n_missing(best);

		result = gmm_model_set_section(result, GMM_SECTION_MISSING, &nm, 1);
	}
	result = gmm_model_copy_section(result, best, GMM_SECTION_CALIBRATION);
	PG_RETURN_GMM_P(result);
}
