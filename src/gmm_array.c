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
	const char *src;
	int			n_null = 0;
	uint64		not_finite = 0;

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
	src = ARR_DATA_PTR(a);
	/*
	 * Sixty-four elements at a time: all NaN first, then the stored values
	 * (the non-NULL elements, one after the other) put at the positions of
	 * the set bits of the NULL bitmap, lowest first, so that no branch
	 * depends on which elements are NULL but the loop's count of stored
	 * values.  The data may be unaligned (a short-header datum read in
	 * place).
	 */
	for (int w = 0; w < n; w += 64)
	{
		int			nw = Min(64, n - w);
		uint64		present = 0;

		for (int b = 0; b < (nw + 7) / 8; b++)
			present |= (uint64) bitmap[w / 8 + b] << (8 * b);
		if (nw < 64)
			present &= (UINT64CONST(1) << nw) - 1;
		for (int i = 0; i < nw; i++)
			buf[w + i] = NAN;
		n_null += nw - pg_popcount64(present);
		for (; present != 0; present &= present - 1)
		{
			uint64		bits;

			memcpy(&bits, src, sizeof(double));
			src += sizeof(double);
			/* a stored NaN or infinity: every exponent bit set */
			not_finite |= ((bits >> 52) & 0x7ff) == 0x7ff;
			memcpy(&buf[w + pg_rightmost_one_pos64(present)], &bits, sizeof(double));
		}
	}
	if (unlikely(not_finite))
	{
		/* the first element that is not NULL and not finite */
		for (int i = 0; i < n; i++)
			if ((bitmap[i / 8] & (1 << (i % 8))) && !isfinite(buf[i]))
				ReportNotFinite(buf[i], i);
	}
	if (dim_out)
		*dim_out = n;
	if (n_null_out)
		*n_null_out = n_null;
	return buf;
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
 * gmm_array_reader_nulls for a caller that reads many rows (the scoring
 * functions): the values of a row with NULLs go to b->values, and a datum
 * with a one-byte header (a row of up to 12 elements without NULLs, or a
 * few more with them, as the heap stores it) is read from a copy in
 * b->shortcopy, not detoasted into a palloc'd one.  *n_null_out gets the
 * number of NULL elements and, when there are some, b->mask their bits (set
 * where NULL, the pattern gmm_score.c looks up).  The result stays valid
 * until the next call with b; *to_free is a detoasted copy (a compressed or
 * out-of-line row) or NULL.
 */
const double *
gmm_array_read_buffered(Datum row, int expected_dim, const char *expected_what,
						GmmArrayBuffers *b, int *n_null_out, void **to_free)
{
	Pointer		p = DatumGetPointer(row);
	ArrayType  *a;
	const double *v;

	*to_free = NULL;
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
	v = gmm_array_row_nulls(a, expected_dim, expected_what, b->values, NULL,
							n_null_out);
	if (*n_null_out > 0)
	{
		const bits8 *bitmap = ARR_NULLBITMAP(a);
		int			nbytes = (expected_dim + 7) / 8;

		for (int i = 0; i < nbytes; i++)
			b->mask[i] = (bits8) ~bitmap[i];
		if (expected_dim % 8)
			b->mask[nbytes - 1] &= (bits8) ((1u << (expected_dim % 8)) - 1);
	}
	return v;
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
