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
				 errdetail("Models fitted by gmm 1.2 carry the distribution of their training rows' log-densities; models of format version 1, imported models and gmm_marginal results do not."),
				 errhint("Calibrate it on normal rows: SELECT gmm_calibrate(x, model) FROM rows.")));
	return w;
}

/* ---------------------------------------------------------------------
 * gmm_calibrate(x float8[], model gmm): the aggregate
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(gmm_calibrate_transfn);
Datum
gmm_calibrate_transfn(PG_FUNCTION_ARGS)
{
	return gmm_em_step_transition_sketch(fcinfo, false, gmm_array_reader);
}

PG_FUNCTION_INFO_V1(gmm_calibrate_weighted_transfn);
Datum
gmm_calibrate_weighted_transfn(PG_FUNCTION_ARGS)
{
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
 * SPI connection.
 */
SPIPlanPtr
gmm_train_final_plan(const char *extschema, const char *qcol,
					 const char *relname, Oid gmm_oid)
{
	char	   *q = psprintf("SELECT %s.gmm_calibrate(%s, $1) FROM %s",
							 quote_identifier(extschema), qcol, relname);
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
 * whose log-density is lower than the row's, in [0, 1].
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
	double		lse;

	gmm_score_prepared(fcinfo, 0, &p);
	w = Calibration(p.model, "gmm_score_percentile");
	x = gmm_array_reader(PG_GETARG_DATUM(1), p.params.d, "the model", &d, &to_free);
	lse = gmm_row_log_prob(&p.params, p.log_weights, x, p.logprob, p.work);
	if (to_free)
		pfree(to_free);
	PG_RETURN_FLOAT8(gmm_calib_percentile(w, lse));
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
 */

/*
 * Component j's precision-Cholesky factor as a dense upper-triangular d x d
 * row-major U (precision = U U^T), for every covariance type.
 */
static void
DenseFactor(const GmmParams *p, int j, double *U)
{
	int			d = p->d;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
			memcpy(U, p->prec_chol + (size_t) j * d * d, sizeof(double) * d * d);
			break;
		case GMM_COV_TIED:
			memcpy(U, p->prec_chol, sizeof(double) * d * d);
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			memset(U, 0, sizeof(double) * d * d);
			for (int t = 0; t < d; t++)
				U[(size_t) t * d + t] = p->cov_type == GMM_COV_DIAG ?
					p->prec_chol[(size_t) j * d + t] : p->prec_chol[j];
			break;
	}
}

/* z = U^T (x - mu_j): the whitened row (its squared norm: the distance) */
static void
Whiten(const GmmParams *p, int j, const double *U, const double *x, double *diff,
	   double *z)
{
	int			d = p->d;

	for (int a = 0; a < d; a++)
		diff[a] = x[a] - p->means[(size_t) j * d + a];
	for (int t = 0; t < d; t++)
	{
		double		s = 0.0;

		for (int a = 0; a <= t; a++)
			s += diff[a] * U[(size_t) a * d + t];
		z[t] = s;
	}
}

/* gmm_mahalanobis(model, x): squared Mahalanobis distance to each component */
PG_FUNCTION_INFO_V1(gmm_mahalanobis);
Datum
gmm_mahalanobis(PG_FUNCTION_ARGS)
{
	GmmPrepared p;
	void	   *to_free;
	int			d;
	int			k;
	const double *x;
	double	   *U;
	double	   *diff;
	double	   *z;
	Datum	   *out;

	gmm_score_prepared(fcinfo, 0, &p);
	k = p.params.k;
	x = gmm_array_reader(PG_GETARG_DATUM(1), p.params.d, "the model", &d, &to_free);
	U = palloc(sizeof(double) * d * d);
	diff = palloc(sizeof(double) * d);
	z = palloc(sizeof(double) * d);
	out = palloc(sizeof(Datum) * k);
	for (int j = 0; j < k; j++)
	{
		double		q = 0.0;

		if (j == 0 || (p.params.cov_type != GMM_COV_TIED))
			DenseFactor(&p.params, j, U);
		Whiten(&p.params, j, U, x, diff, z);
		for (int t = 0; t < d; t++)
			q += z[t] * z[t];
		out[j] = Float8GetDatum(q);
	}
	if (to_free)
		pfree(to_free);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, k, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

typedef struct ExplainRow
{
	int			feature;
	double		value;
	double		expected;
	double		sd;
	double		z;
	double		log_density;
} ExplainRow;

static int
ExplainCmp(const void *a, const void *b)
{
	const ExplainRow *x = a;
	const ExplainRow *y = b;

	if (x->log_density != y->log_density)
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
 * gmm_explain(model, x): for each feature j the one-dimensional mixture of
 * x_j given every other feature.  Per component c, with precision P = U U^T
 * and r = P (x - mu_c) = U z: the conditional variance is 1 / P_jj and the
 * conditional mean x_j - r_j / P_jj, so all features cost O(d^2) per
 * component.  Since p_c(x) = p_c(x_-j) p_c(x_j | x_-j), the conditional
 * responsibilities are those of log w_c + log p_c(x) - log p_c(x_j | x_-j),
 * and log p(x_j | x_-j) = log p(x) - log sum_c w_c p_c(x_-j).
 */
PG_FUNCTION_INFO_V1(gmm_explain);
Datum
gmm_explain(PG_FUNCTION_ARGS)
{
	GmmPrepared p;
	void	   *to_free;
	int			d;
	int			k;
	const double *x;
	double	   *U,
			   *diff,
			   *z,
			   *lp,
			   *cm,
			   *cv,
			   *l1,
			   *a;
	double		lse;
	ExplainRow *rows;
	ReturnSetInfo *rsinfo;

	gmm_score_prepared(fcinfo, 0, &p);
	k = p.params.k;
	x = gmm_array_reader(PG_GETARG_DATUM(1), p.params.d, "the model", &d, &to_free);
	U = palloc(sizeof(double) * d * d);
	diff = palloc(sizeof(double) * d);
	z = palloc(sizeof(double) * d);
	lp = palloc(sizeof(double) * k);
	cm = palloc(sizeof(double) * k * d);
	cv = palloc(sizeof(double) * k * d);
	l1 = palloc(sizeof(double) * k * d);
	a = palloc(sizeof(double) * k);
	lse = gmm_row_log_prob(&p.params, p.log_weights, x, lp, p.work);
	for (int c = 0; c < k; c++)
	{
		DenseFactor(&p.params, c, U);
		Whiten(&p.params, c, U, x, diff, z);
		for (int j = 0; j < d; j++)
		{
			double		pjj = 0.0,
						r = 0.0;
			size_t		i = (size_t) c * d + j;

			/* row j of U: P_jj = sum_t U_jt^2, r_j = sum_t U_jt z_t */
			for (int t = j; t < d; t++)
			{
				pjj += U[(size_t) j * d + t] * U[(size_t) j * d + t];
				r += U[(size_t) j * d + t] * z[t];
			}
			cv[i] = 1.0 / pjj;
			cm[i] = x[j] - r / pjj;
			l1[i] = -0.5 * (LOG_2PI + log(cv[i]) + (x[j] - cm[i]) * (x[j] - cm[i]) / cv[i]);
		}
	}
	rows = palloc(sizeof(ExplainRow) * d);
	for (int j = 0; j < d; j++)
	{
		double		ln;
		double		mean = 0.0,
					m2 = 0.0;

		for (int c = 0; c < k; c++)
			a[c] = lp[c] - l1[(size_t) c * d + j];
		ln = LogSumExp(a, k);
		for (int c = 0; c < k; c++)
		{
			a[c] = exp(a[c] - ln);	/* the conditional responsibility */
			mean += a[c] * cm[(size_t) c * d + j];
		}
		/* the mixture's variance about its mean: no cancellation */
		for (int c = 0; c < k; c++)
		{
			size_t		i = (size_t) c * d + j;

			m2 += a[c] * (cv[i] + (cm[i] - mean) * (cm[i] - mean));
		}
		rows[j].feature = j + 1;
		rows[j].value = x[j];
		rows[j].expected = mean;
		rows[j].sd = sqrt(m2);
		rows[j].z = (x[j] - mean) / rows[j].sd;
		rows[j].log_density = lse - ln;
	}
	if (to_free)
		pfree(to_free);
	qsort(rows, d, sizeof(ExplainRow), ExplainCmp);

	rsinfo = gmm_srf_materialize(fcinfo);
	for (int j = 0; j < d; j++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int32GetDatum(rows[j].feature);
		values[1] = Float8GetDatum(rows[j].value);
		values[2] = Float8GetDatum(rows[j].expected);
		values[3] = Float8GetDatum(rows[j].sd);
		values[4] = Float8GetDatum(rows[j].z);
		values[5] = Float8GetDatum(rows[j].log_density);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
