/*
 * params.c
 *	  Layout of model parameters in one buffer, parameter counts, and the
 *	  precision-Cholesky factors that scoring uses.  Part of the numerical
 *	  core: no PostgreSQL headers.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

size_t
gmm_cov_size(GmmCovType t, int k, int d)
{
	switch (t)
	{
		case GMM_COV_FULL:
			return (size_t) k * d * d;
		case GMM_COV_TIED:
			return (size_t) d * d;
		case GMM_COV_DIAG:
			return (size_t) k * d;
		case GMM_COV_SPHERICAL:
			return (size_t) k;
	}
	return 0;
}

size_t
gmm_params_ndoubles(GmmCovType t, int k, int d)
{
	return 2 * (size_t) k + (size_t) k * d + 2 * gmm_cov_size(t, k, d);
}

void
gmm_params_bind(GmmParams *p, GmmCovType t, int k, int d, double *buf)
{
	size_t		c = gmm_cov_size(t, k, d);

	p->cov_type = t;
	p->k = k;
	p->d = d;
	p->weights = buf;
	p->means = p->weights + k;
	p->covariances = p->means + (size_t) k * d;
	p->prec_chol = p->covariances + c;
	p->log_det = p->prec_chol + c;
}

int64_t
gmm_n_parameters(GmmCovType t, int k, int d)
{
	int64_t		cov;

	switch (t)
	{
		case GMM_COV_FULL:
			cov = (int64_t) k * d * (d + 1) / 2;
			break;
		case GMM_COV_TIED:
			cov = (int64_t) d * (d + 1) / 2;
			break;
		case GMM_COV_DIAG:
			cov = (int64_t) k * d;
			break;
		default:
			cov = k;
			break;
	}
	return cov + (int64_t) k * d + k - 1;
}

/*
 * One d x d block: prec (row-major upper U, U U^T = inv(cov)) from cov.
 * Returns the log-determinant of U, or NAN if cov is not positive definite.
 *
 * Row-major cov read as column-major is the same symmetric matrix; dpotrf
 * with 'L' gives column-major lower L (cov = L L^T).  dtrtri inverts it in
 * place; inv(L) column-major lower is, read row-major, inv(L)^T = U upper,
 * which is exactly scikit-learn's precisions_cholesky_.
 */
static double
precision_cholesky_block(const double *cov, double *prec, int d)
{
	int			info = 0;
	double		logdet = 0.0;

	memcpy(prec, cov, sizeof(double) * d * d);
	dpotrf_("L", &d, prec, &d, &info, 1);
	if (info != 0)
		return NAN;
	dtrtri_("L", "N", &d, prec, &d, &info, 1, 1);
	if (info != 0)
		return NAN;
	/* zero the strict upper part (column-major), i.e. row-major lower part */
	for (int i = 0; i < d; i++)
		for (int j = 0; j < i; j++)
			prec[(size_t) i * d + j] = 0.0;
	for (int i = 0; i < d; i++)
	{
		double		v = prec[(size_t) i * d + i];

		if (!(v > 0.0) || !isfinite(v))
			return NAN;
		logdet += log(v);
	}
	return logdet;
}

GmmStatus
gmm_compute_precision_cholesky(GmmParams *p, int *bad)
{
	int			k = p->k;
	int			d = p->d;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
			for (int j = 0; j < k; j++)
			{
				size_t		off = (size_t) j * d * d;
				double		ld = precision_cholesky_block(p->covariances + off,
														  p->prec_chol + off, d);

				if (isnan(ld))
				{
					*bad = j;
					return GMM_ERR_NOT_PD;
				}
				p->log_det[j] = ld;
			}
			break;
		case GMM_COV_TIED:
			{
				double		ld = precision_cholesky_block(p->covariances,
														  p->prec_chol, d);

				if (isnan(ld))
				{
					*bad = 0;
					return GMM_ERR_NOT_PD;
				}
				for (int j = 0; j < k; j++)
					p->log_det[j] = ld;
			}
			break;
		case GMM_COV_DIAG:
			for (int j = 0; j < k; j++)
			{
				double		ld = 0.0;

				for (int i = 0; i < d; i++)
				{
					double		v = p->covariances[(size_t) j * d + i];

					if (!(v > 0.0) || !isfinite(v))
					{
						*bad = j;
						return GMM_ERR_NOT_PD;
					}
					p->prec_chol[(size_t) j * d + i] = 1.0 / sqrt(v);
					ld += log(p->prec_chol[(size_t) j * d + i]);
				}
				p->log_det[j] = ld;
			}
			break;
		case GMM_COV_SPHERICAL:
			for (int j = 0; j < k; j++)
			{
				double		v = p->covariances[j];

				if (!(v > 0.0) || !isfinite(v))
				{
					*bad = j;
					return GMM_ERR_NOT_PD;
				}
				p->prec_chol[j] = 1.0 / sqrt(v);
				p->log_det[j] = d * log(p->prec_chol[j]);
			}
			break;
	}
	return GMM_OK;
}
