/*
 * gmm_array.c
 *	  float8[] feature rows: validation and zero-copy access to their values;
 *	  the checks every row reader shares, and the table of entry points that
 *	  companion extensions call with readers of their own types (gmm_row.h).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
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

/* the n values of a row must be finite */
void
gmm_row_check_values(const double *v, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (unlikely(!isfinite(v[i])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature array must not contain NaN or infinite values"),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(v[i]) ? "NaN" : (v[i] > 0 ? "Infinity" : "-Infinity"))));
	}
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
	int			n;
	const double *v;

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
