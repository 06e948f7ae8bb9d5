/*
 * gmm_bayes.c
 *	  Bayesian mixtures in SQL: the aggregate gmm_fit_bayesian(x,
 *	  n_components [, options]) (scikit-learn's BayesianGaussianMixture,
 *	  the core in src/core/bayes.c), the model's "bayesian" section (the
 *	  priors and the variational posterior parameters), and what scoring
 *	  and the information criteria need to know about such a model.
 *
 * The aggregate shares gmm_fit's transition function and state (the rows
 * packed, spilled past work_mem); only the final function differs.
 *
 * Section payload (GMM_SECTION_BAYESIAN), all doubles:
 *	 0		weight_concentration_prior_type (0 dirichlet_process,
 *			1 dirichlet_distribution)
 *	 1		weight_concentration_prior
 *	 2		mean_precision_prior
 *	 3		degrees_of_freedom_prior
 *	 4		mean_prior, d
 *	 ...	covariance_prior, gmm_bayes_cov_prior_size (full and tied d x d,
 *			diag d, spherical 1)
 *	 ...	weight_concentration, 2k (dirichlet_distribution: k, then k zeros)
 *	 ...	mean_precision, k
 *	 ...	degrees_of_freedom, k (tied: k equal values)
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "gmm.h"
#include "gmm_fit.h"
#include "gmm_row.h"

#define BAYES_HEAD 4

/* the payload length of a model of type t with k components, d features */
static uint32
BayesWords(GmmCovType t, int k, int d)
{
	return (uint32) (BAYES_HEAD + d + gmm_bayes_cov_prior_size(t, d) +
					 GMM_BAYES_POST_NDOUBLES(k));
}

/* the prior and posterior of a payload, in place */
static void
BayesBind(GmmCovType t, int k, int d, const double *words, GmmBayesPrior *pr,
		  GmmBayesPost *q)
{
	pr->type = (GmmWeightPrior) (int) words[0];
	pr->weight_concentration_prior = words[1];
	pr->mean_precision_prior = words[2];
	pr->degrees_of_freedom_prior = words[3];
	pr->mean_prior = words + BAYES_HEAD;
	pr->covariance_prior = pr->mean_prior + d;
	gmm_bayes_post_bind(q, k, (double *) pr->covariance_prior +
						gmm_bayes_cov_prior_size(t, d));
}

/*
 * The k additive per-component terms of the model's log-probabilities:
 * log(weights), or for a Bayesian model scikit-learn's
 * _estimate_log_weights plus the digamma terms of _estimate_log_prob.
 */
void
gmm_model_log_weights(const GmmModel *m, double *out)
{
	uint32		nwords;
	const double *words = gmm_model_section(m, GMM_SECTION_BAYESIAN, &nwords);
	int			k = m->n_components;

	if (words == NULL)
	{
		const double *w = m->data;	/* weights come first (gmm_params_bind) */

		for (int j = 0; j < k; j++)
			out[j] = log(w[j]);
		return;
	}
	else
	{
		GmmBayesPrior pr;
		GmmBayesPost q;

		BayesBind((GmmCovType) m->cov_type, k, m->n_features, words, &pr, &q);
		gmm_bayes_log_weights(pr.type, k, m->n_features, &q, out);
	}
}

bool
gmm_model_is_bayesian(const GmmModel *m)
{
	uint32		nwords;

	return gmm_model_section(m, GMM_SECTION_BAYESIAN, &nwords) != NULL;
}

/*
 * An error for what has no meaning for a Bayesian model (fname: the
 * function); m NULL: the caller knows it is one.
 */
void
gmm_bayes_reject(const GmmModel *m, const char *fname)
{
	bool		refit = strncmp(fname, "gmm_refit", 9) == 0;

	if (m != NULL && !gmm_model_is_bayesian(m))
		return;
	if (refit)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not apply to a Bayesian mixture", fname),
				 errdetail("%s continues EM from the parameters of a model; the model was fitted by gmm_fit_bayesian (variational inference).",
						   fname),
				 errhint("Fit the rows again with gmm_fit_bayesian.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s does not apply to a Bayesian mixture", fname),
			 errdetail("scikit-learn's BayesianGaussianMixture has no bic or aic: its fit maximises a lower bound on the evidence, not the likelihood."),
			 errhint("Compare Bayesian mixtures by gmm_lower_bound, or read their weights: components the data do not need get weights near zero.")));
}

/* ---------------------------------------------------------------------
 * The section: check, JSON
 * ---------------------------------------------------------------------
 */

static void
BayesCheck(const GmmModel *m, double *words, uint32 nwords, int errcode)
{
	GmmCovType	t = (GmmCovType) m->cov_type;
	int			k = m->n_components;
	int			d = m->n_features;
	GmmBayesPrior pr;
	GmmBayesPost q;
	size_t		cps = gmm_bayes_cov_prior_size(t, d);
	bool		dp;

	if (nwords != BayesWords(t, k, d))
		ereport(ERROR,
				(errcode(errcode),
				 errmsg("the bayesian section has %u values, expected %u", nwords,
						BayesWords(t, k, d)),
				 errdetail("The model has %d components, %d features and %s covariance.",
						   k, d, gmm_cov_type_name(t))));
	for (uint32 i = 0; i < nwords; i++)
	{
		if (!isfinite(words[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the bayesian section holds a value that is not finite")));
		if (words[i] == 0.0)
			words[i] = 0.0;		/* -0 -> 0 */
	}
	if (words[0] != 0.0 && words[0] != 1.0)
		ereport(ERROR,
				(errcode(errcode),
				 errmsg("invalid weight_concentration_prior_type code %g", words[0])));
	BayesBind(t, k, d, words, &pr, &q);
	dp = pr.type == GMM_PRIOR_DIRICHLET_PROCESS;
	if (!(pr.weight_concentration_prior > 0 && pr.mean_precision_prior > 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("weight_concentration_prior and mean_precision_prior must be positive")));
	if (!(pr.degrees_of_freedom_prior > d - 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("degrees_of_freedom_prior must be greater than %d, not %g",
						d - 1, pr.degrees_of_freedom_prior)));
	switch (t)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			for (int a = 0; a < d; a++)
			{
				if (!(pr.covariance_prior[(size_t) a * d + a] > 0))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("covariance_prior must be positive definite")));
				for (int b = 0; b < a; b++)
					if (pr.covariance_prior[(size_t) a * d + b] !=
						pr.covariance_prior[(size_t) b * d + a])
						ereport(ERROR,
								(errcode(ERRCODE_DATA_EXCEPTION),
								 errmsg("covariance_prior must be symmetric")));
			}
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			for (size_t i = 0; i < cps; i++)
				if (!(pr.covariance_prior[i] > 0))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("covariance_prior must be positive")));
			break;
	}
	for (int j = 0; j < k; j++)
	{
		if (!(q.weight_concentration[j] > 0) ||
			(dp ? !(q.weight_concentration[k + j] > 0) :
			 q.weight_concentration[k + j] != 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("weight_concentration of component %d must be positive", j)));
		if (!(q.mean_precision[j] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("mean_precision of component %d must be positive", j)));
		if (!(q.degrees_of_freedom[j] > d - 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("degrees_of_freedom of component %d must be greater than %d",
							j, d - 1)));
		if (t == GMM_COV_TIED && q.degrees_of_freedom[j] != q.degrees_of_freedom[0])
			ereport(ERROR,
					(errcode(errcode),
					 errmsg("a tied model has one degrees_of_freedom for all components")));
	}
}

/* ---------------------------------------------------------------------
 * The aggregate
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(gmm_fit_bayesian_transfn);
Datum
gmm_fit_bayesian_transfn(PG_FUNCTION_ARGS)
{
	return gmm_fit_transition(fcinfo, GMM_FIT_PLAIN, gmm_array_reader);
}

static void
ShapeError(const char *key, const char *want, int k, int d)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" must be %s", key, want),
			 errdetail("The model has %d components and %d features.", k, d)));
}

/*
 * The prior from the options and the rows (scikit-learn's
 * _check_parameters), in words (the section's head, mean and covariance
 * prior).
 */
static void
BayesPrior(const GmmBayesOptions *b, GmmCovType t, const double *X,
		   const double *w, int64 n, int k, int d, double *words)
{
	double	   *mean = words + BAYES_HEAD;
	double	   *cov = mean + d;
	size_t		cps = gmm_bayes_cov_prior_size(t, d);
	double	   *work = palloc(sizeof(double) * d);

	words[0] = (double) b->type;
	words[1] = isnan(b->weight_concentration_prior) ? 1.0 / k :
		b->weight_concentration_prior;
	words[2] = isnan(b->mean_precision_prior) ? 1.0 : b->mean_precision_prior;
	words[3] = isnan(b->degrees_of_freedom_prior) ? (double) d :
		b->degrees_of_freedom_prior;
	if (!(words[3] > d - 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"degrees_of_freedom_prior\" must be greater than %d, not %g",
						d - 1, words[3]),
				 errdetail("The rows have %d features.", d)));
	gmm_bayes_default_prior(X, w, (size_t) n, d, t, mean, cov, work);
	if (b->mean_prior.values)
	{
		if (b->mean_prior.ndim != 1 || b->mean_prior.dims[0] != d)
			ShapeError("mean_prior", psprintf("an array of %d numbers", d), k, d);
		memcpy(mean, b->mean_prior.values, sizeof(double) * d);
	}
	if (b->covariance_prior.values)
	{
		const GmmArrayOption *c = &b->covariance_prior;

		switch (t)
		{
			case GMM_COV_FULL:
			case GMM_COV_TIED:
				{
					GmmParams	p;
					double	   *buf;
					int			bad;

					if (c->ndim != 2 || c->dims[0] != d || c->dims[1] != d)
						ShapeError("covariance_prior",
								   psprintf("a %d x %d array for %s covariance", d, d,
											gmm_cov_type_name(t)), k, d);
					/* numpy.allclose(a, a.T), then positive definite */
					for (int a = 0; a < d; a++)
						for (int e = 0; e < a; e++)
						{
							double		x = c->values[(size_t) a * d + e];
							double		y = c->values[(size_t) e * d + a];

							if (fabs(x - y) > 1e-8 + 1e-5 * fabs(y))
								ereport(ERROR,
										(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
										 errmsg("option \"covariance_prior\" must be symmetric")));
						}
					memcpy(cov, c->values, sizeof(double) * d * d);
					for (int a = 0; a < d; a++)
						for (int e = 0; e < a; e++)
							cov[(size_t) e * d + a] = cov[(size_t) a * d + e];
					buf = palloc(sizeof(double) * gmm_params_ndoubles(GMM_COV_FULL, 1, d));
					gmm_params_bind(&p, GMM_COV_FULL, 1, d, buf);
					memcpy(p.covariances, cov, sizeof(double) * d * d);
					if (gmm_compute_precision_cholesky(&p, &bad) != GMM_OK)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("option \"covariance_prior\" must be positive definite")));
					pfree(buf);
				}
				break;
			case GMM_COV_DIAG:
				if (c->ndim != 1 || c->dims[0] != d)
					ShapeError("covariance_prior",
							   psprintf("an array of %d numbers for diag covariance", d),
							   k, d);
				memcpy(cov, c->values, sizeof(double) * d);
				break;
			case GMM_COV_SPHERICAL:
				if (c->ndim != 0)
					ShapeError("covariance_prior", "a number for spherical covariance",
							   k, d);
				cov[0] = c->values[0];
				break;
		}
		if (t == GMM_COV_DIAG || t == GMM_COV_SPHERICAL)
			for (size_t i = 0; i < cps; i++)
				if (!(cov[i] > 0))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"covariance_prior\" must be positive")));
	}
	pfree(work);
}

PG_FUNCTION_INFO_V1(gmm_fit_bayesian_finalfn);
Datum
gmm_fit_bayesian_finalfn(PG_FUNCTION_ARGS)
{
	GmmOptions	o;
	const double *X;
	const double *w;
	int64		n;
	int			d;
	int			k;
	GmmCovType	t;
	uint32		nwords;
	double	   *words;
	GmmBayesPrior pr;
	GmmBayesPost q;
	GmmModel   *m;
	GmmParams	params;
	GmmFitResult res;
	GmmHooks	hooks;
	GmmVerbose	verbose;
	GmmStatus	status;
	MemoryContext fitctx;
	MemoryContext old;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_fit_bayesian_finalfn called in non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	/* a copy of the options: the state is read-only here */
	n = gmm_fit_state_rows(PG_GETARG_POINTER(0), &X, &w, &d, &k, &o);
	t = o.fit.cov_type;

	if (o.weights_init.values || o.means_init.values || o.precisions_init.values)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gmm_fit_bayesian does not take weights_init, means_init or precisions_init"),
				 errdetail("scikit-learn's BayesianGaussianMixture has no such parameters."),
				 errhint("Set the priors instead: mean_prior, covariance_prior, degrees_of_freedom_prior, mean_precision_prior, weight_concentration_prior.")));
	if (n < k)
		gmm_report_status(GMM_ERR_TOO_FEW_SAMPLES, 0, n, k);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gmm_fit_bayesian needs at least 2 rows, not " INT64_FORMAT, n),
				 errdetail("The default covariance_prior is the covariance of the rows.")));

	nwords = BayesWords(t, k, d);
	words = palloc0(sizeof(double) * nwords);
	BayesPrior(&o.bayes, t, X, w, n, k, d, words);
	BayesBind(t, k, d, words, &pr, &q);

	o.fit.n_components = k;
	gmm_verbose_start(&verbose, &o);
	o.fit.progress = o.verbose > 0 ? gmm_verbose_progress : NULL;
	o.fit.progress_arg = &verbose;

	m = gmm_model_alloc(t, k, d, 0);
	gmm_model_params(m, &params);

	fitctx = AllocSetContextCreate(CurrentMemoryContext, "gmm fit bayesian",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitctx);
	gmm_core_hooks(&hooks);
	memset(&res, 0, sizeof(res));
	status = gmm_fit_bayesian(X, w, (size_t) n, d, &o.fit, &pr, &hooks,
							  &params, &q, &res);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(fitctx);
	gmm_report_status(status, res.bad_component, n, k);

	/* a weight that underflowed still has to be positive in the type */
	for (int j = 0; j < k; j++)
		if (params.weights[j] < DBL_MIN)
			params.weights[j] = DBL_MIN;

	m->init_params = (uint8) o.fit.init_params;
	m->flags = res.converged ? GMM_FLAG_CONVERGED : 0;
	m->n_iter = res.n_iter;
	m->max_iter = o.fit.max_iter;
	m->n_init = o.fit.n_init;
	m->n_samples = res.n_samples;
	m->random_state = (int64) o.fit.random_state;
	m->sum_weights = res.sum_weights;
	m->lower_bound = isfinite(res.lower_bound) ? res.lower_bound : get_float8_nan();
	m->log_likelihood = res.log_likelihood;
	m->tol = o.fit.tol;
	m->reg_covar = o.fit.reg_covar;
	m = gmm_model_set_section(m, GMM_SECTION_BAYESIAN, words, nwords);
	gmm_model_finish(m, ERRCODE_DATA_EXCEPTION);

	if (!res.converged && o.fit.max_iter > 0)
		ereport(WARNING,
				(errmsg_plural("%s did not converge after %d iteration",
							   "%s did not converge after %d iterations",
							   res.n_iter, "gmm_fit_bayesian", res.n_iter),
				 errdetail("The lower bound still changed by more than tol = %g.",
						   o.fit.tol),
				 errhint("Increase max_iter or tol, or check the scale of the features.")));
	PG_RETURN_GMM_P(m);
}
