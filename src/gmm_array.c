/*
 * gmm_array.c
 *	  float8[] feature rows: validation and zero-copy access to their values;
 *	  the checks every row reader shares, and the table of entry points that
 *	  companion extensions call with readers of their own types (gmm_row.h).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"

#include "gmm.h"
#include "gmm_compat.h"
#include "gmm_row.h"

/*
 * A row of n features is usable where expected_dim features are expected
 * (expected_dim > 0, from expected_what: "the model", "the first row of the
 * aggregate"), or, for a first row (expected_dim <= 0), when it is not empty
 * and within GMM_MAX_FEATURES.  Shared by every row reader, so a row of any
 * type fails with the same message and SQLSTATE.
 */
void
gmm_row_check_dim(int n, int expected_dim, const char *expected_what)
{
	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature array must not be empty")));
	if (expected_dim <= 0 && n > GMM_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature arrays must have at most %d elements, not %d",
						GMM_MAX_FEATURES, n)));
	if (expected_dim > 0 && n != expected_dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature array has %d elements, expected %d",
						n, expected_dim),
				 errdetail("Rows must have as many features as %s.",
						   expected_what)));
}

static bool ExpandNulls(const bits8 *bitmap, const char *src, int n,
						double *buf, int *n_null_out);
static void ReportFirstNotFinite(const bits8 *bitmap, const double *buf, int n);

/* a double's bits are a NaN or an infinity: every exponent bit set */
static inline uint64
BitsNotFinite(uint64 bits)
{
	return ((bits >> 52) & 0x7ff) == 0x7ff;
}

/* element i (0-based) of a row is v, NaN or infinite: an error */
static void
ReportNotFinite(double v, int i)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("feature array must not contain NaN or infinite values"),
			 errdetail("Element %d is %s.", i + 1,
					   isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"))));
}

/* the n values of a row must be finite */
void
gmm_row_check_values(const double *v, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (unlikely(!isfinite(v[i])))
			ReportNotFinite(v[i], i);
	}
}

/*
 * The checks of a float8[] row shared by gmm_array_row and
 * gmm_array_row_nulls: element type, one dimension, not empty.  Returns n.
 */
static int
ArrayRowLength(ArrayType *a)
{
	int			n;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "gmm: feature array has element type %u, expected float8",
			 ARR_ELEMTYPE(a));
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature array must be one-dimensional"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(a)),
				 errhint("Pass one row of features per aggregated value, e.g. ARRAY[x1, x2, x3].")));
	n = (ARR_NDIM(a) == 0) ? 0 : ARR_DIMS(a)[0];
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature array must not be empty")));
	return n;
}

/*
 * Check that a is a usable feature row and return its values in place.
 *
 * A row must be a one-dimensional, non-empty float8[] without NULL elements
 * and with finite values only.  When expected_dim > 0 its length must be
 * that; expected_what says where that length comes from ("the model", "the
 * first row"), for the error detail; without one (a first row) the length
 * must be within GMM_MAX_FEATURES.  No copy is made: the array's data are
 * contiguous once NULLs are ruled out.  copybuf, when not NULL, must hold
 * expected_dim doubles and is used only if the data are not suitably aligned.
 */
const double *
gmm_array_row(ArrayType *a, int expected_dim, const char *expected_what,
			  double *copybuf, int *dim_out)
{
	int			n = ArrayRowLength(a);
	const double *v;

	if (ARR_HASNULL(a) && array_contains_nulls(a))
	{
		bits8	   *bitmap = ARR_NULLBITMAP(a);
		int			i;

		for (i = 0; i < n; i++)
			if (!(bitmap[i / 8] & (1 << (i % 8))))
				break;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feature array must not contain NULL elements"),
				 errdetail("Element %d is NULL.", i + 1)));
	}
	gmm_row_check_dim(n, expected_dim, expected_what);
	v = (const double *) ARR_DATA_PTR(a);
	gmm_row_check_values(v, n);

	if (copybuf != NULL && ((uintptr_t) v % sizeof(double)) != 0)
	{
		memcpy(copybuf, v, sizeof(double) * n);
		v = copybuf;
	}
	if (dim_out)
		*dim_out = n;
	return v;
}

/*
 * gmm_array_row for callers that accept missing values: NULL elements come
 * back as NaN, the core's missing value (a NaN element is still an error,
 * as are infinite ones, so a NaN in the result is always a NULL).  A row
 * without NULL is read as gmm_array_row reads it; a row with NULLs is
 * unpacked into buf (expected_dim doubles, or NULL: palloc'd), as is one
 * with a NULL bitmap but no NULL (it is not searched for NULLs first).
 * *n_null_out (when not NULL) gets the number of NULL elements.
 */
const double *
gmm_array_row_nulls(ArrayType *a, int expected_dim, const char *expected_what,
					double *buf, int *dim_out, int *n_null_out)
{
	int			n;
	bits8	   *bitmap;
	int			n_null;
	bool		not_finite;

	if (!ARR_HASNULL(a))
	{
		if (n_null_out)
			*n_null_out = 0;
		return gmm_array_row(a, expected_dim, expected_what, buf, dim_out);
	}
	n = ArrayRowLength(a);
	gmm_row_check_dim(n, expected_dim, expected_what);
	if (buf == NULL)
		buf = palloc(sizeof(double) * n);
	bitmap = ARR_NULLBITMAP(a);
	not_finite = ExpandNulls(bitmap, ARR_DATA_PTR(a), n, buf, &n_null);
	if (unlikely(not_finite))
		ReportFirstNotFinite(bitmap, buf, n);
	if (dim_out)
		*dim_out = n;
	if (n_null_out)
		*n_null_out = n_null;
	return buf;
}

/*
 * The n elements of an array with NULL bitmap bitmap and stored values
 * src into buf, NaN at the NULLs; *n_null gets their count.  Returns
 * whether a stored value is NaN or infinite.
 *
 * Sixty-four elements at a time (a word of the NULL bitmap).
 */
static bool
ExpandNulls(const bits8 *bitmap, const char *src, int n, double *buf, int *n_null_out)
{
	int			n_null = 0;
	uint64		not_finite = 0;

	for (int w = 0; w < n; w += 64)
	{
		int			nw = Min(64, n - w);
		uint64		present = 0;
		int			nst;
		int			k = 0;

		for (int b = 0; b < (nw + 7) / 8; b++)
			present |= (uint64) bitmap[w / 8 + b] << (8 * b);
		if (nw < 64)
			present &= (UINT64CONST(1) << nw) - 1;
		nst = pg_popcount64(present);

		n_null += nw - nst;
		if (nst == 0)
		{
			for (int i = 0; i < nw; i++)
				buf[w + i] = NAN;
			continue;
		}
		/*
		 * each element in turn: the next stored value where the bit is set,
		 * NaN where not, with selects (the stored value read at the last
		 * one past the word's end), so that no branch depends on which
		 * elements are NULL
		 */
		for (int i = 0; i < nw; i++)
		{
			uint64		bit = (present >> i) & 1;
			uint64		bits;
			uint64		nan_bits;
			double		nan = NAN;

			memcpy(&bits, src + sizeof(double) * Min(k, nst - 1), sizeof(double));
			memcpy(&nan_bits, &nan, sizeof(double));
			not_finite |= bit & BitsNotFinite(bits);
			bits = bit ? bits : nan_bits;
			memcpy(&buf[w + i], &bits, sizeof(double));
			k += (int) bit;
		}
		src += sizeof(double) * nst;
	}
	*n_null_out = n_null;
	return not_finite != 0;
}

/* the first element of expanded row buf that is not NULL and not finite */
static void
ReportFirstNotFinite(const bits8 *bitmap, const double *buf, int n)
{
	for (int i = 0; i < n; i++)
		if ((bitmap[i / 8] & (1 << (i % 8))) && !isfinite(buf[i]))
			ReportNotFinite(buf[i], i);
}

/*
 * The row reader of gmm's own functions: a float8[] datum, read in place;
 * a detoasted copy is left in *to_free.
 */
const double *
gmm_array_reader(Datum row, int expected_dim, const char *expected_what,
				 int *dim_out, void **to_free)
{
	ArrayType  *a = DatumGetArrayTypeP(row);

	*to_free = ((Pointer) a != DatumGetPointer(row)) ? (void *) a : NULL;
	return gmm_array_row(a, expected_dim, expected_what, NULL, dim_out);
}

/*
 * The row reader of the scoring functions, which accept missing values:
 * NULL elements come back as NaN (gmm_array_row_nulls), in a palloc'd copy
 * left in *to_free.
 */
const double *
gmm_array_reader_nulls(Datum row, int expected_dim, const char *expected_what,
					   int *dim_out, void **to_free)
{
	ArrayType  *a = DatumGetArrayTypeP(row);
	bool		copied = (Pointer) a != DatumGetPointer(row);
	const double *v = gmm_array_row_nulls(a, expected_dim, expected_what,
										  NULL, dim_out, NULL);

	if (ARR_HASNULL(a))			/* v is a palloc'd copy */
	{
		if (copied)
			pfree(a);
		*to_free = (void *) v;
	}
	else
		*to_free = copied ? (void *) a : NULL;
	return v;
}

/*
 * The datum p with a one-byte header as one with a four-byte header, in
 * dst (VARHDRSZ + 127 bytes, aligned).  Eight bytes at a time, each store
 * at a multiple of eight from dst, so that the reads of the values that
 * follow (eight-byte loads at the data's aligned offset) are each served by
 * one store; a memcpy, inlined as a string move, made them wait.
 */
static void
CopyShortDatum(Pointer p, char *dst)
{
	Size		len = VARSIZE_SHORT(p) - VARHDRSZ_SHORT;
	const char *src = VARDATA_SHORT(p) - VARHDRSZ; /* dst's offsets */
	Size		end = len + VARHDRSZ;
	Size		i;
	uint64		w;

	SET_VARSIZE(dst, end);
	memcpy(dst + VARHDRSZ, src + VARHDRSZ, Min(len, 4));
	for (i = 8; i + 8 <= end; i += 8)
	{
		memcpy(&w, src + i, sizeof(w));
		memcpy(dst + i, &w, sizeof(w));
	}
	for (; i < end; i++)
		dst[i] = src[i];
}

/*
 * A sequential scan's next tuple on a heap page is usually the one stored
 * just below this one (a page fills from its end towards its line
 * pointers): ask for its cache lines now, so that they arrive while this
 * row is scored.  About one tuple's worth, the length of this value and a
 * tuple header more; a hint only, nothing is read through it, and prefetching
 * an address that is not mapped does not fault.  The address is computed as
 * an integer: as pointer arithmetic before the value's start GCC 12 dropped
 * the prefetches.  Backend CPU time of sum(gmm_score_samples(m, x)), with
 * and without, on a Zen 5 EPYC, 7 runs interleaved: 1e6 x 16 x 8 0.79-0.82x,
 * 2e5 x 64 x 8 0.86-0.92x, 1e5 x 8 x 4 0.94-0.98x (the CPU had stalled on
 * the first read of each row, in gmm_row_check_values: 27% of the query's
 * profile, 5% after).
 */
static inline void
PrefetchNextTuple(Pointer p)
{
	Size		n = VARATT_IS_EXTERNAL(p) ? 0 : VARSIZE_ANY(p) + 64;

	for (Size off = 64; off <= n; off += 64)
		gmm_prefetch((const void *) ((uintptr_t) p - off));
}

/*
 * gmm_array_reader_nulls for a caller that reads many rows (the scoring
 * functions), into b.  A datum with a one-byte header (a row of up to 12
 * elements without NULLs, a few more with them, as the heap stores it) is
 * read from a copy in b->shortcopy, not detoasted into a palloc'd one.
 * Returns the row's values when it has no NULL.  For a row with NULLs it
 * returns NULL, with b->mask the bits of its NULLs (set where NULL); then
 * gmm_array_buffered_stored gives its non-NULL values in order (the
 * observed values, as a marginal over them takes them) and
 * gmm_array_buffered_expand the row with NaN at the NULLs, each checking
 * that the values are finite.  *n_null_out gets the number of NULL
 * elements.  What b holds is valid until the next call; *to_free is a
 * detoasted copy (a compressed or out-of-line row) or NULL.
 */
const double *
gmm_array_read_buffered(Datum row, int expected_dim, const char *expected_what,
						GmmArrayBuffers *b, int *n_null_out, void **to_free)
{
	Pointer		p = DatumGetPointer(row);
	ArrayType  *a;
	int			n;
	int			nbytes;
	int			n_null = 0;

	*to_free = NULL;
	b->array = NULL;
	PrefetchNextTuple(p);
	if (VARATT_IS_SHORT(p) && !VARATT_IS_EXTERNAL(p))
	{
		a = (ArrayType *) b->shortcopy.bytes;
		CopyShortDatum(p, b->shortcopy.bytes);
	}
	else if (VARATT_IS_EXTENDED(p))
	{
		a = DatumGetArrayTypeP(row);
		*to_free = a;
	}
	else
		a = (ArrayType *) p;
	if (!ARR_HASNULL(a))
	{
		*n_null_out = 0;
		return gmm_array_row(a, expected_dim, expected_what, b->values, NULL);
	}
	n = ArrayRowLength(a);
	gmm_row_check_dim(n, expected_dim, expected_what);
	nbytes = (n + 7) / 8;
	/* the mask: the bitmap's complement, the bits past n clear */
	for (int i = 0; i < nbytes; i++)
	{
		bits8		m = (bits8) ~ARR_NULLBITMAP(a)[i];

		if (i == nbytes - 1 && n % 8)
			m &= (bits8) ((1u << (n % 8)) - 1);
		b->mask[i] = m;
		n_null += pg_number_of_ones[m];
	}
	b->array = a;
	b->n = n;
	b->n_stored = n - n_null;
	b->stored = (const double *) ARR_DATA_PTR(a);
	*n_null_out = n_null;
	return n_null > 0 ? NULL : gmm_array_buffered_expand(b);
}

/* the non-NULL values of the last gmm_array_read_buffered row, in order */
const double *
gmm_array_buffered_stored(GmmArrayBuffers *b)
{
	uint64		not_finite = 0;

	for (int i = 0; i < b->n_stored; i++)
	{
		uint64		bits;

		memcpy(&bits, b->stored + i, sizeof(bits));
		not_finite |= BitsNotFinite(bits);
	}
	if (unlikely(not_finite))
		gmm_array_buffered_expand(b);	/* reports the element */
	return b->stored;
}

/* the row of the last gmm_array_read_buffered call, NaN at its NULLs */
const double *
gmm_array_buffered_expand(GmmArrayBuffers *b)
{
	int			n_null;
	const bits8 *bitmap = ARR_NULLBITMAP(b->array);

	if (ExpandNulls(bitmap, (const char *) b->stored, b->n, b->values, &n_null))
		ReportFirstNotFinite(bitmap, b->values, b->n);
	return b->values;
}

static const GmmRowApi gmm_row_api_table = {
	.version = GMM_ROW_API_VERSION,
	.max_features = GMM_MAX_FEATURES,
	.check_dim = gmm_row_check_dim,
	.check_values = gmm_row_check_values,
	.fit_transition = gmm_fit_transition,
	.em_step_transition = gmm_em_step_transition,
	.init_transition = gmm_init_transition,
	.score = gmm_score_row,
	.score_accum = gmm_score_accum_row,
};

/*
 * The entry points for companion extensions (gmm_row.h).  Not an SQL
 * function: it is only looked up with load_external_function.
 */
const GmmRowApi *
gmm_row_api(void)
{
	return &gmm_row_api_table;
}
