/*
 * rng.c
 *	  The core's random generator: xoshiro256** (Blackman and Vigna) seeded
 *	  through splitmix64, so that a (seed, stream) pair gives the same
 *	  sequence on every platform.  Part of the numerical core: no PostgreSQL
 *	  headers.
 */
#include <math.h>

#include "gmm_core.h"

#define GOLDEN_GAMMA	UINT64_C(0x9E3779B97F4A7C15)

/* splitmix64: advance *x and return the next output (Vigna's constants) */
static uint64_t
splitmix64_next(uint64_t *x)
{
	uint64_t	z = (*x += GOLDEN_GAMMA);

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/*
 * Seed stream `stream` of `seed`.  The stream number is first scrambled by
 * one splitmix64 step and xor-ed into the seed, so neighbouring streams start
 * from unrelated splitmix64 states instead of overlapping shifted sequences;
 * the four state words are then the next four splitmix64 outputs (never all
 * zero in practice, which xoshiro requires).
 */
void
gmm_rng_seed(GmmRng *r, uint64_t seed, uint64_t stream)
{
	uint64_t	t = stream;
	uint64_t	x = seed ^ splitmix64_next(&t);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64_next(&x);
}

/* xoshiro256**: the next 64 random bits */
uint64_t
gmm_rng_next(GmmRng *r)
{
	uint64_t   *s = r->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* uniform on [0, 1): the top 53 bits scaled by 2^-53, exact in a double */
double
gmm_rng_uniform(GmmRng *r)
{
	return (double) (gmm_rng_next(r) >> 11) * 0x1.0p-53;
}

/*
 * Standard normal by Marsaglia's polar method.  It needs only +, *, sqrt and
 * log (no trigonometry, whose last bits vary more between libms).  The second
 * normal of each accepted pair is dropped: GmmRng has no room to cache it,
 * and the sequence then depends only on the generator state.
 */
double
gmm_rng_normal(GmmRng *r)
{
	double		u,
				v,
				s;

	do
	{
		u = 2.0 * gmm_rng_uniform(r) - 1.0;
		v = 2.0 * gmm_rng_uniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	return u * sqrt(-2.0 * log(s) / s);
}
