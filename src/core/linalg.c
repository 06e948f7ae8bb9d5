/*
 * linalg.c
 *	  Small helpers over row blocks shared by the core files (k-means, EM,
 *	  initialisation).  Part of the numerical core: no PostgreSQL headers.
 */
#include "blas.h"

/*
 * Count the rows with positive weight and sum the weights; the errors every
 * fit shares.  No rows at all is too few samples; rows whose weights are all
 * zero is a zero total weight (weights are >= 0, so these are the only ways
 * the total can be zero).
 */
GmmStatus
gmm_check_weights(const double *w, size_t n, int k, int64_t *n_pos,
				  double *sum_w)
{
	int64_t		np = 0;
	double		sw = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		wi = gmm_row_weight(w, i);

		if (wi > 0.0)
		{
			np++;
			sw += wi;
		}
	}
	*n_pos = np;
	*sum_w = sw;
	if (n > 0 && np == 0)
		return GMM_ERR_ZERO_WEIGHT;
	if (np < k)
		return GMM_ERR_TOO_FEW_SAMPLES;
	return GMM_OK;
}

/* out = X - shift, row by row (nrows x d, row-major) */
void
gmm_centre_rows(const double *X, int nrows, int d, const double *shift,
				double *out)
{
	for (int i = 0; i < nrows; i++)
	{
		const double *x = X + (size_t) i * d;
		double	   *o = out + (size_t) i * d;

		for (int t = 0; t < d; t++)
			o[t] = x[t] - shift[t];
	}
}

/*
 * Make a row-major d x d matrix symmetric from its valid triangle: BLAS and
 * LAPACK fill only one triangle (dsyrk, dpotri), the rest is stale.
 */
void
gmm_symmetrise(double *a, int d, bool from_lower)
{
	for (int i = 0; i < d; i++)
		for (int j = 0; j < i; j++)
		{
			if (from_lower)
				a[(size_t) j * d + i] = a[(size_t) i * d + j];
			else
				a[(size_t) i * d + j] = a[(size_t) j * d + i];
		}
}
