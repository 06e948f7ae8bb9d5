/*
 * vec8.h
 *	  Eight doubles at a time for the core's kernels (em.c, em_missing.c,
 *	  marginal.c), and four (v4d, the AVX2 builds): GCC vector extensions
 *	  (SSE2 pairs on baseline x86-64, one register with AVX-512 or AVX2),
 *	  unaligned loads and stores through memcpy, the kernels' builds
 *	  (GMM_KERNEL and its kin, below), and the branch-free exp and
 *	  log-sum-exp the E-step and gmm_row_log_prob share, so that a row sums
 *	  its components the same way in both (the scoring lanes take the exps
 *	  with Estrin's polynomial and sum them on the lanes: score.c).
 *	  Include it in .c files of the core only.
 */
#ifndef GMM_VEC8_H
#define GMM_VEC8_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * The vectors never cross a non-inlined call of another unit, so GCC's note
 * that their argument-passing ABI depends on AVX-512 does not apply.
 */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double v8d __attribute__((vector_size(64)));
typedef int64_t v8l __attribute__((vector_size(64)));

#define VW 8

/* four doubles (score.c's kernel, the calibration search): one AVX2 register */
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));
typedef uint64_t v4ul __attribute__((vector_size(32)));

#define v4load(p) \
	__extension__ ({ v4d v4load_v_; memcpy(&v4load_v_, (p), sizeof(v4load_v_)); v4load_v_; })
#define v4splat(x) \
	__extension__ ({ double v4splat_x_ = (x); \
		(v4d) {v4splat_x_, v4splat_x_, v4splat_x_, v4splat_x_}; })
#define v4store(p, v) \
	__extension__ ({ v4d v4store_v_ = (v); memcpy((p), &v4store_v_, sizeof(v4store_v_)); })
#define v4sum(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

/*
 * Kernels over blocks of rows on eight doubles are built twice on x86-64
 * with GCC (GMM_KERNEL: AVX-512, where one vector is one register, and the
 * baseline), the loader picking one per CPU (an ifunc); elsewhere once.
 * GCC keeps an eight-double vector in memory on AVX2, so an AVX2 build of
 * them would be slower than the baseline: the E-step's block kernels have
 * a four-wide build for AVX2 instead (em_block.h, GMM_KERNEL_AVX2_ONLY),
 * as do the scoring kernel (score.c: GMM_KERNEL_AVX2, AVX-512, AVX2 with
 * FMA, baseline) and gmm's own full-covariance kernels (fullsmall.c).
 * GMM_NO_CLONES builds one version, for the compiler's -march (test/bench
 * comparisons).
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
	defined(__linux__) && defined(__has_attribute) && !defined(GMM_NO_CLONES)
#if __has_attribute(target_clones)
#define GMM_KERNEL __attribute__((target_clones("arch=x86-64-v4", "default")))
#define GMM_KERNEL_AVX2 __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define GMM_KERNEL_V3 __attribute__((target_clones("arch=x86-64-v3", "default")))
#define GMM_KERNEL_AVX512 __attribute__((target("arch=x86-64-v4")))
#define GMM_KERNEL_AVX2_ONLY __attribute__((target("arch=x86-64-v3")))
#define GMM_CPU_AVX512() (__builtin_cpu_supports("x86-64-v4") != 0)
#define GMM_CPU_AVX2() (__builtin_cpu_supports("x86-64-v3") != 0)
#endif
#endif
#ifndef GMM_KERNEL
#define GMM_KERNEL_AVX2
#define GMM_KERNEL
#define GMM_KERNEL_V3
#endif

/*
 * GMM_KERNEL_AVX512: a function built for AVX-512 only, which the caller
 * runs where GMM_CPU_AVX512() says the CPU has it (score.c's lanes of
 * eight components, whose layout depends on the width); GMM_KERNEL_V3: the
 * AVX2 and baseline builds of the four-wide version beside it;
 * GMM_KERNEL_AVX2_ONLY: a function built for AVX2 with FMA only, run where
 * GMM_CPU_AVX2() (fullsmall.c's four-wide kernels).  Without the clones
 * there are neither, and GMM_CPU_AVX512() and GMM_CPU_AVX2() are false.
 */
#ifndef GMM_CPU_AVX512
#define GMM_CPU_AVX512() false
#define GMM_CPU_AVX2() false
#endif

#define GMM_ALWAYS_INLINE static inline __attribute__((always_inline))

/*
 * Every loop over a register tile's rows and columns carries this, so that
 * the tile lives in registers: at -O2 GCC 12 does not unroll such loops and
 * keeps the tile's array in memory instead (a load, the operation and a
 * store each; the own full-covariance kernels were 1.6-2.7x slower so, and
 * the block transpose's 8 x 8 tile went through the stack).
 */
#define GMM_UNROLL _Pragma("GCC unroll 8")

/*
 * Ask for the cache lines of len bytes from p into the second-level cache,
 * a hint only (nothing is read through it, and an address past the data
 * does not fault); p is taken as an integer, so that an address computed
 * past an array is never C pointer arithmetic.
 */
GMM_ALWAYS_INLINE void
gmm_prefetch_l2(uintptr_t p, size_t len)
{
	for (size_t off = 0; off < len; off += 64)
		__builtin_prefetch((const void *) (p + off), 0, 2);
}

/*
 * Each macro's local has its own name, so that one macro's argument may use
 * another (vstore(p, vload(q))) without shadowing (-Wshadow=compatible-local,
 * which PostgreSQL 17's PGXS turns on).
 */
#define vload(p) \
	__extension__ ({ v8d vload_v_; memcpy(&vload_v_, (p), sizeof(vload_v_)); vload_v_; })
#define vstore(p, v) \
	do { v8d vstore_v_ = (v); memcpy((p), &vstore_v_, sizeof(vstore_v_)); } while (0)
#define vsplat(x) \
	__extension__ ({ double vsplat_x_ = (x); \
		(v8d) {vsplat_x_, vsplat_x_, vsplat_x_, vsplat_x_, vsplat_x_, vsplat_x_, vsplat_x_, vsplat_x_}; })

/* lanes summed in a fixed order (v: a variable) */
#define vsum(v) \
	((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))

/*
 * e^r's degree-13 Taylor polynomial (c_i = 1/i!) for |r| <= ln2/2, two
 * ways.  Horner's rule, 14 multiply-adds one after another: what the
 * E-step's kernels use, which have many vectors in flight.  Estrin's
 * scheme, the same polynomial with a few more operations in a tree of
 * depth six instead of fourteen: for a row's single vector (the scoring
 * lanes), where the chain's latency is the cost.  The two round
 * differently, each within an ulp or two of exp.
 */
#define GMM_EXP_POLY_HORNER(V, SPLAT, r) \
	__extension__ ({ \
		V			ph_ = SPLAT(1.0 / 6227020800.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 479001600.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 39916800.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 3628800.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 362880.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 40320.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 5040.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 720.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 120.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 24.0); \
		ph_ = ph_ * (r) + SPLAT(1.0 / 6.0); \
		ph_ = ph_ * (r) + SPLAT(0.5); \
		ph_ = ph_ * (r) + SPLAT(1.0); \
		ph_ * (r) + SPLAT(1.0); \
	})
#define GMM_EXP_POLY_ESTRIN(V, SPLAT, r) \
	__extension__ ({ \
		V			r2_ = (r) * (r), \
					r4_ = r2_ * r2_, \
					r8_ = r4_ * r4_; \
		V			lo_ = ((r) + SPLAT(1.0)) + r2_ * ((r) * SPLAT(1.0 / 6.0) + SPLAT(0.5)); \
		V			mid_ = ((r) * SPLAT(1.0 / 120.0) + SPLAT(1.0 / 24.0)) + \
			r2_ * ((r) * SPLAT(1.0 / 5040.0) + SPLAT(1.0 / 720.0)); \
		V			hi_ = (((r) * SPLAT(1.0 / 362880.0) + SPLAT(1.0 / 40320.0)) + \
						   r2_ * ((r) * SPLAT(1.0 / 39916800.0) + SPLAT(1.0 / 3628800.0))) + \
			r4_ * ((r) * SPLAT(1.0 / 6227020800.0) + SPLAT(1.0 / 479001600.0)); \
		(lo_ + r4_ * mid_) + r8_ * hi_; \
	})

/*
 * exp(x) for x <= 0 on the lanes of a vector (v8_exp_nonpos eight,
 * v4_exp_nonpos four, the same bits per lane; the _estrin ones with the
 * other polynomial), without a call or a branch: x = n ln2 + r with |r| <=
 * ln2/2, e^r by its degree-13 Taylor polynomial (truncation below 1e-17
 * relative), 2^n put into the exponent bits.  Below -708, where exp is
 * subnormal, the result is 0.
 */
#define GMM_DEFINE_EXP_NONPOS(name, V, L, SPLAT, POLY) \
GMM_ALWAYS_INLINE V                                                                \
name(V x)                                                                          \
{                                                                                  \
	const double shifter = 6755399441055744.0;	/* 1.5 * 2^52 */                   \
	L			tiny = x < SPLAT(-708.0);                                          \
	V			xc = (V) (((L) x & ~tiny) | ((L) SPLAT(-708.0) & tiny));           \
	V			t = xc * SPLAT(1.4426950408889634074) + SPLAT(shifter);            \
	V			n = t - SPLAT(shifter);                                            \
	V			r = (xc - n * SPLAT(6.93147180369123816490e-01)) -                 \
		n * SPLAT(1.90821492927058770002e-10);                                     \
	V			p = POLY(V, SPLAT, r);                                             \
	L			bits;                                                              \
                                                                                   \
	/* the low bits of t hold n (two's complement); 2^n's exponent is n + 1023 */  \
	bits = ((L) t + 1023) << 52;                                                   \
	p = p * (V) bits;                                                              \
	return (V) ((L) p & ~tiny);                                                    \
}

GMM_DEFINE_EXP_NONPOS(v8_exp_nonpos, v8d, v8l, vsplat, GMM_EXP_POLY_HORNER)
GMM_DEFINE_EXP_NONPOS(v4_exp_nonpos, v4d, v4l, v4splat, GMM_EXP_POLY_HORNER)
GMM_DEFINE_EXP_NONPOS(v8_exp_nonpos_estrin, v8d, v8l, vsplat, GMM_EXP_POLY_ESTRIN)
GMM_DEFINE_EXP_NONPOS(v4_exp_nonpos_estrin, v4d, v4l, v4splat, GMM_EXP_POLY_ESTRIN)

/*
 * log(x) for positive normal x on four lanes, without a call: x = 2^e f
 * with f in [sqrt(1/2), sqrt(2)), log f = 2 atanh(s) with s = (f - 1) / (f
 * + 1), |s| <= 0.1716, by its series to s^23 (truncation below 1e-18
 * relative), and e ln 2 in two parts (the high part exact for |e| < 2^11).
 * Within a few ulp of libm's log.
 */
GMM_ALWAYS_INLINE v4d
v4_log_pos(v4d x)
{
	const int64_t mant = 0x000fffffffffffffLL;
	const int64_t one = 0x3ff0000000000000LL;
	v4l			bits = (v4l) x;
	/* a logical shift (an arithmetic one on 64-bit lanes needs AVX-512) */
	v4l			e = (v4l) ((v4ul) bits >> 52) - 1023;
	v4d			f = (v4d) ((bits & mant) | one);	/* [1, 2) */
	v4l			big = f > v4splat(1.4142135623730951);
	v4d			s,
				s2,
				p,
				ed;

	/* f in [sqrt(2), 2): halve it (exact), one more in the exponent */
	f = (v4d) (((v4l) (f * v4splat(0.5)) & big) | ((v4l) f & ~big));
	e -= big;					/* big is -1 where true */
	s = (f - v4splat(1.0)) / (f + v4splat(1.0));
	s2 = s * s;
	p = v4splat(1.0 / 23);
	p = p * s2 + v4splat(1.0 / 21);
	p = p * s2 + v4splat(1.0 / 19);
	p = p * s2 + v4splat(1.0 / 17);
	p = p * s2 + v4splat(1.0 / 15);
	p = p * s2 + v4splat(1.0 / 13);
	p = p * s2 + v4splat(1.0 / 11);
	p = p * s2 + v4splat(1.0 / 9);
	p = p * s2 + v4splat(1.0 / 7);
	p = p * s2 + v4splat(1.0 / 5);
	p = p * s2 + v4splat(1.0 / 3);
	/* 2 s (1 + s2 p) = 2 s + 2 s s2 p: the small part last */
	p = (s + s) + (s + s) * s2 * p;
	/* e as a double: 1.5 * 2^52 + e has e in its low bits, for either sign */
	ed = (v4d) (e + 0x4338000000000000LL) - v4splat(6755399441055744.0);
	return ed * v4splat(6.93147180369123816490e-01) +
		(ed * v4splat(1.90821492927058770002e-10) + p);
}

/* v4_log_pos on eight lanes, four at a time (the same bits per lane) */
GMM_ALWAYS_INLINE v8d
v8_log_pos(v8d x)
{
	v4d			lo,
				hi;
	v8d			r;

	memcpy(&lo, &x, sizeof(lo));
	memcpy(&hi, (const char *) &x + sizeof(lo), sizeof(hi));
	lo = v4_log_pos(lo);
	hi = v4_log_pos(hi);
	memcpy(&r, &lo, sizeof(lo));
	memcpy((char *) &r + sizeof(lo), &hi, sizeof(hi));
	return r;
}

/* out = exp(in) on eight doubles, in <= 0 */
GMM_ALWAYS_INLINE void
vexp_nonpos(const double *in, double *out)
{
	vstore(out, v8_exp_nonpos(vload(in)));
}

/*
 * log(sum(exp(a))) over k values, shifted by the maximum; the exps eight at
 * a time, summed in component order.
 */
GMM_ALWAYS_INLINE double
log_sum_exp(const double *a, int k)
{
	double		m = a[0],
				s = 0.0;

	for (int j = 1; j < k; j++)
		if (a[j] > m)
			m = a[j];
	if (!isfinite(m))
		return m;
	for (int j0 = 0; j0 < k; j0 += VW)
	{
		double		e[VW];

		for (int l = 0; l < VW; l++)
			e[l] = j0 + l < k ? a[j0 + l] - m : -1e300;
		vexp_nonpos(e, e);
		for (int l = 0; l < VW && j0 + l < k; l++)
			s += e[l];
	}
	return m + log(s);
}

#endif							/* GMM_VEC8_H */
