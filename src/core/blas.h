/*
 * blas.h
 *	  Prototypes of the Fortran BLAS/LAPACK routines the numerical core calls
 *	  (libblas/liblapack, OpenBLAS through Debian's alternatives).  Character
 *	  arguments carry gfortran's hidden length arguments at the end; C
 *	  implementations such as OpenBLAS ignore them.
 */
#ifndef GMM_BLAS_H
#define GMM_BLAS_H

#include <stddef.h>

typedef size_t gmm_fchar_len;

extern void dgemm_(const char *transa, const char *transb, const int *m,
				   const int *n, const int *k, const double *alpha,
				   const double *a, const int *lda, const double *b,
				   const int *ldb, const double *beta, double *c,
				   const int *ldc, gmm_fchar_len, gmm_fchar_len);
extern void dgemv_(const char *trans, const int *m, const int *n,
				   const double *alpha, const double *a, const int *lda,
				   const double *x, const int *incx, const double *beta,
				   double *y, const int *incy, gmm_fchar_len);
extern void dsyrk_(const char *uplo, const char *trans, const int *n,
				   const int *k, const double *alpha, const double *a,
				   const int *lda, const double *beta, double *c,
				   const int *ldc, gmm_fchar_len, gmm_fchar_len);
extern void dtrmm_(const char *side, const char *uplo, const char *transa,
				   const char *diag, const int *m, const int *n,
				   const double *alpha, const double *a, const int *lda,
				   double *b, const int *ldb, gmm_fchar_len, gmm_fchar_len,
				   gmm_fchar_len, gmm_fchar_len);
extern void dtrsm_(const char *side, const char *uplo, const char *transa,
				   const char *diag, const int *m, const int *n,
				   const double *alpha, const double *a, const int *lda,
				   double *b, const int *ldb, gmm_fchar_len, gmm_fchar_len,
				   gmm_fchar_len, gmm_fchar_len);
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
					int *info, gmm_fchar_len);
extern void dtrtri_(const char *uplo, const char *diag, const int *n,
					double *a, const int *lda, int *info, gmm_fchar_len,
					gmm_fchar_len);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda,
					int *info, gmm_fchar_len);

/*
 * Small row-block helpers shared by the core files (linalg.c).  Not part of
 * the API in gmm_core.h.
 */
#include <stdint.h>

#include "gmm_core.h"

/* rows per BLAS-3 block of the E-step and of k-means */
#define GMM_BLOCK_ROWS 256

/* rows in the block that starts at row i0 of n */
static inline int
gmm_block_len(size_t n, size_t i0)
{
	return (int) (n - i0 < GMM_BLOCK_ROWS ? n - i0 : GMM_BLOCK_ROWS);
}

/* weight of row i; w NULL means every row weighs 1 */
static inline double
gmm_row_weight(const double *w, size_t i)
{
	return w ? w[i] : 1.0;
}

extern GmmStatus gmm_check_weights(const double *w, size_t n, int k,
								   int64_t *n_pos, double *sum_w);
extern void gmm_centre_rows(const double *X, int nrows, int d,
							const double *shift, double *out);
extern void gmm_symmetrise(double *a, int d, bool from_lower);

#endif							/* GMM_BLAS_H */
