/*
 * gmm.h
 *	  The gmm SQL type: on-disk layout and the helpers shared by the files of
 *	  the SQL-facing layer (type I/O, fitting aggregates, scoring).
 *
 * A gmm value is a varlena: a fixed header (GmmModel) followed by doubles in
 * the order of gmm_params_bind (weights, means, covariances, prec_chol,
 * log_det) and then n_trace (n_components, bic) pairs recorded by
 * gmm_fit_auto.  prec_chol and log_det are derived: every path that builds a
 * model from outside bytes (text, jsonb, binary, bytea) recomputes them.
 * The in-memory layout is native-endian; the binary send format (also used
 * by the bytea cast) is big-endian and documented in gmm_binary.c.
 */
#ifndef GMM_H
#define GMM_H

#include "postgres.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "gmm_core.h"

#define GMM_FORMAT_VERSION		1

/* flags */
#define GMM_FLAG_CONVERGED		0x01
#define GMM_FLAGS_KNOWN			(GMM_FLAG_CONVERGED)

/* sanity limits, beyond the 1 GB varlena limit which is checked separately */
#define GMM_MAX_COMPONENTS		10000
#define GMM_MAX_FEATURES		10000
#define GMM_MAX_TRACE			GMM_MAX_COMPONENTS

/* option values gmm_model_alloc stores, scikit-learn's defaults */
#define GMM_DEFAULT_MAX_ITER	100
#define GMM_DEFAULT_TOL			1e-3
#define GMM_DEFAULT_REG_COVAR	1e-6
#define GMM_DEFAULT_N_INIT		1

typedef struct GmmModel
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		version;		/* GMM_FORMAT_VERSION */
	uint8		cov_type;		/* GmmCovType */
	uint8		init_params;	/* GmmInit used by the fit */
	uint8		flags;			/* GMM_FLAG_* */
	int32		n_components;
	int32		n_features;
	int32		n_iter;			/* EM iterations of the fit */
	int32		max_iter;		/* options used by the fit ... */
	int32		n_init;
	int32		n_trace;		/* (k, bic) pairs after the parameters */
	int64		n_samples;		/* rows the fit used (weight > 0) */
	int64		random_state;
	double		sum_weights;	/* sum of sample weights of the fit */
	double		lower_bound;	/* scikit-learn's lower_bound_, NaN if none */
	double		log_likelihood; /* mean log-likelihood of the final
								 * parameters on the training rows, NaN if
								 * none */
	double		tol;
	double		reg_covar;
	int64		reserved[2];	/* must be zero */
	double		data[FLEXIBLE_ARRAY_MEMBER];
} GmmModel;

#define GMM_HEADER_SIZE			offsetof(GmmModel, data)

#define DatumGetGmmP(x)			((GmmModel *) PG_DETOAST_DATUM(x))
#define PG_GETARG_GMM_P(n)		DatumGetGmmP(PG_GETARG_DATUM(n))
#define PG_RETURN_GMM_P(x)		PG_RETURN_POINTER(x)

/*
 * The header fields only (up to data), without detoasting the parameters of
 * a large model: VARSIZE and data of the result are not the model's.
 */
#define PG_GETARG_GMM_HEADER_P(n) \
	((GmmModel *) PG_DETOAST_DATUM_SLICE(PG_GETARG_DATUM(n), 0, \
										 GMM_HEADER_SIZE - VARHDRSZ))

/* the model's derived and stored fields, bound in place (no copy) */
static inline void
gmm_model_params(GmmModel *m, GmmParams *p)
{
	gmm_params_bind(p, (GmmCovType) m->cov_type, m->n_components,
					m->n_features, m->data);
}

static inline double *
gmm_model_trace(GmmModel *m)
{
	return m->data + gmm_params_ndoubles((GmmCovType) m->cov_type,
										 m->n_components, m->n_features);
}

/*
 * gmm_model.c: allocation, validation, names
 *
 * gmm_model_size raises ERRCODE_PROGRAM_LIMIT_EXCEEDED beyond the limits
 * above or MaxAllocSize.  gmm_model_alloc returns a zeroed model with the
 * header set (version, shape, default options, NaN lower_bound and
 * log_likelihood).  gmm_model_finish is the one validation path of every
 * constructor: it checks every header and data field, normalises (weights
 * renormalised, full/tied covariances symmetrised, -0 and NaN made
 * canonical) and recomputes prec_chol and log_det.  errcode is what
 * structural problems raise (e.g. ERRCODE_INVALID_TEXT_REPRESENTATION);
 * numeric problems raise ERRCODE_DATA_EXCEPTION or a 22xxx code.
 */
extern Size gmm_model_size(GmmCovType t, int k, int d, int n_trace);
extern GmmModel *gmm_model_alloc(GmmCovType t, int k, int d, int n_trace);
extern void gmm_model_finish(GmmModel *m, int errcode);
extern const char *gmm_cov_type_name(GmmCovType t);
extern bool gmm_cov_type_from_name(const char *name, GmmCovType *t);
extern const char *gmm_init_name(GmmInit i);
extern bool gmm_init_from_name(const char *name, GmmInit *i);
extern char *gmm_format_path(const char *field, int nidx, const int *idx);
extern void gmm_core_hooks(GmmHooks *hooks);

/* gmm_text.c: the "options" object of the text form, as JSON text */
extern void gmm_append_options_json(StringInfo buf, const GmmModel *m);
/* "a string", "an array", "null", ... for messages about a JSON value */
extern const char *gmm_jsonb_type_name(const JsonbValue *v);

/* gmm_array.c: float8[] rows */
extern const double *gmm_array_row(ArrayType *a, int expected_dim,
								   const char *what, double *copybuf,
								   int *dim_out);
extern const double *gmm_array_row_nulls(ArrayType *a, int expected_dim,
										 const char *what, double *buf,
										 int *dim_out, int *n_null_out);
extern const double *gmm_array_reader_nulls(Datum row, int expected_dim,
											const char *expected_what,
											int *dim_out, void **to_free);

/* gmm_fit.c: argument checks shared by the fitting functions */
extern void gmm_check_n_components(const char *what, int k);

/* gmm_score.c: a model argument that is a Const of the plan */
extern bool gmm_arg_is_plan_const(FunctionCallInfo fcinfo, int argno);

/* gmm_wire.c: reading untrusted big-endian binary input */
typedef struct GmmWireReader
{
	const char *data;
	size_t		len;
	size_t		pos;
	const char *what;			/* "gmm binary data", ... for messages */
	int			errcode;
} GmmWireReader;

extern const char *gmm_wire_bytes(GmmWireReader *r, size_t n);
extern uint8 gmm_wire_u8(GmmWireReader *r);
extern uint32 gmm_wire_u32(GmmWireReader *r);
extern uint64 gmm_wire_u64(GmmWireReader *r);
extern double gmm_wire_f8(GmmWireReader *r);

/* gmm_rowstore.c: a fitting aggregate's rows, spilled past work_mem */
typedef struct GmmRowStore GmmRowStore;
extern GmmRowStore *gmm_rowstore_create(MemoryContext aggctx, int d,
										bool weighted);
extern void gmm_rowstore_append(GmmRowStore *rs, const double *x, double w);
extern int64 gmm_rowstore_count(GmmRowStore *rs);
extern bool gmm_rowstore_spilled(GmmRowStore *rs);
extern void gmm_rowstore_view(GmmRowStore *rs, const double **X,
							  const double **w);

/* gmm_srf.c: materialize-mode set-returning functions across versions */
extern ReturnSetInfo *gmm_srf_materialize(FunctionCallInfo fcinfo);

#endif							/* GMM_H */
