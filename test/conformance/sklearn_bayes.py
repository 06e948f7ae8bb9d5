#!/usr/bin/python3
"""gmm_fit_bayesian against scikit-learn's BayesianGaussianMixture (Debian's python3-sklearn 1.2).

The initial responsibilities come from our own initialisation (k-means, or
random_from_data: one-hot on k rows; tied covariance: k-means only, see main()),
which scikit-learn would draw differently.
So for each case the script first reads them back from our own model after
max_iter 0 (its means and mean_precision give nk and xk: the k-means labels are
each row's nearest xk, checked to reproduce nk and xk exactly; the
random_from_data rows are the rows equal to xk), then gives them to
scikit-learn's own _initialize(X, resp) and runs BaseMixture.fit_predict's loop
(e-step, m-step, _compute_lower_bound, the tol test) on scikit-learn's objects.
Then, for both weight_concentration_prior_types, every covariance type and
several datasets (one with more components than clusters, so that components
are switched off), with RTOL = 1e-6 relative (ATOL 1e-9 for values near 0):

  - the lower bound of every iteration (our verbose 2 NOTICEs, 10 digits) and
    the final lower_bound_, n_iter_ and converged_;
  - weights_, means_, covariances_, weight_concentration_, mean_precision_,
    degrees_of_freedom_ (the model's text form);
  - predict_proba and score_samples of every row, predict's labels.

Warm start (gmm_refit of a Bayesian model, scikit-learn's warm_start): from
the same one-iteration model (our max_iter 1 fit; scikit-learn's loop above
with max_iter 1), a chain of gmm_refit(x, model, max_iter 1) calls against
BayesianGaussianMixture(warm_start=True, max_iter=1).fit(X) calls until
scikit-learn's converges: the lower bound and converged_ of every call, and
the final parameters, to the same tolerances (WARM_CASES: both prior types,
every covariance type).

Run by tools/test.sh against its private cluster; prints "N passed, N failed".
"""
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

import tap
from tap import check, psql

RTOL = 1e-6
ATOL = 1e-9
COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]


def datasets():
    rs = np.random.RandomState(20261212)
    out = {}
    c = np.array([[0, 0], [8, 1], [-3, 9]], float)
    out["blobs"] = (np.vstack([rs.randn(80, 2) * [1.0, 0.7] + ci for ci in c]), 3, "kmeans", {})
    # five components for three clusters: the priors switch two off
    c = np.array([[0, 0, 0], [6, 1, 0], [0, 7, 3]], float)
    out["extra"] = (np.vstack([rs.randn(70, 3) * 0.8 + ci for ci in c]), 5, "random_from_data",
                    {"weight_concentration_prior": 0.01})
    c = np.array([[0, 0], [2.5, 1], [0.5, 2.5]], float)
    out["overlapping"] = (np.vstack([rs.randn(90, 2) * [1.0, 0.8] + ci for ci in c]), 3,
                          "random_from_data", {"mean_precision_prior": 0.5,
                                               "degrees_of_freedom_prior": 3.5})
    return out


def load_table(name, X):
    rows = "\n".join("{%s}" % ",".join(repr(float(v)) for v in row) for row in X)
    psql(stdin=f"DROP TABLE IF EXISTS {name};\nCREATE TABLE {name} (id int, x float8[]);\n"
               f"COPY {name} (id, x) FROM STDIN;\n"
               + "\n".join(f"{i}\t{r}" for i, r in enumerate(rows.split("\n"))) + "\n\\.\n")


def psql_notices(sql):
    """stdout and the NOTICE lines of one statement."""
    args = [tap.PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    return r.stdout, [l for l in r.stderr.splitlines() if l.startswith("NOTICE:")]


def recover_resp(X, model, init, beta0, m0):
    """Our initial responsibilities from the max_iter 0 model (see the docstring)."""
    b = model["bayesian"]
    mp = np.array(b["mean_precision"])
    means = np.array(model["means"])
    nk = mp - beta0
    xk = (means * mp[:, None] - beta0 * m0) / nk[:, None]
    n, k = X.shape[0], len(nk)
    resp = np.zeros((n, k))
    if init == "kmeans":
        lab = np.argmin(((X[:, None, :] - xk[None]) ** 2).sum(-1), axis=1)
        resp[np.arange(n), lab] = 1
    else:
        for j in range(k):
            i = np.argmin(((X - xk[j]) ** 2).sum(-1))
            resp[i, j] = 1
    ok = (np.allclose(resp.sum(0) + 10 * np.finfo(float).eps, nk, rtol=1e-12, atol=1e-9)
          and np.allclose((resp.T @ X) / (resp.sum(0)[:, None] + 10 * np.finfo(float).eps), xk,
                          rtol=1e-9, atol=1e-9))
    return resp, ok


def sklearn_fit(X, resp, prior, cov, extra, max_iter=100, tol=1e-3):
    """BaseMixture.fit_predict with _initialize(X, resp) as the initialisation."""
    m = BayesianGaussianMixture(n_components=resp.shape[1], covariance_type=cov,
                                weight_concentration_prior_type=prior, max_iter=max_iter,
                                tol=tol, **extra)
    m._check_parameters(X)
    m._initialize(X, resp)
    lb, lbs, converged = -np.inf, [], False
    for n_iter in range(1, max_iter + 1):
        prev = lb
        log_prob_norm, log_resp = m._e_step(X)
        m._m_step(X, log_resp)
        # a float (scikit-learn 1.9 returns a 1-element array for tied covariances)
        lb = float(np.ravel(m._compute_lower_bound(log_resp, log_prob_norm))[0])
        lbs.append(lb)
        if abs(lb - prev) < tol:
            converged = True
            break
    m._set_parameters(m._get_parameters())
    m.n_iter_, m.lower_bound_, m.converged_ = n_iter, lb, converged
    return m, lbs


def close(a, b, rtol=RTOL, atol=ATOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rtol * np.abs(b) + atol))


def maxdiff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    return f"max abs diff {np.max(np.abs(a - b)):.3g} (max |b| {np.max(np.abs(b)):.3g})"


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    try:
        psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return tap.summary()
    for name, (X, k, init0, extra) in datasets().items():
        table = "bayes_" + name
        load_table(table, X)
        for prior in PRIORS:
            for cov in COV_TYPES:
                case = f"{name} {prior} {cov}"
                # tied: k-means only.  From one-hot responsibilities on k rows
                # (random_from_data, k-means++) scikit-learn's tied covariance
                # still sums X^T X over every row (_estimate_gaussian_covariances_tied),
                # gmm's initialisation over the k rows only (shared with gmm_fit)
                init = "kmeans" if cov == "tied" else init0
                opts = dict(extra, covariance_type=cov, init_params=init, random_state=3,
                            weight_concentration_prior_type=prior)
                js = json.dumps(dict(opts, max_iter=0))
                m0 = json.loads(psql(f"SELECT gmm_fit_bayesian(x, {k}, '{js}')::text FROM {table}"))
                beta0 = extra.get("mean_precision_prior", 1.0)
                resp, ok = recover_resp(X, m0, init, beta0, X.mean(axis=0))
                check(f"{case}: our initial responsibilities recovered", ok)
                ref, lbs = sklearn_fit(X, resp, prior, cov, extra)

                js = json.dumps(dict(opts, verbose=2, verbose_interval=1))
                out, notices = psql_notices(
                    "SET client_min_messages = notice; "
                    f"SELECT gmm_fit_bayesian(x, {k}, '{js}')::text FROM {table}")
                model = json.loads(out.strip().splitlines()[-1])
                ours = [float(mt.group(1)) for l in notices
                        for mt in [re.search(r"iteration \d+: .*lower bound (\S+)$", l)] if mt]
                check(f"{case}: lower bound of each of {len(lbs)} iterations",
                      close(ours, lbs), f"ours {ours[:5]}...\nsklearn {lbs[:5]}...")
                check(f"{case}: n_iter {ref.n_iter_}, converged {ref.converged_}, lower_bound_",
                      model["n_iter"] == ref.n_iter_ and model["converged"] == ref.converged_
                      and close(model["lower_bound"], ref.lower_bound_),
                      f"ours {model['n_iter']} {model['converged']} {model['lower_bound']!r}, "
                      f"sklearn {ref.n_iter_} {ref.converged_} {ref.lower_bound_!r}")
                b = model["bayesian"]
                wc = ref.weight_concentration_
                wc_ref = np.array(wc) if prior == "dirichlet_process" else wc
                for key, got, want in [
                        ("weights_", model["weights"], ref.weights_),
                        ("means_", model["means"], ref.means_),
                        ("covariances_", model["covariances"], ref.covariances_),
                        ("weight_concentration_", b["weight_concentration"], wc_ref),
                        ("mean_precision_", b["mean_precision"], ref.mean_precision_),
                        ("degrees_of_freedom_", b["degrees_of_freedom"], ref.degrees_of_freedom_)]:
                    check(f"{case}: {key}", close(got, want), maxdiff(got, want))
                rows = psql(f"SELECT gmm_predict_proba(m, x), gmm_score_samples(m, x), "
                            f"gmm_predict(m, x) FROM {table}, (SELECT '{json.dumps(model)}'::gmm m) s "
                            "ORDER BY id")
                proba, score, label = [], [], []
                for line in rows.strip().splitlines():
                    p, s, l = line.split("|")
                    proba.append([float(v) for v in p.strip("{}").split(",")])
                    score.append(float(s))
                    label.append(int(l))
                check(f"{case}: predict_proba", close(proba, ref.predict_proba(X)),
                      maxdiff(proba, ref.predict_proba(X)))
                check(f"{case}: score_samples", close(score, ref.score_samples(X)),
                      maxdiff(score, ref.score_samples(X)))
                check(f"{case}: predict", label == list(ref.predict(X)))
        if name == "extra":
            w = np.array(model["weights"])
            check("extra: the priors switch off components (weights below 1e-2)",
                  np.sum(w < 1e-2) >= 2, f"weights {w}")
        for prior, cov, tol in WARM_CASES.get(name, []):
            warm_chain(table, X, k, init0, prior, cov, tol, extra)
    return tap.summary()


# warm start: (dataset, prior, covariance type) chains
# (not blobs: from k-means on separated clusters it is at its fixed point
# after one iteration, so the chain would be one call long)
WARM_CASES = {
    "overlapping": [("dirichlet_process", "full", 1e-3), ("dirichlet_distribution", "tied", 1e-3),
                    ("dirichlet_process", "spherical", 1e-5)],
    "extra": [("dirichlet_distribution", "diag", 1e-3), ("dirichlet_process", "full", 1e-3)],
}
WARM_MAX_CALLS = 80


def warm_chain(table, X, k, init0, prior, cov, tol, extra):
    """gmm_refit(x, model, max_iter 1) chained against scikit-learn's
    warm_start=True, max_iter=1 fits from the same one-iteration model: the
    lower bound and converged_ of every call and the final parameters."""
    case = f"warm start {table[6:]} {prior} {cov} tol {tol:g}"
    init = "kmeans" if cov == "tied" else init0
    opts = dict(extra, covariance_type=cov, init_params=init, random_state=3,
                weight_concentration_prior_type=prior, tol=tol)
    m0 = json.loads(psql(f"SELECT gmm_fit_bayesian(x, {k}, '{json.dumps(dict(opts, max_iter=0))}')::text "
                         f"FROM {table}"))
    beta0 = extra.get("mean_precision_prior", 1.0)
    resp, ok = recover_resp(X, m0, init, beta0, X.mean(axis=0))
    check(f"{case}: our initial responsibilities recovered", ok)
    # one iteration from the same start on both sides, then warm fits
    ref, _ = sklearn_fit(X, resp, prior, cov, extra, max_iter=1, tol=tol)
    ref.set_params(warm_start=True, max_iter=1)
    text = psql(f"SELECT gmm_fit_bayesian(x, {k}, '{json.dumps(dict(opts, max_iter=1))}')::text "
                f"FROM {table}").strip()
    ours_lb, ref_lb, ours_conv, ref_conv = [], [], [], []
    while len(ref_lb) < WARM_MAX_CALLS and not any(ref_conv):
        text = psql(f"SELECT gmm_refit(x, m, '{{\"max_iter\": 1}}' ORDER BY id)::text "
                    f"FROM {table}, (SELECT '{text}'::gmm m) s").strip()
        model = json.loads(text)
        ref.fit(X)
        ours_lb.append(model["lower_bound"])
        ref_lb.append(float(np.ravel(ref.lower_bound_)[0]))
        ours_conv.append(model["converged"])
        ref_conv.append(bool(ref.converged_))
    check(f"{case}: lower bound of each of {len(ref_lb)} gmm_refit max_iter 1 calls",
          close(ours_lb, ref_lb), f"ours {ours_lb}\nsklearn {ref_lb}")
    check(f"{case}: converged_ of each call (the last converged)",
          ours_conv == ref_conv and ref_conv[-1], f"ours {ours_conv}\nsklearn {ref_conv}")
    check(f"{case}: lower bound monotonic until convergence",
          all(b >= a - 1e-9 * abs(a) for a, b in zip(ours_lb, ours_lb[1:])), f"{ours_lb}")
    b = model["bayesian"]
    wc = ref.weight_concentration_
    wc_ref = np.array(wc) if prior == "dirichlet_process" else wc
    for key, got, want in [
            ("weights_", model["weights"], ref.weights_),
            ("means_", model["means"], ref.means_),
            ("covariances_", model["covariances"], ref.covariances_),
            ("weight_concentration_", b["weight_concentration"], wc_ref),
            ("mean_precision_", b["mean_precision"], ref.mean_precision_),
            ("degrees_of_freedom_", b["degrees_of_freedom"], ref.degrees_of_freedom_)]:
        check(f"{case}: final {key}", close(got, want), maxdiff(got, want))


sys.exit(main())
