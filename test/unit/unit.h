/*
 * unit.h
 *	  A tiny unit-test framework for the numerical core: checks that report
 *	  their location and keep going, one pass/fail per test function, and
 *	  the final "N passed, N failed" line.  Also malloc-based GmmHooks that
 *	  count allocations, so tests can assert that nothing leaks and that the
 *	  EM loop does not allocate.
 */
#ifndef UNIT_H
#define UNIT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gmm_core.h"

static int	unit_passed;
static int	unit_failed;
static int	unit_cur_failures;

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
		{ \
			unit_cur_failures++; \
			printf("    FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

/* |a - b| <= rtol |b| + atol, NaN never close */
static inline int
unit_close(double a, double b, double rtol, double atol)
{
	return fabs(a - b) <= rtol * fabs(b) + atol;
}

#define CHECK_CLOSE(a, b, rtol, atol, ...) \
	do { \
		double		ua_ = (a), \
					ub_ = (b); \
		if (!unit_close(ua_, ub_, (rtol), (atol))) \
		{ \
			unit_cur_failures++; \
			printf("    FAIL %s:%d: %s = %.17g, expected %.17g: ", \
				   __FILE__, __LINE__, #a, ua_, ub_); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

#define RUN(fn) \
	do { \
		unit_cur_failures = 0; \
		fn(); \
		if (unit_cur_failures == 0) \
		{ \
			unit_passed++; \
			printf("ok   %s\n", #fn); \
		} \
		else \
		{ \
			unit_failed++; \
			printf("FAIL %s (%d checks)\n", #fn, unit_cur_failures); \
		} \
		fflush(stdout); \
	} while (0)

static inline int
unit_report(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

/* malloc-based hooks with counters */
typedef struct UnitHookStats
{
	long		allocs;
	long		outstanding;
	long		interrupts;
} UnitHookStats;

static UnitHookStats unit_hs;

static void *
unit_alloc(size_t size, void *arg)
{
	void	   *p = malloc(size ? size : 1);

	(void) arg;
	if (!p)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	unit_hs.allocs++;
	unit_hs.outstanding++;
	return p;
}

static void
unit_release(void *p, void *arg)
{
	(void) arg;
	unit_hs.outstanding--;
	free(p);
}

static void
unit_interrupts(void *arg)
{
	(void) arg;
	unit_hs.interrupts++;
}

static const GmmHooks unit_hooks = {unit_alloc, unit_release,
unit_interrupts, NULL, NULL};

#endif							/* UNIT_H */
