"""MAP-EM: conjugate priors for every covariance type."""

import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn import mixture
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem
import naive
from fastem import gaussian
from fastem._stats import Stats
from fastem.prior import GaussianPrior, resolve_prior

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _naive_log_prior(params, covariance_type, prior):
    """log p(theta) from scipy's densities, one component at a time."""
    k, d = params.means.shape
    total = stats.dirichlet.logpdf(params.weights, prior.weight_concentration_prior)
    covs = naive.full_covariances(params.covariances, covariance_type, k, d)
    kappa, m0, nu, psi = (prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior,
                          prior.covariance_prior)
    for j in range(k):
        if kappa > 0:
            total += stats.multivariate_normal(m0, covs[j] / kappa).logpdf(params.means[j])
        if covariance_type == "full":
            total += stats.invwishart(df=nu, scale=psi).logpdf(covs[j])
        elif covariance_type == "diag":
            total += stats.invgamma(nu / 2, scale=psi / 2).logpdf(np.diag(covs[j])).sum()
        elif covariance_type == "spherical":
            total += stats.invgamma(nu / 2, scale=psi / 2).logpdf(covs[j][0, 0])
    if covariance_type == "tied":
        total += stats.invwishart(df=nu, scale=psi).logpdf(covs[0])
    return total


def _objective(X, resp, params, covariance_type, prior):
    """Expected complete-data log-likelihood plus log prior (the M-step's target)."""
    log_prob = naive.weighted_log_prob(X, params.weights, params.means, params.covariances, covariance_type)
    return np.sum(resp * log_prob) + _naive_log_prior(params, covariance_type, prior)


def _unpack(theta, covariance_type, k, d):
    """Unconstrained vector -> parameters (softmax weights, log-Cholesky covariances)."""
    logits, theta = np.append(theta[: k - 1], 0.0), theta[k - 1 :]
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    means, theta = theta[: k * d].reshape(k, d), theta[k * d :]

    def spd(vector):
        lower = np.zeros((d, d))
        lower[np.tril_indices(d)] = vector
        lower[np.diag_indices(d)] = np.exp(np.diag(lower))
        return lower @ lower.T

    m = d * (d + 1) // 2
    if covariance_type == "full":
        covariances = np.stack([spd(theta[j * m : (j + 1) * m]) for j in range(k)])
    elif covariance_type == "tied":
        covariances = spd(theta[:m])
    elif covariance_type == "diag":
        covariances = np.exp(theta[: k * d]).reshape(k, d)
    else:
        covariances = np.exp(theta[:k])
    return gaussian.GaussianParams(weights, means, covariances, gaussian.precision_cholesky(covariances, covariance_type))


@pytest.mark.parametrize("kappa", [0.0, 0.5])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_map_update_is_the_numerical_posterior_mode(covariance_type, kappa):
    rng = np.random.default_rng(1)
    k, d = 2, 2
    X = rng.normal(size=(12, d)) + np.repeat([[0.0, 0.0], [3.0, 1.0]], 6, axis=0)
    resp = rng.dirichlet(np.ones(k), size=12)
    spec = GaussianPrior(weight_concentration_prior=[2.0, 3.0], mean_precision_prior=kappa,
                         degrees_of_freedom_prior=3.5, mean_prior=[0.5, -0.5])
    prior = resolve_prior(spec, X, k, covariance_type)

    count, first, second = naive.statistics(X, resp, np.zeros((k, d)))
    s2 = second if covariance_type in ("full", "tied") else np.diagonal(second, axis1=1, axis2=2)
    closed = gaussian.map_update(Stats(count, first, s2, np.zeros((k, d)), 0.0),
                                 covariance_type, 0.0, np.float64, prior)

    size = (k - 1) + k * d + {"full": k * 3, "tied": 3, "diag": k * d, "spherical": k}[covariance_type]
    best = optimize.minimize(
        lambda theta: -_objective(X, resp, _unpack(theta, covariance_type, k, d), covariance_type, prior),
        np.zeros(size), method="BFGS", options={"gtol": 1e-9, "maxiter": 5000},
    )
    found = _unpack(best.x, covariance_type, k, d)
    assert _objective(X, resp, closed, covariance_type, prior) >= -best.fun - 1e-8
    np.testing.assert_allclose(closed.weights, found.weights, atol=1e-5)
    np.testing.assert_allclose(closed.means, found.means, atol=1e-4)
    np.testing.assert_allclose(closed.covariances, found.covariances, atol=1e-4)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_prior_matches_scipy_densities(covariance_type):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    prior = resolve_prior(GaussianPrior(weight_concentration_prior=1.5), X, 3, covariance_type)
    params = naive.random_params(rng, covariance_type, 3, 3)
    np.testing.assert_allclose(gaussian.log_prior(params, covariance_type, prior),
                               _naive_log_prior(params, covariance_type, prior), rtol=1e-10)


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fastem.GaussianMixture(**params).fit(X)


@pytest.mark.parametrize("alpha", [1.0, 2.5])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", range(5))
def test_log_posterior_never_decreases(covariance_type, seed, alpha):
    X, _ = make_blobs(n_samples=300, n_features=3, centers=4, cluster_std=2.0, random_state=seed)
    model = _fit(X, n_components=4, covariance_type=covariance_type, reg_covar=0.0, tol=0.0, max_iter=40,
                 init_params="random", random_state=seed,
                 prior=GaussianPrior(weight_concentration_prior=alpha))
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_lower_bound_is_log_posterior_per_sample_and_score_is_likelihood():
    X = load_iris().data
    model = _fit(X, n_components=3, prior="default", random_state=0, tol=0.0, max_iter=30)
    # One more E-step at the final parameters gives their log-posterior.
    refit = _fit(X, n_components=3, prior="default", max_iter=1, weights_init=model.weights_,
                 means_init=model.means_, precisions_init=model.precisions_)
    params = model._state()
    expected = (model.score(X) * X.shape[0] + gaussian.log_prior(params, "full", model.prior_)) / X.shape[0]
    np.testing.assert_allclose(refit.lower_bound_, expected, rtol=1e-10)
    assert model.bic(X) == pytest.approx(-2 * model.score(X) * X.shape[0] + model._n_parameters() * np.log(X.shape[0]))


DEGENERATE = {
    "identical rows": lambda: np.ones((20, 3)),
    "collapsed clusters": lambda: np.repeat(load_iris().data[:3], 10, axis=0),
    "constant feature": lambda: np.c_[load_iris().data, np.ones(150)],
    "more features than rows": lambda: np.random.default_rng(0).normal(size=(8, 12)),
    "one row per component": lambda: load_iris().data[:6],
}


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_data_fit_cleanly_with_a_prior(case, covariance_type):
    X = DEGENERATE[case]()
    k = X.shape[0] if case == "one row per component" else 3
    # Without a prior, fastem raises where scikit-learn raises (one row per
    # component fits with diagonal covariances in both: see gaussian.moments).
    ml_fails = case in ("identical rows", "collapsed clusters") or (
        case == "constant feature" and covariance_type != "spherical"
    ) or (case == "one row per component" and covariance_type in ("full", "tied"))
    ml = dict(n_components=k, covariance_type=covariance_type, reg_covar=0.0, random_state=0)
    if ml_fails:
        for estimator in (fastem.GaussianMixture(**ml), mixture.GaussianMixture(**ml)):
            with pytest.raises(ValueError, match="ill-defined"), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                estimator.fit(X)
    model = _fit(X, n_components=k, covariance_type=covariance_type, reg_covar=0.0, random_state=0, prior="default")
    assert np.isfinite(model.lower_bound_)
    assert np.all(np.isfinite(model.covariances_))
    assert np.all(np.isfinite(model.predict_proba(X)))


def test_default_prior_is_mclusts():
    X = load_iris().data
    k, d = 3, 4
    full = resolve_prior("default", X, k, "full")
    np.testing.assert_allclose(full.mean_prior, X.mean(axis=0))
    assert full.mean_precision_prior == 0.01 and full.degrees_of_freedom_prior == d + 2
    np.testing.assert_allclose(full.covariance_prior, np.cov(X, rowvar=False) / k ** (2 / d))
    np.testing.assert_array_equal(full.weight_concentration_prior, np.ones(k))
    spherical = resolve_prior("default", X, k, "spherical")
    assert spherical.covariance_prior == pytest.approx(np.trace(np.cov(X, rowvar=False)) / d * (1 / k) ** (2 / d))
    diag = resolve_prior("default", X, k, "diag")
    np.testing.assert_allclose(diag.covariance_prior, np.full(d, spherical.covariance_prior))


def test_resolved_prior_is_a_fitted_attribute_and_removed_without_prior():
    X = load_iris().data
    model = _fit(X, n_components=2, prior=GaussianPrior(mean_precision_prior=0.0), random_state=0)
    assert model.prior_.mean_precision_prior == 0.0
    assert model.prior_.covariance_prior.shape == (4, 4)
    model.set_params(prior=None)
    _fit_again = model.fit(X)
    assert not hasattr(_fit_again, "prior_")


@pytest.mark.parametrize(
    "spec, name",
    [
        (GaussianPrior(degrees_of_freedom_prior=2.0), "degrees_of_freedom_prior"),
        (GaussianPrior(covariance_prior=-np.eye(4)), "covariance_prior"),
        (GaussianPrior(covariance_prior=np.eye(3)), "covariance_prior"),
        (GaussianPrior(covariance_prior=[[1.0, 2.0], [0.0, 1.0]]), "covariance_prior"),
        (GaussianPrior(mean_precision_prior=-1.0), "mean_precision_prior"),
        (GaussianPrior(weight_concentration_prior=-1.0), "weight_concentration_prior"),
        (GaussianPrior(weight_concentration_prior=[1.0, 2.0]), "weight_concentration_prior"),
        (GaussianPrior(mean_prior=[0.0, 1.0]), "mean_prior"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(spec, name):
    with pytest.raises(ValueError, match=name):
        fastem.GaussianMixture(3, prior=spec).fit(load_iris().data)


def test_bad_prior_type():
    with pytest.raises(ValueError, match="prior"):
        fastem.GaussianMixture(3, prior="flat").fit(load_iris().data)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_map_integer_weights_equal_repeated_rows(covariance_type):
    X, _ = make_blobs(n_samples=200, n_features=2, centers=3, random_state=3)
    weights = np.random.default_rng(0).integers(0, 4, size=X.shape[0])
    spec = GaussianPrior(mean_prior=[0.0, 0.0], covariance_prior={"full": np.eye(2), "tied": np.eye(2),
                         "diag": np.ones(2), "spherical": 1.0}[covariance_type])
    start = dict(weights_init=np.full(3, 1 / 3), means_init=X[[0, 50, 100]],
                 precisions_init={"full": np.stack([np.eye(2)] * 3), "tied": np.eye(2), "diag": np.ones((3, 2)),
                                  "spherical": np.ones(3)}[covariance_type])
    params = dict(n_components=3, covariance_type=covariance_type, prior=spec, tol=0.0, max_iter=10, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = fastem.GaussianMixture(**params).fit(X, sample_weight=weights)
    copies = _fit(np.repeat(X, weights, axis=0), **params)
    np.testing.assert_allclose(weighted.lower_bounds_, copies.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, copies.covariances_, rtol=1e-9)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_map_with_every_init_float32_n_init_and_warm_start(init_params):
    X = make_blobs(n_samples=400, n_features=3, centers=3, random_state=4)[0].astype(np.float32)
    model = _fit(X, n_components=3, init_params=init_params, n_init=2, prior="default", random_state=0)
    assert model.means_.dtype == np.float32 and np.isfinite(model.lower_bound_)
    warm = fastem.GaussianMixture(3, init_params=init_params, prior="default", warm_start=True, max_iter=5,
                                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)
        first = warm.lower_bound_
        warm.fit(X)
    # Float32 data: the passes multiply in float32, so the converged bound moves by its rounding (~1e-6 here).
    assert warm.lower_bound_ >= first - 1e-5 * abs(first)
