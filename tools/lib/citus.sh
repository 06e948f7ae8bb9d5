# shellcheck shell=bash
# tools/lib/citus.sh: Citus for the Citus suite (test/citus/run.sh) and its benchmark
# (test/bench/citus.sh): build and install it from a source tarball, and run a throwaway
# coordinator and two workers.  Source tools/lib/common.sh and tools/lib/cluster.sh first, and
# set PG_CONFIG.
#
# Build:    gmm_citus_installed             is citus.so in $(pg_config --pkglibdir)?
#           gmm_citus_build                 build and install from GMM_CITUS_TARBALL (every *.patch
#                                           beside it applied when it applies), unless installed
#           gmm_citus_supported             does this Citus support PG_CONFIG's major (15 to 17)?
# Cluster:  gmm_citus_cluster_create [N]    a coordinator and N workers (default 2), registered
#                                           with each other; removed when the script exits
#           gmm_citus_cluster_destroy       stop the nodes, delete their directory
#           gmm_citus_psql NODE ARGS...     psql on node 0 (the coordinator), 1, 2...
# The nodes run as the `postgres` OS user when we are root (like tools/lib/cluster.sh), listen
# on 127.0.0.1 only (free ports) and on a Unix socket in a private `mktemp -d` directory.  After
# gmm_citus_cluster_create, PGHOST/PGPORT/PGUSER/PGDATABASE point at the coordinator, and
# GMM_TEST_PGBIN, GMM_TEST_TMPDIR, GMM_TEST_RUNAS are set as cluster.sh sets them, so
# gmm_as_server and test/integration/lib.sh's helpers work against the coordinator.
#   GMM_CITUS_DIR     the private directory (socket, one data directory and log per node)
#   GMM_CITUS_PORTS   the nodes' ports, coordinator first (a bash array)

# the last PostgreSQL major the vendored Citus (13.2) supports
GMM_CITUS_MAX_PG_MAJOR=${GMM_CITUS_MAX_PG_MAJOR:-17}

gmm_citus_installed() {
	[ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]
}

gmm_citus_supported() {
	local major
	major=$(gmm_pg_config_major "$PG_CONFIG")
	[ "$major" -ge 15 ] && [ "$major" -le "$GMM_CITUS_MAX_PG_MAJOR" ]
}

# build and install Citus from GMM_CITUS_TARBALL for PG_CONFIG (about 90 s on 2 cores), unless
# citus.so is installed already.  Every *.patch beside the tarball is applied with `patch -p1`
# inside the source tree when a dry run says it applies (and skipped, with a message, when not)
gmm_citus_build() {
	local tarball=${GMM_CITUS_TARBALL:-} work src p log t0=$SECONDS
	if gmm_citus_installed; then
		gmm_say "Citus: already installed ($("$PG_CONFIG" --pkglibdir)/citus.so)"
		return 0
	fi
	[ -n "$tarball" ] || gmm_die "Citus is not installed and GMM_CITUS_TARBALL is not set"
	[ -f "$tarball" ] || gmm_die "GMM_CITUS_TARBALL=$tarball: no such file"
	work=$(mktemp -d "${TMPDIR:-/tmp}/gmm-citus-build.XXXXXX")
	log=$work/build.log
	tar -xzf "$tarball" -C "$work" || gmm_die "cannot extract $tarball"
	src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	if [ -z "$src" ] || [ ! -x "$src/configure" ]; then
		gmm_die "$tarball holds no source tree with a configure script"
	fi
	for p in "$(dirname "$tarball")"/*.patch; do
		[ -f "$p" ] || continue
		if (cd "$src" && patch -p1 --dry-run -N -s <"$p" >/dev/null 2>&1); then
			(cd "$src" && patch -p1 -N -s <"$p") || gmm_die "patch $p failed after a clean dry run"
			gmm_say "Citus: applied $(basename "$p")"
		else
			gmm_say "Citus: $(basename "$p") does not apply here (or is applied already): skipped"
		fi
	done
	gmm_say "Citus: building $(basename "$src") for $("$PG_CONFIG" --version) (about 90 s)"
	if ! (cd "$src" && ./configure --without-libcurl PG_CONFIG="$PG_CONFIG" && make -j2) >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		rm -rf "$work"
		gmm_die "building Citus failed (last lines above)"
	fi
	if ! (cd "$src" && if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then make install; else gmm_sudo make install; fi) >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -rf "$work"
		gmm_die "make install of Citus failed (last lines above)"
	fi
	rm -rf "$work"
	gmm_citus_installed || gmm_die "Citus installed, but $("$PG_CONFIG" --pkglibdir)/citus.so is missing"
	gmm_say "Citus: installed in $((SECONDS - t0)) s"
}

gmm_citus_psql() {
	local node=$1
	shift
	"$GMM_TEST_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$GMM_CITUS_DIR" -p "${GMM_CITUS_PORTS[$node]}" \
		-U postgres -d postgres "$@"
}

# initdb and start one node in $GMM_CITUS_DIR/nodeN on a free port
_gmm_citus_node_start() {
	local n=$1 dir=$GMM_CITUS_DIR/node$1 port locale_opt
	port=$(_gmm_free_port)
	GMM_CITUS_PORTS[n]=$port
	if grep -qiE '^c\.utf-?8$' <<<"$(locale -a 2>/dev/null)"; then locale_opt=--locale=C.UTF-8; else locale_opt=--no-locale; fi
	if ! gmm_as_server "$GMM_TEST_PGBIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 "$locale_opt" \
		--no-sync >"$GMM_CITUS_DIR/initdb$n.log" 2>&1; then
		cat "$GMM_CITUS_DIR/initdb$n.log" >&2
		gmm_die "initdb of Citus node $n failed"
	fi
	cat >>"$dir/postgresql.conf" <<CONF

# --- gmm throwaway Citus node $n (tools/lib/citus.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$GMM_CITUS_DIR'
shared_preload_libraries = 'citus'
shared_buffers = 64MB
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
lc_messages = 'C'
log_line_prefix = '%m [%p] '
CONF
	if ! gmm_as_server "$GMM_TEST_PGBIN/pg_ctl" -D "$dir" -l "$GMM_CITUS_DIR/node$n.log" -w -t 60 \
		start >/dev/null; then
		tail -n 30 "$GMM_CITUS_DIR/node$n.log" >&2
		gmm_die "Citus node $n did not start (log above)"
	fi
}

# a coordinator (node 0) and $1 workers (default 2), citus created on each, the workers added
gmm_citus_cluster_create() {
	local workers=${1:-2} n
	GMM_TEST_PGBIN=$("$PG_CONFIG" --bindir)
	[ -x "$GMM_TEST_PGBIN/initdb" ] || gmm_die "no initdb in $GMM_TEST_PGBIN: install postgresql-$GMM_PG_MAJOR"
	GMM_CITUS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gmm-citus.XXXXXX")
	GMM_CITUS_PORTS=()
	GMM_TEST_RUNAS=
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || gmm_die "no 'postgres' OS user to run the servers as"
		GMM_TEST_RUNAS=postgres
		chown postgres: "$GMM_CITUS_DIR"
	fi
	# gmm_as_server runs from GMM_TEST_TMPDIR
	GMM_TEST_TMPDIR=$GMM_CITUS_DIR
	export GMM_TEST_PGBIN GMM_TEST_RUNAS GMM_TEST_TMPDIR GMM_CITUS_DIR
	gmm_on_exit gmm_citus_cluster_destroy
	for ((n = 0; n <= workers; n++)); do _gmm_citus_node_start "$n"; done
	for ((n = 0; n <= workers; n++)); do
		gmm_citus_psql "$n" -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" ||
			gmm_die "CREATE EXTENSION citus failed on node $n"
	done
	gmm_citus_psql 0 -c "SELECT citus_set_coordinator_host('127.0.0.1', ${GMM_CITUS_PORTS[0]})" >/dev/null ||
		gmm_die "citus_set_coordinator_host failed"
	for ((n = 1; n <= workers; n++)); do
		gmm_citus_psql 0 -c "SELECT citus_add_node('127.0.0.1', ${GMM_CITUS_PORTS[n]})" >/dev/null ||
			gmm_die "citus_add_node for worker $n failed"
	done
	PGHOST=$GMM_CITUS_DIR
	PGPORT=${GMM_CITUS_PORTS[0]}
	PGUSER=postgres
	PGDATABASE=postgres
	export PGHOST PGPORT PGUSER PGDATABASE
	gmm_say "Citus cluster up: coordinator 127.0.0.1:${GMM_CITUS_PORTS[0]}, workers ${GMM_CITUS_PORTS[*]:1} ($GMM_CITUS_DIR)"
}

# stop every node (immediately: they are thrown away) and delete the directory
gmm_citus_cluster_destroy() {
	local d pid
	[ -n "${GMM_CITUS_DIR:-}" ] && [ -d "$GMM_CITUS_DIR" ] || return 0
	for d in "$GMM_CITUS_DIR"/node*/; do
		[ -f "$d/postmaster.pid" ] || continue
		if ! gmm_as_server "$GMM_TEST_PGBIN/pg_ctl" -D "${d%/}" -m immediate -w -t 30 stop >/dev/null 2>&1; then
			pid=$(head -n 1 "$d/postmaster.pid" 2>/dev/null || true)
			[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$GMM_CITUS_DIR"
	GMM_CITUS_DIR=
}

# the tail of node N's server log
gmm_citus_log_tail() {
	tail -n "${2:-20}" "$GMM_CITUS_DIR/node$1.log" 2>/dev/null || true
}
