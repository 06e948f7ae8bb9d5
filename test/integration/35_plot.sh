#!/usr/bin/env bash
# gmm_ellipses and gmm_bic_trace against numpy: models of every covariance type (fitted, and one
# imported with a strongly correlated covariance) are read back as JSON; numpy (written here,
# independent of the C code) rebuilds each component's 2x2 marginal covariance and checks that
# every outline point p has (p - mu)^T S^-1 (p - mu) = chi2.ppf(confidence, 2) (scipy's
# quantile, and -2 ln(1 - confidence)) to 1e-9 relative, that the points go round once
# counter-clockwise (angles strictly increasing, 2 pi in all), that the outline closes exactly,
# and that gmm_bic_trace equals the JSON's bic_trace.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

gmm_fresh_db gmm_plot
gmm_sql "CREATE EXTENSION gmm" >/dev/null

# three correlated blobs in 3-D (setseed + Box-Muller), one model per covariance type
gmm_psql -q <<'SQL'
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.31) \gset
CREATE TABLE pts AS
WITH u AS MATERIALIZED (
	SELECT g, g % 3 AS c, 1 - random() AS u1, random() AS u2, 1 - random() AS u3, random() AS u4
	FROM generate_series(1, 900) g
), z AS (
	SELECT g, c, sqrt(-2 * ln(u1)) * cos(2 * pi() * u2) AS z1, sqrt(-2 * ln(u1)) * sin(2 * pi() * u2) AS z2,
		   sqrt(-2 * ln(u3)) * cos(2 * pi() * u4) AS z3
	FROM u
)
SELECT g AS id, ARRAY[8 * c + z1, 5 * (c % 2) + 0.8 * z1 + 0.6 * z2, -3 * c + 0.5 * z2 + z3 * (1 + c)]::float8[] AS x
FROM z ORDER BY g;
CREATE TABLE models(name text, m gmm);
INSERT INTO models SELECT t, gmm_fit(x, 3, jsonb_build_object('covariance_type', t))
FROM pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t GROUP BY t;
-- imported: correlation 0.999 between features 1 and 2, very different scales
INSERT INTO models VALUES ('imported', '{"covariance_type": "full", "weights": [0.5, 0.5],
  "means": [[1e3, -2e-3, 5], [0, 0, 0]],
  "covariances": [[[1e4, 0.0999, 1], [0.0999, 1e-6, 0], [1, 0, 4]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]]}');
INSERT INTO models SELECT 'auto', gmm_fit_auto(x, 1, 5) FROM pts;
SQL

check_sql "five models of four covariance types and an auto fit" "auto:full,diag:diag,full:full,imported:full,spherical:spherical,tied:tied" \
	"SELECT string_agg(name || ':' || gmm_covariance_type(m), ',' ORDER BY name) FROM models"

work=$(mktemp -d "${TMPDIR:-/tmp}/gmm-plot.XXXXXX")
gmm_on_exit "rm -rf '$work'"
# the models as JSON (one line each), the outlines, the traces
gmm_sql "SELECT name || E'\t' || m::jsonb::text FROM models ORDER BY name" >"$work/models.tsv"
gmm_sql "SELECT name, array_to_string(f, ' '), conf, n, component, point, x, y
	FROM models, (VALUES ('{1,2}'::int[]), ('{3,1}'), ('{2,3}')) fp(f),
	     (VALUES (0.5, 16), (0.95, 64), (0.999, 7)) c(conf, n),
	     gmm_ellipses(m, f, conf, n)
	ORDER BY 1, 2, 3, 5, 6" | tr '|' '\t' >"$work/ellipses.tsv"
gmm_sql "SELECT name, n_components, bic FROM models, gmm_bic_trace(m) ORDER BY 1, 2" | tr '|' '\t' >"$work/traces.tsv"

results=$(/usr/bin/python3 - "$work" <<'PY'
import json, math, sys
from collections import defaultdict
import numpy as np
from scipy.stats import chi2

work = sys.argv[1]
out = []
def report(ok, name, why=""):
    out.append(("ok" if ok else "not_ok") + "\t" + name + ("\t" + why if not ok and why else ""))

models = {}
for line in open(f"{work}/models.tsv"):
    name, js = line.rstrip("\n").split("\t", 1)
    models[name] = json.loads(js)

def full_cov(m, j):
    c = np.array(m["covariances"], dtype=float)
    d = m["n_features"]
    t = m["covariance_type"]
    if t == "full":
        return c[j]
    if t == "tied":
        return c
    if t == "diag":
        return np.diag(c[j])
    return np.eye(d) * c[j]

outl = defaultdict(list)
for line in open(f"{work}/ellipses.tsv"):
    name, f, conf, n, comp, point, x, y = line.rstrip("\n").split("\t")
    outl[(name, tuple(int(v) for v in f.split()), float(conf), int(n))].append(
        (int(comp), int(point), float(x), float(y)))

expected_keys = {(nm, f, c, n) for nm in models for f in [(1, 2), (3, 1), (2, 3)]
                 for c, n in [(0.5, 16), (0.95, 64), (0.999, 7)]}
report(set(outl) == expected_keys, "an outline for every model, feature pair and confidence",
       f"{len(outl)} of {len(expected_keys)}")

worst = defaultdict(float)
bad_close = defaultdict(list)
bad_turn = defaultdict(list)
for (name, f, conf, n), rows in sorted(outl.items()):
    m = models[name]
    k = m["n_components"]
    tag = f"{name} {f} {conf}"
    comps = sorted({r[0] for r in rows})
    if comps != list(range(k)) or len(rows) != k * (n + 1):
        report(False, f"{tag}: rows", f"components {comps}, {len(rows)} rows for k={k}, n={n}")
        continue
    r2 = chi2.ppf(conf, 2)
    # the closed form of the 2-dof quantile, as a second opinion on scipy
    if abs(r2 / (-2 * math.log1p(-conf)) - 1) > 1e-12:
        report(False, f"{tag}: chi2 quantile", f"scipy {r2}")
    for j in range(k):
        pts = sorted((r for r in rows if r[0] == j), key=lambda r: r[1])
        if [r[1] for r in pts] != list(range(n + 1)):
            report(False, f"{tag} c{j}: points 0..n", str([r[1] for r in pts]))
            continue
        mu = np.array(m["means"][j], dtype=float)[[f[0] - 1, f[1] - 1]]
        S = full_cov(m, j)[np.ix_([f[0] - 1, f[1] - 1], [f[0] - 1, f[1] - 1])]
        Si = np.linalg.inv(S)
        P = np.array([[r[2], r[3]] for r in pts]) - mu
        q = np.einsum("ni,ij,nj->n", P, Si, P)
        worst[name] = max(worst[name], float(np.max(np.abs(q / r2 - 1))))
        if not (pts[-1][2] == pts[0][2] and pts[-1][3] == pts[0][3]):
            bad_close[name].append(f"{tag} c{j}: {pts[0]} vs {pts[-1]}")
        # angles in the whitened frame (where the outline is a circle) and in the plane
        for label, V in (("plane", P), ("whitened", P @ np.linalg.cholesky(Si))):
            a = np.unwrap(np.arctan2(V[:, 1], V[:, 0]))
            steps = np.diff(a)
            if not (np.all(steps > 0) and abs(a[-1] - a[0] - 2 * math.pi) < 1e-9):
                bad_turn[name].append(f"{tag} c{j} ({label}): min step {steps.min()}, total {a[-1] - a[0]}")
for name in sorted(models):
    report(worst[name] < 1e-9, f"{name}: every point on its ellipse, quadratic form = chi2.ppf(conf, 2) to 1e-9",
           f"worst relative error {worst[name]:.3g}")
    out.append(f"#\t{name}: worst relative error of the quadratic form {worst[name]:.3g}")
    report(not bad_close[name], f"{name}: every outline closes exactly (last point = first)", "; ".join(bad_close[name]))
    report(not bad_turn[name], f"{name}: every outline goes round once counter-clockwise (angles increase by 2 pi)",
           "; ".join(bad_turn[name][:5]))

traces = defaultdict(list)
for line in open(f"{work}/traces.tsv"):
    name, kk, bic = line.rstrip("\n").split("\t")
    traces[name].append((int(kk), float(bic)))
for name, m in sorted(models.items()):
    want = [(e["n_components"], float(e["bic"])) for e in m.get("bic_trace", [])]
    report(traces.get(name, []) == want, f"{name}: gmm_bic_trace equals the JSON's bic_trace ({len(want)} rows)",
           f"sql {traces.get(name)} json {want}")
auto = models["auto"]
report([k for k, _ in traces["auto"]] == [1, 2, 3, 4, 5]
       and min(traces["auto"], key=lambda t: t[1])[0] == auto["n_components"],
       "auto: K 1..5 tried, the minimum is the kept model", str(traces["auto"]))
print("\n".join(out))
PY
) || not_ok "the numpy check ran" "$results"

while IFS=$'\t' read -r status name why; do
	case $status in
	ok) ok "$name" ;;
	not_ok) not_ok "$name" "$why" ;;
	'#') echo "# $name" ;;
	esac
done <<<"$results"

# the upgrade path: 1.0 has neither function; ALTER EXTENSION gmm UPDATE adds both, declared as
# in a fresh 1.1 install, and they work
defs="SELECT string_agg(pg_get_functiondef(oid) || coalesce(obj_description(oid, 'pg_proc'), '-'), E'\\n' ORDER BY proname)
	FROM pg_proc WHERE proname IN ('gmm_ellipses', 'gmm_bic_trace')"
fresh_defs=$(gmm_sql "$defs")
check_eq "a fresh 1.1 declares both functions" 2 "$(grep -c '^CREATE OR REPLACE FUNCTION' <<<"$fresh_defs")"
gmm_fresh_db gmm_plot_updated
gmm_sql "CREATE EXTENSION gmm VERSION '1.0'" >/dev/null
check_sql "gmm 1.0 has neither function" "0" \
	"SELECT count(*) FROM pg_proc WHERE proname IN ('gmm_ellipses', 'gmm_bic_trace')"
gmm_sql "ALTER EXTENSION gmm UPDATE TO '1.1'" >/dev/null
check_eq "after ALTER EXTENSION gmm UPDATE both are declared (and commented) as in a fresh 1.1" \
	"$fresh_defs" "$(gmm_sql "$defs")"
check_sql "and gmm_ellipses runs there" "65" \
	"SELECT count(*) FROM gmm_ellipses('{\"weights\": [1], \"means\": [[0, 0]], \"covariances\": [[[1, 0], [0, 1]]]}')"

done_testing
