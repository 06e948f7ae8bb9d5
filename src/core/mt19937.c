/*
 * mt19937.c
 *	  numpy's legacy generator, numpy.random.RandomState: the Mersenne
 *	  Twister MT19937 (Matsumoto and Nishimura, 1998) seeded as
 *	  RandomState(seed) seeds it, and the draws of numpy's legacy code that
 *	  scikit-learn's initialisations make (random_sample, uniform, randint,
 *	  permutation, choice without replacement).  Written from the published
 *	  algorithms; test/unit/gen_golden_mt.py checks every draw against
 *	  numpy's own output.  Part of the numerical core: no PostgreSQL headers.
 */
#include <string.h>

#include "gmm_core.h"

#define MT_N		GMM_MT_N
#define MT_M		397
#define MATRIX_A	0x9908b0dfU
#define UPPER_MASK	0x80000000U
#define LOWER_MASK	0x7fffffffU

/*
 * RandomState(seed) for an integer seed in [0, 2^32): Knuth's linear
 * initialisation of the 624 words (init_genrand of the reference code, as
 * numpy's mt19937_seed), and the next draw regenerates the whole state.
 */
void
gmm_mt_seed(GmmMt *r, uint32_t seed)
{
	r->key[0] = seed;
	for (int i = 1; i < MT_N; i++)
	{
		uint32_t	p = r->key[i - 1];

		r->key[i] = 1812433253U * (p ^ (p >> 30)) + (uint32_t) i;
	}
	r->pos = MT_N;
}

/* regenerate the 624 words (the reference code's genrand_int32 refill) */
static void
mt_refill(GmmMt *r)
{
	uint32_t   *mt = r->key;
	uint32_t	y;
	int			i;

	for (i = 0; i < MT_N - MT_M; i++)
	{
		y = (mt[i] & UPPER_MASK) | (mt[i + 1] & LOWER_MASK);
		mt[i] = mt[i + MT_M] ^ (y >> 1) ^ ((y & 1U) ? MATRIX_A : 0U);
	}
	for (; i < MT_N - 1; i++)
	{
		y = (mt[i] & UPPER_MASK) | (mt[i + 1] & LOWER_MASK);
		mt[i] = mt[i + (MT_M - MT_N)] ^ (y >> 1) ^ ((y & 1U) ? MATRIX_A : 0U);
	}
	y = (mt[MT_N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
	mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ ((y & 1U) ? MATRIX_A : 0U);
	r->pos = 0;
}

/* the next 32 random bits (tempered), numpy's mt19937_next32 */
uint32_t
gmm_mt_next32(GmmMt *r)
{
	uint32_t	y;

	if (r->pos >= MT_N)
		mt_refill(r);
	y = r->key[r->pos++];
	y ^= (y >> 11);
	y ^= (y << 7) & 0x9d2c5680U;
	y ^= (y << 15) & 0xefc60000U;
	y ^= (y >> 18);
	return y;
}

/* 64 bits from two draws, the first in the high half (mt19937_next64) */
static uint64_t
mt_next64(GmmMt *r)
{
	uint64_t	hi = gmm_mt_next32(r);

	return (hi << 32) | gmm_mt_next32(r);
}

/* random_sample(): 53 random bits, (a >> 5) * 2^26 + (b >> 6), over 2^53 */
double
gmm_mt_random_sample(GmmMt *r)
{
	uint32_t	a = gmm_mt_next32(r) >> 5;
	uint32_t	b = gmm_mt_next32(r) >> 6;

	return ((double) a * 67108864.0 + (double) b) / 9007199254740992.0;
}

/* uniform(low, high): low + (high - low) * random_sample() */
double
gmm_mt_uniform(GmmMt *r, double low, double high)
{
	return low + (high - low) * gmm_mt_random_sample(r);
}

/* the smallest all-ones mask covering max */
static uint64_t
mt_mask(uint64_t max)
{
	uint64_t	mask = max;

	mask |= mask >> 1;
	mask |= mask >> 2;
	mask |= mask >> 4;
	mask |= mask >> 8;
	mask |= mask >> 16;
	mask |= mask >> 32;
	return mask;
}

/*
 * An integer in [0, max] by rejection of masked draws: 32-bit draws when
 * max fits in 32 bits, 64-bit ones otherwise.  This is both numpy's
 * random_interval (shuffle, permutation) and, for max < 2^32 - 1, the
 * masked bounded draw of legacy randint; max == 0 draws nothing.
 */
uint64_t
gmm_mt_interval(GmmMt *r, uint64_t max)
{
	uint64_t	mask,
				v;

	if (max == 0)
		return 0;
	mask = mt_mask(max);
	if (max <= 0xffffffffU)
	{
		while ((v = (gmm_mt_next32(r) & mask)) > max)
			;
	}
	else
	{
		while ((v = (mt_next64(r) & mask)) > max)
			;
	}
	return v;
}

/*
 * randint(low, high) (high > low): low + a draw in [0, high - low - 1],
 * masked rejection as legacy RandomState draws it (a range of exactly 2^32
 * values takes one unmasked 32-bit draw, of 2^64 one 64-bit draw).
 */
int64_t
gmm_mt_randint(GmmMt *r, int64_t low, int64_t high)
{
	uint64_t	rng = (uint64_t) high - (uint64_t) low - 1;

	if (rng == 0xffffffffU)
		return (int64_t) ((uint64_t) low + gmm_mt_next32(r));
	if (rng == UINT64_MAX)
		return (int64_t) ((uint64_t) low + mt_next64(r));
	return (int64_t) ((uint64_t) low + gmm_mt_interval(r, rng));
}

/*
 * permutation(n): arange(n) shuffled in place by Fisher-Yates from the end,
 * position i swapping with random_interval(i), for i = n - 1 down to 1.
 */
void
gmm_mt_permutation(GmmMt *r, size_t n, size_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = i;
	for (size_t i = n > 0 ? n - 1 : 0; i >= 1; i--)
	{
		size_t		j = (size_t) gmm_mt_interval(r, i);
		size_t		t = out[j];

		out[j] = out[i];
		out[i] = t;
	}
}

/*
 * choice(n, size=k, replace=False): legacy RandomState takes the first k of
 * permutation(n), so it draws n - 1 numbers whatever k is.  work: n size_t.
 */
void
gmm_mt_choice(GmmMt *r, size_t n, size_t k, size_t *out, size_t *work)
{
	gmm_mt_permutation(r, n, work);
	memcpy(out, work, sizeof(size_t) * k);
}
