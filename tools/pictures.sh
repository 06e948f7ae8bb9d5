#!/usr/bin/env bash
# tools/pictures.sh: the README's pictures, drawn from real runs.  Like tools/demo.sh it installs
# what is missing (apt, with python3-matplotlib), builds and installs gmm and starts a throwaway
# PostgreSQL cluster; then it fits the demo's three blobs and draws, with Debian's matplotlib:
#   doc/ellipses.png   the 600 rows coloured by gmm_predict, with gmm_ellipses' 50% and 95% outlines
#   doc/bic.png        gmm_fit_auto(x, 1, 8) on the same rows: gmm_bic_trace, the minimum marked
#
#   bash tools/pictures.sh                  build, install, throwaway cluster, write to doc/
#   bash tools/pictures.sh --out DIR        write the PNG files to DIR instead
#   bash tools/pictures.sh --use-cluster    no packages, build or cluster: use the running server
#                                           that PGHOST, PGPORT, PGUSER name (gmm installed there);
#                                           a database gmm_pictures is created and dropped
# Environment: GMM_SKIP_APT=1 skips the package step; PG_CONFIG picks the PostgreSQL.
set -euo pipefail

cd "$(dirname "$0")/.."
GMM_ROOT=$PWD
# shellcheck source=lib/common.sh
. "$GMM_ROOT/tools/lib/common.sh"
# shellcheck source=lib/cluster.sh
. "$GMM_ROOT/tools/lib/cluster.sh"

out=$GMM_ROOT/doc
use_cluster=0
while [ "$#" -gt 0 ]; do
	case $1 in
	--out)
		[ "$#" -ge 2 ] || gmm_die "--out needs a directory"
		out=$2
		shift 2
		;;
	--use-cluster)
		use_cluster=1
		shift
		;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) gmm_die "unknown argument: $1 (try --help)" ;;
	esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
PY=/usr/bin/python3

gmm_pick_pg_major
if [ "$use_cluster" = 0 ]; then
	gmm_ensure_packages "${GMM_PKGS_BUILD[@]}" python3 python3-matplotlib
	gmm_find_pg_config
	gmm_say "building and installing gmm"
	build_log=$(mktemp "${TMPDIR:-/tmp}/gmm-build.XXXXXX")
	if ! { gmm_build && gmm_install; } >"$build_log" 2>&1; then
		tail -n 40 "$build_log" >&2
		gmm_die "the build or make install failed (last lines above; full log: $build_log)"
	fi
	rm -f "$build_log"
	gmm_say "starting a private PostgreSQL cluster"
	gmm_on_exit 'gmm_cluster_destroy'
	gmm_cluster_create
else
	gmm_find_pg_config >/dev/null
	[ -n "${PGHOST:-}" ] || gmm_warn "--use-cluster without PGHOST: libpq's default server"
fi
"$PY" -c 'import matplotlib' 2>/dev/null ||
	gmm_die "$PY cannot import matplotlib: install python3-matplotlib (or run without --use-cluster)"
PSQL=${GMM_TEST_PGBIN:-$("$PG_CONFIG" --bindir)}/psql

work=$(mktemp -d "${TMPDIR:-/tmp}/gmm-pictures.XXXXXX")
gmm_on_exit "rm -rf '$work'"
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS gmm_pictures" -c "CREATE DATABASE gmm_pictures"
gmm_on_exit "\"$PSQL\" -X -q -d postgres -c 'DROP DATABASE IF EXISTS gmm_pictures' >/dev/null 2>&1"

gmm_say "fitting the demo's three blobs"
# the data: tools/demo.sh's rows (tools/lib/demo_data.sql)
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d gmm_pictures -f - <<SQL
CREATE EXTENSION gmm;
\i $GMM_ROOT/tools/lib/demo_data.sql
CREATE TABLE model AS SELECT gmm_fit(x, 3) AS m FROM features;
CREATE TABLE auto AS SELECT gmm_fit_auto(x, 1, 8) AS m FROM features;

\copy (SELECT x[1], x[2], gmm_predict(m, x) FROM features, model ORDER BY id) TO '$work/points.csv' CSV
\copy (SELECT e.component, c.conf, e.point, e.x, e.y FROM model, (VALUES (0.5), (0.95)) c(conf), gmm_ellipses(m, '{1,2}', c.conf, 96) e ORDER BY 1, 2, 3) TO '$work/ellipses.csv' CSV
\copy (SELECT component, weight, mean[1], mean[2] FROM model, gmm_components(m) ORDER BY 1) TO '$work/components.csv' CSV
\copy (SELECT n_components, bic FROM auto, gmm_bic_trace(m) ORDER BY 1) TO '$work/bic.csv' CSV
\copy (SELECT gmm_n_components(m) FROM auto) TO '$work/auto_k.csv' CSV
SQL

gmm_say "drawing with matplotlib"
"$PY" - "$work" "$out" <<'PY'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

work, out = sys.argv[1], sys.argv[2]
rows = lambda f: list(csv.reader(open(f"{work}/{f}")))
colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]
meta = {"Software": None}  # no matplotlib version in the file: reruns give the same bytes

# (a) the three blobs with the fitted ellipses
pts = rows("points.csv")
fig, ax = plt.subplots(figsize=(6.4, 5.0), dpi=100)
for c in sorted({int(r[2]) for r in pts}):
    xs = [float(r[0]) for r in pts if int(r[2]) == c]
    ys = [float(r[1]) for r in pts if int(r[2]) == c]
    ax.scatter(xs, ys, s=7, alpha=0.45, color=colours[c % len(colours)], linewidths=0,
               label=f"gmm_predict = {c}")
outlines = {}
for comp, conf, point, x, y in rows("ellipses.csv"):
    outlines.setdefault((int(comp), conf), []).append((float(x), float(y)))
for (comp, conf), xy in sorted(outlines.items()):
    ax.plot([p[0] for p in xy], [p[1] for p in xy], color=colours[comp % len(colours)],
            lw=1.6 if conf == "0.95" else 1.0, ls="-" if conf == "0.95" else "--")
for comp, weight, mx, my in rows("components.csv"):
    ax.plot(float(mx), float(my), marker="+", ms=11, mew=2, color="black")
    ax.annotate(f"weight {float(weight):.2f}", (float(mx), float(my)), xytext=(8, 8),
                textcoords="offset points", fontsize=8)
ax.plot([], [], color="grey", lw=1.6, label="95% ellipse")
ax.plot([], [], color="grey", lw=1.0, ls="--", label="50% ellipse")
ax.set_xlabel("x[1]")
ax.set_ylabel("x[2]")
ax.set_aspect("equal", adjustable="datalim")
ax.set_title("gmm_fit(x, 3) on tools/demo.sh's 600 rows, outlines from gmm_ellipses", fontsize=10)
ax.legend(fontsize=8, loc="lower right")
ax.grid(alpha=0.25)
fig.tight_layout()
fig.savefig(f"{out}/ellipses.png", dpi=100, metadata=meta)
plt.close(fig)

# (b) the BIC curve of gmm_fit_auto
bic = [(int(k), float(b)) for k, b in rows("bic.csv")]
kept = int(rows("auto_k.csv")[0][0])
fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
ax.plot([k for k, _ in bic], [b for _, b in bic], marker="o", color=colours[0])
kb = dict(bic)[kept]
ax.plot([kept], [kb], marker="o", ms=13, mfc="none", mew=2, color=colours[1])
ax.annotate(f"minimum: K = {kept} (the model gmm_fit_auto returns)", (kept, kb), xytext=(15, 25),
            textcoords="offset points", fontsize=9, color=colours[1],
            arrowprops=dict(arrowstyle="->", color=colours[1]))
ax.set_xlabel("n_components")
ax.set_ylabel("BIC (lower is better)")
ax.set_xticks([k for k, _ in bic])
ax.set_title("gmm_fit_auto(x, 1, 8) on the same rows: gmm_bic_trace(model)", fontsize=10)
ax.grid(alpha=0.25)
fig.tight_layout()
fig.savefig(f"{out}/bic.png", dpi=100, metadata=meta)
plt.close(fig)
PY
gmm_say "wrote $out/ellipses.png and $out/bic.png"
