/*
 * sample.c
 *	  Drawing rows from a fitted mixture (scikit-learn's sample(), with our
 *	  own generator).  Part of the numerical core: no PostgreSQL headers.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

/* Size of the Cholesky factors gmm_sample keeps (full: k, tied: one). */
static size_t
factor_ndoubles(GmmCovType t, int k, int d)
{
	if (t == GMM_COV_FULL)
		return (size_t) k * d * d;
	if (t == GMM_COV_TIED)
		return (size_t) d * d;
	return 0;
}

/* Work area of gmm_sample: the normal draw z (d), the CDF (k), the factors. */
size_t
gmm_sample_work_ndoubles(GmmCovType t, int k, int d)
{
	return (size_t) d + (size_t) k + factor_ndoubles(t, k, d);
}

/*
 * Factor every covariance once, before the row loop.  dpotrf 'U' on a
 * row-major symmetric matrix (read column-major, the same matrix) leaves a
 * column-major upper R with cov = R^T R; read row-major, that is the lower L
 * with cov = L L^T that x = mean + L z needs.  Only the lower part is read.
 */
static GmmStatus
factor_covariances(const GmmParams *p, double *factor)
{
	int			d = p->d;
	int			nf = p->cov_type == GMM_COV_FULL ? p->k : 1;

	memcpy(factor, p->covariances, sizeof(double) * nf * d * d);
	for (int j = 0; j < nf; j++)
	{
		int			info = 0;

		dpotrf_("U", &d, factor + (size_t) j * d * d, &d, &info, 1);
		if (info != 0)
			return GMM_ERR_NOT_PD;
	}
	return GMM_OK;
}

/*
 * Draw n rows: the component by inverting the CDF of the weights with one
 * uniform, then d standard normals z and x = mean + L z.  labels may be NULL.
 */
GmmStatus
gmm_sample(const GmmParams *p, size_t n, uint64_t seed, double *X,
		   int *labels, double *work)
{
	int			k = p->k;
	int			d = p->d;
	double	   *z = work;
	double	   *cdf = z + d;
	double	   *factor = cdf + k;
	double		acc = 0.0;
	GmmRng		rng;
	GmmStatus	st;

	if (p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED)
	{
		st = factor_covariances(p, factor);
		if (st != GMM_OK)
			return st;
	}
	for (int j = 0; j < k; j++)
	{
		acc += p->weights[j];
		cdf[j] = acc;
	}

	gmm_rng_seed(&rng, seed, 0);
	for (size_t i = 0; i < n; i++)
	{
		double		u = gmm_rng_uniform(&rng) * acc;
		double	   *x = X + i * d;
		const double *mu;
		int			j = 0;

		/* rounding can put u at acc: the last component then */
		while (j < k - 1 && !(u < cdf[j]))
			j++;
		if (labels)
			labels[i] = j;
		mu = p->means + (size_t) j * d;
		for (int t = 0; t < d; t++)
			z[t] = gmm_rng_normal(&rng);

		switch (p->cov_type)
		{
			case GMM_COV_FULL:
			case GMM_COV_TIED:
				{
					const double *L = factor +
						(p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);

					for (int t = 0; t < d; t++)
					{
						double		v = mu[t];

						for (int s = 0; s <= t; s++)
							v += L[(size_t) t * d + s] * z[s];
						x[t] = v;
					}
				}
				break;
			case GMM_COV_DIAG:
				for (int t = 0; t < d; t++)
					x[t] = mu[t] + sqrt(p->covariances[(size_t) j * d + t]) * z[t];
				break;
			case GMM_COV_SPHERICAL:
				{
					double		sd = sqrt(p->covariances[j]);

					for (int t = 0; t < d; t++)
						x[t] = mu[t] + sd * z[t];
				}
				break;
		}
	}
	return GMM_OK;
}
