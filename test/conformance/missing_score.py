#!/usr/bin/python3
"""Scoring rows with NULL elements, gmm_impute, gmm_marginal and gmm_condition
against an independent computation with numpy and scipy (Debian's python3-scipy).

For random mixtures of all four covariance types (5 features, 3 components)
and rows with random missingness masks (each element NULL with probability
0.3; some rows share one of 3 patterns, so that the per-pattern cache is
used, others are all different):

  - gmm_score_samples: log sum_j w_j N(x_o | mu_jo, S_joo) with
    scipy.stats.multivariate_normal.logpdf on the observed sub-vectors, to
    RTOL = 1e-10 relative; a row of NULLs only scores NULL;
  - gmm_predict_proba (to 1e-10 absolute) and gmm_predict;
  - the gmm_score and gmm_bic aggregates over the incomplete rows;
  - gmm_impute: the responsibility-weighted conditional means
    mu_jm + S_jmo S_joo^-1 (x_o - mu_jo), computed with numpy.linalg.solve;
  - gmm_marginal: weights, means and covariances equal numpy slicing;
  - gmm_condition: weights the posterior responsibilities, means the
    conditional means, covariances the Schur complements
    S_jmm - S_jmo S_joo^-1 S_jom (diag and spherical: the variances).

And for full and tied mixtures of 40 features (3 components), whose
factors the scoring functions read as panels (gmm_score_panels_pay):
complete rows, rows in 3 patterns of 6 missing features (their cached
marginals over 34 features use panels too) and rows missing values at
random, gmm_score_samples and gmm_score against scipy to RTOL.

Run by tools/test.sh against its private cluster; prints TAP-like lines and
"N passed, N failed".
"""
import json
import sys

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import tap
from tap import check, psql

RTOL = 1e-10
COV_TYPES = ["full", "tied", "diag", "spherical"]
K, D = 3, 5


def random_model(cov_type, rs):
    w = rs.uniform(0.5, 1.5, K)
    w /= w.sum()
    means = rs.normal(0, 2, (K, D))
    if cov_type in ("full", "tied"):
        covs = []
        for _ in range(K if cov_type == "full" else 1):
            a = rs.normal(size=(D, D))
            covs.append(a @ a.T / D + 0.3 * np.eye(D))
        cov = np.array(covs) if cov_type == "full" else covs[0]
    elif cov_type == "diag":
        cov = rs.uniform(0.3, 2.0, (K, D))
    else:
        cov = rs.uniform(0.3, 2.0, K)
    return w, means, cov


def dense_covs(cov_type, cov):
    """Each component's D x D covariance, whatever the type stores."""
    if cov_type == "full":
        return [cov[j] for j in range(K)]
    if cov_type == "tied":
        return [cov] * K
    if cov_type == "diag":
        return [np.diag(cov[j]) for j in range(K)]
    return [cov[j] * np.eye(D) for j in range(K)]


def model_text(cov_type, w, means, cov):
    return json.dumps({"weights": w.tolist(), "means": means.tolist(),
                       "covariances": np.asarray(cov).tolist(), "covariance_type": cov_type})


def pg_array(s):
    return [None if v == "NULL" else float(v) for v in s.strip("{}").split(",")]


def pg_row(x):
    return "{%s}" % ",".join("NULL" if np.isnan(v) else repr(float(v)) for v in x)


def reference(w, means, S, x):
    """Per component: log w_j + log N(x_o), conditional mean and covariance of x_m."""
    o = ~np.isnan(x)
    m = ~o
    logp, cmean, ccov = [], [], []
    for j in range(len(w)):
        Soo = S[j][np.ix_(o, o)]
        Smo = S[j][np.ix_(m, o)]
        Smm = S[j][np.ix_(m, m)]
        logp.append(np.log(w[j]) + multivariate_normal(means[j][o], Soo).logpdf(x[o]))
        cmean.append(means[j][m] + Smo @ np.linalg.solve(Soo, x[o] - means[j][o]))
        ccov.append(Smm - Smo @ np.linalg.solve(Soo, Smo.T))
    logp = np.array(logp)
    lse = logsumexp(logp)
    return lse, np.exp(logp - lse), np.array(cmean), np.array(ccov)


def rel_err(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def close(name, got, want, rtol=RTOL, atol=0.0):
    got = np.asarray(got, float)
    want = np.asarray(want, float)
    if got.shape != want.shape:
        check(name, False, f"shape {got.shape} vs {want.shape}")
        return
    err = np.abs(got - want)
    ok = bool(np.all(err <= rtol * np.abs(want) + atol))
    check(name, ok, f"max abs difference {err.max():.3g}, max relative {rel_err(got, want):.3g}")


def check_wide(rs):
    k, d = 3, 40
    patterns = [rs.permutation(d)[:6] for _ in range(3)]
    for t in ("full", "tied"):
        w = rs.uniform(0.5, 1.5, k)
        w /= w.sum()
        means = rs.normal(0, 2, (k, d))
        covs = []
        for _ in range(k if t == "full" else 1):
            a = rs.normal(size=(d, d))
            covs.append(a @ a.T / d + 0.3 * np.eye(d))
        cov = np.array(covs) if t == "full" else covs[0]
        S = list(cov) if t == "full" else [cov] * k
        mtext = model_text(t, w, means, cov).replace("'", "''")
        X = []
        for i in range(240):
            x = means[i % k] + rs.normal(0, 1.5, d)
            if 80 <= i < 160:
                x[patterns[i % 3]] = np.nan
            elif i >= 160:
                x[rs.uniform(size=d) < 0.1] = np.nan
            X.append(x)
        rows = "\n".join(f"{i}\t{pg_row(x)}" for i, x in enumerate(X))
        psql(None, stdin=(f"DROP TABLE IF EXISTS ms_conf;\nCREATE TABLE ms_conf (i int, x float8[]);\n"
                          f"COPY ms_conf FROM STDIN;\n{rows}\n\\.\n"))
        out = psql(f"SELECT i, gmm_score_samples(m, x) FROM ms_conf, (SELECT '{mtext}'::gmm AS m) s "
                   f"ORDER BY i")
        got = {int(i): float(v) for i, v in (line.split("|") for line in out.splitlines())}
        want = [reference(w, means, S, x)[0] for x in X]
        for name, lo, hi in (("complete rows", 0, 80), ("rows in 3 patterns", 80, 160),
                             ("rows missing at random", 160, 240)):
            close(f"{t}, {d} features: gmm_score_samples of {name} == scipy", [got[i] for i in range(lo, hi)],
                  want[lo:hi])
        agg = psql(f"SELECT gmm_score(m, x) FROM ms_conf, (SELECT '{mtext}'::gmm AS m) s GROUP BY s.m::text")
        close(f"{t}, {d} features: gmm_score == the mean of scipy's", [float(agg)], [np.mean(want)])


def main():
    try:
        psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return
    rs = np.random.RandomState(20261201)
    patterns = [rs.uniform(size=D) < 0.3 for _ in range(3)]
    for t in COV_TYPES:
        w, means, cov = random_model(t, rs)
        S = dense_covs(t, cov)
        mtext = model_text(t, w, means, cov).replace("'", "''")
        # rows near the components, 30% missing at random; rows 0..59 share 3 patterns
        X = []
        for i in range(300):
            x = means[i % K] + rs.normal(0, 1.5, D)
            mask = patterns[i % 3] if i < 60 else rs.uniform(size=D) < 0.3
            if mask.all():
                mask = mask.copy()
                mask[0] = False
            x[mask] = np.nan
            X.append(x)
        X.append(np.full(D, np.nan))	# a row of NULLs only
        rows = "\n".join(f"{i}\t{pg_row(x)}" for i, x in enumerate(X))
        psql(None, stdin=(f"DROP TABLE IF EXISTS ms_conf;\nCREATE TABLE ms_conf (i int, x float8[]);\n"
                          f"COPY ms_conf FROM STDIN;\n{rows}\n\\.\n"))
        out = psql(f"SELECT i, gmm_score_samples(m, x), gmm_predict_proba(m, x), gmm_predict(m, x), "
                   f"gmm_impute(m, x) FROM ms_conf, (SELECT '{mtext}'::gmm AS m) s ORDER BY i")
        got_s, want_s, got_p, want_p, got_l, want_l, got_i, want_i = [], [], [], [], [], [], [], []
        null_row = None
        for line in out.splitlines():
            i, s, p, lab, imp = line.split("|")
            x = X[int(i)]
            if np.isnan(x).all():
                null_row = (s, p, lab, imp)
                continue
            lse, resp, cmean, _ = reference(w, means, S, x)
            got_s.append(float(s))
            want_s.append(lse)
            got_p.append(pg_array(p))
            want_p.append(resp)
            got_l.append(int(lab))
            want_l.append(int(np.argmax(resp)))
            m = np.isnan(x)
            xi = x.copy()
            xi[m] = resp @ cmean
            got_i.append(pg_array(imp))
            want_i.append(xi)
        n_inc = sum(1 for x in X if np.isnan(x).any() and not np.isnan(x).all())
        close(f"{t}: gmm_score_samples of {len(got_s)} rows ({n_inc} incomplete) == scipy marginal logpdf",
              got_s, want_s)
        close(f"{t}: gmm_predict_proba", got_p, want_p, rtol=0.0, atol=1e-10)
        check(f"{t}: gmm_predict is the argmax", got_l == want_l)
        close(f"{t}: gmm_impute == responsibility-weighted conditional means", got_i, want_i,
              rtol=RTOL, atol=1e-12)
        check(f"{t}: a row of NULLs only scores NULL and imputes the mixture mean",
              null_row is not None and null_row[:3] == ("", "", "") and
              np.allclose(pg_array(null_row[3]), w @ means, rtol=1e-12, atol=1e-12), null_row)
        agg = psql(f"SELECT gmm_score(m, x), gmm_bic(m, x) FROM ms_conf, (SELECT '{mtext}'::gmm AS m) s "
                   f"GROUP BY s.m::text").split("|")
        n = len(want_s)
        npar = {"full": K * D * (D + 1) / 2, "tied": D * (D + 1) / 2, "diag": K * D, "spherical": K}[t]
        npar += K * D + K - 1
        close(f"{t}: gmm_score, gmm_bic over the rows (the all-NULL row skipped)",
              [float(v) for v in agg], [np.mean(want_s), -2 * np.sum(want_s) + npar * np.log(n)])

        # gmm_marginal over features 4, 1, 3 (1-based), against numpy slicing
        f = [3, 0, 2]
        mm = json.loads(psql(f"SELECT gmm_to_jsonb(gmm_marginal('{mtext}'::gmm, '{{4,1,3}}'))::text"))
        close(f"{t}: gmm_marginal weights", mm["weights"], w, rtol=0, atol=0)
        close(f"{t}: gmm_marginal means == means[:, f]", mm["means"], means[:, f], rtol=0, atol=0)
        if t == "full":
            ref_cov = cov[:, f][:, :, f]
        elif t == "tied":
            ref_cov = cov[np.ix_(f, f)]
        elif t == "diag":
            ref_cov = cov[:, f]
        else:
            ref_cov = cov
        check(f"{t}: gmm_marginal keeps the covariance type", mm["covariance_type"] == t)
        close(f"{t}: gmm_marginal covariances == numpy slicing", mm["covariances"], ref_cov,
              rtol=1e-15, atol=0)

        # gmm_condition on a few rows: weights, means, Schur complements
        worst = {"weights": 0.0, "means": 0.0, "covariances": 0.0}
        ok_shape = True
        for x in [x for x in X[60:] if np.isnan(x).any()][:10]:
            mdl = json.loads(psql(f"SELECT gmm_to_jsonb(gmm_condition('{mtext}'::gmm, '{pg_row(x)}'))::text"))
            _, resp, cmean, ccov = reference(w, means, S, x)
            keep = resp > 0
            if t == "full":
                rc = ccov[keep]
            elif t == "tied":
                rc = ccov[0]
            elif t == "diag":
                rc = np.array([np.diag(c) for c in ccov[keep]])
            else:
                rc = cov[keep]
            ok_shape &= mdl["covariance_type"] == t and len(mdl["weights"]) == keep.sum()
            for key, ref in (("weights", resp[keep]), ("means", cmean[keep]), ("covariances", rc)):
                got = np.asarray(mdl[key], float)
                ref = np.asarray(ref, float)
                if got.shape != ref.shape:
                    ok_shape = False
                    continue
                worst[key] = max(worst[key], float(np.max(np.abs(got - ref) /
                                                          (np.abs(ref) + 1e-12))))
        check(f"{t}: gmm_condition keeps the covariance type and the components", ok_shape)
        for key, e in worst.items():
            check(f"{t}: gmm_condition {key} == posterior / conditional mean / Schur complement "
                  f"(max relative {e:.3g})", e <= RTOL)
    check_wide(rs)
    psql("DROP TABLE IF EXISTS ms_conf")


if __name__ == "__main__":
    main()
    sys.exit(tap.summary())
