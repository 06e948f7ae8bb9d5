/*
 * mstep_centred.c
 *	  The centred fallback of the M-step.  gmm_stats_mstep forms each scatter
 *	  from sums shifted by the previous means, S2 - s1 s1^T f; when a
 *	  component's mean moves far relative to its spread (a component
 *	  collapsing onto one point, say), the two terms agree in almost every
 *	  digit and the difference is rounding noise, possibly negative.  Those
 *	  components are detected from the statistics alone, and their scatter
 *	  is recomputed from the rows centred on the new means, as scikit-learn's
 *	  _estimate_gaussian_covariances_full does, in one extra pass that
 *	  happens only when needed.  Part of the numerical core: no PostgreSQL
 *	  headers.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

/* as em.c: scikit-learn adds 10 machine epsilons to every component's mass */
#define NK_EPS (10.0 * DBL_EPSILON)

/* is the shifted scatter v of second moment s2 mostly cancelled? */
static inline bool
cancelled(double s2, double v)
{
	return s2 > 0.0 && !(v >= GMM_CANCEL_RATIO * s2);
}

int
gmm_stats_cancelled(const GmmStats *s, bool *flag)
{
	int			k = s->k;
	int			d = s->d;
	int			count = 0;

	memset(flag, 0, sizeof(bool) * k);
	if (s->cov_type == GMM_COV_TIED)
	{
		bool		any = false;

		for (int a = 0; a < d && !any; a++)
		{
			double		s2 = s->s2[(size_t) a * d + a];
			double		v = s2;

			for (int j = 0; j < k; j++)
			{
				double		nk = s->s0[j] + NK_EPS;
				double		m = s->s1[(size_t) j * d + a];

				v -= m * m * (2.0 * nk - s->s0[j]) / (nk * nk);
			}
			any = cancelled(s2, v);
		}
		if (any)
			for (int j = 0; j < k; j++)
				flag[j] = true;
		return any ? k : 0;
	}
	for (int j = 0; j < k; j++)
	{
		double		nk = s->s0[j] + NK_EPS;
		double		f = (2.0 * nk - s->s0[j]) / (nk * nk);
		const double *s1 = s->s1 + (size_t) j * d;

		for (int a = 0; a < d && !flag[j]; a++)
		{
			double		s2 = s->cov_type == GMM_COV_FULL ?
				s->s2[((size_t) j * d + a) * d + a] : s->s2[(size_t) j * d + a];

			flag[j] = cancelled(s2, s2 - s1[a] * s1[a] * f);
		}
		count += flag[j];
	}
	return count;
}

GmmStatus
gmm_mstep_centred(const GmmParams *model, const double *X, const double *w,
				  size_t n, const GmmStats *s, const bool *flag,
				  double reg_covar, const GmmHooks *hooks, GmmParams *out,
				  int *bad)
{
	int			k = s->k;
	int			d = s->d;
	GmmCovType	t = s->cov_type;
	double	   *buf = hooks->alloc(sizeof(double) * (2 * (size_t) k + 3 * (size_t) d),
								   hooks->arg);
	double	   *logw = buf;
	double	   *lp = logw + k;
	double	   *work = lp + k;
	double	   *diff = work + 2 * d;	/* gmm_row_log_prob's work: 2 d */
	double		sum_nk = 0.0;

	for (int j = 0; j < k; j++)
	{
		logw[j] = log(model->weights[j]);
		sum_nk += s->s0[j] + NK_EPS;
	}
	/*
	 * The flagged components take scikit-learn's mean, sum w r x / nk (from
	 * the sums: s0 shift + s1), not shift + s1 / nk: the two differ by the
	 * 10 eps of nk, which the shifted form puts on the shift's side, so that
	 * a component of mass about one sitting on one row (its previous mean)
	 * would have that row as its mean exactly and a scatter of exactly zero,
	 * where scikit-learn's is about (10 eps x)^2.
	 */
	for (int j = 0; j < k; j++)
		if (flag[j])
		{
			const double *sh = s->shift + (t == GMM_COV_TIED ? 0 : (size_t) j * d);
			double		nk = s->s0[j] + NK_EPS;

			for (int a = 0; a < d; a++)
				out->means[(size_t) j * d + a] =
					(s->s0[j] * sh[a] + s->s1[(size_t) j * d + a]) / nk;
		}
	/* the flagged covariances become sums of w r (x - mu)(x - mu)^T */
	for (int j = 0; j < k; j++)
		if (flag[j])
			switch (t)
			{
				case GMM_COV_FULL:
					memset(out->covariances + (size_t) j * d * d, 0,
						   sizeof(double) * d * d);
					break;
				case GMM_COV_TIED:
					memset(out->covariances, 0, sizeof(double) * d * d);
					break;
				case GMM_COV_DIAG:
					memset(out->covariances + (size_t) j * d, 0, sizeof(double) * d);
					break;
				case GMM_COV_SPHERICAL:
					out->covariances[j] = 0.0;
					break;
			}

	for (size_t i = 0; i < n; i++)
	{
		const double *x = X + i * d;
		double		wi = gmm_row_weight(w, i);
		double		lse;

		if ((i & (GMM_BLOCK_ROWS - 1)) == 0)
			hooks->check_interrupts(hooks->arg);
		if (!(wi > 0.0))
			continue;
		lse = gmm_row_log_prob(model, logw, x, lp, work);
		gmm_row_responsibilities(k, lp, lse);
		for (int j = 0; j < k; j++)
		{
			double		r = wi * lp[j];
			const double *mu = out->means + (size_t) j * d;

			if (!flag[j] || r == 0.0)
				continue;
			for (int a = 0; a < d; a++)
				diff[a] = x[a] - mu[a];
			switch (t)
			{
				case GMM_COV_FULL:
				case GMM_COV_TIED:
					{
						double	   *c = out->covariances +
							(t == GMM_COV_FULL ? (size_t) j * d * d : 0);

						for (int a = 0; a < d; a++)
						{
							double		ra = r * diff[a];

							for (int b = 0; b <= a; b++)
								c[(size_t) a * d + b] += ra * diff[b];
						}
					}
					break;
				case GMM_COV_DIAG:
					for (int a = 0; a < d; a++)
						out->covariances[(size_t) j * d + a] += r * diff[a] * diff[a];
					break;
				case GMM_COV_SPHERICAL:
					{
						double		acc = 0.0;

						for (int a = 0; a < d; a++)
							acc += diff[a] * diff[a];
						out->covariances[j] += r * acc;
					}
					break;
			}
		}
	}

	/* divide by the mass (tied: the total), add reg_covar as the M-step does */
	for (int j = 0; j < k; j++)
	{
		double		nk = s->s0[j] + NK_EPS;

		if (!flag[j])
			continue;
		switch (t)
		{
			case GMM_COV_FULL:
				{
					double	   *c = out->covariances + (size_t) j * d * d;

					for (int a = 0; a < d; a++)
						for (int b = 0; b <= a; b++)
							c[(size_t) a * d + b] /= nk;
					gmm_symmetrise(c, d, true);
					for (int a = 0; a < d; a++)
						c[(size_t) a * d + a] += reg_covar;
				}
				break;
			case GMM_COV_TIED:
				break;
			case GMM_COV_DIAG:
				for (int a = 0; a < d; a++)
					out->covariances[(size_t) j * d + a] =
						out->covariances[(size_t) j * d + a] / nk + reg_covar;
				break;
			case GMM_COV_SPHERICAL:
				out->covariances[j] = out->covariances[j] / (nk * d) + reg_covar;
				break;
		}
	}
	if (t == GMM_COV_TIED && k > 0 && flag[0])
	{
		double	   *c = out->covariances;

		for (int a = 0; a < d; a++)
			for (int b = 0; b <= a; b++)
				c[(size_t) a * d + b] /= sum_nk;
		gmm_symmetrise(c, d, true);
		for (int a = 0; a < d; a++)
			c[(size_t) a * d + a] += reg_covar;
	}
	hooks->release(buf, hooks->arg);
	return gmm_compute_precision_cholesky(out, bad);
}
