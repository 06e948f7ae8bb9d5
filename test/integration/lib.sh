# shellcheck shell=bash
# test/integration/lib.sh: sourced by the integration scripts, `. "$(dirname "$0")/lib.sh"`.
#
# Under tools/test.sh the scripts get a running throwaway cluster through PGHOST, PGPORT,
# PGUSER, PGDATABASE and GMM_TEST_* (see tools/lib/cluster.sh).  Run alone
# (`bash test/integration/00_smoke.sh`, after `make install`), a script gets its own throwaway
# cluster, removed when it exits.
#
# Cluster:  gmm_cluster_restart [conf-line...]  gmm_cluster_reload [conf-line...]
#           gmm_cluster_stop  gmm_cluster_start  gmm_cluster_wait_ready  gmm_cluster_log_tail [n]
#           gmm_as_server CMD...  gmm_on_exit 'CMD'
# SQL:      gmm_psql ARGS...      psql that stops at the first error (-X, ON_ERROR_STOP)
#           gmm_sql 'SQL'         run SQL, print the result unaligned (no header), fail on error
#           gmm_fresh_db NAME     (re)create database NAME and make it PGDATABASE
# Checks:   ok NAME  |  not_ok NAME [WHY]  |  check NAME CMD...  |  check_eq NAME WANT GOT
#           check_sql NAME WANT 'SQL'  |  check_sql_error NAME REGEX 'SQL'
#           done_testing          print "N passed, N failed" and exit 1 if anything failed

set -euo pipefail

GMM_ROOT=${GMM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export GMM_ROOT
# shellcheck source=../../tools/lib/common.sh
. "$GMM_ROOT/tools/lib/common.sh"
# shellcheck source=../../tools/lib/cluster.sh
. "$GMM_ROOT/tools/lib/cluster.sh"

if [ -z "${GMM_TEST_PGDATA:-}" ]; then
	gmm_pick_pg_major
	gmm_find_pg_config >/dev/null
	gmm_cluster_create
	gmm_on_exit gmm_cluster_destroy
fi

GMM_T_PASSED=0
GMM_T_FAILED=0
GMM_T_N=0

gmm_psql() {
	"$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

gmm_sql() {
	gmm_psql -At -c "$1"
}

gmm_fresh_db() {
	gmm_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\""
	export PGDATABASE=$1
}

ok() {
	GMM_T_N=$((GMM_T_N + 1))
	GMM_T_PASSED=$((GMM_T_PASSED + 1))
	printf 'ok %d - %s\n' "$GMM_T_N" "$1"
}

not_ok() {
	GMM_T_N=$((GMM_T_N + 1))
	GMM_T_FAILED=$((GMM_T_FAILED + 1))
	printf 'not ok %d - %s\n' "$GMM_T_N" "$1"
	if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/#   /'; fi
}

# check NAME CMD...: passes when CMD exits 0 (its output is shown only on failure)
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "want: $2"$'\n'"got:  $3"; fi
}

# check_sql NAME WANT SQL: the SQL runs without error and prints exactly WANT (psql -At)
check_sql() {
	local out
	if out=$(gmm_sql "$3" 2>&1); then
		check_eq "$1" "$2" "$out"
	else
		not_ok "$1" "$out"
	fi
}

# check_sql_error NAME REGEX SQL: the SQL fails with an error message matching REGEX
check_sql_error() {
	local out
	if out=$(gmm_sql "$3" 2>&1); then
		not_ok "$1" "no error; output: $out"
	elif printf '%s\n' "$out" | grep -qE -- "$2"; then
		ok "$1"
	else
		not_ok "$1" "error does not match /$2/: $out"
	fi
}

done_testing() {
	printf '%d passed, %d failed\n' "$GMM_T_PASSED" "$GMM_T_FAILED"
	[ "$GMM_T_FAILED" -eq 0 ]
}
