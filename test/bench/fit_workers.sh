#!/usr/bin/env bash
# One fit on 1 and on 2 (or more) cores, gmm.fit_workers, in one run:
#   bash test/bench/fit_workers.sh [N D K TYPE REPS WORKERS]   (default 1000000 16 8 full 3 2)
# The core's em_bench (no server), wall-clock seconds per EM iteration with 1 and with WORKERS
# threads, interleaved, one BLAS thread each; prints the medians and the speed-up.  The E-step is
# what runs on the threads; k-means and the M-step stay on one, so the per-iteration difference
# (max_iter 2 and 6) is the part that scales.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-1000000} d=${2:-16} k=${3:-8} type=${4:-full} reps=${5:-3} workers=${6:-2}
make -s -C "$here" em_bench
export OPENBLAS_NUM_THREADS=1 EM_BENCH_WALL=1
echo "# CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
per_it() { EM_BENCH_WORKERS=$1 "$here/em_bench" fit "$n" "$d" "$k" "$type" 2 6 1 |
	sed -n 's/.*per iteration \([0-9.e-]*\) s.*/\1/p'; }
a=() b=()
for ((r = 0; r < reps; r++)); do
	a+=("$(per_it 1)")
	b+=("$(per_it "$workers")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ma=$(median "${a[@]}") mb=$(median "${b[@]}")
printf '# EM s/iteration at %sx%s K=%s %s, median of %s: 1 worker %s, %s workers %s\n' \
	"$n" "$d" "$k" "$type" "$reps" "$ma" "$workers" "$mb"
awk -v a="$ma" -v b="$mb" -v w="$workers" 'BEGIN {printf "speed-up with %s workers: %.2fx\n", w, a / b}'
