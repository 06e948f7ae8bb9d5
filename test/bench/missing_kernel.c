/*
 * missing_kernel.c
 *	  The core's cost of scoring rows with missing features, per row, against
 *	  complete rows, without PostgreSQL: which route a repeated missingness
 *	  pattern should take (test/bench/missing_score.sh builds and runs it).
 *
 *	  missing_kernel N D K M
 *		  N rows, D features, a full-covariance model of K components; the
 *		  rows miss M features, in one of 3 patterns (as the SQL benchmark's
 *		  "3 patterns" table).  Prints ns per row of:
 *		    complete      gmm_row_log_prob_lanes on complete rows (the
 *		                  scoring lanes, as gmm_score.c)
 *		    schur         gmm_row_log_prob_missing (the Schur complement of
 *		                  each precision over the missing features, per row),
 *		                  with the precisions precomputed (as gmm_score.c does)
 *		    schur_noprec  the same, with P_mm from U_m U_m^T
 *		    marginal      gmm_row_log_prob_lanes on the packed observed values
 *		                  under the pattern's marginal model and its lanes,
 *		                  built once per pattern (the Cholesky factor of each
 *		                  observed block; what gmm_score.c caches from a
 *		                  pattern's 8th row on)
 *		    marg_per_row  the same, with the marginal built for every row
 *		                  (the cost of the Cholesky route without a cache; no
 *		                  lanes)
 *		    schur_random  gmm_row_log_prob_missing on the rows with each value
 *		                  missing with probability M / D instead (a pattern per
 *		                  row, as the SQL benchmark's "random" table)
 *
 *	  Build: see test/bench/missing_score.sh (cc -O2, the core sources, LAPACK).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gmm_core.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);	/* CPU time: a shared machine preempts */
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	int			n = argc > 1 ? atoi(argv[1]) : 100000;
	int			d = argc > 2 ? atoi(argv[2]) : 16;
	int			k = argc > 3 ? atoi(argv[3]) : 8;
	int			m = argc > 4 ? atoi(argv[4]) : 3;
	GmmParams	p;
	GmmRng		r;
	double	   *buf = calloc(gmm_params_ndoubles(GMM_COV_FULL, k, d), sizeof(double));
	double	   *X = malloc(sizeof(double) * n * d);
	double	   *XM = malloc(sizeof(double) * n * d);
	double	   *XR = malloc(sizeof(double) * n * d);
	int		   *pat = malloc(sizeof(int) * n);
	int			obs[3][1024],
				no = d - m;
	GmmParams	mp[3];
	double	   *mbuf[3];
	double	   *lw = malloc(sizeof(double) * k),
			   *lp = malloc(sizeof(double) * k),
			   *work = malloc(sizeof(double) * (gmm_missing_work_ndoubles(GMM_COV_FULL, k, d, d) +
											gmm_score_lanes_work_ndoubles(d))),
			   *packed = malloc(sizeof(double) * d);
	double		t0,
				sink = 0.0,
				t_complete,
				t_schur,
				t_schur_noprec,
				t_marg,
				t_marg_row,
				t_random;
	int			bad;
	int			n_row = n / 20 > 0 ? n / 20 : 1;

	gmm_rng_seed(&r, 1, 0);
	gmm_params_bind(&p, GMM_COV_FULL, k, d, buf);
	for (int j = 0; j < k; j++)
	{
		p.weights[j] = 1.0 / k;
		for (int a = 0; a < d; a++)
			p.means[j * d + a] = 3.0 * gmm_rng_normal(&r);
		/* covariance A A^T / d + I */
		{
			double	   *A = malloc(sizeof(double) * d * d);

			for (int i = 0; i < d * d; i++)
				A[i] = gmm_rng_normal(&r);
			for (int a = 0; a < d; a++)
				for (int b = 0; b < d; b++)
				{
					double		s = a == b ? 1.0 : 0.0;

					for (int l = 0; l < d; l++)
						s += A[a * d + l] * A[b * d + l] / d;
					p.covariances[((size_t) j * d + a) * d + b] = s;
				}
			free(A);
		}
		lw[j] = log(p.weights[j]);
	}
	if (gmm_compute_precision_cholesky(&p, &bad) != GMM_OK)
		return 1;
	/* 3 patterns of m missing features: positions (c * 5 + i * 7) % d, distinct */
	for (int c = 0; c < 3; c++)
	{
		char		miss[1024] = {0};
		int			o = 0;

		for (int i = 0, got = 0; got < m; i++)
		{
			int			t = (c * 5 + i * 7 + i / d) % d;

			if (!miss[t])
			{
				miss[t] = 1;
				got++;
			}
		}
		for (int t = 0; t < d; t++)
			if (!miss[t])
				obs[c][o++] = t;
		mbuf[c] = calloc(gmm_params_ndoubles(GMM_COV_FULL, k, no), sizeof(double));
		gmm_params_bind(&mp[c], GMM_COV_FULL, k, no, mbuf[c]);
	}
	for (int i = 0; i < n; i++)
	{
		pat[i] = i % 3;
		for (int a = 0; a < d; a++)
			X[(size_t) i * d + a] = XM[(size_t) i * d + a] = p.means[(i % k) * d + a] + gmm_rng_normal(&r);
		for (int a = 0; a < d; a++)
			XR[(size_t) i * d + a] = gmm_rng_uniform(&r) < (double) m / d ? NAN : X[(size_t) i * d + a];
		if (gmm_row_count_missing(XR + (size_t) i * d, d) == d)
			XR[(size_t) i * d] = X[(size_t) i * d];
		for (int a = 0, o = 0; a < d; a++)
		{
			if (o < no && obs[pat[i]][o] == a)
				o++;
			else
				XM[(size_t) i * d + a] = NAN;
		}
	}

	double	   *prec = malloc(sizeof(double) * gmm_precisions_ndoubles(GMM_COV_FULL, k, d));

	gmm_precisions(&p, prec);
	/* the scoring lanes of the model and of the patterns' marginals (as gmm_score.c) */
	double	   *lanes = aligned_alloc(64, sizeof(double) * (gmm_score_lanes_ndoubles(GMM_COV_FULL, k, d) + 8));
	double	   *mlanes[3];

	gmm_score_lanes(&p, lanes);
	for (int c = 0; c < 3; c++)
	{
		gmm_marginal_params(&p, no, obs[c], &mp[c], &bad);
		mlanes[c] = aligned_alloc(64, sizeof(double) * (gmm_score_lanes_ndoubles(GMM_COV_FULL, k, no) + 8));
		gmm_score_lanes(&mp[c], mlanes[c]);
	}
	t_complete = t_schur = t_schur_noprec = t_marg = t_marg_row = t_random = INFINITY;
	/* best of 5, the routes taking turns (a busy moment falls on all of them) */
	for (int rep = 0; rep < 5; rep++)
	{
	double		t;

	t0 = now();
	for (int i = 0; i < n; i++)
		sink += gmm_row_log_prob_lanes(&p, lanes, lw, X + (size_t) i * d, lp, work);
	t = now() - t0;
	t_complete = fmin(t_complete, t);

	t0 = now();
	for (int i = 0; i < n; i++)
		sink += gmm_row_log_prob_missing(&p, prec, lw, XM + (size_t) i * d, lp, work);
	t = now() - t0;
	t_schur = fmin(t_schur, t);

	t0 = now();
	for (int i = 0; i < n; i++)
		sink += gmm_row_log_prob_missing(&p, NULL, lw, XM + (size_t) i * d, lp, work);
	t = now() - t0;
	t_schur_noprec = fmin(t_schur_noprec, t);

	t0 = now();
	for (int i = 0; i < n; i++)
	{
		const double *x = XM + (size_t) i * d;
		int			c = pat[i];

		for (int a = 0; a < no; a++)
			packed[a] = x[obs[c][a]];
		sink += gmm_row_log_prob_lanes(&mp[c], mlanes[c], lw, packed, lp, work);
	}
	t = now() - t0;
	t_marg = fmin(t_marg, t);

	t0 = now();
	for (int i = 0; i < n_row; i++)
	{
		const double *x = XM + (size_t) i * d;
		int			c = pat[i];

		gmm_marginal_params(&p, no, obs[c], &mp[c], &bad);
		for (int a = 0; a < no; a++)
			packed[a] = x[obs[c][a]];
		sink += gmm_row_log_prob(&mp[c], lw, packed, lp, work);
	}
	t = (now() - t0) * n / n_row;
	t_marg_row = fmin(t_marg_row, t);

	t0 = now();
	for (int i = 0; i < n; i++)
		sink += gmm_row_log_prob_missing(&p, prec, lw, XR + (size_t) i * d, lp, work);
	t = now() - t0;
	t_random = fmin(t_random, t);
	}

	printf("rows %d, d %d, k %d, full, %d missing (3 patterns), best of 5\n", n, d, k, m);
	printf("complete      %8.1f ns/row\n", t_complete / n * 1e9);
	printf("schur         %8.1f ns/row  (%.2fx complete)\n", t_schur / n * 1e9, t_schur / t_complete);
	printf("schur_noprec  %8.1f ns/row  (%.2fx complete)\n", t_schur_noprec / n * 1e9, t_schur_noprec / t_complete);
	printf("marginal      %8.1f ns/row  (%.2fx complete)\n", t_marg / n * 1e9, t_marg / t_complete);
	printf("marg_per_row  %8.1f ns/row  (%.2fx complete)\n", t_marg_row / n * 1e9, t_marg_row / t_complete);
	printf("schur_random  %8.1f ns/row  (%.2fx complete)\n", t_random / n * 1e9, t_random / t_complete);
	if (sink == 42.0)
		printf("\n");
	return 0;
}
