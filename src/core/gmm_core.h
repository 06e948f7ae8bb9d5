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
	GMM_ERR_ZERO_WEIGHT			/* total sample weight is zero */
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
 * log_weights: k precomputed log(weights); work: at least d doubles.  No
 * allocation, no LAPACK call.
 */
extern double gmm_row_log_prob(const GmmParams *p, const double *log_weights,
							   const double *x, double *logprob, double *work);

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
	int			bad_component;	/* with GMM_ERR_NOT_PD / _INIT_NOT_PD */
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
#define GMM_CALIB_KNOTS			1025
#define GMM_CALIB_MAX_KNOTS		4096

extern size_t gmm_sketch_summary(const GmmSketch *s, int m, double *out);
extern double gmm_calib_knot_q(int i, int m);
/* NULL if valid (-0 made 0), else the problem; *structural: a length problem */
extern const char *gmm_calib_check(double *w, size_t n, bool *structural);
/* fraction of the weight below v; value below which fraction q lies */
extern double gmm_calib_percentile(const double *w, double v);
extern double gmm_calib_threshold(const double *w, double q);

#endif							/* GMM_CORE_H */
