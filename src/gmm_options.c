/*
 * gmm_options.c
 *	  Fit options: parsing and checking the jsonb that the fitting aggregates
 *	  take (and that gmm_options() builds with named arguments).
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "gmm.h"
#include "gmm_fit.h"

/* the core's generator kinds are the model header's rng codes */
StaticAssertDecl(GMM_RNG_KIND_XOSHIRO256 == GMM_RNG_XOSHIRO256 &&
				 GMM_RNG_KIND_SKLEARN == GMM_RNG_SKLEARN &&
				 GMM_RNG_NKINDS == 2,
				 "GmmRngKind and GMM_RNG_* differ");

#define VALID_OPTIONS \
	"covariance_type, init_params, max_iter, means_init, missing, n_init, " \
	"precisions_init, random_state, reg_covar, rng, tol, verbose, " \
	"verbose_interval, weights_init"

static void
OptionTypeError(const char *key, const char *expected, JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" must be %s, not %s",
					key, expected, gmm_jsonb_type_name(v))));
}

/* a finite number */
static double
OptionNumber(const char *key, JsonbValue *v)
{
	double		d;

	if (v->type != jbvNumeric)
		OptionTypeError(key, "a number", v);
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(v->val.numeric)));
	if (!isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a finite number", key)));
	return d;
}

/* an exact integer in [min, max], read from the numeric's decimal text */
static int64
OptionInteger(const char *key, JsonbValue *v, int64 min, int64 max)
{
	char	   *s;
	char	   *dot;
	char	   *end;
	long long	val;

	if (v->type != jbvNumeric)
		OptionTypeError(key, "an integer", v);
	s = DatumGetCString(DirectFunctionCall1(numeric_out,
											NumericGetDatum(v->val.numeric)));
	dot = strchr(s, '.');
	if (dot != NULL)
	{
		for (char *p = dot + 1; *p; p++)
			if (*p != '0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must be an integer, not %s", key, s)));
		*dot = '\0';
	}
	errno = 0;
	val = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || val < min || val > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between " INT64_FORMAT " and " INT64_FORMAT ", not %s",
						key, min, max, s)));
	return (int64) val;
}

static char *
OptionString(const char *key, JsonbValue *v)
{
	if (v->type != jbvString)
		OptionTypeError(key, "a string", v);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * A rectangular array of numbers of 1 to 3 dimensions (nested JSON arrays),
 * flattened row-major into out.
 */
static void
OptionArray(const char *key, JsonbValue *jv, GmmArrayOption *out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	int			depth = 0;
	int			counts[3] = {0, 0, 0};
	int			cap = 16;

	if (jv->type != jbvBinary || !JsonContainerIsArray(jv->val.binary.data))
		OptionTypeError(key, "an array of numbers", jv);

	memset(out, 0, sizeof(*out));
	out->ndim = -1;
	out->dims[0] = out->dims[1] = out->dims[2] = -1;
	out->values = palloc(sizeof(double) * cap);

	it = JsonbIteratorInit(jv->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (r)
		{
			case WJB_BEGIN_ARRAY:
				if (depth >= 3)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"%s\" has more than 3 dimensions", key)));
				if (depth > 0)
					counts[depth - 1]++;
				counts[depth] = 0;
				depth++;
				break;
			case WJB_END_ARRAY:
				depth--;
				if (out->dims[depth] < 0)
					out->dims[depth] = counts[depth];
				else if (out->dims[depth] != counts[depth])
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"%s\" is not a rectangular array", key),
							 errdetail("Sub-arrays at depth %d have lengths %d and %d.",
									   depth + 1, out->dims[depth], counts[depth])));
				break;
			case WJB_ELEM:
				if (out->ndim < 0)
					out->ndim = depth;
				else if (out->ndim != depth)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"%s\" is not a rectangular array", key),
							 errdetail("It mixes numbers and arrays at the same depth.")));
				if (v.type != jbvNumeric)
					OptionTypeError(key, "an array of numbers", &v);
				if (out->nvalues == cap)
				{
					cap *= 2;
					out->values = repalloc(out->values, sizeof(double) * cap);
				}
				out->values[out->nvalues++] = OptionNumber(key, &v);
				counts[depth - 1]++;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must be an array of numbers", key)));
		}
	}
	if (out->nvalues == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must not be empty", key)));
}

/*
 * The value of option "missing": 'error' (false: a NULL element is an
 * error) or 'em' (true: EM over the observed values, missing at random).
 */
bool
gmm_missing_from_value(JsonbValue *v)
{
	char	   *s = OptionString("missing", v);

	if (strcmp(s, "em") == 0)
		return true;
	if (strcmp(s, "error") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown missing \"%s\"", s),
				 errhint("Valid values are error (a NULL feature is an error) and em (EM over the observed values).")));
	return false;
}

/*
 * Whether the options opts (NULL: none) ask for missing => 'em', looking at
 * that key alone: the fitting aggregates need it before their first row is
 * read, the rest of the options is parsed later.
 */
bool
gmm_options_missing_em(Jsonb *opts)
{
	JsonbValue	k;
	JsonbValue *v;

	if (opts == NULL || !JB_ROOT_IS_OBJECT(opts) || JB_ROOT_IS_SCALAR(opts))
		return false;
	k.type = jbvString;
	k.val.string.val = "missing";
	k.val.string.len = 7;
	v = findJsonbValueFromContainer(&opts->root, JB_FOBJECT, &k);
	if (v == NULL || v->type == jbvNull)
		return false;
	return gmm_missing_from_value(v);
}

/* scikit-learn's defaults */
void
gmm_options_init(GmmOptions *o)
{
	memset(o, 0, sizeof(*o));
	gmm_fit_options_default(&o->fit, 1);
	o->fit.fit_workers = gmm_fit_workers;
	o->verbose = 0;
	o->verbose_interval = 10;
	o->bayes.type = GMM_PRIOR_DIRICHLET_PROCESS;
	o->bayes.weight_concentration_prior = get_float8_nan();
	o->bayes.mean_precision_prior = get_float8_nan();
	o->bayes.degrees_of_freedom_prior = get_float8_nan();
}

/* a positive finite number */
static double
OptionPositive(const char *key, JsonbValue *v)
{
	double		d = OptionNumber(key, v);

	if (!(d > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be positive, not %g", key, d)));
	return d;
}

/*
 * gmm_fit_bayesian's options, scikit-learn's BayesianGaussianMixture
 * parameters; false when key is not one of them.
 */
static bool
BayesOption(const char *key, JsonbValue *v, GmmBayesOptions *b)
{
	if (strcmp(key, "weight_concentration_prior_type") == 0)
	{
		char	   *s = OptionString(key, v);

		if (strcmp(s, "dirichlet_process") == 0)
			b->type = GMM_PRIOR_DIRICHLET_PROCESS;
		else if (strcmp(s, "dirichlet_distribution") == 0)
			b->type = GMM_PRIOR_DIRICHLET_DISTRIBUTION;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown weight_concentration_prior_type \"%s\"", s),
					 errhint("Valid types are dirichlet_process and dirichlet_distribution.")));
	}
	else if (strcmp(key, "weight_concentration_prior") == 0)
		b->weight_concentration_prior = OptionPositive(key, v);
	else if (strcmp(key, "mean_precision_prior") == 0)
		b->mean_precision_prior = OptionPositive(key, v);
	else if (strcmp(key, "degrees_of_freedom_prior") == 0)
		b->degrees_of_freedom_prior = OptionNumber(key, v);
	else if (strcmp(key, "mean_prior") == 0)
		OptionArray(key, v, &b->mean_prior);
	else if (strcmp(key, "covariance_prior") == 0)
	{
		if (v->type == jbvNumeric)
		{
			memset(&b->covariance_prior, 0, sizeof(GmmArrayOption));
			b->covariance_prior.values = palloc(sizeof(double));
			b->covariance_prior.values[0] = OptionNumber(key, v);
			b->covariance_prior.nvalues = 1;
		}
		else
			OptionArray(key, v, &b->covariance_prior);
	}
	else
		return false;
	if (b->given == NULL)
		b->given = pstrdup(key);
	return true;
}

/* the options a model was fitted with, as the defaults of a warm start */
void
gmm_options_from_model(GmmOptions *o, const GmmModel *m)
{
	gmm_options_init(o);
	o->fit.cov_type = (GmmCovType) m->cov_type;
	o->fit.init_params = (GmmInit) m->init_params;
	o->fit.max_iter = m->max_iter;
	o->fit.n_init = m->n_init;
	o->fit.tol = m->tol;
	o->fit.reg_covar = m->reg_covar;
	o->fit.random_state = (uint64) m->random_state;
	o->fit.rng = (GmmRngKind) m->rng;
}

/* override o with the options given in opts (NULL: none) */
void
gmm_options_apply(Jsonb *opts, GmmOptions *o)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken r;

	if (opts == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(opts) || JB_ROOT_IS_SCALAR(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gmm options must be a JSON object"),
				 errhint("Build the options with gmm_options(), e.g. gmm_options(max_iter => 200).")));

	it = JsonbIteratorInit(&opts->root);
	r = JsonbIteratorNext(&it, &k, true);
	Assert(r == WJB_BEGIN_OBJECT);
	while ((r = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		char	   *key = pnstrdup(k.val.string.val, k.val.string.len);

		r = JsonbIteratorNext(&it, &v, true);
		Assert(r == WJB_VALUE);
		if (v.type == jbvNull)
			continue;			/* null means "the default" */

		if (strcmp(key, "max_iter") == 0)
			o->fit.max_iter = (int) OptionInteger(key, &v, 0, PG_INT32_MAX);
		else if (strcmp(key, "n_init") == 0)
			o->fit.n_init = (int) OptionInteger(key, &v, 1, 1000);
		else if (strcmp(key, "random_state") == 0)
			o->fit.random_state = (uint64) OptionInteger(key, &v, 0, PG_INT64_MAX);
		else if (strcmp(key, "tol") == 0 || strcmp(key, "reg_covar") == 0)
		{
			double		d = OptionNumber(key, &v);

			if (d < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must not be negative", key)));
			if (key[0] == 't')
				o->fit.tol = d;
			else
				o->fit.reg_covar = d;
		}
		else if (strcmp(key, "covariance_type") == 0)
		{
			char	   *s = OptionString(key, &v);

			if (!gmm_cov_type_from_name(s, &o->fit.cov_type))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown covariance_type \"%s\"", s),
						 errhint("Valid covariance types are full, tied, diag and spherical.")));
		}
		else if (strcmp(key, "init_params") == 0)
		{
			char	   *s = OptionString(key, &v);

			if (!gmm_init_from_name(s, &o->fit.init_params))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown init_params \"%s\"", s),
						 errhint("Valid initialisations are kmeans, k-means++, random and random_from_data.")));
		}
		else if (strcmp(key, "rng") == 0)
		{
			char	   *s = OptionString(key, &v);
			int			rng;

			if (gmm_rng_from_name(s, &rng))
				o->fit.rng = (GmmRngKind) rng;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown rng \"%s\"", s),
						 errhint("Valid generators are xoshiro256 (ours, the default) and sklearn (numpy's RandomState with scikit-learn's draws).")));
		}
		else if (strcmp(key, "verbose") == 0)
		{
			/* gmm 1.0's gmm_train took a boolean: true is level 1 */
			if (v.type == jbvBool)
				o->verbose = v.val.boolean ? 1 : 0;
			else if (v.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"verbose\" must be 0, 1 or 2, not %s",
								gmm_jsonb_type_name(&v)),
						 errhint("0 is silent, 1 reports each initialisation and every verbose_interval iterations, 2 adds the lower bound and the time.")));
			else
				o->verbose = (int) OptionInteger(key, &v, 0, 2);
		}
		else if (strcmp(key, "verbose_interval") == 0)
			o->verbose_interval = (int) OptionInteger(key, &v, 1, PG_INT32_MAX);
		else if (strcmp(key, "missing") == 0)
			o->missing_em = gmm_missing_from_value(&v);
		else if (strcmp(key, "weights_init") == 0)
			OptionArray(key, &v, &o->weights_init);
		else if (strcmp(key, "means_init") == 0)
			OptionArray(key, &v, &o->means_init);
		else if (strcmp(key, "precisions_init") == 0)
			OptionArray(key, &v, &o->precisions_init);
		else if (BayesOption(key, &v, &o->bayes))
			continue;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized gmm option \"%s\"", key),
					 errhint("Valid options are " VALID_OPTIONS ".")));
	}
	/* numpy's RandomState(seed) takes a seed in [0, 2^32) */
	if (o->fit.rng == GMM_RNG_KIND_SKLEARN && o->fit.random_state > PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"random_state\" must be between 0 and 4294967295 with rng \"sklearn\", not " UINT64_FORMAT,
						o->fit.random_state),
				 errhint("numpy's RandomState takes 32-bit seeds.")));
}

/*
 * The sample-based, combinable fits (gmm_init, gmm_train) draw their own
 * sample: scikit-learn has no such path, so rng 'sklearn' cannot mean
 * anything there.
 */
void
gmm_options_reject_sklearn_rng(const GmmOptions *o, const char *name)
{
	if (o->fit.rng == GMM_RNG_KIND_SKLEARN)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not take rng \"sklearn\"", name),
				 errdetail("%s initialises from its own sample of the rows, which scikit-learn has no equivalent of.", name),
				 errhint("Fit with gmm_fit(x, n_components, options) to reproduce scikit-learn's GaussianMixture, or leave rng at xoshiro256.")));
}

/* ereport unless the array option has exactly the given shape */
static void
CheckShape(const char *key, GmmArrayOption *a, int ndim, int d0, int d1, int d2,
		   int k, int d)
{
	int			want[3] = {d0, d1, d2};
	bool		ok = (a->ndim == ndim);

	for (int i = 0; ok && i < ndim; i++)
		ok = (a->dims[i] == want[i]);
	if (!ok)
	{
		StringInfoData got;
		StringInfoData exp;

		initStringInfo(&got);
		initStringInfo(&exp);
		for (int i = 0; i < a->ndim; i++)
			appendStringInfo(&got, "%s%d", i ? ", " : "", a->dims[i]);
		for (int i = 0; i < ndim; i++)
			appendStringInfo(&exp, "%s%d", i ? ", " : "", want[i]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" has shape (%s), expected (%s)",
						key, got.data, exp.data),
				 errdetail("The model has %d components and %d features.", k, d)));
	}
}

/* numpy.allclose(a, a.T) for one d x d block, as scikit-learn checks */
static bool
IsSymmetric(const double *a, int d)
{
	for (int i = 0; i < d; i++)
		for (int j = 0; j < i; j++)
		{
			double		x = a[(size_t) i * d + j];
			double		y = a[(size_t) j * d + i];

			if (fabs(x - y) > 1e-8 + 1e-5 * fabs(y))
				return false;
		}
	return true;
}

void
gmm_options_bind_init(GmmOptions *o, int k, int d)
{
	GmmCovType	t = o->fit.cov_type;

	if (o->bayes.given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" applies to gmm_fit_bayesian only", o->bayes.given),
				 errhint("Fit a Bayesian mixture with gmm_fit_bayesian(x, n_components, options).")));
	o->fit.n_components = k;
	o->fit.weights_init = NULL;
	o->fit.means_init = NULL;
	o->fit.precisions_init = NULL;

	if (o->weights_init.values)
	{
		double		sum = 0;

		CheckShape("weights_init", &o->weights_init, 1, k, 0, 0,
						   k, d);
		for (int j = 0; j < k; j++)
		{
			double		w = o->weights_init.values[j];

			if (!(w > 0 && w <= 1))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("weights_init[%d] must be in (0, 1], not %g", j, w)));
			sum += w;
		}
		if (fabs(sum - 1.0) > 1e-9)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weights_init must sum to 1, not %.15g", sum),
					 errhint("Divide the weights by their sum.")));
		o->fit.weights_init = o->weights_init.values;
	}
	if (o->means_init.values)
	{
		CheckShape("means_init", &o->means_init, 2, k, d, 0,
						   k, d);
		o->fit.means_init = o->means_init.values;
	}
	if (o->precisions_init.values)
	{
		GmmArrayOption *p = &o->precisions_init;

		switch (t)
		{
			case GMM_COV_FULL:
				CheckShape("precisions_init", p, 3, k, d, d,
						   k, d);
				break;
			case GMM_COV_TIED:
				CheckShape("precisions_init", p, 2, d, d, 0,
						   k, d);
				break;
			case GMM_COV_DIAG:
				CheckShape("precisions_init", p, 2, k, d, 0,
						   k, d);
				break;
			case GMM_COV_SPHERICAL:
				CheckShape("precisions_init", p, 1, k, 0, 0,
						   k, d);
				break;
		}
		if (t == GMM_COV_FULL || t == GMM_COV_TIED)
		{
			int			nblocks = (t == GMM_COV_FULL) ? k : 1;

			for (int j = 0; j < nblocks; j++)
				if (!IsSymmetric(p->values + (size_t) j * d * d, d))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("precisions_init[%d] is not symmetric", j)));
		}
		else
		{
			for (int i = 0; i < p->nvalues; i++)
				if (!(p->values[i] > 0))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("precisions_init must be positive, but element %d is %g",
									i, p->values[i])));
		}
		o->fit.precisions_init = p->values;
	}
}

/*
 * scikit-learn's verbose messages (_print_verbose_msg_init_beg, _iter_end,
 * _init_end) as NOTICEs: level 1 names each initialisation, every
 * verbose_interval-th iteration with its change of the lower bound, and
 * whether the run converged; level 2 adds the lower bound, and the time
 * since the previous report as a detail (so that a test can hide it with
 * VERBOSITY terse).
 */
void
gmm_verbose_start(GmmVerbose *v, const GmmOptions *o)
{
	v->level = o->verbose;
	v->interval = o->verbose_interval > 0 ? o->verbose_interval : 10;
	INSTR_TIME_SET_CURRENT(v->init_start);
	v->last_report = v->init_start;
}

static double
SecondsSince(instr_time *since, bool reset)
{
	instr_time	now;
	instr_time	d;

	INSTR_TIME_SET_CURRENT(now);
	d = now;
	INSTR_TIME_SUBTRACT(d, *since);
	if (reset)
		*since = now;
	return INSTR_TIME_GET_DOUBLE(d);
}

void
gmm_verbose_progress(const GmmProgress *ev, void *arg)
{
	GmmVerbose *v = (GmmVerbose *) arg;

	if (v->level <= 0)
		return;
	switch (ev->kind)
	{
		case GMM_PROGRESS_INIT_BEGIN:
			INSTR_TIME_SET_CURRENT(v->init_start);
			v->last_report = v->init_start;
			ereport(NOTICE, (errmsg("initialization %d", ev->init)));
			break;
		case GMM_PROGRESS_ITER_END:
			if (ev->iter % v->interval != 0)
				break;
			if (v->level == 1)
				ereport(NOTICE,
						(errmsg("iteration %d: lower bound change %.5g",
								ev->iter, ev->change)));
			else
				ereport(NOTICE,
						(errmsg("iteration %d: lower bound change %.5g, lower bound %.10g",
								ev->iter, ev->change, ev->lower_bound),
						 errdetail("%.5f s since the last report.",
								   SecondsSince(&v->last_report, true))));
			break;
		case GMM_PROGRESS_INIT_END:
			if (v->level == 1)
				ereport(NOTICE,
						(errmsg("initialization %d %s", ev->init,
								ev->converged ? "converged" : "did not converge")));
			else
				ereport(NOTICE,
						(errmsg("initialization %d %s: lower bound %.10g", ev->init,
								ev->converged ? "converged" : "did not converge",
								ev->lower_bound),
						 errdetail("%.5f s since the initialization started.",
								   SecondsSince(&v->init_start, false))));
			break;
	}
}
