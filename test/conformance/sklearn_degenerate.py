#!/usr/bin/python3
"""Degenerate components as scikit-learn's test_gaussian_mixture_setting_best_params.

sklearn/mixture/tests/test_gaussian_mixture.py (Debian's python3-sklearn):
30 rows of RandomState(0).uniform(size=(30, 3)), spherical, reg_covar 0,
max_iter 1, weights_init/means_init/precisions_init such that components 0
and 1 collapse onto single rows in the first M-step.  scikit-learn fits
without error; so must gmm_fit (the centred fallback of src/core/mstep_centred.c).

Compared with scikit-learn, run here:
  - no error, converged false, n_iter 1;
  - weights, means and lower_bound_ to RTOL = 1e-6 relative (array scale);
  - the covariances of the four healthy components to RTOL;
  - the two collapsed variances: scikit-learn's 3.6e-16 and 9.1e-16 are the
    rounding noise of its uncentred formula E[x^2] - 2 mu E[x] + mu^2 on data
    in [0, 1), whose terms are about x^2 <= 1 each, so its absolute error is a
    few eps; the exact centred value about scikit-learn's own means (mpmath,
    50 digits, from its responsibilities) is 7.9e-31 and 2.1e-30, and ours,
    centred on the same means, is 9.1e-31 and 2.0e-30.  Ours must be positive and
    within ATOL = 8 eps * max(x^2) = 1.8e-15 of scikit-learn's: both are zero
    at the precision of the data's scale.
Prints "N passed, N failed".
"""
import json
import sys
import warnings

import numpy as np
from sklearn.mixture import GaussianMixture

import tap
from tap import check, psql

RTOL = 1e-6
def close(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False, f"shape {a.shape} vs {b.shape}"
    err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)
    return err <= RTOL, f"max relative difference {err:.3g} (tolerance {RTOL})"


# the test's parameters, verbatim
MEANS_INIT = np.array([
    [0.670637869618158, 0.21038256107384043, 0.12892629765485303],
    [0.09394051075844147, 0.5759464955561779, 0.929296197576212],
    [0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
    [0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
    [0.4548589928173794, 0.35182513658825276, 0.568146063202464],
    [0.609279894978321, 0.7929063819678847, 0.9620097270828052]])
PRECISIONS_INIT = np.array([999999.999604483, 999999.9990869573, 553.7603944542167,
                            204.78596008931834, 15.867423501783637, 85.4595728389735])
WEIGHTS_INIT = [0.03333333333333341, 0.03333333333333341, 0.06666666666666674,
                0.06666666666666674, 0.7000000000000001, 0.10000000000000007]


def main():
    try:
        psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return
    X = np.random.RandomState(0).uniform(size=(30, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = GaussianMixture(covariance_type="spherical", reg_covar=0, means_init=MEANS_INIT,
                             weights_init=WEIGHTS_INIT, n_components=6,
                             precisions_init=PRECISIONS_INIT, max_iter=1,
                             random_state=0).fit(X)
    rows = "\n".join("{%s}" % ",".join(repr(float(v)) for v in row) for row in X)
    psql(stdin="DROP TABLE IF EXISTS degenerate;\nCREATE TABLE degenerate (id serial, x float8[]);\n"
               f"COPY degenerate (x) FROM STDIN;\n{rows}\n\\.\n")
    opts = json.dumps({"covariance_type": "spherical", "reg_covar": 0, "max_iter": 1,
                       "means_init": MEANS_INIT.tolist(), "weights_init": WEIGHTS_INIT,
                       "precisions_init": PRECISIONS_INIT.tolist()})
    for agg, sql in (("gmm_fit", f"SELECT gmm_fit(x, 6, '{opts}')::text FROM degenerate"),
                     ("gmm_refit", "SELECT gmm_refit(x, (SELECT gmm_fit(x, 6, '%s'::jsonb || "
                      "'{\"max_iter\": 0}') FROM degenerate), '{\"max_iter\": 1}')::text "
                      "FROM degenerate" % opts)):
        try:
            model = json.loads(psql("SET client_min_messages = error; " + sql))
        except (RuntimeError, ValueError) as e:
            check(f"{agg}: fits without error", False, e)
            continue
        check(f"{agg}: fits without error", True)
        check(f"{agg}: not converged, n_iter 1 (scikit-learn: {sk.converged_}, {sk.n_iter_})",
              model["converged"] == bool(sk.converged_) and model["n_iter"] == sk.n_iter_)
        for field, ref in (("weights", sk.weights_), ("means", sk.means_)):
            ok, why = close(model[field], ref)
            check(f"{agg}: {field}", ok, why)
        ok, why = close([model["lower_bound"]], [sk.lower_bound_])
        check(f"{agg}: lower_bound", ok, why)
        cov = np.array(model["covariances"])
        ok, why = close(cov[2:], sk.covariances_[2:])
        check(f"{agg}: covariances of the healthy components 2-5", ok, why)
        atol = 8 * np.finfo(float).eps * (X ** 2).max()
        diff = np.abs(cov[:2] - sk.covariances_[:2]).max()
        check(f"{agg}: collapsed variances {cov[0]:.3g}, {cov[1]:.3g} positive and within "
              f"{atol:.2g} of scikit-learn's {sk.covariances_[0]:.3g}, {sk.covariances_[1]:.3g}",
              bool(np.all(cov[:2] > 0)) and diff <= atol, f"difference {diff:.3g}")


if __name__ == "__main__":
    main()
    sys.exit(tap.summary())
