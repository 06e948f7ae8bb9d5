/*
 * gmm_core.h
 *	  The numerical core of gmm: k-means, EM and linear algebra over packed
 *	  rows of doubles.  Plain C99 with BLAS/LAPACK; no PostgreSQL headers, so
 *	  the C unit tests in test/unit link it directly.
 *
 * Conventions
 *	  - Every matrix is row-major.  X is n x d, means k x d.
 *	  - Covariance and precision-Cholesky arrays have scikit-learn's shapes,
 *		flattened row-major (gmm_cov_size doubles):
 *			full       k x d x d
 *			tied       d x d
 *			diag       k x d
 *			spherical  k
 *	  - prec_chol is scikit-learn's precisions_cholesky_: for full and tied an
 *		upper-triangular U (lower part stored as zeros) with precision = U U^T,
 *		U = inv(L)^T where cov = L L^T; for diag and spherical 1/sqrt(var).
 *	  - log_det[j] is the log-determinant of component j's prec_chol
 *		(scikit-learn's _compute_log_det_cholesky), one value per component
 *		for every covariance type.
 *	  - Memory comes from GmmHooks.alloc, and check_interrupts may not return
 *		(PostgreSQL longjmps out of it), so the core never holds a resource
 *		that the host's allocator cannot reclaim.
 */
#ifndef GMM_CORE_H
#define GMM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum GmmCovType
{
	GMM_COV_FULL = 0,
	GMM_COV_TIED = 1,
	GMM_COV_DIAG = 2,
	GMM_COV_SPHERICAL = 3
} GmmCovType;

#define GMM_COV_NTYPES 4

typedef enum GmmInit
{
	GMM_INIT_KMEANS = 0,		/* labels of a full k-means run (default) */
	GMM_INIT_KMEANSPP = 1,		/* one-hot on the k-means++ seeds only */
	GMM_INIT_RANDOM = 2,		/* uniform random responsibilities */
	GMM_INIT_RANDOM_FROM_DATA = 3	/* one-hot on k distinct random rows */
} GmmInit;

#define GMM_INIT_NMETHODS 4

/* Result codes of the core.  Anything but GMM_OK leaves outputs undefined. */
typedef enum GmmStatus
{
	GMM_OK = 0,
	GMM_ERR_NOT_PD,				/* a covariance (component *bad) is not
								 * positive definite */
	GMM_ERR_INIT_NOT_PD,		/* precisions_init[*bad] is not positive
								 * definite */
	GMM_ERR_TOO_FEW_SAMPLES,	/* fewer rows with positive weight than
								 * components */
	GMM_ERR_ZERO_WEIGHT,		/* total sample weight is zero */
	GMM_ERR_NO_OBSERVED			/* missing-data fit: feature *bad has no
								 * observed value to initialise from */
} GmmStatus;

/* Host services: allocation, cancellation. */
typedef struct GmmHooks
{
	/* never returns NULL: raises (PostgreSQL) or aborts (tests) on failure */
	void	   *(*alloc) (size_t size, void *arg);
	void		(*release) (void *ptr, void *arg);
	/* called once per EM/k-means iteration and once per block of rows */
	void		(*check_interrupts) (void *arg);
	void	   *arg;
	/*
	 * whether check_interrupts would do anything now, without doing it (a
	 * flag's read), so that a parallel pass stops its threads before
	 * calling it; NULL where check_interrupts never leaves by longjmp
	 * (tests, benchmarks), which is then called with the threads waiting
	 */
	bool		(*interrupt_pending) (void *arg);
} GmmHooks;

/*
 * Model parameters.  The arrays usually point into one contiguous buffer laid
 * out by gmm_params_bind (weights, means, covariances, prec_chol, log_det),
 * which is also the layout of the data area of the SQL type.
 */
typedef struct GmmParams
{
	GmmCovType	cov_type;
	int			k;
	int			d;
	double	   *weights;		/* k, positive, sum 1 */
	double	   *means;			/* k x d */
	double	   *covariances;	/* gmm_cov_size */
	double	   *prec_chol;		/* gmm_cov_size */
	double	   *log_det;		/* k */
} GmmParams;

/* Number of doubles of the covariances (and of prec_chol) of a model. */
extern size_t gmm_cov_size(GmmCovType t, int k, int d);

/* Number of doubles gmm_params_bind lays out: 2k + kd + 2 cov_size. */
extern size_t gmm_params_ndoubles(GmmCovType t, int k, int d);

/* Point p's arrays into buf (gmm_params_ndoubles doubles) in the layout order. */
extern void gmm_params_bind(GmmParams *p, GmmCovType t, int k, int d, double *buf);

/* Free parameters of the model, as scikit-learn's _n_parameters. */
extern int64_t gmm_n_parameters(GmmCovType t, int k, int d);

/*
 * From p->covariances, compute p->prec_chol and p->log_det.  Full and tied
 * covariances must be symmetric (checked by the caller); returns
 * GMM_ERR_NOT_PD with *bad set to the component when a Cholesky fails.
 */
extern GmmStatus gmm_compute_precision_cholesky(GmmParams *p, int *bad);

/*
 * Scoring one row.  Fills logprob[j] = log(weight_j) + log N(x | j) for each
 * component and returns log-sum-exp over j (scikit-learn's score_samples).
 * log_weights: k precomputed log(weights); work: at least 2 d doubles.  No
 * allocation, no LAPACK call (src/core/score.c).
 */
extern double gmm_row_log_prob(const GmmParams *p, const double *log_weights,
							   const double *x, double *logprob, double *work);

/*
 * gmm_row_log_prob for many rows of one model: gmm_score_lanes lays out
 * full and tied models once (gmm_score_lanes_ndoubles doubles, from a
 * 64-byte boundary; 0 for diagonal and spherical models and for fewer
 * than four components, which have none) with the components side by side, a group
 * per vector, and gmm_row_log_prob_lanes scores a row from them (lanes
 * NULL: gmm_row_log_prob).  The same values as gmm_row_log_prob to a few
 * ulp (another order of the sums), at either width.
 * work: gmm_score_lanes_work_ndoubles(d) doubles (at least 2 d).
 */
extern size_t gmm_score_lanes_ndoubles(GmmCovType t, int k, int d);
extern size_t gmm_score_lanes_work_ndoubles(int d);
extern void gmm_score_lanes(const GmmParams *p, double *lanes);
extern double gmm_row_log_prob_lanes(const GmmParams *p, const double *lanes,
									 const double *log_weights, const double *x,
									 double *logprob, double *work);

/*
 * The function gmm_row_log_prob_lanes runs for p and lanes (by the CPU, the
 * width and the number of features): a caller scoring many rows of one
 * model takes it once and calls it per row, without the choice each time.
 * Valid while p's shape and lanes are, and until the next
 * gmm_score_lanes_set_width or gmm_score_lanes_set_unrolled.
 */
typedef double (*GmmRowLogProbFn) (const GmmParams *p, const double *lanes,
								   const double *log_weights, const double *x,
								   double *logprob, double *work);
extern GmmRowLogProbFn gmm_row_log_prob_lanes_fn(const GmmParams *p, const double *lanes);

/*
 * For tests and benchmarks only, before any lanes are made (the scoring
 * lanes, and gmm_precisions's): the lanes' width, 4, or 8 where the CPU
 * has AVX-512; 0 (or another value): by the CPU and the number of
 * components (gmm_score_lanes_ndoubles), the default.  Not for the
 * server (a process-wide setting).
 */
extern void gmm_score_lanes_set_width(int width);

/*
 * For tests and benchmarks only: whether the lanes up to 16 features run
 * their unrolled kernels (true, the default) or the generic loop, which
 * gives the same bits.
 */
extern void gmm_score_lanes_set_unrolled(bool on);

/*
 * The vector width, in doubles, of the core's lanes kernels on this CPU
 * (8 with AVX-512, else 4; gmm_score_lanes_set_width's choice if made):
 * the scoring lanes and the missing values' Schur lanes (marginal.c).
 */
extern int	gmm_lanes_cpu_width(void);

/*
 * The vector width, in doubles, of the blocked E-step's kernels (em.c,
 * em_block.h): 4 on a CPU with AVX2 and FMA but not AVX-512, else 8.
 * gmm_em_set_width, for tests and benchmarks only, before a fit: 8, or 4
 * where the CPU has AVX2; 0 (or another value): by the CPU, the default.
 */
extern void gmm_em_set_width(int width);
extern int	gmm_em_width(void);

/*
 * Given the logprob[] of gmm_row_log_prob and its log-sum-exp, turn logprob
 * into responsibilities (in place, summing to 1) and return the argmax.
 */
extern int	gmm_row_responsibilities(int k, double *logprob, double lse);

/*
 * Progress of a fit, reported to the host (scikit-learn's verbose messages):
 * the start of initialisation run init, the end of EM iteration iter (1-based,
 * every one: the host picks every verbose_interval-th), and the end of the
 * run with its lower bound and whether it converged.
 */
typedef enum GmmProgressKind
{
	GMM_PROGRESS_INIT_BEGIN = 0,
	GMM_PROGRESS_ITER_END = 1,
	GMM_PROGRESS_INIT_END = 2
} GmmProgressKind;

typedef struct GmmProgress
{
	GmmProgressKind kind;
	int			init;			/* run number, 0-based */
	int			iter;			/* ITER_END: iteration, 1-based */
	double		lower_bound;	/* ITER_END, INIT_END */
	double		change;			/* ITER_END: lower bound minus the previous */
	bool		converged;		/* INIT_END */
} GmmProgress;

typedef void (*GmmProgressFn) (const GmmProgress *ev, void *arg);

/*
 * The hook that turns gmm_fit's EM into scikit-learn's variational fit
 * (bayes.c sets it up; see gmm_fit_bayesian).  The loop, initialisations,
 * n_init and progress reports stay EM's; the hook replaces the M-step, the
 * E-step's log weights and the lower bound, and keeps its own variational
 * parameters for the current run and the best one.
 */
struct GmmStats;

typedef struct GmmVariational
{
	/*
	 * p holds gmm_stats_mstep_params' estimate from s (xk as means, sk with
	 * reg_covar as covariances): replace it by the model's weights, means
	 * and covariances with prec_chol and log_det, and update the current
	 * variational parameters.
	 */
	GmmStatus	(*mstep) (void *arg, const struct GmmStats *s, GmmParams *p,
						   int *bad);
	/* the E-step's k additive log weights under the current parameters */
	const double *(*log_weights) (void *arg);
	/* the lower bound of the current parameters p, s the E-step before */
	double		(*lower_bound) (void *arg, const struct GmmStats *s,
								 const GmmParams *p);
	/* keep the current run as the best one; make the best one current */
	void		(*keep) (void *arg);
	void		(*restore) (void *arg);
	void	   *arg;
} GmmVariational;

/*
 * Which generator and which draws the random initialisations use: ours
 * (xoshiro256**, one stream per run) or scikit-learn's (numpy's legacy
 * RandomState seeded with random_state, one stream for every run, and
 * scikit-learn 1.2's own KMeans and draws: kmeans_sklearn.c).  The values
 * are those of the model header's rng byte (GMM_RNG_* in gmm.h).
 */
typedef enum GmmRngKind
{
	GMM_RNG_KIND_XOSHIRO256 = 0,
	GMM_RNG_KIND_SKLEARN = 1
} GmmRngKind;

/* Fit options, scikit-learn's meanings. */
typedef struct GmmFitOptions
{
	int			n_components;
	GmmCovType	cov_type;
	int			max_iter;		/* >= 0; 0 means initialise only */
	double		tol;			/* >= 0 */
	double		reg_covar;		/* >= 0 */
	uint64_t	random_state;
	GmmInit		init_params;
	int			n_init;			/* >= 1 */
	/*
	 * GMM_RNG_KIND_SKLEARN: random_state must be below 2^32 (numpy's
	 * seeds), first_init is not used, and the fit equals scikit-learn's
	 * GaussianMixture(random_state=random_state) for every init_params
	 */
	GmmRngKind	rng;
	/* optional initial parameters (NULL when not given), sklearn shapes */
	const double *weights_init; /* k, positive, sum 1 */
	const double *means_init;	/* k x d */
	const double *precisions_init;	/* gmm_cov_size: precisions, not Cholesky */
	/* optional warm start: EM continues from these parameters (gmm_refit) */
	const GmmParams *warm_start;
	/*
	 * with warm_start: the lower bound the warm model was fitted to (not
	 * finite: none), the previous value of the first iteration's convergence
	 * test, as scikit-learn's warm_start keeps lower_bound_
	 */
	double		warm_lower_bound;
	/* progress reports (NULL: none), with its argument */
	GmmProgressFn progress;
	void	   *progress_arg;
	/* run i uses generator stream first_init + i (default 0; lets a test
	 * replay one run of an n_init fit on its own) */
	int			first_init;
	/* threads of the E-step (gmm_stats_accumulate_parallel), >= 1 */
	int			fit_workers;
	/* rows per chunk of that E-step, a multiple of its block; 0: the
	 * default, gmm_stats_chunk_rows (tests make it small) */
	size_t		chunk_rows;
	/* the variational fit's M-step and lower bound (bayes.c; NULL: EM) */
	const struct GmmVariational *variational;
	/* optional (NULL: none): the log-densities of the rows under the final
	 * parameters (the last E-step) are added to it */
	struct GmmSketch *sketch;
} GmmFitOptions;

extern void gmm_fit_options_default(GmmFitOptions *opt, int n_components);

typedef struct GmmFitResult
{
	int			n_iter;			/* EM iterations of the kept initialisation */
	bool		converged;		/* of the kept initialisation */
	/*
	 * scikit-learn's lower_bound_: mean log-likelihood of the last E-step,
	 * i.e. of the parameters before the last M-step; -inf when max_iter = 0
	 */
	double		lower_bound;
	/* mean log-likelihood of the final parameters (one more E-step) */
	double		log_likelihood;
	double		sum_weights;	/* sum of sample weights (n when unweighted) */
	int64_t		n_samples;		/* rows with positive weight */
	int			best_init;		/* which of the n_init runs was kept */
	int			bad_component;	/* with GMM_ERR_NOT_PD / _INIT_NOT_PD (and
								 * _NO_OBSERVED: the feature) */
	int64_t		n_missing;		/* missing (NaN) values of the rows used */
} GmmFitResult;

/*
 * Fit a mixture to X (n x d) with optional sample weights w (NULL: all 1;
 * else finite and >= 0, checked by the caller).  out must be bound
 * (gmm_params_bind) for opt->cov_type, opt->n_components and d; on GMM_OK it
 * holds the fitted parameters with prec_chol and log_det.  X and w are only
 * read, so a caller may fit the same rows more than once.
 */
extern GmmStatus gmm_fit(const double *X, const double *w, size_t n, int d,
						 const GmmFitOptions *opt, const GmmHooks *hooks,
						 GmmParams *out, GmmFitResult *res);

/*
 * The fit loop shared by gmm_fit (complete rows) and gmm_fit_missing (rows
 * with NaN): n_init runs (one on a warm start or with all three initial
 * parameters), each initialised by init (or from opt->warm_start), then EM
 * until the lower bound changes by less than opt->tol or opt->max_iter
 * iterations, with progress reports and interrupt checks; the first run with
 * the highest lower bound is kept in best (res: n_iter, converged,
 * best_init; *best_lb).  The steps work on cur, bound by the caller.
 */
typedef struct GmmEmOps
{
	void	   *arg;
	/* run's initial parameters into cur (not called on a warm start) */
	GmmStatus	(*init) (void *arg, int run, GmmParams *cur, int *bad);
	/* E-step against p into the caller's statistics; *lb: the lower bound */
	GmmStatus	(*estep) (void *arg, const GmmParams *p, double *lb, int *bad);
	/* M-step of those statistics into cur; may replace *lb */
	GmmStatus	(*mstep) (void *arg, GmmParams *cur, double *lb, int *bad);
	/* cur has just been kept as the best run (NULL: nothing to do) */
	void		(*keep) (void *arg);
} GmmEmOps;

/* copy every array of src into dst (same type and shape, any layout) */
extern void gmm_params_copy(GmmParams *dst, const GmmParams *src);
extern GmmStatus gmm_em_loop(const GmmEmOps *ops, const GmmFitOptions *opt,
							 const GmmHooks *hooks, GmmParams *cur,
							 GmmParams *best, GmmFitResult *res,
							 double *best_lb, int *bad);

/*
 * Missing values (em_missing.c).  A missing value is NaN in a packed row;
 * gmm_fit hands rows with any NaN to gmm_fit_missing: EM under missing at
 * random, with the same options, results and semantics (n_samples and
 * sum_weights count the rows used: positive weight and at least one value
 * observed; rows with every value missing are skipped).  Without NaN,
 * gmm_fit never calls it, so such fits are unchanged.
 * gmm_stats_accumulate_missing is the E-step of those rows into statistics
 * of the usual layout (so gmm_stats_merge and gmm_stats_mstep apply), with
 * the number of missing values of the rows used; GMM_ERR_NOT_PD only from
 * rounding of a nearly singular precision.
 */
extern bool gmm_rows_have_nan(const double *X, size_t n, int d);
extern GmmStatus gmm_fit_missing(const double *X, const double *w, size_t n,
								 int d, const GmmFitOptions *opt,
								 const GmmHooks *hooks, GmmParams *out,
								 GmmFitResult *res);

/*
 * k-means (k-means++ seeding with scikit-learn's greedy local trials, then
 * Lloyd until the centre shift is below 1e-4 times the mean feature variance,
 * at most 300 iterations).  labels: n ints out; centers: k x d out.
 */
extern GmmStatus gmm_kmeans(const double *X, const double *w, size_t n, int d,
							int k, uint64_t seed, const GmmHooks *hooks,
							int *labels, double *centers);

/*
 * Sufficient statistics of one EM pass (the E-step plus what the M-step
 * needs), combinable by addition.  Statistics are shifted by the means of the
 * model the pass scores against (full, diag, spherical: per component; tied:
 * one global shift), so that they do not lose precision to large offsets.
 */
typedef struct GmmStats
{
	GmmCovType	cov_type;
	int			k;
	int			d;
	int64_t		n_rows;			/* rows with positive weight */
	double		sum_w;			/* sum of weights */
	double		sum_loglik;		/* sum of w * log p(x) */
	double	   *shift;			/* k x d (tied: d) */
	double	   *s0;				/* k: sum of w r */
	double	   *s1;				/* k x d: sum of w r (x - shift) */
	double	   *s2;				/* full k x d x d, tied d x d, diag and
								 * spherical k x d: sum of w r (x - shift)
								 * outer (or squared) */
	/*
	 * Hooks of the variational fit (bayes.c), set by gmm_stats_bind to
	 * NULL/false: the E-step's k per-component log weights (NULL: the
	 * model's log(weights)), and whether it also sums w * sum_j r log r
	 * into sum_entropy (zeroed by gmm_stats_reset, added by merge).
	 */
	const double *log_weights;
	bool		want_entropy;
	double		sum_entropy;
	/* optional (NULL: none; gmm_stats_bind sets NULL): the E-step adds
	 * each row's log-density to it */
	struct GmmSketch *sketch;
} GmmStats;

extern size_t gmm_stats_ndoubles(GmmCovType t, int k, int d);
extern void gmm_stats_bind(GmmStats *s, GmmCovType t, int k, int d, double *buf);
/* zero the sums and take the shift from the model */
extern void gmm_stats_reset(GmmStats *s, const GmmParams *model);
/* workspace for gmm_stats_accumulate, in doubles */
extern size_t gmm_stats_work_ndoubles(GmmCovType t, int k, int d);
/* E-step over n rows against model, adding into s (BLAS-3 per block) */
extern void gmm_stats_accumulate(GmmStats *s, const GmmParams *model,
								 const double *X, const double *w, size_t n,
								 double *work, const GmmHooks *hooks);
/*
 * The same E-step on the threads of a pool made for the fit
 * (gmm_estep_pool_create with up to workers threads, threads.c; 1 runs on
 * the caller's thread alone): the rows are cut into chunks of a fixed number of
 * blocks, each chunk's sums are made in statistics of its own and added to
 * s in chunk order.  The result therefore depends on the rows only, never on
 * workers, and for n up to one chunk (gmm_stats_chunk_rows) it is
 * gmm_stats_accumulate's to the bit.  The threads call nothing of the host;
 * hooks->check_interrupts runs on the caller's thread between waves of
 * chunks; the pool's memory comes from hooks->alloc, once per fit.
 */
typedef struct GmmEstepPool GmmEstepPool;
extern GmmEstepPool *gmm_estep_pool_create(GmmCovType t, int k, int d,
										   int workers, size_t chunk_rows,
										   const GmmHooks *hooks);
extern void gmm_estep_pool_release(GmmEstepPool *pool, const GmmHooks *hooks);
extern void gmm_stats_accumulate_parallel(GmmStats *s, const GmmParams *model,
										  const double *X, const double *w,
										  size_t n, GmmEstepPool *pool,
										  const GmmHooks *hooks);
extern size_t gmm_stats_chunk_rows(GmmCovType t, int k, int d);

/* the most threads one fit may use (gmm.fit_workers) */
#define GMM_MAX_FIT_WORKERS 64

/*
 * threads.c: a team of threads started once (gmm_team_start, in
 * gmm_team_size() bytes of the caller's memory; returns the number of
 * threads, the caller's included) and woken for each gmm_team_run, which
 * runs fn(task, worker, arg) for every task in [0, ntasks) on them and the
 * caller's thread (worker 0), every signal blocked in the others, until
 * gmm_team_stop joins them.  Nothing between start and stop may leave by
 * longjmp (the threads would outlive the memory): see
 * GmmHooks.interrupt_pending.
 */
typedef struct GmmTeam GmmTeam;
extern size_t gmm_team_size(void);
extern int	gmm_team_start(GmmTeam *team, int workers);
extern void gmm_team_run(GmmTeam *team, int ntasks,
						 void (*fn) (int task, int worker, void *arg), void *arg);
extern void gmm_team_stop(GmmTeam *team);

/* the E-step of rows with missing values (NaN), see gmm_fit_missing */
extern GmmStatus gmm_stats_accumulate_missing(GmmStats *s,
											  const GmmParams *model,
											  const double *X, const double *w,
											  size_t n, const GmmHooks *hooks,
											  int64_t *n_missing, int *bad);
/* a += b; shapes and shifts must match (the caller checks) */
extern void gmm_stats_merge(GmmStats *a, const GmmStats *b);
/* M-step: new parameters (with prec_chol, log_det) from the statistics */
extern GmmStatus gmm_stats_mstep(const GmmStats *s, double reg_covar,
								 GmmParams *out, int *bad);
/* the same without prec_chol and log_det (weights, means, covariances) */
extern void gmm_stats_mstep_params(const GmmStats *s, double reg_covar,
								   GmmParams *out);

/*
 * The centred fallback of the M-step (mstep_centred.c).  The shifted sums
 * give a component's scatter as S2 - s1 s1^T f: when its mean moved far
 * relative to its spread, both terms are nearly equal and the difference
 * keeps few or no correct digits.  gmm_stats_cancelled flags (flag[j]) the
 * components whose scatter is less than GMM_CANCEL_RATIO times its shifted
 * second moment on some diagonal entry (tied: all components or none) and
 * returns how many.  The difference's relative error is about eps (times
 * the rounding of the row sums) divided by that ratio: at 1e-6 the shifted
 * result is still good to about 1e-10, far within the 1e-6 of the
 * conformance tests, and the extra pass is needed only when a mean moves
 * by more than a thousand standard deviations in one iteration (a
 * component collapsing onto a point).  gmm_mstep_centred then recomputes the covariances of
 * the flagged components of out (weights and means already set by
 * gmm_stats_mstep_params; the flagged ones' means become scikit-learn's
 * sum w r x / nk) from the rows centred on those means, with the
 * responsibilities of the model the statistics were taken against (one more
 * pass over X, row by row), adds reg_covar, and computes every component's
 * prec_chol and log_det.
 */
#define GMM_CANCEL_RATIO 1e-6
extern int	gmm_stats_cancelled(const GmmStats *s, bool *flag);
extern GmmStatus gmm_mstep_centred(const GmmParams *model, const double *X,
								   const double *w, size_t n,
								   const GmmStats *s, const bool *flag,
								   double reg_covar, const GmmHooks *hooks,
								   GmmParams *out, int *bad);

/*
 * Variational Bayesian mixtures (bayes.c), as scikit-learn 1.2's
 * BayesianGaussianMixture.  The model's weights, means and covariances
 * (with prec_chol, log_det) are scikit-learn's weights_, means_ and
 * covariances_; the posterior parameters are kept beside them.
 */
typedef enum GmmWeightPrior
{
	GMM_PRIOR_DIRICHLET_PROCESS = 0,	/* stick-breaking (the default) */
	GMM_PRIOR_DIRICHLET_DISTRIBUTION = 1
} GmmWeightPrior;

typedef struct GmmBayesPrior
{
	GmmWeightPrior type;
	double		weight_concentration_prior; /* > 0 (default 1/k) */
	double		mean_precision_prior;	/* > 0 (default 1) */
	const double *mean_prior;	/* d (default the data mean) */
	double		degrees_of_freedom_prior;	/* > d - 1 (default d) */
	/* gmm_bayes_cov_prior_size: full and tied d x d, diag d, spherical 1 */
	const double *covariance_prior;
} GmmBayesPrior;

/*
 * Posterior parameters, GMM_BAYES_POST_NDOUBLES(k) contiguous doubles:
 * weight_concentration 2k (dirichlet_process: the k first then the k second
 * Beta parameters, scikit-learn's tuple; dirichlet_distribution: the first
 * k used), mean_precision k, degrees_of_freedom k (tied: k equal values).
 */
typedef struct GmmBayesPost
{
	double	   *weight_concentration;
	double	   *mean_precision;
	double	   *degrees_of_freedom;
} GmmBayesPost;

#define GMM_BAYES_POST_NDOUBLES(k) (4 * (size_t) (k))

extern double gmm_digamma(double x);
extern size_t gmm_bayes_cov_prior_size(GmmCovType t, int d);
extern int	gmm_bayes_concentration_size(GmmWeightPrior type, int k);
extern void gmm_bayes_post_bind(GmmBayesPost *q, int k, double *buf);

/*
 * scikit-learn's default mean_prior and covariance_prior from the rows
 * (total weight above 1); work: d doubles.
 */
extern void gmm_bayes_default_prior(const double *X, const double *w,
									size_t n, int d, GmmCovType t,
									double *mean, double *cov, double *work);
/* weights_ from the weight concentration */
extern void gmm_bayes_weights(GmmWeightPrior type, int k, const double *wc,
							  double *weights);
/*
 * The k additive constants of the E-step (scoring): _estimate_log_weights
 * plus the digamma and degrees-of-freedom terms of _estimate_log_prob, to be
 * used as gmm_row_log_prob's log_weights with the model's parameters.
 */
extern void gmm_bayes_log_weights(GmmWeightPrior type, int k, int d,
								  const GmmBayesPost *q, double *out);
/*
 * The variational M-step: p holds gmm_stats_mstep_params' estimate from s;
 * on return the model's parameters with prec_chol and log_det, q the
 * posterior.  work: k + k d doubles.
 */
extern GmmStatus gmm_bayes_mstep(const GmmBayesPrior *pr, const GmmStats *s,
								 GmmParams *p, GmmBayesPost *q, double *work,
								 int *bad);
/* _compute_lower_bound; sum_entropy: sum of w sum_j r log r of the E-step */
extern double gmm_bayes_lower_bound(GmmWeightPrior type, const GmmParams *p,
									const GmmBayesPost *q, double sum_entropy);
/*
 * Fit as gmm_fit does (options, initialisations, n_init, progress), with the
 * variational updates; out and post (bound for k) receive the kept run, and
 * res->lower_bound is scikit-learn's lower_bound_ (a sum, not a mean).
 * Ignores *_init.  With opt->warm_start (scikit-learn's warm_start): the fit
 * continues from those means and covariances and the variational parameters
 * in post (in and out), one run, the first convergence test against
 * opt->warm_lower_bound.
 */
extern GmmStatus gmm_fit_bayesian(const double *X, const double *w, size_t n,
								  int d, const GmmFitOptions *opt,
								  const GmmBayesPrior *prior,
								  const GmmHooks *hooks, GmmParams *out,
								  GmmBayesPost *post, GmmFitResult *res);

/* Seeded generator (xoshiro256**), deterministic on every platform. */
typedef struct GmmRng
{
	uint64_t	s[4];
} GmmRng;

extern void gmm_rng_seed(GmmRng *r, uint64_t seed, uint64_t stream);
extern uint64_t gmm_rng_next(GmmRng *r);
extern double gmm_rng_uniform(GmmRng *r);	/* [0, 1) */
extern double gmm_rng_normal(GmmRng *r);	/* standard normal */

/*
 * k-means++ seeding alone (the "k-means++" initialisation): k row numbers of
 * positive weight, drawn from rng, distinct unless the rows hold fewer than
 * k distinct points.  Allocates n doubles.
 */
extern GmmStatus gmm_kmeans_plusplus(const double *X, const double *w,
									 size_t n, int d, int k, GmmRng *rng,
									 const GmmHooks *hooks, size_t *indices);

/*
 * numpy's legacy generator, numpy.random.RandomState (mt19937.c): MT19937
 * seeded as RandomState(seed) seeds it, and numpy's legacy draws.
 */
#define GMM_MT_N 624
typedef struct GmmMt
{
	uint32_t	key[GMM_MT_N];
	int			pos;
} GmmMt;

extern void gmm_mt_seed(GmmMt *r, uint32_t seed);	/* RandomState(seed) */
extern uint32_t gmm_mt_next32(GmmMt *r);
extern double gmm_mt_random_sample(GmmMt *r);	/* random_sample(): [0, 1) */
extern double gmm_mt_uniform(GmmMt *r, double low, double high);
/* randint(low, high): [low, high), high > low */
extern int64_t gmm_mt_randint(GmmMt *r, int64_t low, int64_t high);
/* numpy's random_interval: [0, max] */
extern uint64_t gmm_mt_interval(GmmMt *r, uint64_t max);
/* permutation(n) into out (n values) */
extern void gmm_mt_permutation(GmmMt *r, size_t n, size_t *out);
/* choice(n, size=k, replace=False) into out (k values); work: n size_t */
extern void gmm_mt_choice(GmmMt *r, size_t n, size_t k, size_t *out,
						  size_t *work);

/*
 * scikit-learn 1.2's initialisations with its draws (kmeans_sklearn.c).
 * gmm_kmeans_plusplus_sklearn: _kmeans_plusplus on the rows X - shift (d
 * doubles; zeros for the public kmeans_plusplus, the column mean inside
 * KMeans), k row numbers into indices.  gmm_kmeans_sklearn:
 * KMeans(n_clusters=k, n_init=1, random_state=mt).fit(X) (Lloyd), its
 * labels_ and cluster_centers_; w (NULL: none) is its sample_weight.
 * gmm_numpy_sum: numpy's pairwise sum of n contiguous doubles.
 */
extern GmmStatus gmm_kmeans_plusplus_sklearn(const double *X, size_t n, int d,
											 int k, const double *shift,
											 GmmMt *mt, const GmmHooks *hooks,
											 size_t *indices);
extern GmmStatus gmm_kmeans_sklearn(const double *X, const double *w, size_t n,
									int d, int k, GmmMt *mt,
									const GmmHooks *hooks, int *labels,
									double *centers);
extern double gmm_numpy_sum(const double *a, size_t n);

/*
 * Draw n rows from the mixture: X (n x d) and component labels (NULL: not
 * wanted), from stream 0 of the generator seeded with seed.  work: d + k
 * doubles plus the Cholesky factors (gmm_sample_work_ndoubles).  Returns
 * GMM_ERR_NOT_PD if a covariance cannot be factored.
 */
extern size_t gmm_sample_work_ndoubles(GmmCovType t, int k, int d);
extern GmmStatus gmm_sample(const GmmParams *p, size_t n, uint64_t seed,
							double *X, int *labels, double *work);

/*
 * Charts (plot.c).  gmm_marginal_cov2: component j's 2 x 2 covariance over
 * features f1 and f2 (0-based, distinct), row-major.  gmm_ellipse_outline:
 * n_points + 1 points (x, y pairs in xy) of the ellipse (p - mean)^T cov^-1
 * (p - mean) = r2 around mean, counter-clockwise from t = 0, the last equal
 * to the first; GMM_ERR_NOT_PD when cov is not positive definite.
 */
extern void gmm_marginal_cov2(const GmmParams *p, int j, int f1, int f2,
							  double *cov);
extern GmmStatus gmm_ellipse_outline(const double *mean, const double *cov,
									 double r2, int n_points, double *xy);

/*
 * blas_kernel.c: given OpenBLAS's core name (openblas_get_corename) and the
 * CPU's features, the OPENBLAS_CORETYPE that would replace a generic
 * (pre-AVX2) kernel on a CPU with AVX2, or an AVX2 one on a CPU with
 * AVX-512, or NULL when the kernel already fits the CPU.
 */
extern const char *gmm_blas_better_core(const char *corename, bool avx2,
										bool avx512f, bool amd);

/* OpenBLAS's core name (its kernels), or NULL where it is not the BLAS */
extern const char *gmm_blas_core_name(void);

/* gmm_blas_better_core with this CPU's features (NULL off x86) */
extern const char *gmm_blas_better_core_here(const char *corename);

/*
 * Missing values (marginal.c).  A missing feature is NaN in a packed row: a
 * NaN from the user is an input error, rejected before the core sees it.
 *
 * gmm_row_log_prob_missing is gmm_row_log_prob of the mixture's marginal
 * over the observed (non-NaN) features of x, which must have at least one:
 * for full and tied covariances through the Schur complement of each
 * precision over the m missing features (an m x m LDL^T factor, no
 * factorisation of the observed block), for diag and spherical by leaving
 * the missing terms out.  A row without NaN takes gmm_row_log_prob's path
 * (the same result to the bit).  Returns NaN when a principal block of a
 * precision is numerically singular.  prec: NULL, or (full and tied) the
 * precisions of gmm_precisions, which save the m x m blocks' dot products
 * (and for full covariances lay the components out four or eight to a
 * vector: gmm_lanes_cpu_width).
 * work: gmm_missing_work_ndoubles(t, k, d, m) doubles for a row with m
 * missing features (or more: the size grows with m).  No allocation.
 *
 * gmm_precisions: prec_chol U U^T, full k x d x d, tied d x d (the precision
 * matrices), for full covariances followed by U, P and the means laid out
 * with the components interleaved: gmm_precisions_ndoubles doubles; only
 * for full and tied.
 */
extern int	gmm_row_count_missing(const double *x, int d);
extern size_t gmm_missing_work_ndoubles(GmmCovType t, int k, int d, int m);
extern double gmm_row_log_prob_missing(const GmmParams *p,
									   const double *prec,
									   const double *log_weights,
									   const double *x, double *logprob,
									   double *work);
extern size_t gmm_precisions_ndoubles(GmmCovType t, int k, int d);
extern void gmm_precisions(const GmmParams *p, double *prec);

/*
 * gmm_impute_row: out (d) = x with each NaN replaced by its conditional
 * expectation given the observed features, the responsibility-weighted
 * conditional means; a row without NaN is copied, an all-NaN row gets the
 * mixture mean.  work as above.  GMM_ERR_NOT_PD as NaN above.
 */
extern GmmStatus gmm_impute_row(const GmmParams *p, const double *x,
								double *out, double *work);

/*
 * gmm_condition_params: the mixture of the m missing features of x given
 * its observed ones (1 <= m < d), into out bound for (p->cov_type, p->k,
 * m): weights the responsibilities of the observed part (some may be 0 when
 * densities underflow), means the conditional means, covariances the Schur
 * complements (full: per component; tied: one; diag and spherical: the
 * components' own variances, as the features are independent given the
 * component), with prec_chol and log_det.  work as above.
 */
extern GmmStatus gmm_condition_params(const GmmParams *p, const double *x,
									  GmmParams *out, double *work, int *bad);

/*
 * gmm_marginal_params: the mixture over features[0 .. nf-1] (0-based,
 * distinct, < d, in that order) into out bound for (p->cov_type, p->k, nf):
 * the same weights, the means and covariances restricted to those features
 * (a spherical model stays spherical), with prec_chol and log_det.
 */
extern GmmStatus gmm_marginal_params(const GmmParams *p, int nf,
									 const int *features, GmmParams *out,
									 int *bad);

/*
 * Quantile sketch of weighted values (sketch.c): mergeable and
 * deterministic (the same rows give the same sketch, bit for bit, however
 * they are split and merged), at most GMM_SKETCH_MAX_BUCKETS buckets (a
 * flat struct of about 30 kB, no pointers).  Rows with weight <= 0 or a NaN
 * value are ignored.  gmm_sketch_merge is not reentrant (static scratch).
 */
#define GMM_SKETCH_MAX_BUCKETS	1400
#define GMM_SKETCH_LEVEL0		40
#define GMM_SKETCH_FAR_LEVEL	4	/* the far region's finest level */
#define GMM_SKETCH_USCALE		8	/* buckets over 2^8 (anchor - v) */
#define GMM_XSUM_WORDS			70

typedef struct GmmXSum
{
	int64_t		d[GMM_XSUM_WORDS];	/* base-2^32 digits of an exact sum */
	int64_t		nadd;
} GmmXSum;

typedef struct GmmSketch
{
	int32_t		level;			/* buckets are 2^-level wide in g */
	int32_t		nbuckets;
	int32_t		last;			/* the bucket last added to (a hint) */
	int32_t		g_far;			/* the far region: g >= g_far */
	double		anchor;			/* values are bucketed by anchor - v */
	int64_t		n_rows;
	double		vmin;
	double		vmax;
	GmmXSum		sw;				/* sum of w */
	GmmXSum		swv;			/* sum of w v */
	GmmXSum		swv2;			/* sum of w v^2 */
	int64_t		key[GMM_SKETCH_MAX_BUCKETS];	/* starts, level-L0 cells,
												 * increasing */
	uint64_t	wlo[GMM_SKETCH_MAX_BUCKETS];	/* weight, 2^-32 units: low */
	uint32_t	whi[GMM_SKETCH_MAX_BUCKETS];	/* and high 32 bits */
} GmmSketch;

/*
 * Values are bucketed by their signed distance below anchor: absolute
 * resolution near it, relative resolution far from it; beyond u_far
 * below it buckets are coarse.  Only sketches with the same anchor and u_far
 * merge (gmm_sketch_merge returns false otherwise).  gmm_sketch_init_model:
 * the anchor and u_far for the log-densities of a model's rows.
 */
extern void gmm_sketch_init(GmmSketch *s, double anchor, double u_far);
extern void gmm_sketch_init_model(GmmSketch *s, const GmmParams *p);
extern void gmm_sketch_add(GmmSketch *s, double v, double w);
extern bool gmm_sketch_compatible(const GmmSketch *a, const GmmSketch *b);
extern bool gmm_sketch_merge(GmmSketch *a, const GmmSketch *b);
/* a canonical encoding in 64-bit words, and its checked inverse */
extern size_t gmm_sketch_packed_nwords(const GmmSketch *s);
extern void gmm_sketch_pack(const GmmSketch *s, uint64_t *out);
extern bool gmm_sketch_unpack(GmmSketch *s, const uint64_t *in, size_t nwords);

/*
 * The calibration summary of a sketch, as a model stores it (doubles):
 * n_rows, sum_weights, min, max, mean, sd, n_knots M, then M knots, knot i
 * the quantile at q_i = gmm_calib_knot_q(i, M) = sin^2(pi i / (2 (M - 1))).
 * gmm_sketch_summary writes GMM_CALIB_HEADER + m words (0 when the sketch
 * is empty).
 */
#define GMM_CALIB_N_ROWS		0
#define GMM_CALIB_SUM_W			1
#define GMM_CALIB_MIN			2
#define GMM_CALIB_MAX			3
#define GMM_CALIB_MEAN			4
#define GMM_CALIB_SD			5
#define GMM_CALIB_N_KNOTS		6
#define GMM_CALIB_HEADER		7
/* knots of new models (gmm 1.2 stored 1025; any count up to the maximum reads) */
#define GMM_CALIB_KNOTS			513
#define GMM_CALIB_MAX_KNOTS		4096

extern size_t gmm_sketch_summary(const GmmSketch *s, int m, double *out);
extern double gmm_calib_knot_q(int i, int m);
/* NULL if valid (-0 made 0), else the problem; *structural: a length problem */
extern const char *gmm_calib_check(double *w, size_t n, bool *structural);
/* fraction of the weight below v; value below which fraction q lies */
extern double gmm_calib_percentile(const double *w, double v);
/*
 * the same with the calibration's index (gmm_calib_index_ndoubles of them):
 * every GMM_CALIB_TOP_STEP-th knot, GMM_CALIB_NTOP of them, padded to NTOP4
 */
#define GMM_CALIB_TOP_STEP		16
#define GMM_CALIB_NTOP(m)		(((m) - 1) / GMM_CALIB_TOP_STEP + 1)
#define GMM_CALIB_NTOP4(m)		((GMM_CALIB_NTOP(m) + 3) & ~3)
static inline size_t
gmm_calib_index_ndoubles(int m)
{
	return 2 * (size_t) m + GMM_CALIB_TOP_STEP + GMM_CALIB_NTOP4(m);
}
extern void gmm_calib_index(const double *w, double *idx);
extern double gmm_calib_percentile_q(const double *w, const double *idx, double v);
extern double gmm_calib_threshold(const double *w, double q);

#endif							/* GMM_CORE_H */
