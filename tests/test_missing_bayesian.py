"""Missing values (NaN) in BayesianGaussianMixture: mean-field variational Bayes with the
missing entries in q, against its row-by-row twin and the whole evidence lower bound."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import naive
from fastem import BayesianGaussianMixture, fit_many
from test_missing import incomplete

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def bishop_state(model):
    """(concentration, beta, m, nu, W) of a fitted full model (covariances_ are W^-1 / nu)."""
    nu = model.degrees_of_freedom_
    W = np.linalg.inv(model.covariances_ * nu[:, None, None])
    return model.weight_concentration_, model.mean_precision_, model.means_, nu, W


def bishop_prior(model):
    return (model.weight_concentration_prior_, model.mean_precision_prior_, model.mean_prior_,
            model.degrees_of_freedom_prior_, model.covariance_prior_)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_iterates_and_bound_equal_a_direct_incomplete_data_vb(prior_type, weighted):
    X, _, _ = incomplete(240, rate=0.25, seed=21)
    X[3] = np.nan  # a row with nothing observed
    w = np.random.default_rng(22).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    params = dict(n_components=3, weight_concentration_prior_type=prior_type, reg_covar=0.0, tol=0.0,
                  init_params="random", random_state=3)
    model = quiet(BayesianGaussianMixture(max_iter=2, **params).fit, X, sample_weight=w)
    start = bishop_state(model)
    model.set_params(warm_start=True, max_iter=4)
    quiet(model.fit, X, sample_weight=w)
    stick = prior_type == "dirichlet_process"
    (concentration, beta, means, nu, W), bounds = naive.incomplete_vb(X, start, bishop_prior(model), 4, stick, w)
    ours = bishop_state(model)
    for a, b in zip(np.atleast_2d(ours[0]), np.atleast_2d(concentration)):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    np.testing.assert_allclose(ours[1], beta, rtol=1e-9)
    np.testing.assert_allclose(ours[2], means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours[3], nu, rtol=1e-9)
    np.testing.assert_allclose(ours[4], W, rtol=1e-8)
    if not stick:
        # The reported bound drops constants: its changes are the whole bound's.
        np.testing.assert_allclose(np.diff(model.lower_bounds_), np.diff(bounds), rtol=1e-7, atol=1e-9)
        assert np.all(np.diff(bounds) > 0)


def test_scores_and_responsibilities_are_the_marginal_variational_e_step():
    X, complete, _ = incomplete(300, rate=0.2, seed=23)
    model = quiet(BayesianGaussianMixture(n_components=3, max_iter=20, random_state=0).fit, complete)
    X[7] = np.nan
    concentration, beta, means, nu, W = bishop_state(model)
    # One row-by-row E-step: log rho of each row (with its q(x_m)) from the twin's first iteration.
    expected = np.empty(X.shape[0])
    resp = np.empty((X.shape[0], 3))
    e_log_pi = naive._e_log_weights(concentration, True)
    d = X.shape[1]
    for i, row in enumerate(X):
        o = np.flatnonzero(~np.isnan(row))
        log_rho = np.empty(3)
        for j in range(3):
            # log of the integral over x_m of exp(E[log N(x | mu_j, Lambda_j)]), in closed form by scipy.
            covariance = np.linalg.inv(nu[j] * W[j])
            marginal = naive.multivariate_normal(means[j, o], covariance[np.ix_(o, o)]).logpdf(row[o]) if o.size else 0.0
            log_rho[j] = (e_log_pi[j] + 0.5 * naive._e_log_det(nu[j], W[j]) - 0.5 * d / beta[j]
                          - 0.5 * np.linalg.slogdet(nu[j] * W[j])[1] + marginal)
        expected[i] = logsumexp(log_rho)
        resp[i] = np.exp(log_rho - expected[i])
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), resp, atol=1e-12)
    rows = ~np.isnan(X).any(axis=1)
    np.testing.assert_array_equal(model.score_samples(X)[rows], model.score_samples(X[rows]))


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bound_never_decreases(covariance_type, prior_type):
    X, _, _ = incomplete(500, rate=0.3, seed=24)
    for seed in range(2):
        model = quiet(BayesianGaussianMixture(n_components=5, covariance_type=covariance_type,
                                              weight_concentration_prior_type=prior_type, random_state=seed,
                                              tol=0.0, max_iter=40).fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_labels_partial_fit_and_fit_many_take_nan():
    X, _, truth = incomplete(1500, rate=0.2, seed=25)
    y = np.where(np.random.default_rng(26).random(X.shape[0]) < 0.1, truth, -1)
    params = dict(n_components=3, random_state=0, max_iter=200)
    labelled = BayesianGaussianMixture(**params).fit(X, y)
    assert np.mean(labelled.predict(X) == truth) > 0.9
    np.testing.assert_array_equal(labelled.fit_predict(X, y)[y >= 0], y[y >= 0])
    online = BayesianGaussianMixture(**params)
    for part in range(0, X.shape[0], 300):
        online.partial_fit(X[part : part + 300])
    assert np.all(np.isfinite(online.means_)) and np.isfinite(online.score(X))
    models = fit_many([X, X[:700]], BayesianGaussianMixture(**params))
    alone = BayesianGaussianMixture(**params).fit(X)
    assert models[0].lower_bounds_ == alone.lower_bounds_
    np.testing.assert_array_equal(models[0].means_, alone.means_)


def test_bitwise_identical_for_one_and_two_threads_and_x_unchanged():
    X, _, _ = incomplete(3000, rate=0.2, seed=27)
    before = X.copy()
    one = quiet(BayesianGaussianMixture(n_components=4, random_state=0, n_threads=1, max_iter=10).fit, X)
    two = quiet(BayesianGaussianMixture(n_components=4, random_state=0, n_threads=2, max_iter=10).fit, X)
    np.testing.assert_array_equal(X, before)
    assert one.lower_bounds_ == two.lower_bounds_
    np.testing.assert_array_equal(one.covariances_, two.covariances_)
