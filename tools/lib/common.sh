# shellcheck shell=bash
# tools/lib/common.sh: shared by tools/demo.sh, tools/test.sh and test/integration/lib.sh.
# Messages, the Debian packages the project needs, finding pg_config, building and installing.

# GMM_PG_MAJOR: the PostgreSQL major to build and test against, chosen by gmm_pick_pg_major
# (GMM_PG_MAJOR or PG_CONFIG when set, else the newest installed server, else the one this Debian
# release ships); the package lists below follow it.
GMM_PG_MAJOR=${GMM_PG_MAJOR:-}

# the PostgreSQL major of a pg_config
gmm_pg_config_major() {
	"$1" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'
}

# the newest PostgreSQL server installed in Debian's layout, or nothing
gmm_installed_pg_major() {
	local d best=
	for d in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$d" ] || continue
		d=${d#/usr/lib/postgresql/}
		d=${d%%/*}
		if [ -z "$best" ] || [ "$d" -gt "$best" ]; then best=$d; fi
	done
	printf '%s' "$best"
}

# the major of the release's `postgresql` package (Depends: postgresql-N), or nothing
gmm_release_candidate_major() {
	command -v apt-cache >/dev/null 2>&1 || return 0
	apt-cache depends postgresql 2>/dev/null | sed -nE 's/^ *Depends: postgresql-([0-9]+)$/\1/p' | head -n 1
}

# set GMM_PG_MAJOR and the package lists GMM_PKGS_BUILD, GMM_PKGS_TEST
gmm_pick_pg_major() {
	if [ -z "$GMM_PG_MAJOR" ] && [ -n "${PG_CONFIG:-}" ] && command -v "$PG_CONFIG" >/dev/null 2>&1; then
		GMM_PG_MAJOR=$(gmm_pg_config_major "$PG_CONFIG")
	fi
	[ -n "$GMM_PG_MAJOR" ] || GMM_PG_MAJOR=$(gmm_installed_pg_major)
	[ -n "$GMM_PG_MAJOR" ] || GMM_PG_MAJOR=$(gmm_release_candidate_major)
	if [ -z "$GMM_PG_MAJOR" ] && [ "${GMM_SKIP_APT:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
		# a fresh machine may have no package lists yet
		gmm_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null 2>&1 || true
		GMM_PG_MAJOR=$(gmm_release_candidate_major)
	fi
	[ -n "$GMM_PG_MAJOR" ] ||
		gmm_die "no PostgreSQL found: install postgresql-server-dev-N, or set GMM_PG_MAJOR or PG_CONFIG"
	export GMM_PG_MAJOR
	# shellcheck disable=SC2034 # used by the scripts that source this file
	# to build, install and run the extension
	GMM_PKGS_BUILD=(build-essential "postgresql-$GMM_PG_MAJOR" "postgresql-server-dev-$GMM_PG_MAJOR"
		liblapack-dev libopenblas0 libopenblas-dev)
	# shellcheck disable=SC2034
	# to run every test suite as well (libclang-rt-dev: the sanitizer and libFuzzer runtimes of
	# the release's default clang)
	GMM_PKGS_TEST=(python3 python3-numpy python3-sklearn python3-matplotlib python3-pytest valgrind
		"postgresql-$GMM_PG_MAJOR-cron"
		clang libclang-rt-dev)
	# shellcheck disable=SC2034
	# to build Citus from its source tarball (GMM_CITUS_TARBALL) for the Citus suite
	GMM_PKGS_CITUS=(autoconf flex bison liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev
		libxslt1-dev libxml2-dev libpam0g-dev libreadline-dev zlib1g-dev libicu-dev)
	# shellcheck disable=SC2034
	# pgvector, for the gmm_pgvector companion (Debian 13 and later ship it)
	GMM_PKG_PGVECTOR=postgresql-$GMM_PG_MAJOR-pgvector
}

# does apt know a candidate version of package $1 (so that installing it can work)?
gmm_apt_has() {
	command -v apt-cache >/dev/null 2>&1 || return 1
	local c
	c=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	[ -n "$c" ] && [ "$c" != "(none)" ]
}

gmm_say() { printf '==> %s\n' "$*"; }
gmm_warn() { printf 'warning: %s\n' "$*" >&2; }
gmm_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# "sudo" when not root (packages and `make install` need root), nothing as root
gmm_sudo() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		gmm_die "need root for: $* (run as root, or install sudo)"
	fi
}

# print the packages among "$@" that are not installed
gmm_missing_packages() {
	local p
	for p in "$@"; do
		case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" in
		ii*) ;;
		*) printf '%s\n' "$p" ;;
		esac
	done
}

# install the missing packages among "$@" with apt, non-interactively; no-op when all are there
gmm_ensure_packages() {
	if [ "${GMM_SKIP_APT:-0}" = 1 ]; then
		gmm_say "packages: not checked (GMM_SKIP_APT=1)"
		return 0
	fi
	if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
		gmm_warn "no apt/dpkg here: make sure these (Debian names) are installed: $*"
		return 0
	fi
	local missing log
	mapfile -t missing < <(gmm_missing_packages "$@")
	if [ "${#missing[@]}" -eq 0 ]; then
		gmm_say "packages: all ${#} installed"
		return 0
	fi
	gmm_say "installing ${#missing[@]} packages with apt (a few minutes on a fresh machine): ${missing[*]}"
	log=$(mktemp "${TMPDIR:-/tmp}/gmm-apt.XXXXXX")
	if ! {
		gmm_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			gmm_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
	} </dev/null >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		rm -f "$log"
		gmm_die "apt-get failed (last lines above); the packages are: ${missing[*]}"
	fi
	rm -f "$log"
	mapfile -t missing < <(gmm_missing_packages "$@")
	[ "${#missing[@]}" -eq 0 ] || gmm_die "still not installed after apt-get: ${missing[*]}"
	gmm_say "packages installed"
}

# set and export PG_CONFIG: $PG_CONFIG if set, else PostgreSQL $GMM_PG_MAJOR's, else the one on PATH
gmm_find_pg_config() {
	if [ -n "${PG_CONFIG:-}" ]; then
		command -v "$PG_CONFIG" >/dev/null 2>&1 || gmm_die "PG_CONFIG=$PG_CONFIG is not an executable"
	elif [ -n "$GMM_PG_MAJOR" ] && [ -x "/usr/lib/postgresql/$GMM_PG_MAJOR/bin/pg_config" ]; then
		PG_CONFIG=/usr/lib/postgresql/$GMM_PG_MAJOR/bin/pg_config
	elif command -v pg_config >/dev/null 2>&1; then
		PG_CONFIG=$(command -v pg_config)
	else
		gmm_die "pg_config not found: install postgresql-server-dev-${GMM_PG_MAJOR:-N}, or set PG_CONFIG=/path/to/pg_config"
	fi
	export PG_CONFIG
	gmm_say "PostgreSQL: $("$PG_CONFIG" --version) ($PG_CONFIG)"
}

# make the extension (extra make arguments in "$@")
gmm_build() {
	make -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" "$@"
}

# make install, as root when the PostgreSQL directories are not writable
gmm_install() {
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ] && [ -w "$("$PG_CONFIG" --sharedir)/extension" ]; then
		make PG_CONFIG="$PG_CONFIG" install
	else
		gmm_sudo make PG_CONFIG="$PG_CONFIG" install
	fi
}

# print the symbols gmm.so needs that neither the postgres binary nor the libraries gmm.so links
# provide (a function declared and called but defined nowhere: CREATE EXTENSION would fail with
# "undefined symbol"); status 1 when there are any
gmm_undefined_symbols() {
	local so=${1:-gmm.so} postgres lib
	postgres="$("$PG_CONFIG" --bindir)/postgres"
	[ -x "$postgres" ] || return 0 # no server here: nothing to check against
	command -v nm >/dev/null 2>&1 || return 0
	local missing
	missing=$(comm -23 \
		<(nm -D --undefined-only "$so" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }' | sort -u) \
		<({
			nm -D --defined-only "$postgres"
			for lib in $(ldd "$so" | awk '/=> \// { print $3 }'); do nm -D --defined-only "$lib"; done
		} | awk '{ sub(/@.*/, "", $NF); print $NF }' | sort -u))
	[ -z "$missing" ] && return 0
	printf '%s\n' "$missing"
	return 1
}
