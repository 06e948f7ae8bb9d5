#!/usr/bin/env bash
# What a generic OpenBLAS kernel costs the EM fit, on this machine, in one run:
#   bash test/bench/blas_kernel.sh [N D K TYPE REPS]     (default 100000 16 8 full 3)
# Runs the core's em_bench (no server) with OpenBLAS's own choice of kernel and with
# OPENBLAS_CORETYPE=Prescott (the generic kernel OpenBLAS falls back to on a CPU model it does
# not know), interleaved, one BLAS thread; prints DGEMM rates and the seconds per EM iteration
# of each, and their ratio.  No PostgreSQL needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-100000} d=${2:-16} k=${3:-8} type=${4:-full} reps=${5:-3}
make -s -C "$here" em_bench
export OPENBLAS_NUM_THREADS=1
# with_core CORE CMD...: CMD with OPENBLAS_CORETYPE=CORE, or without the variable when CORE is empty
with_core() {
	local core=$1
	shift
	if [ -n "$core" ]; then env OPENBLAS_CORETYPE="$core" "$@"; else env -u OPENBLAS_CORETYPE "$@"; fi
}
own=$(with_core "" /usr/bin/python3 -c 'import ctypes,ctypes.util
l=ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype=ctypes.c_char_p
print(l.openblas_get_corename().decode())' 2>/dev/null || echo unknown)
echo "# CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); OpenBLAS picks: $own"
for core in "" Prescott; do
	echo "# DGEMM GFLOP/s with ${core:-$own}: $(with_core "$core" "$here/em_bench" rates |
		awk '/^dgemm/ {printf "%s %s  ", $1, $2}')"
done
per_it() { with_core "$1" "$here/em_bench" fit "$n" "$d" "$k" "$type" 2 6 1 |
	sed -n 's/.*per iteration \([0-9.e-]*\) s.*/\1/p'; }
a=() b=()
for ((r = 0; r < reps; r++)); do
	a+=("$(per_it "")")
	b+=("$(per_it Prescott)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ma=$(median "${a[@]}") mb=$(median "${b[@]}")
printf '# EM s/iteration at %sx%s K=%s %s, median of %s: %s %s, Prescott %s\n' \
	"$n" "$d" "$k" "$type" "$reps" "$own" "$ma" "$mb"
awk -v a="$ma" -v b="$mb" -v own="$own" 'BEGIN {printf "Prescott / %s: %.2fx\n", own, b / a}'
