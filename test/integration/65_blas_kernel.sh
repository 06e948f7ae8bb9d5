#!/usr/bin/env bash
# BLAS kernels: gmm_blas_info() names OpenBLAS's kernel (core) and the CPU's vector extensions,
# and warns, naming the OPENBLAS_CORETYPE to set, when OpenBLAS runs a generic pre-AVX2 kernel
# on a CPU with AVX2: the server is restarted with OPENBLAS_CORETYPE=Prescott in its environment
# (what OpenBLAS picks by itself on a CPU model it does not know), then with the suggested core,
# then as before.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

gmm_fresh_db gmm_blas
gmm_sql "CREATE EXTENSION gmm" >/dev/null
info=$(gmm_sql "SELECT gmm_blas_info()")
if ! grep -q "core: " <<<"$info"; then
	# not OpenBLAS (no openblas_get_corename): nothing to advise, and nothing is claimed
	check_eq "without OpenBLAS, gmm_blas_info names no core and gives no warning" 0 \
		"$(grep -c 'WARNING' <<<"$info" || true)"
	done_testing
	exit
fi
avx2=0
grep -qw avx2 /proc/cpuinfo && avx2=1
check_eq "gmm_blas_info names the CPU's extensions" 1 \
	"$(grep -c "cpu: $([ "$avx2" = 1 ] && echo '[a-z0-9 ]*avx2' || echo 'no avx2')" <<<"$info")"

restart_with_core() {
	gmm_cluster_stop
	OPENBLAS_CORETYPE=$1 gmm_cluster_start
}

restart_with_core Prescott
forced=$(gmm_sql "SELECT gmm_blas_info()")
check_eq "with OPENBLAS_CORETYPE=Prescott the backend runs the Prescott kernels" 1 \
	"$(grep -c 'core: Prescott' <<<"$forced")"
if [ "$avx2" = 1 ]; then
	better=$(sed -n 's/.*set OPENBLAS_CORETYPE=\([A-Za-z]*\) in the server.*/\1/p' <<<"$forced")
	check_eq "on this AVX2 CPU that is a warning naming a better core" 1 \
		"$([ -n "$better" ] && echo 1 || echo 0)"
	restart_with_core "$better"
	fixed=$(gmm_sql "SELECT gmm_blas_info()")
	check_eq "with the suggested OPENBLAS_CORETYPE=$better the backend runs it, without a warning" "1|0" \
		"$(grep -c "core: $better" <<<"$fixed")|$(grep -c 'WARNING' <<<"$fixed" || true)"
else
	check_eq "on a CPU without AVX2 the generic kernel gets no warning" 0 \
		"$(grep -c 'WARNING' <<<"$forced" || true)"
fi
gmm_cluster_stop
gmm_cluster_start
check_eq "restarted without the variable: the kernel OpenBLAS picks, as at the start" "$info" \
	"$(gmm_sql "SELECT gmm_blas_info()")"
PGDATABASE=postgres gmm_sql "DROP DATABASE IF EXISTS gmm_blas" >/dev/null
done_testing
