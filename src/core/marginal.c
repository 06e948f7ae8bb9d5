/*
 * marginal.c
 *	  Missing values: the mixture's marginal over the observed features of a
 *	  row (its log-density, without a factorisation per row), marginal and
 *	  conditional mixtures, and imputation by conditional means.  Part of the
 *	  numerical core: no PostgreSQL headers.
 *
 * A missing feature is NaN in a packed row of doubles (a user's NaN is an
 * input error, rejected before the core sees the row).
 *
 * The marginal of component j over the observed features o is N(mu_o,
 * S_oo).  Rather than factor S_oo for every row (o^3/3 per component), the
 * full and tied paths use the model's precision P = U U^T (U = prec_chol,
 * upper) and its Schur complement over the missing features m:
 *		S_oo^-1 = P_oo - P_om P_mm^-1 P_mo,
 *		log det S_oo = log det S + log det P_mm,
 * and the quadratic form is the full one at the conditional mean of the
 * missing part, y_m = -P_mm^-1 P_mo y_o (y = x - mu), where it is smallest:
 *		y_o^T S_oo^-1 y_o = min over y_m of ||U^T y||^2.
 * With z = U^T y for y_m = 0 (as a complete row's d(d+1)/2 multiply-adds),
 * P_mo y_o = U_m z, P_mm gathered from the precisions when the caller has
 * them (gmm_precisions) or U_m U_m^T (m(m+1)/2 dot products of rows of U),
 * one m x m LDL^T factor, and z + U_m^T y_m, the quadratic form is a sum
 * of squares (no cancellation in a difference of two forms).  The lanes
 * (schur_lanes.h: full covariances, several components at once, one per
 * vector lane) take ||z||^2 - w^T D^-1 w instead, and the squares only
 * where that difference would lose digits.  The
 * same step gives the conditional means (mu_m + y_m) and covariances
 * (P_mm^-1) that imputation and conditioning need.  Diagonal and
 * spherical components factor over features: the missing terms are left
 * out.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gmm_core.h"
#include "vec8.h"

#define LOG_2PI 1.8378770664093454836

/*
 * Four doubles at a time (one AVX2 register; the per-row scoring kernel's
 * width, score.c), built for AVX-512, AVX2 with FMA and the baseline
 * (GMM_KERNEL_AVX2); the lanes of schur_full_lanes_4 are four
 * components, those of schur_full_lanes_8 (an AVX-512 build) eight.
 */
#define MISSING_KERNEL GMM_KERNEL_AVX2
#define LW 4
#define ALWAYS_INLINE GMM_ALWAYS_INLINE

/* the most missing features the full path factors on the lanes */
#define LANE_MAX_M 16

/*
 * below this fraction of ||z||^2, schur_full_lanes's q = ||z||^2 - w^T D^-1 w
 * has lost more than two of its digits to the difference: it is summed as
 * squares instead
 */
#define SCHUR_DIFF_MIN 0.01

/*
 * The lanes layout that gmm_precisions appends, for full covariances, to
 * the k precisions: per group of w components (schur_width: 8 with
 * AVX-512 for more than four components, else 4; the last group padded
 * with identity components at the origin), U (d x d), P (d x d) and mu
 * (d), each element as w doubles, one per component of the group.
 */
#define LANES_GROUP_W(d, w) ((size_t) (2 * (d) * (d) + (d)) * (w))

/* the most lanes a group has (the workspace is sized for them) */
#define SCHUR_MAX_W 8

static inline int
schur_width(int k)
{
	return k > 4 ? gmm_lanes_cpu_width() : 4;
}

/* a[from..n) . b[from..n), the vector part from from rounded down to 4 */
ALWAYS_INLINE double
vdot(const double *a, const double *b, int from, int n)
{
	int			t = from & ~(LW - 1);
	v4d			acc = v4splat(0.0);
	double		s;

	for (; t + LW <= n; t += LW)
		acc += v4load(a + t) * v4load(b + t);
	s = v4sum(acc);
	for (; t < n; t++)
		s += a[t] * b[t];
	return s;
}

/* z[from..n) += c u[from..n) */
ALWAYS_INLINE void
vaxpy(double *z, double c, const double *u, int from, int n)
{
	int			t = from & ~(LW - 1);

	for (; t + LW <= n; t += LW)
		v4store(z + t, v4load(z + t) + v4splat(c) * v4load(u + t));
	for (; t < n; t++)
		z[t] += c * u[t];
}

int
gmm_row_count_missing(const double *x, int d)
{
	int			m = 0;

	for (int t = 0; t < d; t++)
		m += isnan(x[t]) ? 1 : 0;
	return m;
}

size_t
gmm_missing_work_ndoubles(GmmCovType t, int k, int d, int m)
{
	/* indices (d, as doubles), y, z, b (d each), G (m x m), means (k x m),
	 * responsibilities (k), 1/D and a column (m each) */
	size_t		n = 4 * (size_t) d + (size_t) m * m + (size_t) k * m + k + 2 * (size_t) m + 8;

	/*
	 * full covariances, up to LANE_MAX_M missing: schur_full_lanes's lanes
	 * (y and z, d x w each; G, D, 1/D and b) from a cache line on, for
	 * min(m, LANE_MAX_M), so that the size grows with m: a workspace for m
	 * serves every row with fewer missing features
	 */
	if (t == GMM_COV_FULL)
	{
		size_t		ml = m < LANE_MAX_M ? m : LANE_MAX_M;

		n += (ml * ml + 3 * ml + 2 * (size_t) d) * SCHUR_MAX_W + 8;
	}
	return n;
}

/*
 * In-place LDL^T factor of the n x n row-major symmetric a: the unit lower
 * L below the diagonal, D on it, 1/D in dinv (no square root, and the
 * solves multiply); false if a is not positive definite.
 */
ALWAYS_INLINE bool
ldl_factor(double *a, double *dinv, int n)
{
	for (int i = 0; i < n; i++)
	{
		double	   *ai = a + (size_t) i * n;

		for (int j = 0; j < i; j++)
		{
			const double *aj = a + (size_t) j * n;
			double		s = ai[j];

			for (int l = 0; l < j; l++)
				s -= ai[l] * aj[l] * a[(size_t) l * n + l];
			ai[j] = s * dinv[j];
		}
		{
			double		s = ai[i];

			for (int l = 0; l < i; l++)
				s -= ai[l] * ai[l] * a[(size_t) l * n + l];
			if (!(s > 0.0) || !isfinite(s))
				return false;
			ai[i] = s;
			dinv[i] = 1.0 / s;
		}
	}
	return true;
}

/* b = -(L D L^T)^-1 b in place, from ldl_factor */
ALWAYS_INLINE void
ldl_solve_neg(const double *a, const double *dinv, int n, double *b)
{
	for (int i = 0; i < n; i++)
	{
		double		s = b[i];

		for (int l = 0; l < i; l++)
			s -= a[(size_t) i * n + l] * b[l];
		b[i] = s;
	}
	for (int i = 0; i < n; i++)
		b[i] *= dinv[i];
	for (int i = n - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int l = i + 1; l < n; l++)
			s -= a[(size_t) l * n + i] * b[l];
		b[i] = s;
	}
	for (int i = 0; i < n; i++)
		b[i] = -b[i];
}

/*
 * The workspace of one row: which features are missing, and the vectors of
 * the Schur step.
 */
typedef struct MissingRow
{
	int			d;
	int			m;				/* missing features */
	int		   *mi;				/* their positions, increasing */
	double	   *y;				/* d */
	double	   *z;				/* d */
	double	   *b;				/* d (m used) */
	double	   *G;				/* m x m: P_mm, then its LDL^T factor */
	double	   *dinv;			/* m: 1/D of the factor */
	double	   *cmeans;			/* k x m: conditional mean offsets y_m */
	double	   *lanes;			/* full, m <= LANE_MAX_M: schur_full_lanes */
} MissingRow;

ALWAYS_INLINE void
missing_row_bind(MissingRow *r, const double *x, int k, int d, double *work)
{
	r->d = d;
	r->mi = (int *) work;
	r->m = 0;
	/* no branches on the data (a random missingness is unpredictable) */
	for (int t = 0; t < d; t++)
	{
		r->mi[r->m] = t;
		r->m += isnan(x[t]) ? 1 : 0;
	}
	r->y = work + d;
	r->z = r->y + d;
	r->b = r->z + d;
	r->G = r->b + d;
	r->dinv = r->G + (size_t) r->m * r->m;
	r->cmeans = r->dinv + r->m;
	/* after the responsibilities and the column of impute and condition */
	r->lanes = r->cmeans + (size_t) k * r->m + k + r->m;
}

/*
 * G = P_mm, factored: gathered from the precision P when given (prec, d x
 * d), else U_m U_m^T (rows mi of U, nonzero from column mi on)
 */
ALWAYS_INLINE bool
schur_factor(const double *U, const double *prec, const MissingRow *r, int m)
{
	int			d = r->d;

	for (int a = 0; a < m; a++)
		for (int c = 0; c <= a; c++)
		{
			const double *ua = U + (size_t) r->mi[a] * d;
			const double *uc = U + (size_t) r->mi[c] * d;

			/* mi[a] >= mi[c]: row a is zero before column mi[a] */
			double		s = prec ? prec[(size_t) r->mi[a] * d + r->mi[c]] :
				vdot(ua, uc, r->mi[a], d);

			r->G[(size_t) a * m + c] = s;
			r->G[(size_t) c * m + a] = s;
		}
	return ldl_factor(r->G, r->dinv, m);
}

/* y = x - mu_j with y_m = 0, and z = U^T y (d doubles) */
ALWAYS_INLINE void
schur_z(const GmmParams *p, int j, const double *x, const double *U,
		const MissingRow *r, double *z, int m)
{
	int			d = p->d;
	int			d4 = d & ~(LW - 1);
	const double *mu = p->means + (size_t) j * d;
	double	   *y = r->y;

	for (int t = 0; t < d4; t += LW)
		v4store(y + t, v4load(x + t) - v4load(mu + t));
	for (int t = d4; t < d; t++)
		y[t] = x[t] - mu[t];
	for (int a = 0; a < m; a++)
		y[r->mi[a]] = 0.0;
	/*
	 * z = U^T y, four columns at a time from rows 0 to the chunk's last
	 * column (the stored zeros of U's lower part add nothing), as em.c
	 */
	for (int t0 = 0; t0 < d4; t0 += LW)
	{
		/* four partial sums: the multiply-adds do not wait on each other */
		v4d			z0 = v4splat(0.0),
					z1 = v4splat(0.0),
					z2 = v4splat(0.0),
					z3 = v4splat(0.0);
		const double *u = U + t0;

		for (int s = 0; s < t0 + LW; s += 4)
		{
			z0 += v4splat(y[s]) * v4load(u + (size_t) s * d);
			z1 += v4splat(y[s + 1]) * v4load(u + (size_t) (s + 1) * d);
			z2 += v4splat(y[s + 2]) * v4load(u + (size_t) (s + 2) * d);
			z3 += v4splat(y[s + 3]) * v4load(u + (size_t) (s + 3) * d);
		}
		v4store(z + t0, (z0 + z1) + (z2 + z3));
	}
	for (int t = d4; t < d; t++)
	{
		double		zt = 0.0;

		for (int s = 0; s <= t; s++)
			zt += y[s] * U[(size_t) s * d + t];
		z[t] = zt;
	}
}

/* z += U_m^T y_m (y_m in dm), and the sum of squares of z; NaN: infinity */
ALWAYS_INLINE double
schur_finish(const double *U, const MissingRow *r, double *z,
			 const double *dm, int m)
{
	int			d = r->d;
	int			d4 = d & ~(LW - 1);
	v4d			qv = v4splat(0.0);
	double		q;

	for (int a = 0; a < m; a++)
		vaxpy(z, dm[a], U + (size_t) r->mi[a] * d, r->mi[a], d);
	for (int t = 0; t < d4; t += LW)
	{
		v4d			zt = v4load(z + t);

		qv += zt * zt;
	}
	q = v4sum(qv);
	for (int t = d4; t < d; t++)
		q += z[t] * z[t];
	return isnan(q) ? INFINITY : q;
}

/*
 * Full or tied component j of the row x: the quadratic form of the observed
 * part, with the conditional mean offsets y_m in dm (m doubles).  G holds
 * the factor of schur_factor for U.
 */
ALWAYS_INLINE double
schur_quad(const GmmParams *p, int j, const double *x, const double *U,
		   const MissingRow *r, double *dm, int m)
{
	schur_z(p, j, x, U, r, r->z, m);
	/* b = U_m z, then y_m = -G^-1 b, then z += U_m^T y_m */
	for (int a = 0; a < m; a++)
		dm[a] = vdot(U + (size_t) r->mi[a] * p->d, r->z, r->mi[a], p->d);
	ldl_solve_neg(r->G, r->dinv, m, dm);
	return schur_finish(U, r, r->z, dm, m);
}

/*
 * The log-determinant of P_mm over two (the log of the diagonal of its
 * Cholesky factor, summed), from the D of its LDL^T factor: one log of the
 * product, taken early only when the product leaves [1e-200, 1e200]
 */
ALWAYS_INLINE double
schur_log_diag(const MissingRow *r, int m)
{
	double		s = 0.0;
	double		prod = 1.0;

	for (int a = 0; a < m; a++)
	{
		prod *= r->G[(size_t) a * m + a];
		if (prod > 1e200 || prod < 1e-200)
		{
			s += log(prod);
			prod = 1.0;
		}
	}
	return 0.5 * (s + log(prod));
}


/*
 * p rounded up to a cache line (64 bytes): the lanes' four-double loads
 * then never straddle two lines (a tenth of the Schur route's time when
 * the buffers were 16 bytes off, missing_kernel); the sizes count 8
 * doubles of slack for it
 */
static inline double *
align_line(const double *p)
{
	return (double *) (((uintptr_t) p + 63) & ~(uintptr_t) 63);
}


/*
 * return f(p, prec, log_weights, x, r, logprob, m), with m a constant for
 * the usual few missing features (f inlined: its loops over m unroll)
 */
#define RETURN_WITH_CONSTANT_M(f, m) \
	do { \
		switch (m) \
		{ \
			case 1: \
				return f(p, prec, log_weights, x, r, logprob, 1); \
			case 2: \
				return f(p, prec, log_weights, x, r, logprob, 2); \
			case 3: \
				return f(p, prec, log_weights, x, r, logprob, 3); \
			case 4: \
				return f(p, prec, log_weights, x, r, logprob, 4); \
			default: \
				return f(p, prec, log_weights, x, r, logprob, (m)); \
		} \
	} while (0)

/*
 * The route on four lanes, inlined in gmm_row_log_prob_missing's builds
 * (AVX-512, AVX2 with FMA, baseline) ...
 */
#define SL_W 4
#define SL_V v4d
#define SL_L v4l
#define SL_LOAD v4load
#define SL_SPLAT v4splat
#define SL_STORE v4store
#define SL_LOG v4_log_pos
#define SL_NAME(f) f##_4
#include "schur_lanes.h"

/*
 * ... and on eight, in a build for AVX-512 only (schur_width says where),
 * with the usual few missing features as constants (the loops over m
 * unroll)
 */
#ifdef GMM_KERNEL_AVX512
#define SL_W 8
#define SL_V v8d
#define SL_L v8l
#define SL_LOAD vload
#define SL_SPLAT vsplat
#define SL_STORE vstore
#define SL_LOG v8_log_pos
#define SL_NAME(f) f##_8
#include "schur_lanes.h"

GMM_KERNEL_AVX512 static bool
schur_lanes8(const GmmParams *p, const double *prec, const double *log_weights,
			 const double *x, MissingRow *r, double *logprob, int m)
{
	RETURN_WITH_CONSTANT_M(schur_full_lanes_8, m);
}
#else
static inline bool
schur_lanes8(const GmmParams *p, const double *prec, const double *log_weights,
			 const double *x, MissingRow *r, double *logprob, int m)
{
	return false;				/* never called: schur_width is 4 here */
}
#endif

ALWAYS_INLINE bool
schur_lanes4(const GmmParams *p, const double *prec, const double *log_weights,
			 const double *x, MissingRow *r, double *logprob, int m)
{
	RETURN_WITH_CONSTANT_M(schur_full_lanes_4, m);
}

/*
 * logprob[j] for every component, and the conditional mean offsets of each
 * component in r->cmeans (full and tied; zero for diag and spherical).
 * Returns false when a P_mm cannot be factored (a precision so badly
 * conditioned that a principal block of it is numerically singular).
 */
/*
 * The full and tied part of missing_log_prob for m missing features; called
 * with a constant m for the usual few (the loops over m unroll) and with
 * r->m otherwise.
 */
ALWAYS_INLINE bool
schur_components(const GmmParams *p, const double *prec,
				 const double *log_weights, const double *x, MissingRow *r,
				 double *logprob, int m)
{
	int			k = p->k;
	int			d = p->d;
	double		cst = (d - m) * LOG_2PI;
	double		ld = 0.0;

	for (int j = 0; j < k; j++)
	{
		const double *U = p->prec_chol +
			(p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);
		double		q;

		if (p->cov_type == GMM_COV_FULL || j == 0)
		{
			if (!schur_factor(U, prec ? prec + (U - p->prec_chol) : NULL, r, m))
				return false;
			ld = schur_log_diag(r, m);
		}
		q = schur_quad(p, j, x, U, r, r->cmeans + (size_t) j * m, m);
		logprob[j] = log_weights[j] + (p->log_det[j] - ld) - 0.5 * (cst + q);
	}
	return true;
}

ALWAYS_INLINE bool
missing_log_prob(const GmmParams *p, const double *prec,
				 const double *log_weights, const double *x, MissingRow *r,
				 double *logprob)
{
	int			k = p->k;
	int			d = p->d;
	int			m = r->m;
	double		cst = (d - m) * LOG_2PI;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			/* the lanes, else (a pivot out of range: unlikely) per component */
			if (p->cov_type == GMM_COV_FULL && prec != NULL && m <= LANE_MAX_M)
			{
				bool		done;

				if (schur_width(k) == 8)
					done = schur_lanes8(p, prec, log_weights, x, r, logprob, m);
				else
					done = schur_lanes4(p, prec, log_weights, x, r, logprob, m);
				if (done)
					return true;
			}
			RETURN_WITH_CONSTANT_M(schur_components, m);
		case GMM_COV_DIAG:
			for (int j = 0; j < k; j++)
			{
				const double *mu = p->means + (size_t) j * d;
				const double *pc = p->prec_chol + (size_t) j * d;
				double		q = 0.0;
				double		ld = p->log_det[j];

				for (int t = 0; t < d; t++)
				{
					double		zt = (x[t] - mu[t]) * pc[t];

					if (isnan(x[t]))
						ld -= log(pc[t]);
					else
						q += zt * zt;
				}
				if (isnan(q))
					q = INFINITY;
				logprob[j] = log_weights[j] + ld - 0.5 * (cst + q);
			}
			memset(r->cmeans, 0, sizeof(double) * k * m);
			return true;
		case GMM_COV_SPHERICAL:
			for (int j = 0; j < k; j++)
			{
				const double *mu = p->means + (size_t) j * d;
				double		sp = p->prec_chol[j];
				double		q = 0.0;

				for (int t = 0; t < d; t++)
				{
					double		zt = (x[t] - mu[t]) * sp;

					if (!isnan(x[t]))
						q += zt * zt;
				}
				if (isnan(q))
					q = INFINITY;
				logprob[j] = log_weights[j] + (d - m) * log(sp) -
					0.5 * (cst + q);
			}
			memset(r->cmeans, 0, sizeof(double) * k * m);
			return true;
	}
	return false;
}

MISSING_KERNEL double
gmm_row_log_prob_missing(const GmmParams *p, const double *prec,
						 const double *log_weights, const double *x,
						 double *logprob, double *work)
{
	MissingRow	r;

	missing_row_bind(&r, x, p->k, p->d, work);
	if (r.m == 0)
		return gmm_row_log_prob(p, log_weights, x, logprob, work);
	if (!missing_log_prob(p, prec, log_weights, x, &r, logprob))
		return NAN;
	return log_sum_exp(logprob, p->k);
}

size_t
gmm_precisions_ndoubles(GmmCovType t, int k, int d)
{
	size_t		n = gmm_cov_size(t, k, d);

	if (t == GMM_COV_FULL)
		n += (size_t) ((k + schur_width(k) - 1) / schur_width(k)) *
			LANES_GROUP_W(d, schur_width(k)) + 8;
	return n;
}

void
gmm_precisions(const GmmParams *p, double *prec)
{
	int			k = p->k;
	int			d = p->d;
	int			w;

	for (int j = 0; j < (p->cov_type == GMM_COV_FULL ? k : 1); j++)
	{
		const double *U = p->prec_chol + (size_t) j * d * d;
		double	   *P = prec + (size_t) j * d * d;

		for (int a = 0; a < d; a++)
			for (int c = 0; c <= a; c++)
			{
				double		v = vdot(U + (size_t) a * d, U + (size_t) c * d, a, d);

				P[(size_t) a * d + c] = v;
				P[(size_t) c * d + a] = v;
			}
	}
	if (p->cov_type != GMM_COV_FULL)
		return;
	/* the lanes layout (LANES_GROUP_W), unused lanes the identity at 0 */
	w = schur_width(k);
	for (int j0 = 0; j0 < k; j0 += w)
	{
		double	   *U4 = align_line(prec + (size_t) k * d * d) + (size_t) (j0 / w) * LANES_GROUP_W(d, w);
		double	   *P4 = U4 + (size_t) d * d * w;
		double	   *M4 = P4 + (size_t) d * d * w;

		for (int l = 0; l < w; l++)
		{
			int			j = j0 + l;

			for (int e = 0; e < d * d; e++)
			{
				double		id = e % (d + 1) == 0 ? 1.0 : 0.0;

				U4[(size_t) e * w + l] = j < k ? p->prec_chol[(size_t) j * d * d + e] : id;
				P4[(size_t) e * w + l] = j < k ? prec[(size_t) j * d * d + e] : id;
			}
			for (int t = 0; t < d; t++)
				M4[(size_t) t * w + l] = j < k ? p->means[(size_t) j * d + t] : 0.0;
		}
	}
}

/*
 * Responsibilities of the observed part of x (resp, k) and the
 * conditional mean offsets (r->cmeans); the prior weights when every
 * density underflows.  GMM_ERR_NOT_PD when a P_mm cannot be factored.
 */
static GmmStatus
observed_resp(const GmmParams *p, const double *x, MissingRow *r,
			  double *resp)
{
	int			k = p->k;
	double		l;

	for (int j = 0; j < k; j++)
		resp[j] = log(p->weights[j]);
	if (!missing_log_prob(p, NULL, resp, x, r, resp))
		return GMM_ERR_NOT_PD;
	l = log_sum_exp(resp, k);
	if (l == -INFINITY)
		memcpy(resp, p->weights, sizeof(double) * k);
	else
		gmm_row_responsibilities(k, resp, l);
	return GMM_OK;
}

GmmStatus
gmm_impute_row(const GmmParams *p, const double *x, double *out,
			   double *work)
{
	int			k = p->k;
	int			d = p->d;
	MissingRow	r;
	double	   *resp;

	memcpy(out, x, sizeof(double) * d);
	missing_row_bind(&r, x, k, d, work);
	if (r.m == 0)
		return GMM_OK;
	resp = r.cmeans + (size_t) k * r.m;
	if (r.m == d)
		memcpy(resp, p->weights, sizeof(double) * k);
	else
	{
		GmmStatus	st = observed_resp(p, x, &r, resp);

		if (st != GMM_OK)
			return st;
	}
	for (int a = 0; a < r.m; a++)
	{
		int			t = r.mi[a];
		double		s = 0.0;

		for (int j = 0; j < k; j++)
			s += resp[j] * (p->means[(size_t) j * d + t] +
							(r.m == d ? 0.0 : r.cmeans[(size_t) j * r.m + a]));
		out[t] = s;
	}
	return GMM_OK;
}

/* out = (L D L^T)^-1 from ldl_factor, symmetric */
static void
ldl_inverse(const double *a, const double *dinv, int n, double *out,
			double *col)
{
	for (int c = 0; c < n; c++)
	{
		for (int i = 0; i < n; i++)
			col[i] = (i == c) ? -1.0 : 0.0;
		ldl_solve_neg(a, dinv, n, col);
		for (int i = 0; i < n; i++)
			out[(size_t) i * n + c] = col[i];
	}
	for (int i = 0; i < n; i++)
		for (int c = 0; c < i; c++)
		{
			double		v = 0.5 * (out[(size_t) i * n + c] + out[(size_t) c * n + i]);

			out[(size_t) i * n + c] = v;
			out[(size_t) c * n + i] = v;
		}
}

GmmStatus
gmm_condition_params(const GmmParams *p, const double *x, GmmParams *out,
					 double *work, int *bad)
{
	int			k = p->k;
	int			d = p->d;
	MissingRow	r;
	double	   *resp;
	double	   *col;
	int			m;
	GmmStatus	st;

	missing_row_bind(&r, x, k, d, work);
	m = r.m;
	resp = r.cmeans + (size_t) k * m;
	col = resp + k;
	*bad = 0;
	st = observed_resp(p, x, &r, resp);
	if (st != GMM_OK)
		return st;
	memcpy(out->weights, resp, sizeof(double) * k);
	for (int j = 0; j < k; j++)
		for (int a = 0; a < m; a++)
			out->means[(size_t) j * m + a] = p->means[(size_t) j * d + r.mi[a]] +
				r.cmeans[(size_t) j * m + a];
	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			/* the conditional covariance is P_mm^-1; refactor each P_mm */
			for (int j = 0; j < (p->cov_type == GMM_COV_FULL ? k : 1); j++)
			{
				const double *U = p->prec_chol + (size_t) j * d * d;

				if (!schur_factor(U, NULL, &r, m))
				{
					*bad = j;
					return GMM_ERR_NOT_PD;
				}
				ldl_inverse(r.G, r.dinv, m, out->covariances + (size_t) j * m * m, col);
			}
			break;
		case GMM_COV_DIAG:
			for (int j = 0; j < k; j++)
				for (int a = 0; a < m; a++)
					out->covariances[(size_t) j * m + a] =
						p->covariances[(size_t) j * d + r.mi[a]];
			break;
		case GMM_COV_SPHERICAL:
			memcpy(out->covariances, p->covariances, sizeof(double) * k);
			break;
	}
	return gmm_compute_precision_cholesky(out, bad);
}

GmmStatus
gmm_marginal_params(const GmmParams *p, int nf, const int *features,
					GmmParams *out, int *bad)
{
	int			k = p->k;
	int			d = p->d;

	memcpy(out->weights, p->weights, sizeof(double) * k);
	for (int j = 0; j < k; j++)
		for (int a = 0; a < nf; a++)
			out->means[(size_t) j * nf + a] = p->means[(size_t) j * d + features[a]];
	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			for (int j = 0; j < (p->cov_type == GMM_COV_FULL ? k : 1); j++)
			{
				const double *c = p->covariances + (size_t) j * d * d;
				double	   *o = out->covariances + (size_t) j * nf * nf;

				for (int a = 0; a < nf; a++)
					for (int b = 0; b < nf; b++)
						o[(size_t) a * nf + b] =
							c[(size_t) features[a] * d + features[b]];
			}
			break;
		case GMM_COV_DIAG:
			for (int j = 0; j < k; j++)
				for (int a = 0; a < nf; a++)
					out->covariances[(size_t) j * nf + a] =
						p->covariances[(size_t) j * d + features[a]];
			break;
		case GMM_COV_SPHERICAL:
			memcpy(out->covariances, p->covariances, sizeof(double) * k);
			break;
	}
	return gmm_compute_precision_cholesky(out, bad);
}
