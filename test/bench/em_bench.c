/*
 * em_bench.c
 *	  Timing of the numerical core without PostgreSQL, and the machine's
 *	  DGEMM and exp rates that the benchmark's flop-rate floor uses.
 *
 *	  em_bench fit N D K TYPE IT1 IT2 [REPS]
 *		  fit deterministic mixture data (n x d, k well separated clusters)
 *		  with max_iter IT1 and IT2, tol 0; prints the median seconds of each
 *		  and the seconds per EM iteration (the difference over IT2 - IT1).
 *	  em_bench score N D K TYPE [REPS]
 *		  fit a model to such data (5 iterations), then score every row
 *		  with gmm_row_log_prob_lanes (the components side by side, laid
 *		  out once: what gmm_score_samples and the scoring aggregates do),
 *		  at the CPU's width (8 with AVX-512) and at width 4, and with
 *		  gmm_row_log_prob (the factors as they are, one component at a
 *		  time), and on the lanes' generic loop (the unrolled kernels up to
 *		  16 features off), taking turns; prints the median nanoseconds
 *		  per row of each and how far apart the two widths' and the two
 *		  loops' sums are, and a bare read of the lanes per row (the
 *		  bound once they outgrow the first-level cache).
 *	  em_bench rates
 *		  DGEMM GFLOP/s (1024^3, and the E-step shape d x 512 x d for d = 8,
 *		  16, 64) and exp() per second, one thread.
 *
 *	  EM_BENCH_WORKERS=N runs the E-step on N threads (gmm.fit_workers);
 *	  EM_BENCH_WALL=1 times wall clock instead of this process's CPU time
 *	  (needed with threads); EM_BENCH_FULLSMALL=8, 4 or -1 runs a full fit
 *	  of up to 128 features on gmm's own kernels of that width (where the
 *	  CPU has them) or on BLAS (-1), instead of the CPU's choice;
 *	  EM_BENCH_EMWIDTH=8 or 4 runs the blocked E-step's kernels at that
 *	  width (4 where the CPU has AVX2; gmm_em_set_width).
 *
 *	  Build: make -C test/bench (links the core sources directly).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "gmm_core.h"
#include "fullsmall.h"
#include "vec8.h"

static void *
b_alloc(size_t size, void *arg)
{
	void	   *p = malloc(size ? size : 1);

	(void) arg;
	if (!p)
		abort();
	return p;
}

static void
b_release(void *p, void *arg)
{
	(void) arg;
	free(p);
}

static void
b_interrupts(void *arg)
{
	(void) arg;
}

static const GmmHooks hooks = {b_alloc, b_release, b_interrupts, NULL, NULL};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(getenv("EM_BENCH_WALL") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * The sum of n doubles read eight at a time in eight chains: what a bare
 * read of the scoring lanes costs (one AVX-512 load per multiply-add the
 * kernel does, where the CPU has it), a bound on the kernel's time once the
 * lanes outgrow the first-level cache.
 */
GMM_KERNEL static double
read_all(const double *a, size_t n)
{
	v8d			s0 = vsplat(0.0), s1 = s0, s2 = s0, s3 = s0,
				s4 = s0, s5 = s0, s6 = s0, s7 = s0;
	size_t		i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 += vload(a + i);
		s1 += vload(a + i + 8);
		s2 += vload(a + i + 16);
		s3 += vload(a + i + 24);
		s4 += vload(a + i + 32);
		s5 += vload(a + i + 40);
		s6 += vload(a + i + 48);
		s7 += vload(a + i + 56);
	}
	s0 += s1 + s2 + s3 + s4 + s5 + s6 + s7;
	for (; i < n; i++)
		s0[0] += a[i];
	return vsum(s0);
}

static double
median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* k centres uniform in [-5, 5]^d, unit normal noise scaled per component */
static double *
mixture_rows(size_t n, int d, int k, uint64_t seed)
{
	double	   *X = malloc(sizeof(double) * n * d);
	double	   *C = malloc(sizeof(double) * k * d);
	GmmRng		r;

	gmm_rng_seed(&r, seed, 0);
	for (int i = 0; i < k * d; i++)
		C[i] = 10.0 * gmm_rng_uniform(&r) - 5.0;
	for (size_t i = 0; i < n; i++)
	{
		int			j = (int) (gmm_rng_uniform(&r) * k);
		double		s = 0.5 + (double) j / k;

		for (int t = 0; t < d; t++)
			X[i * d + t] = C[j * d + t] + s * gmm_rng_normal(&r);
	}
	free(C);
	return X;
}

static GmmCovType
parse_type(const char *s)
{
	if (strcmp(s, "full") == 0)
		return GMM_COV_FULL;
	if (strcmp(s, "tied") == 0)
		return GMM_COV_TIED;
	if (strcmp(s, "diag") == 0)
		return GMM_COV_DIAG;
	return GMM_COV_SPHERICAL;
}

static double
time_fit(const double *X, size_t n, int d, int k, GmmCovType t, int iters,
		 double *ll)
{
	GmmFitOptions opt;
	GmmFitResult res;
	GmmParams	p;
	double	   *buf = malloc(sizeof(double) * gmm_params_ndoubles(t, k, d));
	double		t0;
	GmmStatus	st;

	gmm_fit_options_default(&opt, k);
	opt.cov_type = t;
	opt.max_iter = iters;
	opt.tol = 0.0;
	/* EM_BENCH_WORKERS: threads of the E-step (gmm.fit_workers) */
	opt.fit_workers = getenv("EM_BENCH_WORKERS") ? atoi(getenv("EM_BENCH_WORKERS")) : 1;
	gmm_params_bind(&p, t, k, d, buf);
	t0 = now();
	st = gmm_fit(X, NULL, n, d, &opt, &hooks, &p, &res);
	t0 = now() - t0;
	if (st != GMM_OK)
	{
		fprintf(stderr, "fit failed: %d\n", (int) st);
		exit(1);
	}
	*ll = res.log_likelihood;
	free(buf);
	return t0;
}

static double
dgemm_rate(int m, int n, int kk, int reps)
{
	double	   *A = malloc(sizeof(double) * m * kk);
	double	   *B = malloc(sizeof(double) * kk * n);
	double	   *C = calloc((size_t) m * n, sizeof(double));
	const double one = 1.0;
	double		best = 0.0;

	for (size_t i = 0; i < (size_t) m * kk; i++)
		A[i] = 1.0 / (1 + i % 7);
	for (size_t i = 0; i < (size_t) kk * n; i++)
		B[i] = 1.0 / (1 + i % 5);
	for (int r = 0; r < 5; r++)
	{
		double		t0 = now();

		for (int q = 0; q < reps; q++)
			dgemm_("N", "N", &m, &n, &kk, &one, A, &m, B, &kk, &one, C, &m, 1, 1);
		t0 = now() - t0;
		if (2.0 * m * n * kk * reps / t0 > best)
			best = 2.0 * m * n * kk * reps / t0;
	}
	free(A);
	free(B);
	free(C);
	return best / 1e9;
}

static double
exp_rate(void)
{
	size_t		n = 1 << 16;
	double	   *v = malloc(sizeof(double) * n);
	double		best = 0.0,
				sink = 0.0;

	for (size_t i = 0; i < n; i++)
		v[i] = -20.0 * (double) i / n;
	for (int r = 0; r < 5; r++)
	{
		double		t0 = now();

		for (int q = 0; q < 50; q++)
			for (size_t i = 0; i < n; i++)
				sink += exp(v[i] + q * 1e-9);
		t0 = now() - t0;
		if (50.0 * n / t0 > best)
			best = 50.0 * n / t0;
	}
	free(v);
	if (sink == 42.0)
		printf(" ");
	return best;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "rates") == 0)
	{
		printf("dgemm_1024 %.3f\n", dgemm_rate(1024, 1024, 1024, 2));
		printf("dgemm_8x512x8 %.3f\n", dgemm_rate(8, 8, 512, 20000));
		printf("dgemm_16x512x16 %.3f\n", dgemm_rate(16, 16, 512, 10000));
		printf("dgemm_64x512x64 %.3f\n", dgemm_rate(64, 64, 512, 1000));
		printf("exp_per_s %.4g\n", exp_rate());
		return 0;
	}
	if (argc >= 8 && strcmp(argv[1], "fit") == 0)
	{
		size_t		n = strtoull(argv[2], NULL, 10);
		int			d = atoi(argv[3]);
		int			k = atoi(argv[4]);
		GmmCovType	t = parse_type(argv[5]);
		int			it1 = atoi(argv[6]);
		int			it2 = atoi(argv[7]);
		int			reps = argc > 8 ? atoi(argv[8]) : 3;
		double	   *X = mixture_rows(n, d, k, 42);
		double		a[64],
					b[64],
					ll1 = 0,
					ll2 = 0;

		if (getenv("EM_BENCH_FULLSMALL"))
			gmm_fullsmall_set_width(atoi(getenv("EM_BENCH_FULLSMALL")));
		if (getenv("EM_BENCH_EMWIDTH"))
			gmm_em_set_width(atoi(getenv("EM_BENCH_EMWIDTH")));
		for (int r = 0; r < reps && r < 64; r++)
		{
			a[r] = time_fit(X, n, d, k, t, it1, &ll1);
			b[r] = time_fit(X, n, d, k, t, it2, &ll2);
		}
		{
			double		ma = median(a, reps),
						mb = median(b, reps);

			printf("fit n=%zu d=%d k=%d %s: %d it %.4f s, %d it %.4f s, "
				   "per iteration %.5f s, ll %.10g\n",
				   n, d, k, argv[5], it1, ma, it2, mb,
				   (mb - ma) / (it2 - it1), ll2);
		}
		free(X);
		return 0;
	}
	if (argc >= 6 && strcmp(argv[1], "score") == 0)
	{
		size_t		n = strtoull(argv[2], NULL, 10);
		int			d = atoi(argv[3]);
		int			k = atoi(argv[4]);
		GmmCovType	t = parse_type(argv[5]);
		int			reps = argc > 6 ? atoi(argv[6]) : 5;
		double	   *X = mixture_rows(n, d, k, 42);
		GmmFitOptions opt;
		GmmFitResult res;
		GmmParams	p;
		double	   *buf = malloc(sizeof(double) * gmm_params_ndoubles(t, k, d));
		double	   *logw = malloc(sizeof(double) * k);
		double	   *lp = malloc(sizeof(double) * k);
		double	   *work = malloc(sizeof(double) * 2 * d);
		size_t		nl = gmm_score_lanes_ndoubles(t, k, d);
		double	   *lanes = malloc(sizeof(double) * (nl + 8));
		double	   *lanes4 = malloc(sizeof(double) * (nl + 8));	/* four wide: no more */
		double	   *lwork = malloc(sizeof(double) * gmm_score_lanes_work_ndoubles(d));
		double	   *ln = (double *) (((uintptr_t) lanes + 63) & ~(uintptr_t) 63);
		double	   *ln4 = (double *) (((uintptr_t) lanes4 + 63) & ~(uintptr_t) 63);
		double		ns[64],
					ns4[64],
					ns_gen[64],
					ns_sq[64],
					ns_rd[64],
					sum = 0.0,
					sum4 = 0.0,
					sum_gen = 0.0,
					sum_sq = 0.0,
					sum_rd = 0.0;

		gmm_fit_options_default(&opt, k);
		opt.cov_type = t;
		opt.max_iter = 5;
		gmm_params_bind(&p, t, k, d, buf);
		if (gmm_fit(X, NULL, n < 20000 ? n : 20000, d, &opt, &hooks, &p, &res) != GMM_OK)
		{
			fprintf(stderr, "fit failed\n");
			return 1;
		}
		for (int j = 0; j < k; j++)
			logw[j] = log(p.weights[j]);
		gmm_score_lanes(&p, ln);
		gmm_score_lanes_set_width(4);
		gmm_score_lanes(&p, ln4);
		gmm_score_lanes_set_width(0);
		if (reps > 64)
			reps = 64;
		for (int r = 0; r < reps; r++)
		{
			double		t0 = now();

			sum = 0.0;
			for (size_t i = 0; i < n; i++)
				sum += gmm_row_log_prob_lanes(&p, nl ? ln : NULL, logw, X + i * d, lp, lwork);
			ns[r] = (now() - t0) / n * 1e9;
			gmm_score_lanes_set_width(4);
			t0 = now();
			sum4 = 0.0;
			for (size_t i = 0; i < n; i++)
				sum4 += gmm_row_log_prob_lanes(&p, nl ? ln4 : NULL, logw, X + i * d, lp, lwork);
			ns4[r] = (now() - t0) / n * 1e9;
			gmm_score_lanes_set_width(0);
			gmm_score_lanes_set_unrolled(false);
			t0 = now();
			sum_gen = 0.0;
			for (size_t i = 0; i < n; i++)
				sum_gen += gmm_row_log_prob_lanes(&p, nl ? ln : NULL, logw, X + i * d, lp, lwork);
			ns_gen[r] = (now() - t0) / n * 1e9;
			gmm_score_lanes_set_unrolled(true);
			t0 = now();
			sum_sq = 0.0;
			for (size_t i = 0; i < n; i++)
				sum_sq += gmm_row_log_prob(&p, logw, X + i * d, lp, work);
			ns_sq[r] = (now() - t0) / n * 1e9;
			t0 = now();
			for (size_t i = 0; i < n; i++)
				sum_rd += read_all(ln, nl);
			ns_rd[r] = (now() - t0) / n * 1e9;
		}
		printf("score n=%zu d=%d k=%d %s: %.1f ns per row on the lanes, %.1f on lanes of 4, "
			   "%.1f on the lanes' generic loop, %.1f without (%.3fx, %.3fx, %.3fx; "
			   "the lanes over their generic loop %.3fx; sums %.17g, %.17g; "
			   "the widths' %.1e apart, the loops' %.1e); a bare read of the lanes "
			   "(%.1f kB) %.1f ns (%g)\n",
			   n, d, k, argv[5], median(ns, reps), median(ns4, reps), median(ns_gen, reps),
			   median(ns_sq, reps),
			   median(ns, reps) / median(ns_sq, reps), median(ns4, reps) / median(ns_sq, reps),
			   median(ns_gen, reps) / median(ns_sq, reps), median(ns, reps) / median(ns_gen, reps),
			   sum, sum_sq, fabs(sum - sum4) / fabs(sum), fabs(sum - sum_gen) / fabs(sum),
			   nl * sizeof(double) / 1024.0, median(ns_rd, reps), sum_rd);
		return 0;
	}
	fprintf(stderr, "usage: em_bench rates | fit N D K TYPE IT1 IT2 [REPS] | score N D K TYPE [REPS]\n");
	return 2;
}
