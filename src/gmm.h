/*
 * gmm.h
 *	  The gmm SQL type: on-disk layout and the helpers shared by the files of
 *	  the SQL-facing layer (type I/O, fitting aggregates, scoring).
 *
 * A gmm value is a varlena: a fixed header (GmmModel) followed by doubles in
 * the order of gmm_params_bind (weights, means, covariances, prec_chol,
 * log_det) and then n_trace (n_components, bic) pairs recorded by
 * gmm_fit_auto.  Format version 2 appends sections (GmmSection) after the
 * trace; see gmm_sections.c.  prec_chol and log_det are derived: every path that builds a
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

/*
 * Format versions.  A model is stored in the lowest version that holds it:
 * version 1 when it has no section and the header's version-2 fields are
 * zero (every model of gmm 1.0 and 1.1, byte for byte), version 2
 * otherwise.  Every version is read forever.
 */
#define GMM_FORMAT_VERSION_MIN	1
#define GMM_FORMAT_VERSION		2	/* the newest */

/* the generator of a fit's random draws (header field rng, version 2) */
#define GMM_RNG_XOSHIRO256		0	/* ours, the default */
#define GMM_RNG_SKLEARN			1	/* numpy's legacy MT19937, scikit-learn's draws */
#define GMM_RNG_NKINDS			2

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
	uint8		rng;			/* GMM_RNG_* (version 2; 0 in version 1) */
	uint8		reserved8[7];	/* must be zero */
	int64		reserved;		/* must be zero */
	double		data[FLEXIBLE_ARRAY_MEMBER];
} GmmModel;

/*
 * Sections of format version 2, after the trace, in increasing tag order,
 * each tag at most once: a GmmSection header, then nwords doubles (counts
 * are stored as doubles, exact below 2^53).  A section's kind (its check and
 * JSON form) is registered in gmm_sections.c.
 */
typedef enum GmmSectionTag
{
	GMM_SECTION_MISSING = 1,	/* "n_missing": values missing in training */
	GMM_SECTION_CALIBRATION = 2,	/* "calibration": training log-densities */
	GMM_SECTION_BAYESIAN = 3	/* "bayesian": variational parameters */
} GmmSectionTag;

#define GMM_SECTION_MAX_TAG		3

typedef struct GmmSection
{
	uint16		tag;			/* GmmSectionTag */
	uint16		flags;			/* zero */
	uint32		nwords;			/* doubles that follow */
} GmmSection;

/* the most doubles one section may hold (about 64 MB) */
#define GMM_SECTION_MAX_WORDS	(8 * 1024 * 1024)

typedef struct GmmSectionKind
{
	GmmSectionTag tag;
	const char *json_key;		/* the top-level key of the text form */

	/*
	 * Validate, and canonicalise in place (-0 to 0 ...), the payload of a
	 * section of model m (whose header and parameters are already checked).
	 * A payload of the wrong length raises struct_code; bad numbers a 22xxx
	 * code.  Called by gmm_model_finish, so by every input path.  No jsonb
	 * or fmgr calls here: the fuzz harness links it.
	 */
	void		(*check) (const GmmModel *m, double *words, uint32 nwords,
						  int struct_code);
} GmmSectionKind;

/* The JSON form of a section kind (gmm_text.c's table, by tag). */
typedef struct GmmSectionJson
{
	GmmSectionTag tag;
	/* the JSON value of the section (after its key and ": ") */
	void		(*to_json) (StringInfo buf, const GmmModel *m,
							const double *words, uint32 nwords);
	/* a palloc'd payload from the JSON value (ERRCODE_INVALID_TEXT_REPRESENTATION) */
	double	   *(*from_json) (const JsonbValue *v, const GmmModel *m,
							  uint32 *nwords);
} GmmSectionJson;

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

/* the first section (or the end of the model when it has none) */
static inline char *
gmm_model_sections_start(const GmmModel *m)
{
	return (char *) (m->data + gmm_params_ndoubles((GmmCovType) m->cov_type,
												   m->n_components,
												   m->n_features) +
					 2 * (size_t) m->n_trace);
}

/*
 * gmm_sections.c: the sections of format version 2
 *
 * gmm_model_section returns a section's payload in place (NULL when the
 * model has none); gmm_model_set_section returns a copy of m with the
 * section added, replaced or (words NULL) removed, validated, with its
 * version recomputed.  gmm_model_check_sections is gmm_model_finish's part:
 * structure, then each kind's check; it returns whether the model has any.
 */
extern const GmmSectionKind *gmm_section_kind(int tag);
extern const GmmSectionKind *gmm_section_kind_by_key(const char *key, int len);
extern const double *gmm_model_section(const GmmModel *m, GmmSectionTag tag,
									   uint32 *nwords);
extern GmmModel *gmm_model_set_section(const GmmModel *m, GmmSectionTag tag,
									   const double *words, uint32 nwords);
extern GmmModel *gmm_model_add_section_unchecked(const GmmModel *m,
												 GmmSectionTag tag,
												 const double *words,
												 uint32 nwords);
extern bool gmm_model_check_sections(GmmModel *m, Size base_size, int struct_code);
extern int64 gmm_model_n_missing(const GmmModel *m);

/* the section kinds (gmm_sections.c's table) and their JSON forms (gmm_text.c's) */
extern const GmmSectionKind gmm_section_missing;
extern const GmmSectionKind gmm_section_bayesian;

/*
 * gmm_bayes_section.c, gmm_bayes.c: the "bayesian" section (layout in
 * gmm_bayes.c): its length for a model's shape, its prior and posterior
 * bound in place, its JSON form.
 */
#define GMM_BAYES_HEAD 4
extern uint32 gmm_bayes_section_words(GmmCovType t, int k, int d);
extern void gmm_bayes_section_bind(GmmCovType t, int k, int d,
								   const double *words, GmmBayesPrior *pr,
								   GmmBayesPost *q);
extern void gmm_bayes_to_json(StringInfo buf, const GmmModel *m,
							  const double *words, uint32 nwords);
extern double *gmm_bayes_from_json(const JsonbValue *v, const GmmModel *m,
								   uint32 *nwords);
extern const GmmSectionKind gmm_section_calibration;
/* gmm_calibration_json.c: the CALIBRATION section's JSON form */
extern void gmm_calibration_to_json(StringInfo buf, const GmmModel *m,
									const double *words, uint32 nwords);
extern double *gmm_calibration_from_json(const JsonbValue *v, const GmmModel *m,
										 uint32 *nwords);
extern const GmmSectionJson *gmm_section_json(int tag);

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
extern void gmm_model_finish(GmmModel *m, int struct_code);
extern const char *gmm_cov_type_name(GmmCovType t);
extern bool gmm_cov_type_from_name(const char *name, GmmCovType *t);
extern const char *gmm_init_name(GmmInit i);
extern const char *gmm_rng_name(int rng);
extern bool gmm_rng_from_name(const char *name, int *rng);
extern bool gmm_init_from_name(const char *name, GmmInit *i);
extern char *gmm_format_path(const char *field, int nidx, const int *idx);
extern void gmm_core_hooks(GmmHooks *hooks);
extern int	gmm_fit_workers;	/* the GUC gmm.fit_workers */

/* gmm_text.c: the "options" object of the text form, as JSON text */
extern void gmm_append_options_json(StringInfo buf, const GmmModel *m);
/* "a string", "an array", "null", ... for messages about a JSON value */
extern const char *gmm_jsonb_type_name(const JsonbValue *v);

/*
 * gmm_text.c: JSON pieces for the sections' to_json and from_json.  Output:
 * a double in its shortest exact form (NaN as null), [x, ...], [[...], ...].
 * Input (errors ERRCODE_INVALID_TEXT_REPRESENTATION naming where): the
 * members of an object by key (an unknown key is an error; where is
 * "\"calibration\"" ...), a number, an integer in [min, max], a string,
 * and a nested array of numbers of shape dims[0 .. ndims) (dimnames[i] says
 * what dims[i] is) into out, row-major.
 */
extern void gmm_json_append_double(StringInfo buf, double x);
extern void gmm_json_append_vector(StringInfo buf, const double *x, int n);
extern void gmm_json_append_matrix(StringInfo buf, const double *x, int rows,
								   int cols);
extern void gmm_json_object(const JsonbValue *v, const char *where,
							const char *const *keys, int nkeys,
							JsonbValue *vals, bool *present);
extern double gmm_json_number(const JsonbValue *v, const char *field,
							  const char *member);
extern int64 gmm_json_integer(const JsonbValue *v, const char *field,
							  const char *member, int64 min, int64 max);
extern char *gmm_json_string(const JsonbValue *v, const char *field,
							 const char *member);
extern int	gmm_json_array_length(const JsonbValue *v, const char *field);
extern void gmm_json_number_array(const JsonbValue *v, const char *field,
								  int ndims, const int *dims,
								  const char *const *dimnames, double *out);

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

/* gmm_array_read_buffered's buffers, for rows of expected_dim elements */
typedef struct GmmArrayBuffers
{
	double	   *values;			/* expected_dim */
	bits8	   *mask;			/* (expected_dim + 7) / 8 */
	/* the last row read, when it has NULLs */
	ArrayType  *array;
	int			n;
	int			n_stored;
	const double *stored;		/* its non-NULL values, in order */
	union
	{
		double		align;
		char		bytes[VARHDRSZ + 127];	/* the largest one-byte-header datum */
	}			shortcopy;
} GmmArrayBuffers;

extern const double *gmm_array_read_buffered(Datum row, int expected_dim,
											 const char *expected_what,
											 GmmArrayBuffers *b,
											 int *n_null_out, void **to_free);
extern const double *gmm_array_buffered_expand(GmmArrayBuffers *b);
extern const double *gmm_array_buffered_stored(GmmArrayBuffers *b);

/* gmm_fit.c: argument checks shared by the fitting functions */
extern void gmm_check_n_components(const char *what, int k);

/* gmm_score.c: a model argument whose value cannot change under its address */
extern bool gmm_arg_is_fixed(FunctionCallInfo fcinfo, int argno);
extern void gmm_score_init(void);

/*
 * gmm_score.c: the decoded model of a scoring function's argument argno,
 * from the query-long cache in fn_extra (decoded once, not per row): the
 * model, its parameters, log(weights) and k + d doubles of workspace.
 */
typedef struct GmmPrepared
{
	GmmModel   *model;
	GmmParams	params;
	double	   *log_weights;	/* k */
	double	   *logprob;		/* k, scratch */
	double	   *work;			/* gmm_score_lanes_work_ndoubles(d), scratch */
	const double *lanes;		/* params' gmm_score_lanes, or NULL */
	GmmRowLogProbFn row_fn;		/* gmm_row_log_prob_lanes_fn(params, lanes) */
	void	   *cache;			/* gmm_score.c's */
} GmmPrepared;
extern void gmm_score_prepared(FunctionCallInfo fcinfo, int argno,
							   GmmPrepared *out);
extern double *gmm_prepared_buffer(const GmmPrepared *p, size_t n, bool *fresh);
extern const GmmParams *gmm_prepared_marginal(const GmmPrepared *p, const double *v, int m);

/* gmm_anomaly.c: calibration of fitted models */
extern GmmModel *gmm_model_with_sketch(GmmModel *m, const GmmSketch *s);
extern GmmModel *gmm_model_copy_section(GmmModel *dst, const GmmModel *src,
										GmmSectionTag tag);
/* gmm_anomaly.c: gmm_train's final pass (SPIPlanPtr, executor/spi.h) */
extern struct _SPI_plan *gmm_train_final_plan(const char *extschema,
											  const char *qcol,
											  const char *relname, Oid gmm_oid,
											  bool missing);
extern void gmm_train_final_counters(const GmmModel *final, GmmModel *result);

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

/*
 * gmm_bayes.c: Bayesian models (gmm_fit_bayesian).  gmm_model_log_weights:
 * the k additive per-component terms of the log-probabilities, log(weights)
 * or the Bayesian model's; gmm_bayes_reject raises an error naming fname
 * when m is a Bayesian model or NULL (bic, aic, refit).
 */
extern void gmm_model_log_weights(const GmmModel *m, double *out);
extern bool gmm_model_is_bayesian(const GmmModel *m);
extern void gmm_bayes_reject(const GmmModel *m, const char *fname);

/* gmm_srf.c: materialize-mode set-returning functions across versions */
extern ReturnSetInfo *gmm_srf_materialize(FunctionCallInfo fcinfo);

#endif							/* GMM_H */
