/*
 * gmm_fit.c
 *	  The fitting aggregates: gmm_fit(x, n_components [, options]) and
 *	  gmm_fit_weighted(x, weight, n_components [, options]).
 *
 * The transition function packs each row's values into one contiguous
 * buffer (N x D doubles, plus N weights for the weighted form) in the
 * aggregate's memory context; the final function runs EM over that buffer
 * without changing it, so the aggregate also works as a window function.
 * The state is internal and there is no combine function: EM over a split
 * of the rows is not EM over all of them (gmm_em_step is the combinable
 * path), and a fit must not depend on how rows were spread over workers.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "gmm.h"
#include "gmm_fit.h"

typedef struct GmmFitState
{
	int			k;				/* n_components, the same on every row */
	int			d;				/* features, from the first row */
	bool		weighted;
	Jsonb	   *options_raw;	/* the options jsonb of the first row, or NULL */
	GmmOptions	options;		/* parsed once */
	double	   *X;				/* n x d packed rows */
	double	   *w;				/* n weights (weighted form only) */
	int64		n;				/* rows stored */
	int64		cap;			/* rows allocated */
} GmmFitState;

/* grow the packed buffers: doubling while small, then by a quarter */
static void
FitStateGrow(GmmFitState *st, MemoryContext aggctx)
{
	int64		newcap;
	Size		rowbytes = mul_size(sizeof(double), st->d);

	if (st->cap == 0)
		newcap = 16;
	else if (mul_size(st->cap, rowbytes) < 64 * 1024 * 1024)
		newcap = st->cap * 2;
	else
		newcap = st->cap + st->cap / 4;

	if ((double) newcap * rowbytes > (double) MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows for one gmm_fit: " INT64_FORMAT " rows of %d features",
						st->n, st->d)));

	if (st->X == NULL)
		st->X = MemoryContextAllocHuge(aggctx, newcap * rowbytes);
	else
		st->X = repalloc_huge(st->X, newcap * rowbytes);
	if (st->weighted)
	{
		if (st->w == NULL)
			st->w = MemoryContextAllocHuge(aggctx, newcap * sizeof(double));
		else
			st->w = repalloc_huge(st->w, newcap * sizeof(double));
	}
	st->cap = newcap;
}

static void
CheckNComponents(int k)
{
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_components must be at least 1, not %d", k)));
	if (k > GMM_MAX_COMPONENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("n_components must be at most %d, not %d",
						GMM_MAX_COMPONENTS, k)));
}

/*
 * The shared transition step.  x_arg, w_arg, k_arg, opt_arg are argument
 * numbers (-1 when the form has no such argument).  NULL rows (and NULL
 * weights) are skipped, as strict aggregates skip them.
 */
static Datum
FitTransition(FunctionCallInfo fcinfo, int x_arg, int w_arg, int k_arg, int opt_arg)
{
	MemoryContext aggctx;
	MemoryContext old;
	GmmFitState *st;
	ArrayType  *x;
	const double *vals;
	double		weight = 1.0;
	int			k;
	int			d;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "gmm fit transition function called in non-aggregate context");

	st = PG_ARGISNULL(0) ? NULL : (GmmFitState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(x_arg) || (w_arg >= 0 && PG_ARGISNULL(w_arg)))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	if (PG_ARGISNULL(k_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n_components must not be NULL")));
	k = PG_GETARG_INT32(k_arg);

	if (w_arg >= 0)
	{
		weight = PG_GETARG_FLOAT8(w_arg);
		if (!isfinite(weight) || weight < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sample weight must be finite and not negative, not %g", weight)));
	}

	x = PG_GETARG_ARRAYTYPE_P(x_arg);

	if (st == NULL)
	{
		Jsonb	   *opts = NULL;

		CheckNComponents(k);
		vals = gmm_array_row(x, 0, NULL, NULL, &d);
		if (d > GMM_MAX_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("feature arrays must have at most %d elements, not %d",
							GMM_MAX_FEATURES, d)));

		old = MemoryContextSwitchTo(aggctx);
		st = palloc0(sizeof(GmmFitState));
		st->k = k;
		st->d = d;
		st->weighted = (w_arg >= 0);
		if (opt_arg >= 0 && !PG_ARGISNULL(opt_arg))
		{
			opts = PG_GETARG_JSONB_P(opt_arg);
			st->options_raw = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(opts));
		}
		gmm_options_parse(st->options_raw, &st->options);
		MemoryContextSwitchTo(old);
	}
	else
	{
		if (k != st->k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("n_components must be the same for every row of the aggregate"),
					 errdetail("It was %d on earlier rows and is %d on this one.", st->k, k)));
		if (opt_arg >= 0)
		{
			Jsonb	   *opts = PG_ARGISNULL(opt_arg) ? NULL : PG_GETARG_JSONB_P(opt_arg);
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
		vals = gmm_array_row(x, st->d, "the first row of the aggregate", NULL, &d);
	}

	if (weight > 0)
	{
		if (st->n == st->cap)
			FitStateGrow(st, aggctx);
		memcpy(st->X + st->n * st->d, vals, sizeof(double) * st->d);
		if (st->weighted)
			st->w[st->n] = weight;
		st->n++;
	}

	/* a detoasted copy of the row is not needed any more */
	if ((Pointer) x != DatumGetPointer(PG_GETARG_DATUM(x_arg)))
		pfree(x);

	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(gmm_fit_transfn);
Datum
gmm_fit_transfn(PG_FUNCTION_ARGS)
{
	return FitTransition(fcinfo, 1, -1, 2, PG_NARGS() > 3 ? 3 : -1);
}

PG_FUNCTION_INFO_V1(gmm_fit_weighted_transfn);
Datum
gmm_fit_weighted_transfn(PG_FUNCTION_ARGS)
{
	return FitTransition(fcinfo, 1, 2, 3, PG_NARGS() > 4 ? 4 : -1);
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
	}
	elog(ERROR, "gmm: unexpected status %d from the numerical core", (int) status);
}

/*
 * Run EM over rows X (n x d, weights w or NULL) with options o; warm, when
 * not NULL, is the model EM starts from.  Returns a new model in the caller's
 * memory context.  name is the SQL function, for messages.
 */
GmmModel *
gmm_fit_rows(const double *X, const double *w, int64 n, int d, int k,
			 GmmOptions *o, GmmModel *warm, const char *name)
{
	GmmModel   *m;
	GmmParams	params;
	GmmParams	warm_params;
	GmmFitResult res;
	GmmHooks	hooks;
	GmmStatus	status;
	MemoryContext fitctx;
	MemoryContext old;

	if (n < k)
		gmm_report_status(GMM_ERR_TOO_FEW_SAMPLES, 0, n, k);

	gmm_options_bind_init(o, k, d);
	if (warm != NULL)
	{
		gmm_model_params(warm, &warm_params);
		o->fit.warm_start = &warm_params;
	}
	else
		o->fit.warm_start = NULL;

	m = gmm_model_alloc(o->fit.cov_type, k, d, 0);
	gmm_model_params(m, &params);

	/* everything the core allocates goes away with this context */
	fitctx = AllocSetContextCreate(CurrentMemoryContext, "gmm fit",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitctx);
	gmm_core_hooks(&hooks);
	memset(&res, 0, sizeof(res));
	status = gmm_fit(X, w, (size_t) n, d, &o->fit, &hooks, &params, &res);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(fitctx);
	gmm_report_status(status, res.bad_component, n, k);

	m->init_params = (uint8) o->fit.init_params;
	m->flags = res.converged ? GMM_FLAG_CONVERGED : 0;
	m->n_iter = res.n_iter;
	m->max_iter = o->fit.max_iter;
	m->n_init = o->fit.n_init;
	m->n_samples = res.n_samples;
	m->random_state = (int64) o->fit.random_state;
	m->sum_weights = res.sum_weights;
	m->lower_bound = res.lower_bound;
	m->log_likelihood = res.log_likelihood;
	m->tol = o->fit.tol;
	m->reg_covar = o->fit.reg_covar;
	gmm_model_finish(m, ERRCODE_DATA_EXCEPTION);

	if (!res.converged && o->fit.max_iter > 0)
		ereport(WARNING,
				(errmsg("%s did not converge after %d iterations", name, res.n_iter),
				 errdetail("The mean log-likelihood still changed by more than tol = %g.",
						   o->fit.tol),
				 errhint("Increase max_iter or tol, or check the scale of the features.")));
	return m;
}

PG_FUNCTION_INFO_V1(gmm_fit_finalfn);
Datum
gmm_fit_finalfn(PG_FUNCTION_ARGS)
{
	GmmFitState *st;
	GmmOptions	o;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_fit_finalfn called in non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (GmmFitState *) PG_GETARG_POINTER(0);
	if (st->n == 0)
		gmm_report_status(GMM_ERR_ZERO_WEIGHT, 0, 0, st->k);

	/* the state is read-only here: work on a copy of the parsed options */
	o = st->options;
	PG_RETURN_GMM_P(gmm_fit_rows(st->X, st->w, st->n, st->d, st->k, &o, NULL,
								 st->weighted ? "gmm_fit_weighted" : "gmm_fit"));
}
