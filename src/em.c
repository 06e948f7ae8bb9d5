/*
 * em.c
 *	  Expectation-maximisation for Gaussian mixtures: per-row scoring, the
 *	  blocked E-step with its additive sufficient statistics, scikit-learn's
 *	  M-step, and the fit loop with its initialisations.  Part of the
 *	  numerical core: no PostgreSQL headers.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

#define LOG_2PI 1.8378770664093454836

/* scikit-learn adds 10 machine epsilons to every component's mass */
#define NK_EPS (10.0 * DBL_EPSILON)

/* log(sum(exp(a))) over k values, shifted by the maximum */
static inline double
log_sum_exp(const double *a, int k)
{
	double		m = a[0],
				s = 0.0;

	for (int j = 1; j < k; j++)
		if (a[j] > m)
			m = a[j];
	if (!isfinite(m))
		return m;
	for (int j = 0; j < k; j++)
		s += exp(a[j] - m);
	return m + log(s);
}

/* tied: the one shift of the statistics, sum_j weights_j means_j */
static void
tied_shift(const GmmParams *p, double *c)
{
	memset(c, 0, sizeof(double) * p->d);
	for (int j = 0; j < p->k; j++)
		for (int t = 0; t < p->d; t++)
			c[t] += p->weights[j] * p->means[(size_t) j * p->d + t];
}

/*
 * Squared Mahalanobis distance of one row to component j by plain loops:
 * ||(x - mu) U|| for full and tied (U upper, row-major), the scaled sum of
 * squares for diag and spherical.  work: d doubles.
 */
static double
row_quad(const GmmParams *p, int j, const double *x, double *work)
{
	int			d = p->d;
	const double *mu = p->means + (size_t) j * d;
	double		q = 0.0;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			{
				const double *U = p->prec_chol +
					(p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);

				for (int t = 0; t < d; t++)
					work[t] = x[t] - mu[t];
				for (int t = 0; t < d; t++)
				{
					double		z = 0.0;

					for (int s = 0; s <= t; s++)
						z += work[s] * U[(size_t) s * d + t];
					q += z * z;
				}
			}
			break;
		case GMM_COV_DIAG:
			{
				const double *pc = p->prec_chol + (size_t) j * d;

				for (int t = 0; t < d; t++)
				{
					double		z = (x[t] - mu[t]) * pc[t];

					q += z * z;
				}
			}
			break;
		case GMM_COV_SPHERICAL:
			for (int t = 0; t < d; t++)
				q += (x[t] - mu[t]) * (x[t] - mu[t]);
			q *= p->prec_chol[j] * p->prec_chol[j];
			break;
	}
	return q;
}

double
gmm_row_log_prob(const GmmParams *p, const double *log_weights,
				 const double *x, double *logprob, double *work)
{
	for (int j = 0; j < p->k; j++)
		logprob[j] = log_weights[j] + p->log_det[j] -
			0.5 * (p->d * LOG_2PI + row_quad(p, j, x, work));
	return log_sum_exp(logprob, p->k);
}

int
gmm_row_responsibilities(int k, double *logprob, double lse)
{
	int			best = 0;

	for (int j = 0; j < k; j++)
	{
		logprob[j] = exp(logprob[j] - lse);
		if (logprob[j] > logprob[best])
			best = j;
	}
	return best;
}

/* ---------------------------------------------------------------------
 * Sufficient statistics
 * ---------------------------------------------------------------------
 */

static size_t
stats_s2_size(GmmCovType t, int k, int d)
{
	if (t == GMM_COV_FULL)
		return (size_t) k * d * d;
	if (t == GMM_COV_TIED)
		return (size_t) d * d;
	return (size_t) k * d;
}

static size_t
stats_shift_size(GmmCovType t, int k, int d)
{
	return t == GMM_COV_TIED ? (size_t) d : (size_t) k * d;
}

size_t
gmm_stats_ndoubles(GmmCovType t, int k, int d)
{
	return stats_shift_size(t, k, d) + (size_t) k + (size_t) k * d +
		stats_s2_size(t, k, d);
}

void
gmm_stats_bind(GmmStats *s, GmmCovType t, int k, int d, double *buf)
{
	s->cov_type = t;
	s->k = k;
	s->d = d;
	s->shift = buf;
	s->s0 = s->shift + stats_shift_size(t, k, d);
	s->s1 = s->s0 + k;
	s->s2 = s->s1 + (size_t) k * d;
}

/* zero the sums, keep the shift */
static void
stats_zero(GmmStats *s)
{
	s->n_rows = 0;
	s->sum_w = 0.0;
	s->sum_loglik = 0.0;
	memset(s->s0, 0, sizeof(double) *
		   ((size_t) s->k + (size_t) s->k * s->d +
			stats_s2_size(s->cov_type, s->k, s->d)));
}

void
gmm_stats_reset(GmmStats *s, const GmmParams *model)
{
	stats_zero(s);
	if (s->cov_type == GMM_COV_TIED)
		tied_shift(model, s->shift);
	else
		memcpy(s->shift, model->means, sizeof(double) * s->k * s->d);
}

/*
 * Workspace of one block: log weights (k), log-probabilities and then
 * responsibilities (B x k), two centred copies of the block (B x d each),
 * per-row scale factors (B), and the tied per-component offsets (k x d).
 */
typedef struct BlockWork
{
	double	   *logw;
	double	   *lp;
	double	   *Y;
	double	   *Z;
	double	   *sq;
	double	   *off;
} BlockWork;

size_t
gmm_stats_work_ndoubles(GmmCovType t, int k, int d)
{
	size_t		B = GMM_BLOCK_ROWS;

	(void) t;
	return (size_t) k + B * ((size_t) k + 2 * (size_t) d + 1) + (size_t) k * d;
}

static void
block_work_bind(BlockWork *bw, int k, int d, double *work)
{
	size_t		B = GMM_BLOCK_ROWS;

	bw->logw = work;
	bw->lp = bw->logw + k;
	bw->Y = bw->lp + B * k;
	bw->Z = bw->Y + B * d;
	bw->sq = bw->Z + B * d;
	bw->off = bw->sq + B;
}

/*
 * Add B rows with responsibilities resp (B x k, overwritten by w * resp) to
 * the statistics.  S1 and S2 come from BLAS on rows centred by the shift and
 * scaled by sqrt(w r): S1_j = Y^T sqrt(w r) (dgemv), S2_j = Y^T Y (dsyrk,
 * column-major upper = row-major lower, symmetrised by the M-step).  Tied:
 * one S2 of all rows (each row's responsibilities sum to 1) and S1 from one
 * dgemm.  Diag and spherical: plain loops.  want_s2 false skips S2.
 */
static void
stats_add_block(GmmStats *s, const double *Xb, const double *wb, int B,
				double *resp, bool want_s2, BlockWork *bw)
{
	int			k = s->k;
	int			d = s->d;
	const double one = 1.0;
	const int	ione = 1;

	for (int i = 0; i < B; i++)
	{
		double		wi = wb ? wb[i] : 1.0;
		double	   *r = resp + (size_t) i * k;

		if (wi > 0.0)
		{
			s->n_rows++;
			s->sum_w += wi;
			for (int j = 0; j < k; j++)
			{
				r[j] *= wi;
				s->s0[j] += r[j];
			}
		}
		else
			memset(r, 0, sizeof(double) * k);
	}

	switch (s->cov_type)
	{
		case GMM_COV_FULL:
			for (int j = 0; j < k; j++)
			{
				const double *mu = s->shift + (size_t) j * d;
				double		mass = 0.0;

				for (int i = 0; i < B; i++)
				{
					bw->sq[i] = sqrt(resp[(size_t) i * k + j]);
					mass += bw->sq[i];
				}
				if (mass == 0.0)
					continue;	/* common with well separated data */
				for (int i = 0; i < B; i++)
					for (int t = 0; t < d; t++)
						bw->Y[(size_t) i * d + t] =
							bw->sq[i] * (Xb[(size_t) i * d + t] - mu[t]);
				dgemv_("N", &d, &B, &one, bw->Y, &d, bw->sq, &ione, &one,
					   s->s1 + (size_t) j * d, &ione, 1);
				if (want_s2)
					dsyrk_("U", "N", &d, &B, &one, bw->Y, &d, &one,
						   s->s2 + (size_t) j * d * d, &d, 1, 1);
			}
			break;
		case GMM_COV_TIED:
			gmm_centre_rows(Xb, B, d, s->shift, bw->Y);
			/* S1^T (d x k, column-major) += Y^T (d x B) * R (B x k) */
			dgemm_("N", "T", &d, &k, &B, &one, bw->Y, &d, resp, &k, &one,
				   s->s1, &d, 1, 1);
			if (want_s2)
			{
				for (int i = 0; i < B; i++)
				{
					double		wi = wb ? wb[i] : 1.0;
					double		sc = wi > 0.0 ? sqrt(wi) : 0.0;

					for (int t = 0; t < d; t++)
						bw->Y[(size_t) i * d + t] *= sc;
				}
				dsyrk_("U", "N", &d, &B, &one, bw->Y, &d, &one, s->s2, &d,
					   1, 1);
			}
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			for (int i = 0; i < B; i++)
			{
				const double *x = Xb + (size_t) i * d;

				for (int j = 0; j < k; j++)
				{
					double		wr = resp[(size_t) i * k + j];
					const double *mu = s->shift + (size_t) j * d;
					double	   *s1 = s->s1 + (size_t) j * d;
					double	   *s2 = s->s2 + (size_t) j * d;

					if (wr == 0.0)
						continue;
					for (int t = 0; t < d; t++)
					{
						double		y = x[t] - mu[t];

						s1[t] += wr * y;
						s2[t] += wr * y * y;
					}
				}
			}
			break;
	}
}

/*
 * Weighted log-probabilities lp (B x k) of B rows under the model.  Full:
 * per component a centred copy Y of the block times U with one dtrmm (the
 * row-major B x d Y is column-major d x B Y^T, and (Y U)^T = U^T Y^T where
 * row-major upper U read column-major is exactly the lower U^T).  Tied: one
 * dtrmm of the block centred by the shift, minus the per-component offsets
 * bw->off = (mu_j - shift) U.  Diag and spherical: the row kernel.
 */
static void
estep_block(const GmmParams *p, const double *shift, const double *Xb, int B,
			BlockWork *bw)
{
	int			k = p->k;
	int			d = p->d;
	const double one = 1.0;
	double		cst = -0.5 * d * LOG_2PI;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
			for (int j = 0; j < k; j++)
			{
				double		base = bw->logw[j] + p->log_det[j] + cst;

				gmm_centre_rows(Xb, B, d, p->means + (size_t) j * d, bw->Y);
				dtrmm_("L", "L", "N", "N", &d, &B, &one,
					   p->prec_chol + (size_t) j * d * d, &d, bw->Y, &d,
					   1, 1, 1, 1);
				for (int i = 0; i < B; i++)
				{
					const double *y = bw->Y + (size_t) i * d;
					double		q = 0.0;

					for (int t = 0; t < d; t++)
						q += y[t] * y[t];
					bw->lp[(size_t) i * k + j] = base - 0.5 * q;
				}
			}
			break;
		case GMM_COV_TIED:
			gmm_centre_rows(Xb, B, d, shift, bw->Z);
			dtrmm_("L", "L", "N", "N", &d, &B, &one, p->prec_chol, &d,
				   bw->Z, &d, 1, 1, 1, 1);
			for (int i = 0; i < B; i++)
			{
				const double *z = bw->Z + (size_t) i * d;

				for (int j = 0; j < k; j++)
				{
					const double *o = bw->off + (size_t) j * d;
					double		q = 0.0;

					for (int t = 0; t < d; t++)
						q += (z[t] - o[t]) * (z[t] - o[t]);
					bw->lp[(size_t) i * k + j] =
						bw->logw[j] + p->log_det[j] + cst - 0.5 * q;
				}
			}
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			for (int i = 0; i < B; i++)
			{
				double	   *lp = bw->lp + (size_t) i * k;

				for (int j = 0; j < k; j++)
					lp[j] = bw->logw[j] + p->log_det[j] + cst -
						0.5 * row_quad(p, j, Xb + (size_t) i * d, bw->Y);
			}
			break;
	}
}

/* Per-pass setup of the E-step: log weights and the tied offsets. */
static void
estep_prepare(const GmmParams *p, const double *shift, BlockWork *bw)
{
	int			k = p->k;
	int			d = p->d;
	const double one = 1.0;

	for (int j = 0; j < k; j++)
		bw->logw[j] = log(p->weights[j]);
	if (p->cov_type == GMM_COV_TIED)
	{
		gmm_centre_rows(p->means, k, d, shift, bw->off);
		dtrmm_("L", "L", "N", "N", &d, &k, &one, p->prec_chol, &d,
			   bw->off, &d, 1, 1, 1, 1);
	}
}

void
gmm_stats_accumulate(GmmStats *s, const GmmParams *model, const double *X,
					 const double *w, size_t n, double *work,
					 const GmmHooks *hooks)
{
	int			k = s->k;
	int			d = s->d;
	BlockWork	bw;

	block_work_bind(&bw, k, d, work);
	estep_prepare(model, s->shift, &bw);
	for (size_t i0 = 0; i0 < n; i0 += GMM_BLOCK_ROWS)
	{
		int			B = gmm_block_len(n, i0);
		const double *Xb = X + i0 * d;
		const double *wb = w ? w + i0 : NULL;

		hooks->check_interrupts(hooks->arg);
		estep_block(model, s->shift, Xb, B, &bw);
		for (int i = 0; i < B; i++)
		{
			double	   *lp = bw.lp + (size_t) i * k;
			double		wi = wb ? wb[i] : 1.0;
			double		lse = log_sum_exp(lp, k);

			if (wi > 0.0)
				s->sum_loglik += wi * lse;
			for (int j = 0; j < k; j++)
				lp[j] = exp(lp[j] - lse);
		}
		stats_add_block(s, Xb, wb, B, bw.lp, true, &bw);
	}
}

void
gmm_stats_merge(GmmStats *a, const GmmStats *b)
{
	size_t		m = (size_t) a->k + (size_t) a->k * a->d +
		stats_s2_size(a->cov_type, a->k, a->d);

	a->n_rows += b->n_rows;
	a->sum_w += b->sum_w;
	a->sum_loglik += b->sum_loglik;
	/* s0, s1, s2 are contiguous after the shift */
	for (size_t i = 0; i < m; i++)
		a->s0[i] += b->s0[i];
}

/*
 * Scatter of component j about its new mean from the shifted sums:
 * sum w r (x - mu)(x - mu)^T = S2 - s1 s1^T (2 nk - s0) / nk^2 when
 * mu = shift + s1 / nk, which is scikit-learn's (X - means) with means
 * divided by nk (mass plus 10 eps), not by s0.
 */
static inline double
scatter_factor(double s0, double nk)
{
	return (2.0 * nk - s0) / (nk * nk);
}

/*
 * scikit-learn's M-step in shifted form.  An empty component (s0 == 0, no
 * responsibility at all) needs no special case: s1 and S2 are zero, so it
 * keeps its previous mean (the shift; tied: the global shift), gets
 * covariance reg_covar * I and the weight of a mass of 10 eps.  With
 * reg_covar 0 that is GMM_ERR_NOT_PD naming the component.
 */
GmmStatus
gmm_stats_mstep(const GmmStats *s, double reg_covar, GmmParams *out, int *bad)
{
	int			k = s->k;
	int			d = s->d;
	double		sum_nk = 0.0;

	for (int j = 0; j < k; j++)
		sum_nk += s->s0[j] + NK_EPS;

	for (int j = 0; j < k; j++)
	{
		double		nk = s->s0[j] + NK_EPS;
		double		f = scatter_factor(s->s0[j], nk);
		const double *sh = s->shift +
			(s->cov_type == GMM_COV_TIED ? 0 : (size_t) j * d);
		const double *s1 = s->s1 + (size_t) j * d;

		out->weights[j] = nk / sum_nk;
		for (int t = 0; t < d; t++)
			out->means[(size_t) j * d + t] = sh[t] + s1[t] / nk;

		switch (s->cov_type)
		{
			case GMM_COV_FULL:
				{
					const double *S2 = s->s2 + (size_t) j * d * d;
					double	   *cov = out->covariances + (size_t) j * d * d;

					for (int a = 0; a < d; a++)
						for (int b = 0; b <= a; b++)
							cov[(size_t) a * d + b] =
								(S2[(size_t) a * d + b] - s1[a] * s1[b] * f) / nk;
					gmm_symmetrise(cov, d, true);
					for (int a = 0; a < d; a++)
						cov[(size_t) a * d + a] += reg_covar;
				}
				break;
			case GMM_COV_TIED:
				/* accumulated below, over all components */
				break;
			case GMM_COV_DIAG:
			case GMM_COV_SPHERICAL:
				{
					const double *s2 = s->s2 + (size_t) j * d;
					double		acc = 0.0;

					for (int t = 0; t < d; t++)
					{
						double		v = (s2[t] - s1[t] * s1[t] * f) / nk + reg_covar;

						if (s->cov_type == GMM_COV_DIAG)
							out->covariances[(size_t) j * d + t] = v;
						acc += v;
					}
					if (s->cov_type == GMM_COV_SPHERICAL)
						out->covariances[j] = acc / d;
				}
				break;
		}
	}

	if (s->cov_type == GMM_COV_TIED)
	{
		/* scikit-learn: total scatter minus the between-means part, / sum nk */
		double	   *cov = out->covariances;

		for (int a = 0; a < d; a++)
			for (int b = 0; b <= a; b++)
			{
				double		v = s->s2[(size_t) a * d + b];

				for (int j = 0; j < k; j++)
				{
					double		nk = s->s0[j] + NK_EPS;

					v -= s->s1[(size_t) j * d + a] * s->s1[(size_t) j * d + b] *
						scatter_factor(s->s0[j], nk);
				}
				cov[(size_t) a * d + b] = v / sum_nk;
			}
		gmm_symmetrise(cov, d, true);
		for (int a = 0; a < d; a++)
			cov[(size_t) a * d + a] += reg_covar;
	}
	return gmm_compute_precision_cholesky(out, bad);
}

/* ---------------------------------------------------------------------
 * Fitting
 * ---------------------------------------------------------------------
 */

void
gmm_fit_options_default(GmmFitOptions *opt, int n_components)
{
	memset(opt, 0, sizeof(*opt));
	opt->n_components = n_components;
	opt->cov_type = GMM_COV_FULL;
	opt->max_iter = 100;
	opt->tol = 1e-3;
	opt->reg_covar = 1e-6;
	opt->random_state = 0;
	opt->init_params = GMM_INIT_KMEANS;
	opt->n_init = 1;
}

/* Everything one fit allocates, once, before any iteration. */
typedef struct FitCtx
{
	const double *X;
	const double *w;
	size_t		n;
	int			d;
	int			k;
	const GmmFitOptions *opt;
	const GmmHooks *hooks;
	GmmStats	st;
	BlockWork	bw;
	GmmParams	cur;			/* the run in progress */
	GmmParams	best;			/* the run kept so far */
	int		   *labels;			/* k-means labels (kmeans init only) */
	double	   *centers;		/* k-means centres, k x d */
	size_t	   *rows;			/* k row numbers (one-hot inits), k ranks */
} FitCtx;

/* Where the responsibilities of an initialisation come from. */
typedef enum RespSource
{
	RESP_LABELS,				/* one-hot on ctx->labels */
	RESP_RANDOM,				/* uniform per row, normalised */
	RESP_ROWS					/* one-hot on the k rows ctx->rows only */
} RespSource;

/* copy every array of src into dst (same type and shape, any layout) */
static void
params_copy(GmmParams *dst, const GmmParams *src)
{
	size_t		c = gmm_cov_size(src->cov_type, src->k, src->d);

	memcpy(dst->weights, src->weights, sizeof(double) * src->k);
	memcpy(dst->means, src->means, sizeof(double) * src->k * src->d);
	memcpy(dst->covariances, src->covariances, sizeof(double) * c);
	memcpy(dst->prec_chol, src->prec_chol, sizeof(double) * c);
	memcpy(dst->log_det, src->log_det, sizeof(double) * src->k);
}

/*
 * One pass of initial statistics from a source of responsibilities.  Random
 * responsibilities are regenerated from a copy of the generator, so both
 * passes see the same values without an n x k matrix; the one-hot rows are
 * gathered into a block, each with weight 1 (a chosen row stands for one
 * copy of itself, as for repeated rows).
 */
static void
init_pass(FitCtx *ctx, RespSource src, const GmmRng *rng0, bool want_s2)
{
	int			k = ctx->k;
	int			d = ctx->d;
	BlockWork  *bw = &ctx->bw;
	GmmRng		rng = *rng0;

	if (src == RESP_ROWS)
	{
		for (int j0 = 0; j0 < k; j0 += GMM_BLOCK_ROWS)
		{
			int			B = gmm_block_len(k, j0);

			memset(bw->lp, 0, sizeof(double) * B * k);
			for (int i = 0; i < B; i++)
			{
				memcpy(bw->Z + (size_t) i * d, ctx->X + ctx->rows[j0 + i] * d,
					   sizeof(double) * d);
				bw->lp[(size_t) i * k + j0 + i] = 1.0;
			}
			stats_add_block(&ctx->st, bw->Z, NULL, B, bw->lp, want_s2, bw);
		}
		return;
	}
	for (size_t i0 = 0; i0 < ctx->n; i0 += GMM_BLOCK_ROWS)
	{
		int			B = gmm_block_len(ctx->n, i0);

		ctx->hooks->check_interrupts(ctx->hooks->arg);
		for (int i = 0; i < B; i++)
		{
			double	   *r = bw->lp + (size_t) i * k;

			if (src == RESP_LABELS)
			{
				memset(r, 0, sizeof(double) * k);
				r[ctx->labels[i0 + i]] = 1.0;
			}
			else
			{
				double		sum = 0.0;

				for (int j = 0; j < k; j++)
					sum += (r[j] = gmm_rng_uniform(&rng));
				for (int j = 0; j < k; j++)
					r[j] /= sum;
			}
		}
		stats_add_block(&ctx->st, ctx->X + i0 * d, ctx->w ? ctx->w + i0 : NULL,
						B, bw->lp, want_s2, bw);
	}
}

/*
 * scikit-learn's _estimate_gaussian_parameters from initial
 * responsibilities, in two passes so the scatter is centred: first the
 * means (unshifted sums), then the statistics shifted by those means and
 * the M-step.
 */
static GmmStatus
init_from_resp(FitCtx *ctx, RespSource src, const GmmRng *rng, int *bad)
{
	GmmParams  *p = &ctx->cur;
	int			k = ctx->k;
	int			d = ctx->d;
	double		sum_nk = 0.0;

	stats_zero(&ctx->st);
	memset(ctx->st.shift, 0, sizeof(double) *
		   stats_shift_size(ctx->st.cov_type, k, d));
	init_pass(ctx, src, rng, false);
	for (int j = 0; j < k; j++)
		sum_nk += ctx->st.s0[j] + NK_EPS;
	for (int j = 0; j < k; j++)
	{
		double		nk = ctx->st.s0[j] + NK_EPS;

		p->weights[j] = nk / sum_nk;
		for (int t = 0; t < d; t++)
			p->means[(size_t) j * d + t] = ctx->st.s1[(size_t) j * d + t] / nk;
	}
	gmm_stats_reset(&ctx->st, p);
	init_pass(ctx, src, rng, true);
	return gmm_stats_mstep(&ctx->st, ctx->opt->reg_covar, p, bad);
}

/*
 * Turn precisions_init into covariances (Cholesky, then dpotri) and recompute
 * our prec_chol.  scikit-learn factors the precisions directly; the factors
 * differ but give the same quadratic form.  A precision that is not positive
 * definite is GMM_ERR_INIT_NOT_PD naming the component.
 */
static GmmStatus
set_precisions(GmmParams *p, const double *prec, int *bad)
{
	int			k = p->k;
	int			d = p->d;
	GmmStatus	st;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			{
				int			nb = p->cov_type == GMM_COV_FULL ? k : 1;

				memcpy(p->covariances, prec, sizeof(double) * nb * d * d);
				for (int j = 0; j < nb; j++)
				{
					double	   *a = p->covariances + (size_t) j * d * d;
					int			info = 0;

					dpotrf_("L", &d, a, &d, &info, 1);
					if (info == 0)
						dpotri_("L", &d, a, &d, &info, 1);
					if (info != 0)
					{
						*bad = j;
						return GMM_ERR_INIT_NOT_PD;
					}
					/* column-major lower = row-major upper */
					gmm_symmetrise(a, d, false);
				}
			}
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			{
				size_t		c = gmm_cov_size(p->cov_type, k, d);

				for (size_t i = 0; i < c; i++)
				{
					if (!(prec[i] > 0.0))
					{
						*bad = (int) (p->cov_type == GMM_COV_DIAG ? i / d : i);
						return GMM_ERR_INIT_NOT_PD;
					}
					p->covariances[i] = 1.0 / prec[i];
				}
			}
			break;
	}
	st = gmm_compute_precision_cholesky(p, bad);
	return st == GMM_OK ? GMM_OK : GMM_ERR_INIT_NOT_PD;
}

/*
 * k distinct rows of positive weight, uniformly: Floyd's sampling of k ranks
 * among those rows (into rows[k..2k)), then one pass mapping ranks to row
 * numbers, component j taking the j-th drawn rank.
 */
static void
random_rows(FitCtx *ctx, int64_t n_pos, GmmRng *rng)
{
	int			k = ctx->k;
	size_t	   *rank = ctx->rows + k;
	size_t		seen_rank = 0;

	for (int64_t m = n_pos - k, c = 0; m < n_pos; m++, c++)
	{
		size_t		t = (size_t) (gmm_rng_uniform(rng) * (double) (m + 1));
		bool		seen = false;

		if (t > (size_t) m)
			t = (size_t) m;
		for (int64_t q = 0; q < c; q++)
			seen |= (rank[q] == t);
		rank[c] = seen ? (size_t) m : t;
	}
	for (size_t i = 0; i < ctx->n; i++)
	{
		if (!(gmm_row_weight(ctx->w, i) > 0.0))
			continue;
		for (int j = 0; j < k; j++)
			if (rank[j] == seen_rank)
				ctx->rows[j] = i;
		seen_rank++;
	}
}

/*
 * Initial parameters of one run into ctx->cur (scikit-learn's
 * _initialize_parameters then _initialize): responsibilities from the
 * chosen method, an M-step, then the given weights/means/precisions
 * override the estimate.  With all three given nothing is estimated.
 */
static GmmStatus
init_run(FitCtx *ctx, GmmRng *rng, int64_t n_pos, int *bad)
{
	const GmmFitOptions *opt = ctx->opt;
	GmmParams  *p = &ctx->cur;
	bool		all_given = opt->weights_init && opt->means_init &&
		opt->precisions_init;
	GmmStatus	st = GMM_OK;

	if (!all_given)
	{
		switch (opt->init_params)
		{
			case GMM_INIT_KMEANS:
				st = gmm_kmeans(ctx->X, ctx->w, ctx->n, ctx->d, ctx->k,
								gmm_rng_next(rng), ctx->hooks, ctx->labels,
								ctx->centers);
				if (st == GMM_OK)
					st = init_from_resp(ctx, RESP_LABELS, rng, bad);
				break;
			case GMM_INIT_KMEANSPP:
				st = gmm_kmeans_plusplus(ctx->X, ctx->w, ctx->n, ctx->d, ctx->k,
										 rng, ctx->hooks, ctx->rows);
				if (st == GMM_OK)
					st = init_from_resp(ctx, RESP_ROWS, rng, bad);
				break;
			case GMM_INIT_RANDOM:
				st = init_from_resp(ctx, RESP_RANDOM, rng, bad);
				break;
			case GMM_INIT_RANDOM_FROM_DATA:
				random_rows(ctx, n_pos, rng);
				st = init_from_resp(ctx, RESP_ROWS, rng, bad);
				break;
		}
		if (st != GMM_OK)
			return st;
	}
	if (opt->weights_init)
		memcpy(p->weights, opt->weights_init, sizeof(double) * ctx->k);
	if (opt->means_init)
		memcpy(p->means, opt->means_init, sizeof(double) * ctx->k * ctx->d);
	if (opt->precisions_init)
		st = set_precisions(p, opt->precisions_init, bad);
	return st;
}

/* Mean log-likelihood of the rows under p (the E-step), statistics in st. */
static double
estep_pass(FitCtx *ctx, const GmmParams *p)
{
	gmm_stats_reset(&ctx->st, p);
	gmm_stats_accumulate(&ctx->st, p, ctx->X, ctx->w, ctx->n,
						 ctx->bw.logw, ctx->hooks);
	return ctx->st.sum_loglik / ctx->st.sum_w;
}

/*
 * EM from ctx->cur (scikit-learn's loop in fit_predict): the lower bound of
 * iteration i is the mean log-likelihood of the E-step, i.e. of the
 * parameters before that iteration's M-step.
 */
static GmmStatus
em_run(FitCtx *ctx, double *lower_bound, int *n_iter, bool *converged,
	   int *bad)
{
	double		lb = -INFINITY;

	*n_iter = 0;
	*converged = false;
	for (int it = 1; it <= ctx->opt->max_iter; it++)
	{
		double		prev = lb;
		GmmStatus	st;

		ctx->hooks->check_interrupts(ctx->hooks->arg);
		lb = estep_pass(ctx, &ctx->cur);
		st = gmm_stats_mstep(&ctx->st, ctx->opt->reg_covar, &ctx->cur, bad);
		if (st != GMM_OK)
			return st;
		*n_iter = it;
		if (fabs(lb - prev) < ctx->opt->tol)
		{
			*converged = true;
			break;
		}
	}
	*lower_bound = lb;
	return GMM_OK;
}

GmmStatus
gmm_fit(const double *X, const double *w, size_t n, int d,
		const GmmFitOptions *opt, const GmmHooks *hooks, GmmParams *out,
		GmmFitResult *res)
{
	int			k = opt->n_components;
	GmmCovType	t = opt->cov_type;
	size_t		np = gmm_params_ndoubles(t, k, d);
	int64_t		n_pos;
	double		sum_w;
	double	   *buf;
	double		best_lb = -INFINITY;
	int			n_init = opt->n_init;
	int			bad = -1;
	FitCtx		ctx;
	GmmStatus	st;

	memset(res, 0, sizeof(*res));
	res->bad_component = -1;
	res->lower_bound = -INFINITY;
	st = gmm_check_weights(w, n, k, &n_pos, &sum_w);
	res->n_samples = n_pos;
	res->sum_weights = sum_w;
	if (st != GMM_OK)
		return st;

	memset(&ctx, 0, sizeof(ctx));
	ctx.X = X;
	ctx.w = w;
	ctx.n = n;
	ctx.d = d;
	ctx.k = k;
	ctx.opt = opt;
	ctx.hooks = hooks;
	buf = hooks->alloc(sizeof(double) * (gmm_stats_ndoubles(t, k, d) +
										 gmm_stats_work_ndoubles(t, k, d) +
										 2 * np + (size_t) k * d), hooks->arg);
	gmm_stats_bind(&ctx.st, t, k, d, buf);
	block_work_bind(&ctx.bw, k, d, buf + gmm_stats_ndoubles(t, k, d));
	gmm_params_bind(&ctx.cur, t, k, d,
					ctx.bw.logw + gmm_stats_work_ndoubles(t, k, d));
	gmm_params_bind(&ctx.best, t, k, d, ctx.cur.weights + np);
	ctx.centers = ctx.best.weights + np;
	ctx.rows = hooks->alloc(sizeof(size_t) * 2 * k, hooks->arg);
	if (opt->init_params == GMM_INIT_KMEANS)
		ctx.labels = hooks->alloc(sizeof(int) * (n > 0 ? n : 1), hooks->arg);

	/*
	 * A warm start, or all three initial parameters, leaves nothing random:
	 * the n_init runs would be identical, so run once.
	 */
	if (opt->warm_start ||
		(opt->weights_init && opt->means_init && opt->precisions_init))
		n_init = 1;

	for (int run = 0; run < n_init && st == GMM_OK; run++)
	{
		GmmRng		rng;
		double		lb = -INFINITY;
		int			n_iter;
		bool		conv;

		gmm_rng_seed(&rng, opt->random_state,
					 (uint64_t) opt->first_init + (uint64_t) run);
		if (opt->warm_start)
		{
			params_copy(&ctx.cur, opt->warm_start);
			st = gmm_compute_precision_cholesky(&ctx.cur, &bad);
		}
		else
			st = init_run(&ctx, &rng, n_pos, &bad);
		if (st == GMM_OK)
			st = em_run(&ctx, &lb, &n_iter, &conv, &bad);
		if (st != GMM_OK)
			break;

		/* scikit-learn keeps the first run with the highest lower bound */
		if (opt->max_iter == 0 || lb > best_lb || best_lb == -INFINITY)
		{
			best_lb = lb;
			params_copy(&ctx.best, &ctx.cur);
			res->n_iter = n_iter;
			res->converged = conv;
			res->best_init = run;
		}
	}

	if (st == GMM_OK)
	{
		params_copy(out, &ctx.best);
		res->lower_bound = best_lb;
		res->log_likelihood = estep_pass(&ctx, out);
	}
	else
		res->bad_component = bad;

	if (ctx.labels)
		hooks->release(ctx.labels, hooks->arg);
	hooks->release(ctx.rows, hooks->arg);
	hooks->release(buf, hooks->arg);
	return st;
}
