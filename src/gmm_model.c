/*
 * gmm_model.c
 *	  The gmm value itself: size and allocation, gmm_model_finish (the one
 *	  validation path of every constructor), enum names, the numerical
 *	  core's host hooks, module initialisation (GUCs) and BLAS diagnostics.
 */
#include "postgres.h"

#include <dlfcn.h>
#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "blas.h"
#include "gmm.h"

PG_MODULE_MAGIC;

/*
 * Relative tolerance of the symmetry check of full and tied covariances:
 * loose enough for matrices computed in floating point (BLAS), tight enough
 * to catch a typo.
 */
#define GMM_SYMMETRY_RTOL	1e-9

/* weights must sum to 1 within this before they are renormalised */
#define GMM_WEIGHT_SUM_TOL	1e-9

static const char *const cov_type_names[GMM_COV_NTYPES] = {
	"full", "tied", "diag", "spherical"
};

/* scikit-learn's init_params values */
static const char *const init_names[GMM_INIT_NMETHODS] = {
	"kmeans", "k-means++", "random", "random_from_data"
};

static int	gmm_blas_threads = 1;
int			gmm_fit_workers = 1;
static void (*openblas_set_num_threads_p) (int) = NULL;

void		_PG_init(void);

/* gmm.blas_threads assign hook: a no-op unless the backend runs OpenBLAS */
static void
AssignBlasThreads(int newval, void *extra)
{
	if (openblas_set_num_threads_p != NULL)
		openblas_set_num_threads_p(newval);
}

void
_PG_init(void)
{
#ifdef RTLD_DEFAULT
	openblas_set_num_threads_p = (void (*) (int))
		dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
#endif

	DefineCustomIntVariable("gmm.blas_threads",
							"Number of threads OpenBLAS may use in one backend.",
							"Has no effect with a single-threaded BLAS.  Keep it "
							"at 1 when parallel workers already use every core.",
							&gmm_blas_threads,
							1, 1, 64,
							PGC_USERSET,
							0,
							NULL, AssignBlasThreads, NULL);

	DefineCustomIntVariable("gmm.fit_workers",
							"Number of cores one fit may use for its EM iterations.",
							"Threads of the backend that compute the E-step of "
							"gmm_fit, gmm_refit and gmm_fit_auto; the model does not "
							"depend on it.  1 runs every fit on the backend's own "
							"core, as parallel query does not apply to one aggregate.",
							&gmm_fit_workers,
							1, 1, GMM_MAX_FIT_WORKERS,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("gmm");

	gmm_score_init();
}

/* Append "label: library path" for the library that defines addr. */
static void
AppendLibraryOf(StringInfo buf, const char *label, const void *addr)
{
	Dl_info		info;

	if (dladdr(addr, &info) != 0 && info.dli_fname != NULL)
		appendStringInfo(buf, "%s: %s", label, info.dli_fname);
	else
		appendStringInfo(buf, "%s: unknown", label);
}

/*
 * The CPU's vector extensions, and a warning when OpenBLAS's kernel (core)
 * does not use them: the server's environment should name a better one.
 */
static void
AppendBetterCore(StringInfo buf, const char *core)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
	bool		avx2 = __builtin_cpu_supports("avx2");
	bool		avx512f = __builtin_cpu_supports("avx512f");
	const char *better = gmm_blas_better_core_here(core);

	appendStringInfo(buf, "; cpu: %s", avx512f ? "avx512f avx2" : avx2 ? "avx2" : "no avx2");
	if (better != NULL)
		appendStringInfo(buf, "; WARNING: OpenBLAS runs its %s kernels on a CPU with %s; "
						 "set OPENBLAS_CORETYPE=%s in the server's environment (README, \"BLAS kernels\")",
						 core, avx512f ? "AVX-512" : "AVX2", better);
#endif
}

/*
 * Which BLAS and LAPACK this backend runs, for troubleshooting performance:
 * the libraries defining dgemm_ and dpotrf_, and OpenBLAS's build
 * configuration and thread count when OpenBLAS is loaded.
 */
PG_FUNCTION_INFO_V1(gmm_blas_info);
Datum
gmm_blas_info(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	AppendLibraryOf(&buf, "blas", (const void *) dgemm_);
	appendStringInfoString(&buf, "; ");
	AppendLibraryOf(&buf, "lapack", (const void *) dpotrf_);
#ifdef RTLD_DEFAULT
	{
		char	   *(*get_config) (void);
		int			(*get_threads) (void);

		const char *core = gmm_blas_core_name();

		get_config = (char *(*) (void)) dlsym(RTLD_DEFAULT, "openblas_get_config");
		get_threads = (int (*) (void)) dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
		if (get_config != NULL)
			appendStringInfo(&buf, "; openblas: %s", get_config());
		if (get_threads != NULL)
			appendStringInfo(&buf, "; threads: %d", get_threads());
		if (core != NULL)
		{
			appendStringInfo(&buf, "; core: %s", core);
			AppendBetterCore(&buf, core);
		}
	}
#endif
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/* The core's host services: palloc, pfree, CHECK_FOR_INTERRUPTS. */
static void *
HookAlloc(size_t size, void *arg)
{
	return palloc_extended(size, MCXT_ALLOC_HUGE);
}

static void
HookRelease(void *ptr, void *arg)
{
	pfree(ptr);
}

static void
HookCheckInterrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/* what CHECK_FOR_INTERRUPTS tests before it does anything */
static bool
HookInterruptPending(void *arg)
{
	return InterruptPending != 0;
}

void
gmm_core_hooks(GmmHooks *hooks)
{
	hooks->alloc = HookAlloc;
	hooks->release = HookRelease;
	hooks->check_interrupts = HookCheckInterrupts;
	hooks->arg = NULL;
	hooks->interrupt_pending = HookInterruptPending;
}

/* Index of name in names[n], or -1. */
static int
LookupName(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *
gmm_cov_type_name(GmmCovType t)
{
	if ((int) t < 0 || (int) t >= GMM_COV_NTYPES)
		elog(ERROR, "invalid gmm covariance type %d", (int) t);
	return cov_type_names[t];
}

bool
gmm_cov_type_from_name(const char *name, GmmCovType *t)
{
	int			i = LookupName(cov_type_names, GMM_COV_NTYPES, name);

	if (i >= 0)
		*t = (GmmCovType) i;
	return i >= 0;
}

const char *
gmm_init_name(GmmInit i)
{
	if ((int) i < 0 || (int) i >= GMM_INIT_NMETHODS)
		elog(ERROR, "invalid gmm init_params %d", (int) i);
	return init_names[i];
}

bool
gmm_init_from_name(const char *name, GmmInit *i)
{
	int			j = LookupName(init_names, GMM_INIT_NMETHODS, name);

	if (j >= 0)
		*i = (GmmInit) j;
	return j >= 0;
}

static const char *const rng_names[GMM_RNG_NKINDS] = {"xoshiro256", "sklearn"};

const char *
gmm_rng_name(int rng)
{
	return rng >= 0 && rng < GMM_RNG_NKINDS ? rng_names[rng] : "unknown";
}

bool
gmm_rng_from_name(const char *name, int *rng)
{
	for (int i = 0; i < GMM_RNG_NKINDS; i++)
		if (strcmp(name, rng_names[i]) == 0)
		{
			*rng = i;
			return true;
		}
	return false;
}

/* Raise ERRCODE_PROGRAM_LIMIT_EXCEEDED when a shape is beyond the limits. */
static void
CheckShapeLimits(int k, int d, int n_trace)
{
	if (k > GMM_MAX_COMPONENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm cannot have more than %d components",
						GMM_MAX_COMPONENTS),
				 errdetail("The model has %d components.", k)));
	if (d > GMM_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm cannot have more than %d features",
						GMM_MAX_FEATURES),
				 errdetail("The model has %d features.", d)));
	if (n_trace > GMM_MAX_TRACE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm cannot have more than %d bic_trace entries",
						GMM_MAX_TRACE),
				 errdetail("The model has %d entries.", n_trace)));
}

/*
 * Bytes of a model of the given shape (header, parameters with the derived
 * prec_chol and log_det, trace pairs); raises ERRCODE_PROGRAM_LIMIT_EXCEEDED
 * beyond the limits or MaxAllocSize.
 */
Size
gmm_model_size(GmmCovType t, int k, int d, int n_trace)
{
	Size		cov;
	Size		ndoubles;
	Size		size;

	if ((int) t < 0 || (int) t >= GMM_COV_NTYPES || k < 1 || d < 1 ||
		n_trace < 0)
		elog(ERROR, "invalid gmm shape: type %d, %d components, %d features, %d trace entries",
			 (int) t, k, d, n_trace);
	CheckShapeLimits(k, d, n_trace);

	switch (t)
	{
		case GMM_COV_FULL:
			cov = mul_size(mul_size(k, d), d);
			break;
		case GMM_COV_TIED:
			cov = mul_size(d, d);
			break;
		case GMM_COV_DIAG:
			cov = mul_size(k, d);
			break;
		default:
			cov = k;
			break;
	}
	/* weights, log_det, means, covariances, prec_chol, trace pairs */
	ndoubles = add_size(mul_size(2, k), mul_size(k, d));
	ndoubles = add_size(ndoubles, mul_size(2, cov));
	ndoubles = add_size(ndoubles, mul_size(2, n_trace));
	size = add_size(GMM_HEADER_SIZE, mul_size(ndoubles, sizeof(double)));

	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm model is too large"),
				 errdetail("A model of %d components and %d features with %s covariance needs %zu bytes, the maximum is %zu.",
						   k, d, cov_type_names[t], size,
						   (Size) MaxAllocSize)));
	return size;
}

/*
 * A zeroed model of the given shape with its header set: format version,
 * scikit-learn's default options, no lower bound or log-likelihood (NaN).
 */
GmmModel *
gmm_model_alloc(GmmCovType t, int k, int d, int n_trace)
{
	Size		size = gmm_model_size(t, k, d, n_trace);
	GmmModel   *m = (GmmModel *) palloc0(size);

	SET_VARSIZE(m, size);
	m->version = GMM_FORMAT_VERSION_MIN;	/* gmm_model_finish sets it */
	m->cov_type = (uint8) t;
	m->init_params = (uint8) GMM_INIT_KMEANS;
	m->n_components = k;
	m->n_features = d;
	m->n_trace = n_trace;
	m->max_iter = GMM_DEFAULT_MAX_ITER;
	m->n_init = GMM_DEFAULT_N_INIT;
	m->tol = GMM_DEFAULT_TOL;
	m->reg_covar = GMM_DEFAULT_REG_COVAR;
	m->lower_bound = get_float8_nan();
	m->log_likelihood = get_float8_nan();
	return m;
}

/* "field"[i][j]... for messages; indexes are 0-based, as in JSON */
char *
gmm_format_path(const char *field, int nidx, const int *idx)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "\"%s\"", field);
	for (int i = 0; i < nidx; i++)
		appendStringInfo(&buf, "[%d]", idx[i]);
	return buf.data;
}

/*
 * Check that the n values of a field with the given shape (row-major, ndims
 * <= 3) are finite, and make -0 canonical (the text form cannot keep the
 * sign of zero, and text -> value must reproduce the same bytes).
 */
static void
CheckFiniteArray(double *x, size_t n, const char *field, int ndims,
				 const int *dims)
{
	for (size_t i = 0; i < n; i++)
	{
		if (!isfinite(x[i]))
		{
			int			idx[3];
			size_t		rest = i;

			for (int j = ndims - 1; j >= 0; j--)
			{
				idx[j] = (int) (rest % dims[j]);
				rest /= dims[j];
			}
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s is not finite",
							gmm_format_path(field, ndims, idx)),
					 errdetail("The value is %s.", float8out_internal(x[i]))));
		}
		if (x[i] == 0.0)
			x[i] = 0.0;
	}
}

/* A scalar of the header that may be NaN ("null") but not infinite. */
static void
CheckOptionalDouble(double *x, const char *field)
{
	if (isnan(*x))
		*x = get_float8_nan();
	else if (isinf(*x))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"%s\" must be finite or null", field)));
	else if (*x == 0.0)
		*x = 0.0;
}

/* A scalar option that must be finite and >= 0. */
static void
CheckNonNegativeDouble(double *x, const char *field, int code)
{
	if (!isfinite(*x) || *x < 0.0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("\"%s\" must be a finite number not less than 0", field),
				 errdetail("The value is %s.", float8out_internal(*x))));
	if (*x == 0.0)
		*x = 0.0;
}

/*
 * Full or tied covariance blocks: symmetric within a relative tolerance
 * (scaled by the larger of the two elements and the geometric mean of their
 * diagonal entries), then made exactly symmetric.
 */
static void
SymmetriseBlocks(GmmParams *p)
{
	int			d = p->d;
	int			nblocks = p->cov_type == GMM_COV_FULL ? p->k : 1;

	for (int b = 0; b < nblocks; b++)
	{
		double	   *c = p->covariances + (size_t) b * d * d;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < d; i++)
		{
			for (int j = i + 1; j < d; j++)
			{
				double		a = c[(size_t) i * d + j];
				double		t = c[(size_t) j * d + i];
				double		scale;

				if (a == t)
					continue;
				scale = Max(fabs(a), fabs(t));
				scale = Max(scale, sqrt(fabs(c[(size_t) i * d + i])) *
							sqrt(fabs(c[(size_t) j * d + j])));
				if (fabs(a - t) > GMM_SYMMETRY_RTOL * scale)
				{
					if (p->cov_type == GMM_COV_FULL)
						ereport(ERROR,
								(errcode(ERRCODE_DATA_EXCEPTION),
								 errmsg("covariance matrix of component %d is not symmetric", b),
								 errdetail("Element [%d][%d] is %s but element [%d][%d] is %s.",
										   i, j, float8out_internal(a),
										   j, i, float8out_internal(t))));
					else
						ereport(ERROR,
								(errcode(ERRCODE_DATA_EXCEPTION),
								 errmsg("tied covariance matrix is not symmetric"),
								 errdetail("Element [%d][%d] is %s but element [%d][%d] is %s.",
										   i, j, float8out_internal(a),
										   j, i, float8out_internal(t))));
				}
				a = 0.5 * a + 0.5 * t;
				c[(size_t) i * d + j] = a;
				c[(size_t) j * d + i] = a;
			}
		}
	}
}

/* Weights: finite, positive, sum 1 within tolerance; then renormalised. */
static void
CheckWeights(GmmParams *p)
{
	double		sum = 0.0;

	for (int j = 0; j < p->k; j++)
	{
		double		w = p->weights[j];

		if (!isfinite(w))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("weight of component %d is not finite", j),
					 errdetail("The value is %s.", float8out_internal(w))));
		if (w <= 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("weight of component %d is not positive", j),
					 errdetail("The value is %s.", float8out_internal(w)),
					 errhint("Every component of a mixture needs a positive weight; drop the component instead.")));
		sum += w;
	}
	if (!(fabs(sum - 1.0) <= GMM_WEIGHT_SUM_TOL))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("weights must sum to 1"),
				 errdetail("The %d weights sum to %s.", p->k,
						   float8out_internal(sum))));

	/*
	 * Renormalise only beyond the rounding error of the sum itself (k ulps),
	 * so that a renormalised model is left alone the next time: text and
	 * binary round trips must reproduce the same bytes.
	 */
	if (fabs(sum - 1.0) > p->k * DBL_EPSILON)
	{
		for (int j = 0; j < p->k; j++)
			p->weights[j] /= sum;
	}
}

/* Variances of diag and spherical models must be positive. */
static void
CheckVariances(GmmParams *p)
{
	int			per = p->cov_type == GMM_COV_DIAG ? p->d : 1;

	for (int j = 0; j < p->k; j++)
		for (int i = 0; i < per; i++)
		{
			double		v = p->covariances[(size_t) j * per + i];

			if (!(v > 0.0))
			{
				int			idx[2] = {j, i};

				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("variance of component %d is not positive", j),
						 errdetail("%s is %s.",
								   gmm_format_path("covariances",
												   p->cov_type == GMM_COV_DIAG ? 2 : 1,
												   idx),
								   float8out_internal(v))));
			}
		}
}

/* bic_trace pairs: an integral number of components and a finite BIC. */
static void
CheckTrace(GmmModel *m)
{
	double	   *trace = gmm_model_trace(m);

	for (int t = 0; t < m->n_trace; t++)
	{
		double		k = trace[2 * t];
		double		bic = trace[2 * t + 1];

		if (!(k >= 1.0 && k <= GMM_MAX_COMPONENTS && k == floor(k)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("\"bic_trace\"[%d] has an invalid number of components", t),
					 errdetail("The value is %s; it must be an integer between 1 and %d.",
							   float8out_internal(k), GMM_MAX_COMPONENTS)));
		if (!isfinite(bic))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("\"bic_trace\"[%d] has a BIC that is not finite", t),
					 errdetail("The value is %s.", float8out_internal(bic))));
		if (bic == 0.0)
			trace[2 * t + 1] = 0.0;
	}
}

/*
 * Validate a model built from outside bytes (or filled by a fit) and compute
 * its derived fields.  See gmm.h.
 */
void
gmm_model_finish(GmmModel *m, int struct_code)
{
	GmmParams	p;
	int			k;
	int			d;
	int			dims[3];
	Size		expected;
	int			bad = -1;
	bool		has_sections;
	static const uint8 zero_reserved8[sizeof(m->reserved8)] = {0};

	/* structure */
	if (m->version < GMM_FORMAT_VERSION_MIN || m->version > GMM_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("unsupported gmm format version %d", m->version),
				 errdetail("This version of the extension reads format versions %d to %d.",
						   GMM_FORMAT_VERSION_MIN, GMM_FORMAT_VERSION),
				 m->version > GMM_FORMAT_VERSION ?
				 errhint("The model was written by a newer version of gmm; update the extension to read it.") : 0));
	if (m->cov_type >= GMM_COV_NTYPES)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("invalid gmm covariance type code %d", m->cov_type)));
	if (m->init_params >= GMM_INIT_NMETHODS)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("invalid gmm init_params code %d", m->init_params)));
	if ((m->flags & ~GMM_FLAGS_KNOWN) != 0)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("invalid gmm flags 0x%02x", m->flags),
				 errdetail("Unknown flag bits are set.")));
	if (m->reserved != 0 ||
		memcmp(m->reserved8, zero_reserved8, sizeof(m->reserved8)) != 0)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("reserved fields of a gmm header must be zero")));
	if (m->rng >= GMM_RNG_NKINDS)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("invalid gmm rng code %d", m->rng)));
	if (m->version == 1 && m->rng != 0)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("gmm format version 1 has no rng field"),
				 errdetail("The header's rng is %d.", m->rng)));
	if (m->n_components < 1)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("\"n_components\" must be at least 1"),
				 errdetail("The value is %d.", m->n_components)));
	if (m->n_features < 1)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("\"n_features\" must be at least 1"),
				 errdetail("The value is %d.", m->n_features)));
	if (m->n_trace < 0)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("number of bic_trace entries must not be negative")));
	expected = gmm_model_size((GmmCovType) m->cov_type, m->n_components,
							  m->n_features, m->n_trace);
	if (m->version == 1 && VARSIZE(m) != expected)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("gmm value has %zu bytes, expected %zu",
						(Size) VARSIZE(m), expected)));

	/* fit metadata and options */
	if (m->n_iter < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"n_iter\" must not be negative"),
				 errdetail("The value is %d.", m->n_iter)));
	if (m->n_samples < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"n_samples\" must not be negative"),
				 errdetail("The value is " INT64_FORMAT ".", m->n_samples)));
	if (m->max_iter < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"max_iter\" must not be negative"),
				 errdetail("The value is %d.", m->max_iter)));
	if (m->n_init < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"n_init\" must be at least 1"),
				 errdetail("The value is %d.", m->n_init)));
	CheckNonNegativeDouble(&m->sum_weights, "sum_weights", ERRCODE_DATA_EXCEPTION);
	CheckNonNegativeDouble(&m->tol, "tol", ERRCODE_INVALID_PARAMETER_VALUE);
	CheckNonNegativeDouble(&m->reg_covar, "reg_covar", ERRCODE_INVALID_PARAMETER_VALUE);
	CheckOptionalDouble(&m->lower_bound, "lower_bound");
	CheckOptionalDouble(&m->log_likelihood, "log_likelihood");

	/* parameters */
	k = m->n_components;
	d = m->n_features;
	gmm_model_params(m, &p);
	CheckWeights(&p);
	dims[0] = k;
	dims[1] = d;
	CheckFiniteArray(p.means, (size_t) k * d, "means", 2, dims);
	switch (p.cov_type)
	{
		case GMM_COV_FULL:
			dims[1] = d;
			dims[2] = d;
			CheckFiniteArray(p.covariances, (size_t) k * d * d, "covariances", 3, dims);
			break;
		case GMM_COV_TIED:
			dims[0] = d;
			CheckFiniteArray(p.covariances, (size_t) d * d, "covariances", 2, dims);
			break;
		case GMM_COV_DIAG:
			CheckFiniteArray(p.covariances, (size_t) k * d, "covariances", 2, dims);
			break;
		case GMM_COV_SPHERICAL:
			CheckFiniteArray(p.covariances, (size_t) k, "covariances", 1, dims);
			break;
	}
	if (p.cov_type == GMM_COV_FULL || p.cov_type == GMM_COV_TIED)
		SymmetriseBlocks(&p);
	else
		CheckVariances(&p);
	CheckTrace(m);

	/* derived fields: always recomputed, never trusted */
	if (gmm_compute_precision_cholesky(&p, &bad) == GMM_OK)
	{
		size_t		c = gmm_cov_size(p.cov_type, k, d);

		/* a Cholesky factor that overflows is as useless as a failed one */
		for (size_t i = 0; i < c && bad < 0; i++)
		{
			if (!isfinite(p.prec_chol[i]))
				bad = p.cov_type == GMM_COV_TIED ? 0 :
					(int) (i / (c / (size_t) k));
			else if (p.prec_chol[i] == 0.0)
				p.prec_chol[i] = 0.0;	/* no -0 from dtrtri in the output */
		}
		for (int j = 0; j < k && bad < 0; j++)
			if (!isfinite(p.log_det[j]))
				bad = p.cov_type == GMM_COV_TIED ? 0 : j;
	}
	else if (bad < 0)
		bad = 0;
	if (bad >= 0)
	{
		if (p.cov_type == GMM_COV_TIED)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("tied covariance matrix is not positive definite"),
					 errhint("Decrease the number of components, increase reg_covar, or scale the data.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("covariance matrix of component %d is not positive definite", bad),
					 errhint("Decrease the number of components, increase reg_covar, or scale the data.")));
	}

	/* version 2's sections, last: their checks may use every other field */
	has_sections = gmm_model_check_sections(m, expected, struct_code);
	/* stored in the lowest version that holds it */
	m->version = (has_sections || m->rng != 0) ? 2 : 1;
}
