/*
 * fullsmall.c
 *	  gmm's own kernels for full covariances of up to 128 features (em.c),
 *	  in place of BLAS: the E-step's squared distances of a block of rows
 *	  to one component, fused with the triangular product, and the
 *	  statistics' pass: the weighted scatter, upper triangle only, fused
 *	  with the centring and weighting of the rows (eight wide).  Part of
 *	  the numerical core: no PostgreSQL headers.
 *
 * Below 32 features em.c otherwise calls dgemm: H = XT [U_1 ... U_g]
 * multiplies by the zeros of each upper triangular factor too and is read
 * again for ||H - off||^2, and the scatter Y^T Y0 computes both triangles
 * of a symmetric matrix, twice the flops the benchmark's floor counts;
 * from 32 on, dtrmm and dsyrk.  Here the product reads column block t..t+7
 * of U against rows 0..t+7 only, the sums of squares are taken from
 * registers, and the scatter computes the 4 x 4 tiles on and above the
 * diagonal.  Built for AVX-512 (GMM_KERNEL_AVX512: eight rows a vector, a
 * tile of 24 rows by 8 columns in 24 registers) and for AVX2 (four wide,
 * below), they run where gmm_fullsmall_use says so (the CPU and d: see
 * there); elsewhere em.c keeps BLAS (and where there are no clones, their
 * portable build is never called).  Where they run instead of BLAS, and
 * how much faster: gmm_fullsmall_use.  Deterministic: the same block gives
 * the same bits, whatever thread runs it.
 */
#include <math.h>
#include <string.h>

#include "gmm_core.h"
#include "vec8.h"
#include "fullsmall.h"

#ifdef GMM_KERNEL_AVX512
#define FS_KERNEL GMM_KERNEL_AVX512
#define FS4_KERNEL GMM_KERNEL_AVX2_ONLY
#else
#define FS_KERNEL
#define FS4_KERNEL
#endif

/* gmm_fullsmall_set_width's choice: 0, by the CPU */
static int	fs_width_set = 0;

void
gmm_fullsmall_set_width(int width)
{
	fs_width_set = (width == 8 && GMM_CPU_AVX512()) || (width == 4 && GMM_CPU_AVX2()) ||
		width == -1 ? width : 0;
}

int
gmm_fullsmall_width(void)
{
	if (fs_width_set)
		return fs_width_set < 0 ? 0 : fs_width_set;
	return GMM_CPU_AVX512() ? 8 : GMM_CPU_AVX2() ? 4 : 0;
}

/*
 * Which BLAS they beat, `em_bench fit N D K full 2 7 3` (seconds per
 * iteration, one BLAS thread, two interleaved rounds), on an Intel Xeon
 * with AVX-512 (family 6 model 167), OpenBLAS 0.3.21 on its SkylakeX
 * kernels, eight-wide own against BLAS: 100k x 8, K = 4: 0.0062-0.0063
 * against 0.0075-0.0076; 1e6 x 16, K = 8: 0.156-0.158 against
 * 0.235-0.245; 200k x 64, K = 8: 0.352-0.355 against 0.491-0.522 (dtrmm
 * and dsyrk); 50k x 128, K = 4: 0.126-0.129 against 0.156-0.160; but 20k
 * x 192, K = 4: 0.135 against 0.128.  On OpenBLAS's Haswell kernels
 * (OPENBLAS_CORETYPE=Haswell: the AVX2 BLAS an AVX2 CPU gets), four-wide
 * own against BLAS: 0.0075-0.0076 against 0.0106-0.0107, 0.223-0.230
 * against 0.361-0.368; from 32 features on BLAS's dtrmm and dsyrk (half
 * the flops of its dgemm) are as fast.  So, whatever the BLAS: eight wide
 * up to GMM_FULLSMALL_MAX_D features, four wide below
 * GMM_FULLSMALL_BLAS_MIN_D (the README's "Own kernels" has the table).
 * (Earlier measurements, which had BLAS win on some CPUs, were of a build
 * whose tiles GCC did not unroll: every accumulator went through memory,
 * the kernels 1.6-2.7x slower; see GMM_UNROLL.)
 */
bool
gmm_fullsmall_use(int d)
{
	int			w = gmm_fullsmall_width();

	if (d > GMM_FULLSMALL_MAX_D || w == 0)
		return false;
	return w == 8 || d < GMM_FULLSMALL_BLAS_MIN_D;
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

/* acc[r][c] += x_s U[s][c0 + c] for the R vectors of rows, columns cfrom.. */
#define FS_QUAD_ROW(R, srow, cfrom) \
	do { \
		const double *u_ = Up + (size_t) (srow) * dp + c0; \
		v8d			x_[R]; \
\
		GMM_UNROLL \
		for (int r = 0; r < R; r++) \
			x_[r] = vload(XT + (size_t) (srow) * B + i0 + r * VW); \
		GMM_UNROLL \
		for (int c = (cfrom); c < VW; c++) \
		{ \
			v8d			uc = vsplat(u_[c]); \
\
			GMM_UNROLL \
			for (int r = 0; r < R; r++) \
				acc[r][c] += x_[r] * uc; \
		} \
	} while (0)

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
	GMM_UNROLL \
	for (int r = 0; r < R; r++) \
		qa[r] = vsplat(0.0); \
	for (int c0 = 0; c0 < dp; c0 += VW) \
	{ \
		v8d			acc[R][VW]; \
		int			se = c0 + VW < d ? c0 + VW : d; \
\
		GMM_UNROLL \
		for (int r = 0; r < R; r++) \
			GMM_UNROLL \
			for (int c = 0; c < VW; c++) \
				acc[r][c] = vsplat(0.0); \
		/* rows 0..c0+7 of columns c0..c0+7: U is zero below the diagonal */ \
		for (int s = 0; s < c0; s++) \
			FS_QUAD_ROW(R, s, 0); \
		/* \
		 * the diagonal block, row c0 + sp from column sp on: its zeros \
		 * below the diagonal skipped (36 of its 64 entries are not zero) \
		 */ \
		GMM_UNROLL \
		for (int sp = 0; sp < VW; sp++) \
		{ \
			if (c0 + sp >= se) \
				break; \
			FS_QUAD_ROW(R, c0 + sp, sp); \
		} \
		GMM_UNROLL \
		for (int c = 0; c < VW; c++) \
		{ \
			v8d			oc = vsplat(op[c0 + c]); \
\
			GMM_UNROLL \
			for (int r = 0; r < R; r++) \
			{ \
				v8d			z = acc[r][c] - oc; \
\
				qa[r] += z * z; \
			} \
		} \
	} \
	GMM_UNROLL \
	for (int r = 0; r < R; r++) \
		vstore(q + i0 + r * VW, vload(q + i0 + r * VW) + qa[r]); \
}

FS_TILE(1)
FS_TILE(2)
FS_TILE(3)

FS_KERNEL static void
quad8(int np, int d, const double *XT, int B, const double *Up,
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

/*
 * The statistics' pass of one component, eight wide, fused: y = x - sh and
 * r y are computed from the rows of X (X0T) inside the tiles that use
 * them, instead of being written out for the whole block and read back per
 * tile (stats_add_block's loop doing that, store-bound, was 15-22% of an
 * iteration at 1e6 x 16, K = 8, more than the scatter's extra subtractions
 * and products cost).  Diagonal tiles also sum S1 of their four features.
 * Per entry the operations and their order are those of the two passes it
 * replaces (y, r y, then the scatter's sums), so the sums are the same,
 * but for S1 of the last d mod 4 features (and of all without S), whose
 * product and sum the compiler may now fuse into one multiply-add.
 */
#define FS_Y(t, i) (vload(X + (size_t) (t) * B + (i)) - vsplat(sh[t]))

/*
 * One 4 x 4 tile of S from rows s0.. and columns t0..: diag (t0 == s0)
 * computes its upper half and S1 of its four features (summed over the np
 * rows, the padding's weights being zero), else the whole tile
 */
GMM_ALWAYS_INLINE void
stats_tile8(int n, int d, const double *X, int B, const double *r,
			const double *sh, int s0, int t0, bool diag, double *s1,
			double *S)
{
	int			np = (n + VW - 1) & ~(VW - 1);
	int			n8 = n & ~(VW - 1);
	v8d			acc[4][4],
				acc1[4];
	double		tail[4][4];

	GMM_UNROLL
	for (int a = 0; a < 4; a++)
	{
		acc1[a] = vsplat(0.0);
		GMM_UNROLL
		for (int b = 0; b < 4; b++)
		{
			acc[a][b] = vsplat(0.0);
			tail[a][b] = 0.0;
		}
	}
	for (int i = 0; i < (diag ? np : n8); i += VW)
	{
		v8d			rr = vload(r + i),
					ya[4],
					yb[4];

		GMM_UNROLL
		for (int a = 0; a < 4; a++)
		{
			yb[a] = FS_Y(t0 + a, i);
			ya[a] = rr * (diag ? yb[a] : FS_Y(s0 + a, i));
			if (diag)
				acc1[a] += ya[a];
		}
		if (i < n8)
			GMM_UNROLL
			for (int a = 0; a < 4; a++)
				GMM_UNROLL
				for (int b = diag ? a : 0; b < 4; b++)
					acc[a][b] += ya[a] * yb[b];
	}
	for (int i = n8; i < n; i++)
		GMM_UNROLL
		for (int a = 0; a < 4; a++)
			GMM_UNROLL
			for (int b = diag ? a : 0; b < 4; b++)
				tail[a][b] += r[i] * (X[(size_t) (s0 + a) * B + i] - sh[s0 + a]) *
					(X[(size_t) (t0 + b) * B + i] - sh[t0 + b]);
	GMM_UNROLL
	for (int a = 0; a < 4; a++)
	{
		if (diag)
			s1[s0 + a] += vsum(acc1[a]);
		GMM_UNROLL
		for (int b = diag ? a : 0; b < 4; b++)
			S[(size_t) (s0 + a) + (size_t) (t0 + b) * d] += vsum(acc[a][b]) + tail[a][b];
	}
}

FS_KERNEL static void
stats8(int n, int d, const double *X, int B, const double *r,
	   const double *sh, double *s1, double *S)
{
	int			np = (n + VW - 1) & ~(VW - 1);
	int			n8 = n & ~(VW - 1);
	int			d4 = S ? d & ~3 : 0;

	for (int s0 = 0; s0 < d4; s0 += 4)
	{
		stats_tile8(n, d, X, B, r, sh, s0, s0, true, s1, S);
		for (int t0 = s0 + 4; t0 < d4; t0 += 4)
			stats_tile8(n, d, X, B, r, sh, s0, t0, false, s1, S);
	}
	/* S1 of the features past the diagonal tiles (every one without S) */
	for (int t = d4; t < d; t++)
	{
		v8d			acc = vsplat(0.0);

		for (int i = 0; i < np; i += VW)
			acc += vload(r + i) * FS_Y(t, i);
		s1[t] += vsum(acc);
	}
	if (S == NULL)
		return;
	/* columns past the last multiple of four: every s <= t */
	for (int t = d4; t < d; t++)
		for (int s = 0; s <= t; s++)
		{
			v8d			acc = vsplat(0.0);
			double		sum;

			for (int i = 0; i < n8; i += VW)
				acc += vload(r + i) * FS_Y(s, i) * FS_Y(t, i);
			sum = vsum(acc);
			for (int i = n8; i < n; i++)
				sum += r[i] * (X[(size_t) s * B + i] - sh[s]) *
					(X[(size_t) t * B + i] - sh[t]);
			S[(size_t) s + (size_t) t * d] += sum;
		}
}

/*
 * The four-wide kernels, for AVX2 (16 vector registers): the product in
 * tiles of 8 rows (two vectors) by 4 columns, eight accumulators; the
 * scatter in tiles of 2 by 4 of the 4 x 4 grid, over rows four at a time.
 */
/* acc[h][c] += x_s U[s][c0 + c] for the two vectors of rows, columns cfrom.. */
#define FS4_QUAD_ROW(srow, cfrom) \
	do { \
		const double *u_ = Up + (size_t) (srow) * dp + c0; \
		v4d			x0_ = v4load(XT + (size_t) (srow) * B + i0); \
		v4d			x1_ = v4load(XT + (size_t) (srow) * B + i0 + 4); \
\
		GMM_UNROLL \
		for (int c = (cfrom); c < 4; c++) \
		{ \
			v4d			uc = v4splat(u_[c]); \
\
			acc[0][c] += x0_ * uc; \
			acc[1][c] += x1_ * uc; \
		} \
	} while (0)

FS4_KERNEL static void
quad4(int np, int d, const double *XT, int B, const double *Up,
	  const double *op, double *q)
{
	int			dp = gmm_fullsmall_dpad(d);

	for (int i0 = 0; i0 + 8 <= np; i0 += 8)
	{
		v4d			qa0 = v4splat(0.0),
					qa1 = v4splat(0.0);

		/* the columns from d to c0 + 3 are zero in Up and op */
		for (int c0 = 0; c0 < d; c0 += 4)
		{
			v4d			acc[2][4];
			int			se = c0 + 4 < d ? c0 + 4 : d;

			GMM_UNROLL
			for (int r = 0; r < 2; r++)
				GMM_UNROLL
				for (int c = 0; c < 4; c++)
					acc[r][c] = v4splat(0.0);
			for (int s = 0; s < c0; s++)
				FS4_QUAD_ROW(s, 0);
			/* the diagonal block from its diagonal on (10 of 16 entries) */
			GMM_UNROLL
			for (int sp = 0; sp < 4; sp++)
			{
				if (c0 + sp >= se)
					break;
				FS4_QUAD_ROW(c0 + sp, sp);
			}
			GMM_UNROLL
			for (int c = 0; c < 4; c++)
			{
				v4d			oc = v4splat(op[c0 + c]);
				v4d			z0 = acc[0][c] - oc;
				v4d			z1 = acc[1][c] - oc;

				qa0 += z0 * z0;
				qa1 += z1 * z1;
			}
		}
		v4store(q + i0, v4load(q + i0) + qa0);
		v4store(q + i0 + 4, v4load(q + i0 + 4) + qa1);
	}
}

FS4_KERNEL static void
scatter4(int n, int d, const double *Y, const double *Y0, int B, double *S)
{
	int			d4 = d & ~3;
	int			n4 = n & ~3;

	for (int s0 = 0; s0 < d4; s0 += 4)
		for (int t0 = s0; t0 < d4; t0 += 4)
			for (int h = 0; h < 4; h += 2)
			{
				v4d			acc[2][4];
				double		tail[2][4];

				GMM_UNROLL
				for (int a = 0; a < 2; a++)
					GMM_UNROLL
					for (int b = 0; b < 4; b++)
					{
						acc[a][b] = v4splat(0.0);
						tail[a][b] = 0.0;
					}
				for (int i = 0; i < n4; i += 4)
				{
					v4d			ya[2],
								yb[4];

					GMM_UNROLL
					for (int a = 0; a < 2; a++)
						ya[a] = v4load(Y + (size_t) (s0 + h + a) * B + i);
					GMM_UNROLL
					for (int b = 0; b < 4; b++)
						yb[b] = v4load(Y0 + (size_t) (t0 + b) * B + i);
					GMM_UNROLL
					for (int a = 0; a < 2; a++)
						GMM_UNROLL
						for (int b = 0; b < 4; b++)
							acc[a][b] += ya[a] * yb[b];
				}
				for (int i = n4; i < n; i++)
					GMM_UNROLL
					for (int a = 0; a < 2; a++)
						GMM_UNROLL
						for (int b = 0; b < 4; b++)
							tail[a][b] += Y[(size_t) (s0 + h + a) * B + i] *
								Y0[(size_t) (t0 + b) * B + i];
				GMM_UNROLL
				for (int a = 0; a < 2; a++)
					GMM_UNROLL
					for (int b = 0; b < 4; b++)
						if (s0 + h + a <= t0 + b)
							S[(size_t) (s0 + h + a) + (size_t) (t0 + b) * d] +=
								v4sum(acc[a][b]) + tail[a][b];
			}
	/* columns past the last multiple of four: every s <= t */
	for (int t = d4; t < d; t++)
		for (int s = 0; s <= t; s++)
		{
			const double *a = Y + (size_t) s * B;
			const double *b = Y0 + (size_t) t * B;
			v4d			acc = v4splat(0.0);
			double		sum;
			int			i = 0;

			for (; i + 4 <= n; i += 4)
				acc += v4load(a + i) * v4load(b + i);
			sum = v4sum(acc);
			for (; i < n; i++)
				sum += a[i] * b[i];
			S[(size_t) s + (size_t) t * d] += sum;
		}
}

/*
 * The statistics' pass, four wide: y = x - sh and r y written for the
 * block (Y0 and Y), S1 summed on the way, then scatter4.  A fused version
 * (tiles of 2 x 4, the shifts' splats in memory: AVX2's 16 registers hold
 * a tile, its rows and the weights, not the shifts too) measured no
 * faster, run four wide on an AMD EPYC with AVX-512 (family 25 model 17;
 * em_bench fit N D K full 2 12 5, EM_BENCH_FULLSMALL=4, three interleaved
 * rounds, s/iteration, this / fused: 200k x 8 x 4 0.0102-0.0106 /
 * 0.0098-0.0117; 500k x 16 x 8 0.099-0.113 / 0.098-0.119; 100k x 24 x 8
 * 0.049-0.052 / 0.044-0.050), so it was not kept.
 */
FS4_KERNEL static void
stats4(int n, int d, const double *X, int B, const double *r,
	   const double *sh, double *s1, double *S, double *Y, double *Y0)
{
	int			np = (n + VW - 1) & ~(VW - 1);

	for (int t = 0; t < d; t++)
	{
		const double *x = X + (size_t) t * B;
		double	   *y0 = Y0 + (size_t) t * B;
		double	   *y = Y + (size_t) t * B;
		v4d			a = v4splat(sh[t]);
		v4d			acc = v4splat(0.0);

		for (int i = 0; i < np; i += 4)
		{
			v4d			v = v4load(x + i) - a;
			v4d			rv = v4load(r + i) * v;

			if (S)
			{
				v4store(y0 + i, v);
				v4store(y + i, rv);
			}
			acc += rv;
		}
		s1[t] += v4sum(acc);
	}
	if (S)
		scatter4(n, d, Y, Y0, B, S);
}

void
gmm_fullsmall_quad(int np, int d, const double *XT, int B, const double *Up,
				   const double *op, double *q)
{
	if (gmm_fullsmall_width() == 8)
		quad8(np, d, XT, B, Up, op, q);
	else
		quad4(np, d, XT, B, Up, op, q);
}

void
gmm_fullsmall_stats(int n, int d, const double *X0T, int B, const double *r,
					const double *sh, double *s1, double *S, double *Y,
					double *Y0)
{
	if (gmm_fullsmall_width() == 8)
		stats8(n, d, X0T, B, r, sh, s1, S);
	else
		stats4(n, d, X0T, B, r, sh, s1, S, Y, Y0);
}
