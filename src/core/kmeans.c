/*
 * kmeans.c
 *	  Weighted k-means for the default initialisation of EM: scikit-learn's
 *	  greedy k-means++ seeding, then Lloyd iterations with blocked BLAS
 *	  distances.  Part of the numerical core: no PostgreSQL headers.
 *
 * Distances are computed on rows centred by the weighted data mean (as
 * scikit-learn centres X), so ||x||^2 - 2 x.c + ||c||^2 does not cancel
 * catastrophically for data far from the origin.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

#define KM_MAX_ITER 300

/* Weighted mean of the rows (sum_w > 0). */
static void
weighted_mean(const double *X, const double *w, size_t n, int d,
			  double sum_w, double *mean)
{
	memset(mean, 0, sizeof(double) * d);
	for (size_t i = 0; i < n; i++)
	{
		double		wi = gmm_row_weight(w, i);

		if (wi > 0.0)
			for (int t = 0; t < d; t++)
				mean[t] += wi * X[i * d + t];
	}
	for (int t = 0; t < d; t++)
		mean[t] /= sum_w;
}

/* ||c_j||^2 for m centres */
static void
centre_norms(const double *C, int m, int d, double *cnorm)
{
	for (int j = 0; j < m; j++)
	{
		double		s = 0.0;

		for (int t = 0; t < d; t++)
			s += C[(size_t) j * d + t] * C[(size_t) j * d + t];
		cnorm[j] = s;
	}
}

/*
 * Squared distances D (B x m, row-major) between B centred rows Xc and m
 * centres C: ||x||^2 - 2 x.c + ||c||^2 with the cross term from one dgemm
 * (column-major D^T = C^T-as-stored times Xc^T-as-stored), clamped at 0.
 */
static void
sqdist_block(const double *Xc, int B, int d, const double *C,
			 const double *cnorm, int m, double *D)
{
	const double minus2 = -2.0,
				zero = 0.0;

	dgemm_("T", "N", &m, &B, &d, &minus2, C, &d, Xc, &d, &zero, D, &m, 1, 1);
	for (int i = 0; i < B; i++)
	{
		const double *x = Xc + (size_t) i * d;
		double		xn = 0.0;

		for (int t = 0; t < d; t++)
			xn += x[t] * x[t];
		for (int j = 0; j < m; j++)
		{
			double		v = D[(size_t) i * m + j] + xn + cnorm[j];

			D[(size_t) i * m + j] = v > 0.0 ? v : 0.0;
		}
	}
}

/*
 * Pick T rows at once by inverting the cumulative sum of w_i * score_i
 * (score NULL: 1) at u_t * total, u_t uniform: the first row whose cumulative
 * sum exceeds the target, so a row of zero mass is never picked.  Targets
 * that rounding puts at or past the end take the last row of positive mass.
 * One pass over the rows for all T targets (sorted by insertion, T is tiny).
 */
static void
pick_rows(const double *w, const double *score, size_t n, const double *u,
		  int T, double total, size_t *out)
{
	int			order[64];
	int			next = 0;
	double		cum = 0.0;
	size_t		last = 0;

	for (int t = 0; t < T; t++)
	{
		int			s = t;

		while (s > 0 && u[order[s - 1]] > u[t])
		{
			order[s] = order[s - 1];
			s--;
		}
		order[s] = t;
	}
	for (size_t i = 0; i < n && next < T; i++)
	{
		double		mass = gmm_row_weight(w, i) * (score ? score[i] : 1.0);

		if (!(mass > 0.0))
			continue;
		cum += mass;
		last = i;
		while (next < T && u[order[next]] * total < cum)
			out[order[next++]] = i;
	}
	while (next < T)
		out[order[next++]] = last;
}

/* Centre and gather row idx of X into c (d doubles). */
static void
centred_row(const double *X, size_t idx, int d, const double *mean, double *c)
{
	gmm_centre_rows(X + idx * d, 1, d, mean, c);
}

/*
 * k-means++ seeding (scikit-learn's greedy variant): the first centre drawn
 * by weight, then for each next centre 2 + floor(ln k) candidates drawn by
 * weight times squared distance to the closest centre, keeping the candidate
 * that lowers the weighted potential most.  Writes the k chosen row numbers.
 * Uses n doubles for the closest distances.
 */
GmmStatus
gmm_kmeans_plusplus(const double *X, const double *w, size_t n, int d, int k,
					GmmRng *rng, const GmmHooks *hooks, size_t *indices)
{
	int			T = 2 + (int) floor(log((double) k));
	const int	BR = GMM_BLOCK_ROWS;
	int64_t		n_pos;
	double		sum_w,
				pot = 0.0;
	double	   *mean,
			   *closest,
			   *Xc,
			   *D,
			   *C,
			   *cnorm,
			   *u,
			   *cpot;
	size_t	   *cand;
	GmmStatus	st;

	st = gmm_check_weights(w, n, k, &n_pos, &sum_w);
	if (st != GMM_OK)
		return st;
	if (T > 64)
		T = 64;					/* k > e^62: cannot happen, keeps order[] safe */

	mean = hooks->alloc(sizeof(double) * ((size_t) d + n + (size_t) BR * d +
										  (size_t) BR * T + (size_t) T * d +
										  3 * (size_t) T), hooks->arg);
	closest = mean + d;
	Xc = closest + n;
	D = Xc + (size_t) BR * d;
	C = D + (size_t) BR * T;
	cnorm = C + (size_t) T * d;
	u = cnorm + T;
	cpot = u + T;
	cand = hooks->alloc(sizeof(size_t) * T, hooks->arg);

	weighted_mean(X, w, n, d, sum_w, mean);

	u[0] = gmm_rng_uniform(rng);
	pick_rows(w, NULL, n, u, 1, sum_w, &indices[0]);

	for (int c = 0; c < k; c++)
	{
		int			m,
					best = 0;

		hooks->check_interrupts(hooks->arg);
		if (c == 0)
		{
			/* the first centre: distances to it are the closest distances */
			m = 1;
			cand[0] = indices[0];
		}
		else
		{
			m = T;
			for (int t = 0; t < T; t++)
				u[t] = gmm_rng_uniform(rng);
			if (pot > 0.0)
				pick_rows(w, closest, n, u, T, pot, cand);
			else				/* every row sits on a centre: by weight */
				pick_rows(w, NULL, n, u, T, sum_w, cand);
		}
		for (int t = 0; t < m; t++)
		{
			centred_row(X, cand[t], d, mean, C + (size_t) t * d);
			cpot[t] = 0.0;
		}
		centre_norms(C, m, d, cnorm);

		/* potential of each candidate: sum of w * min(closest, dist) */
		for (size_t i0 = 0; i0 < n; i0 += BR)
		{
			int			B = gmm_block_len(n, i0);

			hooks->check_interrupts(hooks->arg);
			gmm_centre_rows(X + i0 * d, B, d, mean, Xc);
			sqdist_block(Xc, B, d, C, cnorm, m, D);
			for (int i = 0; i < B; i++)
			{
				double		wi = gmm_row_weight(w, i0 + i);

				for (int t = 0; t < m; t++)
				{
					double		v = D[(size_t) i * m + t];

					if (c > 0 && closest[i0 + i] < v)
						v = closest[i0 + i];
					if (wi > 0.0)
						cpot[t] += wi * v;
					/* the first centre has a single candidate: keep it now */
					if (c == 0)
						closest[i0 + i] = v;
				}
			}
		}
		if (c == 0)
		{
			pot = cpot[0];
			continue;
		}
		for (int t = 1; t < m; t++)
			if (cpot[t] < cpot[best])
				best = t;
		indices[c] = cand[best];
		pot = cpot[best];

		/* closest distances with the kept candidate (one more pass) */
		memcpy(C, C + (size_t) best * d, sizeof(double) * d);
		cnorm[0] = cnorm[best];
		for (size_t i0 = 0; i0 < n; i0 += BR)
		{
			int			B = gmm_block_len(n, i0);

			gmm_centre_rows(X + i0 * d, B, d, mean, Xc);
			sqdist_block(Xc, B, d, C, cnorm, 1, D);
			for (int i = 0; i < B; i++)
				if (D[i] < closest[i0 + i])
					closest[i0 + i] = D[i];
		}
	}
	hooks->release(cand, hooks->arg);
	hooks->release(mean, hooks->arg);
	return GMM_OK;
}

/*
 * Move the centres of empty clusters onto the rows farthest from their own
 * centres (scikit-learn's _relocate_empty_clusters): each such row leaves its
 * cluster's sums and becomes the sole member of an empty one.
 */
static void
relocate_empty(const double *X, const double *w, size_t n, int d, int k,
			   const double *mean, const int *labels, const double *dist,
			   double *sums, double *wsum, double *Xrow)
{
	for (int e = 0; e < k; e++)
	{
		size_t		far = 0;
		double		fd = -1.0;
		int			old;
		double		wf;

		if (wsum[e] > 0.0)
			continue;
		/* farthest positive-weight row not moved yet (dist < 0 once moved) */
		for (size_t i = 0; i < n; i++)
			if (gmm_row_weight(w, i) > 0.0 && dist[i] > fd)
			{
				fd = dist[i];
				far = i;
			}
		if (fd < 0.0)
			return;
		old = labels[far];
		wf = gmm_row_weight(w, far);
		centred_row(X, far, d, mean, Xrow);
		for (int t = 0; t < d; t++)
		{
			sums[(size_t) old * d + t] -= wf * Xrow[t];
			sums[(size_t) e * d + t] = wf * Xrow[t];
		}
		wsum[old] -= wf;
		wsum[e] = wf;
		/* dist is the caller's scratch: mark the row as used */
		((double *) dist)[far] = -1.0;
	}
}

/*
 * Assign every row to its nearest centre (ties: the lowest index), storing
 * the label and the squared distance; with sums given, also accumulate the
 * weighted sums and weights of the clusters.  Returns whether any label
 * changed.
 */
static bool
assign_rows(const double *X, const double *w, size_t n, int d, int k,
			const double *mean, const double *C, const double *cnorm,
			int *labels, double *dist, double *sums, double *wsum,
			double *Xc, double *D, const GmmHooks *hooks)
{
	const int	BR = GMM_BLOCK_ROWS;
	bool		changed = false;

	if (sums)
	{
		memset(sums, 0, sizeof(double) * k * d);
		memset(wsum, 0, sizeof(double) * k);
	}
	for (size_t i0 = 0; i0 < n; i0 += BR)
	{
		int			B = gmm_block_len(n, i0);

		hooks->check_interrupts(hooks->arg);
		gmm_centre_rows(X + i0 * d, B, d, mean, Xc);
		sqdist_block(Xc, B, d, C, cnorm, k, D);
		for (int i = 0; i < B; i++)
		{
			const double *Di = D + (size_t) i * k;
			double		wi = gmm_row_weight(w, i0 + i);
			int			lab = 0;

			for (int j = 1; j < k; j++)
				if (Di[j] < Di[lab])
					lab = j;
			if (labels[i0 + i] != lab)
				changed = true;
			labels[i0 + i] = lab;
			dist[i0 + i] = Di[lab];
			if (sums && wi > 0.0)
			{
				for (int t = 0; t < d; t++)
					sums[(size_t) lab * d + t] += wi * Xc[(size_t) i * d + t];
				wsum[lab] += wi;
			}
		}
	}
	return changed;
}

GmmStatus
gmm_kmeans(const double *X, const double *w, size_t n, int d, int k,
		   uint64_t seed, const GmmHooks *hooks, int *labels, double *centers)
{
	const int	BR = GMM_BLOCK_ROWS;
	int64_t		n_pos;
	double		sum_w,
				tol = 0.0;
	double	   *mean,
			   *C,
			   *cnorm,
			   *sums,
			   *wsum,
			   *dist,
			   *Xc,
			   *D;
	size_t	   *idx;
	bool		strict = false;
	GmmRng		rng;
	GmmStatus	st;

	st = gmm_check_weights(w, n, k, &n_pos, &sum_w);
	if (st != GMM_OK)
		return st;

	idx = hooks->alloc(sizeof(size_t) * k, hooks->arg);
	gmm_rng_seed(&rng, seed, 0);
	st = gmm_kmeans_plusplus(X, w, n, d, k, &rng, hooks, idx);
	if (st != GMM_OK)
	{
		hooks->release(idx, hooks->arg);
		return st;
	}

	mean = hooks->alloc(sizeof(double) * ((size_t) d + 2 * (size_t) k * d +
										  2 * (size_t) k + n +
										  (size_t) BR * d + (size_t) BR * k),
						hooks->arg);
	C = mean + d;
	sums = C + (size_t) k * d;
	cnorm = sums + (size_t) k * d;
	wsum = cnorm + k;
	dist = wsum + k;
	Xc = dist + n;
	D = Xc + (size_t) BR * d;

	weighted_mean(X, w, n, d, sum_w, mean);
	for (int j = 0; j < k; j++)
		centred_row(X, idx[j], d, mean, C + (size_t) j * d);
	hooks->release(idx, hooks->arg);

	/* scikit-learn's _tolerance: 1e-4 times the mean feature variance */
	for (size_t i = 0; i < n; i++)
	{
		double		wi = gmm_row_weight(w, i);

		if (wi > 0.0)
			for (int t = 0; t < d; t++)
			{
				double		y = X[i * d + t] - mean[t];

				tol += wi * y * y;
			}
	}
	tol = 1e-4 * tol / sum_w / d;

	for (size_t i = 0; i < n; i++)
		labels[i] = -1;
	for (int it = 0; it < KM_MAX_ITER; it++)
	{
		double		shift = 0.0;
		bool		changed;

		hooks->check_interrupts(hooks->arg);
		centre_norms(C, k, d, cnorm);
		changed = assign_rows(X, w, n, d, k, mean, C, cnorm, labels, dist,
							  sums, wsum, Xc, D, hooks);
		relocate_empty(X, w, n, d, k, mean, labels, dist, sums, wsum, Xc);
		for (int j = 0; j < k; j++)
		{
			if (!(wsum[j] > 0.0))
				continue;		/* nothing to move it to: keep the centre */
			for (int t = 0; t < d; t++)
			{
				double		c = sums[(size_t) j * d + t] / wsum[j];
				double		delta = c - C[(size_t) j * d + t];

				shift += delta * delta;
				C[(size_t) j * d + t] = c;
			}
		}
		if (!changed)
		{
			/* labels are final and the centres are their means already */
			strict = true;
			break;
		}
		if (shift <= tol)
			break;
	}
	/* labels against the final centres, as scikit-learn does */
	if (!strict)
	{
		centre_norms(C, k, d, cnorm);
		assign_rows(X, w, n, d, k, mean, C, cnorm, labels, dist,
					NULL, NULL, Xc, D, hooks);
	}
	for (int j = 0; j < k; j++)
		for (int t = 0; t < d; t++)
			centers[(size_t) j * d + t] = C[(size_t) j * d + t] + mean[t];
	hooks->release(mean, hooks->arg);
	return GMM_OK;
}
