/*
 * fullsmall.c
 *	  gmm's own kernels for full covariances of up to 64 features (em.c),
 *	  in place of BLAS: the E-step's squared distances of a block of rows
 *	  to one component, fused with the triangular product, and the
 *	  statistics' weighted scatter, upper triangle only.  Part of the
 *	  numerical core: no PostgreSQL headers.
 *
 * Below 32 features em.c otherwise calls dgemm: H = XT [U_1 ... U_g]
 * multiplies by the zeros of each upper triangular factor too and is read
 * again for ||H - off||^2, and the scatter Y^T Y0 computes both triangles
 * of a symmetric matrix, twice the flops the benchmark's floor counts;
 * from 32 on, dtrmm and dsyrk.  Here the product reads column block t..t+7
 * of U against rows 0..t+7 only, the sums of squares are taken from
 * registers, and the scatter computes the 4 x 4 tiles on and above the
 * diagonal.  Built for AVX-512 (GMM_KERNEL_AVX512: eight rows a vector, a
 * tile of 24 rows by 8 columns in 24 registers), they run where
 * GMM_CPU_AVX512() says so (gmm_fullsmall_use); elsewhere em.c keeps BLAS
 * (and where there are no clones, their portable build is never called).
 * `em_bench fit N D K full 2 7` on an AVX-512 Xeon (OpenBLAS 0.3.21, one
 * thread), seconds per iteration, BLAS then these: 1e6 x 16, K = 8:
 * 1.90-2.15 -> 0.46-0.60 with OpenBLAS's Prescott kernels (the ones it
 * picks on that CPU), 1.05-1.13 -> 0.46-0.49 with its SkylakeX ones
 * (OPENBLAS_CORETYPE); 100k x 8, K = 4 (Prescott): 0.024-0.026 -> 0.013;
 * 200k x 64, K = 8: 2.10-2.16 -> 0.98-1.22 (Prescott), 1.29-1.32 ->
 * 1.22-1.25 (SkylakeX); but 50k x 128, K = 4: 0.42 with SkylakeX dtrmm,
 * 0.59 here, hence GMM_FULLSMALL_MAX_D.  Deterministic: the same block
 * gives the same bits, whatever thread runs it.
 */
#include <math.h>
#include <string.h>

#include "gmm_core.h"
#include "vec8.h"
#include "fullsmall.h"

#ifdef GMM_KERNEL_AVX512
#define FS_KERNEL GMM_KERNEL_AVX512
#else
#define FS_KERNEL
#endif

bool
gmm_fullsmall_use(int d)
{
	return d <= GMM_FULLSMALL_MAX_D && GMM_CPU_AVX512();
}

int
gmm_fullsmall_dpad(int d)
{
	return (d + VW - 1) & ~(VW - 1);
}

void
gmm_fullsmall_factor(const double *U, const double *off, int d, double *Up,
					 double *op)
{
	int			dp = gmm_fullsmall_dpad(d);

	for (int s = 0; s < d; s++)
		for (int c = 0; c < dp; c++)
			Up[(size_t) s * dp + c] = c < d ? U[(size_t) s * d + c] : 0.0;
	for (int c = 0; c < dp; c++)
		op[c] = c < d ? off[c] : 0.0;
}

/*
 * q[i0 + 8r + l] += sum_c (z_c - off_c)^2 for R vectors of rows, z = x Up
 * (x: rows of XT, d columns B apart), column blocks of eight
 */
#define FS_TILE(R) \
GMM_ALWAYS_INLINE void \
tri_quad_tile##R(const double *XT, int B, int i0, const double *Up, \
				 const double *op, int d, int dp, double *q) \
{ \
	v8d			qa[R]; \
\
	for (int r = 0; r < R; r++) \
		qa[r] = vsplat(0.0); \
	for (int c0 = 0; c0 < dp; c0 += VW) \
	{ \
		v8d			acc[R][VW]; \
		int			se = c0 + VW < d ? c0 + VW : d; \
\
		for (int r = 0; r < R; r++) \
			for (int c = 0; c < VW; c++) \
				acc[r][c] = vsplat(0.0); \
		/* rows 0..c0+7 of columns c0..c0+7: U is zero below the diagonal */ \
		for (int s = 0; s < se; s++) \
		{ \
			const double *u = Up + (size_t) s * dp + c0; \
			v8d			x[R]; \
\
			for (int r = 0; r < R; r++) \
				x[r] = vload(XT + (size_t) s * B + i0 + r * VW); \
			for (int c = 0; c < VW; c++) \
			{ \
				v8d			uc = vsplat(u[c]); \
\
				for (int r = 0; r < R; r++) \
					acc[r][c] += x[r] * uc; \
			} \
		} \
		for (int c = 0; c < VW; c++) \
		{ \
			v8d			oc = vsplat(op[c0 + c]); \
\
			for (int r = 0; r < R; r++) \
			{ \
				v8d			z = acc[r][c] - oc; \
\
				qa[r] += z * z; \
			} \
		} \
	} \
	for (int r = 0; r < R; r++) \
		vstore(q + i0 + r * VW, vload(q + i0 + r * VW) + qa[r]); \
}

FS_TILE(1)
FS_TILE(2)
FS_TILE(3)

FS_KERNEL void
gmm_fullsmall_quad(int np, int d, const double *XT, int B, const double *Up,
				   const double *op, double *q)
{
	int			dp = gmm_fullsmall_dpad(d);
	int			i0 = 0;

	for (; i0 + 3 * VW <= np; i0 += 3 * VW)
		tri_quad_tile3(XT, B, i0, Up, op, d, dp, q);
	if (i0 + 2 * VW <= np)
	{
		tri_quad_tile2(XT, B, i0, Up, op, d, dp, q);
		i0 += 2 * VW;
	}
	if (i0 + VW <= np)
		tri_quad_tile1(XT, B, i0, Up, op, d, dp, q);
}

/* sum over i < n of a[i] b[i], eight lanes then the rest, in a fixed order */
GMM_ALWAYS_INLINE double
dot_rows(const double *a, const double *b, int n)
{
	v8d			acc = vsplat(0.0);
	int			i = 0;
	double		s;

	for (; i + VW <= n; i += VW)
		acc += vload(a + i) * vload(b + i);
	s = vsum(acc);
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

FS_KERNEL void
gmm_fullsmall_scatter(int n, int d, const double *Y, const double *Y0, int B,
					  double *S)
{
	int			d4 = d & ~3;
	int			n8 = n & ~(VW - 1);

	/* 4 x 4 tiles on and above the diagonal */
	for (int s0 = 0; s0 < d4; s0 += 4)
		for (int t0 = s0; t0 < d4; t0 += 4)
		{
			v8d			acc[4][4];
			double		tail[4][4];

			for (int a = 0; a < 4; a++)
				for (int b = 0; b < 4; b++)
				{
					acc[a][b] = vsplat(0.0);
					tail[a][b] = 0.0;
				}
			for (int i = 0; i < n8; i += VW)
			{
				v8d			ya[4],
							yb[4];

				for (int a = 0; a < 4; a++)
				{
					ya[a] = vload(Y + (size_t) (s0 + a) * B + i);
					yb[a] = vload(Y0 + (size_t) (t0 + a) * B + i);
				}
				for (int a = 0; a < 4; a++)
					for (int b = 0; b < 4; b++)
						acc[a][b] += ya[a] * yb[b];
			}
			for (int i = n8; i < n; i++)
				for (int a = 0; a < 4; a++)
					for (int b = 0; b < 4; b++)
						tail[a][b] += Y[(size_t) (s0 + a) * B + i] *
							Y0[(size_t) (t0 + b) * B + i];
			for (int a = 0; a < 4; a++)
				for (int b = 0; b < 4; b++)
					if (s0 + a <= t0 + b)
						S[(size_t) (s0 + a) + (size_t) (t0 + b) * d] +=
							vsum(acc[a][b]) + tail[a][b];
		}
	/* columns past the last multiple of four: every s <= t */
	for (int t = d4; t < d; t++)
		for (int s = 0; s <= t; s++)
			S[(size_t) s + (size_t) t * d] +=
				dot_rows(Y + (size_t) s * B, Y0 + (size_t) t * B, n);
}
