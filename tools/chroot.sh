#!/usr/bin/env bash
# tools/chroot.sh: a bare Debian root (debootstrap, nothing but apt) to try gmm on another Debian
# release, the way the version matrix of tools/test.sh --matrix does.  Needs root.
#
#   bash tools/chroot.sh SUITE ROOT make          create the root (bookworm, trixie or sid)
#   bash tools/chroot.sh SUITE ROOT copy [DIR]    clone the checkout DIR (default .) to ROOT/root/gmm
#   bash tools/chroot.sh SUITE ROOT run 'CMD'     run CMD inside, e.g. 'cd /root/gmm && bash tools/demo.sh'
#   bash tools/chroot.sh SUITE ROOT clean         unmount and delete the root
set -euo pipefail
cd "$(dirname "$0")/.."
GMM_ROOT=$PWD
# shellcheck source=lib/common.sh
. "$GMM_ROOT/tools/lib/common.sh"
# shellcheck source=lib/chroot.sh
. "$GMM_ROOT/tools/lib/chroot.sh"

[ "$#" -ge 3 ] || {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}
suite=$1 root=$2 verb=$3
shift 3
case $verb in
make) gmm_chroot_make "$suite" "$root" && gmm_say "bare $suite root ready at $root" ;;
copy)
	gmm_chroot_make "$suite" "$root"
	rm -rf "$root/root/gmm"
	git clone -q "${1:-$GMM_ROOT}" "$root/root/gmm"
	gmm_say "copied to /root/gmm in $root"
	;;
run)
	gmm_chroot_make "$suite" "$root"
	gmm_chroot_run "$root" "$*"
	;;
clean) gmm_chroot_destroy "$root" ;;
*) gmm_die "unknown verb: $verb (make, copy, run, clean)" ;;
esac
