/*
 * gmm_bayes_section.c
 *	  The "bayesian" section of format version 2 (GMM_SECTION_BAYESIAN): the
 *	  priors and variational posterior of a model fitted by gmm_fit_bayesian,
 *	  its check, and what scoring needs from it.  The layout of the payload
 *	  is in gmm_bayes.c's header comment; its JSON form is there too.
 *
 * Linked by the fuzz harness: no jsonb or fmgr calls here.
 */
#include "postgres.h"

#include <math.h>

#include "gmm.h"

/* the payload length of a model of type t with k components, d features */
uint32
gmm_bayes_section_words(GmmCovType t, int k, int d)
{
	return (uint32) (GMM_BAYES_HEAD + d + gmm_bayes_cov_prior_size(t, d) +
					 GMM_BAYES_POST_NDOUBLES(k));
}

/* the prior and posterior of a payload, in place */
void
gmm_bayes_section_bind(GmmCovType t, int k, int d, const double *words, GmmBayesPrior *pr,
		  GmmBayesPost *q)
{
	pr->type = (GmmWeightPrior) (int) words[0];
	pr->weight_concentration_prior = words[1];
	pr->mean_precision_prior = words[2];
	pr->degrees_of_freedom_prior = words[3];
	pr->mean_prior = words + GMM_BAYES_HEAD;
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

		gmm_bayes_section_bind((GmmCovType) m->cov_type, k, m->n_features, words, &pr, &q);
		gmm_bayes_log_weights(pr.type, k, m->n_features, &q, out);
	}
}

bool
gmm_model_is_bayesian(const GmmModel *m)
{
	uint32		nwords;

	return gmm_model_section(m, GMM_SECTION_BAYESIAN, &nwords) != NULL;
}

static void
CheckBayesian(const GmmModel *m, double *words, uint32 nwords, int struct_code)
{
	GmmCovType	t = (GmmCovType) m->cov_type;
	int			k = m->n_components;
	int			d = m->n_features;
	GmmBayesPrior pr;
	GmmBayesPost q;
	size_t		cps = gmm_bayes_cov_prior_size(t, d);
	bool		dp;

	if (nwords != gmm_bayes_section_words(t, k, d))
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("the bayesian section has %u values, expected %u", nwords,
						gmm_bayes_section_words(t, k, d)),
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
				(errcode(struct_code),
				 errmsg("invalid weight_concentration_prior_type code %g", words[0])));
	gmm_bayes_section_bind(t, k, d, words, &pr, &q);
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
					(errcode(struct_code),
					 errmsg("a tied model has one degrees_of_freedom for all components")));
	}
}

const GmmSectionKind gmm_section_bayesian = {
	GMM_SECTION_BAYESIAN, "bayesian", CheckBayesian
};
