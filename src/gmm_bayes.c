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

/*
 * An error for what has no meaning for a Bayesian model (fname: the
 * function); m NULL: the caller knows it is one.
 */
void
gmm_bayes_reject(const GmmModel *m, const char *fname)
{
	/*
	 * gmm_em_step: EM from the model's parameters (gmm_refit of a Bayesian
	 * model is its warm start, gmm_bayes_refit_rows, and comes not here)
	 */
	bool		refit = strncmp(fname, "gmm_refit", 9) == 0 ||
		strcmp(fname, "gmm_em_step") == 0;

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
 * The section's JSON form: scikit-learn's names and shapes
 * ---------------------------------------------------------------------
 */

static const char *const bayes_keys[] = {
	"weight_concentration_prior_type", "weight_concentration_prior",
	"weight_concentration", "mean_precision_prior", "mean_precision",
	"mean_prior", "degrees_of_freedom_prior", "degrees_of_freedom",
	"covariance_prior"
};

#define N_BAYES_KEYS lengthof(bayes_keys)

static const char *const prior_type_names[] = {
	"dirichlet_process", "dirichlet_distribution"
};

void
gmm_bayes_to_json(StringInfo buf, const GmmModel *m, const double *words,
				  uint32 nwords)
{
	GmmCovType	t = (GmmCovType) m->cov_type;
	int			k = m->n_components;
	int			d = m->n_features;
	GmmBayesPrior pr;
	GmmBayesPost q;

	gmm_bayes_section_bind(t, k, d, words, &pr, &q);
	appendStringInfo(buf, "{\"%s\": \"%s\", \"%s\": ", bayes_keys[0],
					 prior_type_names[pr.type], bayes_keys[1]);
	gmm_json_append_double(buf, pr.weight_concentration_prior);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[2]);
	/* dirichlet_process: scikit-learn's tuple of two arrays, 2 x K */
	if (pr.type == GMM_PRIOR_DIRICHLET_PROCESS)
		gmm_json_append_matrix(buf, q.weight_concentration, 2, k);
	else
		gmm_json_append_vector(buf, q.weight_concentration, k);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[3]);
	gmm_json_append_double(buf, pr.mean_precision_prior);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[4]);
	gmm_json_append_vector(buf, q.mean_precision, k);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[5]);
	gmm_json_append_vector(buf, pr.mean_prior, d);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[6]);
	gmm_json_append_double(buf, pr.degrees_of_freedom_prior);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[7]);
	/* tied: one number, as scikit-learn's degrees_of_freedom_ */
	if (t == GMM_COV_TIED)
		gmm_json_append_double(buf, q.degrees_of_freedom[0]);
	else
		gmm_json_append_vector(buf, q.degrees_of_freedom, k);
	appendStringInfo(buf, ", \"%s\": ", bayes_keys[8]);
	switch (t)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			gmm_json_append_matrix(buf, pr.covariance_prior, d, d);
			break;
		case GMM_COV_DIAG:
			gmm_json_append_vector(buf, pr.covariance_prior, d);
			break;
		case GMM_COV_SPHERICAL:
			gmm_json_append_double(buf, pr.covariance_prior[0]);
			break;
	}
	appendStringInfoChar(buf, '}');
}

double *
gmm_bayes_from_json(const JsonbValue *v, const GmmModel *m, uint32 *nwords)
{
	GmmCovType	t = (GmmCovType) m->cov_type;
	int			k = m->n_components;
	int			d = m->n_features;
	JsonbValue	vals[N_BAYES_KEYS];
	bool		present[N_BAYES_KEYS];
	double	   *words;
	GmmBayesPrior pr;
	GmmBayesPost q;
	char	   *s;
	static const char *const kd[] = {"n_components", "n_features"};
	static const char *const two_k[] = {"the two Beta parameters", "n_components"};
	static const char *const dd[] = {"n_features", "n_features"};
	int			dims[2];

	gmm_json_object(v, "bayesian", bayes_keys, N_BAYES_KEYS, vals, present);
	for (int i = 0; i < (int) N_BAYES_KEYS; i++)
		if (!present[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("\"bayesian\" is missing key \"%s\"", bayes_keys[i])));
	*nwords = gmm_bayes_section_words(t, k, d);
	words = palloc0(sizeof(double) * *nwords);
	gmm_bayes_section_bind(t, k, d, words, &pr, &q);

	s = gmm_json_string(&vals[0], "bayesian", bayes_keys[0]);
	if (strcmp(s, prior_type_names[0]) == 0)
		words[0] = GMM_PRIOR_DIRICHLET_PROCESS;
	else if (strcmp(s, prior_type_names[1]) == 0)
		words[0] = GMM_PRIOR_DIRICHLET_DISTRIBUTION;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("unknown weight_concentration_prior_type \"%s\"", s),
				 errhint("Valid types are dirichlet_process and dirichlet_distribution.")));
	words[1] = gmm_json_number(&vals[1], "bayesian", bayes_keys[1]);
	words[2] = gmm_json_number(&vals[3], "bayesian", bayes_keys[3]);
	words[3] = gmm_json_number(&vals[6], "bayesian", bayes_keys[6]);
	if (words[0] == GMM_PRIOR_DIRICHLET_PROCESS)
	{
		dims[0] = 2;
		dims[1] = k;
		gmm_json_number_array(&vals[2], "bayesian.weight_concentration", 2, dims,
							  two_k, q.weight_concentration);
	}
	else
	{
		dims[0] = k;
		gmm_json_number_array(&vals[2], "bayesian.weight_concentration", 1, dims,
							  kd, q.weight_concentration);
	}
	dims[0] = k;
	gmm_json_number_array(&vals[4], "bayesian.mean_precision", 1, dims, kd,
						  q.mean_precision);
	dims[0] = d;
	gmm_json_number_array(&vals[5], "bayesian.mean_prior", 1, dims, kd + 1,
						  (double *) pr.mean_prior);
	if (t == GMM_COV_TIED)
	{
		double		dof = gmm_json_number(&vals[7], "bayesian", bayes_keys[7]);

		for (int j = 0; j < k; j++)
			q.degrees_of_freedom[j] = dof;
	}
	else
	{
		dims[0] = k;
		gmm_json_number_array(&vals[7], "bayesian.degrees_of_freedom", 1, dims, kd,
							  q.degrees_of_freedom);
	}
	switch (t)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			dims[0] = dims[1] = d;
			gmm_json_number_array(&vals[8], "bayesian.covariance_prior", 2, dims, dd,
								  (double *) pr.covariance_prior);
			break;
		case GMM_COV_DIAG:
			dims[0] = d;
			gmm_json_number_array(&vals[8], "bayesian.covariance_prior", 1, dims, dd,
								  (double *) pr.covariance_prior);
			break;
		case GMM_COV_SPHERICAL:
			((double *) pr.covariance_prior)[0] =
				gmm_json_number(&vals[8], "bayesian", bayes_keys[8]);
			break;
	}
	return words;
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
	double	   *mean = words + GMM_BAYES_HEAD;
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
				/* a number, or one in an array (gmm_options' float8[]) */
				if (c->ndim != 0 && !(c->ndim == 1 && c->dims[0] == 1))
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

/*
 * The variational fit of rows X with options o and the section words
 * (priors set; with warm, the model's posterior too): a new model in the
 * caller's context.  warm: the model a warm start continues (gmm_refit),
 * else NULL.  name is the SQL function, for messages.
 */
static GmmModel *
BayesFitRows(const double *X, const double *w, int64 n, int d, int k,
			 GmmOptions *o, double *words, uint32 nwords, const GmmModel *warm,
			 const char *name)
{
	GmmCovType	t = o->fit.cov_type;
	GmmBayesPrior pr;
	GmmBayesPost q;
	GmmModel   *m;
	GmmParams	params;
	GmmParams	warm_params;
	GmmFitResult res;
	GmmHooks	hooks;
	GmmVerbose	verbose;
	GmmStatus	status;
	MemoryContext fitctx;
	MemoryContext old;

	gmm_bayes_section_bind(t, k, d, words, &pr, &q);

	o->fit.n_components = k;
	o->fit.warm_start = NULL;
	if (warm != NULL)
	{
		gmm_model_params((GmmModel *) warm, &warm_params);
		o->fit.warm_start = &warm_params;
		/* NaN (no iteration yet) is not finite: the test starts afresh */
		o->fit.warm_lower_bound = warm->lower_bound;
	}
	gmm_verbose_start(&verbose, o);
	o->fit.progress = o->verbose > 0 ? gmm_verbose_progress : NULL;
	o->fit.progress_arg = &verbose;

	m = gmm_model_alloc(t, k, d, 0);
	gmm_model_params(m, &params);

	fitctx = AllocSetContextCreate(CurrentMemoryContext, "gmm fit bayesian",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitctx);
	gmm_core_hooks(&hooks);
	memset(&res, 0, sizeof(res));
	status = gmm_fit_bayesian(X, w, (size_t) n, d, &o->fit, &pr, &hooks,
							  &params, &q, &res);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(fitctx);
	gmm_report_status(status, res.bad_component, n, k);

	/* a weight that underflowed still has to be positive in the type */
	for (int j = 0; j < k; j++)
		if (params.weights[j] < DBL_MIN)
			params.weights[j] = DBL_MIN;

	m->init_params = (uint8) o->fit.init_params;
	m->rng = (uint8) o->fit.rng;
	m->flags = res.converged ? GMM_FLAG_CONVERGED : 0;
	m->n_iter = res.n_iter;
	m->max_iter = o->fit.max_iter;
	m->n_init = o->fit.n_init;
	m->n_samples = res.n_samples;
	m->random_state = (int64) o->fit.random_state;
	m->sum_weights = res.sum_weights;
	m->lower_bound = isfinite(res.lower_bound) ? res.lower_bound : get_float8_nan();
	m->log_likelihood = res.log_likelihood;
	m->tol = o->fit.tol;
	m->reg_covar = o->fit.reg_covar;
	m = gmm_model_set_section(m, GMM_SECTION_BAYESIAN, words, nwords);
	gmm_model_finish(m, ERRCODE_DATA_EXCEPTION);

	if (!res.converged && o->fit.max_iter > 0)
		ereport(WARNING,
				(errmsg_plural("%s did not converge after %d iteration",
							   "%s did not converge after %d iterations",
							   res.n_iter, name, res.n_iter),
				 errdetail("The lower bound still changed by more than tol = %g.",
						   o->fit.tol),
				 errhint("Increase max_iter or tol, or check the scale of the features.")));
	return m;
}

/*
 * gmm_refit of a Bayesian model (gmm_fit_rows hands it here): scikit-learn's
 * warm_start, the variational fit continued from the model's posterior with
 * its priors.
 */
GmmModel *
gmm_bayes_refit_rows(const double *X, const double *w, int64 n, int d, int k,
					 GmmOptions *o, const GmmModel *warm, const char *name)
{
	uint32		nwords;
	const double *section = gmm_model_section(warm, GMM_SECTION_BAYESIAN, &nwords);
	double	   *words;

	Assert(section != NULL);
	if (o->bayes.given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not take option \"%s\"", name, o->bayes.given),
				 errdetail("A refit of a Bayesian mixture continues with the priors of the model."),
				 errhint("Fit the rows again with gmm_fit_bayesian to change the priors.")));
	if (n < k)
		gmm_report_status(GMM_ERR_TOO_FEW_SAMPLES, 0, n, k);
	words = palloc(sizeof(double) * nwords);
	memcpy(words, section, sizeof(double) * nwords);
	return BayesFitRows(X, w, n, d, k, o, words, nwords, warm, name);
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
	if (o.missing_em)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("gmm_fit_bayesian does not take missing => 'em'"),
				 errdetail("The variational updates with missing values are not implemented."),
				 errhint("Fit rows with NULL elements with gmm_fit(x, k, '{\"missing\": \"em\"}'), or impute them first with gmm_impute.")));
	if (n < k)
		gmm_report_status(GMM_ERR_TOO_FEW_SAMPLES, 0, n, k);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gmm_fit_bayesian needs at least 2 rows, not " INT64_FORMAT, n),
				 errdetail("The default covariance_prior is the covariance of the rows.")));

	nwords = gmm_bayes_section_words(t, k, d);
	words = palloc0(sizeof(double) * nwords);
	BayesPrior(&o.bayes, t, X, w, n, k, d, words);
	PG_RETURN_GMM_P(BayesFitRows(X, w, n, d, k, &o, words, nwords, NULL,
								 "gmm_fit_bayesian"));
}
