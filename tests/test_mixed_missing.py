"""Missing values (NaN) in MixedMixture: a Gaussian group's incomplete rows take exact EM
(conditional moments of its missing columns), every other group drops a missing entry's
term. Against a row-by-row twin written from the formulas, SciPy's densities, the bound
(ML, MAP, VB), and the data sources (chunks, Dask, partial_fit, weights, labels)."""

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import MixedMixture
from test_mixed import N_CATEGORIES, make_data

# A full Gaussian group of three columns (two from the data, one correlated with them), a
# diagonal one, counts, binary and categorical columns.
GROUPS = [("gaussian", [0, 1, 8]), ("gaussian_diag", [9, 10]), ("poisson", [2, 3]), ("bernoulli", [4, 5]),
          ("categorical", [6, 7])]
OFFSETS = np.concatenate([[0], np.cumsum(N_CATEGORIES)[:-1]])


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def incomplete(n=900, rate=0.2, seed=0):
    """make_data's columns and three Gaussian ones more, a fraction ``rate`` of entries
    missing completely at random, row 3 with nothing observed and row 4 with only
    its Gaussian columns missing; returns (X with NaN, complete X, components)."""
    X, z = make_data(n=n, seed=seed)
    rng = np.random.default_rng(seed + 50)
    third = 0.5 * X[:, 0] - 0.3 * X[:, 1] + rng.normal(size=n) + 2.0 * z
    diagonal = rng.normal(size=(n, 2)) * np.array([1.0, 0.5]) + np.array([[0.0, 1.0], [2.0, -1.0]])[z]
    complete = np.column_stack([X, third, diagonal])
    X = complete.copy()
    X[rng.random(X.shape) < rate] = np.nan
    X[3] = np.nan
    X[4, [0, 1, 8, 9, 10]] = np.nan
    return X, complete, z


def group_log_density(family, part, params, j):
    """log p(observed entries of ``part`` | component j) for one group, row by row, by SciPy."""
    out = np.zeros(part.shape[0])
    for i, row in enumerate(part):
        o = np.flatnonzero(~np.isnan(row))
        if not o.size:
            continue
        if family in ("gaussian", "gaussian_diag"):
            cov = params.covariances[j] if family == "gaussian" else np.diag(params.covariances[j])
            out[i] = stats.multivariate_normal(params.means[j, o], cov[np.ix_(o, o)]).logpdf(row[o])
        elif family == "poisson":
            out[i] = stats.poisson.logpmf(row[o], params[j, o]).sum()
        elif family == "bernoulli":
            out[i] = stats.bernoulli.logpmf(row[o], params[j, o]).sum()
        else:
            out[i] = sum(np.log(params[j, OFFSETS[c] + int(row[c])]) for c in o)
    return out


def direct_log_prob(model, X):
    k = model.n_components
    log_prob = np.tile(np.log(model.weights_), (X.shape[0], 1))
    for (family, cols), params in zip(model.groups_, model.group_params_):
        for j in range(k):
            log_prob[:, j] += group_log_density(family, X[:, cols], params, j)
    return log_prob


def direct_step(model, X, w=None, reg_covar=1e-6):
    """One ML EM step for incomplete rows from the model's parameters: the Gaussian groups'
    statistics are the conditional moments given the observed columns, the other groups'
    each column's observed entries; rows that observe nothing are left out."""
    n, k = X.shape[0], model.n_components
    w = np.ones(n) if w is None else w
    log_prob = direct_log_prob(model, X)
    log_norm = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - log_norm[:, None]) * w[:, None]
    resp[np.isnan(X).all(axis=1)] = 0.0
    nk = resp.sum(axis=0)
    new = []
    for (family, cols), params in zip(model.groups_, model.group_params_):
        part = X[:, cols]
        g = len(cols)
        if family in ("gaussian", "gaussian_diag"):
            means, covs = np.zeros((k, g)), np.zeros((k, g, g))
            for j in range(k):
                sigma = params.covariances[j] if family == "gaussian" else np.diag(params.covariances[j])
                first, second = np.zeros(g), np.zeros((g, g))
                for i, row in enumerate(part):
                    o, m = np.flatnonzero(~np.isnan(row)), np.flatnonzero(np.isnan(row))
                    xhat, extra = row.copy(), np.zeros((g, g))
                    if m.size:
                        gain = sigma[np.ix_(m, o)] @ np.linalg.inv(sigma[np.ix_(o, o)]) if o.size else np.zeros((m.size, 0))
                        xhat[m] = params.means[j, m] + gain @ (row[o] - params.means[j, o])
                        extra[np.ix_(m, m)] = sigma[np.ix_(m, m)] - gain @ sigma[np.ix_(o, m)]
                    first += resp[i, j] * xhat
                    second += resp[i, j] * (np.outer(xhat, xhat) + extra)
                means[j] = first / nk[j]
                covs[j] = second / nk[j] - np.outer(means[j], means[j]) + reg_covar * np.eye(g)
            new.append((means, covs if family == "gaussian" else np.diagonal(covs, axis1=1, axis2=2)))
            continue
        seen = ~np.isnan(part)
        if family == "categorical":
            sums = np.hstack([resp.T @ (np.eye(L)[np.where(seen[:, c], part[:, c], 0).astype(int)] * seen[:, c, None])
                              for c, L in enumerate(N_CATEGORIES)])
            mass = np.hstack([np.repeat((resp.T @ seen[:, c])[:, None], L, axis=1) for c, L in enumerate(N_CATEGORIES)])
        else:
            sums, mass = resp.T @ np.where(seen, part, 0.0), resp.T @ seen
        new.append(sums / mass)
    return nk / nk.sum(), new, float(w @ log_norm / w.sum())


@pytest.mark.parametrize("weighted", [False, True])
def test_each_iteration_is_a_direct_incomplete_data_em_step(weighted):
    X, _, _ = incomplete()
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    for n_iter in (1, 3):
        params = dict(groups=GROUPS, max_iter=n_iter, tol=0.0, random_state=0)
        before = quiet(MixedMixture(2, **params).fit, X, sample_weight=w)
        after = quiet(MixedMixture(2, **{**params, "max_iter": n_iter + 1}).fit, X, sample_weight=w)
        weights, new, bound = direct_step(before, X, w)
        np.testing.assert_allclose(after.weights_, weights, rtol=1e-9)
        assert after.lower_bounds_[-1] == pytest.approx(bound, rel=1e-10)
        for (family, _), fitted, expected in zip(GROUPS, after.group_params_, new):
            if family.startswith("gaussian"):
                np.testing.assert_allclose(fitted.means, expected[0], rtol=1e-8, atol=1e-10)
                np.testing.assert_allclose(fitted.covariances, expected[1], rtol=1e-8, atol=1e-10)
            else:
                np.testing.assert_allclose(fitted, expected, rtol=1e-9, atol=1e-13)


def test_scores_are_the_observed_entries_densities_and_complete_fits_predict_nan():
    X, complete, _ = incomplete(seed=2)
    model = MixedMixture(2, groups=GROUPS, random_state=0).fit(complete)
    log_prob = direct_log_prob(model, X)
    np.testing.assert_allclose(model.score_samples(X), logsumexp(log_prob, axis=1), rtol=1e-10, atol=1e-12)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None]), atol=1e-10)
    np.testing.assert_allclose(proba[3], model.weights_, rtol=1e-12)  # nothing observed
    np.testing.assert_array_equal(model.predict(X), np.argmax(proba, axis=1))
    rows = ~np.isnan(X).any(axis=1)
    np.testing.assert_allclose(model.score_samples(X)[rows], model.score_samples(complete[rows]), rtol=1e-12)
    # Fitted with NaN, the model scores complete rows as the product density.
    fitted = quiet(MixedMixture(2, groups=GROUPS, random_state=0).fit, X)
    log_prob = direct_log_prob(fitted, complete)
    np.testing.assert_allclose(fitted.score_samples(complete), logsumexp(log_prob, axis=1), rtol=1e-10)


@pytest.mark.parametrize("algorithm", ["ml", "map", "variational"])
def test_bound_never_decreases(algorithm):
    X, _, _ = incomplete(n=700, rate=0.3, seed=3)
    for seed in range(2):
        model = quiet(MixedMixture(3, groups=GROUPS, random_state=seed, tol=0.0, max_iter=40,
                                   prior="default" if algorithm == "map" else None,
                                   variational=algorithm == "variational").fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_one_gaussian_group_steps_as_the_gaussian_mixture_on_incomplete_rows():
    X, _, _ = incomplete(seed=4)
    X = X[:, [0, 1, 8]]
    for n_iter in (1, 4):
        before = quiet(MixedMixture(2, tol=0.0, max_iter=n_iter, random_state=0).fit, X)
        after = quiet(MixedMixture(2, tol=0.0, max_iter=n_iter + 1, random_state=0).fit, X)
        params = before.group_params_[0]
        gm = quiet(fastem.GaussianMixture(2, tol=0.0, max_iter=1, weights_init=before.weights_,
                                          means_init=params.means,
                                          precisions_init=np.linalg.inv(params.covariances)).fit, X)
        np.testing.assert_allclose(after.weights_, gm.weights_, rtol=1e-9)
        np.testing.assert_allclose(after.group_params_[0].means, gm.means_, rtol=1e-9)
        np.testing.assert_allclose(after.group_params_[0].covariances, gm.covariances_, rtol=1e-8)
        assert after.lower_bounds_[-1] == pytest.approx(gm.lower_bounds_[0], rel=1e-10)


def test_labels_weights_chunks_dask_and_partial_fit():
    X, _, z = incomplete(n=1200, seed=5)
    y = np.where(np.random.default_rng(6).random(X.shape[0]) < 0.1, z, -1)
    params = dict(groups=GROUPS, random_state=0, tol=0.0, max_iter=5)
    in_memory = quiet(MixedMixture(2, **params).fit, X, y)
    unlabelled = quiet(MixedMixture(2, **params).fit, X)
    assert in_memory.lower_bounds_[-1] != unlabelled.lower_bounds_[-1]
    chunked = quiet(MixedMixture(2, **params).fit_chunks, lambda: iter(np.array_split(X, 3)), y)
    np.testing.assert_allclose(chunked.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(chunked.means_, in_memory.means_, rtol=1e-9)
    online = MixedMixture(2, groups=GROUPS, random_state=0)
    for part in np.array_split(X, 4):
        online.partial_fit(part)
    assert np.isfinite(online.score(X))
    assert max(np.mean(online.predict(X) == z), np.mean(online.predict(X) != z)) > 0.9


def test_fit_many_and_select():
    sets = [incomplete(n=500, seed=seed)[0] for seed in (8, 9)]
    template = MixedMixture(2, groups=GROUPS, random_state=0, max_iter=20)
    many = quiet(fastem.fit_many, sets, template)
    for X, model in zip(sets, many):
        alone = quiet(MixedMixture(2, groups=GROUPS, random_state=0, max_iter=20).fit, X)
        np.testing.assert_array_equal(model.means_, alone.means_)
        np.testing.assert_array_equal(model.lower_bounds_, alone.lower_bounds_)
    best, table = quiet(fastem.select, sets[0], n_components=[1, 2], estimator=template)
    assert [row["status"] for row in table] == ["ok"] * 2
    assert best.n_components == 2
    assert min(row["bic"] for row in table) == pytest.approx(best.bic(sets[0]), rel=1e-12)


def test_a_column_with_nothing_observed_is_named():
    X, _, _ = incomplete(n=300, seed=10)
    X[:, 9] = np.nan
    before = X.copy()
    with pytest.raises(ValueError, match="column 9 of X has no observed entry"):
        MixedMixture(2, groups=GROUPS).fit(X)
    with pytest.raises(ValueError, match="column 9 of the chunks has no observed entry"):
        MixedMixture(2, groups=GROUPS).fit_chunks(lambda: iter(np.array_split(X, 2)))
    with pytest.raises(ValueError, match="column 2 of X has no observed entry"):
        fastem.PoissonMixture(2).fit(X[:, [2, 3, 9]])
    with pytest.raises(ValueError, match="column 1 of X has no observed entry"):
        fastem.GaussianMixture(2).fit(X[:, [0, 9]])
    with pytest.raises(ValueError, match="column 1 of the data has no observed entry"):
        fastem.GaussianMixture(2).fit_chunks(lambda: iter(np.array_split(X[:, [0, 9]], 2)))
    np.testing.assert_array_equal(X, before)
    # Predicting rows (or whole columns) with nothing observed is fine.
    model = MixedMixture(2, groups=GROUPS, random_state=0).fit(incomplete(n=300, seed=11)[1])
    assert np.all(np.isfinite(model.score_samples(X)))
