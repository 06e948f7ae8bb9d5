/*
 * gmm_anomaly.c
 *	  Anomaly detection: the calibration a fitted model carries (the
 *	  distribution of its training rows' log-densities, the CALIBRATION
 *	  section), gmm_calibrate, gmm_score_percentile, gmm_score_threshold,
 *	  gmm_mahalanobis and gmm_explain.
 *
 * gmm_calibrate(x, model) is a pass of gmm_em_step whose state also carries
 * a quantile sketch (src/core/sketch.c) of the rows' log-densities under the
 * model: the same transition, combine, send and receive functions, so it runs
 * in parallel workers and on Citus nodes as gmm_em_step does, and the sketch
 * is the same however the rows were split.  Its final function returns the
 * model with the calibration of those rows (replacing any it had); nothing
 * else of the model changes.
 *
 * The scoring functions use gmm_score.c's per-query model cache.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/tuplestore.h"

#include "gmm.h"
#include "gmm_em_state.h"
#include "gmm_row.h"

#define LOG_2PI 1.8378770664093454836

/* m with the calibration summary of sketch s (m itself when s is empty) */
GmmModel *
gmm_model_with_sketch(GmmModel *m, const GmmSketch *s)
{
	double	   *w;
	size_t		n;
	GmmModel   *out;

	if (s->n_rows == 0)
		return m;
	w = palloc(sizeof(double) * (GMM_CALIB_HEADER + GMM_CALIB_KNOTS));
	n = gmm_sketch_summary(s, GMM_CALIB_KNOTS, w);
	out = gmm_model_set_section(m, GMM_SECTION_CALIBRATION, w, (uint32) n);
	pfree(w);
	return out;
}

/* dst with src's section tag (dst itself when src has none) */
GmmModel *
gmm_model_copy_section(GmmModel *dst, const GmmModel *src, GmmSectionTag tag)
{
	uint32		n;
	const double *w = gmm_model_section(src, tag, &n);

	if (w == NULL)
		return dst;
	return gmm_model_set_section(dst, tag, w, n);
}

/* the model's calibration, or the error that says how to get one */
static const double *
Calibration(const GmmModel *m, const char *fn)
{
	uint32		n;
	const double *w = gmm_model_section(m, GMM_SECTION_CALIBRATION, &n);

	if (w == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs a calibrated model, and this model has no calibration", fn),
				 errdetail("Models fitted by gmm 1.2 carry the distribution of their training rows' log-densities (with missing => 'em': of their complete rows); models of format version 1, imported models, gmm_marginal results and fits without a complete row do not."),
				 errhint("Calibrate it on normal rows: SELECT gmm_calibrate(x, model) FROM rows.")));
	return w;
}

/*
 * The error of a row with NULL elements given to fn (gmm_calibrate,
 * gmm_score_percentile): a calibration is of complete rows' log-densities,
 * and a marginal log-density is on another scale.
 */
static void
CalibrationNulls(const char *fn)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s cannot take a row with NULL elements", fn),
			 errdetail("A calibration holds the log-densities of complete rows; the log-density of a row's observed features is a marginal over fewer features, on another scale, so a percentile of it against that calibration would be wrong."),
			 errhint("Calibrate a marginal model on the observed features, e.g. gmm_calibrate(x_sub, gmm_marginal(m, ARRAY[...])) over held-out rows, and score the sub-rows against it.")));
}

/* ---------------------------------------------------------------------
 * gmm_calibrate(x float8[], model gmm): the aggregate
 * ---------------------------------------------------------------------
 */

/* ERROR if argument 1, the row, has NULL elements */
static void
CalibrateCheckRow(FunctionCallInfo fcinfo)
{
	ArrayType  *a;

	if (PG_ARGISNULL(1))
		return;
	a = DatumGetArrayTypeP(PG_GETARG_DATUM(1));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		CalibrationNulls("gmm_calibrate");
	if ((Pointer) a != DatumGetPointer(PG_GETARG_DATUM(1)))
		pfree(a);
}

PG_FUNCTION_INFO_V1(gmm_calibrate_transfn);
Datum
gmm_calibrate_transfn(PG_FUNCTION_ARGS)
{
	CalibrateCheckRow(fcinfo);
	return gmm_em_step_transition_sketch(fcinfo, false, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_calibrate_weighted_transfn);
Datum
gmm_calibrate_weighted_transfn(PG_FUNCTION_ARGS)
{
	CalibrateCheckRow(fcinfo);
	return gmm_em_step_transition_sketch(fcinfo, true, gmm_array_reader);
}

/*
 * The model with the calibration of the pass's rows.  The state is only
 * read: its buffered rows go into copies of the statistics and the sketch.
 */
PG_FUNCTION_INFO_V1(gmm_calibrate_final);
Datum
gmm_calibrate_final(PG_FUNCTION_ARGS)
{
	GmmEmState *s = DatumGetGmmEmStateP(PG_GETARG_DATUM(0));
	GmmCovType	t = (GmmCovType) s->cov_type;
	size_t		nd = gmm_stats_ndoubles(t, s->k, s->d);
	GmmEmView	v;
	GmmStats	st;
	GmmSketch  *sk;
	int64		n_missing;

	if (!(s->flags & GMM_EM_STATE_SKETCH))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gmm_calibrate's state carries no sketch"),
				 errhint("The state of gmm_em_step cannot be calibrated; use gmm_calibrate.")));
	gmm_em_state_view(s, &v);
	sk = palloc(sizeof(GmmSketch));
	memcpy(sk, v.sketch, sizeof(GmmSketch));
	n_missing = 0;
	gmm_stats_bind(&st, t, s->k, s->d, palloc(sizeof(double) * nd));
	memcpy(st.shift, v.stats.shift, sizeof(double) * nd);
	st.n_rows = v.stats.n_rows;
	st.sum_w = v.stats.sum_w;
	st.sum_loglik = v.stats.sum_loglik;
	st.sketch = sk;
	gmm_em_accumulate(&st, &v.params, v.xbuf, v.wbuf, s->nbuf, &n_missing);
	if (sk->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("gmm_calibrate needs rows of positive weight")));
	PG_RETURN_GMM_P(gmm_model_with_sketch(v.model, sk));
}

/*
 * gmm_train's final pass (gmm_train.c): gmm_calibrate over the source, whose
 * result is the final model with its calibration, prepared in the caller's
 * SPI connection.  missing (missing => 'em' over rows with NULL elements):
 * the same scan gives the plain pass over every row first (the counts and
 * log-likelihood) and then gmm_calibrate over the complete rows only (NULL
 * when there is none).
 */
SPIPlanPtr
gmm_train_final_plan(const char *extschema, const char *qcol,
					 const char *relname, Oid gmm_oid, bool missing)
{
	const char *s = quote_identifier(extschema);
	char	   *q = missing ?
		psprintf("SELECT %s.gmm_em_step(%s, $1, '{\"missing\": \"em\"}'::jsonb), "
				 "%s.gmm_calibrate(%s, $1) FILTER (WHERE array_position(%s, NULL) IS NULL) "
				 "FROM %s", s, qcol, s, qcol, qcol, relname) :
		psprintf("SELECT %s.gmm_calibrate(%s, $1) FROM %s", s, qcol, relname);
	SPIPlanPtr	plan = SPI_prepare_cursor(q, 1, &gmm_oid, CURSOR_OPT_PARALLEL_OK);

	if (plan == NULL)
		elog(ERROR, "gmm_train: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/* the final pass's counts into result: from the calibration, exact sums */
void
gmm_train_final_counters(const GmmModel *final, GmmModel *result)
{
	const double *w = gmm_model_section(final, GMM_SECTION_CALIBRATION, NULL);

	if (w == NULL)
		elog(ERROR, "gmm_train: the final pass returned no calibration");
	result->log_likelihood = w[GMM_CALIB_MEAN];
	result->n_samples = (int64) w[GMM_CALIB_N_ROWS];
	result->sum_weights = w[GMM_CALIB_SUM_W];
}

/* ---------------------------------------------------------------------
 * Percentiles and thresholds
 * ---------------------------------------------------------------------
 */

/*
 * gmm_score_percentile(model, x): the weighted fraction of the training rows
 * whose log-density is lower than the row's, in [0, 1].  A row with NULL
 * elements is refused (CalibrationNulls).
 */
PG_FUNCTION_INFO_V1(gmm_score_percentile);
Datum
gmm_score_percentile(PG_FUNCTION_ARGS)
{
	GmmPrepared p;
	void	   *to_free;
	int			d;
	const double *x;
	const double *w;
	double	   *idx;
	int			m;
	bool		fresh;
	double		lse;

	gmm_score_prepared(fcinfo, 0, &p);
	w = Calibration(p.model, "gmm_score_percentile");
	/* the calibration's index, once per model in the scoring cache */
	m = (int) w[GMM_CALIB_N_KNOTS];
	idx = gmm_prepared_buffer(&p, gmm_calib_index_ndoubles(m), &fresh);
	if (fresh)
		gmm_calib_index(w, idx);
	x = gmm_array_reader_nulls(PG_GETARG_DATUM(1), p.params.d, "the model", &d, &to_free);
	if (gmm_row_count_missing(x, d) > 0)
		CalibrationNulls("gmm_score_percentile");
	lse = p.row_fn(&p.params, p.lanes, p.log_weights, x, p.logprob, p.work);
	if (to_free)
		pfree(to_free);
	PG_RETURN_FLOAT8(gmm_calib_percentile_q(w, idx, lse));
}

/*
 * gmm_score_threshold(model, fraction): the log-density below which that
 * fraction of the training rows lies (the inverse of gmm_score_percentile).
 */
PG_FUNCTION_INFO_V1(gmm_score_threshold);
Datum
gmm_score_threshold(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	double		q = PG_GETARG_FLOAT8(1);
	const double *w = Calibration(m, "gmm_score_threshold");

	if (!(q >= 0.0 && q <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fraction must be between 0 and 1, not %s", float8out_internal(q))));
	PG_RETURN_FLOAT8(gmm_calib_threshold(w, q));
}

/* ---------------------------------------------------------------------
 * Mahalanobis distances and per-feature explanations
 * ---------------------------------------------------------------------
 *
 * Both take one row of D values under parameters p: the model, or for a
 * row with NULL elements the marginal over its observed features (whose
 * components are the observed blocks, gmm_marginal_params), with the row
 * packed to those features.  Component c's precision-Cholesky factor U
 * (precision P = U U^T, upper triangular, row-major) is read in place: full
 * and tied models store it, diagonal and spherical ones its diagonal.  What
 * they need beyond the row lives in the scoring cache's buffer
 * (gmm_prepared_buffer): the precision diagonals P_jj of the model, made
 * when the cache takes the model, and the workspace, so that a complete row
 * costs O(k D^2) and no allocation but the result's.  A row with NULL
 * elements takes the marginal of its missingness pattern from the ones the
 * call site keeps (gmm_score.c's, gmm_prepared_marginal), built once per
 * pattern (a factor of each observed block: O(k D^3)), or builds it in that
 * buffer when it is too large to keep.
 */

/* the ExplainRow array's size in doubles */
#define EXPLAIN_ROW_DOUBLES(d) \
	(((size_t) (d) * sizeof(ExplainRow) + sizeof(double) - 1) / sizeof(double))

typedef struct ExplainRow
{
	int			feature;
	bool		missing;		/* value NULL: expected, sd only */
	double		value;
	double		expected;
	double		sd;
	double		z;
	double		log_density;
} ExplainRow;

/* the parts of the cache's buffer (AnomalyBuffer) */
typedef struct AnomalyBuf
{
	double	   *pdiag;			/* k x d (tied: d): the model's P_jj */
	double	   *margbuf;		/* gmm_params_ndoubles(t, k, d): a marginal */
	GmmParams	marg;
	double	   *xo;				/* d: the row's observed values */
	int		   *obs;			/* d: their positions */
	double	   *work;			/* ExplainValues's: 2 d + 2 k + 3 k d */
	double	   *mean;			/* d */
	double	   *sd;				/* d */
	double	   *ld;				/* d */
	double	   *vec;			/* 2 d */
	double	   *mm;				/* k x d: conditional means of missing features */
	double	   *mv;				/* k x d: and variances */
	double	   *resp;			/* k */
	Datum	   *datums;			/* k */
	ExplainRow *rows;			/* d */
} AnomalyBuf;

/* z = U_c^T (x - mu_c): the whitened row (its squared norm: the distance) */
static void
Whiten(const GmmParams *p, int c, const double *x, double *z)
{
	int			D = p->d;
	const double *mu = p->means + (size_t) c * D;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			{
				const double *U = p->prec_chol +
					(p->cov_type == GMM_COV_FULL ? (size_t) c * D * D : 0);

				for (int t = 0; t < D; t++)
					z[t] = 0.0;
				/* row a of U adds (x_a - mu_a) U_at to z_t, t >= a */
				for (int a = 0; a < D; a++)
				{
					double		da = x[a] - mu[a];
					const double *Ua = U + (size_t) a * D;

					for (int t = a; t < D; t++)
						z[t] += da * Ua[t];
				}
			}
			break;
		case GMM_COV_DIAG:
			for (int t = 0; t < D; t++)
				z[t] = (x[t] - mu[t]) * p->prec_chol[(size_t) c * D + t];
			break;
		case GMM_COV_SPHERICAL:
			for (int t = 0; t < D; t++)
				z[t] = (x[t] - mu[t]) * p->prec_chol[c];
			break;
	}
}

/* (U_c z)_j: row j of U_c times z */
static inline double
URow(const GmmParams *p, int c, int j, const double *z)
{
	int			D = p->d;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			{
				const double *Uj = p->prec_chol +
					(p->cov_type == GMM_COV_FULL ? (size_t) c * D * D : 0) + (size_t) j * D;
				double		s = 0.0;

				for (int t = j; t < D; t++)
					s += Uj[t] * z[t];
				return s;
			}
		case GMM_COV_DIAG:
			return p->prec_chol[(size_t) c * D + j] * z[j];
		case GMM_COV_SPHERICAL:
			return p->prec_chol[c] * z[j];
	}
	return 0.0;
}

/* P_jj of every component (tied: one) into pd, k x D (tied: D) */
static void
PrecisionDiagonals(const GmmParams *p, double *pd)
{
	int			D = p->d;
	int			nb = p->cov_type == GMM_COV_TIED ? 1 : p->k;

	for (int c = 0; c < nb; c++)
		for (int j = 0; j < D; j++)
		{
			double		s = 0.0;

			switch (p->cov_type)
			{
				case GMM_COV_FULL:
				case GMM_COV_TIED:
					{
						const double *Uj = p->prec_chol + (size_t) c * D * D + (size_t) j * D;

						for (int t = j; t < D; t++)
							s += Uj[t] * Uj[t];
					}
					break;
				case GMM_COV_DIAG:
					s = p->prec_chol[(size_t) c * D + j] * p->prec_chol[(size_t) c * D + j];
					break;
				case GMM_COV_SPHERICAL:
					s = p->prec_chol[c] * p->prec_chol[c];
					break;
			}
			pd[(size_t) c * D + j] = s;
		}
}

/* the cache's buffer for model p, its parts in b (prepared on first use) */
static void
AnomalyBuffer(const GmmPrepared *pp, AnomalyBuf *b)
{
	const GmmParams *p = &pp->params;
	int			k = p->k;
	int			d = p->d;
	size_t		kd = (size_t) k * d;
	size_t		npar = gmm_params_ndoubles(p->cov_type, k, d);
	size_t		n = kd + npar + d + d + (3 * (size_t) d + 2 * k + 3 * kd) +
		3 * (size_t) d + 2 * (size_t) d + 2 * kd + k + k + EXPLAIN_ROW_DOUBLES(d);
	bool		fresh;
	double	   *w = gmm_prepared_buffer(pp, n, &fresh);

	b->pdiag = w;
	w += kd;
	b->margbuf = w;
	w += npar;
	b->xo = w;
	w += d;
	b->obs = (int *) w;			/* d ints in d doubles */
	w += d;
	b->work = w;
	w += 3 * (size_t) d + 2 * k + 3 * kd;
	b->mean = w;
	w += d;
	b->sd = w;
	w += d;
	b->ld = w;
	w += d;
	b->vec = w;
	w += 2 * (size_t) d;
	b->mm = w;
	w += kd;
	b->mv = w;
	w += kd;
	b->resp = w;
	w += k;
	b->datums = (Datum *) w;	/* sizeof(Datum) == sizeof(double) */
	w += k;
	b->rows = (ExplainRow *) w;
	if (fresh)
		PrecisionDiagonals(p, b->pdiag);
}

/*
 * The row's observed features (m of the model's d missing, 0 < m < d) into
 * b->obs, b->xo, and the marginal over them: the one kept for the row's
 * missingness pattern by the call site (gmm_prepared_marginal), else built
 * into b->marg.
 */
static const GmmParams *
ObservedMarginal(const GmmPrepared *pp, const double *x, int m, AnomalyBuf *b)
{
	const GmmParams *p = &pp->params;
	const GmmParams *kept;
	int			no = 0;
	int			bad = -1;

	for (int t = 0; t < p->d; t++)
		if (!isnan(x[t]))
		{
			b->obs[no] = t;
			b->xo[no++] = x[t];
		}
	Assert(no == p->d - m);
	kept = gmm_prepared_marginal(pp, x, m);
	if (kept != NULL)
		return kept;
	gmm_params_bind(&b->marg, p->cov_type, p->k, no, b->margbuf);
	if (gmm_marginal_params(p, no, b->obs, &b->marg, &bad) != GMM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the model's covariance is numerically singular on the observed features of the row")));
	return &b->marg;
}

/* the error of a Bayesian model given a row with NULL elements */
static void
BayesianNulls(const GmmModel *m, const char *verb, int d)
{
	if (gmm_model_is_bayesian(m))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a Bayesian model cannot %s a row with NULL elements", verb),
				 errdetail("Its per-component terms (scikit-learn's digamma terms) are those of all %d features, not of a marginal.", d),
				 errhint("Fill the row first, e.g. with gmm_impute under a gmm_fit model, or use its complete rows only.")));
}

/*
 * gmm_mahalanobis(model, x): squared Mahalanobis distance to each
 * component; over the observed features of a row with NULL elements (each
 * component's observed block), NULL for a row of NULLs only.
 */
PG_FUNCTION_INFO_V1(gmm_mahalanobis);
Datum
gmm_mahalanobis(PG_FUNCTION_ARGS)
{
	GmmPrepared p;
	AnomalyBuf	b;
	void	   *to_free;
	int			d;
	int			k;
	int			m;
	const double *x;
	const GmmParams *q;
	ArrayType  *result;

	gmm_score_prepared(fcinfo, 0, &p);
	k = p.params.k;
	x = gmm_array_reader_nulls(PG_GETARG_DATUM(1), p.params.d, "the model", &d, &to_free);
	m = gmm_row_count_missing(x, d);
	if (m == d)
	{
		if (to_free)
			pfree(to_free);
		PG_RETURN_NULL();
	}
	if (m > 0)
		BayesianNulls(p.model, "measure", d);
	AnomalyBuffer(&p, &b);
	q = &p.params;
	if (m > 0)
	{
		q = ObservedMarginal(&p, x, m, &b);
		x = b.xo;
	}
	for (int j = 0; j < k; j++)
	{
		double		s = 0.0;

		Whiten(q, j, x, b.vec);
		for (int t = 0; t < q->d; t++)
			s += b.vec[t] * b.vec[t];
		b.datums[j] = Float8GetDatum(s);
	}
	result = construct_array(b.datums, k, FLOAT8OID, sizeof(float8),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	if (to_free)
		pfree(to_free);
	PG_RETURN_ARRAYTYPE_P(result);
}

static int
ExplainCmp(const void *a, const void *b)
{
	const ExplainRow *x = a;
	const ExplainRow *y = b;

	/* missing features (no log-density) last, by feature */
	if (x->missing != y->missing)
		return x->missing ? 1 : -1;
	if (!x->missing && x->log_density != y->log_density)
		return x->log_density < y->log_density ? -1 : 1;
	return x->feature - y->feature;
}

static inline double
LogSumExp(const double *a, int n)
{
	double		m = -INFINITY;
	double		s = 0.0;

	for (int i = 0; i < n; i++)
		m = fmax(m, a[i]);
	if (!isfinite(m))
		return m;
	for (int i = 0; i < n; i++)
		s += exp(a[i] - m);
	return m + log(s);
}

/*
 * For each of the D features j of row x under p: the one-dimensional
 * mixture of x_j given the other D - 1 features, its mean, sd and log p(x_j
 * | x_-j) into mean[j], sd[j], ld[j].  Per component c, with precision P =
 * U U^T and r = P (x - mu_c) = U z: the conditional variance is 1 / P_jj and
 * the conditional mean x_j - r_j / P_jj, so all features cost O(D^2) per
 * component.  Since p_c(x) = p_c(x_-j) p_c(x_j | x_-j), the conditional
 * responsibilities are those of log w_c + log p_c(x) - log p_c(x_j | x_-j),
 * and log p(x_j | x_-j) = log p(x) - log sum_c w_c p_c(x_-j).  pdiag: the
 * P_jj (PrecisionDiagonals); work: 3 D + 2 k + 3 k D doubles.
 */
static void
ExplainValues(const GmmParams *p, const double *log_weights, const double *x,
			  const double *pdiag, double *work, double *mean, double *sd,
			  double *ld)
{
	int			k = p->k;
	int			D = p->d;
	size_t		kD = (size_t) k * D;
	double	   *z = work;
	double	   *rowwork = z + D;	/* gmm_row_log_prob's: 2 D */
	double	   *lp = rowwork + 2 * D;
	double	   *a = lp + k;
	double	   *cm = a + k;
	double	   *cv = cm + kD;
	double	   *l1 = cv + kD;
	double		lse = gmm_row_log_prob(p, log_weights, x, lp, rowwork);

	for (int c = 0; c < k; c++)
	{
		const double *pd = pdiag + (p->cov_type == GMM_COV_TIED ? 0 : (size_t) c * D);

		Whiten(p, c, x, z);
		for (int j = 0; j < D; j++)
		{
			double		pjj = pd[j];
			double		r = URow(p, c, j, z);
			size_t		i = (size_t) c * D + j;

			cv[i] = 1.0 / pjj;
			cm[i] = x[j] - r / pjj;
			l1[i] = -0.5 * (LOG_2PI + log(cv[i]) + (x[j] - cm[i]) * (x[j] - cm[i]) / cv[i]);
		}
	}
	for (int j = 0; j < D; j++)
	{
		double		ln;
		double		mu = 0.0,
					m2 = 0.0;

		for (int c = 0; c < k; c++)
			a[c] = lp[c] - l1[(size_t) c * D + j];
		ln = LogSumExp(a, k);
		for (int c = 0; c < k; c++)
		{
			a[c] = exp(a[c] - ln);	/* the conditional responsibility */
			mu += a[c] * cm[(size_t) c * D + j];
		}
		/* the mixture's variance about its mean: no cancellation */
		for (int c = 0; c < k; c++)
		{
			size_t		i = (size_t) c * D + j;

			m2 += a[c] * (cv[i] + (cm[i] - mu) * (cm[i] - mu));
		}
		mean[j] = mu;
		sd[j] = sqrt(m2);
		ld[j] = lse - ln;
	}
}

/*
 * The missing features of row x (model p, the marginal q over its observed
 * features b->obs, their values b->xo): per missing feature j the mixture of
 * x_j given all observed features, into b->rows[j].expected and sd.  Per
 * component c, with S its covariance, r = x_o - mu_o and U the factor of
 * the observed block's precision (S_oo^-1 = U U^T): the conditional mean is
 * mu_j + S_jo U U^T r and the variance S_jj - |U^T S_oj|^2; the weights are
 * the responsibilities of the observed features.
 */
static void
ExplainMissing(const GmmParams *p, const double *log_weights, const GmmParams *q,
			   const double *x, AnomalyBuf *b)
{
	int			k = p->k;
	int			d = p->d;
	int			no = q->d;
	double	   *z = b->vec;
	double	   *wv = b->vec + d;
	double		lse = gmm_row_log_prob(q, log_weights, b->xo, b->resp, b->work);

	/* the responsibilities; a row whose densities all underflow: the weights */
	for (int c = 0; c < k; c++)
		b->resp[c] = lse == -INFINITY ? p->weights[c] : exp(b->resp[c] - lse);
	for (int c = 0; c < k; c++)
	{
		bool		fullish = p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED;
		const double *S = p->covariances +
			(p->cov_type == GMM_COV_FULL ? (size_t) c * d * d : 0);
		const double *U = q->prec_chol +
			(q->cov_type == GMM_COV_FULL ? (size_t) c * no * no : 0);

		if (fullish)
		{
			/* wv = U U^T r = U z */
			Whiten(q, c, b->xo, z);
			for (int a = 0; a < no; a++)
				wv[a] = URow(q, c, a, z);
		}
		for (int j = 0; j < d; j++)
		{
			size_t		i = (size_t) c * d + j;

			if (!isnan(x[j]))
				continue;
			if (!fullish)
			{
				b->mm[i] = p->means[i];
				b->mv[i] = p->cov_type == GMM_COV_DIAG ? p->covariances[i] :
					p->covariances[c];
				continue;
			}
			{
				double		mu = p->means[i];
				double		v = S[(size_t) j * d + j];

				/* z = U^T S_oj: the explained part of the variance is |z|^2 */
				for (int t = 0; t < no; t++)
					z[t] = 0.0;
				for (int a = 0; a < no; a++)
				{
					double		s = S[(size_t) j * d + b->obs[a]];
					const double *Ua = U + (size_t) a * no;

					mu += s * wv[a];
					for (int t = a; t < no; t++)
						z[t] += s * Ua[t];
				}
				for (int t = 0; t < no; t++)
					v -= z[t] * z[t];
				b->mm[i] = mu;
				b->mv[i] = v > 0.0 ? v : 0.0;	/* rounding only */
			}
		}
	}
	for (int j = 0; j < d; j++)
	{
		double		mu = 0.0,
					m2 = 0.0;

		if (!isnan(x[j]))
			continue;
		for (int c = 0; c < k; c++)
			mu += b->resp[c] * b->mm[(size_t) c * d + j];
		for (int c = 0; c < k; c++)
		{
			size_t		i = (size_t) c * d + j;

			m2 += b->resp[c] * (b->mv[i] + (b->mm[i] - mu) * (b->mm[i] - mu));
		}
		b->rows[j].expected = mu;
		b->rows[j].sd = sqrt(m2);
	}
}

/*
 * gmm_explain(model, x): for each feature j the one-dimensional mixture of
 * x_j given every other feature (ExplainValues).  A row with NULL elements:
 * an observed feature given the other observed ones (the same under the
 * marginal over the observed features), a missing one given all observed
 * ones (ExplainMissing) with value, z and log_density NULL, after the
 * observed ones; a row of NULLs only gives no rows.
 */
PG_FUNCTION_INFO_V1(gmm_explain);
Datum
gmm_explain(PG_FUNCTION_ARGS)
{
	GmmPrepared p;
	AnomalyBuf	b;
	void	   *to_free;
	int			d;
	int			m;
	const double *x;
	ReturnSetInfo *rsinfo;

	gmm_score_prepared(fcinfo, 0, &p);
	x = gmm_array_reader_nulls(PG_GETARG_DATUM(1), p.params.d, "the model", &d, &to_free);
	m = gmm_row_count_missing(x, d);
	rsinfo = gmm_srf_materialize(fcinfo);
	if (m == d)
	{
		/* no evidence, nothing to explain (as gmm_predict_top) */
		if (to_free)
			pfree(to_free);
		return (Datum) 0;
	}
	if (m > 0)
		BayesianNulls(p.model, "explain", d);
	AnomalyBuffer(&p, &b);
	if (m == 0)
	{
		ExplainValues(&p.params, p.log_weights, x, b.pdiag, b.work, b.mean,
					  b.sd, b.ld);
		for (int j = 0; j < d; j++)
		{
			b.rows[j].feature = j + 1;
			b.rows[j].missing = false;
			b.rows[j].value = x[j];
			b.rows[j].expected = b.mean[j];
			b.rows[j].sd = b.sd[j];
			b.rows[j].z = (x[j] - b.mean[j]) / b.sd[j];
			b.rows[j].log_density = b.ld[j];
		}
	}
	else
	{
		const GmmParams *q = ObservedMarginal(&p, x, m, &b);

		/* the marginal's P_jj, in b.mm until ExplainMissing needs it */
		PrecisionDiagonals(q, b.mm);
		ExplainValues(q, p.log_weights, b.xo, b.mm, b.work, b.mean, b.sd, b.ld);
		for (int j = 0; j < d; j++)
		{
			b.rows[j].feature = j + 1;
			b.rows[j].missing = isnan(x[j]);
			b.rows[j].value = x[j];
		}
		for (int a = 0; a < q->d; a++)
		{
			ExplainRow *r = &b.rows[b.obs[a]];

			r->expected = b.mean[a];
			r->sd = b.sd[a];
			r->z = (r->value - b.mean[a]) / b.sd[a];
			r->log_density = b.ld[a];
		}
		ExplainMissing(&p.params, p.log_weights, q, x, &b);
	}
	if (to_free)
		pfree(to_free);
	qsort(b.rows, d, sizeof(ExplainRow), ExplainCmp);

	for (int j = 0; j < d; j++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		ExplainRow *r = &b.rows[j];

		values[0] = Int32GetDatum(r->feature);
		values[1] = Float8GetDatum(r->value);
		values[2] = Float8GetDatum(r->expected);
		values[3] = Float8GetDatum(r->sd);
		values[4] = Float8GetDatum(r->z);
		values[5] = Float8GetDatum(r->log_density);
		nulls[1] = nulls[4] = nulls[5] = r->missing;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
