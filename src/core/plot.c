/*
 * plot.c
 *	  What a chart needs to draw a mixture: a component's covariance over two
 *	  features and the outline of its confidence ellipse.  Part of the
 *	  numerical core: no PostgreSQL headers.
 */
#include <math.h>

#include "gmm_core.h"

/*
 * The 2 x 2 marginal covariance of component j over features f1 and f2
 * (0-based, distinct, < d): {S[f1][f1], S[f1][f2], S[f2][f1], S[f2][f2]},
 * row-major.  A marginal of a Gaussian is the sub-matrix of its covariance,
 * whatever the covariance type stores.
 */
void
gmm_marginal_cov2(const GmmParams *p, int j, int f1, int f2, double *cov)
{
	int			d = p->d;
	const double *c;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			c = p->covariances +
				(p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);
			cov[0] = c[(size_t) f1 * d + f1];
			/* stored symmetric (gmm_model_finish), so either triangle */
			cov[1] = c[(size_t) f1 * d + f2];
			cov[2] = cov[1];
			cov[3] = c[(size_t) f2 * d + f2];
			return;
		case GMM_COV_DIAG:
			cov[0] = p->covariances[(size_t) j * d + f1];
			cov[1] = cov[2] = 0.0;
			cov[3] = p->covariances[(size_t) j * d + f2];
			return;
		case GMM_COV_SPHERICAL:
			cov[0] = cov[3] = p->covariances[j];
			cov[1] = cov[2] = 0.0;
			return;
	}
}

/*
 * The outline of {p : (p - mean)^T cov^-1 (p - mean) = r2} as n_points + 1
 * points xy[2i], xy[2i + 1] (i = 0 .. n_points), counter-clockwise, the last
 * a copy of the first.  Point i is mean + sqrt(r2) L (cos t_i, sin t_i) with
 * t_i = 2 pi i / n_points and cov = L L^T (Cholesky, L lower triangular with
 * a positive diagonal): the quadratic form of every point is r2 up to
 * rounding, and since det L > 0 the points go round in the order of t.
 * Returns GMM_ERR_NOT_PD when cov is not positive definite (then xy is
 * undefined).  n_points >= 1, r2 > 0 finite.
 */
GmmStatus
gmm_ellipse_outline(const double *mean, const double *cov, double r2,
					int n_points, double *xy)
{
	double		a = cov[0],
				b = cov[1],
				c = cov[3];
	double		l11,
				l21,
				l22sq,
				l22,
				r;

	if (!(a > 0.0) || !isfinite(a) || !isfinite(b) || !isfinite(c))
		return GMM_ERR_NOT_PD;
	l11 = sqrt(a);
	l21 = b / l11;
	l22sq = c - l21 * l21;
	if (!(l22sq > 0.0))
		return GMM_ERR_NOT_PD;
	l22 = sqrt(l22sq);
	r = sqrt(r2);

	for (int i = 0; i < n_points; i++)
	{
		double		t = 2.0 * M_PI * (double) i / (double) n_points;
		double		u = r * cos(t),
					v = r * sin(t);

		xy[2 * i] = mean[0] + l11 * u;
		xy[2 * i + 1] = mean[1] + l21 * u + l22 * v;
	}
	/* closed: the last point is the first, bit for bit */
	xy[2 * n_points] = xy[0];
	xy[2 * n_points + 1] = xy[1];
	return GMM_OK;
}
