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
 * square factors then (lanes_width).  Up to 16 features the kernel is
 * unrolled, and the log-sum-exp of up to two groups is made on the lanes
 * (LANES_KERNEL).
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

/* gmm_row_log_prob with the lanes kernels' arguments (no lanes) */
static double
gmm_row_log_prob_any(const GmmParams *p, const double *lanes,
					 const double *log_weights, const double *x,
					 double *logprob, double *work)
{
	(void) lanes;
	return gmm_row_log_prob(p, log_weights, x, logprob, work);
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
 * columns (the rows past d zero too, and the zeros below the diagonal
 * kept), a row's eight numbers side by side, and the means padded with
 * zeros to a multiple of eight features.  A block's columns are then summed
 * in eight independent chains.
 */
#define LANES_BLOCK 8

/* blocks of columns of a factor over d features */
static inline int
lanes_blocks(int d)
{
	return (d + LANES_BLOCK - 1) / LANES_BLOCK;
}

/* the entries of one factor (each entry one per lane): block b holds 8 (b + 1) rows */
static inline size_t
lanes_factor_entries(int nb)
{
	return (size_t) LANES_BLOCK * LANES_BLOCK * nb * (nb + 1) / 2;
}

/* the entries of one group: the factor, 8 nb means and the log-determinant */
static inline size_t
lanes_group_entries(int nb)
{
	return lanes_factor_entries(nb) + (size_t) LANES_BLOCK * nb + 1;
}

size_t
gmm_score_lanes_ndoubles(GmmCovType t, int k, int d)
{
	int			lw = lanes_width(t, k);

	return lw == 0 ? 0 :
		(size_t) ((k + lw - 1) / lw) * lanes_group_entries(lanes_blocks(d)) * (size_t) lw;
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
	int			nb = lanes_blocks(d);
	int			lw = lanes_width(p->cov_type, k);
	bool		full = p->cov_type == GMM_COV_FULL;
	size_t		nf = lanes_factor_entries(nb);

	for (int g = 0; lw > 0 && g * lw < k; g++)
	{
		double	   *G = lanes + (size_t) g * lanes_group_entries(nb) * lw;

		for (int l = 0; l < lw; l++)
		{
			int			j = g * lw + l;
			/* a last group's padding: the identity at the origin */
			bool		pad = j >= k;
			const double *U = p->prec_chol + (full && !pad ? (size_t) j * d * d : 0);
			size_t		e = 0;

			for (int t0 = 0; t0 < d; t0 += LANES_BLOCK)
			{
				for (int s = 0; s < t0 + LANES_BLOCK; s++)
					for (int c = 0; c < LANES_BLOCK; c++)
					{
						int			t = t0 + c;
						double		u = 0.0;

						if (t < d && s <= t)
							u = pad ? (s == t) : U[(size_t) s * d + t];
						G[(e + (size_t) s * LANES_BLOCK + c) * lw + l] = u;
					}
				e += (size_t) (t0 + LANES_BLOCK) * LANES_BLOCK;
			}
			for (int s = 0; s < LANES_BLOCK * nb; s++)
				G[(nf + s) * lw + l] = pad || s >= d ? 0.0 : p->means[(size_t) j * d + s];
			G[(nf + LANES_BLOCK * nb) * lw + l] = pad ? 0.0 : p->log_det[j];
		}
	}
}

/* gmm_score_lanes_set_unrolled's choice */
static bool lanes_unrolled = true;

void
gmm_score_lanes_set_unrolled(bool on)
{
	lanes_unrolled = on;
}

/*
 * The maximum and the sum of a vector's lanes in every lane, by halves
 * (log2 of the width shuffles and operations instead of a chain through
 * each lane), and the lane-wise maximum of two vectors.  No lane is NaN
 * where they are used.
 */
#define LANES_MAX(VL, VT, a, b) \
	__extension__ ({ VL gt_ = (b) > (a); (VT) (((VL) (b) & gt_) | ((VL) (a) & ~gt_)); })

GMM_ALWAYS_INLINE v4d
hmax4(v4d a)
{
	a = LANES_MAX(v4l, v4d, a, __builtin_shufflevector(a, a, 2, 3, 0, 1));
	return LANES_MAX(v4l, v4d, a, __builtin_shufflevector(a, a, 1, 0, 3, 2));
}

GMM_ALWAYS_INLINE v4d
hsum4(v4d a)
{
	a += __builtin_shufflevector(a, a, 2, 3, 0, 1);
	return a + __builtin_shufflevector(a, a, 1, 0, 3, 2);
}

GMM_ALWAYS_INLINE v8d
hmax8(v8d a)
{
	a = LANES_MAX(v8l, v8d, a, __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3));
	a = LANES_MAX(v8l, v8d, a, __builtin_shufflevector(a, a, 2, 3, 0, 1, 6, 7, 4, 5));
	return LANES_MAX(v8l, v8d, a, __builtin_shufflevector(a, a, 1, 0, 3, 2, 5, 4, 7, 6));
}

GMM_ALWAYS_INLINE v8d
hsum8(v8d a)
{
	a += __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3);
	a += __builtin_shufflevector(a, a, 2, 3, 0, 1, 6, 7, 4, 5);
	return a + __builtin_shufflevector(a, a, 1, 0, 3, 2, 5, 4, 7, 6);
}

/*
 * The lanes' kernel for vectors VT of LW doubles (VL their comparisons'
 * masks, EXP their exp, HMAX and HSUM their lanes' maximum and sum), NAME
 * the function.  Per group: y = x - mu on the lanes, then each block of
 * columns z = y U over its rows, the block's columns in as many chains (one
 * multiply-add each per row: with eight, two multiply-adds a cycle do not
 * wait on each other's results), the zeros below the diagonal of the
 * block's last eight rows skipped (at 16 features 136 multiply-adds a row
 * and group instead of 192), and the squares of z summed in two; the
 * group's log-densities on the lanes.  Only the first k - g LW lanes of
 * logprob are written.  With up to two groups (k <= 2 LW, most models) the
 * log-sum-exp is made on the lanes too (see the comment there), else by
 * log_sum_exp from logprob.
 *
 * A scoring query runs the kernel once per row between the executor's own
 * work, so a row's time is the length of its chain of dependent operations
 * more than their number: the multiply-adds, the squares' sums, and then
 * the log-sum-exp (a maximum over the lanes, the exps, their sum, a log).
 * Hence the lanes' maximum and sum by halves, Estrin's polynomial in the
 * exps (vec8.h), and the maximum taken from the model's bounds, before the
 * row's densities are known.
 *
 * NAME_nb is the body for nbc blocks of eight features, a constant: 1 and
 * 2 (up to 16 features) are built unrolled, with y in registers and every
 * row of the padded blocks computed (the zeros past d add nothing, so the
 * sums are the generic loop's to the bit); 0 is the generic loop, y in
 * work and the rows past d skipped.
 *
 * Measured (`em_bench score N D K full`, AMD EPYC Zen 4, AVX-512): this
 * kernel against the one before it (the generic loop, the log-sum-exp by
 * log_sum_exp), four interleaved rounds, 81-91 against 112-113 ns a row at
 * 16 features and 8 components (0.38-0.44x against 0.52-0.55x the
 * one-component-at-a-time path in the same process), 35.5-37.8 against
 * 61.5-81 ns at 8 and 4; of that, the unrolled build over the generic loop
 * (both with the log-sum-exp on the lanes) 0.85-0.86x at 16 and 8,
 * 0.82-0.91x at 8 and 4, three rounds.  In the backend
 * (`SELECT sum(gmm_score_samples(m, x))` over 1e6 rows of 16 features,
 * less the bare scan, best of 7, three rounds):
 * taking the maximum from the bounds 79-89 ns a row against 94-97 ns from
 * the densities.  At 64 features the lanes (148 kB) are read from the
 * second-level cache: a bare read of them takes as long as the kernel
 * (1.31-1.44 against 1.33-1.45 us a row, three runs), the bound
 * `em_bench score` prints.
 */
/* NAME_nb for nbc blocks as a function of its own, NAME_SUFFIX */
#define LANES_BUILD(NAME, ATTR, SUFFIX, NBC) \
ATTR static double \
NAME##_##SUFFIX(const GmmParams *p, const double *lanes, const double *log_weights, \
				const double *x, double *logprob, double *work) \
{ \
	return NAME##_nb(p, lanes, log_weights, x, logprob, work, NBC); \
}

#define LANES_KERNEL(NAME, ATTR, VT, VL, LW, LOAD, STORE, SPLAT, EXP, HMAX, HSUM) \
GMM_ALWAYS_INLINE void \
NAME##_block(const VT *y, const double *B, int t0, int rows, VT *q0, VT *q1) \
{ \
	VT			z0 = SPLAT(0.0), z1 = z0, z2 = z0, z3 = z0, \
				z4 = z0, z5 = z0, z6 = z0, z7 = z0; \
\
	GMM_UNROLL \
	for (int s = 0; s < t0; s++) \
	{ \
		const double *b = B + (size_t) s * LANES_BLOCK * LW; \
\
		z0 += y[s] * LOAD(b); \
		z1 += y[s] * LOAD(b + LW); \
		z2 += y[s] * LOAD(b + 2 * LW); \
		z3 += y[s] * LOAD(b + 3 * LW); \
		z4 += y[s] * LOAD(b + 4 * LW); \
		z5 += y[s] * LOAD(b + 5 * LW); \
		z6 += y[s] * LOAD(b + 6 * LW); \
		z7 += y[s] * LOAD(b + 7 * LW); \
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
		ys = y[t0 + sp]; \
		if (sp <= 0) z0 += ys * LOAD(b); \
		if (sp <= 1) z1 += ys * LOAD(b + LW); \
		if (sp <= 2) z2 += ys * LOAD(b + 2 * LW); \
		if (sp <= 3) z3 += ys * LOAD(b + 3 * LW); \
		if (sp <= 4) z4 += ys * LOAD(b + 4 * LW); \
		if (sp <= 5) z5 += ys * LOAD(b + 5 * LW); \
		if (sp <= 6) z6 += ys * LOAD(b + 6 * LW); \
		z7 += ys * LOAD(b + 7 * LW); \
	} \
	*q0 += z0 * z0; \
	*q1 += z1 * z1; \
	*q0 += z2 * z2; \
	*q1 += z3 * z3; \
	*q0 += z4 * z4; \
	*q1 += z5 * z5; \
	*q0 += z6 * z6; \
	*q1 += z7 * z7; \
} \
\
/* the sum of exp(u0) and, with two groups, exp(u1) over the lanes, in every lane */ \
GMM_ALWAYS_INLINE VT \
NAME##_sumexp(VT u0, VT u1, bool two) \
{ \
	VT			e = EXP(u0); \
\
	if (two) \
		e += EXP(u1); \
	return HSUM(e); \
} \
\
GMM_ALWAYS_INLINE double \
NAME##_nb(const GmmParams *p, const double *lanes, const double *log_weights, \
		  const double *x, double *logprob, double *work, const int nbc) \
{ \
	int			d = p->d; \
	int			k = p->k; \
	int			nb = nbc ? nbc : lanes_blocks(d); \
	int			dp = LANES_BLOCK * nb; \
	VT			cst = SPLAT(d * LOG_2PI); \
	VT		   *Y = (VT *) (((uintptr_t) work + 63) & ~(uintptr_t) 63); \
	size_t		nf = lanes_factor_entries(nb); \
	size_t		ng = lanes_group_entries(nb); \
	VT			a0 = SPLAT(-INFINITY), \
				a1 = a0, \
				b0 = a0, \
				b1 = a0, \
				h0 = SPLAT(0.0), \
				h1 = h0; \
\
	for (int j0 = 0; j0 < k; j0 += LW) \
	{ \
		const double *G = lanes + (size_t) (j0 / LW) * ng * LW; \
		const double *M = G + nf * LW; \
		VT			q0 = SPLAT(0.0), \
					q1 = SPLAT(0.0), \
					lp, \
					b; \
		VL			nan; \
\
		if (nbc) \
		{ \
			VT			y[2 * LANES_BLOCK]; \
\
			_Pragma("GCC unroll 16") \
			for (int s = 0; s < dp; s++) \
				y[s] = s < d ? SPLAT(x[s]) - LOAD(M + (size_t) s * LW) : SPLAT(0.0); \
			GMM_UNROLL \
			for (int b = 0; b < nb; b++) \
				NAME##_block(y, G + lanes_factor_entries(b) * LW, LANES_BLOCK * b, \
							 LANES_BLOCK * (b + 1), &q0, &q1); \
		} \
		else \
		{ \
			for (int s = 0; s < d; s++) \
				Y[s] = SPLAT(x[s]) - LOAD(M + (size_t) s * LW); \
			for (int b = 0; b < nb; b++) \
				NAME##_block(Y, G + lanes_factor_entries(b) * LW, LANES_BLOCK * b, \
							 d < LANES_BLOCK * (b + 1) ? d : LANES_BLOCK * (b + 1), &q0, &q1); \
		} \
		q0 += q1; \
		/* b: log w + log det, from the model alone (the padding's -inf) */ \
		if (j0 + LW <= k) \
			b = LOAD(log_weights + j0) + LOAD(M + (size_t) dp * LW); \
		else \
		{ \
			b = SPLAT(-INFINITY); \
			for (int l = 0; l < k - j0; l++) \
				b[l] = log_weights[j0 + l] + M[(size_t) dp * LW + l]; \
		} \
		/* NaN in q only from inf - inf (overflow): infinitely far */ \
		nan = q0 != q0; \
		lp = b - SPLAT(0.5) * (cst + (VT) (((VL) q0 & ~nan) | ((VL) SPLAT(INFINITY) & nan))); \
		if (j0 + LW <= k) \
			STORE(logprob + j0, lp); \
		else \
			for (int l = 0; l < k - j0; l++) \
				logprob[j0 + l] = lp[l]; \
		if (j0 == 0) \
		{ \
			a0 = lp; \
			b0 = b; \
			h0 = q0; \
		} \
		else if (j0 == LW) \
		{ \
			a1 = lp; \
			b1 = b; \
			h1 = q0; \
		} \
	} \
	if (k <= 2 * LW) \
	{ \
		/* \
		 * Each component's log-density is at most its b - cst / 2 (q >= 0), \
		 * so the exps are taken from the largest of those, known before the \
		 * row's q: the sum of exp(b - bmax - q / 2) waits on q by one \
		 * multiply-add, not the maximum over the row's densities.  Unless \
		 * the sum is so small (a row far from every component) that terms \
		 * may have underflowed which would count against the largest: then \
		 * from the row's largest density, as log_sum_exp. \
		 */ \
		VT			bm = HMAX(k <= LW ? b0 : LANES_MAX(VL, VT, b0, b1)), \
					e, \
					m; \
\
		e = NAME##_sumexp((b0 - bm) - SPLAT(0.5) * h0, \
						  (b1 - bm) - SPLAT(0.5) * h1, k > LW); \
		if (e[0] >= 1e-280) \
			return (bm[0] - 0.5 * cst[0]) + log(e[0]); \
		m = HMAX(k <= LW ? a0 : LANES_MAX(VL, VT, a0, a1)); \
		if (!isfinite(m[0])) \
			return m[0]; \
		e = NAME##_sumexp(a0 - m, a1 - m, k > LW); \
		return m[0] + log(e[0]); \
	} \
	return log_sum_exp(logprob, k); \
} \
\
LANES_BUILD(NAME, ATTR, 1, 1) \
LANES_BUILD(NAME, ATTR, 2, 2) \
LANES_BUILD(NAME, ATTR, any, 0) \
\
/* the build for d features */ \
static GmmRowLogProbFn \
NAME##_for(int d) \
{ \
	switch (lanes_unrolled ? lanes_blocks(d) : 0) \
	{ \
		case 1: \
			return NAME##_1; \
		case 2: \
			return NAME##_2; \
		default: \
			return NAME##_any; \
	} \
}

LANES_KERNEL(row_log_prob_lanes4, GMM_KERNEL_V3, v4d, v4l, 4, v4load, v4store, v4splat,
			 v4_exp_nonpos_estrin, hmax4, hsum4)
#ifdef GMM_KERNEL_AVX512
LANES_KERNEL(row_log_prob_lanes8, GMM_KERNEL_AVX512, v8d, v8l, 8, vload, vstore, vsplat,
			 v8_exp_nonpos_estrin, hmax8, hsum8)
#endif

GmmRowLogProbFn
gmm_row_log_prob_lanes_fn(const GmmParams *p, const double *lanes)
{
	switch (lanes ? lanes_width(p->cov_type, p->k) : 0)
	{
#ifdef GMM_KERNEL_AVX512
		case 8:
			return row_log_prob_lanes8_for(p->d);
#endif
		case 4:
			return row_log_prob_lanes4_for(p->d);
		default:
			return gmm_row_log_prob_any;
	}
}

double
gmm_row_log_prob_lanes(const GmmParams *p, const double *lanes,
					   const double *log_weights, const double *x,
					   double *logprob, double *work)
{
	return gmm_row_log_prob_lanes_fn(p, lanes) (p, lanes, log_weights, x, logprob, work);
}
