# shellcheck shell=bash
# tools/lib/cluster.sh: a throwaway PostgreSQL cluster for the demo and the tests.
#
# The cluster lives in a private `mktemp -d` directory, listens on a Unix socket in that
# directory only (listen_addresses = ''), and runs as the `postgres` OS user when we are root
# (PostgreSQL refuses to run as root).  The system's own clusters are never touched.
#
# gmm_cluster_create exports:
#   PGHOST PGPORT PGUSER PGDATABASE  for psql, pg_regress and libpq clients
#   GMM_TEST_TMPDIR   the private directory (socket, log, data, scratch)
#   GMM_TEST_PGDATA   the data directory
#   GMM_TEST_PGBIN    PostgreSQL's bin directory (initdb, pg_ctl, psql, pgbench)
#   GMM_TEST_LOG      the server log
#   GMM_TEST_RUNAS    OS user running the server ("" = the current user)
#   GMM_TEST_SCRATCH  a directory the server can read (for COPY ... FROM 'file')
# Functions: gmm_cluster_create, gmm_cluster_start, gmm_cluster_stop, gmm_cluster_restart,
# gmm_cluster_reload, gmm_cluster_wait_ready, gmm_cluster_is_up, gmm_cluster_destroy,
# gmm_cluster_log_tail, gmm_as_server, gmm_on_exit.

# --- exit hooks: one EXIT trap runs every registered command, last registered first ----------
GMM_EXIT_HOOKS=()
gmm_on_exit() {
	GMM_EXIT_HOOKS+=("$1")
	trap _gmm_run_exit_hooks EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
_gmm_run_exit_hooks() {
	local rc=$? i
	trap - EXIT
	set +e
	for ((i = ${#GMM_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${GMM_EXIT_HOOKS[$i]}"
	done
	exit "$rc"
}

# run a command as the server's OS user, from a directory that user can enter
gmm_as_server() {
	if [ -n "${GMM_TEST_RUNAS:-}" ]; then
		(cd "$GMM_TEST_TMPDIR" && runuser -u "$GMM_TEST_RUNAS" -- "$@")
	else
		(cd "$GMM_TEST_TMPDIR" && "$@")
	fi
}

# a TCP port nobody listens on (the socket file name uses it too), avoiding 55431-55432
_gmm_free_port() {
	local port i
	for ((i = 0; i < 100; i++)); do
		port=$((20000 + RANDOM % 40000))
		case $port in 55431 | 55432) continue ;; esac
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue
		fi
		echo "$port"
		return 0
	done
	gmm_die "no free port found"
}

# create and start a throwaway cluster (see the header); PG_CONFIG must be set
gmm_cluster_create() {
	local locale_opt
	GMM_TEST_PGBIN=${GMM_TEST_PGBIN:-$("$PG_CONFIG" --bindir)}
	[ -x "$GMM_TEST_PGBIN/initdb" ] ||
		gmm_die "no initdb in $GMM_TEST_PGBIN: install postgresql-$GMM_PG_MAJOR"
	GMM_TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/gmm-pg.XXXXXX")
	GMM_TEST_PGDATA=$GMM_TEST_TMPDIR/data
	GMM_TEST_LOG=$GMM_TEST_TMPDIR/server.log
	GMM_TEST_SCRATCH=$GMM_TEST_TMPDIR/scratch
	mkdir "$GMM_TEST_SCRATCH"
	GMM_TEST_RUNAS=
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 ||
			gmm_die "no 'postgres' OS user to run the server as (install postgresql-$GMM_PG_MAJOR)"
		command -v runuser >/dev/null 2>&1 || gmm_die "runuser not found (install util-linux)"
		GMM_TEST_RUNAS=postgres
		chown -R postgres: "$GMM_TEST_TMPDIR"
	fi
	PGHOST=$GMM_TEST_TMPDIR
	PGPORT=$(_gmm_free_port)
	PGUSER=postgres
	PGDATABASE=postgres
	export PGHOST PGPORT PGUSER PGDATABASE GMM_TEST_TMPDIR GMM_TEST_PGDATA GMM_TEST_PGBIN \
		GMM_TEST_LOG GMM_TEST_RUNAS GMM_TEST_SCRATCH
	# initdb needs a locale: C.UTF-8 is built into Debian's glibc, --no-locale elsewhere
	if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
		locale_opt=--locale=C.UTF-8
	else
		locale_opt=--no-locale
	fi
	if ! gmm_as_server "$GMM_TEST_PGBIN/initdb" -D "$GMM_TEST_PGDATA" -U postgres -A trust \
		-E UTF8 "$locale_opt" --no-sync >"$GMM_TEST_TMPDIR/initdb.log" 2>&1; then
		cat "$GMM_TEST_TMPDIR/initdb.log" >&2
		gmm_die "initdb failed"
	fi
	cat >>"$GMM_TEST_PGDATA/postgresql.conf" <<CONF

# --- gmm throwaway cluster (tools/lib/cluster.sh) ---
listen_addresses = ''
port = $PGPORT
unix_socket_directories = '$GMM_TEST_TMPDIR'
fsync = off
synchronous_commit = off
full_page_writes = off
lc_messages = 'C'
log_line_prefix = '%m [%p] '
# per-run settings written by gmm_cluster_restart
include_if_exists = 'gmm_extra.conf'
CONF
	gmm_cluster_start
}

# is the server accepting connections?
gmm_cluster_is_up() {
	"$GMM_TEST_PGBIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" >/dev/null 2>&1
}

# wait until the server accepts connections (default 30 s)
gmm_cluster_wait_ready() {
	local timeout=${1:-30} i
	for ((i = 0; i < timeout * 10; i++)); do
		gmm_cluster_is_up && return 0
		sleep 0.1
	done
	gmm_warn "server not ready after ${timeout}s; log: $GMM_TEST_LOG"
	return 1
}

gmm_cluster_start() {
	if ! gmm_as_server "$GMM_TEST_PGBIN/pg_ctl" -D "$GMM_TEST_PGDATA" -l "$GMM_TEST_LOG" \
		-w -t 60 start >/dev/null; then
		gmm_cluster_log_tail 30 >&2
		gmm_warn "the server did not start (log above, $GMM_TEST_LOG)"
		return 1
	fi
	gmm_cluster_wait_ready 30
}

# stop (default mode fast; "immediate" to skip the shutdown checkpoint)
gmm_cluster_stop() {
	[ -f "$GMM_TEST_PGDATA/postmaster.pid" ] || return 0
	gmm_as_server "$GMM_TEST_PGBIN/pg_ctl" -D "$GMM_TEST_PGDATA" -m "${1:-fast}" -w -t 60 \
		stop >/dev/null
}

# restart with these extra postgresql.conf lines (they replace the previous extra lines;
# no arguments = back to the base configuration), e.g.
#   gmm_cluster_restart "shared_preload_libraries = 'pg_cron'" "cron.database_name = 'cron'"
gmm_cluster_restart() {
	gmm_cluster_stop || return 1
	_gmm_write_extra "$@"
	gmm_cluster_start
}

# apply extra lines that need no restart (same replacing rule as gmm_cluster_restart)
gmm_cluster_reload() {
	_gmm_write_extra "$@"
	gmm_as_server "$GMM_TEST_PGBIN/pg_ctl" -D "$GMM_TEST_PGDATA" reload >/dev/null
}

_gmm_write_extra() {
	local f=$GMM_TEST_PGDATA/gmm_extra.conf
	if [ "$#" -gt 0 ]; then printf '%s\n' "$@" >"$f"; else : >"$f"; fi
	[ -z "${GMM_TEST_RUNAS:-}" ] || chown "$GMM_TEST_RUNAS": "$f"
}

# are extra lines in force (so the next user should restart to the base configuration)?
gmm_cluster_has_extra() {
	[ -s "$GMM_TEST_PGDATA/gmm_extra.conf" ]
}

gmm_cluster_log_tail() {
	tail -n "${1:-20}" "$GMM_TEST_LOG" 2>/dev/null || true
}

# stop the server (immediately: it is thrown away) and delete everything
gmm_cluster_destroy() {
	[ -n "${GMM_TEST_TMPDIR:-}" ] && [ -d "$GMM_TEST_TMPDIR" ] || return 0
	if [ -f "$GMM_TEST_PGDATA/postmaster.pid" ]; then
		if ! gmm_cluster_stop immediate 2>/dev/null; then
			local pid
			pid=$(head -n 1 "$GMM_TEST_PGDATA/postmaster.pid" 2>/dev/null || true)
			[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -rf "$GMM_TEST_TMPDIR"
	GMM_TEST_TMPDIR=
}
