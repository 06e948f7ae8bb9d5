/*
 * kmeans_sklearn.c
 *	  The initialisations of scikit-learn 1.2 with its own random draws (fit
 *	  option rng 'sklearn'): _kmeans_plusplus and KMeans(n_init=1) with
 *	  Lloyd's algorithm as sklearn/cluster/_kmeans.py and its Cython helpers
 *	  (_k_means_lloyd.pyx, _k_means_common.pyx) compute them, drawing from
 *	  numpy's legacy generator (mt19937.c).  The arithmetic follows theirs
 *	  (uncentred or centred rows as they are, the same distance expressions,
 *	  numpy's pairwise sums) so that the same draws pick the same rows.  Part
 *	  of the numerical core: no PostgreSQL headers.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"

#define SK_MAX_ITER 300			/* KMeans(max_iter=300) */
#define SK_TOL 1e-4				/* KMeans(tol=1e-4) */
#define SK_CHUNK 256			/* lloyd_iter_chunked_dense's chunk of rows */
#define PW_BLOCKSIZE 128

/*
 * numpy's pairwise summation of n contiguous doubles (the inner loop of
 * np.add.reduce): eight accumulators up to 128 values, halves above.
 */
double
gmm_numpy_sum(const double *a, size_t n)
{
	if (n < 8)
	{
		double		res = 0.0;

		for (size_t i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	else if (n <= PW_BLOCKSIZE)
	{
		double		r[8],
					res;
		size_t		i;

		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - (n % 8); i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	else
	{
		size_t		n2 = n / 2;

		n2 -= n2 % 8;
		return gmm_numpy_sum(a, n2) + gmm_numpy_sum(a + n2, n - n2);
	}
}

/* ||x_i - shift||^2 of every row (row_norms(X, squared=True)) */
static void
row_sqnorms(const double *X, size_t n, int d, const double *shift, double *out)
{
	for (size_t i = 0; i < n; i++)
	{
		double		s = 0.0;

		for (int t = 0; t < d; t++)
		{
			double		y = X[i * d + t] - shift[t];

			s += y * y;
		}
		out[i] = s;
	}
}

/* X.mean(axis=0): column sums in row order, divided by n */
static void
column_mean(const double *X, size_t n, int d, double *mean)
{
	memset(mean, 0, sizeof(double) * d);
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < d; t++)
			mean[t] += X[i * d + t];
	for (int t = 0; t < d; t++)
		mean[t] /= (double) n;
}

/*
 * np.searchsorted(cum, v) (side 'left'): the first i with cum[i] >= v, n
 * when there is none.
 */
static size_t
search_left(const double *cum, size_t n, double v)
{
	size_t		lo = 0,
				hi = n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (cum[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * scikit-learn 1.2's _kmeans_plusplus over the rows X - shift: the first
 * centre randint(n), then for each next one 2 + int(log k) candidates
 * searchsorted(cumsum(closest), uniform(size=T) * potential), keeping the
 * candidate of the lowest potential.  Distances are its _euclidean_distances,
 * ((-2 x.c) + ||c||^2) + ||x||^2 clipped at 0.  Allocates (T + 3) n doubles.
 */
GmmStatus
gmm_kmeans_plusplus_sklearn(const double *X, size_t n, int d, int k,
							const double *shift, GmmMt *mt,
							const GmmHooks *hooks, size_t *indices)
{
	int			T = 2 + (int) log((double) k);
	const int	BR = GMM_BLOCK_ROWS;
	const double minus2 = -2.0,
				zero = 0.0;
	double	   *xsq,
			   *closest,
			   *cum,
			   *cand_d,
			   *Xc,
			   *D,
			   *C,
			   *csq,
			   *u,
			   *pot;
	size_t	   *cand;
	double		cur_pot;

	if (n < (size_t) k || k < 1)
		return GMM_ERR_TOO_FEW_SAMPLES;
	xsq = hooks->alloc(sizeof(double) * ((size_t) (T + 3) * n +
										 (size_t) BR * d + (size_t) BR * T +
										 (size_t) T * d + 3 * (size_t) T),
					   hooks->arg);
	closest = xsq + n;
	cum = closest + n;
	cand_d = cum + n;
	Xc = cand_d + (size_t) T * n;
	D = Xc + (size_t) BR * d;
	C = D + (size_t) BR * T;
	csq = C + (size_t) T * d;
	u = csq + T;
	pot = u + T;
	cand = hooks->alloc(sizeof(size_t) * T, hooks->arg);

	row_sqnorms(X, n, d, shift, xsq);
	indices[0] = (size_t) gmm_mt_randint(mt, 0, (int64_t) n);
	cand[0] = indices[0];

	for (int c = 0; c < k; c++)
	{
		int			m = c == 0 ? 1 : T;
		int			best = 0;

		hooks->check_interrupts(hooks->arg);
		if (c > 0)
		{
			double		s = 0.0;

			for (int t = 0; t < T; t++)
				u[t] = gmm_mt_random_sample(mt) * cur_pot;
			/* stable_cumsum: np.cumsum, sequential */
			for (size_t i = 0; i < n; i++)
				cum[i] = (s += closest[i]);
			for (int t = 0; t < T; t++)
			{
				size_t		id = search_left(cum, n, u[t]);

				cand[t] = id < n ? id : n - 1;
			}
		}
		for (int t = 0; t < m; t++)
			gmm_centre_rows(X + cand[t] * d, 1, d, shift, C + (size_t) t * d);
		for (int t = 0; t < m; t++)
			csq[t] = xsq[cand[t]];

		for (size_t i0 = 0; i0 < n; i0 += BR)
		{
			int			B = gmm_block_len(n, i0);

			gmm_centre_rows(X + i0 * d, B, d, shift, Xc);
			dgemm_("T", "N", &m, &B, &d, &minus2, C, &d, Xc, &d, &zero, D, &m,
				   1, 1);
			for (int i = 0; i < B; i++)
				for (int t = 0; t < m; t++)
				{
					double		v = (D[(size_t) i * m + t] + csq[t]) + xsq[i0 + i];

					if (!(v > 0.0))
						v = 0.0;
					if (c > 0 && closest[i0 + i] < v)
						v = closest[i0 + i];
					cand_d[(size_t) t * n + i0 + i] = v;
				}
		}
		for (int t = 0; t < m; t++)
			pot[t] = gmm_numpy_sum(cand_d + (size_t) t * n, n);
		/* np.argmin: the first minimum */
		for (int t = 1; t < m; t++)
			if (pot[t] < pot[best])
				best = t;
		cur_pot = pot[best];
		memcpy(closest, cand_d + (size_t) best * n, sizeof(double) * n);
		indices[c] = cand[best];
	}
	hooks->release(cand, hooks->arg);
	hooks->release(xsq, hooks->arg);
	return GMM_OK;
}

/*
 * One Lloyd pass of lloyd_iter_chunked_dense over the centred rows: each
 * row's label is the first argmin of ||c||^2 - 2 x.c; with update, the
 * weighted sums and weights of the clusters into Cnew and wsum.  Returns
 * whether a label changed.
 */
static bool
lloyd_pass(const double *X, const double *w, size_t n, int d, int k,
		   const double *mean, const double *C, const double *cnorm,
		   int *labels, double *Cnew, double *wsum, bool update,
		   double *Xc, double *D, const GmmHooks *hooks)
{
	const double minus2 = -2.0,
				one = 1.0;
	bool		changed = false;

	if (update)
	{
		memset(Cnew, 0, sizeof(double) * k * d);
		memset(wsum, 0, sizeof(double) * k);
	}
	for (size_t i0 = 0; i0 < n; i0 += SK_CHUNK)
	{
		int			B = (int) (n - i0 < SK_CHUNK ? n - i0 : SK_CHUNK);

		hooks->check_interrupts(hooks->arg);
		gmm_centre_rows(X + i0 * d, B, d, mean, Xc);
		for (int i = 0; i < B; i++)
			memcpy(D + (size_t) i * k, cnorm, sizeof(double) * k);
		dgemm_("T", "N", &k, &B, &d, &minus2, C, &d, Xc, &d, &one, D, &k, 1, 1);
		for (int i = 0; i < B; i++)
		{
			const double *Di = D + (size_t) i * k;
			double		min = Di[0];
			int			lab = 0;

			for (int j = 1; j < k; j++)
				if (Di[j] < min)
				{
					min = Di[j];
					lab = j;
				}
			if (labels[i0 + i] != lab)
				changed = true;
			labels[i0 + i] = lab;
			if (update)
			{
				double		wi = gmm_row_weight(w, i0 + i);

				wsum[lab] += wi;
				for (int t = 0; t < d; t++)
					Cnew[(size_t) lab * d + t] += Xc[(size_t) i * d + t] * wi;
			}
		}
	}
	return changed;
}

/*
 * _relocate_empty_clusters_dense: each empty cluster takes the row farthest
 * from its old centre (largest first), which leaves its cluster's sums.
 * numpy's argpartition leaves the order among the farthest rows
 * unspecified; this takes them by decreasing distance (lowest row first
 * among equals), which is numpy's order for one or two empty clusters.
 * dist: n doubles of scratch.
 */
static void
relocate_empty(const double *X, const double *w, size_t n, int d, int k,
			   const double *mean, const double *Cold, const int *labels,
			   double *Cnew, double *wsum, double *dist, double *Xrow)
{
	int			n_empty = 0;
	double		maxd = 0.0;

	for (int j = 0; j < k; j++)
		n_empty += (wsum[j] == 0.0);
	if (n_empty == 0)
		return;
	for (size_t i = 0; i < n; i++)
	{
		const double *c = Cold + (size_t) labels[i] * d;
		double		s = 0.0;

		gmm_centre_rows(X + i * d, 1, d, mean, Xrow);
		for (int t = 0; t < d; t++)
			s += (Xrow[t] - c[t]) * (Xrow[t] - c[t]);
		dist[i] = s;
		if (s > maxd)
			maxd = s;
	}
	/* more clusters than distinct rows: relocating is pointless */
	if (maxd == 0.0)
		return;
	for (int e = 0; e < k; e++)
	{
		size_t		far = 0;
		double		fd = -1.0;
		int			old;
		double		wf;

		if (wsum[e] != 0.0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (dist[i] > fd)
			{
				fd = dist[i];
				far = i;
			}
		dist[far] = -1.0;
		old = labels[far];
		wf = gmm_row_weight(w, far);
		gmm_centre_rows(X + far * d, 1, d, mean, Xrow);
		for (int t = 0; t < d; t++)
		{
			Cnew[(size_t) old * d + t] -= Xrow[t] * wf;
			Cnew[(size_t) e * d + t] = Xrow[t] * wf;
		}
		wsum[e] = wf;
		wsum[old] -= wf;
	}
}

/*
 * KMeans(n_clusters=k, n_init=1, random_state=mt).fit(X) of scikit-learn
 * 1.2 (algorithm 'lloyd'): rows centred on their mean, k-means++ seeding on
 * them, Lloyd until the labels repeat (strict convergence) or the squared
 * centre shift is at most tol = 1e-4 times the mean column variance, at most
 * 300 iterations, then (unless strict) one more assignment.  w (NULL: none)
 * is KMeans's sample_weight, used by the centre updates only, as there.
 * labels: n out; centers: k x d out (not centred).
 */
GmmStatus
gmm_kmeans_sklearn(const double *X, const double *w, size_t n, int d, int k,
				   GmmMt *mt, const GmmHooks *hooks, int *labels,
				   double *centers)
{
	double	   *mean,
			   *C,
			   *Cnew,
			   *cnorm,
			   *wsum,
			   *dist,
			   *Xc,
			   *D,
			   *var;
	size_t	   *idx;
	double		tol = 0.0;
	bool		strict = false;
	GmmStatus	st;

	if (n < (size_t) k || k < 1)
		return GMM_ERR_TOO_FEW_SAMPLES;
	mean = hooks->alloc(sizeof(double) * (2 * (size_t) d + 2 * (size_t) k * d +
										  2 * (size_t) k + n +
										  (size_t) SK_CHUNK * d +
										  (size_t) SK_CHUNK * k),
						hooks->arg);
	var = mean + d;
	C = var + d;
	Cnew = C + (size_t) k * d;
	cnorm = Cnew + (size_t) k * d;
	wsum = cnorm + k;
	dist = wsum + k;
	Xc = dist + n;
	D = Xc + (size_t) SK_CHUNK * d;

	/* _tolerance: mean of np.var(X, axis=0), times tol */
	column_mean(X, n, d, mean);
	memset(var, 0, sizeof(double) * d);
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < d; t++)
		{
			double		y = X[i * d + t] - mean[t];

			var[t] += y * y;
		}
	for (int t = 0; t < d; t++)
		tol += var[t] / (double) n;
	tol = tol / d * SK_TOL;

	idx = hooks->alloc(sizeof(size_t) * k, hooks->arg);
	st = gmm_kmeans_plusplus_sklearn(X, n, d, k, mean, mt, hooks, idx);
	if (st != GMM_OK)
	{
		hooks->release(idx, hooks->arg);
		hooks->release(mean, hooks->arg);
		return st;
	}
	for (int j = 0; j < k; j++)
		gmm_centre_rows(X + idx[j] * d, 1, d, mean, C + (size_t) j * d);
	hooks->release(idx, hooks->arg);

	for (size_t i = 0; i < n; i++)
		labels[i] = -1;
	for (int it = 0; it < SK_MAX_ITER; it++)
	{
		double		shift = 0.0;
		bool		changed;
		double	   *tmp;

		for (int j = 0; j < k; j++)
		{
			double		s = 0.0;

			for (int t = 0; t < d; t++)
				s += C[(size_t) j * d + t] * C[(size_t) j * d + t];
			cnorm[j] = s;
		}
		changed = lloyd_pass(X, w, n, d, k, mean, C, cnorm, labels, Cnew,
							 wsum, true, Xc, D, hooks);
		relocate_empty(X, w, n, d, k, mean, C, labels, Cnew, wsum, dist, Xc);
		/* _average_centers: multiply by the reciprocal weight */
		for (int j = 0; j < k; j++)
			if (wsum[j] > 0.0)
			{
				double		alpha = 1.0 / wsum[j];

				for (int t = 0; t < d; t++)
					Cnew[(size_t) j * d + t] *= alpha;
			}
		/* _center_shift, squared and summed */
		for (int j = 0; j < k; j++)
		{
			double		s = 0.0;

			for (int t = 0; t < d; t++)
			{
				double		delta = Cnew[(size_t) j * d + t] - C[(size_t) j * d + t];

				s += delta * delta;
			}
			s = sqrt(s);
			shift += s * s;
		}
		tmp = C;
		C = Cnew;
		Cnew = tmp;
		if (!changed)
		{
			strict = true;
			break;
		}
		if (shift <= tol)
			break;
	}
	if (!strict)
	{
		for (int j = 0; j < k; j++)
		{
			double		s = 0.0;

			for (int t = 0; t < d; t++)
				s += C[(size_t) j * d + t] * C[(size_t) j * d + t];
			cnorm[j] = s;
		}
		lloyd_pass(X, w, n, d, k, mean, C, cnorm, labels, NULL, NULL, false,
				   Xc, D, hooks);
	}
	for (int j = 0; j < k; j++)
		for (int t = 0; t < d; t++)
			centers[(size_t) j * d + t] = C[(size_t) j * d + t] + mean[t];
	hooks->release(mean, hooks->arg);
	return GMM_OK;
}
