/*
 * em_missing.c
 *	  EM for Gaussian mixtures over rows with missing values, under missing
 *	  at random (Ghahramani and Jordan 1994; McLachlan and Krishnan, "The EM
 *	  Algorithm and Extensions", ch. 2).  A missing value is NaN in the
 *	  packed row.  Part of the numerical core: no PostgreSQL headers.
 *
 * E-step, per row x (observed part o, missing part m) and component j with
 * mean mu, covariance S and precision P = S^-1:
 *	  - the log-density of the observed part, N(x_o | mu_o, S_oo);
 *	  - the conditional mean of the missing part,
 *		  xhat_m = mu_m - P_mm^-1 P_mo (x_o - mu_o),
 *	  - and its conditional covariance C = P_mm^-1 (= S_mm - S_mo S_oo^-1 S_om).
 * Everything comes from P_mm, which is |m| x |m| (small when few values are
 * missing), instead of factoring S_oo per pattern:
 *	  with r = x - mu, r_m = 0, g = P r and delta = C g_m, the imputed
 *	  residual rhat = (r_o, -delta) satisfies
 *		  r_o^T S_oo^-1 r_o = rhat^T P rhat = r.g - g_m.delta
 *	  (Schur complement), and log|S_oo| = log|S| + log|P_mm|.
 * The M-step is the complete-data M-step (gmm_stats_mstep) of the expected
 * sufficient statistics: rows contribute xhat (per component) to s1 and
 * xhat xhat^T + C (C on the m x m block) to s2.  Diagonal and spherical
 * covariances need no factorisation: xhat_m = mu_m, C = the variances.
 *
 * Rows are grouped by missingness pattern (a sort by the pattern once per
 * fit), so the factorisations of P_mm are done once per pattern, component
 * and block of rows (a pattern's rows are contiguous; a pattern spanning
 * blocks is factored once per block).  A row whose values are all missing
 * carries no information (its likelihood is 1 whatever the parameters) and
 * is skipped, as is a row of weight 0.
 *
 * Initialisation (gmm_fit_missing): the complete-data initialisation
 * (gmm_fit with max_iter 0, the same random stream per run) on the complete
 * rows when there are at least 10 x n_components of them (of positive
 * weight), else on every usable row with each missing value replaced by the
 * weighted mean of the feature's observed values.  weights_init, means_init
 * and precisions_init override the estimate as in the complete fit, and a
 * warm start begins from the given model.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

#define LOG_2PI 1.8378770664093454836

/* rows with their order in the pass: sorted by missingness pattern */
typedef struct MissRow
{
	uint64_t	key;			/* hash of the pattern */
	size_t		idx;			/* row number */
} MissRow;

bool
gmm_rows_have_nan(const double *X, size_t n, int d)
{
	size_t		nd = n * (size_t) d;

	for (size_t i = 0; i < nd; i++)
		if (isnan(X[i]))
			return true;
	return false;
}

/* number of missing values of row i, and whether it is usable at all */
static inline int
row_nmiss(const double *x, int d)
{
	int			c = 0;

	for (int t = 0; t < d; t++)
		c += isnan(x[t]) ? 1 : 0;
	return c;
}

static uint64_t
pattern_key(const double *x, int d)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);

	for (int t = 0; t < d; t++)
		if (isnan(x[t]))
		{
			h ^= (uint64_t) t + 1;
			h *= UINT64_C(0x100000001b3);
		}
	return h;
}

static bool
same_pattern(const double *a, const double *b, int d)
{
	for (int t = 0; t < d; t++)
		if (isnan(a[t]) != isnan(b[t]))
			return false;
	return true;
}

static inline bool
row_before(const MissRow *a, const MissRow *b)
{
	return a->key < b->key || (a->key == b->key && a->idx < b->idx);
}

/* bottom-up merge sort of n rows by (key, idx), tmp: n entries */
static void
sort_rows(MissRow *a, MissRow *tmp, size_t n)
{
	for (size_t width = 1; width < n; width *= 2)
	{
		for (size_t lo = 0; lo < n; lo += 2 * width)
		{
			size_t		mid = lo + width < n ? lo + width : n;
			size_t		hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t		i = lo,
						j = mid,
						o = lo;

			while (i < mid && j < hi)
				tmp[o++] = row_before(&a[j], &a[i]) ? a[j++] : a[i++];
			while (i < mid)
				tmp[o++] = a[i++];
			while (j < hi)
				tmp[o++] = a[j++];
		}
		memcpy(a, tmp, sizeof(MissRow) * n);
	}
}

/*
 * The usable rows (weight > 0, at least one value observed) sorted by
 * pattern into rows (n entries, allocated by the caller); returns how many,
 * with the largest number of missing values of one row, and the missing
 * values, the row count and their weight.
 */
static size_t
plan_rows(const double *X, const double *w, size_t n, int d, MissRow *rows,
		  MissRow *tmp, int *mm_max, int64_t *n_missing, double *sum_w)
{
	size_t		m = 0;

	*mm_max = 0;
	*n_missing = 0;
	*sum_w = 0.0;
	for (size_t i = 0; i < n; i++)
	{
		const double *x = X + i * (size_t) d;
		double		wi = gmm_row_weight(w, i);
		int			c;

		if (!(wi > 0.0))
			continue;
		c = row_nmiss(x, d);
		if (c == d)
			continue;
		if (c > *mm_max)
			*mm_max = c;
		*n_missing += c;
		*sum_w += wi;
		rows[m].key = c == 0 ? 0 : pattern_key(x, d);
		rows[m].idx = i;
		m++;
	}
	sort_rows(rows, tmp, m);
	return m;
}

/*
 * In-place Cholesky of the n x n row-major a (lower L), then a = inverse of
 * the original; returns log det of the original, or NAN when it is not
 * positive definite.  linv: n x n scratch.
 */
static double
small_chol_inverse(double *a, int n, double *linv)
{
	double		ld = 0.0;

	for (int i = 0; i < n; i++)
	{
		for (int j = 0; j <= i; j++)
		{
			double		s = a[i * n + j];

			for (int t = 0; t < j; t++)
				s -= a[i * n + t] * a[j * n + t];
			if (i == j)
			{
				if (!(s > 0.0) || !isfinite(s))
					return NAN;
				a[i * n + i] = sqrt(s);
				ld += log(a[i * n + i]);
			}
			else
				a[i * n + j] = s / a[j * n + j];
		}
	}
	/* linv = L^-1 (lower), by columns */
	for (int j = 0; j < n; j++)
		for (int i = 0; i < n; i++)
		{
			double		s;

			if (i < j)
			{
				linv[i * n + j] = 0.0;
				continue;
			}
			s = (i == j) ? 1.0 : 0.0;
			for (int t = j; t < i; t++)
				s -= a[i * n + t] * linv[t * n + j];
			linv[i * n + j] = s / a[i * n + i];
		}
	/* a = L^-T L^-1 */
	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++)
		{
			double		s = 0.0;

			for (int t = i; t < n; t++)
				s += linv[t * n + i] * linv[t * n + j];
			a[i * n + j] = a[j * n + i] = s;
		}
	return 2.0 * ld;
}

/* Workspace of one pass (allocated per pass through the hooks). */
typedef struct MissWork
{
	int			B;				/* rows per block */
	int			nbc;			/* covariance blocks: full k, tied 1, else k */
	double	   *prec;			/* full, tied: nbc x d x d precisions */
	double	   *logw;			/* k */
	double	   *Xb;				/* B x d, the block's rows */
	double	   *wb;				/* B */
	double	   *R;				/* k x B x d: imputed residuals */
	double	   *G;				/* B x d */
	double	   *lp;				/* k x B */
	double	   *cst;			/* runs x nbc: -|o|/2 log 2pi - log|S_oo|/2 */
	double	   *arena;			/* per run and covariance block: C */
	double	   *scratch;		/* 2 d x d */
	int		   *run_start;		/* B + 1 */
	int		   *miss;			/* B x d: per run the missing features */
	int		   *nmiss;			/* B */
	size_t		arena_n;
} MissWork;

static int
miss_block_rows(int k, int d, int nbc, int mm_max)
{
	size_t		b = 512;
	size_t		lim1 = ((size_t) 1 << 21) / ((size_t) k * d);
	size_t		mm2 = (size_t) (mm_max > 0 ? mm_max : 1) * (mm_max > 0 ? mm_max : 1);
	size_t		lim2 = ((size_t) 1 << 20) / ((size_t) nbc * mm2);

	if (lim1 < b)
		b = lim1;
	if (lim2 < b)
		b = lim2;
	return b < 1 ? 1 : (int) b;
}

static void *
miss_work_alloc(MissWork *mw, const GmmParams *p, int mm_max,
				const GmmHooks *hooks)
{
	int			k = p->k;
	int			d = p->d;
	int			B;
	size_t		nd;
	size_t		ni;
	double	   *buf;
	bool		fullish = p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED;

	mw->nbc = p->cov_type == GMM_COV_TIED ? 1 : k;
	B = mw->B = miss_block_rows(k, d, mw->nbc, mm_max);
	mw->arena_n = (size_t) B * mw->nbc * (size_t) mm_max * mm_max;
	if (!fullish)
		mw->arena_n = 0;
	nd = (fullish ? (size_t) mw->nbc * d * d : 0) + k + (size_t) B * d + B +
		(size_t) k * B * d + (size_t) B * d + (size_t) k * B +
		(size_t) B * mw->nbc + mw->arena_n + 2 * (size_t) d * d;
	ni = (size_t) B + 1 + (size_t) B * d + B;
	buf = hooks->alloc(sizeof(double) * nd + sizeof(int) * ni, hooks->arg);
	mw->prec = buf;
	mw->logw = mw->prec + (fullish ? (size_t) mw->nbc * d * d : 0);
	mw->Xb = mw->logw + k;
	mw->wb = mw->Xb + (size_t) B * d;
	mw->R = mw->wb + B;
	mw->G = mw->R + (size_t) k * B * d;
	mw->lp = mw->G + (size_t) B * d;
	mw->cst = mw->lp + (size_t) k * B;
	mw->arena = mw->cst + (size_t) B * mw->nbc;
	mw->scratch = mw->arena + mw->arena_n;
	mw->run_start = (int *) (mw->scratch + 2 * (size_t) d * d);
	mw->miss = mw->run_start + B + 1;
	mw->nmiss = mw->miss + (size_t) B * d;

	for (int j = 0; j < k; j++)
		mw->logw[j] = log(p->weights[j]);
	if (fullish)
	{
		/* P = U U^T; U row-major upper is U^T column-major */
		for (int c = 0; c < mw->nbc; c++)
		{
			const double *U = p->prec_chol + (size_t) c * d * d;
			const double one = 1.0,
						zero = 0.0;

			dgemm_("T", "N", &d, &d, &d, &one, U, &d, U, &d, &zero,
				   mw->prec + (size_t) c * d * d, &d, 1, 1);
		}
	}
	return buf;
}

/*
 * One block of nb rows (sorted by pattern, gathered into mw->Xb/wb) against
 * p into s.  Returns GMM_ERR_NOT_PD (with *bad) if a P_mm cannot be
 * factored, which only rounding can cause.
 */
static GmmStatus
miss_block(GmmStats *s, const GmmParams *p, int nb, MissWork *mw, int *bad)
{
	int			k = p->k;
	int			d = p->d;
	int			B = mw->B;
	int			nruns = 0;
	bool		fullish = p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED;
	bool		diag = p->cov_type == GMM_COV_DIAG;
	size_t		aoff = 0;
	const double one = 1.0,
				zero = 0.0;

	/* runs of one pattern */
	for (int i = 0; i < nb; i++)
	{
		const double *x = mw->Xb + (size_t) i * d;

		if (i == 0 || !same_pattern(x, x - d, d))
		{
			int			c = 0;

			mw->run_start[nruns] = i;
			for (int t = 0; t < d; t++)
				if (isnan(x[t]))
					mw->miss[(size_t) nruns * d + c++] = t;
			mw->nmiss[nruns] = c;
			nruns++;
		}
	}
	mw->run_start[nruns] = nb;

	/* per run and covariance block: C = P_mm^-1 and the log-density constant */
	for (int r = 0; r < nruns; r++)
	{
		int			mm = mw->nmiss[r];
		const int  *M = mw->miss + (size_t) r * d;

		for (int c = 0; c < mw->nbc; c++)
		{
			double	   *cst = mw->cst + (size_t) r * mw->nbc + c;

			*cst = -0.5 * (d - mm) * LOG_2PI + p->log_det[c];
			if (mm == 0)
				continue;
			if (fullish)
			{
				const double *P = mw->prec + (size_t) c * d * d;
				double	   *C = mw->arena + aoff;
				double		ldm;

				for (int a = 0; a < mm; a++)
					for (int b = 0; b < mm; b++)
						C[a * mm + b] = P[(size_t) M[a] * d + M[b]];
				ldm = small_chol_inverse(C, mm, mw->scratch);
				if (isnan(ldm))
				{
					*bad = c;
					return GMM_ERR_NOT_PD;
				}
				*cst -= 0.5 * ldm;
				aoff += (size_t) mm * mm;
			}
			else
			{
				/* diag, spherical: drop the missing features' log(prec) */
				for (int a = 0; a < mm; a++)
					*cst -= log(diag ? p->prec_chol[(size_t) c * d + M[a]] :
								p->prec_chol[c]);
			}
		}
	}

	/* E-step: imputed residuals and log-probabilities per component */
	for (int j = 0; j < k; j++)
	{
		const double *mu = p->means + (size_t) j * d;
		double	   *R = mw->R + (size_t) j * B * d;
		double	   *lp = mw->lp + (size_t) j * B;
		int			c = fullish ? (p->cov_type == GMM_COV_FULL ? j : 0) : j;

		for (int i = 0; i < nb; i++)
		{
			const double *x = mw->Xb + (size_t) i * d;
			double	   *ri = R + (size_t) i * d;

			for (int t = 0; t < d; t++)
				ri[t] = isnan(x[t]) ? 0.0 : x[t] - mu[t];
		}
		if (fullish)
		{
			const double *P = mw->prec + (size_t) c * d * d;

			/* G (row-major nb x d) = R P; P symmetric */
			dgemm_("N", "N", &d, &nb, &d, &one, P, &d, R, &d, &zero, mw->G, &d,
				   1, 1);
		}
		aoff = 0;
		for (int r = 0; r < nruns; r++)
		{
			int			mm = mw->nmiss[r];
			const int  *M = mw->miss + (size_t) r * d;
			double		cst = mw->cst[(size_t) r * mw->nbc + c];
			const double *C = NULL;

			if (fullish && mm > 0)
			{
				/* the arena holds runs in order, nbc blocks each */
				size_t		per = (size_t) mm * mm;

				C = mw->arena + aoff + (size_t) c * per;
				aoff += per * mw->nbc;
			}
			for (int i = mw->run_start[r]; i < mw->run_start[r + 1]; i++)
			{
				double	   *ri = R + (size_t) i * d;
				double		q = 0.0;

				if (fullish)
				{
					const double *g = mw->G + (size_t) i * d;

					for (int t = 0; t < d; t++)
						q += ri[t] * g[t];
					if (mm > 0)
					{
						double	   *delta = mw->scratch;

						for (int a = 0; a < mm; a++)
						{
							double		v = 0.0;

							for (int b = 0; b < mm; b++)
								v += C[a * mm + b] * g[M[b]];
							delta[a] = v;
						}
						for (int a = 0; a < mm; a++)
						{
							q -= g[M[a]] * delta[a];
							ri[M[a]] = -delta[a];
						}
					}
					if (q < 0.0)
						q = 0.0;	/* rounding only */
				}
				else
				{
					const double *pc = p->prec_chol + (diag ? (size_t) j * d : 0);

					for (int t = 0; t < d; t++)
					{
						double		z = ri[t] * (diag ? pc[t] : p->prec_chol[j]);

						q += z * z;
					}
				}
				lp[i] = mw->logw[j] + cst - 0.5 * (isnan(q) ? INFINITY : q);
			}
		}
	}

	/* responsibilities and the log-likelihood */
	for (int i = 0; i < nb; i++)
	{
		double		m = mw->lp[i];
		double		sum = 0.0;
		double		lse;

		for (int j = 1; j < k; j++)
			if (mw->lp[(size_t) j * B + i] > m)
				m = mw->lp[(size_t) j * B + i];
		for (int j = 0; j < k; j++)
			sum += exp(mw->lp[(size_t) j * B + i] - m);
		lse = m + log(sum);
		for (int j = 0; j < k; j++)
			mw->lp[(size_t) j * B + i] =
				exp(mw->lp[(size_t) j * B + i] - lse) * mw->wb[i];
		s->sum_loglik += mw->wb[i] * lse;
		s->sum_w += mw->wb[i];
		s->n_rows++;
	}

	/* the expected sufficient statistics */
	for (int j = 0; j < k; j++)
	{
		const double *mu = p->means + (size_t) j * d;
		const double *sh = s->shift + (p->cov_type == GMM_COV_TIED ? 0 : (size_t) j * d);
		double	   *R = mw->R + (size_t) j * B * d;
		const double *wr = mw->lp + (size_t) j * B;
		double	   *s1 = s->s1 + (size_t) j * d;
		double		mass = 0.0;
		for (int i = 0; i < nb; i++)
			mass += wr[i];
		s->s0[j] += mass;
		if (mass == 0.0)
			continue;
		/* Y = xhat - shift = R + mu - shift, in R; then s1 and s2 */
		for (int i = 0; i < nb; i++)
		{
			double	   *ri = R + (size_t) i * d;
			double		sq = sqrt(wr[i]);

			for (int t = 0; t < d; t++)
			{
				double		y = ri[t] + (mu[t] - sh[t]);

				s1[t] += wr[i] * y;
				ri[t] = y;
				if (fullish)
					mw->G[(size_t) i * d + t] = sq * y;
			}
		}
		if (fullish)
		{
			double	   *S2 = s->s2 + (p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);

			/* column-major upper of Z^T Z (Z nb x d row-major) = row-major lower */
			dsyrk_("U", "N", &d, &nb, &one, mw->G, &d, &one, S2, &d, 1, 1);
			aoff = 0;
			for (int r = 0; r < nruns; r++)
			{
				int			mm = mw->nmiss[r];
				const int  *M = mw->miss + (size_t) r * d;
				int			c = p->cov_type == GMM_COV_FULL ? j : 0;
				const double *C;
				double		mr = 0.0;
				size_t		per = (size_t) mm * mm;

				if (mm == 0)
					continue;
				C = mw->arena + aoff + (size_t) c * per;
				aoff += per * mw->nbc;
				for (int i = mw->run_start[r]; i < mw->run_start[r + 1]; i++)
					mr += wr[i];
				for (int a = 0; a < mm; a++)
					for (int b = 0; b <= a; b++)
						S2[(size_t) M[a] * d + M[b]] += mr * C[a * mm + b];
			}
		}
		else
		{
			double	   *s2 = s->s2 + (size_t) j * d;

			for (int i = 0; i < nb; i++)
			{
				const double *ri = R + (size_t) i * d;

				for (int t = 0; t < d; t++)
					s2[t] += wr[i] * ri[t] * ri[t];
			}
			for (int r = 0; r < nruns; r++)
			{
				int			mm = mw->nmiss[r];
				const int  *M = mw->miss + (size_t) r * d;
				double		mr = 0.0;

				if (mm == 0)
					continue;
				for (int i = mw->run_start[r]; i < mw->run_start[r + 1]; i++)
					mr += wr[i];
				for (int a = 0; a < mm; a++)
					s2[M[a]] += mr * (diag ? p->covariances[(size_t) j * d + M[a]] :
									  p->covariances[j]);
			}
		}
	}
	return GMM_OK;
}

/* the E-step over the planned rows (sorted, usable) against p, into s */
static GmmStatus
miss_pass(GmmStats *s, const GmmParams *p, const double *X, const double *w,
		  const MissRow *rows, size_t n, int mm_max, const GmmHooks *hooks,
		  int *bad)
{
	MissWork	mw;
	void	   *buf = miss_work_alloc(&mw, p, mm_max, hooks);
	int			d = p->d;
	GmmStatus	st = GMM_OK;

	for (size_t i0 = 0; i0 < n && st == GMM_OK; i0 += mw.B)
	{
		int			nb = (int) (n - i0 < (size_t) mw.B ? n - i0 : (size_t) mw.B);

		hooks->check_interrupts(hooks->arg);
		for (int i = 0; i < nb; i++)
		{
			size_t		r = rows[i0 + i].idx;

			memcpy(mw.Xb + (size_t) i * d, X + r * (size_t) d, sizeof(double) * d);
			mw.wb[i] = gmm_row_weight(w, r);
		}
		st = miss_block(s, p, nb, &mw, bad);
	}
	hooks->release(buf, hooks->arg);
	return st;
}

GmmStatus
gmm_stats_accumulate_missing(GmmStats *s, const GmmParams *model,
							 const double *X, const double *w, size_t n,
							 const GmmHooks *hooks, int64_t *n_missing,
							 int *bad)
{
	MissRow    *rows;
	size_t		m;
	int			mm_max;
	int64_t		nmiss;
	double		sw;
	GmmStatus	st;

	if (n == 0)
	{
		if (n_missing)
			*n_missing = 0;
		return GMM_OK;
	}
	rows = hooks->alloc(sizeof(MissRow) * 2 * n, hooks->arg);
	m = plan_rows(X, w, n, model->d, rows, rows + n, &mm_max, &nmiss, &sw);
	st = miss_pass(s, model, X, w, rows, m, mm_max, hooks, bad);
	hooks->release(rows, hooks->arg);
	if (n_missing)
		*n_missing = nmiss;
	return st;
}

/* ---------------------------------------------------------------------
 * The fit
 * ---------------------------------------------------------------------
 */

static void
report(const GmmFitOptions *opt, GmmProgressKind kind, int init, int iter,
	   double lb, double change, bool converged)
{
	GmmProgress ev;

	if (opt->progress == NULL)
		return;
	ev.kind = kind;
	ev.init = init;
	ev.iter = iter;
	ev.lower_bound = lb;
	ev.change = change;
	ev.converged = converged;
	opt->progress(&ev, opt->progress_arg);
}

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

typedef struct MissFit
{
	const double *X;
	const double *w;
	int			d;
	const MissRow *rows;
	size_t		n;				/* usable rows, in rows[] */
	size_t		n_all;			/* rows of X */
	int			mm_max;
	const GmmFitOptions *opt;
	const GmmHooks *hooks;
	GmmStats	st;
	GmmParams	cur;
	GmmParams	best;
	GmmParams	prev;
} MissFit;

/* E-step of p into f->st (shifted by p's means); the mean log-likelihood */
static GmmStatus
miss_estep(MissFit *f, const GmmParams *p, double *ll, int *bad)
{
	GmmStatus	st;

	gmm_stats_reset(&f->st, p);
	st = miss_pass(&f->st, p, f->X, f->w, f->rows, f->n, f->mm_max, f->hooks, bad);
	*ll = f->st.sum_loglik / f->st.sum_w;
	return st;
}

/*
 * M-step of f->st into f->cur.  When a component's shifted scatter cancelled
 * (see gmm_stats_cancelled), the statistics are taken again against the same
 * parameters (kept in f->prev), shifted by the new means, and the M-step
 * redone: the missing-data counterpart of mstep_centred.c.
 */
static GmmStatus
miss_mstep(MissFit *f, bool *flag, int *bad)
{
	int			k = f->cur.k;
	int			d = f->d;
	GmmStatus	st;

	if (gmm_stats_cancelled(&f->st, flag) == 0)
		return gmm_stats_mstep(&f->st, f->opt->reg_covar, &f->cur, bad);
	params_copy(&f->prev, &f->cur);
	gmm_stats_mstep_params(&f->st, f->opt->reg_covar, &f->cur);
	gmm_stats_reset(&f->st, &f->prev);
	if (f->st.cov_type == GMM_COV_TIED)
	{
		memset(f->st.shift, 0, sizeof(double) * d);
		for (int j = 0; j < k; j++)
			for (int t = 0; t < d; t++)
				f->st.shift[t] += f->cur.weights[j] * f->cur.means[(size_t) j * d + t];
	}
	else
		memcpy(f->st.shift, f->cur.means, sizeof(double) * k * d);
	st = miss_pass(&f->st, &f->prev, f->X, f->w, f->rows, f->n, f->mm_max,
				   f->hooks, bad);
	if (st != GMM_OK)
		return st;
	return gmm_stats_mstep(&f->st, f->opt->reg_covar, &f->cur, bad);
}

/*
 * The rows the initialisation runs on (see the header comment) into a new
 * array *Xi (and weights *wi, NULL when w is), *ni rows.  GMM_ERR_NO_OBSERVED
 * (feature *bad) when the mean imputation finds a feature never observed.
 */
static GmmStatus
init_rows(const MissFit *f, int k, double **Xi, double **wi, size_t *ni,
		  int *bad)
{
	int			d = f->d;
	size_t		nc = 0;
	size_t		nall = 0;
	size_t		m = 0;
	const GmmHooks *hooks = f->hooks;
	const double *X = f->X;
	double	   *mean = hooks->alloc(sizeof(double) * 2 * d, hooks->arg);
	double	   *mass = mean + d;
	bool		complete;

	memset(mean, 0, sizeof(double) * 2 * d);
	for (size_t i = 0; i < f->n; i++)
	{
		size_t		r = f->rows[i].idx;
		const double *x = X + r * d;
		double		wr = gmm_row_weight(f->w, r);
		int			c = 0;

		for (int t = 0; t < d; t++)
			if (!isnan(x[t]))
			{
				mean[t] += wr * x[t];
				mass[t] += wr;
			}
			else
				c++;
		nc += c == 0 ? 1 : 0;
	}
	complete = nc >= (size_t) 10 * k;
	if (!complete)
		for (int t = 0; t < d; t++)
		{
			if (!(mass[t] > 0.0))
			{
				*bad = t;
				hooks->release(mean, hooks->arg);
				return GMM_ERR_NO_OBSERVED;
			}
			mean[t] /= mass[t];
		}
	nall = complete ? nc : f->n;
	*Xi = hooks->alloc(sizeof(double) * nall * d, hooks->arg);
	*wi = f->w ? hooks->alloc(sizeof(double) * nall, hooks->arg) : NULL;
	/* in the rows' own order, as the complete-data fit would see them */
	for (size_t r = 0; r < f->n_all && m < nall; r++)
	{
		const double *x = X + r * d;
		int			c;

		if (!(gmm_row_weight(f->w, r) > 0.0))
			continue;
		c = row_nmiss(x, d);
		if (c == d || (complete && c > 0))
			continue;
		for (int t = 0; t < d; t++)
			(*Xi)[m * d + t] = isnan(x[t]) ? mean[t] : x[t];
		if (f->w)
			(*wi)[m] = f->w[r];
		m++;
	}
	hooks->release(mean, hooks->arg);
	*ni = m;
	return GMM_OK;
}

GmmStatus
gmm_fit_missing(const double *X, const double *w, size_t n, int d,
				const GmmFitOptions *opt, const GmmHooks *hooks, GmmParams *out,
				GmmFitResult *res)
{
	int			k = opt->n_components;
	GmmCovType	t = opt->cov_type;
	size_t		np = gmm_params_ndoubles(t, k, d);
	MissFit		f;
	MissRow    *rows;
	double	   *buf;
	bool	   *flag;
	double	   *Xi = NULL;
	double	   *wi = NULL;
	size_t		ni = 0;
	double		sum_w;
	int64_t		n_missing;
	double		best_lb = -INFINITY;
	int			n_init = opt->n_init;
	int			bad = -1;
	GmmStatus	st = GMM_OK;

	memset(res, 0, sizeof(*res));
	res->bad_component = -1;
	res->lower_bound = -INFINITY;

	memset(&f, 0, sizeof(f));
	rows = hooks->alloc(sizeof(MissRow) * 2 * (n > 0 ? n : 1), hooks->arg);
	f.n = plan_rows(X, w, n, d, rows, rows + n, &f.mm_max, &n_missing, &sum_w);
	f.X = X;
	f.n_all = n;
	f.w = w;
	f.d = d;
	f.rows = rows;
	f.opt = opt;
	f.hooks = hooks;
	res->n_samples = (int64_t) f.n;
	res->sum_weights = sum_w;
	res->n_missing = n_missing;
	if (f.n == 0 || !(sum_w > 0.0))
	{
		hooks->release(rows, hooks->arg);
		return GMM_ERR_ZERO_WEIGHT;
	}
	if (f.n < (size_t) k)
	{
		hooks->release(rows, hooks->arg);
		return GMM_ERR_TOO_FEW_SAMPLES;
	}

	buf = hooks->alloc(sizeof(double) * (gmm_stats_ndoubles(t, k, d) + 3 * np),
					   hooks->arg);
	flag = hooks->alloc(sizeof(bool) * k, hooks->arg);
	gmm_stats_bind(&f.st, t, k, d, buf);
	gmm_params_bind(&f.cur, t, k, d, buf + gmm_stats_ndoubles(t, k, d));
	gmm_params_bind(&f.best, t, k, d, f.cur.weights + np);
	gmm_params_bind(&f.prev, t, k, d, f.best.weights + np);

	if (opt->warm_start ||
		(opt->weights_init && opt->means_init && opt->precisions_init))
		n_init = 1;
	if (!opt->warm_start)
		st = init_rows(&f, k, &Xi, &wi, &ni, &bad);

	for (int run = 0; run < n_init && st == GMM_OK; run++)
	{
		double		lb = opt->warm_start && isfinite(opt->warm_lower_bound) ?
			opt->warm_lower_bound : -INFINITY;
		int			n_iter = 0;
		bool		conv = false;

		report(opt, GMM_PROGRESS_INIT_BEGIN, run, 0, 0.0, 0.0, false);
		if (opt->warm_start)
		{
			params_copy(&f.cur, opt->warm_start);
			st = gmm_compute_precision_cholesky(&f.cur, &bad);
		}
		else
		{
			GmmFitOptions io = *opt;
			GmmFitResult ir;

			io.max_iter = 0;
			io.n_init = 1;
			io.first_init = opt->first_init + run;
			io.progress = NULL;
			io.warm_start = NULL;
			st = gmm_fit(Xi, wi, ni, d, &io, hooks, &f.cur, &ir);
			bad = ir.bad_component;
		}
		for (int it = 1; st == GMM_OK && it <= opt->max_iter; it++)
		{
			double		prev = lb;

			hooks->check_interrupts(hooks->arg);
			st = miss_estep(&f, &f.cur, &lb, &bad);
			if (st == GMM_OK)
				st = miss_mstep(&f, flag, &bad);
			if (st != GMM_OK)
				break;
			n_iter = it;
			report(opt, GMM_PROGRESS_ITER_END, run, it, lb, lb - prev, false);
			if (fabs(lb - prev) < opt->tol)
			{
				conv = true;
				break;
			}
		}
		if (st != GMM_OK)
			break;
		report(opt, GMM_PROGRESS_INIT_END, run, n_iter, lb, 0.0, conv);
		if (opt->max_iter == 0 || lb > best_lb || best_lb == -INFINITY)
		{
			best_lb = lb;
			params_copy(&f.best, &f.cur);
			res->n_iter = n_iter;
			res->converged = conv;
			res->best_init = run;
		}
	}

	if (st == GMM_OK)
	{
		double		ll;

		params_copy(out, &f.best);
		res->lower_bound = best_lb;
		st = miss_estep(&f, out, &ll, &bad);
		res->log_likelihood = ll;
	}
	if (st != GMM_OK)
		res->bad_component = bad;

	if (Xi)
		hooks->release(Xi, hooks->arg);
	if (wi)
		hooks->release(wi, hooks->arg);
	hooks->release(flag, hooks->arg);
	hooks->release(buf, hooks->arg);
	hooks->release(rows, hooks->arg);
	return st;
}
