#!/usr/bin/env bash
# test/fuzz/run.sh: what `make fuzz` runs once test/fuzz/fuzz_codec is built.
#   1. every input in test/fuzz/regressions/ (inputs that once crashed) replays cleanly, one
#      test each;
#   2. the seed corpus test/fuzz/corpus/ (valid models) replays cleanly;
#   3. libFuzzer mutates the seeds and the regressions for FUZZ_TIME seconds (default 30) in a
#      scratch corpus, and finds nothing.
# The last line is "N passed, N failed".  A crash leaves its input in $GMM_FUZZ_ARTIFACTS
# (default /tmp/gmm-fuzz-artifacts): replay it with `test/fuzz/fuzz_codec FILE`, fix the bug,
# and commit the file to test/fuzz/regressions/ under a name that says what it was.
set -uo pipefail

cd "$(dirname "$0")/../.."
FUZZER=test/fuzz/fuzz_codec
FUZZ_TIME=${FUZZ_TIME:-30}
ARTIFACTS=${GMM_FUZZ_ARTIFACTS:-${TMPDIR:-/tmp}/gmm-fuzz-artifacts}
export OPENBLAS_NUM_THREADS=1
# a leak is a failure too; abort (not exit) so that the message says what happened
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0
ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
	[ -z "${2:-}" ] || sed 's/^/#   /' <<<"$2"
}

[ -x "$FUZZER" ] || {
	not_ok "$FUZZER is built" "run: make fuzz"
	echo "$passed passed, $failed failed"
	exit 1
}

# 1. regressions, one test each (-runs=1 on a file replays it and nothing else)
shopt -s nullglob
for f in test/fuzz/regressions/*; do
	[ -f "$f" ] || continue
	case $f in *.md | *.txt) continue ;; esac
	if out=$("$FUZZER" "$f" 2>&1); then
		ok "regression $(basename "$f")"
	else
		not_ok "regression $(basename "$f")" "$(grep -m 5 -E 'pg_shim:|ERROR:|runtime error|SUMMARY' <<<"$out")"
	fi
done

# 2. the seeds: valid models of every covariance type
seeds=(test/fuzz/corpus/*)
if out=$("$FUZZER" "${seeds[@]}" 2>&1); then
	ok "seed corpus (${#seeds[@]} valid models) replays cleanly"
else
	not_ok "seed corpus replays cleanly" "$(grep -m 5 -E 'pg_shim:|ERROR:|runtime error|SUMMARY' <<<"$out")"
fi

# 3. bounded fuzzing in a scratch corpus (the committed corpus stays small)
work=$(mktemp -d "${TMPDIR:-/tmp}/gmm-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$ARTIFACTS"
log=$work/fuzz.log
"$FUZZER" -max_total_time="$FUZZ_TIME" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	-max_len=8192 -artifact_prefix="$ARTIFACTS/" \
	"$work/corpus" test/fuzz/corpus test/fuzz/regressions >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
seed=$(sed -n 's/.*Seed: \([0-9]*\).*/\1/p' "$log" | head -n 1)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
echo "# libFuzzer: ${FUZZ_TIME}s, ${execs:-?} executions, ${rate:-?}/s, seed ${seed:-?}, $cov"
if [ "$rc" -eq 0 ]; then
	ok "libFuzzer ran ${FUZZ_TIME}s (${execs:-?} inputs) without a crash, leak or bad SQLSTATE"
else
	art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	not_ok "libFuzzer ran ${FUZZ_TIME}s without a crash, leak or bad SQLSTATE" \
		"$(grep -m 8 -E 'pg_shim:|ERROR:|runtime error|SUMMARY' "$log")
input: ${art:-see $log} (replay: $FUZZER FILE; commit it to test/fuzz/regressions/)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
