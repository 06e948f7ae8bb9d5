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
 * choosing one per CPU (GMM_KERNEL_AVX2).
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
 * Panels (gmm_row_log_prob_panels).  What one column block reads of U,
 * rows 0..t+3 of columns t..t+3, is laid out contiguously, four doubles a
 * row, once per query (gmm_score_panels): the factor's zeros below the
 * diagonal are no longer read, so a component's bytes go from d^2 to
 * about d^2/2 + 2d doubles, every load is aligned, and the rows stream in
 * order.  The arithmetic is the same, in the same order: the result is the
 * same to the bit.  They pay once the factors outgrow the first-level
 * cache (gmm_score_panels_pay): `em_bench score`, full, on an AVX-512 Xeon,
 * a row's time with panels over without: 0.40x at 128 features and 4
 * components, 0.58x at 64 and 8, 0.65x at 32 and 8, 0.87x at 32 and 2,
 * 0.92x at 16 and 16; but 1.00-1.07x at 16 and 8, 1.03x at 24 and 4 and
 * 1.04-1.08x at 8 and 4, where the factors fit that cache as they are.
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

/* doubles of one factor's panels: 16 (b + 1) for column block b */
static inline size_t
panels_per_factor(int d)
{
	size_t		nb = (size_t) d / 4;

	return 8 * nb * (nb + 1);
}

/*
 * ||y1 U1||^2 and ||y2 U2||^2 together (U upper, row-major d x d; with
 * panels P1 and P2, the column blocks are read from them instead)
 */
GMM_ALWAYS_INLINE void
quad_full_pair(const double *U1, const double *U2, const double *P1,
			   const double *P2, const double *y1, const double *y2, int d,
			   double *q1, double *q2)
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
		/* the block's rows: in the factor, d apart; in its panel, 4 */
		const double *u1 = P1 ? P1 : U1 + t;
		const double *u2 = P2 ? P2 : U2 + t;
		size_t		rs = P1 ? 4 : (size_t) d;

		/* rows 0..t+3, a multiple of four */
		for (int s = 0; s < t + 4; s += 4)
		{
			const double *r1 = u1 + (size_t) s * rs;
			const double *r2 = u2 + (size_t) s * rs;

			a0 += v4splat(y1[s]) * v4load(r1);
			b0 += v4splat(y2[s]) * v4load(r2);
			a1 += v4splat(y1[s + 1]) * v4load(r1 + rs);
			b1 += v4splat(y2[s + 1]) * v4load(r2 + rs);
			a2 += v4splat(y1[s + 2]) * v4load(r1 + 2 * rs);
			b2 += v4splat(y2[s + 2]) * v4load(r2 + 2 * rs);
			a3 += v4splat(y1[s + 3]) * v4load(r1 + 3 * rs);
			b3 += v4splat(y2[s + 3]) * v4load(r2 + 3 * rs);
		}
		if (P1)
		{
			P1 += 4 * (size_t) (t + 4);
			P2 += 4 * (size_t) (t + 4);
		}
		a0 = (a0 + a1) + (a2 + a3);
		b0 = (b0 + b1) + (b2 + b3);
		s1 += a0 * a0;
		s2 += b0 * b0;
	}
	*q1 = v4sum(s1) + quad_tail(U1, y1, d);
	*q2 = v4sum(s2) + quad_tail(U2, y2, d);
}

/*
 * squared Mahalanobis distances of x to every component, into q[k]; panels:
 * gmm_score_panels's of p, or NULL
 */
GMM_ALWAYS_INLINE void
quad_all(const GmmParams *p, const double *panels, const double *x, double *q,
		 double *work)
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
				size_t		pp = full ? panels_per_factor(d) : 0;
				double	   *y1 = work;
				double	   *y2 = work + d;
				int			j = 0;

				for (; j + 1 < k; j += 2)
				{
					centre(x, p->means + (size_t) j * d, d, y1);
					centre(x, p->means + (size_t) (j + 1) * d, d, y2);
					quad_full_pair(p->prec_chol + j * dd, p->prec_chol + (j + 1) * dd,
								   panels ? panels + j * pp : NULL,
								   panels ? panels + (j + 1) * pp : NULL,
								   y1, y2, d, &q[j], &q[j + 1]);
				}
				if (j < k)
				{
					double		unused;

					centre(x, p->means + (size_t) j * d, d, y1);
					quad_full_pair(p->prec_chol + j * dd, p->prec_chol + j * dd,
								   panels ? panels + j * pp : NULL,
								   panels ? panels + j * pp : NULL,
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

/* gmm_row_log_prob, with p's panels or NULL */
GMM_ALWAYS_INLINE double
row_log_prob(const GmmParams *p, const double *panels,
			 const double *log_weights, const double *x, double *logprob,
			 double *work)
{
	double		cst = p->d * LOG_2PI;

	quad_all(p, panels, x, logprob, work);
	for (int j = 0; j < p->k; j++)
	{
		double		q = isnan(logprob[j]) ? INFINITY : logprob[j];

		logprob[j] = log_weights[j] + p->log_det[j] - 0.5 * (cst + q);
	}
	return log_sum_exp(logprob, p->k);
}

/*
 * logprob[j] = log w_j + log N(x | mu_j, Sigma_j); returns their
 * log-sum-exp.  work: 2 d doubles.
 */
GMM_KERNEL_AVX2 double
gmm_row_log_prob(const GmmParams *p, const double *log_weights,
				 const double *x, double *logprob, double *work)
{
	return row_log_prob(p, NULL, log_weights, x, logprob, work);
}

GMM_KERNEL_AVX2 double
gmm_row_log_prob_panels(const GmmParams *p, const double *panels,
						const double *log_weights, const double *x,
						double *logprob, double *work)
{
	return row_log_prob(p, panels, log_weights, x, logprob, work);
}

bool
gmm_score_panels_pay(GmmCovType t, int k, int d)
{
	size_t		nf = n_factors(t, k);

	return nf > 0 && (d >= 32 || nf * d * d > 3072);
}

size_t
gmm_score_panels_ndoubles(GmmCovType t, int k, int d)
{
	return n_factors(t, k) * panels_per_factor(d);
}

void
gmm_score_panels(const GmmParams *p, double *panels)
{
	int			d = p->d;
	size_t		nf = n_factors(p->cov_type, p->k);

	for (size_t j = 0; j < nf; j++)
	{
		const double *U = p->prec_chol + (size_t) j * d * d;

		for (int t = 0; t + 4 <= d; t += 4)
			for (int s = 0; s < t + 4; s++)
				for (int c = 0; c < 4; c++)
					*panels++ = U[(size_t) s * d + t + c];
	}
}
