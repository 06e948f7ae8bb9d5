#!/usr/bin/env bash
# test/pgvector/run.sh: build and install the gmm_pgvector companion extension and run its
# pg_regress suite (gmm_pgvector/sql) against a running cluster that has gmm and pgvector
# installed.  tools/test.sh runs it as the pgvector suite, after gmm's make install, with its
# private cluster up (PGHOST, PGPORT, PGUSER and PG_CONFIG exported).  Prints
# "N passed, N failed" (pg_regress's ok / not ok lines) and exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PG_CONFIG=${PG_CONFIG:-pg_config}
dir=gmm_pgvector

fail() {
	echo "not ok 1 - $*"
	echo "0 passed, 1 failed"
	exit 1
}

[ -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ] ||
	fail "pgvector is not installed for $("$PG_CONFIG" --version)"
[ -f "$("$PG_CONFIG" --sharedir)/extension/gmm.control" ] ||
	fail "gmm is not installed (make install first)"

echo "==> build and install $dir ($("$PG_CONFIG" --version))"
make -C "$dir" PG_CONFIG="$PG_CONFIG" GMM_WERROR=-Werror clean >/dev/null
if ! make -C "$dir" PG_CONFIG="$PG_CONFIG" GMM_WERROR=-Werror -j2 all ||
	! make -C "$dir" PG_CONFIG="$PG_CONFIG" install; then
	fail "build or install of $dir (make GMM_WERROR=-Werror)"
fi

echo "==> installcheck ($dir/sql, PGHOST=${PGHOST:-} PGPORT=${PGPORT:-})"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
make -C "$dir" PG_CONFIG="$PG_CONFIG" installcheck 2>&1 | tee "$log" || rc=$?
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
p=$(grep -cE '\.\.\. ok|^ok [0-9]+' "$log" || true)
f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+' "$log" || true)
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
if [ "$f" -gt 0 ] && [ -s "$dir/regression.diffs" ]; then
	echo "--- $dir/regression.diffs (first 200 lines) ---"
	head -n 200 "$dir/regression.diffs"
fi
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
