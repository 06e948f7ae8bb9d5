/*
 * fullsmall.h
 *	  gmm's own kernels for full covariances of few features (fullsmall.c),
 *	  which em.c calls in place of dgemm.  Core-internal, not part of the
 *	  API in gmm_core.h.
 */
#ifndef GMM_FULLSMALL_H
#define GMM_FULLSMALL_H

#include <stdbool.h>

/*
 * up to this many features, eight wide (`em_bench fit`, an AVX-512 Xeon:
 * faster than OpenBLAS's SkylakeX dgemm, dtrmm and dsyrk up to 128
 * features, slower at 192: fullsmall.c)
 */
#ifndef GMM_FULLSMALL_MAX_D
#define GMM_FULLSMALL_MAX_D 128
#endif

/*
 * from this many features on, em.c's BLAS path computes the triangles only
 * (dtrmm, dsyrk: its EM_TRI_MIN_D), and the four-wide kernels give way to it
 */
#ifndef GMM_FULLSMALL_BLAS_MIN_D
#define GMM_FULLSMALL_BLAS_MIN_D 32
#endif

/*
 * whether em.c uses these kernels for d features (fullsmall.c says why):
 * eight wide on a CPU with AVX-512 up to GMM_FULLSMALL_MAX_D features,
 * four wide on one with AVX2 and FMA only below 32, whatever the BLAS
 */
extern bool gmm_fullsmall_use(int d);

/* the kernels' width: 8, 4, or 0 where there are none */
extern int	gmm_fullsmall_width(void);

/*
 * for tests and benchmarks, before a fit and before sizing its work
 * (gmm_stats_work_ndoubles: blocks are smaller on these kernels): 8 or 4
 * where the CPU has them, -1 for none (BLAS), anything else to choose by
 * the CPU again
 */
extern void gmm_fullsmall_set_width(int width);

/* d rounded up to 8: the columns of a padded factor */
extern int	gmm_fullsmall_dpad(int d);

/*
 * Up (d x dpad, row-major, zero past column d) from the row-major upper
 * factor U (d x d), op (dpad, zero past d) from off (d)
 */
extern void gmm_fullsmall_factor(const double *U, const double *off, int d,
								 double *Up, double *op);

/*
 * q[i] += ||x_i Up - op||^2 for the np rows (a multiple of 8) of XT, whose
 * d columns are B apart
 */
extern void gmm_fullsmall_quad(int np, int d, const double *XT, int B,
							   const double *Up, const double *op, double *q);

/*
 * One component's statistics over a block, from its rows as stored: with
 * y_i = x_i - sh (x the rows of X0T, d columns B apart) and weights r
 * (zero from row n to n rounded up to 8), s1[t] += sum of r_i y_it and,
 * where S is not NULL, S[s + t d] += sum over the n rows of (r_i y_is) y_it
 * for s <= t (the upper triangle of a column-major d x d matrix; the rest
 * untouched).  Y and Y0 (d x B each) are scratch the four-wide build
 * writes y and r y to.
 */
extern void gmm_fullsmall_stats(int n, int d, const double *X0T, int B,
								const double *r, const double *sh, double *s1,
								double *S, double *Y, double *Y0);

#endif							/* GMM_FULLSMALL_H */
