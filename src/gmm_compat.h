/*
 * gmm_compat.h
 *	  Every difference between the PostgreSQL majors gmm supports (15 to 18),
 *	  as small macros: the rest of the code uses one spelling and never tests
 *	  PG_VERSION_NUM itself.  Also included by the fuzz harness's stand-in
 *	  for the backend (test/fuzz/pg_shim.c).
 */
#ifndef GMM_COMPAT_H
#define GMM_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "gmm needs PostgreSQL 15 or later"
#endif

/* 16 moved the varlena macros (VARATT_IS_EXTERNAL_ONDISK, ...) out of postgres.h */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * A function that never returns, written before the declaration:
 * `gmm_noreturn static void f(void);`.  18 replaced the trailing
 * pg_attribute_noreturn() with the leading pg_noreturn.
 */
#if PG_VERSION_NUM >= 180000
#define gmm_noreturn pg_noreturn
#else
#define gmm_noreturn pg_attribute_noreturn()
#endif

/*
 * printf conversion of a uint64 in hexadecimal, after the flags and width:
 * "%016" GMM_UINT64_HEX.  18 dropped INT64_MODIFIER for <inttypes.h>'s.
 */
#if PG_VERSION_NUM >= 180000
#define GMM_UINT64_HEX PRIx64
#else
#define GMM_UINT64_HEX INT64_MODIFIER "x"
#endif

/* materialize-mode set-returning functions: 16 renamed SetSingleFuncCall */
#if PG_VERSION_NUM < 160000
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall((fcinfo), (flags))
#endif

/*
 * The parameters of ExceptionalCondition (Assert's failure handler, which
 * the fuzz shim defines) before its fileName: 16 dropped errorType.
 */
#if PG_VERSION_NUM >= 160000
#define GMM_EXCEPTIONAL_CONDITION_PARAMS const char *conditionName
#else
#define GMM_EXCEPTIONAL_CONDITION_PARAMS \
	const char *conditionName, const char *errorType pg_attribute_unused()
#endif

/* a hint to load the cache line at an address (no fault, no value read) */
#if defined(__GNUC__) || defined(__clang__)
#define gmm_prefetch(addr) __builtin_prefetch((addr))
#else
#define gmm_prefetch(addr) ((void) (addr))
#endif

#endif							/* GMM_COMPAT_H */
