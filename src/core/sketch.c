/*
 * sketch.c
 *	  A mergeable, deterministic quantile sketch of weighted values (the
 *	  log-densities of a model's training rows), and the calibration summary
 *	  a model stores: weighted count, min, max, mean, sd and a table of
 *	  quantiles at arcsine-spaced probabilities.
 *
 * Determinism.  The sketch is a canonical function of the multiset of
 * (value, weight) pairs, however the rows are split and in whatever order
 * the parts are merged, because every part of it is an exact, associative
 * sum or an order-free statistic:
 *	  - a histogram over a fixed transform of the value's signed distance
 *		below an anchor (for a model: the mixture's highest density at its
 *		means, so that rows near the modes get the finest buckets), u = 2^8
 *		(anchor - v): g(u) = u for |u| <= 1 and sign(u) (1 + log2~|u|)
 *		beyond, with log2~ the exact piecewise-linear logarithm of the IEEE
 *		bits (exponent plus mantissa fraction), so that buckets are absolute
 *		near the anchor and relative far from it.  Bucket b at level L holds
 *		g in [b 2^-L, (b + 1) 2^-L); beyond a far boundary set from the
 *		model (only outliers there) the level is at most 4.  The level starts
 *		at GMM_SKETCH_LEVEL0 and drops by one (pairs of buckets merge)
 *		whenever more than GMM_SKETCH_MAX_BUCKETS buckets would be occupied.
 *		Occupancy only grows with more rows, so the final level is the
 *		finest one at which all the rows fit, whatever the split; merging two
 *		sketches coarsens both to the lower level and then coarsens while too
 *		many buckets are occupied, which is the same.
 *	  - bucket weights are integers: each row's weight in units of 2^-32,
 *		truncated (so 1.0 is exact), summed in 96 bits;
 *	  - the count, the minimum and the maximum;
 *	  - the sums of w, w v and w v^2 in exact fixed-point accumulators over
 *		the whole double range (Kulisch), each row's product rounded once,
 *		so the mean and sd are computed from exact sums in double-double.
 *	The summary is then computed from the histogram by one fixed procedure.
 *
 * Summary (GMM_CALIB_* offsets; every word a double):
 *	  n_rows, sum_weights, min, max, mean, sd, n_knots (M), then M knots:
 *	  knot i is the value below which a fraction q_i = sin^2(pi i / (2 (M -
 *	  1))) of the weight lies (knot 0 = min, knot M-1 = max).  Between knots
 *	  the distribution function is linear.  Equal steps of i are equal steps
 *	  of t-digest's k1 (arcsine) scale function, so the tails get more knots:
 *	  with M = 513 (GMM_CALIB_KNOTS, the default of new models; readers take
 *	  any count up to GMM_CALIB_MAX_KNOTS, and models of gmm 1.2 have 1025)
 *	  the step in q is 9.4e-6 at the extremes, 6.1e-4 at q = 1% and 3.1e-3
 *	  at the median, so even a sample whose rows between two knots all sit
 *	  at one end is within the bounds (5e-3) in the middle, and in
 *	  the tails (5e-4) below 0.67% and above 99.33%; on smooth distributions
 *	  linear interpolation does far better (test/conformance/anomaly.py at
 *	  1e6 rows, all four covariance types, measured from 1025-knot
 *	  calibrations: worst 5e-5 in the tails and 4.7e-4 elsewhere with 513
 *	  knots, 1.8e-4 and 6.2e-4 with 257, 5.8e-4 and 2.3e-3 with 129).
 */
#include <math.h>
#include <string.h>

#include "gmm_core.h"

#define XSUM_BIAS		1088	/* bit 0 of digit 0 is 2^-1088 */
#define XSUM_NORM_EVERY	(INT64_C(1) << 30)

/* the smallest level: g is within [-1026, 1026], so two buckets at most */
#define GMM_SKETCH_LEVEL_MIN	(-11)

/* ---------------------------------------------------------------------
 * Exact sums of doubles
 * ---------------------------------------------------------------------
 */

static inline int64_t
floor_shift(int64_t v, int s)
{
	/* floor(v / 2^s) without relying on arithmetic right shifts */
	return v >= 0 ? v >> s : -((-(v + 1)) >> s) - 1;
}

static void
xsum_normalise(GmmXSum *x)
{
	for (int i = 0; i < GMM_XSUM_WORDS - 1; i++)
	{
		/* balanced digits in [-2^31, 2^31): a negative sum stays local */
		int64_t		carry = floor_shift(x->d[i] + (INT64_C(1) << 31), 32);

		x->d[i] -= carry * (INT64_C(1) << 32);
		x->d[i + 1] += carry;
	}
	x->nadd = 0;
}

static void
xsum_add(GmmXSum *x, double v)
{
	uint64_t	bits;
	uint64_t	u;
	int			ex;
	int			pos;
	int			word;
	int			sh;
	int64_t		c0,
				c1,
				c2;

	if (v == 0.0 || isnan(v))
		return;
	if (isinf(v))
		v = v > 0 ? 1.7976931348623157e308 : -1.7976931348623157e308;
	memcpy(&bits, &v, sizeof(bits));
	ex = (int) ((bits >> 52) & 0x7ff);
	u = bits & ((UINT64_C(1) << 52) - 1);
	if (ex == 0)
		ex = 1;					/* subnormal: same scale as the smallest
								 * normal, no hidden bit */
	else
		u |= UINT64_C(1) << 52;
	/* v = u 2^(ex - 1075) */
	pos = ex - 1075 + XSUM_BIAS;
	word = pos / 32;
	sh = pos % 32;
	c0 = (int64_t) ((u << sh) & 0xffffffffu);
	c1 = (int64_t) ((sh > 0 ? u >> (32 - sh) : u >> 32) & 0xffffffffu);
	c2 = (int64_t) (sh > 0 ? u >> (64 - sh) : 0);
	if (v < 0)
	{
		c0 = -c0;
		c1 = -c1;
		c2 = -c2;
	}
	x->d[word] += c0;
	x->d[word + 1] += c1;
	x->d[word + 2] += c2;
	if (++x->nadd >= XSUM_NORM_EVERY)
		xsum_normalise(x);
}

static void
xsum_merge(GmmXSum *a, const GmmXSum *b)
{
	GmmXSum		c = *b;

	xsum_normalise(a);
	xsum_normalise(&c);
	for (int i = 0; i < GMM_XSUM_WORDS; i++)
		a->d[i] += c.d[i];
	a->nadd = 1;
}

/* double-double arithmetic, enough for the mean and variance */
typedef struct DD
{
	double		hi;
	double		lo;
} DD;

static inline DD
dd_norm(double s, double e)
{
	DD			r;

	r.hi = s + e;
	r.lo = e - (r.hi - s);
	return r;
}

static inline DD
dd_add_d(DD a, double b)
{
	double		s = a.hi + b;
	double		bb = s - a.hi;
	double		err = (a.hi - (s - bb)) + (b - bb);

	return dd_norm(s, err + a.lo);
}

static inline DD
dd_add(DD a, DD b)
{
	DD			r = dd_add_d(a, b.hi);

	return dd_add_d(r, b.lo);
}

static inline DD
dd_mul(DD a, DD b)
{
	double		p = a.hi * b.hi;
	double		e = fma(a.hi, b.hi, -p);

	e += a.hi * b.lo + a.lo * b.hi;
	return dd_norm(p, e);
}

static inline DD
dd_div(DD a, DD b)
{
	double		q1 = a.hi / b.hi;
	DD			p = dd_mul(b, (DD) {q1, 0.0});
	DD			r = dd_add(a, (DD) {-p.hi, -p.lo});
	double		q2 = r.hi / b.hi;

	return dd_norm(q1, q2);
}

static DD
xsum_value(const GmmXSum *x)
{
	GmmXSum		c = *x;
	DD			r = {0.0, 0.0};

	xsum_normalise(&c);
	for (int i = GMM_XSUM_WORDS - 1; i >= 0; i--)
		if (c.d[i] != 0)
			r = dd_add_d(r, ldexp((double) c.d[i], 32 * i - XSUM_BIAS));
	return r;
}

/* ---------------------------------------------------------------------
 * The transform and the buckets
 * ---------------------------------------------------------------------
 */

/* floor(g(v) 2^52), exact (inf included); g is odd */
static int64_t
g_key52(double v)
{
	uint64_t	bits;
	int			e;
	int64_t		G;

	if (v >= -1.0 && v <= 1.0)
		return (int64_t) floor(ldexp(v, 52));
	memcpy(&bits, &v, sizeof(bits));
	e = (int) ((bits >> 52) & 0x7ff) - 1023;	/* >= 0; 1024 for inf */
	G = ((int64_t) (1 + e) << 52) + (int64_t) (bits & ((UINT64_C(1) << 52) - 1));
	return v < 0 ? -G : G;
}

/* the inverse of g */
static double
g_inverse(double g)
{
	double		a,
				e,
				v;

	if (g >= -1.0 && g <= 1.0)
		return g;
	a = fabs(g) - 1.0;
	e = floor(a);
	v = e >= 1024 ? INFINITY : ldexp(1.0 + (a - e), (int) e);
	return g < 0 ? -v : v;
}

/* the scaled (signed) distance below the anchor that the buckets are over */
static inline double
sketch_u(const GmmSketch *s, double v)
{
	return ldexp(s->anchor - v, GMM_SKETCH_USCALE);
}

/* multiples of 2^sh: floor(start / 2^sh) 2^sh, for either sign */
static inline int64_t
floor_align(int64_t start, int sh)
{
	return floor_shift(start, sh) * ((int64_t) 1 << sh);
}

/* a bucket's level: the far region's is capped */
static inline int
eff_level(const GmmSketch *s, int64_t start, int level)
{
	if (start >= ((int64_t) s->g_far << GMM_SKETCH_LEVEL0) &&
		level > GMM_SKETCH_FAR_LEVEL)
		return GMM_SKETCH_FAR_LEVEL;
	return level;
}

/* start (in level-L0 cells) of the bucket holding scaled distance us */
static int64_t
bucket_start(const GmmSketch *s, double us, int level)
{
	int64_t		G = g_key52(us);
	int			e = level;

	if (G >= ((int64_t) s->g_far << 52) && level > GMM_SKETCH_FAR_LEVEL)
		e = GMM_SKETCH_FAR_LEVEL;
	return floor_shift(G, 52 - e) * ((int64_t) 1 << (GMM_SKETCH_LEVEL0 - e));
}

/* start aligned to the bucket of its effective level at level */
static inline int64_t
align_start(const GmmSketch *s, int64_t start, int level)
{
	return floor_align(start, GMM_SKETCH_LEVEL0 - eff_level(s, start, level));
}

static inline double
bucket_weight(const GmmSketch *s, int i)
{
	return ldexp((double) s->whi[i], 32) + ldexp((double) s->wlo[i], -32);
}

/*
 * Re-align n buckets (key, wlo, whi) to level, merging equal neighbours in
 * place; returns the new count.  Keys stay increasing: alignment is a floor.
 */
static int
realign(const GmmSketch *s, int64_t *key, uint64_t *wlo, uint32_t *whi, int n,
		int level)
{
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		int64_t		k = align_start(s, key[i], level);

		if (m > 0 && key[m - 1] == k)
		{
			uint64_t	lo = wlo[m - 1] + wlo[i];

			whi[m - 1] += whi[i] + (lo < wlo[i] ? 1 : 0);
			wlo[m - 1] = lo;
		}
		else
		{
			key[m] = k;
			wlo[m] = wlo[i];
			whi[m] = whi[i];
			m++;
		}
	}
	return m;
}

/* one level coarser */
static void
sketch_coarsen(GmmSketch *s)
{
	s->level--;
	s->nbuckets = realign(s, s->key, s->wlo, s->whi, s->nbuckets, s->level);
	s->last = 0;
}

/* index of the first bucket with key >= k */
static int
bucket_search(const GmmSketch *s, int64_t k)
{
	int			lo = 0,
				hi = s->nbuckets;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (s->key[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
gmm_sketch_init(GmmSketch *s, double anchor, double u_far)
{
	double		gf;

	memset(s, 0, sizeof(*s));
	s->level = GMM_SKETCH_LEVEL0;
	s->vmin = INFINITY;
	s->vmax = -INFINITY;
	s->anchor = isfinite(anchor) ? anchor : 0.0;
	u_far = ldexp(u_far, GMM_SKETCH_USCALE);
	gf = (isfinite(u_far) && u_far > 0) ? ceil(ldexp((double) g_key52(u_far), -52)) : 1026;
	s->g_far = (int32_t) (gf < 0 ? 0 : gf > 1026 ? 1026 : gf);
}

/*
 * The log-density of the mixture p at x, streaming (no workspace): the
 * per-component quadratic forms are recomputed in the two passes of the
 * log-sum-exp.  O(k^2 d^2) over all the means, once per sketch.
 */
static double
mixture_logpdf(const GmmParams *p, const double *x)
{
	int			d = p->d;
	double		mx = -INFINITY;
	double		sum = 0.0;

	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < p->k; j++)
		{
			const double *mu = p->means + (size_t) j * d;
			double		q = 0.0;
			double		lp;

			for (int t = 0; t < d; t++)
			{
				double		z = 0.0;

				switch (p->cov_type)
				{
					case GMM_COV_FULL:
					case GMM_COV_TIED:
						{
							const double *U = p->prec_chol +
								(p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);

							for (int a = 0; a <= t; a++)
								z += (x[a] - mu[a]) * U[(size_t) a * d + t];
						}
						break;
					case GMM_COV_DIAG:
						z = (x[t] - mu[t]) * p->prec_chol[(size_t) j * d + t];
						break;
					case GMM_COV_SPHERICAL:
						z = (x[t] - mu[t]) * p->prec_chol[j];
						break;
				}
				q += z * z;
			}
			lp = log(p->weights[j]) + p->log_det[j] - 0.5 * (d * 1.8378770664093453 + q);
			if (pass == 0)
				mx = fmax(mx, lp);
			else
				sum += exp(lp - mx);
		}
	return mx + log(sum);
}

/*
 * Anchored at the mixture's highest density over its means, near its mode:
 * a row's distance below it is about chi2_d / 2 plus its component's offset
 * (rows above it, near a mode, have small negative distances, where the
 * buckets are finest).  The far region (coarse buckets, where only outliers
 * are) starts four times beyond the largest offset plus d/2 plus ten
 * standard deviations of chi2_d / 2.
 */
void
gmm_sketch_init_model(GmmSketch *s, const GmmParams *p)
{
	double		cst = 0.5 * p->d * 1.8378770664093453;	/* log(2 pi) */
	double		anchor = -INFINITY;
	double		off = 0.0;

	for (int j = 0; j < p->k; j++)
		anchor = fmax(anchor, mixture_logpdf(p, p->means + (size_t) j * p->d));
	for (int j = 0; j < p->k; j++)
		off = fmax(off, anchor - (log(p->weights[j]) + p->log_det[j] - cst));
	gmm_sketch_init(s, anchor, 4.0 * (off + 0.5 * p->d + 10.0 * sqrt(0.5 * p->d) + 10.0));
}

/* weight in units of 2^-32, truncated, saturating at 2^96 */
static void
weight_units(double w, uint64_t *lo, uint32_t *hi)
{
	double		x = ldexp(w, 32);

	if (x < 18446744073709551616.0)
	{
		*hi = 0;
		*lo = (uint64_t) x;
	}
	else if (x < 79228162514264337593543950336.0)	/* 2^96 */
	{
		double		h = floor(ldexp(x, -64));

		*hi = (uint32_t) h;
		*lo = (uint64_t) (x - ldexp(h, 64));
	}
	else
	{
		*hi = UINT32_MAX;
		*lo = UINT64_MAX;
	}
}

void
gmm_sketch_add(GmmSketch *s, double v, double w)
{
	uint64_t	wlo;
	uint32_t	whi;
	double		us;
	int64_t		k;
	int			i;

	if (!(w > 0.0) || isnan(v))
		return;
	s->n_rows++;
	if (v < s->vmin)
		s->vmin = v;
	if (v > s->vmax)
		s->vmax = v;
	xsum_add(&s->sw, w);
	xsum_add(&s->swv, w * v);
	xsum_add(&s->swv2, (w * v) * v);

	weight_units(w, &wlo, &whi);
	if (wlo == 0 && whi == 0)
		return;
	us = sketch_u(s, v);
	k = bucket_start(s, us, s->level);
	/* rows of similar density come together: try the last bucket first */
	if (s->last < s->nbuckets && s->key[s->last] == k)
		i = s->last;
	else
	{
		i = bucket_search(s, k);
		if (i == s->nbuckets || s->key[i] != k)
		{
			while (s->nbuckets >= GMM_SKETCH_MAX_BUCKETS)
			{
				sketch_coarsen(s);
				k = bucket_start(s, us, s->level);
				i = bucket_search(s, k);
				if (i < s->nbuckets && s->key[i] == k)
					break;
			}
			if (i == s->nbuckets || s->key[i] != k)
			{
				memmove(s->key + i + 1, s->key + i, sizeof(int64_t) * (s->nbuckets - i));
				memmove(s->wlo + i + 1, s->wlo + i, sizeof(uint64_t) * (s->nbuckets - i));
				memmove(s->whi + i + 1, s->whi + i, sizeof(uint32_t) * (s->nbuckets - i));
				s->key[i] = k;
				s->wlo[i] = 0;
				s->whi[i] = 0;
				s->nbuckets++;
			}
		}
		s->last = i;
	}
	s->wlo[i] += wlo;
	s->whi[i] += whi + (s->wlo[i] < wlo ? 1 : 0);
}

bool
gmm_sketch_compatible(const GmmSketch *a, const GmmSketch *b)
{
	return a->anchor == b->anchor && a->g_far == b->g_far;
}

bool
gmm_sketch_merge(GmmSketch *a, const GmmSketch *b)
{
	int			level = a->level < b->level ? a->level : b->level;
	int			na = a->nbuckets;
	int			i = 0,
				j = 0,
				n = 0;

	/*
	 * the union before coarsening: at most twice the buckets (static: the
	 * core runs in single-threaded backends and tests)
	 */
	static int64_t key[2 * GMM_SKETCH_MAX_BUCKETS];
	static uint64_t wlo[2 * GMM_SKETCH_MAX_BUCKETS];
	static uint32_t whi[2 * GMM_SKETCH_MAX_BUCKETS];

	if (!gmm_sketch_compatible(a, b))
		return false;
	if (b->n_rows == 0)
		return true;
	a->n_rows += b->n_rows;
	if (b->vmin < a->vmin)
		a->vmin = b->vmin;
	if (b->vmax > a->vmax)
		a->vmax = b->vmax;
	xsum_merge(&a->sw, &b->sw);
	xsum_merge(&a->swv, &b->swv);
	xsum_merge(&a->swv2, &b->swv2);

	while (i < na || j < b->nbuckets)
	{
		int64_t		ka = i < na ? align_start(a, a->key[i], level) : INT64_MAX;
		int64_t		kb = j < b->nbuckets ? align_start(a, b->key[j], level) : INT64_MAX;
		int64_t		k = ka < kb ? ka : kb;
		uint64_t	lo;
		uint32_t	hi;

		if (ka == k)
		{
			lo = a->wlo[i];
			hi = a->whi[i];
			i++;
		}
		else
		{
			lo = b->wlo[j];
			hi = b->whi[j];
			j++;
		}
		if (n > 0 && key[n - 1] == k)
		{
			uint64_t	sum = wlo[n - 1] + lo;

			whi[n - 1] += hi + (sum < lo ? 1 : 0);
			wlo[n - 1] = sum;
		}
		else
		{
			key[n] = k;
			wlo[n] = lo;
			whi[n] = hi;
			n++;
		}
	}
	/* coarsen until the union fits */
	a->level = level;
	while (n > GMM_SKETCH_MAX_BUCKETS)
	{
		a->level--;
		n = realign(a, key, wlo, whi, n, a->level);
	}
	memcpy(a->key, key, sizeof(int64_t) * n);
	memcpy(a->wlo, wlo, sizeof(uint64_t) * n);
	memcpy(a->whi, whi, sizeof(uint32_t) * n);
	a->nbuckets = n;
	a->last = 0;
	return true;
}

/* ---------------------------------------------------------------------
 * Packing (the host writes the words big-endian)
 * ---------------------------------------------------------------------
 */

#define PACK_HEADER	7

size_t
gmm_sketch_packed_nwords(const GmmSketch *s)
{
	return PACK_HEADER + 3 * GMM_XSUM_WORDS + 2 * (size_t) s->nbuckets +
		((size_t) s->nbuckets + 1) / 2;
}

static uint64_t
dbits(double v)
{
	uint64_t	u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double
bitsd(uint64_t u)
{
	double		v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

void
gmm_sketch_pack(const GmmSketch *s, uint64_t *out)
{
	const GmmXSum *xs[3] = {&s->sw, &s->swv, &s->swv2};
	size_t		p = 0;
	int			nb = s->nbuckets;

	out[p++] = (uint64_t) (int64_t) s->level;
	out[p++] = (uint64_t) nb;
	out[p++] = dbits(s->anchor);
	out[p++] = (uint64_t) s->g_far;
	out[p++] = (uint64_t) s->n_rows;
	out[p++] = dbits(s->vmin);
	out[p++] = dbits(s->vmax);
	for (int a = 0; a < 3; a++)
	{
		GmmXSum		c = *xs[a];

		xsum_normalise(&c);
		for (int i = 0; i < GMM_XSUM_WORDS; i++)
			out[p++] = (uint64_t) c.d[i];
	}
	for (int i = 0; i < nb; i++)
	{
		out[p++] = (uint64_t) s->key[i];
		out[p++] = s->wlo[i];
	}
	for (int i = 0; i < nb; i += 2)
		out[p++] = ((uint64_t) s->whi[i] << 32) |
			(i + 1 < nb ? (uint64_t) s->whi[i + 1] : 0);
}

/*
 * The inverse of gmm_sketch_pack, trusting nothing: false (s undefined) when
 * the words are not a packed sketch.
 */
bool
gmm_sketch_unpack(GmmSketch *s, const uint64_t *in, size_t nwords)
{
	size_t		p = 0;
	int64_t		level;
	uint64_t	nb;
	int64_t		kmax;
	GmmXSum    *xs[3];

	if (nwords < PACK_HEADER + 3 * GMM_XSUM_WORDS)
		return false;
	level = (int64_t) in[p++];
	nb = in[p++];
	if (level < GMM_SKETCH_LEVEL_MIN || level > GMM_SKETCH_LEVEL0 ||
		nb > GMM_SKETCH_MAX_BUCKETS)
		return false;
	gmm_sketch_init(s, bitsd(in[p++]), 1.0);
	if (!isfinite(bitsd(in[p - 1])) || in[p] > 1026)
		return false;
	s->g_far = (int32_t) in[p++];
	s->level = (int32_t) level;
	s->nbuckets = (int32_t) nb;
	kmax = INT64_C(1026) << GMM_SKETCH_LEVEL0;
	if (nwords != gmm_sketch_packed_nwords(s))
		return false;
	s->n_rows = (int64_t) in[p++];
	s->vmin = bitsd(in[p++]);
	s->vmax = bitsd(in[p++]);
	if (s->n_rows < 0)
		return false;
	if (s->n_rows == 0)
	{
		if (nb != 0 || s->vmin != INFINITY || s->vmax != -INFINITY)
			return false;
	}
	else if (isnan(s->vmin) || isnan(s->vmax) || !(s->vmin <= s->vmax) ||
			 (uint64_t) s->n_rows < nb)
		return false;
	xs[0] = &s->sw;
	xs[1] = &s->swv;
	xs[2] = &s->swv2;
	for (int a = 0; a < 3; a++)
	{
		for (int i = 0; i < GMM_XSUM_WORDS; i++)
		{
			int64_t		d = (int64_t) in[p++];

			if (d < -(INT64_C(1) << 31) || d >= (INT64_C(1) << 31))
				return false;
			xs[a]->d[i] = d;
		}
	}
	for (uint64_t i = 0; i < nb; i++)
	{
		s->key[i] = (int64_t) in[p++];
		s->wlo[i] = in[p++];
		if (i > 0 && s->key[i] <= s->key[i - 1])
			return false;
		/* a key is a start within g in [-1026, 1026], aligned to its level */
		if (s->key[i] < -kmax || s->key[i] > kmax ||
			align_start(s, s->key[i], s->level) != s->key[i])
			return false;
	}
	for (uint64_t i = 0; i < nb; i += 2)
	{
		uint64_t	w = in[p++];

		s->whi[i] = (uint32_t) (w >> 32);
		if (i + 1 < nb)
			s->whi[i + 1] = (uint32_t) w;
		else if ((uint32_t) w != 0)
			return false;
	}
	for (uint64_t i = 0; i < nb; i++)
		if (s->wlo[i] == 0 && s->whi[i] == 0)
			return false;
	return true;
}

/* ---------------------------------------------------------------------
 * The summary
 * ---------------------------------------------------------------------
 */

double
gmm_calib_knot_q(int i, int m)
{
	double		s;

	if (i <= 0)
		return 0.0;
	if (i >= m - 1)
		return 1.0;
	s = sin(M_PI * (double) i / (2.0 * (m - 1)));
	return s * s;
}

size_t
gmm_sketch_summary(const GmmSketch *s, int m, double *out)
{
	DD			sw,
				s1,
				s2,
				mean,
				var;
	double		total = 0.0;
	double		cum = 0.0;
	double		prev = s->vmin;
	int			j;
	double	   *knots = out + GMM_CALIB_HEADER;

	if (s->n_rows == 0)
		return 0;
	sw = xsum_value(&s->sw);
	s1 = xsum_value(&s->swv);
	s2 = xsum_value(&s->swv2);
	mean = dd_div(s1, sw);
	var = dd_add(dd_div(s2, sw), (DD) {-dd_mul(mean, mean).hi, -dd_mul(mean, mean).lo});
	out[GMM_CALIB_N_ROWS] = (double) s->n_rows;
	out[GMM_CALIB_SUM_W] = sw.hi;
	out[GMM_CALIB_MIN] = s->vmin;
	out[GMM_CALIB_MAX] = s->vmax;
	out[GMM_CALIB_MEAN] = fmin(fmax(mean.hi, s->vmin), s->vmax);
	out[GMM_CALIB_SD] = var.hi > 0 ? sqrt(var.hi) : 0.0;
	if (s->vmin == s->vmax)
		out[GMM_CALIB_SD] = 0.0;
	out[GMM_CALIB_N_KNOTS] = m;

	for (int b = 0; b < s->nbuckets; b++)
		total += bucket_weight(s, b);
	knots[0] = s->vmin;
	knots[m - 1] = s->vmax;
	/* buckets from the largest distance below the anchor: increasing v */
	j = s->nbuckets - 1;
	for (int i = 1; i < m - 1; i++)
	{
		double		t = gmm_calib_knot_q(i, m) * total;
		double		v;

		/* the bucket j where the cumulative weight reaches t */
		while (j > 0 && cum + bucket_weight(s, j) < t)
			cum += bucket_weight(s, j--);
		if (s->nbuckets == 0)
			v = s->vmin;
		else
		{
			double		wj = bucket_weight(s, j);
			double		g0 = ldexp((double) s->key[j], -GMM_SKETCH_LEVEL0);
			double		g1 = g0 + ldexp(1.0, -eff_level(s, s->key[j], s->level));
			double		lo = s->anchor - ldexp(g_inverse(g1), -GMM_SKETCH_USCALE);
			double		hi = s->anchor - ldexp(g_inverse(g0), -GMM_SKETCH_USCALE);
			double		f = wj > 0 ? (t - cum) / wj : 0.0;

			lo = fmax(lo, s->vmin);
			hi = fmin(hi, s->vmax);
			if (hi < lo)
				hi = lo;
			f = fmin(fmax(f, 0.0), 1.0);
			v = lo + f * (hi - lo);
		}
		v = fmin(fmax(v, prev), s->vmax);
		knots[i] = prev = v;
	}
	return GMM_CALIB_HEADER + (size_t) m;
}

/*
 * Check (and canonicalise) a calibration summary: NULL when it is valid,
 * else what is wrong.  structural is set when the problem is its length.
 */
const char *
gmm_calib_check(double *w, size_t n, bool *structural)
{
	double		m;

	*structural = true;
	if (n < GMM_CALIB_HEADER + 2)
		return "calibration is too short";
	m = w[GMM_CALIB_N_KNOTS];
	if (!(m >= 2 && m <= GMM_CALIB_MAX_KNOTS && m == floor(m)))
		return "calibration must have between 2 and 4096 knots";
	if ((size_t) m + GMM_CALIB_HEADER != n)
		return "calibration length does not match its number of knots";
	*structural = false;
	for (size_t i = 0; i < n; i++)
	{
		if (!isfinite(w[i]))
			return "calibration values must be finite";
		if (w[i] == 0.0)
			w[i] = 0.0;			/* -0 -> 0 */
	}
	if (!(w[GMM_CALIB_N_ROWS] >= 1 && w[GMM_CALIB_N_ROWS] == floor(w[GMM_CALIB_N_ROWS]) &&
		  w[GMM_CALIB_N_ROWS] <= 9007199254740992.0))
		return "calibration n_rows must be a positive integer";
	if (!(w[GMM_CALIB_SUM_W] > 0))
		return "calibration sum_weights must be positive";
	if (!(w[GMM_CALIB_MIN] <= w[GMM_CALIB_MAX]))
		return "calibration min must not exceed max";
	if (!(w[GMM_CALIB_MEAN] >= w[GMM_CALIB_MIN] && w[GMM_CALIB_MEAN] <= w[GMM_CALIB_MAX]))
		return "calibration mean must lie between min and max";
	if (!(w[GMM_CALIB_SD] >= 0))
		return "calibration sd must not be negative";
	if (w[GMM_CALIB_HEADER] != w[GMM_CALIB_MIN] || w[n - 1] != w[GMM_CALIB_MAX])
		return "calibration quantiles must start at min and end at max";
	for (size_t i = GMM_CALIB_HEADER + 1; i < n; i++)
		if (w[i] < w[i - 1])
			return "calibration quantiles must not decrease";
	return NULL;
}

/*
 * The index of a calibration w for gmm_calib_percentile_q, made once per
 * model (gmm_calib_index_ndoubles(m) doubles):
 *	  q[m]		the knots' probabilities q_i = gmm_calib_knot_q(i, m);
 *	  kn[m + GMM_CALIB_TOP_STEP]	the knots, then +inf;
 *	  top[GMM_CALIB_NTOP4(m)]	every GMM_CALIB_TOP_STEP-th knot (knots 0, 16,
 *				32, ...), then +inf to a multiple of 4.
 * A percentile counts its way to the bracket in two short runs of compares,
 * four at a time, that do not wait on each other, instead of a binary
 * search's chain of dependent loads; the +inf padding is never below a
 * value, so the runs need no bounds.
 */
void
gmm_calib_index(const double *w, double *idx)
{
	int			m = (int) w[GMM_CALIB_N_KNOTS];
	int			nt = GMM_CALIB_NTOP(m);
	const double *k = w + GMM_CALIB_HEADER;
	double	   *kn = idx + m;
	double	   *top = kn + m + GMM_CALIB_TOP_STEP;

	for (int i = 0; i < m; i++)
		idx[i] = gmm_calib_knot_q(i, m);
	memcpy(kn, k, sizeof(double) * m);
	for (int i = m; i < m + GMM_CALIB_TOP_STEP; i++)
		kn[i] = INFINITY;
	for (int j = 0; j < GMM_CALIB_NTOP4(m); j++)
		top[j] = j < nt ? k[j * GMM_CALIB_TOP_STEP] : INFINITY;
}

/*
 * how many of a[0 .. n) (n a multiple of 4) are below v: two doubles a
 * vector, which every x86-64 compares natively (GCC scalarises wider vector
 * compares in the baseline build)
 */
typedef double v2d __attribute__((vector_size(16)));
typedef int64_t v2l __attribute__((vector_size(16)));

static inline int
count_below4(const double *a, int n, double v)
{
	v2d			vv = {v, v};
	v2l			acc0 = {0, 0},
				acc1 = {0, 0};

	for (int i = 0; i < n; i += 4)
	{
		v2d			x0,
					x1;

		memcpy(&x0, a + i, sizeof(x0));
		memcpy(&x1, a + i + 2, sizeof(x1));
		acc0 += (x0 < vv);		/* -1 where true */
		acc1 += (x1 < vv);
	}
	acc0 += acc1;
	return (int) -(acc0[0] + acc0[1]);
}

/*
 * The fraction of the weight below v (linear between knots), in [0, 1];
 * idx: the calibration's index (gmm_calib_index), or NULL to search the
 * knots and compute the two probabilities it needs.  One build for every
 * CPU (no GMM_KERNEL_AVX2): gmm_calib_knot_q inlined in an FMA build would
 * round differently from the index made by the baseline build.
 */
double
gmm_calib_percentile_q(const double *w, const double *idx, double v)
{
	int			m = (int) w[GMM_CALIB_N_KNOTS];
	const double *k = w + GMM_CALIB_HEADER;
	int			hi;
	double		q0,
				q1;

	if (isnan(v))
		return v;
	if (v <= k[0])
		return 0.0;
	if (v > k[m - 1])
		return 1.0;
	/* the first knot >= v: k[hi] >= v > k[hi - 1] (k[0] < v <= k[m - 1]) */
	if (idx != NULL)
	{
		const double *kn = idx + m;
		const double *top = kn + m + GMM_CALIB_TOP_STEP;
		/* top[c - 1] < v <= top[c] (or c = ntop), c >= 1 as top[0] = k[0] < v */
		int			c = count_below4(top, GMM_CALIB_NTOP4(m), v);
		int			lo = (c - 1) * GMM_CALIB_TOP_STEP;	/* k[lo] < v */

		/*
		 * knots lo + 1 .. lo + 16 below v: k[lo + 16] = top[c] >= v when c <
		 * ntop; else the knots past m - 1 are +inf, and k[m - 1] >= v
		 */
		hi = lo + 1 + count_below4(kn + lo + 1, GMM_CALIB_TOP_STEP, v);
	}
	else
	{
		/* a search without branches on the data, which are unpredictable */
		const double *b = k;
		int			n = m;

		while (n > 1)
		{
			int			half = n / 2;

			b = (b[half] < v) ? b + half : b;
			n -= half;
		}
		hi = (int) (b - k) + (*b < v ? 1 : 0);
	}
	q0 = idx ? idx[hi - 1] : gmm_calib_knot_q(hi - 1, m);
	q1 = idx ? idx[hi] : gmm_calib_knot_q(hi, m);
	return fmin(fmax(q0 + (q1 - q0) * (v - k[hi - 1]) / (k[hi] - k[hi - 1]), 0.0), 1.0);
}

/* the fraction of the weight below v (linear between knots), in [0, 1] */
double
gmm_calib_percentile(const double *w, double v)
{
	return gmm_calib_percentile_q(w, NULL, v);
}

/* the value below which a fraction q of the weight lies (the inverse) */
double
gmm_calib_threshold(const double *w, double q)
{
	int			m = (int) w[GMM_CALIB_N_KNOTS];
	const double *k = w + GMM_CALIB_HEADER;
	int			i;
	double		q0,
				q1;

	if (q <= 0.0)
		return k[0];
	if (q >= 1.0)
		return k[m - 1];
	i = (int) floor(asin(sqrt(q)) * 2.0 * (m - 1) / M_PI);
	if (i < 0)
		i = 0;
	if (i > m - 2)
		i = m - 2;
	while (i > 0 && gmm_calib_knot_q(i, m) > q)
		i--;
	while (i < m - 2 && gmm_calib_knot_q(i + 1, m) < q)
		i++;
	q0 = gmm_calib_knot_q(i, m);
	q1 = gmm_calib_knot_q(i + 1, m);
	return k[i] + (k[i + 1] - k[i]) * (q - q0) / (q1 - q0);
}
