"""Missing values (NaN) in the Poisson, Bernoulli and categorical mixtures: a missing
entry's term is dropped. Against a direct EM over the observed entries, SciPy's pmfs,
the bound (ML, MAP, VB), and prediction from a model fitted on complete rows."""

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

from test_families import N_CATEGORIES, estimator, make_data

FAMILIES = ("poisson", "bernoulli", "categorical")


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def with_nan(family, n_samples=800, rate=0.2, seed=0):
    X, truth = make_data(family, n_samples=n_samples, seed=seed)
    X = X.copy()
    X[np.random.default_rng(seed + 100).random(X.shape) < rate] = np.nan
    return X, truth


def extra(family):
    return {"n_categories": N_CATEGORIES} if family == "categorical" else {}


def observed_log_pmf(family, X, means):
    """(n, k): sum over each row's observed entries of log p(x_c | component), by SciPy."""
    k = means.shape[0]
    out = np.zeros((X.shape[0], k))
    offsets = np.concatenate([[0], np.cumsum(N_CATEGORIES)[:-1]])
    for c in range(X.shape[1]):
        seen = ~np.isnan(X[:, c])
        x = X[seen, c]
        for j in range(k):
            if family == "poisson":
                out[seen, j] += stats.poisson.logpmf(x, means[j, c])
            elif family == "bernoulli":
                out[seen, j] += stats.bernoulli.logpmf(x, means[j, c])
            else:
                out[seen, j] += np.log(means[j, offsets[c] + x.astype(int)])
    return out


def observed_sums(family, X, resp):
    """Per component and pass column: the responsibility-weighted sums and the observed mass."""
    if family == "categorical":
        columns = []
        masses = []
        for c, L in enumerate(N_CATEGORIES):
            seen = ~np.isnan(X[:, c])
            codes = np.where(seen, X[:, c], 0).astype(int)
            indicator = np.eye(L)[codes] * seen[:, None]
            columns.append(resp.T @ indicator)
            masses.append(np.repeat((resp * seen[:, None]).sum(axis=0)[:, None], L, axis=1))
        return np.hstack(columns), np.hstack(masses)
    seen = ~np.isnan(X)
    return resp.T @ np.where(seen, X, 0.0), resp.T @ seen


def start_of(family, seed=1):
    rng = np.random.default_rng(seed)
    if family == "poisson":
        return np.array([0.45, 0.55]), rng.uniform(0.5, 5.0, size=(2, 4))
    if family == "bernoulli":
        return np.array([0.45, 0.55]), rng.uniform(0.1, 0.9, size=(2, 5))
    tables = [rng.dirichlet(np.ones(L), size=2) for L in N_CATEGORIES]
    return np.array([0.45, 0.55]), np.hstack(tables)


@pytest.mark.parametrize("family", FAMILIES)
def test_iterates_equal_a_direct_em_over_the_observed_entries(family):
    X, _ = with_nan(family, seed=1)
    X[3] = np.nan  # a row with nothing observed
    weights, means = start_of(family)
    model = quiet(estimator(family, n_components=2, tol=0.0, max_iter=5, weights_init=weights, means_init=means,
                            **extra(family)).fit, X)
    bounds = []
    for _ in range(5):
        log_prob = observed_log_pmf(family, X, means) + np.log(weights)
        log_norm = logsumexp(log_prob, axis=1)
        bounds.append(log_norm.mean())
        resp = np.exp(log_prob - log_norm[:, None])
        resp[np.isnan(X).all(axis=1)] = 0.0  # a row that observes nothing adds nothing
        sums, mass = observed_sums(family, X, resp)
        weights, means = resp.sum(axis=0) / resp.sum(), sums / mass
    np.testing.assert_allclose(model.weights_, weights, rtol=1e-9)
    np.testing.assert_allclose(model.means_, means, rtol=1e-9)
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_are_the_observed_entries_pmf_and_complete_fits_predict_nan(family):
    X, _ = make_data(family, n_samples=600, seed=2)
    model = estimator(family, n_components=2, random_state=0, **extra(family)).fit(X)
    Xn, _ = with_nan(family, n_samples=600, seed=2)
    expected = logsumexp(observed_log_pmf(family, Xn, model.means_) + np.log(model.weights_), axis=1)
    np.testing.assert_allclose(model.score_samples(Xn), expected, rtol=1e-10, atol=1e-12)
    proba = model.predict_proba(Xn)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(Xn), np.argmax(proba, axis=1))
    # Complete rows score as before, whether or not others in the call have NaN.
    rows = ~np.isnan(Xn).any(axis=1)
    np.testing.assert_allclose(model.score_samples(Xn)[rows], model.score_samples(X[rows]), rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("algorithm", ["ml", "map", "variational"])
def test_bound_never_decreases(family, algorithm):
    X, _ = with_nan(family, n_samples=1000, rate=0.3, seed=3)
    for seed in range(2):
        model = quiet(estimator(family, n_components=3, random_state=seed, tol=0.0, max_iter=40,
                                prior="default" if algorithm == "map" else None,
                                variational=algorithm == "variational", **extra(family)).fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_recovery_and_partial_fit():
    X, truth = with_nan("bernoulli", n_samples=4000, rate=0.3, seed=4)
    model = estimator("bernoulli", n_components=2, random_state=0, n_init=3).fit(X)
    agreement = np.mean(model.predict(X) == truth)
    assert max(agreement, 1 - agreement) > 0.85
    online = estimator("poisson", n_components=2, random_state=0)
    Xp, _ = with_nan("poisson", n_samples=2000, seed=5)
    for part in range(0, 2000, 500):
        online.partial_fit(Xp[part : part + 500])
    assert np.isfinite(online.score(Xp))
    complete, _ = make_data("poisson", n_samples=1000, seed=6)
    first = estimator("poisson", n_components=2, random_state=0).partial_fit(complete)
    with pytest.raises(ValueError, match="this batch has missing entries"):
        first.partial_fit(Xp[:100])


def test_infinity_and_bad_values_are_named():
    X, _ = with_nan("poisson", n_samples=300, seed=7)
    X[11, 2] = np.inf
    with pytest.raises(ValueError, match="X holds inf in row 11, column 2"):
        estimator("poisson", n_components=2).fit(X)
    X[11, 2] = 2.5
    with pytest.raises(ValueError, match="nonnegative integer counts: column 2 holds 2.5"):
        estimator("poisson", n_components=2).fit(X)


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_chunks_equals_the_in_memory_fit(family):
    X, _ = with_nan(family, n_samples=2000, seed=9)
    params = dict(n_components=2, random_state=0, tol=0.0, max_iter=6, **extra(family))
    in_memory = quiet(estimator(family, **params).fit, X)
    chunked = quiet(estimator(family, **params).fit_chunks, lambda: iter(np.array_split(X, 4)))
    np.testing.assert_allclose(chunked.means_, in_memory.means_, rtol=1e-9)
    np.testing.assert_allclose(chunked.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
