#!/usr/bin/python3
"""EM with missing values (missing => 'em') against an independent numpy reference.

The reference below is the textbook form of EM for Gaussian mixtures under missing at
random (Ghahramani and Jordan 1994; McLachlan and Krishnan ch. 2), written with plain
per-row loops and nothing shared with the C core (which works from the precision's
missing block instead of factoring the observed block): per row and component the
observed block S_oo of the covariance gives the log-density of the observed values,
the conditional mean mu_m + S_mo S_oo^-1 (x_o - mu_o) and the conditional covariance
S_mm - S_mo S_oo^-1 S_om; the M-step is scikit-learn's from the expected sufficient
statistics (the conditional covariance added to each row's scatter), with its 10 eps
added to every component's mass and reg_covar on the diagonal.

1. Conformance, for each covariance type, from the same initial parameters
   (weights_init, means_init, precisions_init), 20% of the values missing at random
   and some rows with a single observed value:
   - the lower bound of every iteration (gmm_fit with max_iter 1, then gmm_refit with
     max_iter 1 from each model: scikit-learn's warm-start scheme) within RTOL;
   - gmm_fit run to convergence: the same n_iter, converged, lower bound and final
     parameters (weights, means, covariances) within RTOL, and n_missing;
   - one weighted fit (gmm_fit_weighted; the reference weights each row).
2. Statistical check: mixtures with 10%, 30% and 50% of the values missing completely
   at random: EM's parameters are closer to the true ones than those of a fit on the
   complete rows only and of a fit on mean-imputed rows (the three errors are printed).

Run by tools/test.sh against its private cluster; prints "N passed, N failed".
"""
import json
import sys
from itertools import permutations

import numpy as np

import tap
from tap import check, psql

RTOL = 1e-6
COV_TYPES = ["full", "tied", "diag", "spherical"]
LOG2PI = np.log(2 * np.pi)
EPS10 = 10 * np.finfo(float).eps


# --- the reference ----------------------------------------------------------------------

def full_covs(t, k, d, cov):
    """each component's d x d covariance"""
    cov = np.asarray(cov, float)
    if t == "full":
        return [cov.reshape(k, d, d)[j] for j in range(k)]
    if t == "tied":
        return [cov.reshape(d, d)] * k
    if t == "diag":
        return [np.diag(cov.reshape(k, d)[j]) for j in range(k)]
    return [np.eye(d) * cov[j] for j in range(k)]


def e_step(X, w, t, weights, means, cov):
    """mean log-likelihood of the observed values, and per used row: weight,
    responsibilities, per component the completed row and the conditional covariance"""
    n, d = X.shape
    k = len(weights)
    S = full_covs(t, k, d, cov)
    ll = 0.0
    sw = 0.0
    rows = []
    for i in range(n):
        x = X[i]
        o = ~np.isnan(x)
        m = ~o
        if not o.any() or w[i] <= 0:
            continue
        lp = np.empty(k)
        xh = []
        cc = []
        for j in range(k):
            mu = means[j]
            Soo = S[j][np.ix_(o, o)]
            r = x[o] - mu[o]
            sol = np.linalg.solve(Soo, r)
            logdet = np.linalg.slogdet(Soo)[1]
            lp[j] = np.log(weights[j]) - 0.5 * (o.sum() * LOG2PI + logdet + r @ sol)
            xhat = x.copy()
            C = np.zeros((d, d))
            if m.any():
                Smo = S[j][np.ix_(m, o)]
                xhat[m] = mu[m] + Smo @ sol
                C[np.ix_(m, m)] = S[j][np.ix_(m, m)] - Smo @ np.linalg.solve(Soo, Smo.T)
            xh.append(xhat)
            cc.append(C)
        top = lp.max()
        lse = top + np.log(np.exp(lp - top).sum())
        ll += w[i] * lse
        sw += w[i]
        rows.append((w[i], np.exp(lp - lse), xh, cc))
    return ll / sw, rows


def m_step(rows, t, k, d, reg):
    s0 = np.zeros(k)
    s1 = np.zeros((k, d))
    for wi, resp, xh, _ in rows:
        for j in range(k):
            s0[j] += wi * resp[j]
            s1[j] += wi * resp[j] * xh[j]
    nk = s0 + EPS10
    weights = nk / nk.sum()
    means = s1 / nk[:, None]
    scat = np.zeros((k, d, d))
    for wi, resp, xh, cc in rows:
        for j in range(k):
            y = xh[j] - means[j]
            scat[j] += wi * resp[j] * (np.outer(y, y) + cc[j])
    if t == "full":
        cov = np.array([scat[j] / nk[j] + reg * np.eye(d) for j in range(k)])
    elif t == "tied":
        cov = scat.sum(0) / nk.sum() + reg * np.eye(d)
    elif t == "diag":
        cov = np.array([np.diag(scat[j]) / nk[j] + reg for j in range(k)])
    else:
        cov = np.array([np.mean(np.diag(scat[j]) / nk[j] + reg) for j in range(k)])
    return weights, means, cov


def reference_em(X, w, t, weights, means, cov, max_iter, tol, reg):
    k, d = means.shape
    lb = -np.inf
    lbs = []
    conv = False
    for _ in range(max_iter):
        prev = lb
        lb, rows = e_step(X, w, t, weights, means, cov)
        weights, means, cov = m_step(rows, t, k, d, reg)
        lbs.append(lb)
        if abs(lb - prev) < tol:
            conv = True
            break
    return dict(weights=weights, means=means, cov=np.asarray(cov), lbs=lbs, conv=conv)


# --- helpers ----------------------------------------------------------------------------

def load_table(name, X, w=None):
    def cell(v):
        return "NULL" if np.isnan(v) else repr(float(v))
    w = np.ones(len(X)) if w is None else w
    rows = "\n".join("{%s}\t%r" % (",".join(cell(v) for v in row), float(wi))
                     for row, wi in zip(X, w))
    psql(stdin=f"DROP TABLE IF EXISTS {name};\nCREATE TABLE {name} (x float8[], w float8);\n"
               f"COPY {name} (x, w) FROM STDIN;\n{rows}\n\\.\n")


def close(a, b, rtol=RTOL):
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rtol * np.maximum(1.0, np.abs(b))))


def model_json(sql):
    return json.loads(psql(sql).strip())


def gen_mixture(rs, n, weights, means, covs):
    lab = rs.choice(len(weights), size=n, p=weights)
    X = np.empty((n, means.shape[1]))
    for j in range(len(weights)):
        idx = lab == j
        X[idx] = rs.multivariate_normal(means[j], covs[j], idx.sum())
    return X


LOOP_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.mloop(src text, k int, opts jsonb, n int)
RETURNS TABLE (it int, lower_bound float8) LANGUAGE plpgsql AS $f$
DECLARE
	m gmm;
BEGIN
	SET LOCAL client_min_messages = error;	-- each call warns: not converged
	EXECUTE format('SELECT gmm_fit(x, %s, %L::jsonb) FROM %I', k,
				   opts || '{"max_iter": 1, "tol": 0}', src) INTO m;
	FOR c IN 1..n LOOP
		IF c > 1 THEN
			EXECUTE format('SELECT gmm_refit(x, $1, %L::jsonb) FROM %I',
						   '{"missing": "em", "max_iter": 1, "tol": 0}', src) INTO m USING m;
		END IF;
		it := c; lower_bound := gmm_lower_bound(m);
		RETURN NEXT;
	END LOOP;
END
$f$;
"""


def conformance():
    rs = np.random.RandomState(20261210)
    n, d, k = 240, 4, 3
    centres = np.array([[0, 0, 0, 0], [4, 1, -2, 0], [-3, 4, 1, 2]], float)
    A = rs.randn(d, d) * 0.4 + np.eye(d)
    X = np.vstack([rs.randn(n // k, d) @ A + c for c in centres])
    mask = rs.rand(*X.shape) < 0.2
    mask[:6] = True                     # six rows keep a single observed value
    for i in range(6):
        mask[i, i % d] = False
    mask[6] = True                      # and one row has none (skipped)
    X[mask] = np.nan
    w = 1.0 + rs.randint(0, 3, len(X)).astype(float)
    load_table("me_conf", X, w)
    n_missing = int(np.isnan(X[np.isnan(X).sum(1) < d]).sum())
    ones = np.ones(len(X))
    for t_i, t in enumerate(COV_TYPES):
        w0 = np.array([0.3, 0.3, 0.4])
        m0 = centres + rs.randn(k, d) * 0.8
        pc = np.linalg.inv(np.cov(np.nan_to_num(X[~np.isnan(X).any(1)]).T) + 1e-6 * np.eye(d))
        pc = (pc + pc.T) / 2
        p0 = {"full": np.array([pc] * k), "tied": pc,
              "diag": np.array([np.diag(pc)] * k), "spherical": np.full(k, np.diag(pc).mean())}[t]
        c0 = np.linalg.inv(p0) if t in ("full", "tied") else 1.0 / p0
        opts = {"covariance_type": t, "missing": "em", "weights_init": w0.tolist(),
                "means_init": m0.tolist(), "precisions_init": np.asarray(p0).tolist()}
        ref = reference_em(X, ones, t, w0, m0, c0, 100, 1e-3, 1e-6)
        # every iteration's lower bound
        nit = len(ref["lbs"])
        out = psql(stdin=LOOP_SQL + "SELECT lower_bound FROM pg_temp.mloop("
                   f"'me_conf', {k}, '{json.dumps(opts)}', {nit}) ORDER BY it;")
        lbs = [float(v) for v in out.split()]
        check(f"{t}: lower bounds of {nit} iterations (gmm_fit, then gmm_refit) within {RTOL}",
              close(lbs, ref["lbs"]), f"gmm {lbs[:5]}...\nref {ref['lbs'][:5]}...")
        # the whole fit
        g = model_json(f"SELECT gmm_fit(x, {k}, '{json.dumps(opts)}')::jsonb FROM me_conf")
        check(f"{t}: n_iter {nit} and converged as the reference",
              g["n_iter"] == nit and g["converged"] == ref["conv"],
              f"gmm n_iter {g['n_iter']} converged {g['converged']}, ref {nit} {ref['conv']}")
        check(f"{t}: lower bound within {RTOL}", close(g["lower_bound"], ref["lbs"][-1]),
              f"{g['lower_bound']} vs {ref['lbs'][-1]}")
        check(f"{t}: weights, means, covariances within {RTOL}",
              close(g["weights"], ref["weights"]) and close(g["means"], ref["means"]) and
              close(g["covariances"], ref["cov"]),
              f"max |means| diff {np.max(np.abs(np.ravel(g['means']) - np.ravel(ref['means'])))}, "
              f"max |cov| diff {np.max(np.abs(np.ravel(g['covariances']) - np.ravel(ref['cov'])))}")
        check(f"{t}: n_missing {n_missing}, n_samples {len(X) - 1} (the all-NULL row skipped)",
              g.get("n_missing") == n_missing and g["n_samples"] == len(X) - 1,
              f"n_missing {g.get('n_missing')}, n_samples {g['n_samples']}")
        if t == "full":
            refw = reference_em(X, w, t, w0, m0, c0, 100, 1e-3, 1e-6)
            gw = model_json(f"SELECT gmm_fit_weighted(x, w, {k}, '{json.dumps(opts)}')::jsonb FROM me_conf")
            check("full, weighted: n_iter, lower bound and parameters within 1e-6",
                  gw["n_iter"] == len(refw["lbs"]) and close(gw["lower_bound"], refw["lbs"][-1]) and
                  close(gw["means"], refw["means"]) and close(gw["covariances"], refw["cov"]) and
                  close(gw["weights"], refw["weights"]),
                  f"n_iter {gw['n_iter']} vs {len(refw['lbs'])}, lb {gw['lower_bound']} vs {refw['lbs'][-1]}")


# --- the statistical check --------------------------------------------------------------

def param_error(g, weights, means, covs):
    """smallest over component matchings: sum of |w - w*| + ||mu - mu*|| + ||S - S*||_F"""
    k, d = means.shape
    gw = np.array(g["weights"])
    gm = np.array(g["means"])
    gc = np.array(g["covariances"]).reshape(k, d, d)
    best = np.inf
    for p in permutations(range(k)):
        e = sum(abs(gw[p[j]] - weights[j]) + np.linalg.norm(gm[p[j]] - means[j]) +
                np.linalg.norm(gc[p[j]] - covs[j]) for j in range(k))
        best = min(best, e)
    return best


def statistical():
    rs = np.random.RandomState(7)
    k, d, n = 3, 4, 3000
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0, 0, 0, 0], [3, 3, 0, 1], [-3, 2, 3, -1]], float)
    covs = []
    for j in range(k):
        B = rs.randn(d, d) * 0.5
        covs.append(B @ B.T + (0.5 + 0.3 * j) * np.eye(d))
        # correlated features: what the missing values can be inferred from
        covs[j] += 0.6 * np.ones((d, d))
    covs = np.array(covs)
    X = gen_mixture(rs, n, weights, means, covs)
    opts = '{"n_init": 3, "random_state": 1}'
    for frac in (0.1, 0.3, 0.5):
        Xm = X.copy()
        Xm[rs.rand(n, d) < frac] = np.nan
        Xm = Xm[np.isnan(Xm).sum(1) < d]
        complete = Xm[~np.isnan(Xm).any(1)]
        col_mean = np.nanmean(Xm, axis=0)
        imputed = np.where(np.isnan(Xm), col_mean, Xm)
        load_table("me_stat", Xm)
        load_table("me_cc", complete)
        load_table("me_mi", imputed)
        em = model_json(f"SELECT gmm_fit(x, {k}, '{opts}'::jsonb || '{{\"missing\": \"em\"}}')::jsonb FROM me_stat")
        cc = model_json(f"SELECT gmm_fit(x, {k}, '{opts}')::jsonb FROM me_cc")
        mi = model_json(f"SELECT gmm_fit(x, {k}, '{opts}')::jsonb FROM me_mi")
        e_em = param_error(em, weights, means, covs)
        e_cc = param_error(cc, weights, means, covs)
        e_mi = param_error(mi, weights, means, covs)
        print(f"# {int(frac * 100)}% missing: parameter error EM {e_em:.4f}, complete-case "
              f"{e_cc:.4f} ({len(complete)} rows), mean imputation {e_mi:.4f}")
        check(f"{int(frac * 100)}% missing completely at random: EM closer to the truth than "
              "complete-case analysis and mean imputation", e_em < e_cc and e_em < e_mi,
              f"EM {e_em}, complete-case {e_cc}, mean imputation {e_mi}")


def main():
    try:
        psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return
    conformance()
    statistical()


if __name__ == "__main__":
    main()
    sys.exit(tap.summary())
