/*
 * blas_kernel.c
 *	  Whether OpenBLAS runs a generic kernel on a CPU that can do better, and
 *	  what to set instead.  OpenBLAS built with DYNAMIC_ARCH (Debian's) picks
 *	  its kernels by the CPU model at load time; a model it does not know
 *	  (a CPU newer than the library) gets the generic Prescott (SSE3) or
 *	  another pre-AVX2 kernel, several times slower at DGEMM, unless
 *	  OPENBLAS_CORETYPE names a kernel in the server's environment; and an
 *	  environment may name an older kernel than the CPU's (one machine of
 *	  this project's exports OPENBLAS_CORETYPE=Haswell on a Zen 5).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* RTLD_DEFAULT */
#endif
#include <dlfcn.h>
#include <string.h>

#include "gmm_core.h"

/* OpenBLAS core names whose kernels use neither AVX2 nor AVX-512 */
static const char *const pre_avx2_cores[] = {
	"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom",
	"Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Opteron",
	"Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
	"Steamroller", "Excavator", "Nano", "Prescott_SSE3"
};

const char *
gmm_blas_better_core(const char *corename, bool avx2, bool avx512f, bool amd)
{
	bool		generic = false;

	if (corename == NULL || !(avx2 || avx512f))
		return NULL;
	for (size_t i = 0; i < sizeof(pre_avx2_cores) / sizeof(pre_avx2_cores[0]); i++)
		if (strcmp(corename, pre_avx2_cores[i]) == 0)
			generic = true;
	/*
	 * An AVX-512 CPU on AVX2 kernels gains less, but SkylakeX is the fit,
	 * Intel's and AMD's (Zen 4 on): `em_bench rates` on a Zen 5 EPYC, DGEMM
	 * 1024^3 on one thread, 77-88 GFLOP/s with SkylakeX against 51-54 with
	 * Haswell or Zen (two runs).
	 */
	if (avx512f && (strcmp(corename, "Haswell") == 0 || strcmp(corename, "Zen") == 0))
		generic = true;
	if (!generic)
		return NULL;
	if (avx512f)
		return "SkylakeX";
	return amd ? "Zen" : "Haswell";
}

const char *
gmm_blas_core_name(void)
{
#ifdef RTLD_DEFAULT
	char	   *(*get_corename) (void);

	get_corename = (char *(*) (void)) dlsym(RTLD_DEFAULT, "openblas_get_corename");
	if (get_corename != NULL)
		return get_corename();
#endif
	return NULL;
}

const char *
gmm_blas_better_core_here(const char *corename)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
	return gmm_blas_better_core(corename, __builtin_cpu_supports("avx2"),
								__builtin_cpu_supports("avx512f"),
								__builtin_cpu_is("amd"));
#else
	return NULL;
#endif
}
