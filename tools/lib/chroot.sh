# shellcheck shell=bash
# tools/lib/chroot.sh: bare Debian roots made with debootstrap, for the version matrix
# (tools/test.sh --matrix) and for trying the README's commands on another Debian release.
#
# The mirror is the one this machine's own apt uses (its sources are read at run time, so no
# mirror host is written into the repository).  Needs root and Debian's debootstrap.
# Functions: gmm_chroot_make SUITE ROOT, gmm_chroot_mount ROOT, gmm_chroot_umount ROOT,
# gmm_chroot_run ROOT CMD..., gmm_chroot_destroy ROOT, gmm_release_pg_major SUITE.

# the first archive URI of this machine's apt sources (deb822 or one-line format)
gmm_apt_mirror() {
	local m=
	m=$(grep -h -m1 '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n 1)
	[ -n "$m" ] || m=$(awk '/^deb /{ for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
	[ -n "$m" ] || gmm_die "no apt mirror found in /etc/apt/sources.list*"
	printf '%s\n' "$m"
}

# the PostgreSQL major a Debian release ships (what the matrix expects to find there)
gmm_release_pg_major() {
	case $1 in
	bookworm) echo 15 ;;
	trixie) echo 17 ;;
	sid | forky) echo 18 ;;
	*) echo "" ;;
	esac
}

# create a bare root for SUITE in ROOT (nothing but apt), unless one is there already
gmm_chroot_make() {
	local suite=$1 root=$2 log
	[ -x "$root/bin/bash" ] && return 0
	[ "$(id -u)" -eq 0 ] || gmm_die "making a Debian root needs root"
	command -v debootstrap >/dev/null 2>&1 || gmm_ensure_packages debootstrap
	mkdir -p "$root"
	log=$root.debootstrap.log
	if ! debootstrap --variant=minbase "$suite" "$root" "$(gmm_apt_mirror)" >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		gmm_die "debootstrap $suite failed (log: $log)"
	fi
	rm -f "$log"
	# the archive may be a snapshot whose Release files have expired (sid's do)
	echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99gmm-snapshot"
	# no service starts inside the root (Debian's own cluster stays down)
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod +x "$root/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

gmm_chroot_mount() {
	local root=$1
	mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
	mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
	mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
	# PostgreSQL's parallel query needs POSIX shared memory
	mkdir -p "$root/dev/shm"
	mountpoint -q "$root/dev/shm" || mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
}

gmm_chroot_umount() {
	local root=$1 m
	for m in dev/shm dev/pts dev proc; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	return 0
}

# run CMD (a bash command line) in ROOT as root, with a clean login environment
gmm_chroot_run() {
	local root=$1
	shift
	gmm_chroot_mount "$root"
	chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 CI="${CI:-}" /bin/bash -lc "$*"
}

gmm_chroot_destroy() {
	local root=$1
	[ -n "$root" ] && [ -d "$root" ] || return 0
	gmm_chroot_umount "$root"
	# never follow a mount left behind into the host
	if grep -q " $root/" /proc/mounts; then
		gmm_warn "mounts still under $root: not deleted"
		return 1
	fi
	rm -rf --one-file-system "$root"
}
