/*
 * gmm_fit.h
 *	  What the fitting aggregates share: fit options given as jsonb (or built
 *	  with gmm_options()), parsed once per aggregate, and the fit driver.
 */
#ifndef GMM_FIT_H
#define GMM_FIT_H

#include "portability/instr_time.h"
#include "utils/jsonb.h"

#include "gmm.h"

/* a numeric array option, flattened row-major with its shape */
typedef struct GmmArrayOption
{
	double	   *values;			/* NULL when the option is absent */
	int			ndim;
	int			dims[3];
	int			nvalues;
} GmmArrayOption;

/*
 * gmm_fit_bayesian's options (gmm_options.c parses them, gmm_bayes.c checks
 * them against the data); every other fitting function rejects them.
 */
typedef struct GmmBayesOptions
{
	const char *given;			/* the first of them given, or NULL */
	GmmWeightPrior type;		/* weight_concentration_prior_type */
	double		weight_concentration_prior; /* NaN: 1 / n_components */
	double		mean_precision_prior;	/* NaN: 1 */
	GmmArrayOption mean_prior;	/* absent: the data's mean */
	double		degrees_of_freedom_prior;	/* NaN: n_features */
	GmmArrayOption covariance_prior;	/* absent: the data's covariance
										 * (a number: ndim 0) */
} GmmBayesOptions;

typedef struct GmmOptions
{
	GmmFitOptions fit;			/* core options; n_components set by caller */
	GmmArrayOption weights_init;
	GmmArrayOption means_init;
	GmmArrayOption precisions_init;
	int			verbose;		/* 0, 1, 2: scikit-learn's verbose */
	int			verbose_interval;	/* >= 1, default 10 */
	GmmBayesOptions bayes;
	bool		missing_em;		/* missing => 'em' (default 'error') */
} GmmOptions;

/*
 * Progress NOTICEs in scikit-learn's verbose scheme (gmm_options.c): the
 * core's GmmProgressFn, also called by gmm_train with its own events.
 */
typedef struct GmmVerbose
{
	int			level;
	int			interval;
	instr_time	init_start;		/* of the run in progress */
	instr_time	last_report;	/* of the last iteration reported */
} GmmVerbose;

extern void gmm_verbose_start(GmmVerbose *v, const GmmOptions *o);
extern void gmm_verbose_progress(const GmmProgress *ev, void *arg);

/* scikit-learn's defaults, or those a model was fitted with */
extern void gmm_options_init(GmmOptions *o);
extern void gmm_options_from_model(GmmOptions *o, const GmmModel *m);

/* option "missing": 'em' (true) or 'error' (false), else an error */
extern bool gmm_missing_from_value(JsonbValue *v);
extern bool gmm_options_missing_em(Jsonb *opts);

/*
 * A float8[] row where NULL elements may stand for missing values
 * (gmm_fit.c): with allow_null they come back as NaN (in a palloc'd copy,
 * left in *to_free, *n_null counting them); without, a NULL element is the
 * usual error, with a hint naming the option.  Otherwise as
 * gmm_array_reader.
 */
extern const double *gmm_array_reader_missing(Datum row, int expected_dim,
											  const char *expected_what,
											  bool allow_null, int *dim_out,
											  void **to_free, int *n_null);

/* override o with opts (NULL: nothing), palloc'ing in CurrentMemoryContext */
extern void gmm_options_apply(Jsonb *opts, GmmOptions *o);

/* an error naming the SQL function name when o asks for rng 'sklearn' */
extern void gmm_options_reject_sklearn_rng(const GmmOptions *o, const char *name);

/*
 * Check the initial parameters against K and D (shapes, weights summing to
 * one, precisions symmetric) and point o->fit's *_init at them.
 */
extern void gmm_options_bind_init(GmmOptions *o, int k, int d);

/* gmm_fit.c */
extern int64 gmm_fit_state_rows(void *state, const double **X,
								const double **w, int *d, int *k,
								GmmOptions *o);
extern void gmm_report_status(GmmStatus status, int bad, int64 n, int k);
extern GmmModel *gmm_fit_rows(const double *X, const double *w, int64 n,
							  int d, int k, GmmOptions *o, GmmModel *warm,
							  const char *name, bool calibrate);

/* gmm_bayes.c: gmm_refit of a Bayesian model (scikit-learn's warm_start) */
extern GmmModel *gmm_bayes_refit_rows(const double *X, const double *w,
									  int64 n, int d, int k, GmmOptions *o,
									  const GmmModel *warm, const char *name);

#endif							/* GMM_FIT_H */
