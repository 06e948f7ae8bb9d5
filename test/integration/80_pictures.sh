#!/usr/bin/env bash
# tools/pictures.sh still runs: against the test cluster (--use-cluster), into a temporary
# directory, it writes the README's PNG files, each a valid PNG (signature and IHDR chunk) of a
# sane size and shape.  The committed pictures in doc/ are not rewritten.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

outdir=$(mktemp -d "${TMPDIR:-/tmp}/gmm-pictures-test.XXXXXX")
gmm_on_exit "rm -rf '$outdir'"

if log=$(bash "$GMM_ROOT/tools/pictures.sh" --use-cluster --out "$outdir" 2>&1); then
	ok "tools/pictures.sh --use-cluster --out DIR exits 0"
else
	not_ok "tools/pictures.sh --use-cluster --out DIR exits 0" "$log"
fi
check_sql "it dropped its database" "0" "SELECT count(*) FROM pg_database WHERE datname = 'gmm_pictures'"

for f in ellipses.png bic.png; do
	p=$outdir/$f
	if [ ! -f "$p" ]; then
		not_ok "$f written" "no file; output: $log"
		continue
	fi
	ok "$f written"
	# the PNG signature, then the IHDR chunk: width and height, big-endian, at bytes 16-23
	info=$(/usr/bin/python3 - "$p" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
sig = b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR" and b[-8:-4] == b"IEND"
w, h = struct.unpack(">II", b[16:24])
print("png" if sig else "not-png", w, h, len(b))
PY
)
	read -r kind w h size <<<"$info"
	check_eq "$f is a PNG (signature, IHDR first, IEND last)" png "$kind"
	if [ "$w" -ge 300 ] && [ "$w" -le 2000 ] && [ "$h" -ge 200 ] && [ "$h" -le 2000 ]; then
		ok "$f is ${w}x${h} pixels (300-2000 x 200-2000)"
	else
		not_ok "$f size in pixels" "${w}x${h}"
	fi
	if [ "$size" -ge 10000 ] && [ "$size" -le 153600 ]; then
		ok "$f has $size bytes (10 kB - 150 kB: drawn, and small enough to commit)"
	else
		not_ok "$f file size" "$size bytes"
	fi
done

done_testing
