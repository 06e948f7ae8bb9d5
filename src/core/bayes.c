/*
 * bayes.c
 *	  Variational Bayesian Gaussian mixtures, as scikit-learn 1.2's
 *	  BayesianGaussianMixture: a Dirichlet-process (stick-breaking) or
 *	  Dirichlet-distribution prior on the weights, Gaussian-Wishart priors on
 *	  the means and precisions.  The fit is gmm_fit's loop with a
 *	  GmmVariational hook: the E-step and its sufficient statistics are EM's
 *	  (with additive per-component log weights and the entropy of the
 *	  responsibilities), the M-step turns EM's nk, xk, sk into the posterior
 *	  parameters (_estimate_weights, _estimate_means, _estimate_precisions),
 *	  and the lower bound is _compute_lower_bound.  Part of the numerical
 *	  core: no PostgreSQL headers.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

/* as em.c: scikit-learn adds 10 machine epsilons to every component's mass */
#define NK_EPS (10.0 * DBL_EPSILON)

#define PI 3.14159265358979323846264338327950288

/*
 * The digamma function psi(x) = d/dx log Gamma(x): the recurrence
 * psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
 * log x - 1/(2x) - sum B_2n / (2n x^2n) to the x^-14 term (the next term is
 * below 5e-17 there).  Negative non-integers by the reflection
 * psi(x) = psi(1 - x) - pi / tan(pi x); poles (0, -1, ...) give NaN.
 * Absolute error below 1e-14 max(1, |psi(x)|) (test_core.c checks scipy's
 * values).
 */
double
gmm_digamma(double x)
{
	double		r = 0.0;
	double		f;
	double		t;

	if (isnan(x) || x == INFINITY)
		return x;
	if (x <= 0.0)
	{
		if (x == floor(x))
			return NAN;
		return gmm_digamma(1.0 - x) - PI / tan(PI * x);
	}
	while (x < 10.0)
	{
		r -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 +
		f * (-1.0 / 132 + f * (691.0 / 32760 + f * (-1.0 / 12)))))));
	return r + (log(x) - 0.5 / x + t);
}

size_t
gmm_bayes_cov_prior_size(GmmCovType t, int d)
{
	switch (t)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			return (size_t) d * d;
		case GMM_COV_DIAG:
			return (size_t) d;
		case GMM_COV_SPHERICAL:
			return 1;
	}
	return 0;
}

int
gmm_bayes_concentration_size(GmmWeightPrior type, int k)
{
	return type == GMM_PRIOR_DIRICHLET_PROCESS ? 2 * k : k;
}

/*
 * scikit-learn's default mean_prior (X.mean(axis=0)) and covariance_prior
 * (np.cov(X.T), np.var(X, ddof=1) or its mean), centred two-pass; rows of
 * weight w count w times (w NULL: 1).  Needs a total weight above 1.
 */
void
gmm_bayes_default_prior(const double *X, const double *w, size_t n, int d,
						GmmCovType t, double *mean, double *cov,
						double *work)
{
	double		sw = 0.0;
	double	   *y = work;

	memset(mean, 0, sizeof(double) * d);
	for (size_t i = 0; i < n; i++)
	{
		double		wi = gmm_row_weight(w, i);

		if (!(wi > 0.0))
			continue;
		sw += wi;
		for (int a = 0; a < d; a++)
			mean[a] += wi * X[i * d + a];
	}
	for (int a = 0; a < d; a++)
		mean[a] /= sw;

	if (t == GMM_COV_FULL || t == GMM_COV_TIED)
		memset(cov, 0, sizeof(double) * d * d);
	else
		memset(y, 0, sizeof(double) * d);
	for (size_t i = 0; i < n; i++)
	{
		double		wi = gmm_row_weight(w, i);
		const double *x = X + i * d;

		if (!(wi > 0.0))
			continue;
		if (t == GMM_COV_FULL || t == GMM_COV_TIED)
		{
			for (int a = 0; a < d; a++)
				for (int b = 0; b <= a; b++)
					cov[(size_t) a * d + b] +=
						wi * (x[a] - mean[a]) * (x[b] - mean[b]);
		}
		else
			for (int a = 0; a < d; a++)
				y[a] += wi * (x[a] - mean[a]) * (x[a] - mean[a]);
	}
	switch (t)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			for (int a = 0; a < d; a++)
				for (int b = 0; b <= a; b++)
					cov[(size_t) a * d + b] /= sw - 1.0;
			gmm_symmetrise(cov, d, true);
			break;
		case GMM_COV_DIAG:
			for (int a = 0; a < d; a++)
				cov[a] = y[a] / (sw - 1.0);
			break;
		case GMM_COV_SPHERICAL:
			{
				double		acc = 0.0;

				for (int a = 0; a < d; a++)
					acc += y[a] / (sw - 1.0);
				cov[0] = acc / d;
			}
			break;
	}
}

void
gmm_bayes_post_bind(GmmBayesPost *q, int k, double *buf)
{
	q->weight_concentration = buf;
	q->mean_precision = buf + 2 * (size_t) k;
	q->degrees_of_freedom = q->mean_precision + k;
}

/* scikit-learn's weights_ (_set_parameters) from the weight concentration */
void
gmm_bayes_weights(GmmWeightPrior type, int k, const double *wc,
				  double *weights)
{
	double		sum = 0.0;

	if (type == GMM_PRIOR_DIRICHLET_PROCESS)
	{
		const double *a = wc;
		const double *b = wc + k;
		double		cum = 1.0;

		for (int j = 0; j < k; j++)
		{
			double		s = a[j] + b[j];

			weights[j] = a[j] / s * cum;
			cum *= b[j] / s;
		}
	}
	else
		memcpy(weights, wc, sizeof(double) * k);
	for (int j = 0; j < k; j++)
		sum += weights[j];
	for (int j = 0; j < k; j++)
		weights[j] /= sum;
}

/*
 * The E-step's per-component constants: _estimate_log_weights plus what
 * _estimate_log_prob adds to the Gaussian log density of the model's means
 * and covariances, -d/2 log(dof) + (log_lambda - d / mean_precision) / 2
 * with log_lambda = d log 2 + sum_i digamma((dof - i) / 2).
 */
void
gmm_bayes_log_weights(GmmWeightPrior type, int k, int d,
					  const GmmBayesPost *q, double *out)
{
	const double *wc = q->weight_concentration;

	if (type == GMM_PRIOR_DIRICHLET_PROCESS)
	{
		double		cum = 0.0;

		for (int j = 0; j < k; j++)
		{
			double		dsum = gmm_digamma(wc[j] + wc[k + j]);

			out[j] = gmm_digamma(wc[j]) - dsum + cum;
			cum += gmm_digamma(wc[k + j]) - dsum;
		}
	}
	else
	{
		double		sum = 0.0;
		double		dsum;

		for (int j = 0; j < k; j++)
			sum += wc[j];
		dsum = gmm_digamma(sum);
		for (int j = 0; j < k; j++)
			out[j] = gmm_digamma(wc[j]) - dsum;
	}
	for (int j = 0; j < k; j++)
	{
		double		dof = q->degrees_of_freedom[j];
		double		log_lambda = d * M_LN2;

		for (int i = 0; i < d; i++)
			log_lambda += gmm_digamma(0.5 * (dof - i));
		out[j] += -0.5 * d * log(dof) +
			0.5 * (log_lambda - d / q->mean_precision[j]);
	}
}

GmmStatus
gmm_bayes_mstep(const GmmBayesPrior *pr, const GmmStats *s, GmmParams *p,
				GmmBayesPost *q, double *work, int *bad)
{
	int			k = p->k;
	int			d = p->d;
	double		beta0 = pr->mean_precision_prior;
	double		nu0 = pr->degrees_of_freedom_prior;
	const double *m0 = pr->mean_prior;
	const double *W0 = pr->covariance_prior;
	double	   *nk = work;
	double	   *diff = work + k;	/* k x d: xk - m0 */
	double	   *wc = q->weight_concentration;
	double	   *mp = q->mean_precision;
	double	   *dof = q->degrees_of_freedom;
	double		sum_nk = 0.0;

	for (int j = 0; j < k; j++)
	{
		nk[j] = s->s0[j] + NK_EPS;
		sum_nk += nk[j];
	}

	/* _estimate_weights */
	if (pr->type == GMM_PRIOR_DIRICHLET_PROCESS)
	{
		double		tail = 0.0;

		/* b_j = alpha0 + sum_{l > j} nk_l, summed from the last as numpy */
		for (int j = k - 1; j >= 0; j--)
		{
			wc[j] = 1.0 + nk[j];
			wc[k + j] = pr->weight_concentration_prior + tail;
			tail += nk[j];
		}
	}
	else
		for (int j = 0; j < k; j++)
			wc[j] = pr->weight_concentration_prior + nk[j];

	/* _estimate_means */
	for (int j = 0; j < k; j++)
	{
		mp[j] = beta0 + nk[j];
		for (int t = 0; t < d; t++)
		{
			double		xk = p->means[(size_t) j * d + t];

			diff[(size_t) j * d + t] = xk - m0[t];
			p->means[(size_t) j * d + t] = (beta0 * m0[t] + nk[j] * xk) / mp[j];
		}
	}

	/* _estimate_precisions: the Wishart parameters, normalised by dof */
	switch (p->cov_type)
	{
		case GMM_COV_FULL:
			for (int j = 0; j < k; j++)
			{
				double	   *c = p->covariances + (size_t) j * d * d;
				const double *df = diff + (size_t) j * d;
				double		f = nk[j] * beta0 / mp[j];

				dof[j] = nu0 + nk[j];
				for (int a = 0; a < d; a++)
					for (int b = 0; b < d; b++)
						c[(size_t) a * d + b] = (W0[(size_t) a * d + b] +
												 nk[j] * c[(size_t) a * d + b] +
												 f * df[a] * df[b]) / dof[j];
			}
			break;
		case GMM_COV_TIED:
			{
				double		nu = nu0 + sum_nk / k;
				double	   *c = p->covariances;

				for (int j = 0; j < k; j++)
					dof[j] = nu;
				for (int a = 0; a < d; a++)
					for (int b = 0; b < d; b++)
					{
						double		acc = 0.0;

						for (int j = 0; j < k; j++)
							acc += nk[j] / mp[j] * diff[(size_t) j * d + a] *
								diff[(size_t) j * d + b];
						c[(size_t) a * d + b] = (W0[(size_t) a * d + b] +
												 c[(size_t) a * d + b] * sum_nk / k +
												 beta0 / k * acc) / nu;
					}
			}
			break;
		case GMM_COV_DIAG:
			for (int j = 0; j < k; j++)
			{
				dof[j] = nu0 + nk[j];
				for (int t = 0; t < d; t++)
				{
					double	   *c = p->covariances + (size_t) j * d + t;
					double		df = diff[(size_t) j * d + t];

					*c = (W0[t] + nk[j] * (*c + beta0 / mp[j] * df * df)) / dof[j];
				}
			}
			break;
		case GMM_COV_SPHERICAL:
			for (int j = 0; j < k; j++)
			{
				double		sq = 0.0;

				dof[j] = nu0 + nk[j];
				for (int t = 0; t < d; t++)
					sq += diff[(size_t) j * d + t] * diff[(size_t) j * d + t];
				p->covariances[j] = (W0[0] + nk[j] *
									 (p->covariances[j] + beta0 / mp[j] * (sq / d))) /
					dof[j];
			}
			break;
	}
	if (p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED)
		for (int j = 0; j < (p->cov_type == GMM_COV_FULL ? k : 1); j++)
			gmm_symmetrise(p->covariances + (size_t) j * d * d, d, true);

	gmm_bayes_weights(pr->type, k, wc, p->weights);
	return gmm_compute_precision_cholesky(p, bad);
}

/* log Beta(a, b) */
static double
log_beta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

double
gmm_bayes_lower_bound(GmmWeightPrior type, const GmmParams *p,
					  const GmmBayesPost *q, double sum_entropy)
{
	int			k = p->k;
	int			d = p->d;
	const double *wc = q->weight_concentration;
	double		log_wishart = 0.0;
	double		log_norm_weight = 0.0;
	double		log_mp = 0.0;

	for (int j = 0; j < k; j++)
	{
		double		dof = q->degrees_of_freedom[j];
		double		ldpc = p->log_det[j] - 0.5 * d * log(dof);
		double		lg = 0.0;

		for (int i = 0; i < d; i++)
			lg += lgamma(0.5 * (dof - i));
		log_wishart += -(dof * ldpc + dof * d * 0.5 * M_LN2 + lg);
		log_mp += log(q->mean_precision[j]);
	}
	if (type == GMM_PRIOR_DIRICHLET_PROCESS)
	{
		for (int j = 0; j < k; j++)
			log_norm_weight -= log_beta(wc[j], wc[k + j]);
	}
	else
	{
		double		sum = 0.0;

		for (int j = 0; j < k; j++)
		{
			sum += wc[j];
			log_norm_weight -= lgamma(wc[j]);
		}
		log_norm_weight += lgamma(sum);
	}
	return -sum_entropy - log_wishart - log_norm_weight - 0.5 * d * log_mp;
}

/* ---------------------------------------------------------------------
 * The fit: gmm_fit with the variational hook
 * ---------------------------------------------------------------------
 */

typedef struct BayesCtx
{
	const GmmBayesPrior *prior;
	int			k;
	int			d;
	GmmBayesPost cur;
	GmmBayesPost best;
	double	   *log_weights;	/* k, of cur */
	double	   *work;			/* k + k d */
} BayesCtx;

static GmmStatus
hook_mstep(void *arg, const GmmStats *s, GmmParams *p, int *bad)
{
	BayesCtx   *b = (BayesCtx *) arg;
	GmmStatus	st = gmm_bayes_mstep(b->prior, s, p, &b->cur, b->work, bad);

	gmm_bayes_log_weights(b->prior->type, b->k, b->d, &b->cur, b->log_weights);
	return st;
}

static const double *
hook_log_weights(void *arg)
{
	return ((BayesCtx *) arg)->log_weights;
}

static double
hook_lower_bound(void *arg, const GmmStats *s, const GmmParams *p)
{
	BayesCtx   *b = (BayesCtx *) arg;

	return gmm_bayes_lower_bound(b->prior->type, p, &b->cur, s->sum_entropy);
}

static void
post_copy(GmmBayesPost *dst, const GmmBayesPost *src, int k)
{
	/* the three arrays are contiguous (gmm_bayes_post_bind) */
	memcpy(dst->weight_concentration, src->weight_concentration,
		   sizeof(double) * GMM_BAYES_POST_NDOUBLES(k));
}

static void
hook_keep(void *arg)
{
	BayesCtx   *b = (BayesCtx *) arg;

	post_copy(&b->best, &b->cur, b->k);
}

static void
hook_restore(void *arg)
{
	BayesCtx   *b = (BayesCtx *) arg;

	post_copy(&b->cur, &b->best, b->k);
	gmm_bayes_log_weights(b->prior->type, b->k, b->d, &b->cur, b->log_weights);
}

GmmStatus
gmm_fit_bayesian(const double *X, const double *w, size_t n, int d,
				 const GmmFitOptions *opt, const GmmBayesPrior *prior,
				 const GmmHooks *hooks, GmmParams *out, GmmBayesPost *post,
				 GmmFitResult *res)
{
	int			k = opt->n_components;
	GmmFitOptions o = *opt;
	GmmVariational var;
	BayesCtx	b;
	double	   *buf;
	GmmStatus	st;

	buf = hooks->alloc(sizeof(double) * (GMM_BAYES_POST_NDOUBLES(k) + 2 * (size_t) k +
										 (size_t) k * d), hooks->arg);
	memset(&b, 0, sizeof(b));
	b.prior = prior;
	b.k = k;
	b.d = d;
	b.cur = *post;
	gmm_bayes_post_bind(&b.best, k, buf);
	b.log_weights = buf + GMM_BAYES_POST_NDOUBLES(k);
	b.work = b.log_weights + k;

	var.mstep = hook_mstep;
	var.log_weights = hook_log_weights;
	var.lower_bound = hook_lower_bound;
	var.keep = hook_keep;
	var.restore = hook_restore;
	var.arg = &b;
	o.variational = &var;
	/* nothing of EM's to start from: scikit-learn has no *_init here */
	o.weights_init = o.means_init = o.precisions_init = NULL;

	/*
	 * A warm start (scikit-learn's warm_start, gmm_refit): the model's
	 * means and covariances are in opt->warm_start, its variational
	 * parameters in post; the first E-step needs their log weights.
	 */
	if (o.warm_start)
		gmm_bayes_log_weights(prior->type, k, d, &b.cur, b.log_weights);

	st = gmm_fit(X, w, n, d, &o, hooks, out, res);
	/* restore made the kept run current, in the caller's post */
	hooks->release(buf, hooks->arg);
	return st;
}
