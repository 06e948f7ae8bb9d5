#!/usr/bin/env bash
# The gmm benchmark against scikit-learn (test/bench/bench.py), one command:
#   PGHOST=... PGPORT=... PGUSER=... PGDATABASE=... bash test/bench/run.sh [options]
# It needs a server with gmm installed and Debian's python3-sklearn.  The
# OpenBLAS tuning variables some machines export slow numpy down: they are
# unset for this command only.  Options: bash test/bench/run.sh --help.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
	/usr/bin/python3 "$here/bench.py" "$@"
