#!/usr/bin/python3
"""Conformance of gmm with scikit-learn's GaussianMixture (Debian's python3-sklearn).

For several datasets (well separated, overlapping, anisotropic, one with a
near-singular direction) and all four covariance types, scikit-learn and the
extension fit the same rows from the same initial parameters (weights_init,
means_init, precisions_init), so both must follow the same EM trajectory:

  - the same n_iter and converged flag;
  - weights, means, covariances, lower_bound_ equal to RTOL = 1e-6 relative
    (an element is compared relative to the largest magnitude of its array, so
    that near-zero covariances do not demand more than the array's precision);
  - score(X) (our stored log_likelihood and gmm_score), bic(X), aic(X),
    score_samples, predict_proba to RTOL, predict exactly.

Run by tools/test.sh against its private cluster (PGHOST, PGPORT, PGUSER,
PGDATABASE in the environment); prints TAP-like lines and "N passed, N failed".
"""
import json
import sys

import numpy as np
from sklearn.mixture import GaussianMixture

import tap
from tap import check, psql

RTOL = 1e-6
COV_TYPES = ["full", "tied", "diag", "spherical"]


def close(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False, f"shape {a.shape} vs {b.shape}"
    scale = max(np.abs(b).max(), 1e-300)
    err = np.abs(a - b).max() / scale
    return err <= RTOL, f"max relative difference {err:.3g} (tolerance {RTOL})"


def datasets():
    rs = np.random.RandomState(20261126)
    out = {}
    # three well separated blobs in 2-D
    c = np.array([[0, 0], [12, 3], [-4, 14]], float)
    out["separated"] = (np.vstack([rs.randn(120, 2) + ci for ci in c]), 3)
    # three overlapping blobs in 3-D
    c = np.array([[0, 0, 0], [1.5, 1, 0], [0.5, -1, 1.2]], float)
    out["overlapping"] = (np.vstack([rs.randn(150, 3) * [1, 0.8, 1.2] + ci for ci in c]), 3)
    # anisotropic: sheared blobs, as in scikit-learn's examples
    shear = np.array([[0.6, -0.64], [-0.41, 0.85]])
    c = np.array([[0, 0], [5, 5], [-5, 4]], float)
    out["anisotropic"] = (np.vstack([rs.randn(130, 2) + ci for ci in c]) @ shear, 3)
    # near-singular: the third feature is the first plus 1e-4 noise
    base = np.vstack([rs.randn(140, 2) + [0, 0], rs.randn(140, 2) + [6, -2]])
    out["near_singular"] = (np.column_stack([base, base[:, 0] + 1e-4 * rs.randn(len(base))]), 2)
    return out


def initial_params(X, k, cov_type, seed):
    """Deterministic initial parameters: equal weights, k spread-out rows as
    means, the data's own precision for every component."""
    rs = np.random.RandomState(seed)
    n, d = X.shape
    idx = rs.choice(n, size=k, replace=False)
    weights = np.full(k, 1.0 / k)
    means = X[idx].copy()
    cov = np.cov(X.T, bias=True) + 1e-6 * np.eye(d)
    prec = np.linalg.inv(cov)
    prec = (prec + prec.T) / 2
    var = np.diag(cov)
    if cov_type == "full":
        precisions = np.array([prec] * k)
    elif cov_type == "tied":
        precisions = prec
    elif cov_type == "diag":
        precisions = np.array([1.0 / var] * k)
    else:
        precisions = np.full(k, 1.0 / var.mean())
    return weights, means, precisions


def load_table(name, X):
    rows = "\n".join("{%s}" % ",".join(repr(float(v)) for v in row) for row in X)
    sql = (f"DROP TABLE IF EXISTS {name};\n"
           f"CREATE TABLE {name} (id serial, x float8[]);\n"
           f"COPY {name} (x) FROM STDIN;\n{rows}\n\\.\n")
    psql(None, stdin=sql)


def pg_array(s):
    return [float(v) for v in s.strip("{}").split(",")]


def main():
    try:
        psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return
    for dname, (X, k) in datasets().items():
        load_table("conf_" + dname, X)
        for t_i, cov_type in enumerate(COV_TYPES):
            name = f"{dname}/{cov_type}"
            w0, m0, p0 = initial_params(X, k, cov_type, seed=t_i + 7)
            sk = GaussianMixture(n_components=k, covariance_type=cov_type, tol=1e-3, reg_covar=1e-6,
                                 max_iter=100, n_init=1, init_params="kmeans", warm_start=False,
                                 weights_init=w0, means_init=m0, precisions_init=p0,
                                 random_state=0).fit(X)
            opts = json.dumps({"covariance_type": cov_type, "weights_init": w0.tolist(),
                               "means_init": m0.tolist(), "precisions_init": np.asarray(p0).tolist()})
            try:
                out = psql("SELECT gmm_fit(x, %d, '%s'::jsonb)::text FROM conf_%s" % (k, opts, dname))
                model = json.loads(out)
            except (RuntimeError, ValueError) as e:
                check(f"{name}: fit", False, e)
                continue
            check(f"{name}: n_iter {model['n_iter']} == scikit-learn's {sk.n_iter_}",
                  model["n_iter"] == sk.n_iter_)
            check(f"{name}: converged", model["converged"] == bool(sk.converged_))
            for field, ref in (("weights", sk.weights_), ("means", sk.means_),
                               ("covariances", sk.covariances_)):
                ok, why = close(model[field], ref)
                check(f"{name}: {field}", ok, why)
            ok, why = close([model["lower_bound"]], [sk.lower_bound_])
            check(f"{name}: lower_bound", ok, why)
            ok, why = close([model["log_likelihood"]], [sk.score(X)])
            check(f"{name}: log_likelihood == score(X)", ok, why)

            # model functions against scikit-learn's, through SQL
            mtext = out.strip().replace("'", "''")
            agg = psql(f"SELECT gmm_bic('{mtext}'::gmm), gmm_aic('{mtext}'::gmm), "
                       f"gmm_bic(m, x), gmm_aic(m, x), gmm_score(m, x) "
                       f"FROM (SELECT '{mtext}'::gmm AS m) s, conf_{dname}").split("|")
            bic, aic, bic_x, aic_x, score = (float(v) for v in agg)
            for label, got, ref in (("bic", bic, sk.bic(X)), ("aic", aic, sk.aic(X)),
                                    ("bic(X)", bic_x, sk.bic(X)), ("aic(X)", aic_x, sk.aic(X)),
                                    ("score(X)", score, sk.score(X))):
                ok, why = close([got], [ref])
                check(f"{name}: {label}", ok, why)
            rows = psql(f"SELECT gmm_predict(m, x), gmm_score_samples(m, x), gmm_predict_proba(m, x) "
                        f"FROM (SELECT '{mtext}'::gmm AS m) s, conf_{dname} ORDER BY id").splitlines()
            pred = np.array([int(r.split("|")[0]) for r in rows])
            ss = np.array([float(r.split("|")[1]) for r in rows])
            proba = np.array([pg_array(r.split("|")[2]) for r in rows])
            check(f"{name}: predict", np.array_equal(pred, sk.predict(X)),
                  f"{int((pred != sk.predict(X)).sum())} rows differ")
            ok, why = close(ss, sk.score_samples(X))
            check(f"{name}: score_samples", ok, why)
            err = np.abs(proba - sk.predict_proba(X)).max()
            check(f"{name}: predict_proba", err <= RTOL, f"max difference {err:.3g}")



if __name__ == "__main__":
    main()
    sys.exit(tap.summary())
