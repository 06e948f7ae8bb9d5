#!/usr/bin/python3
"""Warm start as scikit-learn's GaussianMixture(warm_start=True) (Debian's python3-sklearn).

scikit-learn keeps lower_bound_ across fit() calls with warm_start=True, so the
first iteration of a call compares with the previous call's lower bound: fits
with max_iter=1 repeated until converged_ (test_convergence_detected_with_warm_start,
test_monotonic_likelihood in sklearn/mixture/tests/test_gaussian_mixture.py).
gmm_refit(x, model, '{"max_iter": 1}') must do the same: from the same initial
parameters (weights_init, means_init, precisions_init) the first call is gmm_fit
with max_iter 1, then a PL/pgSQL loop of gmm_refit calls, and for each dataset
and covariance type:

  - the call at which converged becomes true is scikit-learn's;
  - each call's lower bound equals scikit-learn's lower_bound_ to RTOL = 1e-6
    relative (the trajectories are the same EM steps as in sklearn_parity.py);
  - the lower bounds never decrease (EM's monotonicity, up to 1e-12 relative
    rounding) and the loop converges within MAX_CALLS calls.

Run by tools/test.sh against its private cluster; prints "N passed, N failed".
"""
import json
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import tap
from tap import check, psql

RTOL = 1e-6
MAX_CALLS = 200
COV_TYPES = ["full", "tied", "diag", "spherical"]

def datasets():
    rs = np.random.RandomState(20261201)
    out = {}
    # overlapping blobs: EM needs many iterations, so the loop is long
    c = np.array([[0, 0, 0], [1.5, 1, 0], [0.5, -1, 1.2]], float)
    out["overlapping"] = (np.vstack([rs.randn(150, 3) * [1, 0.8, 1.2] + ci for ci in c]), 3)
    c = np.array([[0, 0], [4, 1], [-2, 5]], float)
    out["blobs"] = (np.vstack([rs.randn(100, 2) * 1.5 + ci for ci in c]), 3)
    return out


def initial_params(X, k, cov_type, seed):
    rs = np.random.RandomState(seed)
    n, d = X.shape
    means = X[rs.choice(n, size=k, replace=False)].copy()
    cov = np.cov(X.T, bias=True) + 1e-6 * np.eye(d)
    prec = np.linalg.inv(cov)
    prec = (prec + prec.T) / 2
    var = np.diag(cov)
    precisions = {"full": np.array([prec] * k), "tied": prec,
                  "diag": np.array([1.0 / var] * k),
                  "spherical": np.full(k, 1.0 / var.mean())}[cov_type]
    return np.full(k, 1.0 / k), means, precisions


def load_table(name, X):
    rows = "\n".join("{%s}" % ",".join(repr(float(v)) for v in row) for row in X)
    psql(stdin=f"DROP TABLE IF EXISTS {name};\nCREATE TABLE {name} (id serial, x float8[]);\n"
               f"COPY {name} (x) FROM STDIN;\n{rows}\n\\.\n")


LOOP_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.warm_loop(src regclass, k int, opts jsonb, max_calls int)
RETURNS TABLE (call int, lower_bound float8, converged bool) LANGUAGE plpgsql AS $f$
DECLARE
	m gmm;
BEGIN
	SET LOCAL client_min_messages = error;	-- each unconverged call warns
	EXECUTE format('SELECT gmm_fit(x, %s, %L::jsonb) FROM %s', k, opts || '{"max_iter": 1}', src) INTO m;
	FOR c IN 1..max_calls LOOP
		IF c > 1 THEN
			EXECUTE format('SELECT gmm_refit(x, $1, %L::jsonb) FROM %s', '{"max_iter": 1}', src)
				INTO m USING m;
		END IF;
		call := c; lower_bound := gmm_lower_bound(m); converged := gmm_converged(m);
		RETURN NEXT;
		EXIT WHEN converged;
	END LOOP;
END
$f$;
"""


def main():
    try:
        psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return
    for dname, (X, k) in datasets().items():
        load_table("warm_" + dname, X)
        for t_i, cov_type in enumerate(COV_TYPES):
            name = f"{dname}/{cov_type}"
            w0, m0, p0 = initial_params(X, k, cov_type, seed=t_i + 3)
            sk = GaussianMixture(n_components=k, covariance_type=cov_type, tol=1e-3,
                                 reg_covar=1e-6, max_iter=1, warm_start=True, weights_init=w0,
                                 means_init=m0, precisions_init=p0, random_state=0)
            sk_lb = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for _ in range(MAX_CALLS):
                    sk.fit(X)
                    sk_lb.append(sk.lower_bound_)
                    if sk.converged_:
                        break
            opts = json.dumps({"covariance_type": cov_type, "weights_init": w0.tolist(),
                               "means_init": m0.tolist(),
                               "precisions_init": np.asarray(p0).tolist()})
            try:
                out = psql(stdin=LOOP_SQL + "SELECT call, lower_bound, converged FROM "
                           f"pg_temp.warm_loop('warm_{dname}', {k}, '{opts}', {MAX_CALLS});")
            except RuntimeError as e:
                check(f"{name}: refit loop", False, e)
                continue
            rows = [r.split("|") for r in out.splitlines() if r]
            lb = np.array([float(r[1]) for r in rows])
            conv = [r[2] == "t" for r in rows]
            check(f"{name}: converged within {MAX_CALLS} calls (at call {len(rows)})",
                  conv[-1] and not any(conv[:-1]))
            check(f"{name}: converged at scikit-learn's call {len(sk_lb)}",
                  len(rows) == len(sk_lb) and sk.converged_, f"ours {len(rows)}")
            diffs = np.diff(lb)
            check(f"{name}: lower bound non-decreasing",
                  bool(np.all(diffs >= -1e-12 * np.abs(lb[1:]))),
                  f"most negative step {diffs.min() if len(diffs) else 0:.3g}")
            n = min(len(lb), len(sk_lb))
            err = np.max(np.abs(lb[:n] - np.array(sk_lb[:n])) / np.abs(np.array(sk_lb[:n])))
            check(f"{name}: lower bound of each call == scikit-learn's lower_bound_",
                  err <= RTOL, f"max relative difference {err:.3g} over {n} calls")


if __name__ == "__main__":
    main()
    sys.exit(tap.summary())
