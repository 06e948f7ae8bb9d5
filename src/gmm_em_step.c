/*
 * gmm_em_step.c
 *	  gmm_em_step(x, model) and gmm_em_step(x, weight, model): one EM
 *	  iteration over the rows against the model, as a combinable aggregate.
 *
 * The state (gmm_em_state, gmm_em_state.h) holds the model, decoded once on
 * the first row, the first row's model datum in its raw form (the key that
 * later rows' model datums are compared with before anything is
 * decompressed), the E-step's sufficient statistics shifted by the model's
 * means, and a buffer of up to 255 rows.  The transition function appends a
 * row to the buffer and, when 256 rows are there, runs the blocked (BLAS-3)
 * E-step over them into the statistics, in place: as float8_accum does, a
 * pass-by-reference state that the executor hands back is updated without
 * a copy per row.  The combine function flushes both buffers into its first
 * argument and adds the second's statistics; the final function flushes
 * into a copy and runs the M-step, so it never changes the state.  The
 * statistics are sums, so any split of the rows over workers or nodes gives
 * the same pass up to the order of summation.
 *
 * The new model is the M-step of the pass (gmm_stats_mstep, with the
 * model's reg_covar).  Its lower_bound is the mean log-likelihood of the
 * rows under the input model (the E-step of this pass, as scikit-learn's
 * lower_bound_), n_iter is the input's plus one, n_samples and
 * sum_weights count the pass's rows, log_likelihood (of the new
 * parameters) is unknown (NULL), and it is marked converged when the input
 * model had a lower bound and the new one differs from it by less than the
 * model's tol: exactly gmm_fit's rule, so chaining passes from gmm_init's
 * model reproduces gmm_fit.
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "gmm.h"
#include "gmm_compat.h"
#include "gmm_em_state.h"
#include "gmm_fit.h"
#include "gmm_row.h"

/*
 * The plan Const whose model was last checked against a state: its datum's
 * address and the state's fingerprint.  Only a plan Const's address is
 * trusted: its value cannot change while the plan exists, while any other
 * address may be reused for another model.
 */
typedef struct EmStepCache
{
	bool		valid;
	uint64		fingerprint;
	Pointer		raw;
} EmStepCache;

/*
 * Whether a model datum can serve as a state's model key: a datum that
 * would have to be decompressed or fetched to be compared (compressed
 * inline bytes, a short-header inline value, an on-disk TOAST pointer).
 * Equal raw bytes decode to the same model; a TOAST value never changes
 * while it exists.
 */
static bool
UsableAsKey(const struct varlena *raw)
{
	if (VARATT_IS_EXTERNAL(raw))
		return VARATT_IS_EXTERNAL_ONDISK(raw);
	return VARATT_IS_EXTENDED(raw);
}

/*
 * ERROR unless the model datum of this row is the state's model.  In order
 * of cost:
 *	- the plan Const checked last time for this state (a literal model);
 *	- the raw datum equals the state's model key, the first row's model
 *	  datum as it arrived (the same compressed bytes, or the same TOAST
 *	  pointer): nothing is decompressed.  The key lives in the state, not in
 *	  fn_extra, because Citus's worker_partial_agg calls the transition
 *	  function through a fresh FmgrInfo on every row;
 *	- a plain datum is compared with the state's model in place;
 *	- anything else is decoded and compared.
 * The comparison covers the header and the primary parameters (weights,
 * means, covariances), not the derived Cholesky factors, which another
 * node's LAPACK may round differently.
 */
static void
CheckSameModel(FunctionCallInfo fcinfo, int argno, GmmEmState *s)
{
	EmStepCache *c = (EmStepCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	const struct varlena *key = gmm_em_state_key(s);
	GmmModel   *mine = (GmmModel *) s->data;
	GmmModel   *m;
	bool		same;

	if (c != NULL && c->valid && c->fingerprint == s->fingerprint &&
		(Pointer) raw == c->raw)
		return;
	if (key != NULL && UsableAsKey(raw) &&
		VARSIZE_ANY(raw) == VARSIZE_ANY(key) &&
		memcmp(raw, key, VARSIZE_ANY(raw)) == 0)
		return;

	m = DatumGetGmmP(PointerGetDatum(raw));
	same = VARSIZE(m) == (Size) s->model_bytes &&
		memcmp((char *) m + VARHDRSZ, (char *) mine + VARHDRSZ,
			   GMM_HEADER_SIZE - VARHDRSZ) == 0 &&
		memcmp(m->data, mine->data, sizeof(double) *
			   ((size_t) s->k + (size_t) s->k * s->d +
				gmm_cov_size((GmmCovType) s->cov_type, s->k, s->d))) == 0;
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model must be the same for every row of gmm_em_step"),
				 errhint("Run one gmm_em_step per model, e.g. with GROUP BY on the model's key.")));
	if ((Pointer) m != (Pointer) raw)
		pfree(m);
	if (gmm_arg_is_fixed(fcinfo, argno))
	{
		if (c == NULL)
		{
			c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(EmStepCache));
			fcinfo->flinfo->fn_extra = c;
		}
		c->valid = true;
		c->fingerprint = s->fingerprint;
		c->raw = (Pointer) raw;
	}
}

/* run the E-step over the state's buffered rows, in place */
static void
FlushBuffer(GmmEmState *s)
{
	GmmEmView	v;

	if (s->nbuf == 0)
		return;
	gmm_em_state_view(s, &v);
	gmm_em_accumulate(&v.stats, &v.params, v.xbuf, v.wbuf, s->nbuf,
					  &s->n_missing);
	gmm_em_state_store_counters(s, &v.stats);
	s->nbuf = 0;
}

/*
 * The transition step of both forms: rows with a NULL x (or weight) are
 * skipped, as strict aggregates skip them; rows of weight 0 are checked but
 * add nothing.
 */
static Datum
EmStepTransition(FunctionCallInfo fcinfo, int xarg, int warg, int marg,
				 int oarg, GmmRowReader read, uint8 flags)
{
	GmmEmState *s;
	void	   *to_free;
	const double *vals;
	double		weight = 1.0;
	int			n_null = 0;
	int			d;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_em_step transition function called in non-aggregate context");

	s = PG_ARGISNULL(0) ? NULL : DatumGetGmmEmStateP(PG_GETARG_DATUM(0));
	if (PG_ARGISNULL(xarg) || (warg >= 0 && PG_ARGISNULL(warg)))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (PG_ARGISNULL(marg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model of gmm_em_step must not be NULL")));
	if (warg >= 0)
	{
		weight = PG_GETARG_FLOAT8(warg);
		if (!isfinite(weight) || weight < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sample weight must be finite and not negative, not %g", weight)));
	}

	if (s == NULL)
	{
		struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(marg));
		GmmModel   *m = DatumGetGmmP(PointerGetDatum(raw));

		/* only option "missing" is read: the rest comes from the model */
		bool		missing = oarg >= 0 && !PG_ARGISNULL(oarg) &&
			gmm_options_missing_em(PG_GETARG_JSONB_P(oarg));

		gmm_bayes_reject(m, "gmm_em_step");

		if (read == gmm_array_reader)
			vals = gmm_array_reader_missing(PG_GETARG_DATUM(xarg), m->n_features,
											"the model", missing, &d, &to_free,
											&n_null);
		else
			vals = read(PG_GETARG_DATUM(xarg), m->n_features, "the model", &d, &to_free);

		/*
		 * Built in the per-row context: the executor copies a new state
		 * into the aggregate context itself.
		 */
		s = gmm_em_state_create_flags(m, UsableAsKey(raw) ? raw : NULL,
									  flags | (missing ? GMM_EM_FLAG_MISSING : 0));
	}
	else
	{
		CheckSameModel(fcinfo, marg, s);
		if (read == gmm_array_reader)
			vals = gmm_array_reader_missing(PG_GETARG_DATUM(xarg), s->d, "the model",
											(s->flags & GMM_EM_FLAG_MISSING) != 0,
											&d, &to_free, &n_null);
		else
			vals = read(PG_GETARG_DATUM(xarg), s->d, "the model", &d, &to_free);
	}

	/* a row whose every value is missing carries no information: skipped */
	if (weight > 0 && n_null < d)
	{
		GmmEmView	v;

		gmm_em_state_view(s, &v);
		memcpy(v.xbuf + (size_t) s->nbuf * s->d, vals, sizeof(double) * s->d);
		v.wbuf[s->nbuf] = weight;
		if (++s->nbuf == GMM_EM_BUF_ROWS)
		{
			gmm_em_accumulate(&v.stats, &v.params, v.xbuf, v.wbuf, s->nbuf,
							  &s->n_missing);
			gmm_em_state_store_counters(s, &v.stats);
			s->nbuf = 0;
		}
	}
	if (to_free)
		pfree(to_free);
	PG_RETURN_POINTER(s);
}

/*
 * The transition step of gmm_em_step(x, model) or, weighted, of
 * gmm_em_step(x, weight, model), with rows read by read (gmm_row.h).
 */
Datum
gmm_em_step_transition(FunctionCallInfo fcinfo, bool weighted, GmmRowReader read)
{
	int			nargs = PG_NARGS();

	/* with a trailing options argument (gmm 1.2) */
	return weighted ? EmStepTransition(fcinfo, 1, 2, 3, nargs > 4 ? 4 : -1, read, 0) :
		EmStepTransition(fcinfo, 1, -1, 2, nargs > 3 ? 3 : -1, read, 0);
}

/*
 * The same pass with a sketch of the rows' log-densities in the state
 * (gmm_calibrate, gmm_anomaly.c), weighted or not.
 */
Datum
gmm_em_step_transition_sketch(FunctionCallInfo fcinfo, bool weighted,
							  GmmRowReader read)
{
	return weighted ?
		EmStepTransition(fcinfo, 1, 2, 3, -1, read, GMM_EM_STATE_SKETCH) :
		EmStepTransition(fcinfo, 1, -1, 2, -1, read, GMM_EM_STATE_SKETCH);
}

PG_FUNCTION_INFO_V1(gmm_em_step_transfn);
Datum
gmm_em_step_transfn(PG_FUNCTION_ARGS)
{
	return gmm_em_step_transition(fcinfo, false, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_em_step_weighted_transfn);
Datum
gmm_em_step_weighted_transfn(PG_FUNCTION_ARGS)
{
	return gmm_em_step_transition(fcinfo, true, gmm_array_reader);
}

/*
 * Combine two passes against the same model (STRICT: the executor takes
 * the first non-NULL state as it is).  As an aggregate the first argument
 * is updated in place; called directly, a copy is.  The second is only
 * read: its buffered rows go through the E-step into the first's
 * statistics.
 */
PG_FUNCTION_INFO_V1(gmm_em_step_combine);
Datum
gmm_em_step_combine(PG_FUNCTION_ARGS)
{
	GmmEmState *a = DatumGetGmmEmStateP(PG_GETARG_DATUM(0));
	GmmEmState *b = DatumGetGmmEmStateP(PG_GETARG_DATUM(1));
	GmmEmView	va;
	GmmEmView	vb;

	gmm_em_state_check_compatible(a, b);
	if (!AggCheckCallContext(fcinfo, NULL) &&
		(Pointer) a == DatumGetPointer(PG_GETARG_DATUM(0)))
	{
		GmmEmState *copy = palloc(VARSIZE(a));

		memcpy(copy, a, VARSIZE(a));
		a = copy;
	}
	FlushBuffer(a);
	gmm_em_state_view(a, &va);
	gmm_em_state_view(b, &vb);
	gmm_em_accumulate(&va.stats, &va.params, vb.xbuf, vb.wbuf, b->nbuf,
					  &a->n_missing);
	gmm_stats_merge(&va.stats, &vb.stats);
	a->n_missing += b->n_missing;
	if (va.sketch && !gmm_sketch_merge(va.sketch, vb.sketch))
		elog(ERROR, "gmm_em_state sketches of the same model differ in their anchor");
	gmm_em_state_store_counters(a, &va.stats);
	PG_RETURN_POINTER(a);
}

/* the M-step of the pass: a new model (the state is only read) */
PG_FUNCTION_INFO_V1(gmm_em_step_final);
Datum
gmm_em_step_final(PG_FUNCTION_ARGS)
{
	GmmEmState *s = DatumGetGmmEmStateP(PG_GETARG_DATUM(0));
	GmmCovType	t = (GmmCovType) s->cov_type;
	size_t		nd = gmm_stats_ndoubles(t, s->k, s->d);
	GmmEmView	v;
	GmmStats	st;
	GmmModel   *in;
	GmmModel   *out;
	GmmParams	p;
	GmmStatus	status;
	double		lb;
	int			bad = -1;
	bool	   *cancelled;
	int			n_cancelled;
	int64		n_missing = s->n_missing;

	gmm_em_state_view(s, &v);
	in = v.model;
	gmm_stats_bind(&st, t, s->k, s->d, palloc(sizeof(double) * nd));
	memcpy(st.shift, v.stats.shift, sizeof(double) * nd);
	st.n_rows = v.stats.n_rows;
	st.sum_w = v.stats.sum_w;
	st.sum_loglik = v.stats.sum_loglik;
	gmm_em_accumulate(&st, &v.params, v.xbuf, v.wbuf, s->nbuf, &n_missing);
	if (st.n_rows == 0 || !(st.sum_w > 0))
		gmm_report_status(GMM_ERR_ZERO_WEIGHT, 0, 0, s->k);

	out = gmm_model_alloc(t, s->k, s->d, 0);
	gmm_model_params(out, &p);
	/*
	 * The combinable path has no second pass over the rows, so a component
	 * whose shifted scatter cancels (mstep_centred.c) cannot be recomputed
	 * from centred rows: the shifted result is kept with a warning, or, if it
	 * is not even positive definite, it is an error that says why.  The next
	 * step is shifted by the new means, so only this step is affected.
	 */
	cancelled = palloc(sizeof(bool) * s->k);
	n_cancelled = gmm_stats_cancelled(&st, cancelled);
	status = gmm_stats_mstep(&st, in->reg_covar, &p, &bad);
	if (status == GMM_ERR_NOT_PD && bad >= 0 && bad < s->k && cancelled[bad])
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("covariance of component %d lost its precision in gmm_em_step", bad),
				 errdetail("The component's mean moved far relative to its spread in this pass, so its scatter computed from sums shifted by the previous means cancelled; a combinable pass cannot recompute it from centred rows."),
				 errhint("Run this iteration with gmm_refit from the same model, which recomputes such components from centred rows, or increase reg_covar.")));
	gmm_report_status(status, bad, st.n_rows, s->k);
	if (n_cancelled > 0)
		ereport(WARNING,
				(errmsg_plural("the covariance of %d component of gmm_em_step is inaccurate",
							   "the covariances of %d components of gmm_em_step are inaccurate",
							   n_cancelled, n_cancelled),
				 errdetail("Their means moved far relative to their spread in this pass, so their scatter computed from sums shifted by the previous means kept few correct digits; a combinable pass cannot recompute it from centred rows."),
				 errhint("Run this iteration with gmm_refit from the same model, which recomputes such components from centred rows.")));

	lb = st.sum_loglik / st.sum_w;
	out->init_params = in->init_params;
	out->n_iter = in->n_iter < PG_INT32_MAX ? in->n_iter + 1 : PG_INT32_MAX;
	out->max_iter = in->max_iter;
	out->n_init = in->n_init;
	out->random_state = in->random_state;
	out->tol = in->tol;
	out->reg_covar = in->reg_covar;
	out->n_samples = st.n_rows;
	out->sum_weights = st.sum_w;
	out->lower_bound = lb;
	out->log_likelihood = get_float8_nan();
	out->flags = (isfinite(in->lower_bound) && fabs(lb - in->lower_bound) < in->tol) ?
		GMM_FLAG_CONVERGED : 0;
	gmm_model_finish(out, ERRCODE_DATA_EXCEPTION);
	/* missing => 'em': the count of missing values of the pass */
	if (n_missing > 0)
	{
		double		nm = (double) n_missing;

		out = gmm_model_set_section(out, GMM_SECTION_MISSING, &nm, 1);
	}
	pfree(st.shift);
	PG_RETURN_GMM_P(out);
}
