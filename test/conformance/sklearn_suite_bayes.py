#!/usr/bin/python3
"""scikit-learn's own test_bayesian_mixture.py, run against the extension.

Debian's python3-sklearn ships sklearn/mixture/tests/test_bayesian_mixture.py.
This script runs it with pytest, after replacing the module's
BayesianGaussianMixture by PgBayesianGaussianMixture: a thin
scikit-learn-shaped estimator (a subclass, so parameters, validation,
get_params/set_params, clone and repr stay scikit-learn's) whose fit,
fit_predict, predict, predict_proba, score_samples, score and sample run in
PostgreSQL through psql (gmm_fit_bayesian with the estimator's parameters as
options, gmm_refit for a warm start, gmm_predict, gmm_predict_proba,
gmm_score_samples, gmm_sample).  The fitted attributes (weights_, means_,
covariances_, precisions_, precisions_cholesky_, converged_, n_iter_,
lower_bound_, weight_concentration_, mean_precision_, degrees_of_freedom_ and
the *_prior_ attributes) come from the model the extension returns, its
"bayesian" object for the variational ones.

The psql session, the TAP reporting and scoring are sklearn_suite.py's
(imported as a module); random_state is handled as there (an int with rng
'sklearn'; None or a RandomState instance gives a seed drawn from it).
scikit-learn's own _check_parameters still runs first, so its errors for bad
parameters keep their wording (test_bayesian_mixture_precisions_prior_initialisation
matches one).

Every test of public behaviour runs and must pass.  Left out (deselected),
with the reason:
  - test_log_dirichlet_norm, test_log_wishart_norm: tests of scikit-learn's
    private helpers _log_dirichlet_norm and _log_wishart_norm.
  - test_compare_covar_type: it calls the private _initialize_parameters
    and reads the attributes it sets, with no fit.
Each test is one TAP line (with its time); the last line is "N passed, N
failed".
"""
import json
import os
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

import sklearn_suite
import tap
from sklearn_suite import PgGaussianMixture, run_sql, sql_literal
from tap import check

TEST_FILE = "/usr/lib/python3/dist-packages/sklearn/mixture/tests/test_bayesian_mixture.py"
LEFT_OUT = {
    "test_log_dirichlet_norm": "private helper _log_dirichlet_norm",
    "test_log_wishart_norm": "private helper _log_wishart_norm",
    "test_compare_covar_type": "private helper _initialize_parameters (no fit)",
}
# the options of the priors (gmm_refit continues with the model's)
PRIOR_OPTIONS = ("weight_concentration_prior_type", "weight_concentration_prior",
                 "mean_precision_prior", "mean_prior", "degrees_of_freedom_prior",
                 "covariance_prior")


class PgBayesianGaussianMixture(BayesianGaussianMixture):
    """BayesianGaussianMixture whose fit and scoring run in the gmm extension."""

    def _options(self):
        rs = self.random_state
        if rs is None:
            seed = int(np.random.randint(2**32, dtype=np.uint64))
        elif isinstance(rs, (int, np.integer)):
            seed = int(rs)
        else:
            seed = int(rs.randint(2**32, dtype=np.uint64))
        o = {"covariance_type": self.covariance_type, "tol": float(self.tol),
             "reg_covar": float(self.reg_covar), "max_iter": int(self.max_iter),
             "n_init": int(self.n_init), "init_params": self.init_params,
             "random_state": seed, "rng": "sklearn",
             "verbose": int(self.verbose), "verbose_interval": int(self.verbose_interval)}
        o["weight_concentration_prior_type"] = self.weight_concentration_prior_type
        for key in ("weight_concentration_prior", "mean_precision_prior",
                    "degrees_of_freedom_prior"):
            v = getattr(self, key)
            if v is not None:
                o[key] = float(v)
        if self.mean_prior is not None:
            o["mean_prior"] = np.asarray(self.mean_prior, dtype=float).reshape(-1).tolist()
        if self.covariance_prior is not None:
            c = np.asarray(self.covariance_prior, dtype=float)
            o["covariance_prior"] = float(c) if c.ndim == 0 else c.tolist()
        return o

    def fit(self, X, y=None):
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None):
        self._validate_params()
        X = sklearn_suite.validate(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError("Expected n_samples >= n_components but got "
                             f"n_components = {self.n_components}, n_samples = {X.shape[0]}")
        # scikit-learn's checks of the priors, with its wording
        self._check_parameters(X)
        o = self._options()
        warm = self.warm_start and hasattr(self, "converged_")
        if warm:
            for key in ("n_init", "init_params") + PRIOR_OPTIONS:
                o.pop(key, None)
            agg = f"gmm_refit(x, {sql_literal(self._gmm)}::gmm, {sql_literal(json.dumps(o))} ORDER BY id)"
        else:
            agg = (f"gmm_fit_bayesian(x, {self.n_components}, {sql_literal(json.dumps(o))} "
                   "ORDER BY id)")
        out, err = run_sql(X, f"SELECT m::text, (SELECT array_agg(gmm_predict(m, x) ORDER BY id) FROM t) "
                              f"FROM (SELECT {agg} AS m FROM t) s")
        for line in err.splitlines():
            if "NOTICE:" in line:
                print(line.split("NOTICE:", 1)[1].strip())
        mtext, labels = out[0].split("|")
        self._set_from_model(mtext)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn("Initialization %d did not converge. Try different init parameters, "
                          "or increase max_iter, tol or check for degenerate data."
                          % (1 if warm else self.n_init), ConvergenceWarning)
        return np.array([int(v) for v in labels.strip("{}").split(",")])

    def _set_from_model(self, mtext):
        m = json.loads(mtext)
        b = m["bayesian"]
        self._gmm = mtext
        self.weights_ = np.array(m["weights"], dtype=float)
        self.means_ = np.array(m["means"], dtype=float)
        self.covariances_ = np.array(m["covariances"], dtype=float)
        self.precisions_cholesky_ = _compute_precision_cholesky(self.covariances_,
                                                                self.covariance_type)
        pc = self.precisions_cholesky_
        if self.covariance_type == "full":
            self.precisions_ = np.array([c @ c.T for c in pc])
        elif self.covariance_type == "tied":
            self.precisions_ = pc @ pc.T
        else:
            self.precisions_ = pc**2
        self.converged_ = bool(m["converged"])
        self.n_iter_ = int(m["n_iter"])
        lb = m["lower_bound"]
        self.lower_bound_ = -np.inf if lb is None else float(lb)
        wc = np.array(b["weight_concentration"], dtype=float)
        # scikit-learn: a tuple of the two Beta parameters for the process
        self.weight_concentration_ = (wc[0], wc[1]) if wc.ndim == 2 else wc
        self.mean_precision_ = np.array(b["mean_precision"], dtype=float)
        dof = b["degrees_of_freedom"]
        self.degrees_of_freedom_ = float(dof) if np.ndim(dof) == 0 else np.array(dof, dtype=float)
        self.weight_concentration_prior_ = float(b["weight_concentration_prior"])
        self.mean_precision_prior_ = float(b["mean_precision_prior"])
        self.mean_prior_ = np.array(b["mean_prior"], dtype=float)
        self.degrees_of_freedom_prior_ = float(b["degrees_of_freedom_prior"])
        cp = b["covariance_prior"]
        self.covariance_prior_ = float(cp) if np.ndim(cp) == 0 else np.array(cp, dtype=float)

    # scoring and sampling: the GaussianMixture wrapper's (the same SQL)
    _rows = PgGaussianMixture._rows
    predict = PgGaussianMixture.predict
    predict_proba = PgGaussianMixture.predict_proba
    score_samples = PgGaussianMixture.score_samples
    score = PgGaussianMixture.score
    sample = PgGaussianMixture.sample


# scikit-learn's messages name the class ("This BayesianGaussianMixture
# instance is not fitted yet"); the wrapper stands in for it under its name
PgBayesianGaussianMixture.__name__ = PgBayesianGaussianMixture.__qualname__ = \
    "BayesianGaussianMixture"


class Plugin(sklearn_suite.Plugin):
    """Swap the Bayesian estimator in, deselect the left-out tests, report as TAP."""

    def pytest_collection_modifyitems(self, session, config, items):
        keep, drop = [], []
        for item in items:
            (drop if item.originalname in LEFT_OUT else keep).append(item)
            item.module.BayesianGaussianMixture = PgBayesianGaussianMixture
        items[:] = keep
        config.hook.pytest_deselected(items=drop)


def main():
    try:
        tap.psql("CREATE EXTENSION IF NOT EXISTS gmm")
    except RuntimeError as e:
        check("CREATE EXTENSION gmm", False, e)
        return
    sklearn_suite.SESSION.start()
    # count the fits that reach the extension (the swap is in effect)
    calls = {"gmm_fit_bayesian(": 0, "gmm_refit(": 0, "gmm_predict_proba(": 0}
    session_run = sklearn_suite.SESSION.run

    def counting_run(script):
        for key in calls:
            calls[key] += script.count(key)
        return session_run(script)
    sklearn_suite.SESSION.run = counting_run
    plugin = Plugin()
    devnull = open(os.devnull, "w")
    old = sys.stdout
    sys.stdout = devnull
    try:
        pytest.main([TEST_FILE, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                     "-W", "ignore::DeprecationWarning"], plugins=[plugin])
    finally:
        sys.stdout = old
    for nodeid, (outcome, text, secs) in plugin.results.items():
        name = nodeid.split("::", 1)[-1]
        check(f"{name} ({secs:.1f} s)", outcome in ("passed", "skipped"),
              text[-3000:] if outcome == "failed" else "")
    check("the file's tests were collected and run", len(plugin.results) >= 10,
          f"{len(plugin.results)} results")
    # test_monotonic_likelihood's warm fits are gmm_refit calls
    check(f"the fits ran in the extension: {calls['gmm_fit_bayesian(']} gmm_fit_bayesian, "
          f"{calls['gmm_refit(']} gmm_refit, {calls['gmm_predict_proba(']} gmm_predict_proba",
          calls["gmm_fit_bayesian("] >= 50 and calls["gmm_refit("] >= 8
          and calls["gmm_predict_proba("] >= 8, str(calls))
    for name, why in LEFT_OUT.items():
        print(f"# left out {name}: {why}")


if __name__ == "__main__":
    main()
    sys.exit(tap.summary())
