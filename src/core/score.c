/*
 * score.c
 *	  The per-row scoring kernel: a row's log-density under each component
 *	  and their log-sum-exp (gmm_row_log_prob), behind gmm_score_samples,
 *	  gmm_predict, gmm_predict_proba, the scoring aggregates and the anomaly
 *	  functions.  Part of the numerical core: no PostgreSQL headers.
 *
 * A scoring query calls it once per row, so it cannot batch rows as the
 * E-step does (em.c): its cost is the row's arithmetic, d^2/2 multiply-adds
 * per component for a full covariance.  It works on four doubles at a time
 * (one AVX register, two SSE2 ones), which GCC maps well onto every x86-64
 * level; eight-double vectors (vec8.h), the E-step's width, are lowered
 * through the stack on AVX2 and made this kernel several times slower
 * there.  Built for AVX-512, AVX2 with FMA, and the baseline, the loader
 * choosing one per CPU (GMM_KERNEL_AVX2).  The lanes (below) are eight
 * doubles wide in a build for AVX-512 only (GMM_KERNEL_AVX512, run where
 * GMM_CPU_AVX512), four wide in the AVX2 and baseline builds otherwise
 * (GMM_KERNEL_V3).
 *
 * Full and tied.  z = (x - mu) U with U upper triangular (row-major, zeros
 * below the diagonal), four columns of z at a time: columns t..t+3 need rows
 * 0..t+3 of U only.  The multiply-adds of one column block form chains,
 * each waiting on its previous multiply-add (four to five cycles), so two
 * components are computed together and each block's rows are split four
 * ways (row s mod 4): eight independent chains.
 * Columns past the last multiple of four are summed one at a time.  A
 * NaN in q comes only from inf - inf (overflow): the row is infinitely far.
 *
 * Lanes (gmm_row_log_prob_lanes).  Made once for many rows
 * (gmm_score_lanes), the components in groups of LW (eight with AVX-512,
 * four otherwise), each number of the factors, means and log-determinants
 * stored as LW doubles, one per component of the group: then every
 * multiply-add is a vector one over LW components, with no broadcast of
 * y, no horizontal sum and no wasted lane but a last group's padding.
 * The factors are stored in blocks of eight columns, rows 0 .. t0 + 7 of
 * each, so that a block's eight columns are eight independent chains, one
 * multiply-add each per row; summed two columns at a time, as before, they
 * waited on their multiply-adds' latency (`em_bench score`, blocks over
 * pairs of columns, on a Zen 5 EPYC: 0.78-0.88x at 8 x 4, 0.76-0.83x at
 * 16 x 8, 0.70-0.81x on four lanes at 64 x 8; eight lanes at 64 x 8
 * unchanged, 0.94-1.13x: there the 147 kB of factors a row reads from the
 * second-level cache are the cost).  Per lane the arithmetic is the same
 * whatever LW, so the AVX-512 and AVX2 builds agree to a few ulp (which
 * multiply-adds the compiler fuses may differ; the baseline build, without
 * FMA, rounds otherwise).  `em_bench score N D K full`, on an AVX-512
 * Xeon, a row's time on the lanes over the square factors: 0.89x at 8 features and 4
 * components, 0.61x at 16 and 8, 0.43x at 32 and 8, 0.40x at 64 and 8,
 * 0.58x at 16 and 16 (the four-wide lanes, AVX2 build, on the same CPU:
 * 1.02x, 0.82x, 0.62x, 0.57x, 0.75x); with the blocks, on the Zen 5 EPYC,
 * two runs: 0.68-0.71x, 0.48x, 0.38x, 0.38-0.40x).  With
 * fewer than four components the lanes would be mostly padding: the
 * square factors then (lanes_width).
 */
#include <math.h>
#include <string.h>

#include "gmm_core.h"
#include "vec8.h"

#define LOG_2PI 1.8378770664093454836

/* y = x - mu over d values */
GMM_ALWAYS_INLINE void
centre(const double *x, const double *mu, int d, double *y)
{
	int			d4 = d & ~3;

	for (int s = 0; s < d4; s += 4)
	{
		v4d			v = v4load(x + s) - v4load(mu + s);

		memcpy(y + s, &v, sizeof(v));
	}
	for (int s = d4; s < d; s++)
		y[s] = x[s] - mu[s];
}

/*
 * columns past the last multiple of four of ||y U||^2, each summed in four
 * partial sums (rows s mod 4): one chain of t multiply-adds per column made
 * a marginal of 13 features score slower than the whole model's 16
 */
GMM_ALWAYS_INLINE double
quad_tail(const double *U, const double *y, int d)
{
	double		q = 0.0;

	for (int t = d & ~3; t < d; t++)
	{
		double		z0 = 0.0,
					z1 = 0.0,
					z2 = 0.0,
					z3 = 0.0;
		int			s = 0;

		for (; s + 3 <= t; s += 4)
		{
			z0 += y[s] * U[(size_t) s * d + t];
			z1 += y[s + 1] * U[(size_t) (s + 1) * d + t];
			z2 += y[s + 2] * U[(size_t) (s + 2) * d + t];
			z3 += y[s + 3] * U[(size_t) (s + 3) * d + t];
		}
		for (; s <= t; s++)
			z0 += y[s] * U[(size_t) s * d + t];
		z0 = (z0 + z1) + (z2 + z3);
		q += z0 * z0;
	}
	return q;
}

/* precision factors of a model: k full, one tied, none otherwise */
static inline size_t
n_factors(GmmCovType t, int k)
{
	return t == GMM_COV_FULL ? (size_t) k : t == GMM_COV_TIED ? 1 : 0;
}

/* ||y1 U1||^2 and ||y2 U2||^2 together (U upper, row-major d x d) */
GMM_ALWAYS_INLINE void
quad_full_pair(const double *U1, const double *U2, const double *y1,
			   const double *y2, int d, double *q1, double *q2)
{
	int			d4 = d & ~3;
	v4d			s1 = v4splat(0.0),
				s2 = v4splat(0.0);

	for (int t = 0; t < d4; t += 4)
	{
		v4d			a0 = v4splat(0.0),
					a1 = v4splat(0.0),
					a2 = v4splat(0.0),
					a3 = v4splat(0.0),
					b0 = v4splat(0.0),
					b1 = v4splat(0.0),
					b2 = v4splat(0.0),
					b3 = v4splat(0.0);

		/* rows 0..t+3 of columns t..t+3, a multiple of four */
		for (int s = 0; s < t + 4; s += 4)
		{
			const double *r1 = U1 + (size_t) s * d + t;
			const double *r2 = U2 + (size_t) s * d + t;

			a0 += v4splat(y1[s]) * v4load(r1);
			b0 += v4splat(y2[s]) * v4load(r2);
			a1 += v4splat(y1[s + 1]) * v4load(r1 + d);
			b1 += v4splat(y2[s + 1]) * v4load(r2 + d);
			a2 += v4splat(y1[s + 2]) * v4load(r1 + 2 * d);
			b2 += v4splat(y2[s + 2]) * v4load(r2 + 2 * d);
			a3 += v4splat(y1[s + 3]) * v4load(r1 + 3 * d);
			b3 += v4splat(y2[s + 3]) * v4load(r2 + 3 * d);
		}
		a0 = (a0 + a1) + (a2 + a3);
		b0 = (b0 + b1) + (b2 + b3);
		s1 += a0 * a0;
		s2 += b0 * b0;
	}
	*q1 = v4sum(s1) + quad_tail(U1, y1, d);
	*q2 = v4sum(s2) + quad_tail(U2, y2, d);
}

/* squared Mahalanobis distances of x to every component, into q[k] */
GMM_ALWAYS_INLINE void
quad_all(const GmmParams *p, const double *x, double *q, double *work)
{
	int			d = p->d;
	int			k = p->k;
	int			d4 = d & ~3;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			{
				bool		full = p->cov_type == GMM_COV_FULL;
				size_t		dd = full ? (size_t) d * d : 0;
				double	   *y1 = work;
				double	   *y2 = work + d;
				int			j = 0;

				for (; j + 1 < k; j += 2)
				{
					centre(x, p->means + (size_t) j * d, d, y1);
					centre(x, p->means + (size_t) (j + 1) * d, d, y2);
					quad_full_pair(p->prec_chol + j * dd, p->prec_chol + (j + 1) * dd,
								   y1, y2, d, &q[j], &q[j + 1]);
				}
				if (j < k)
				{
					double		unused;

					centre(x, p->means + (size_t) j * d, d, y1);
					quad_full_pair(p->prec_chol + j * dd, p->prec_chol + j * dd,
								   y1, y1, d, &q[j], &unused);
				}
				break;
			}
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			{
				bool		diag = p->cov_type == GMM_COV_DIAG;

				for (int j = 0; j < k; j++)
				{
					const double *mu = p->means + (size_t) j * d;
					const double *pc = p->prec_chol + (diag ? (size_t) j * d : 0);
					double		sp = p->prec_chol[j];
					v4d			acc = v4splat(0.0);
					double		qq;

					/*
					 * Scale before squaring: with a subnormal variance the
					 * factor overflows, and 0 * inf after the sum would be NaN
					 * at the mean.
					 */
					for (int t = 0; t < d4; t += 4)
					{
						v4d			z = v4load(x + t) - v4load(mu + t);

						z *= diag ? v4load(pc + t) : v4splat(sp);
						acc += z * z;
					}
					qq = v4sum(acc);
					for (int t = d4; t < d; t++)
					{
						double		z = (x[t] - mu[t]) * (diag ? pc[t] : sp);

						qq += z * z;
					}
					q[j] = qq;
				}
				break;
			}
	}
}

/*
 * logprob[j] = log w_j + log N(x | mu_j, Sigma_j); returns their
 * log-sum-exp.  work: 2 d doubles.
 */
GMM_KERNEL_AVX2 double
gmm_row_log_prob(const GmmParams *p, const double *log_weights,
				 const double *x, double *logprob, double *work)
{
	double		cst = p->d * LOG_2PI;

	quad_all(p, x, logprob, work);
	for (int j = 0; j < p->k; j++)
	{
		double		q = isnan(logprob[j]) ? INFINITY : logprob[j];

		logprob[j] = log_weights[j] + p->log_det[j] - 0.5 * (cst + q);
	}
	return log_sum_exp(logprob, p->k);
}

/* gmm_score_lanes_set_width's choice: 0, by the CPU */
static int	lanes_width_set = 0;

void
gmm_score_lanes_set_width(int width)
{
	lanes_width_set = width == 4 || (width == 8 && GMM_CPU_AVX512()) ? width : 0;
}

int
gmm_lanes_cpu_width(void)
{
	if (lanes_width_set)
		return lanes_width_set;
	return GMM_CPU_AVX512() ? 8 : 4;
}

/*
 * components a group of the lanes holds: 0 when the model has none (fewer
 * than four components: a group would be mostly padding; `em_bench score`
 * at 16 features, lanes over square factors, 1.19-1.23x with 2 components,
 * 1.26-1.50x with 3).  Eight wide only where four-wide groups would not
 * compute fewer lanes (k mod 8 = 0 or 5..7): the padding's lanes cost as
 * much as the components' and their factors are read as well.  `em_bench
 * score N D K full` on an AVX-512 Xeon (Intel family 6 model 167), eight
 * lanes against four, ns a row: K = 4 60 against 50 at 8 features, 92
 * against 85 at 16, 238 against 197 at 32, 1016 against 626 at 64; K = 12
 * 128 against 112 at 8, 187 against 195 at 16, 601 against 544 at 32;
 * K = 5 66 against 72 at 8, 94 against 121 at 16.
 */
static int
lanes_width(GmmCovType t, int k)
{
	int			w;

	if (n_factors(t, k) == 0 || k < 4)
		return 0;
	w = gmm_lanes_cpu_width();
	if (w == 8 && lanes_width_set != 8 && (k + 3) / 4 < 2 * ((k + 7) / 8))
		w = 4;
	return w;
}

/*
 * The factors on the lanes are stored in blocks of eight columns (the
 * columns past d are zero), each block holding rows 0 .. t0 + 7 of its
 * columns (the rows past d left out, the zeros below the diagonal kept), a
 * row's eight numbers side by side.  A block's columns are then summed in
 * eight independent chains.
 */
#define LANES_BLOCK 8

/* the rows a block from column t0 on holds */
static inline int
block_rows(int d, int t0)
{
	return t0 + LANES_BLOCK < d ? t0 + LANES_BLOCK : d;
}

/*
 * the entries of one factor in blocks (each entry one per lane): blocks
 * b < nb - 1 hold 8 (b + 1) rows, the last one d
 */
static inline size_t
lanes_factor_entries(int d)
{
	size_t		nb = (size_t) (d + LANES_BLOCK - 1) / LANES_BLOCK;

	return LANES_BLOCK * (LANES_BLOCK * nb * (nb - 1) / 2 + (size_t) d);
}

/* the entries of one group: the factor, d means and the log-determinant */
static inline size_t
lanes_group_entries(int d)
{
	return lanes_factor_entries(d) + (size_t) d + 1;
}

size_t
gmm_score_lanes_ndoubles(GmmCovType t, int k, int d)
{
	int			lw = lanes_width(t, k);

	return lw == 0 ? 0 :
		(size_t) ((k + lw - 1) / lw) * lanes_group_entries(d) * (size_t) lw;
}

size_t
gmm_score_lanes_work_ndoubles(int d)
{
	/* y on eight lanes from a cache line on, or gmm_row_log_prob's 2 d */
	return (size_t) 8 * d + 8;
}

void
gmm_score_lanes(const GmmParams *p, double *lanes)
{
	int			d = p->d;
	int			k = p->k;
	int			lw = lanes_width(p->cov_type, k);
	bool		full = p->cov_type == GMM_COV_FULL;
	size_t		nf = lanes_factor_entries(d);

	for (int g = 0; lw > 0 && g * lw < k; g++)
	{
		double	   *G = lanes + (size_t) g * lanes_group_entries(d) * lw;

		for (int l = 0; l < lw; l++)
		{
			int			j = g * lw + l;
			/* a last group's padding: the identity at the origin */
			bool		pad = j >= k;
			const double *U = p->prec_chol + (full && !pad ? (size_t) j * d * d : 0);
			size_t		e = 0;

			for (int t0 = 0; t0 < d; t0 += LANES_BLOCK)
			{
				int			rows = block_rows(d, t0);

				for (int s = 0; s < rows; s++)
					for (int c = 0; c < LANES_BLOCK; c++)
					{
						int			t = t0 + c;
						double		u = 0.0;

						if (t < d && s <= t)
							u = pad ? (s == t) : U[(size_t) s * d + t];
						G[(e + (size_t) s * LANES_BLOCK + c) * lw + l] = u;
					}
				e += (size_t) rows * LANES_BLOCK;
			}
			for (int s = 0; s < d; s++)
				G[(nf + s) * lw + l] = pad ? 0.0 : p->means[(size_t) j * d + s];
			G[(nf + d) * lw + l] = pad ? 0.0 : p->log_det[j];
		}
	}
}

/*
 * The lanes' kernel for vectors VT of LW doubles: per group, y = x - mu on
 * the lanes (into work), then each block of columns z = y U over its rows,
 * the block's columns in as many chains (one multiply-add each per row: with
 * eight, two multiply-adds a cycle do not wait on each other's results),
 * the zeros below the diagonal of the block's last eight rows skipped (at
 * 16 features 136 multiply-adds a row and group instead of 192), and the
 * squares of z summed in two.  Only the first k - g LW lanes are
 * written.
 */
#define LANES_KERNEL(NAME, ATTR, VT, LW, LOAD, SPLAT) \
ATTR static double \
NAME(const GmmParams *p, const double *lanes, const double *log_weights, \
	 const double *x, double *logprob, double *work) \
{ \
	int			d = p->d; \
	int			k = p->k; \
	VT			cst = SPLAT(d * LOG_2PI); \
	double	   *Y = (double *) (((uintptr_t) work + 63) & ~(uintptr_t) 63); \
	size_t		nf = lanes_factor_entries(d); \
	size_t		ng = lanes_group_entries(d); \
\
	for (int j0 = 0; j0 < k; j0 += LW) \
	{ \
		const double *G = lanes + (size_t) (j0 / LW) * ng * LW; \
		const double *M = G + nf * LW; \
		const double *B = G; \
		VT			q0 = SPLAT(0.0), \
					q1 = SPLAT(0.0), \
					lp; \
\
		for (int s = 0; s < d; s++) \
		{ \
			VT			ys = SPLAT(x[s]) - LOAD(M + (size_t) s * LW); \
\
			memcpy(Y + (size_t) s * LW, &ys, sizeof(ys)); \
		} \
		for (int t0 = 0; t0 < d; t0 += LANES_BLOCK) \
		{ \
			int			rows = block_rows(d, t0); \
			VT			z0 = SPLAT(0.0), z1 = z0, z2 = z0, z3 = z0, \
						z4 = z0, z5 = z0, z6 = z0, z7 = z0; \
\
			for (int s = 0; s < t0; s++) \
			{ \
				VT			ys = LOAD(Y + (size_t) s * LW); \
				const double *b = B + (size_t) s * LANES_BLOCK * LW; \
\
				z0 += ys * LOAD(b); \
				z1 += ys * LOAD(b + LW); \
				z2 += ys * LOAD(b + 2 * LW); \
				z3 += ys * LOAD(b + 3 * LW); \
				z4 += ys * LOAD(b + 4 * LW); \
				z5 += ys * LOAD(b + 5 * LW); \
				z6 += ys * LOAD(b + 6 * LW); \
				z7 += ys * LOAD(b + 7 * LW); \
			} \
			/* the block's diagonal rows, t0 + sp from column sp on */ \
			GMM_UNROLL \
			for (int sp = 0; sp < LANES_BLOCK; sp++) \
			{ \
				VT			ys; \
				const double *b = B + (size_t) (t0 + sp) * LANES_BLOCK * LW; \
\
				if (t0 + sp >= rows) \
					break; \
				ys = LOAD(Y + (size_t) (t0 + sp) * LW); \
				if (sp <= 0) z0 += ys * LOAD(b); \
				if (sp <= 1) z1 += ys * LOAD(b + LW); \
				if (sp <= 2) z2 += ys * LOAD(b + 2 * LW); \
				if (sp <= 3) z3 += ys * LOAD(b + 3 * LW); \
				if (sp <= 4) z4 += ys * LOAD(b + 4 * LW); \
				if (sp <= 5) z5 += ys * LOAD(b + 5 * LW); \
				if (sp <= 6) z6 += ys * LOAD(b + 6 * LW); \
				z7 += ys * LOAD(b + 7 * LW); \
			} \
			q0 += z0 * z0; \
			q1 += z1 * z1; \
			q0 += z2 * z2; \
			q1 += z3 * z3; \
			q0 += z4 * z4; \
			q1 += z5 * z5; \
			q0 += z6 * z6; \
			q1 += z7 * z7; \
			B += (size_t) rows * LANES_BLOCK * LW; \
		} \
		q0 += q1; \
		lp = LOAD(M + (size_t) d * LW) - SPLAT(0.5) * (cst + q0); \
		/* NaN in q only from inf - inf (overflow): infinitely far */ \
		for (int l = 0; l < LW && j0 + l < k; l++) \
			logprob[j0 + l] = log_weights[j0 + l] + (isnan(q0[l]) ? -INFINITY : lp[l]); \
	} \
	return log_sum_exp(logprob, k); \
}

LANES_KERNEL(row_log_prob_lanes4, GMM_KERNEL_V3, v4d, 4, v4load, v4splat)
#ifdef GMM_KERNEL_AVX512
LANES_KERNEL(row_log_prob_lanes8, GMM_KERNEL_AVX512, v8d, 8, vload, vsplat)
#endif

double
gmm_row_log_prob_lanes(const GmmParams *p, const double *lanes,
					   const double *log_weights, const double *x,
					   double *logprob, double *work)
{
	switch (lanes ? lanes_width(p->cov_type, p->k) : 0)
	{
#ifdef GMM_KERNEL_AVX512
		case 8:
			return row_log_prob_lanes8(p, lanes, log_weights, x, logprob, work);
#endif
		case 4:
			return row_log_prob_lanes4(p, lanes, log_weights, x, logprob, work);
		default:
			return gmm_row_log_prob(p, log_weights, x, logprob, work);
	}
}
