/*
 * gmm_pgvector.c
 *	  gmm's fitting, EM, initialisation and scoring over pgvector's vector
 *	  (float4) and halfvec (float2) columns, read in place without a cast.
 *
 * How the two libraries meet.  gmm keeps every aggregate's transition step
 * and every scoring function behind a small interface (src/gmm_row.h): each
 * takes the caller's fcinfo and a row reader, a C function that turns one
 * datum into doubles after gmm's own checks.  This library has one reader per
 * pgvector type and, for each gmm function that takes a row, one thin C
 * function per type that passes its fcinfo and its reader to gmm.  Its SQL
 * script declares those functions with the vector and halfvec signatures
 * and builds the aggregates from them and from gmm's own final, combine and
 * state functions, which do not depend on the row type.
 *
 * Why this shape, rather than gmm's functions dispatching on the argument
 * type (get_fn_expr_argtype) to readers registered by this library: gmm
 * would then have to learn the OIDs of types it does not know (by catalog
 * lookups, per backend), this library would have to be loaded before any
 * vector reaches gmm (nothing loads it when the SQL functions point into
 * gmm's library), and every row would pay the dispatch.  Here gmm knows
 * nothing of pgvector, and the reader is a plain function pointer given per
 * call, with no state of its own shared between the two libraries.
 *
 * gmm's entry points are found at load time with load_external_function
 * (as hstore_plperl finds plperl's), through one versioned table
 * (gmm_row_api): this library has no link-time dependency on gmm.so,
 * which PostgreSQL may not have loaded yet when this one is opened.
 *
 * The layouts read here are pgvector's (src/vector.h, src/halfvec.h):
 * a varlena, int16 dim, int16 unused, then dim float4 (vector) or dim IEEE
 * binary16 values (halfvec), native-endian.  pgvector's headers are not
 * used, so building this needs only gmm's source tree.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/memutils.h"

#include "gmm_compat.h"
#include "gmm_row.h"

PG_MODULE_MAGIC;

/* the header of pgvector's vector and halfvec, after the varlena header */
#define PGV_HEADER_BYTES	4	/* int16 dim, int16 unused */

static const GmmRowApi *api = NULL;

/* a row converted to doubles; valid until the next read */
static double *row_buf = NULL;

void		_PG_init(void);

/*
 * Find gmm's entry points.  CREATE EXTENSION gmm_pgvector loads this library
 * (to check its C functions), and requires gmm, so gmm's library is there.
 */
void
_PG_init(void)
{
	GmmRowApiFn fn;
	const GmmRowApi *a;

	fn = (GmmRowApiFn) load_external_function("$libdir/gmm", "gmm_row_api",
											  true, NULL);
	a = fn();
	if (a == NULL || a->version != GMM_ROW_API_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("gmm_pgvector needs version %d of gmm's row interface, the installed gmm library has version %u",
						GMM_ROW_API_VERSION, a ? a->version : 0),
				 errhint("Install gmm and gmm_pgvector from the same source tree.")));
	row_buf = MemoryContextAlloc(TopMemoryContext,
								 sizeof(double) * (Size) a->max_features);
	api = a;
}

/*
 * gmm's table.  PostgreSQL calls no function of a library whose _PG_init
 * failed, so this cannot be NULL; the check costs a predictable branch.
 */
static inline const GmmRowApi *
Api(void)
{
	if (unlikely(api == NULL))
		elog(ERROR, "gmm_pgvector: gmm's entry points were not loaded");
	return api;
}

/* the data of a vector or halfvec datum, after its dim and unused fields */
static const char *
PgvData(Datum row, Size elem_size, const char *type_name, struct varlena **detoasted,
		int *dim_out)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(row);
	const char *p = VARDATA_ANY(v);
	Size		len = VARSIZE_ANY_EXHDR(v);
	int16		dim;

	if (len < PGV_HEADER_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s value is too short: %zu bytes", type_name, len)));
	memcpy(&dim, p, sizeof(int16));
	if (dim < 0 || len != PGV_HEADER_BYTES + elem_size * (Size) dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s value of %d dimensions has %zu bytes of data",
						type_name, (int) dim, len)));
	*detoasted = ((Pointer) v != DatumGetPointer(row)) ? v : NULL;
	*dim_out = dim;
	return p + PGV_HEADER_BYTES;
}

/* the checks of a float8[] row, in the same order: length first */
static void
CheckDim(int n, int expected_dim, const char *expected_what)
{
	api->check_dim(n, expected_dim, expected_what);
	/* cannot fail after check_dim, which bounds every length by this */
	if (n > api->max_features)
		elog(ERROR, "gmm_pgvector: row of %d features exceeds the row buffer", n);
}

/* GmmRowReader for vector: float4 -> double is exact */
static const double *
ReadVector(Datum row, int expected_dim, const char *expected_what,
		   int *dim_out, void **to_free)
{
	struct varlena *detoasted;
	int			n;
	const char *p = PgvData(row, sizeof(float4), "vector", &detoasted, &n);

	CheckDim(n, expected_dim, expected_what);
	for (int i = 0; i < n; i++)
	{
		float4		f;

		/* a short-header datum (up to 30 dimensions) is not 4-byte aligned */
		memcpy(&f, p + sizeof(float4) * i, sizeof(float4));
		row_buf[i] = (double) f;
	}
	if (detoasted)
		pfree(detoasted);
	api->check_values(row_buf, n);
	*dim_out = n;
	*to_free = NULL;
	return row_buf;
}

/*
 * IEEE binary16 to double, exactly (every half is a float4 and a double):
 * the bits of the float4 of the same value, then the float4 widened.
 * Infinities and NaN stay so, for check_values to reject.
 */
static inline double
HalfToDouble(uint16 h)
{
	uint32		sign = (uint32) (h & 0x8000) << 16;
	uint32		exp = (h >> 10) & 0x1f;
	uint32		mant = h & 0x3ff;
	uint32		bits;
	float4		f;

	if (exp == 0x1f)
		bits = sign | 0x7f800000 | (mant << 13);
	else if (exp != 0)
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	else if (mant == 0)
		bits = sign;
	else
	{
		/* subnormal half mant * 2^-24: normalise into a float4 */
		uint32		e = 127 - 15 + 1;

		while (!(mant & 0x400))
		{
			mant <<= 1;
			e--;
		}
		bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
	}
	memcpy(&f, &bits, sizeof(f));
	return (double) f;
}

/* GmmRowReader for halfvec */
static const double *
ReadHalfvec(Datum row, int expected_dim, const char *expected_what,
			int *dim_out, void **to_free)
{
	struct varlena *detoasted;
	int			n;
	const char *p = PgvData(row, sizeof(uint16), "halfvec", &detoasted, &n);

	CheckDim(n, expected_dim, expected_what);
	for (int i = 0; i < n; i++)
	{
		uint16		h;

		memcpy(&h, p + sizeof(uint16) * i, sizeof(uint16));
		row_buf[i] = HalfToDouble(h);
	}
	if (detoasted)
		pfree(detoasted);
	api->check_values(row_buf, n);
	*dim_out = n;
	*to_free = NULL;
	return row_buf;
}

/*
 * One C function per gmm function that takes a row, per type: the SQL
 * script (gmm_pgvector--1.0.sql) names them gmm_pgvector_<type>_<what>.
 */
#define PGV_FIT(type, reader, what, kind) \
PG_FUNCTION_INFO_V1(gmm_pgvector_##type##_##what); \
Datum \
gmm_pgvector_##type##_##what(PG_FUNCTION_ARGS) \
{ \
	return Api()->fit_transition(fcinfo, kind, reader); \
}

#define PGV_SCORE(type, reader, what, kind) \
PG_FUNCTION_INFO_V1(gmm_pgvector_##type##_##what); \
Datum \
gmm_pgvector_##type##_##what(PG_FUNCTION_ARGS) \
{ \
	return Api()->score(fcinfo, kind, reader); \
}

#define PGV_ALL(type, reader) \
PGV_FIT(type, reader, fit_transfn, GMM_FIT_PLAIN) \
PGV_FIT(type, reader, fit_weighted_transfn, GMM_FIT_WEIGHTED) \
PGV_FIT(type, reader, refit_transfn, GMM_FIT_REFIT) \
PGV_FIT(type, reader, refit_weighted_transfn, GMM_FIT_REFIT_WEIGHTED) \
PGV_FIT(type, reader, fit_auto_transfn, GMM_FIT_AUTO) \
PGV_SCORE(type, reader, score_samples, GMM_SCORE_SAMPLES) \
PGV_SCORE(type, reader, predict, GMM_SCORE_PREDICT) \
PGV_SCORE(type, reader, predict_proba, GMM_SCORE_PREDICT_PROBA) \
PGV_SCORE(type, reader, predict_top, GMM_SCORE_PREDICT_TOP) \
PG_FUNCTION_INFO_V1(gmm_pgvector_##type##_em_step_transfn); \
Datum \
gmm_pgvector_##type##_em_step_transfn(PG_FUNCTION_ARGS) \
{ \
	return Api()->em_step_transition(fcinfo, false, reader); \
} \
PG_FUNCTION_INFO_V1(gmm_pgvector_##type##_em_step_weighted_transfn); \
Datum \
gmm_pgvector_##type##_em_step_weighted_transfn(PG_FUNCTION_ARGS) \
{ \
	return Api()->em_step_transition(fcinfo, true, reader); \
} \
PG_FUNCTION_INFO_V1(gmm_pgvector_##type##_init_transfn); \
Datum \
gmm_pgvector_##type##_init_transfn(PG_FUNCTION_ARGS) \
{ \
	return Api()->init_transition(fcinfo, reader); \
} \
PG_FUNCTION_INFO_V1(gmm_pgvector_##type##_score_accum); \
Datum \
gmm_pgvector_##type##_score_accum(PG_FUNCTION_ARGS) \
{ \
	return Api()->score_accum(fcinfo, reader); \
}

PGV_ALL(vector, ReadVector)
PGV_ALL(halfvec, ReadHalfvec)
