/*
 * gmm_row.h
 *	  Feature rows of any SQL type: the small interface through which the
 *	  fitting and scoring code reads one row of doubles from a datum, and the
 *	  table of entry points that companion extensions (gmm_pgvector) call
 *	  with a reader of their own type.  Only PostgreSQL headers: a companion
 *	  includes this file and nothing else of gmm.
 *
 * gmm's own SQL functions read float8[] rows (gmm_array_reader).  A
 * companion declares its own aggregates and scoring functions over its type
 * in its own SQL script, whose C functions live in its own library and pass
 * this table's entry points their fcinfo and a reader; gmm's final, combine
 * and state functions are used as they are.  The companion looks the table
 * up with load_external_function("$libdir/gmm", "gmm_row_api", true, NULL)
 * (as hstore_plperl finds plperl's functions), so gmm knows nothing of the
 * companion's types and its library has no link-time dependency on gmm's.
 */
#ifndef GMM_ROW_H
#define GMM_ROW_H

#include "postgres.h"
#include "fmgr.h"

/*
 * Read the feature row in datum row (not NULL): return its n values as
 * doubles and n in *dim_out.  The row must pass gmm_row_check_dim(n,
 * expected_dim, expected_what) and gmm_row_check_values (so a reader of
 * another type raises exactly the errors a float8[] row raises).  The values
 * stay valid until the reader is called again, or, when *to_free is set
 * (not NULL), until the caller pfrees it after use.
 */
typedef const double *(*GmmRowReader) (Datum row, int expected_dim,
									   const char *expected_what,
									   int *dim_out, void **to_free);

/* the fitting aggregates that share one transition step */
typedef enum GmmFitKind
{
	GMM_FIT_PLAIN,				/* gmm_fit(x, k [, options]) */
	GMM_FIT_WEIGHTED,			/* gmm_fit_weighted(x, w, k [, options]) */
	GMM_FIT_REFIT,				/* gmm_refit(x, model [, options]) */
	GMM_FIT_REFIT_WEIGHTED,		/* gmm_refit_weighted(x, w, model [, options]) */
	GMM_FIT_AUTO				/* gmm_fit_auto(x, kmin, kmax [, options]) */
} GmmFitKind;

/* the row scoring functions, gmm_X(model, x [, n]) */
typedef enum GmmScoreKind
{
	GMM_SCORE_SAMPLES,
	GMM_SCORE_PREDICT,
	GMM_SCORE_PREDICT_PROBA,
	GMM_SCORE_PREDICT_TOP
} GmmScoreKind;

#define GMM_ROW_API_VERSION		1

/*
 * Every entry point takes the fcinfo of the companion's C function, whose
 * SQL signature is that of the float8[] function it stands for, with the
 * row argument of the companion's type.
 */
typedef struct GmmRowApi
{
	uint32		version;		/* GMM_ROW_API_VERSION */
	int			max_features;	/* GMM_MAX_FEATURES */
	void		(*check_dim) (int n, int expected_dim, const char *expected_what);
	void		(*check_values) (const double *v, int n);
	/* transition functions: gmm_fit and friends, gmm_em_step, gmm_init */
	Datum		(*fit_transition) (FunctionCallInfo fcinfo, GmmFitKind kind,
								   GmmRowReader read);
	Datum		(*em_step_transition) (FunctionCallInfo fcinfo, bool weighted,
									   GmmRowReader read);
	Datum		(*init_transition) (FunctionCallInfo fcinfo, GmmRowReader read);
	/* scoring: one row, and the transition of gmm_score/gmm_bic/gmm_aic */
	Datum		(*score) (FunctionCallInfo fcinfo, GmmScoreKind kind,
						  GmmRowReader read);
	Datum		(*score_accum) (FunctionCallInfo fcinfo, GmmRowReader read);
} GmmRowApi;

/* the symbol a companion looks up */
typedef const GmmRowApi *(*GmmRowApiFn) (void);

/* gmm_array.c */
extern PGDLLEXPORT const GmmRowApi *gmm_row_api(void);
extern void gmm_row_check_dim(int n, int expected_dim, const char *expected_what);
extern void gmm_row_check_values(const double *v, int n);
extern const double *gmm_array_reader(Datum row, int expected_dim,
									  const char *expected_what,
									  int *dim_out, void **to_free);

/* the entry points, in gmm_fit.c, gmm_em_step.c, gmm_init.c, gmm_score.c */
extern Datum gmm_fit_transition(FunctionCallInfo fcinfo, GmmFitKind kind,
								GmmRowReader read);
extern Datum gmm_em_step_transition(FunctionCallInfo fcinfo, bool weighted,
									GmmRowReader read);
extern Datum gmm_init_transition(FunctionCallInfo fcinfo, GmmRowReader read);
extern Datum gmm_score_row(FunctionCallInfo fcinfo, GmmScoreKind kind,
						   GmmRowReader read);
extern Datum gmm_score_accum_row(FunctionCallInfo fcinfo, GmmRowReader read);

#endif							/* GMM_ROW_H */
