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
 * Full and tied, per block of rows: G = R P by one dgemm per component, the
 * scatter of the imputed rows scaled by sqrt(w r) by one dsyrk per
 * component, and what depends on the pattern (the LDL^T factorisation of
 * P_mm and C = P_mm^-1, delta = C g_m, the correction sum w r C of the
 * scatter's missing block) for eight components at once, one per lane of a
 * vector (vec8.h), which is what the per-row work costs at m of about 3.
 * Diagonal and spherical: the block transposed (a feature's values
 * contiguous), a missing value 0 with an observed-mask 0, vectorised over
 * the rows as em.c's complete-row path, with no pattern grouping at all.
 *
 * Full and tied rows are grouped by missingness pattern within each block of
 * rows the E-step takes at once (up to 512; sorted once per fit, plan_rows),
 * so the factorisations of P_mm are done once per pattern, group of
 * components and block the pattern occurs in.  A global sort would factor each pattern once per
 * pass, but made every pass read the rows in random order, which cost more
 * than it saved (with 20% of 16 values missing nearly every row has its own
 * pattern).  A row whose values are all missing
 * carries no information (its likelihood is 1 whatever the parameters) and
 * is skipped, as is a row of weight 0.
 *
 * Initialisation (gmm_fit_missing): the complete-data initialisation
 * (gmm_fit with max_iter 0, the same random stream per run) on the complete
 * rows when there are at least 10 x n_components of them (of positive
 * weight), else on every usable row with each missing value replaced by the
 * weighted mean of the feature's observed values (GMM_ERR_NO_OBSERVED when a
 * feature has none, unless all three initial parameters are given).  weights_init, means_init
 * and precisions_init override the estimate as in the complete fit, and a
 * warm start begins from the given model.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"
#include "vec8.h"

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
	b &= ~(size_t) 7;
	return b < 8 ? 8 : (int) b;
}

/*
 * The usable rows (weight > 0, at least one value observed) in rows (n
 * entries, allocated by the caller), in their order, each block of rows
 * that the E-step takes at once (miss_block_rows, from the largest number
 * of missing values of one row, *mm_max) sorted by pattern, so that a
 * pattern's rows are contiguous within the block.  Returns how many rows,
 * with their missing values and their weight.
 */
static size_t
plan_rows(const double *X, const double *w, size_t n, int d, int k,
		  GmmCovType t, MissRow *rows, MissRow *tmp, int *mm_max,
		  int64_t *n_missing, double *sum_w)
{
	size_t		m = 0;
	bool		fullish = t == GMM_COV_FULL || t == GMM_COV_TIED;
	int			B;

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
		rows[m].key = c == 0 || !fullish ? 0 : pattern_key(x, d);
		rows[m].idx = i;
		m++;
	}
	if (!fullish)
		return m;				/* no factorisation: patterns do not matter */
	B = miss_block_rows(k, d, (k + VW - 1) / VW * VW, *mm_max);
	for (size_t i0 = 0; i0 < m; i0 += B)
		sort_rows(rows + i0, tmp, m - i0 < (size_t) B ? m - i0 : (size_t) B);
	return m;
}

/* eight doubles at a time (vec8.h), the kernels built as em.c's */
#define MISS_KERNEL GMM_KERNEL
#define mload vload
#define mstore vstore
#define msplat vsplat
#define msum vsum
#define mexp_nonpos v8_exp_nonpos

/*
 * Workspace of one pass (allocated per pass through the hooks).  Full and
 * tied covariances work on groups of eight components, one per lane of a
 * vector (lanes past k hold the identity and weight 0): the factorisation
 * of each run's P_mm, the conditional means and the correction of the
 * scatter are done for the eight components at once.
 */
typedef struct MissWork
{
	int			B;				/* rows per block, a multiple of 8 */
	int			ng;				/* full, tied: groups of 8 components */
	double	   *prec;			/* full, tied: nbc x d x d precisions */
	double	   *Pk;				/* full, tied: ng x d x d x 8, lane l of group
								 * g: component 8 g + l's precision */
	double	   *logw;			/* k */
	double	   *ecst;			/* diag, spherical: k x d, log 2pi - 2 log
								 * prec_chol */
	double	   *Xb;				/* full, tied: B x d, the block's rows,
								 * missing = 0; diag, spherical: d x B */
	double	   *Ob;				/* the same layout, 1 observed, 0 missing */
	double	   *wb;				/* B (0 past the block's rows) */
	double	   *R;				/* full, tied: k x B x d imputed residuals */
	double	   *G;				/* full, tied: k x B x d, R P */
	double	   *Z;				/* B x d; diag, spherical: 3 B scratch */
	double	   *lp;				/* k x B */
	double	   *cst;			/* runs x ng x 8: -|o|/2 log 2pi - log|S_oo|/2 */
	double	   *arena;			/* per run and group: C (mm x mm x 8) */
	double	   *corr;			/* ng x d x d x 8: sum w r C per block */
	double	   *scratch;		/* (2 d x d + 2 d) x 8 */
	int		   *run_start;		/* B + 1 */
	int		   *miss;			/* B x d: per run the missing features */
	int		   *nmiss;			/* B */
} MissWork;

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
	int			nbc = p->cov_type == GMM_COV_TIED ? 1 : k;
	size_t		dd = (size_t) d * d;
	size_t		nR,
				nP,
				nA,
				nC,
				nZ;

	mw->ng = fullish ? (k + VW - 1) / VW : 0;
	B = mw->B = miss_block_rows(k, d, fullish ? mw->ng * VW : 1, mm_max);
	nR = fullish ? (size_t) k * B * d : 0;
	nP = fullish ? (size_t) nbc * dd : 0;
	nA = fullish ? (size_t) B * mw->ng * VW * mm_max * mm_max : 0;
	nC = fullish ? (size_t) mw->ng * VW * dd : 0;
	nZ = fullish ? (size_t) B * d : 3 * (size_t) B;
	nd = nP + nC + k + (fullish ? 0 : (size_t) k * d) +
		2 * (size_t) B * d + B + 2 * nR + nZ + (size_t) k * B +
		(fullish ? (size_t) B * mw->ng * VW : 0) + nA + nC +
		(2 * dd + 2 * (size_t) d) * VW;
	ni = (size_t) B + 1 + (size_t) B * d + B;
	buf = hooks->alloc(sizeof(double) * nd + sizeof(int) * ni, hooks->arg);
	mw->prec = buf;
	mw->Pk = mw->prec + nP;
	mw->logw = mw->Pk + nC;
	mw->ecst = mw->logw + k;
	mw->Xb = mw->ecst + (fullish ? 0 : (size_t) k * d);
	mw->Ob = mw->Xb + (size_t) B * d;
	mw->wb = mw->Ob + (size_t) B * d;
	mw->R = mw->wb + B;
	mw->G = mw->R + nR;
	mw->Z = mw->G + nR;
	mw->lp = mw->Z + nZ;
	mw->cst = mw->lp + (size_t) k * B;
	mw->arena = mw->cst + (fullish ? (size_t) B * mw->ng * VW : 0);
	mw->corr = mw->arena + nA;
	mw->scratch = mw->corr + nC;
	mw->run_start = (int *) (mw->scratch + (2 * dd + 2 * (size_t) d) * VW);
	mw->miss = mw->run_start + B + 1;
	mw->nmiss = mw->miss + (size_t) B * d;

	for (int j = 0; j < k; j++)
		mw->logw[j] = log(p->weights[j]);
	if (!fullish)
		for (int j = 0; j < k; j++)
			for (int t = 0; t < d; t++)
				mw->ecst[(size_t) j * d + t] = LOG_2PI - 2.0 *
					log(p->cov_type == GMM_COV_DIAG ?
						p->prec_chol[(size_t) j * d + t] : p->prec_chol[j]);
	if (fullish)
	{
		/* P = U U^T; U row-major upper is U^T column-major */
		for (int c = 0; c < nbc; c++)
		{
			const double *U = p->prec_chol + (size_t) c * dd;
			const double one = 1.0,
						zero = 0.0;

			dgemm_("T", "N", &d, &d, &d, &one, U, &d, U, &d, &zero,
				   mw->prec + (size_t) c * dd, &d, 1, 1);
		}
		/* interleaved by component; the identity past k */
		for (int j = 0; j < mw->ng * VW; j++)
		{
			const double *P = mw->prec + (nbc == 1 ? 0 : (size_t) j * dd);
			double	   *dst = mw->Pk + (size_t) (j / VW) * dd * VW + j % VW;

			for (size_t e = 0; e < dd; e++)
				dst[e * VW] = j < k ? P[e] : (e % (d + 1) == 0 ? 1.0 : 0.0);
		}
		memset(mw->corr, 0, sizeof(double) * nC);
	}
	return buf;
}

/*
 * Responsibilities times weights (in place, lp k x B component-major), and
 * into s the sum of w * log p(x) over the nb rows, their weights and count;
 * rows nb .. B-1 have weight 0.  m, sum: B doubles each of scratch.
 */
MISS_KERNEL static void
miss_responsibilities(GmmStats *s, int k, int nb, MissWork *mw, double *m,
					  double *sum)
{
	int			B = mw->B;
	int			np = (nb + VW - 1) & ~(VW - 1);
	double		ll = 0.0;

	for (int j = 0; j < k; j++)
		for (int i = nb; i < np; i++)
			mw->lp[(size_t) j * B + i] = 0.0;
	for (int i = 0; i < np; i += VW)
		mstore(m + i, mload(mw->lp + i));
	for (int j = 1; j < k; j++)
		for (int i = 0; i < np; i += VW)
		{
			v8d			a = mload(mw->lp + (size_t) j * B + i),
						b = mload(m + i);
			v8l			gt = a > b;

			mstore(m + i, (v8d) (((v8l) a & gt) | ((v8l) b & ~gt)));
		}
	for (int i = 0; i < np; i += VW)
		mstore(sum + i, msplat(0.0));
	for (int j = 0; j < k; j++)
	{
		double	   *l = mw->lp + (size_t) j * B;

		for (int i = 0; i < np; i += VW)
		{
			v8d			e = mexp_nonpos(mload(l + i) - mload(m + i));

			mstore(l + i, e);
			mstore(sum + i, mload(sum + i) + e);
		}
	}
	for (int i = 0; i < np; i += VW)
		mstore(sum + i, mload(mw->wb + i) / mload(sum + i));
	for (int i = 0; i < nb; i++)
		if (mw->wb[i] != 1.0)
			ll += mw->wb[i] * (m[i] + log(mw->wb[i] / sum[i]));	/* sum: w / sum exp */
		else
		{
			/* unit weights: one log per 32 rows of the product of 1/sum in [1, k] */
			double		prod = 1.0;
			int			i1 = i;

			while (i1 < nb && i1 < i + 32 && mw->wb[i1] == 1.0)
			{
				ll += m[i1];
				prod /= sum[i1];
				i1++;
			}
			ll += log(prod);
			i = i1 - 1;
		}
	for (int j = 0; j < k; j++)
	{
		double	   *l = mw->lp + (size_t) j * B;

		for (int i = 0; i < np; i += VW)
			mstore(l + i, mload(l + i) * mload(sum + i));
	}
	s->sum_loglik += ll;
	for (int i = 0; i < nb; i++)
		s->sum_w += mw->wb[i];
	s->n_rows += nb;
}

/*
 * The calibration (a fit's final E-step, s->sketch): the log-densities of
 * the block's complete rows, right after miss_responsibilities, which left
 * each row's largest term in m and w / sum of exps in sum.  Rows with a
 * missing value are left out: their marginal log-densities are over fewer
 * features, on another scale.  rowmajor: mw->Ob is B x d (full, tied),
 * else d x B (diag, spherical).
 */
static void
miss_sketch_complete(GmmSketch *sk, bool rowmajor, int d, int nb,
					 const MissWork *mw, const double *m, const double *sum)
{
	for (int i = 0; i < nb; i++)
	{
		bool		complete = true;

		for (int t = 0; t < d && complete; t++)
			complete = (rowmajor ? mw->Ob[(size_t) i * d + t] :
						mw->Ob[(size_t) t * mw->B + i]) != 0.0;
		if (complete)
			gmm_sketch_add(sk, m[i] + log(mw->wb[i] / sum[i]), mw->wb[i]);
	}
}

/*
 * On eight lanes (eight components): LDL^T of the mm x mm block M of the
 * interleaved precisions Pk (d x d x 8), then C = P_mm^-1 = L^-T D^-1 L^-1
 * into Cv (mm x mm x 8) and log|P_mm| into ld (8).  Returns the first lane
 * whose block is not positive definite (only rounding can cause it), else
 * -1.  sc: (2 mm x mm + 2 mm) x 8 scratch.
 */
MISS_KERNEL static int
lanes_ldl_inverse(const double *Pk, int d, const int *M, int mm, double *Cv,
				  double *ld, double *sc)
{
	double	   *L = sc;			/* mm x mm x 8, unit lower, then L^-1 */
	double	   *D = L + (size_t) mm * mm * VW;	/* mm x 8 */
	double	   *Di = D + (size_t) mm * VW;	/* mm x 8: 1 / D */
	v8d			prod = msplat(1.0);
	v8l			ok = (v8l) (msplat(0.0) == msplat(0.0));

#define LV(i, j) (L + ((size_t) (i) * mm + (j)) * VW)
	for (int i = 0; i < mm; i++)
	{
		v8d			v;

		for (int j = 0; j < i; j++)
		{
			v = mload(Pk + ((size_t) M[i] * d + M[j]) * VW);
			for (int t = 0; t < j; t++)
				v -= mload(LV(i, t)) * mload(LV(j, t)) * mload(D + t * VW);
			mstore(LV(i, j), v * mload(Di + j * VW));
		}
		v = mload(Pk + ((size_t) M[i] * d + M[i]) * VW);
		for (int t = 0; t < i; t++)
		{
			v8d			l = mload(LV(i, t));

			v -= l * l * mload(D + t * VW);
		}
		ok &= (v > msplat(0.0)) & (v < msplat(INFINITY));
		mstore(D + i * VW, v);
		mstore(Di + i * VW, msplat(1.0) / v);
		prod *= v;
	}
	for (int l = 0; l < VW; l++)
		if (!ok[l])
			return l;
	/* L^-1 in place, row by row (rows above are L^-1 already) */
	for (int i = 1; i < mm; i++)
		for (int j = 0; j < i; j++)
		{
			v8d			v = -mload(LV(i, j));

			for (int t = j + 1; t < i; t++)
				v -= mload(LV(i, t)) * mload(LV(t, j));
			mstore(LV(i, j), v);
		}
	/* C[a][b] = sum_t L^-1[t][a] L^-1[t][b] / D[t] (L^-1[t][t] = 1) */
	for (int a = 0; a < mm; a++)
		for (int b = 0; b <= a; b++)
		{
			v8d			v = a == b ? mload(Di + a * VW) :
				mload(LV(a, b)) * mload(Di + a * VW);

			for (int t = a + 1; t < mm; t++)
				v += mload(LV(t, a)) * mload(LV(t, b)) * mload(Di + t * VW);
			mstore(Cv + ((size_t) a * mm + b) * VW, v);
			mstore(Cv + ((size_t) b * mm + a) * VW, v);
		}
#undef LV
	/* the log-determinant: one log per lane unless the product left range */
	for (int l = 0; l < VW; l++)
	{
		if (prod[l] > DBL_MIN && prod[l] < DBL_MAX)
			ld[l] = log(prod[l]);
		else
		{
			ld[l] = 0.0;
			for (int i = 0; i < mm; i++)
				ld[l] += log(D[i * VW + l]);
		}
	}
	return -1;
}

/*
 * Full and tied: one block of nb rows (sorted by pattern, gathered into
 * mw->Xb, Ob, wb row-major) against p into s.  Returns GMM_ERR_NOT_PD (with
 * *bad) if a P_mm cannot be factored, which only rounding can cause.
 */
MISS_KERNEL static GmmStatus
miss_block_full(GmmStats *s, const GmmParams *p, int nb, MissWork *mw,
				int *bad)
{
	int			k = p->k;
	int			d = p->d;
	int			d8 = d & ~(VW - 1);
	int			B = mw->B;
	int			ng = mw->ng;
	int			nruns = 0;
	bool		tied = p->cov_type == GMM_COV_TIED;
	size_t		dd = (size_t) d * d;
	size_t		aoff = 0;
	const double one = 1.0,
				zero = 0.0;
	const int	inc = 1;

	/* runs of one pattern */
	for (int i = 0; i < nb; i++)
	{
		const double *o = mw->Ob + (size_t) i * d;

		if (i == 0 || memcmp(o, o - d, sizeof(double) * d) != 0)
		{
			int			c = 0;

			mw->run_start[nruns] = i;
			for (int t = 0; t < d; t++)
				if (o[t] == 0.0)
					mw->miss[(size_t) nruns * d + c++] = t;
			mw->nmiss[nruns] = c;
			nruns++;
		}
	}
	mw->run_start[nruns] = nb;

	/* per run and group: C = P_mm^-1 and the log-density constant */
	for (int r = 0; r < nruns; r++)
	{
		int			mm = mw->nmiss[r];
		const int  *M = mw->miss + (size_t) r * d;

		for (int g = 0; g < ng; g++)
		{
			double	   *cst = mw->cst + ((size_t) r * ng + g) * VW;
			double		ld[VW];

			for (int l = 0; l < VW; l++)
			{
				int			j = g * VW + l;

				cst[l] = -0.5 * (d - mm) * LOG_2PI +
					(j < k ? p->log_det[tied ? 0 : j] : 0.0);
			}
			if (mm == 0)
				continue;
			{
				int			fail = lanes_ldl_inverse(mw->Pk + (size_t) g * dd * VW,
													 d, M, mm, mw->arena + aoff,
													 ld, mw->scratch);

				if (fail >= 0 && g * VW + fail < k)
				{
					*bad = tied ? 0 : g * VW + fail;
					return GMM_ERR_NOT_PD;
				}
			}
			for (int l = 0; l < VW; l++)
				cst[l] -= 0.5 * ld[l];
			aoff += (size_t) mm * mm * VW;
		}
	}

	/* imputed residuals with 0 for the missing part, G = R P */
	for (int j = 0; j < k; j++)
	{
		const double *mu = p->means + (size_t) j * d;
		const double *P = mw->prec + (tied ? 0 : (size_t) j * dd);
		double	   *R = mw->R + (size_t) j * B * d;

		for (int i = 0; i < nb; i++)
		{
			const double *x = mw->Xb + (size_t) i * d;
			const double *o = mw->Ob + (size_t) i * d;
			double	   *ri = R + (size_t) i * d;

			for (int t = 0; t < d8; t += VW)
				mstore(ri + t, mload(o + t) * (mload(x + t) - mload(mu + t)));
			for (int t = d8; t < d; t++)
				ri[t] = o[t] * (x[t] - mu[t]);
		}
		/* G (row-major nb x d) = R P; P symmetric */
		dgemm_("N", "N", &d, &nb, &d, &one, P, &d, R, &d, &zero,
			   mw->G + (size_t) j * B * d, &d, 1, 1);
	}

	/*
	 * E-step per row: q = r.g - g_m.delta with delta = C g_m (eight
	 * components a vector), the imputed residual's missing part -delta
	 */
	aoff = 0;
	for (int r = 0; r < nruns; r++)
	{
		int			mm = mw->nmiss[r];
		const int  *M = mw->miss + (size_t) r * d;
		const double *Cr = mw->arena + aoff;

		aoff += (size_t) ng * mm * mm * VW;
		for (int i = mw->run_start[r]; i < mw->run_start[r + 1]; i++)
			for (int g = 0; g < ng; g++)
			{
				const double *C = Cr + (size_t) g * mm * mm * VW;
				const double *cst = mw->cst + ((size_t) r * ng + g) * VW;
				int			kg = k - g * VW < VW ? k - g * VW : VW;
				double		qd[VW];
				v8d			qc = msplat(0.0);
				v8d			q;

				for (int l = 0; l < VW; l++)
				{
					size_t		off = ((size_t) (g * VW + l) * B + i) * d;
					const double *ri = mw->R + off;
					const double *gi = mw->G + off;
					v8d			qv = msplat(0.0);
					double		qs;

					if (l >= kg)
					{
						qd[l] = 0.0;
						continue;
					}
					for (int t = 0; t < d8; t += VW)
						qv += mload(ri + t) * mload(gi + t);
					qs = msum(qv);
					for (int t = d8; t < d; t++)
						qs += ri[t] * gi[t];
					qd[l] = qs;
				}
				if (mm > 0)
				{
					double	   *gm = mw->scratch;	/* mm x 8 */
					size_t		off0 = ((size_t) g * VW * B + i) * d;
					size_t		str = (size_t) B * d;

					for (int b = 0; b < mm; b++)
						for (int l = 0; l < VW; l++)
							gm[b * VW + l] = l < kg ?
								mw->G[off0 + l * str + M[b]] : 0.0;
					for (int a = 0; a < mm; a++)
					{
						v8d			v = msplat(0.0);
						double		vd[VW];

						for (int b = 0; b < mm; b++)
							v += mload(C + ((size_t) a * mm + b) * VW) *
								mload(gm + b * VW);
						qc += mload(gm + a * VW) * v;
						mstore(vd, v);
						for (int l = 0; l < kg; l++)
							mw->R[off0 + l * str + M[a]] = -vd[l];
					}
				}
				q = mload(qd) - qc;
				q = (v8d) ((v8l) q & ~(q < msplat(0.0)));	/* < 0: rounding only */
				for (int l = 0; l < kg; l++)
				{
					int			j = g * VW + l;

					mw->lp[(size_t) j * B + i] = mw->logw[j] + cst[l] -
						0.5 * (isnan(q[l]) ? INFINITY : q[l]);
				}
			}
	}

	/* responsibilities (times the weights) and the log-likelihood */
	miss_responsibilities(s, k, nb, mw, mw->Z, mw->Z + B);
	if (s->sketch)
		miss_sketch_complete(s->sketch, true, d, nb, mw, mw->Z, mw->Z + B);

	/* the expected sufficient statistics */
	for (int j = 0; j < k; j++)
	{
		const double *mu = p->means + (size_t) j * d;
		const double *sh = s->shift + (tied ? 0 : (size_t) j * d);
		const double *wr = mw->lp + (size_t) j * B;
		double	   *s1 = s->s1 + (size_t) j * d;
		double	   *R = mw->R + (size_t) j * B * d;
		double	   *S2 = s->s2 + (tied ? 0 : (size_t) j * dd);
		double	   *ms = mw->scratch;	/* d: mu - shift */
		double		mass = 0.0;

		for (int i = 0; i < nb; i++)
			mass += wr[i];
		s->s0[j] += mass;
		if (mass == 0.0)
			continue;
		for (int t = 0; t < d; t++)
			ms[t] = mu[t] - sh[t];
		/* Y = xhat - shift = R + mu - shift; s1 += R^T wr + mass ms */
		dgemv_("N", &d, &nb, &one, R, &d, wr, &inc, &one, s1, &inc, 1);
		for (int t = 0; t < d; t++)
			s1[t] += mass * ms[t];
		/* Z = sqrt(w r) Y */
		for (int i = 0; i < nb; i++)
		{
			double	   *ri = R + (size_t) i * d;
			double	   *zi = mw->Z + (size_t) i * d;
			v8d			sq = msplat(sqrt(wr[i]));

			for (int t = 0; t < d8; t += VW)
				mstore(zi + t, sq * (mload(ri + t) + mload(ms + t)));
			for (int t = d8; t < d; t++)
				zi[t] = sq[0] * (ri[t] + ms[t]);
		}
		/* column-major upper of Z^T Z (Z nb x d row-major) = row-major lower */
		dsyrk_("U", "N", &d, &nb, &one, mw->Z, &d, &one, S2, &d, 1, 1);
	}

	/* sum of w r C on the missing blocks, eight components at once */
	aoff = 0;
	for (int r = 0; r < nruns; r++)
	{
		int			mm = mw->nmiss[r];
		const int  *M = mw->miss + (size_t) r * d;

		if (mm == 0)
			continue;
		for (int g = 0; g < ng; g++)
		{
			const double *C = mw->arena + aoff;
			double	   *corr = mw->corr + (size_t) g * dd * VW;
			int			kg = k - g * VW < VW ? k - g * VW : VW;
			double		mrd[VW];
			v8d			mr;

			aoff += (size_t) mm * mm * VW;
			for (int l = 0; l < VW; l++)
			{
				const double *wr = mw->lp + (size_t) (g * VW + l) * B;

				mrd[l] = 0.0;
				if (l < kg)
					for (int i = mw->run_start[r]; i < mw->run_start[r + 1]; i++)
						mrd[l] += wr[i];
			}
			mr = mload(mrd);
			for (int a = 0; a < mm; a++)
				for (int b = 0; b <= a; b++)
				{
					double	   *e = corr + ((size_t) M[a] * d + M[b]) * VW;

					mstore(e, mload(e) + mr * mload(C + ((size_t) a * mm + b) * VW));
				}
		}
	}
	return GMM_OK;
}

/* the block's correction of the scatter (mw->corr) into s, then zeroed */
static void
miss_flush_corr(GmmStats *s, const GmmParams *p, MissWork *mw)
{
	int			k = p->k;
	int			d = p->d;
	size_t		dd = (size_t) d * d;
	bool		tied = p->cov_type == GMM_COV_TIED;

	for (int j = 0; j < k; j++)
	{
		const double *corr = mw->corr + (size_t) (j / VW) * dd * VW + j % VW;
		double	   *S2 = s->s2 + (tied ? 0 : (size_t) j * dd);

		for (int t = 0; t < d; t++)
			for (int u = 0; u <= t; u++)
				S2[(size_t) t * d + u] += corr[((size_t) t * d + u) * VW];
	}
	memset(mw->corr, 0, sizeof(double) * mw->ng * VW * dd);
}

/*
 * Diagonal and spherical: one block of nb rows transposed (mw->Xb, Ob d x
 * B, missing = 0 and observed 0), no factorisation: the log-density of the
 * observed part leaves out the missing terms, a missing value counts in the
 * statistics as xhat = mu with the conditional variance var.  Four doubles
 * a vector, built for AVX-512, AVX2 with FMA and the baseline (as score.c's
 * kernel): eight-double vectors have no AVX2 build (vec8.h).
 */
GMM_KERNEL_AVX2 static void
miss_block_diag(GmmStats *s, const GmmParams *p, int nb, MissWork *mw)
{
	int			k = p->k;
	int			d = p->d;
	int			B = mw->B;
	int			np = (nb + VW - 1) & ~(VW - 1);
	bool		diag = p->cov_type == GMM_COV_DIAG;
	double	   *q = mw->Z + 2 * (size_t) B;

	/* lp = log w - sum over the observed t of (z^2 + log 2pi - 2 log pc) / 2 */
	for (int j = 0; j < k; j++)
	{
		const double *mu = p->means + (size_t) j * d;
		const double *e = mw->ecst + (size_t) j * d;
		double	   *lp = mw->lp + (size_t) j * B;

		for (int i = 0; i < np; i += 4)
			v4store(q + i, v4splat(0.0));
		for (int t = 0; t < d; t++)
		{
			const double *x = mw->Xb + (size_t) t * B;
			const double *o = mw->Ob + (size_t) t * B;
			v4d			a = v4splat(mu[t]);
			v4d			pc = v4splat(diag ? p->prec_chol[(size_t) j * d + t] :
									p->prec_chol[j]);
			v4d			et = v4splat(e[t]);

			for (int i = 0; i < np; i += 4)
			{
				v4d			z = (v4load(x + i) - a) * pc;

				v4store(q + i, v4load(q + i) + v4load(o + i) * (z * z + et));
			}
		}
		for (int i = 0; i < np; i += 4)
			v4store(lp + i, v4splat(mw->logw[j]) - v4splat(0.5) * v4load(q + i));
	}

	miss_responsibilities(s, k, nb, mw, mw->Z, mw->Z + B);
	if (s->sketch)
		miss_sketch_complete(s->sketch, false, d, nb, mw, mw->Z, mw->Z + B);

	/*
	 * Per feature over the rows: A0 = sum w r o, A1 = sum w r o (x - shift),
	 * A2 = sum w r o (x - shift)^2; the missing values add (mass - A0) times
	 * (mu - shift) and (mu - shift)^2 + var.
	 */
	for (int j = 0; j < k; j++)
	{
		const double *mu = p->means + (size_t) j * d;
		const double *sh = s->shift + (size_t) j * d;
		const double *wr = mw->lp + (size_t) j * B;
		double	   *s1 = s->s1 + (size_t) j * d;
		double	   *s2 = s->s2 + (size_t) j * d;
		v4d			mv = v4splat(0.0);
		double		mass;

		for (int i = 0; i < np; i += 4)
			mv += v4load(wr + i);
		mass = v4sum(mv);
		s->s0[j] += mass;
		if (mass == 0.0)
			continue;
		for (int t = 0; t < d; t++)
		{
			const double *x = mw->Xb + (size_t) t * B;
			const double *o = mw->Ob + (size_t) t * B;
			v4d			c = v4splat(sh[t]);
			v4d			a0 = v4splat(0.0),
						a1 = v4splat(0.0),
						a2 = v4splat(0.0);
			double		mt,
						ms,
						var;

			for (int i = 0; i < np; i += 4)
			{
				v4d			a = v4load(wr + i) * v4load(o + i);
				v4d			y = v4load(x + i) - c;
				v4d			ay = a * y;

				a0 += a;
				a1 += ay;
				a2 += ay * y;
			}
			mt = mass - v4sum(a0);
			ms = mu[t] - sh[t];
			var = diag ? p->covariances[(size_t) j * d + t] : p->covariances[j];
			if (mt < 0.0)
				mt = 0.0;
			s1[t] += v4sum(a1) + ms * mt;
			s2[t] += v4sum(a2) + (ms * ms + var) * mt;
		}
	}
}

/* one row into the block: the values with 0 for NaN, and 1/0 observed */
MISS_KERNEL static void
miss_gather(const double *x, int d, double *xb, double *ob)
{
	int			d8 = d & ~(VW - 1);

	for (int t = 0; t < d8; t += VW)
	{
		v8d			v = mload(x + t);
		v8l			obs = v == v;

		mstore(xb + t, (v8d) ((v8l) v & obs));
		mstore(ob + t, (v8d) ((v8l) msplat(1.0) & obs));
	}
	for (int t = d8; t < d; t++)
	{
		bool		miss = isnan(x[t]);

		xb[t] = miss ? 0.0 : x[t];
		ob[t] = miss ? 0.0 : 1.0;
	}
}

/*
 * nb rows into the block transposed (diag, spherical: XT, OT d x B), the
 * values with 0 for NaN and 1/0 observed, eight rows a vector; the rows up
 * to the next multiple of 8 zero.
 */
MISS_KERNEL static void
miss_gather_t(const double *X, const MissRow *rows, int nb, int d, int B,
			  double *XT, double *OT)
{
	int			np = (nb + VW - 1) & ~(VW - 1);
	int			i = 0;

	for (; i + VW <= nb; i += VW)
	{
		const double *xr[VW];

		for (int q = 0; q < VW; q++)
			xr[q] = X + rows[i + q].idx * (size_t) d;
		for (int t = 0; t < d; t++)
		{
			v8d			v = {xr[0][t], xr[1][t], xr[2][t], xr[3][t],
			xr[4][t], xr[5][t], xr[6][t], xr[7][t]};
			v8l			obs = v == v;

			mstore(XT + (size_t) t * B + i, (v8d) ((v8l) v & obs));
			mstore(OT + (size_t) t * B + i, (v8d) ((v8l) msplat(1.0) & obs));
		}
	}
	for (; i < nb; i++)
	{
		const double *x = X + rows[i].idx * (size_t) d;

		for (int t = 0; t < d; t++)
		{
			bool		miss = isnan(x[t]);

			XT[(size_t) t * B + i] = miss ? 0.0 : x[t];
			OT[(size_t) t * B + i] = miss ? 0.0 : 1.0;
		}
	}
	for (int t = 0; t < d; t++)
		for (int r = nb; r < np; r++)
			XT[(size_t) t * B + r] = OT[(size_t) t * B + r] = 0.0;
}

/* the E-step over the planned rows (usable; full, tied: sorted) against p, into s */
static GmmStatus
miss_pass(GmmStats *s, const GmmParams *p, const double *X, const double *w,
		  const MissRow *rows, size_t n, int mm_max, const GmmHooks *hooks,
		  int *bad)
{
	MissWork	mw;
	void	   *buf = miss_work_alloc(&mw, p, mm_max, hooks);
	int			d = p->d;
	int			B = mw.B;
	bool		fullish = p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED;
	GmmStatus	st = GMM_OK;

	for (size_t i0 = 0; i0 < n && st == GMM_OK; i0 += B)
	{
		int			nb = (int) (n - i0 < (size_t) B ? n - i0 : (size_t) B);

		hooks->check_interrupts(hooks->arg);
		if (fullish)
		{
			for (int i = 0; i < nb; i++)
			{
				size_t		r = rows[i0 + i].idx;

				miss_gather(X + r * (size_t) d, d, mw.Xb + (size_t) i * d,
							mw.Ob + (size_t) i * d);
				mw.wb[i] = gmm_row_weight(w, r);
			}
		}
		else
		{
			miss_gather_t(X, rows + i0, nb, d, B, mw.Xb, mw.Ob);
			for (int i = 0; i < nb; i++)
				mw.wb[i] = gmm_row_weight(w, rows[i0 + i].idx);
		}
		for (int i = nb; i < B; i++)
			mw.wb[i] = 0.0;
		if (fullish)
		{
			st = miss_block_full(s, p, nb, &mw, bad);
			if (st == GMM_OK)
				miss_flush_corr(s, p, &mw);
		}
		else
			miss_block_diag(s, p, nb, &mw);
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
	m = plan_rows(X, w, n, model->d, model->k, model->cov_type, rows,
				  rows + n, &mm_max, &nmiss, &sw);
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
	bool	   *flag;			/* k flags of gmm_stats_cancelled */
	double	   *Xi;				/* the initialisation's rows (init_rows) */
	double	   *wi;				/* and their weights (NULL: w is) */
	size_t		ni;
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
	gmm_params_copy(&f->prev, &f->cur);
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
init_rows(const MissFit *f, int k, bool all_given, double **Xi, double **wi,
		  size_t *ni, int *bad)
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
			if (!(mass[t] > 0.0) && all_given)
				mass[t] = 1.0;	/* nothing is estimated: any value does */
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

/* gmm_em_loop's steps for rows with NaN (arg: a MissFit) */
static GmmStatus
miss_init(void *arg, int run, GmmParams *cur, int *bad)
{
	MissFit    *f = arg;
	GmmFitOptions io = *f->opt;
	GmmFitResult ir;
	GmmStatus	st;

	/* the complete-data initialisation on init_rows' rows */
	io.max_iter = 0;
	io.n_init = 1;
	io.first_init = f->opt->first_init + run;
	io.progress = NULL;
	io.warm_start = NULL;
	st = gmm_fit(f->Xi, f->wi, f->ni, f->d, &io, f->hooks, cur, &ir);
	*bad = ir.bad_component;
	return st;
}

static GmmStatus
miss_estep_op(void *arg, const GmmParams *p, double *lb, int *bad)
{
	return miss_estep(arg, p, lb, bad);
}

static GmmStatus
miss_mstep_op(void *arg, GmmParams *cur, double *lb, int *bad)
{
	MissFit    *f = arg;

	(void) cur;					/* miss_mstep updates f->cur, which it is */
	(void) lb;
	return miss_mstep(f, f->flag, bad);
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
	double		sum_w;
	int64_t		n_missing;
	double		best_lb = -INFINITY;
	int			bad = -1;
	GmmEmOps	ops = {0};
	GmmStatus	st = GMM_OK;

	memset(res, 0, sizeof(*res));
	res->bad_component = -1;
	res->lower_bound = -INFINITY;

	memset(&f, 0, sizeof(f));
	rows = hooks->alloc(sizeof(MissRow) * 2 * (n > 0 ? n : 1), hooks->arg);
	f.n = plan_rows(X, w, n, d, k, t, rows, rows + n, &f.mm_max, &n_missing,
					&sum_w);
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
	f.flag = hooks->alloc(sizeof(bool) * k, hooks->arg);
	gmm_stats_bind(&f.st, t, k, d, buf);
	gmm_params_bind(&f.cur, t, k, d, buf + gmm_stats_ndoubles(t, k, d));
	gmm_params_bind(&f.best, t, k, d, f.cur.weights + np);
	gmm_params_bind(&f.prev, t, k, d, f.best.weights + np);

	if (!opt->warm_start)
		st = init_rows(&f, k, opt->weights_init && opt->means_init &&
					   opt->precisions_init, &f.Xi, &f.wi, &f.ni, &bad);
	ops.arg = &f;
	ops.init = miss_init;
	ops.estep = miss_estep_op;
	ops.mstep = miss_mstep_op;
	if (st == GMM_OK)
		st = gmm_em_loop(&ops, opt, hooks, &f.cur, &f.best, res, &best_lb, &bad);

	/* the final E-step: the log-likelihood of the kept parameters */
	if (st == GMM_OK)
	{
		double		ll;

		gmm_params_copy(out, &f.best);
		res->lower_bound = best_lb;
		/* the calibration: of the complete rows (miss_sketch_complete) */
		f.st.sketch = opt->sketch;
		if (opt->sketch)
			gmm_sketch_init_model(opt->sketch, out);
		st = miss_estep(&f, out, &ll, &bad);
		res->log_likelihood = ll;
	}
	if (st != GMM_OK)
		res->bad_component = bad;

	if (f.Xi)
		hooks->release(f.Xi, hooks->arg);
	if (f.wi)
		hooks->release(f.wi, hooks->arg);
	hooks->release(f.flag, hooks->arg);
	hooks->release(buf, hooks->arg);
	hooks->release(rows, hooks->arg);
	return st;
}
