#!/usr/bin/env bash
# tools/test.sh: install what is missing (apt), build with -Werror, install, start a private
# throwaway PostgreSQL cluster and run every test suite.  The last line is the totals,
# "N passed, N failed"; the exit status is non-zero when anything failed.
#
#   bash tools/test.sh                      every suite, on this machine's PostgreSQL
#   bash tools/test.sh --matrix [SUITE...]  the same, then tools/demo.sh and the suites again in a
#                                           fresh Debian root per release (what CI runs)
#   bash tools/test.sh SUITE|SCRIPT...      only these: unit valgrind fuzz regress upgrade
#                                           integration conformance pgvector citus, or test scripts
# Environment: GMM_SKIP_APT=1 skips the package step; GMM_PG_MAJOR or PG_CONFIG picks the
# PostgreSQL (default: the newest installed, else the release's); GMM_CITUS_TARBALL (a Citus
# source tarball) adds the Citus suite; GMM_MATRIX_RELEASES (default "trixie sid") lists the
# matrix's Debian releases; GMM_TEST_TIMEOUT (seconds, default 900) bounds each suite and
# script; GMM_FUZZ_TIME (seconds, default 30) is how long the fuzz suite mutates inputs.
set -euo pipefail

cd "$(dirname "$0")/.."
GMM_ROOT=$PWD
export GMM_ROOT
# shellcheck source=lib/common.sh
. "$GMM_ROOT/tools/lib/common.sh"
# shellcheck source=lib/cluster.sh
. "$GMM_ROOT/tools/lib/cluster.sh"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

# --- what to run ---------------------------------------------------------------------------
want_unit=0 want_valgrind=0 want_fuzz=0 want_regress=0 want_integration=0 want_conformance=0
want_upgrade=0 want_pgvector=0 want_citus=0 want_matrix=0
only_scripts=()
if [ "${1:-}" = --matrix ]; then
	want_matrix=1
	shift
fi
SUITE_ARGS=("$@")
if [ "$#" -eq 0 ]; then
	want_unit=1 want_valgrind=1 want_fuzz=1 want_regress=1 want_integration=1 want_conformance=1
	want_upgrade=1 want_pgvector=1 want_citus=1
fi
for a in "$@"; do
	case $a in
	-h | --help)
		usage
		exit 0
		;;
	unit) want_unit=1 ;;
	valgrind) want_valgrind=1 ;;
	fuzz) want_fuzz=1 ;;
	regress) want_regress=1 ;;
	integration) want_integration=1 ;;
	conformance) want_conformance=1 ;;
	upgrade) want_upgrade=1 ;;
	pgvector) want_pgvector=1 ;;
	citus) want_citus=1 ;;
	*)
		[ -f "$a" ] || {
			usage >&2
			gmm_die "unknown suite or script: $a"
		}
		only_scripts+=("$a")
		;;
	esac
done
need_server=$((want_regress + want_upgrade + want_integration + want_conformance + want_pgvector + want_citus + ${#only_scripts[@]}))

T_START=$SECONDS
TIMEOUT=${GMM_TEST_TIMEOUT:-900}
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/gmm-testlogs.XXXXXX")
# shellcheck disable=SC2016 # expanded when the hook runs
gmm_on_exit 'rm -rf "$LOGDIR"'
TOTAL_P=0 TOTAL_F=0
SUMMARY=()

# record NAME PASSED FAILED [NOTE]
# a summary line, with the seconds since its section began (where CI's time goes)
record() {
	TOTAL_P=$((TOTAL_P + $2))
	TOTAL_F=$((TOTAL_F + $3))
	SUMMARY+=("$(printf '%-44s %4d passed, %3d failed  %5d s %s' "$1" "$2" "$3" \
		"$((SECONDS - SECTION_T0))" "${4:-}")")
}
skip() { SUMMARY+=("$(printf '%-44s skipped: %s' "$1" "$2")"); }

# run CMD with its output on the terminal and in LOG; returns CMD's status.  Programs get
# GMM_TEST_TIMEOUT seconds (status 124 after that); shell functions are not timed.  Without a
# terminal (CI) a timeout kills CMD's whole process tree; at a terminal, CMD stays in the
# foreground so that Ctrl-C reaches it.
run_logged() {
	local log=$1 rc
	shift
	local -a tmo=(timeout -k 10 "$TIMEOUT")
	[ ! -t 0 ] || tmo=(timeout --foreground -k 10 "$TIMEOUT")
	[ "$(type -t "$1")" != function ] || tmo=()
	set +e
	"${tmo[@]}" "$@" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	[ "$rc" -ne 124 ] || echo "*** timed out after ${TIMEOUT}s (GMM_TEST_TIMEOUT)" | tee -a "$log"
	return "$rc"
}

# counts from the last "N passed, N failed" line of LOG, else from its "ok N" / "not ok N" lines,
# else the exit status counts as one test; a non-zero status with no failure counted adds one
count_and_record() {
	local name=$1 log=$2 rc=$3 line p f
	line=$(grep -E '^([[:alnum:]_-]+: *)?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		p=$(sed -E 's/^([[:alnum:]_-]+: *)?([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
		f=$(sed -E 's/^([[:alnum:]_-]+: *)?([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$line")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			record "$name" "$p" 1 "(exit status $rc)"
		else
			record "$name" "$p" "$f"
		fi
	elif grep -qE '^(not )?ok [0-9]+' "$log"; then
		# no closing count (it crashed?): count its TAP-like lines, and a bad exit as one failure
		p=$(grep -cE '^ok [0-9]+' "$log" || true)
		f=$(grep -cE '^not ok [0-9]+' "$log" || true)
		if [ "$rc" -ne 0 ]; then
			record "$name" "$p" $((f + 1)) "(no closing count; exit status $rc)"
		else
			record "$name" "$p" "$f" "(no closing count)"
		fi
	elif [ "$rc" -eq 0 ]; then
		record "$name" 1 0 "(no count printed; exit status 0)"
	else
		record "$name" 0 1 "(no count printed; exit status $rc)"
	fi
}

SECTION_T0=$SECONDS
section() {
	SECTION_T0=$SECONDS
	printf '\n======== %s ========\n' "$*"
}

# run_installcheck NAME LOG [MAKE-ARGS...]: pg_regress through `make installcheck`, counted by
# its per-test lines (PostgreSQL <= 15: "test name ... ok"; 16+: TAP "ok N - name"), with
# regression.diffs shown on a failure
run_installcheck() {
	local name=$1 log=$2 rc=0 p f
	shift 2
	rm -f regression.diffs regression.out
	run_logged "$log" make PG_CONFIG="$PG_CONFIG" installcheck "$@" || rc=$?
	p=$(grep -cE '\.\.\. ok|^ok [0-9]+' "$log" || true)
	f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+' "$log" || true)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	record "$name" "$p" "$f"
	if [ -s regression.diffs ] && [ "$f" -gt 0 ]; then
		section "regression.diffs (first 300 lines)"
		head -n 300 regression.diffs
	fi
}

# one release of the matrix: a fresh root, this checkout (tracked and new files) copied in, the
# README's first command unchanged, then this script with every suite; its last line is the
# totals the matrix counts
gmm_matrix_release() {
	local rel=$1 root=$2 citus_env=
	gmm_chroot_make "$rel" "$root"
	mkdir -p "$root/root/gmm"
	git ls-files -z --cached --others --exclude-standard | tar -c --null -T - | tar -x -C "$root/root/gmm"
	if [ -n "${GMM_CITUS_TARBALL:-}" ]; then
		mkdir -p "$root/root/citus"
		cp "$GMM_CITUS_TARBALL" "$(dirname "$GMM_CITUS_TARBALL")"/*.patch "$root/root/citus/" 2>/dev/null || true
		citus_env="GMM_CITUS_TARBALL=/root/citus/$(basename "$GMM_CITUS_TARBALL")"
	fi
	gmm_chroot_run "$root" "cd /root/gmm && echo '==> Debian' \$(cat /etc/debian_version) && bash tools/demo.sh && \
		echo '==> tools/demo.sh passed' && $citus_env GMM_FUZZ_TIME=${GMM_FUZZ_TIME:-30} bash tools/test.sh ${SUITE_ARGS[*]}"
}

# --- packages, build, install --------------------------------------------------------------
section "packages"
gmm_pick_pg_major
extra_pkgs=()
# the Citus suite builds Citus from GMM_CITUS_TARBALL when it is not installed already
citus_installed() { [ -f "$("$PG_CONFIG" --pkglibdir 2>/dev/null)/citus.so" ]; }
# (only for the PostgreSQL majors Citus supports: on others the suite says it is skipped)
# shellcheck source=lib/citus.sh
. "$GMM_ROOT/tools/lib/citus.sh"
if [ "$want_citus" = 1 ] && [ -n "${GMM_CITUS_TARBALL:-}" ] && [ "$GMM_PG_MAJOR" -le "$GMM_CITUS_MAX_PG_MAJOR" ]; then
	extra_pkgs+=("${GMM_PKGS_CITUS[@]}")
fi
# pgvector where the release ships it (Debian 13 and later)
if [ "$want_pgvector" = 1 ] && gmm_apt_has "$GMM_PKG_PGVECTOR"; then extra_pkgs+=("$GMM_PKG_PGVECTOR"); fi
gmm_ensure_packages "${GMM_PKGS_BUILD[@]}" "${GMM_PKGS_TEST[@]}" "${extra_pkgs[@]}"
gmm_find_pg_config

section "build (make -B GMM_WERROR=-Werror)"
built=0 installed=0
# -B: objects left by a build without -Werror (tools/demo.sh, a plain make) are rebuilt
if run_logged "$LOGDIR/build" gmm_build -B GMM_WERROR=-Werror; then
	built=1
	record "build (-Werror)" 1 0
else
	record "build (-Werror)" 0 1
fi
if [ "$built" = 1 ]; then
	section "link check (symbols of gmm.so)"
	if missing=$(gmm_undefined_symbols gmm.so); then
		echo "every symbol gmm.so uses is defined by PostgreSQL or a library it links"
		record "link check (gmm.so symbols)" 1 0
	else
		echo "gmm.so uses symbols defined nowhere (CREATE EXTENSION will fail to load it):"
		printf '  %s\n' "${missing//$'\n'/$'\n'  }"
		record "link check (gmm.so symbols)" 0 1
	fi
fi
if [ "$built" = 1 ] && [ "$need_server" -gt 0 ]; then
	section "install"
	if run_logged "$LOGDIR/install" gmm_install; then
		installed=1
	else
		record "make install" 0 1
	fi
fi

# --- C unit tests --------------------------------------------------------------------------
# a make target that does not exist (yet) is reported as skipped, not run
has_target() {
	local out
	out=$(make -n PG_CONFIG="$PG_CONFIG" "$1" 2>&1 || true)
	! grep -q "No rule to make target '$1'" <<<"$out"
}
if [ "$want_unit" = 1 ]; then
	section "make unittest"
	rc=0
	run_logged "$LOGDIR/unit" make PG_CONFIG="$PG_CONFIG" unittest || rc=$?
	count_and_record "unit (make unittest)" "$LOGDIR/unit" "$rc"
fi
if [ "$want_valgrind" = 1 ]; then
	section "make unittest-valgrind"
	if has_target unittest-valgrind; then
		rc=0
		run_logged "$LOGDIR/valgrind" make PG_CONFIG="$PG_CONFIG" unittest-valgrind || rc=$?
		count_and_record "valgrind (make unittest-valgrind)" "$LOGDIR/valgrind" "$rc"
	else
		skip "valgrind (make unittest-valgrind)" "no such make target yet"
	fi
fi
# libFuzzer over the binary format (test/fuzz/run.sh): regressions, seeds, then bounded fuzzing
if [ "$want_fuzz" = 1 ]; then
	section "make fuzz (${GMM_FUZZ_TIME:-30} s of libFuzzer)"
	if has_target fuzz; then
		rc=0
		run_logged "$LOGDIR/fuzz" make PG_CONFIG="$PG_CONFIG" FUZZ_TIME="${GMM_FUZZ_TIME:-30}" fuzz || rc=$?
		count_and_record "fuzz (make fuzz)" "$LOGDIR/fuzz" "$rc"
	else
		skip "fuzz (make fuzz)" "no such make target yet"
	fi
fi

# --- the server suites ---------------------------------------------------------------------
# server-side scripts to run: integration/*.sh and conformance/* (executable ones)
scripts=()
if [ "$want_integration" = 1 ]; then
	for f in test/integration/*.sh; do
		if [ ! -e "$f" ] || [ "$f" = test/integration/lib.sh ]; then continue; fi
		if [ -x "$f" ]; then scripts+=("$f"); else gmm_warn "$f is not executable: not run (chmod +x it)"; fi
	done
fi
if [ "$want_conformance" = 1 ]; then
	for f in test/conformance/*; do
		[ -f "$f" ] && [ -x "$f" ] && scripts+=("$f")
	done
fi
scripts+=("${only_scripts[@]}")
regress_tests=()
if [ "$want_regress" = 1 ] || [ "$want_upgrade" = 1 ]; then
	for f in sql/[0-9]*.sql; do [ -e "$f" ] && regress_tests+=("$f"); done
fi

if [ "$need_server" -gt 0 ] && [ "$installed" = 0 ]; then
	[ "$want_regress" = 0 ] || skip "regress (make installcheck)" "the extension did not build/install"
	for f in "${scripts[@]}"; do skip "$f" "the extension did not build/install"; done
elif [ "$need_server" -gt 0 ]; then
	section "private PostgreSQL cluster"
	gmm_on_exit gmm_cluster_destroy
	gmm_cluster_create
	gmm_say "cluster up: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER (data $GMM_TEST_PGDATA)"

	if [ "$want_regress" = 1 ]; then
		section "regress (make installcheck)"
		if [ "${#regress_tests[@]}" -eq 0 ]; then
			skip "regress (make installcheck)" "no sql/[0-9]*.sql yet"
		else
			run_installcheck "regress (make installcheck)" "$LOGDIR/regress"
		fi
	fi

	# the same suite on an install made as 1.0 and updated (ALTER EXTENSION gmm UPDATE)
	if [ "$want_upgrade" = 1 ] && [ "${#regress_tests[@]}" -gt 0 ]; then
		section "regress on 1.0 + ALTER EXTENSION gmm UPDATE"
		rc=0
		{
			"$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
				-c "DROP DATABASE IF EXISTS regression_updated" -c "CREATE DATABASE regression_updated" &&
				"$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d regression_updated \
					-c "CREATE EXTENSION gmm VERSION '1.0'" -c "ALTER EXTENSION gmm UPDATE" \
					-c "SELECT 'gmm ' || extversion || ' (updated from 1.0)' FROM pg_extension WHERE extname = 'gmm'"
		} 2>&1 | tee "$LOGDIR/upgrade-setup" || rc=1
		if [ "$rc" = 0 ]; then
			# CONTRIB_TESTDB: PGXS appends its --dbname after EXTRA_REGRESS_OPTS, and the last wins
			run_installcheck "regress on 1.0 + UPDATE" "$LOGDIR/upgrade" \
				CONTRIB_TESTDB=regression_updated EXTRA_REGRESS_OPTS=--use-existing
		else
			record "regress on 1.0 + UPDATE" 0 1 "(the 1.0 install or its update failed)"
		fi
	fi

	for s in "${scripts[@]}"; do
		section "$s"
		if ! gmm_cluster_is_up || gmm_cluster_has_extra; then
			gmm_say "restarting the cluster with its base configuration"
			gmm_cluster_restart || { record "$s" 0 1 "(cluster would not restart)"; continue; }
		fi
		rc=0
		log=$LOGDIR/$(basename "$s").log
		if [[ $s == *.sh ]]; then
			run_logged "$log" bash "$s" || rc=$?
		else
			run_logged "$log" "./$s" || rc=$?
		fi
		count_and_record "$s" "$log" "$rc"
		if [ "$rc" -ne 0 ]; then
			echo "--- server log (last 15 lines) ---"
			gmm_cluster_log_tail 15
		fi
	done
fi

# --- companions and a distributed cluster ----------------------------------------------------
# gmm_pgvector (test/pgvector/run.sh, on the private cluster) where pgvector is installed
if [ "$want_pgvector" = 1 ] && [ "$installed" = 1 ]; then
	if [ ! -x test/pgvector/run.sh ]; then
		skip "pgvector (test/pgvector/run.sh)" "no such script yet"
	elif [ ! -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ]; then
		skip "pgvector (test/pgvector/run.sh)" "pgvector is not installed (Debian ships it from 13 on)"
	else
		section "test/pgvector/run.sh"
		if ! gmm_cluster_is_up || gmm_cluster_has_extra; then gmm_cluster_restart; fi
		rc=0
		run_logged "$LOGDIR/pgvector" bash test/pgvector/run.sh || rc=$?
		count_and_record "pgvector (test/pgvector/run.sh)" "$LOGDIR/pgvector" "$rc"
	fi
fi
# Citus (test/citus/run.sh starts its own coordinator and workers) when it is installed or
# GMM_CITUS_TARBALL gives its source
if [ "$want_citus" = 1 ] && [ "$installed" = 1 ]; then
	if [ ! -x test/citus/run.sh ]; then
		skip "citus (test/citus/run.sh)" "no such script yet"
	elif ! citus_installed && [ -z "${GMM_CITUS_TARBALL:-}" ]; then
		skip "citus (test/citus/run.sh)" "Citus is not installed and GMM_CITUS_TARBALL is not set"
	else
		section "test/citus/run.sh"
		rc=0
		run_logged "$LOGDIR/citus" bash test/citus/run.sh || rc=$?
		count_and_record "citus (test/citus/run.sh)" "$LOGDIR/citus" "$rc"
	fi
fi

# --- the version matrix: the README's two commands in a fresh Debian root per release ---------
if [ "$want_matrix" = 1 ]; then
	# shellcheck source=lib/chroot.sh
	. "$GMM_ROOT/tools/lib/chroot.sh"
	MATRIX_DIR=$(mktemp -d /var/tmp/gmm-matrix.XXXXXX)
	# shellcheck disable=SC2016 # expanded when the hook runs
	gmm_on_exit 'for r in "$MATRIX_DIR"/*/; do gmm_chroot_destroy "${r%/}"; done; rm -rf "$MATRIX_DIR"'
	for rel in ${GMM_MATRIX_RELEASES:-trixie sid}; do
		section "matrix: Debian $rel (PostgreSQL $(gmm_release_pg_major "$rel"))"
		root=$MATRIX_DIR/$rel
		log=$LOGDIR/matrix-$rel
		rc=0
		run_logged "$log" gmm_matrix_release "$rel" "$root" || rc=$?
		count_and_record "matrix: Debian $rel, PostgreSQL $(gmm_release_pg_major "$rel")" "$log" "$rc"
		gmm_chroot_destroy "$root" || true
	done
fi

# --- totals --------------------------------------------------------------------------------
section "summary ($((SECONDS - T_START)) s)"
printf '%s\n' "${SUMMARY[@]}"
printf '%d passed, %d failed\n' "$TOTAL_P" "$TOTAL_F"
[ "$TOTAL_F" -eq 0 ]
