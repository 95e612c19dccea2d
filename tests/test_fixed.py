"""Fixed parameters (``fixed``): a constrained M-step against its direct twin, the
MAP conditional mode, the bound, the parameter counts and bad input."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import fastem
import naive
import naive_families
from fastem import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
SUBSETS = [s for r in (1, 2) for s in itertools.combinations(("weights", "means", "covariances"), r)]


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def blobs(n_samples=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 0.5, -1.0], [1.0, 3.0, 2.0]])
    truth = rng.integers(0, 3, n_samples)
    return centres[truth] + rng.normal(size=(n_samples, 3)) * np.array([1.0, 0.7, 1.3]), truth


def start(covariance_type, seed=1):
    """Initial parameters away from the fit's: weights, means and covariances to hold."""
    params = naive.random_params(np.random.default_rng(seed), covariance_type, 3, 3)
    precisions = fastem.gaussian.precisions_from_cholesky(params.precisions_cholesky, covariance_type)
    init = dict(weights_init=params.weights, means_init=params.means / 3.0, precisions_init=precisions)
    return init, (params.weights, params.means / 3.0, params.covariances)


def constrained_m_step(X, resp, covariance_type, reg_covar, fixed, held, w):
    """The ML update with the fixed parameters held: covariances about the held means when they are fixed."""
    weights, means, covariances = naive.m_step(X, resp, covariance_type, reg_covar, w)
    if "means" in fixed:
        means = held[1]
        wr = resp * w[:, None]
        nk = wr.sum(axis=0) + 10 * np.finfo(np.float64).eps
        scatters = np.stack([(wr[:, j, None] * (X - means[j])).T @ (X - means[j]) for j in range(3)])
        covariances = naive.covariances_from_scatters(scatters, nk, covariance_type, reg_covar)
    new = [weights, means, covariances]
    for index, name in enumerate(("weights", "means", "covariances")):
        if name in fixed:
            new[index] = held[index]
    return new


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("fixed", SUBSETS, ids="+".join)
def test_iterates_equal_a_direct_constrained_em(covariance_type, fixed):
    X, _ = blobs(seed=2)
    w = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0])
    init, held = start(covariance_type)
    fitted = quiet(GaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=4, fixed=fixed, **init).fit,
                   X, sample_weight=w)
    params, bounds = list(held), []
    for _ in range(4):
        log_norm, resp = naive.e_step(X, *params, covariance_type)
        bounds.append(w @ log_norm / w.sum())
        params = constrained_m_step(X, resp, covariance_type, 1e-6, fixed, held, w)
    np.testing.assert_allclose(fitted.weights_, params[0], rtol=1e-9)
    np.testing.assert_allclose(fitted.means_, params[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fitted.covariances_, params[2], rtol=1e-9)
    np.testing.assert_allclose(fitted.lower_bounds_, bounds, rtol=1e-10)
    for name, attribute, value in (("weights", "weights_", held[0]), ("means", "means_", held[1])):
        if name in fixed:
            np.testing.assert_array_equal(getattr(fitted, attribute), value)


def test_map_with_held_means_takes_the_conditional_mode():
    """Full covariances, means held: Sigma_j = (Psi0 + S_j + kappa0 (mu_j - m0)(mu_j - m0)^T) / (nu0 + N_j + d + 2)."""
    X, _ = blobs(seed=4)
    init, held = start("full")
    model = GaussianMixture(3, tol=0.0, max_iter=1, prior="default", fixed="means", reg_covar=0.0, **init)
    quiet(model.fit, X)
    prior = model.prior_
    _, resp = naive.e_step(X, *held, "full")
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    d = X.shape[1]
    for j in range(3):
        mu = held[1][j]
        scatter = (resp[:, j, None] * (X - mu)).T @ (X - mu)
        offset = mu - prior.mean_prior
        expected = ((prior.covariance_prior + scatter + prior.mean_precision_prior * np.outer(offset, offset))
                    / (prior.degrees_of_freedom_prior + nk[j] + d + 2))
        np.testing.assert_allclose(model.covariances_[j], expected, rtol=1e-9)
    np.testing.assert_array_equal(model.means_, held[1])


@pytest.mark.parametrize("fixed", SUBSETS, ids="+".join)
@pytest.mark.parametrize("prior", [None, "default"])
def test_bound_never_decreases(fixed, prior):
    X, _ = blobs(seed=5)
    for covariance_type in COVARIANCE_TYPES:
        init, _ = start(covariance_type, seed=6)
        model = quiet(GaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=30, prior=prior,
                                      fixed=fixed, **init).fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])), (covariance_type, np.diff(bounds).min())


def test_student_t_holds_means_and_weights():
    from test_student import make_data

    X, _ = make_data(800, seed=7)
    means = np.array([[0.5, 0.0, 0.0], [6.0, 5.0, -4.0]])
    for prior in (None, "default"):
        model = quiet(fastem.StudentTMixture(2, tol=0.0, max_iter=25, means_init=means, weights_init=[0.5, 0.5],
                                             fixed=("means", "weights"), prior=prior).fit, X)
        np.testing.assert_array_equal(model.means_, means)
        np.testing.assert_array_equal(model.weights_, [0.5, 0.5])
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    assert model._n_parameters() == 2 * 6 + 2  # scales and dof


@pytest.mark.parametrize("family", ["poisson", "bernoulli"])
def test_family_with_held_means_fits_the_weights_alone(family):
    from test_families import estimator, make_data

    X, _ = make_data(family, n_samples=1000, seed=8)
    means = np.array([[1.0, 5.0, 1.0, 2.0, 0.5], [6.0, 1.5, 3.0, 0.5, 0.5]])[:, : X.shape[1]]
    means = means if family == "poisson" else np.clip(means / 7.0, 0.05, 0.95)
    model = quiet(estimator(family, n_components=2, tol=0.0, max_iter=5, weights_init=[0.5, 0.5], means_init=means,
                            fixed="means").fit, X)
    weights = np.array([0.5, 0.5])
    for _ in range(5):
        log_prob = naive_families.column_log_pmf(family, X, means) + np.log(weights)
        resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
        weights = resp.sum(axis=0) / X.shape[0]
    np.testing.assert_array_equal(model.means_, means)
    np.testing.assert_allclose(model.weights_, weights, rtol=1e-9)
    assert model._n_parameters() == 1


@pytest.mark.parametrize("fixed", [("weights",), ("means",), ("weights", "means")], ids="+".join)
@pytest.mark.parametrize("family", ["poisson", "bernoulli", "categorical"])
def test_variational_holds_point_values_as_a_direct_implementation_does(family, fixed):
    from test_families import N_CATEGORIES, estimator, make_data
    from test_families import start as family_start

    X, _ = make_data(family)
    weights, means = family_start(family)
    n_cat = N_CATEGORIES if family == "categorical" else None
    prior = naive_families.default_prior(family, X, np.ones(X.shape[0]), 2, n_cat)
    model = quiet(estimator(family, n_components=2, weights_init=weights, means_init=means, max_iter=5, tol=0.0,
                            variational=True, fixed=fixed).fit, X)
    alpha, a, b, bounds = naive_families.variational(family, X, weights, means, 5, prior, n_cat, fixed=fixed)
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-10)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    if "weights" in fixed:
        np.testing.assert_array_equal(model.weights_, weights)
    else:
        np.testing.assert_allclose(model.weight_concentration_, alpha, rtol=1e-10)
    if "means" in fixed:
        np.testing.assert_array_equal(model.means_, means)
    else:
        np.testing.assert_allclose(model._posterior_arrays()[0], a, rtol=1e-10)
    # A warm start and partial_fit keep them.
    model.set_params(warm_start=True)
    quiet(model.fit, X)
    online = estimator(family, n_components=2, weights_init=weights, means_init=means, variational=True, fixed=fixed)
    for part in range(0, X.shape[0], 200):
        online.partial_fit(X[part : part + 200])
    for fitted in (model, online):
        if "weights" in fixed:
            np.testing.assert_array_equal(fitted.weights_, weights)
        if "means" in fixed:
            np.testing.assert_array_equal(fitted.means_, means)


def test_mixed_variational_holds_the_weights():
    X, _ = blobs(seed=12)
    model = quiet(fastem.MixedMixture(3, weights_init=[0.2, 0.3, 0.5], fixed="weights", variational=True, tol=0.0,
                                      max_iter=30, random_state=0).fit, X)
    np.testing.assert_array_equal(model.weights_, [0.2, 0.3, 0.5])
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    free = quiet(fastem.MixedMixture(3, weights_init=[0.2, 0.3, 0.5], variational=True, tol=0.0, max_iter=30,
                                     random_state=0).fit, X)
    assert not np.allclose(free.weights_, [0.2, 0.3, 0.5], atol=1e-3)


def test_criteria_count_the_fitted_parameters_only():
    X, _ = blobs(seed=9)
    init, _ = start("full")
    free = GaussianMixture(3, **init).fit(X)
    assert free._n_parameters() == 2 + 9 + 18
    for fixed, count in ((("weights",), 27), (("means",), 20), (("covariances",), 11), (("weights", "means"), 18)):
        model = quiet(GaussianMixture(3, fixed=fixed, **init).fit, X)
        assert model._n_parameters() == count
        expected = -2 * model.score(X) * X.shape[0] + count * np.log(X.shape[0])
        assert model.bic(X) == pytest.approx(expected, rel=1e-12)
    mixed = quiet(fastem.MixedMixture(3, weights_init=[0.2, 0.3, 0.5], fixed="weights").fit, X)
    np.testing.assert_array_equal(mixed.weights_, [0.2, 0.3, 0.5])
    assert mixed._n_parameters() == 3 * (3 + 6)


def test_warm_start_and_partial_fit_keep_the_held_values():
    X, _ = blobs(seed=10)
    init, held = start("diag")
    model = quiet(GaussianMixture(3, covariance_type="diag", fixed="covariances", warm_start=True, max_iter=3,
                                  **init).fit, X)
    quiet(model.fit, X)
    np.testing.assert_allclose(model.covariances_, held[2], rtol=1e-14)
    online = GaussianMixture(3, covariance_type="diag", fixed=("weights", "means"), **init)
    for part in range(0, X.shape[0], 200):
        online.partial_fit(X[part : part + 200])
    np.testing.assert_array_equal(online.weights_, held[0])
    np.testing.assert_array_equal(online.means_, held[1])


@pytest.mark.parametrize("make, message", [
    (lambda: GaussianMixture(2, fixed="means"), "fixed names 'means', which is held at means_init: set means_init"),
    (lambda: GaussianMixture(2, fixed=("weights", "covariances"), weights_init=[0.5, 0.5]),
     "held at precisions_init: set precisions_init"),
    (lambda: GaussianMixture(2, fixed="dof", means_init=np.zeros((2, 3))),
     "fixed may name 'weights', 'means', 'covariances' for GaussianMixture, got 'dof'"),
    (lambda: fastem.MixedMixture(2, fixed="dof", means_init=np.zeros((2, 9))),
     "fixed may name 'weights', 'means', 'covariances' for MixedMixture, got 'dof'"),
    (lambda: fastem.MixedMixture(2, fixed="covariances"),
     "fixed names 'covariances', which is held at precisions_init: set precisions_init"),
    (lambda: fastem.PoissonMixture(2, fixed="means", variational=True),
     "fixed names 'means', which is held at means_init: set means_init"),
])
def test_bad_fixed_is_refused_before_any_work(make, message):
    X, _ = blobs(200, seed=11)
    X = np.abs(np.round(X))
    model = make()
    with pytest.raises(ValueError, match=message):
        model.fit(X)
    assert not hasattr(model, "means_")


# ------------------------------------------------- BayesianGaussianMixture

BGM_SUBSETS = SUBSETS + [("weights", "means", "covariances")]


def bgm(covariance_type, fixed, max_iter, prior_type="dirichlet_distribution", **params):
    init, _ = start(covariance_type)
    init = {key: value for key, value in init.items()
            if {"weights_init": "weights", "means_init": "means", "precisions_init": "covariances"}[key] in fixed}
    return fastem.BayesianGaussianMixture(n_components=3, covariance_type=covariance_type, random_state=0,
                                          weight_concentration_prior_type=prior_type, tol=0.0, max_iter=max_iter,
                                          fixed=fixed, **init, **params)


def direct_elbo(model, X, resp, held):
    """The whole evidence lower bound (Bishop 10.70-10.77, every constant kept) at the model's q
    (full covariances, Dirichlet weights) and responsibilities ``resp``, with the ``held``
    parameters as point masses that have no prior: written term by term."""
    from scipy.special import digamma, gammaln, multigammaln

    n, d = X.shape
    k = model.n_components
    alpha, beta, m, nu = (model.weight_concentration_, model.mean_precision_, model.means_,
                          model.degrees_of_freedom_)
    alpha0, beta0, m0, nu0 = (model.weight_concentration_prior_, model.mean_precision_prior_, model.mean_prior_,
                              model.degrees_of_freedom_prior_)
    psi0 = model.covariance_prior_
    W = np.linalg.inv(model.covariances_ * nu[:, None, None])
    nk = resp.sum(axis=0)
    e_log_pi = np.log(held["weights"]) if "weights" in held else digamma(alpha) - digamma(alpha.sum())
    if "covariances" in held:
        precision = np.linalg.inv(held["covariances"])
        e_log_det = np.linalg.slogdet(precision)[1]
    else:
        e_log_det = np.array([digamma(0.5 * (nu[j] - np.arange(d))).sum() + d * np.log(2.0)
                              + np.linalg.slogdet(W[j])[1] for j in range(k)])
    total = 0.0
    for j in range(k):
        diff = X - m[j]
        quad = np.einsum("na,ab,nb->n", diff, precision[j] if "covariances" in held else nu[j] * W[j], diff)
        if "means" not in held:
            quad = quad + d / beta[j]
        e_log_n = 0.5 * e_log_det[j] - 0.5 * d * np.log(2 * np.pi) - 0.5 * quad
        total += resp[:, j] @ (e_log_pi[j] + e_log_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        total -= np.sum(np.where(resp > 0, resp * np.log(resp), 0.0))
    if "weights" not in held:
        log_c = lambda a: gammaln(a.sum()) - gammaln(a).sum()  # noqa: E731
        total += log_c(np.full(k, alpha0)) - log_c(alpha) + np.sum((alpha0 - alpha) * e_log_pi)
    log_b = lambda w, v: (-0.5 * v * np.linalg.slogdet(w)[1] - 0.5 * v * d * np.log(2.0)  # noqa: E731
                          - multigammaln(0.5 * v, d))
    w0 = np.linalg.inv(psi0)
    for j in range(k):
        if "covariances" not in held:  # E log p(Lambda) - E log q(Lambda)
            total += (log_b(w0, nu0) + 0.5 * (nu0 - d - 1) * e_log_det[j] - 0.5 * nu[j] * np.trace(psi0 @ W[j])
                      - log_b(W[j], nu[j]) - 0.5 * (nu[j] - d - 1) * e_log_det[j] + 0.5 * nu[j] * d)
        if "means" not in held:  # E log p(mu | Lambda) - E log q(mu | Lambda)
            offset = m[j] - m0
            scale = precision[j] if "covariances" in held else nu[j] * W[j]
            total += (0.5 * d * np.log(beta0 / beta[j]) - 0.5 * beta0 * (d / beta[j] + offset @ scale @ offset)
                      + 0.5 * d)
    return total


def bgm_responsibilities(model, X, held):
    """The E-step at the model's q, with the held parameters as points."""
    from scipy.special import digamma

    n, d = X.shape
    nu, beta = model.degrees_of_freedom_, model.mean_precision_
    alpha = model.weight_concentration_
    log_rho = np.empty((n, model.n_components))
    for j in range(model.n_components):
        diff = X - model.means_[j]
        if "covariances" in held:
            precision = np.linalg.inv(held["covariances"][j])
            e_log_det = np.linalg.slogdet(precision)[1]
        else:
            W = np.linalg.inv(model.covariances_[j] * nu[j])
            precision = nu[j] * W
            e_log_det = digamma(0.5 * (nu[j] - np.arange(d))).sum() + d * np.log(2.0) + np.linalg.slogdet(W)[1]
        quad = np.einsum("na,ab,nb->n", diff, precision, diff) + (0.0 if "means" in held else d / beta[j])
        e_log_pi = np.log(held["weights"][j]) if "weights" in held else digamma(alpha[j]) - digamma(alpha.sum())
        log_rho[:, j] = e_log_pi + 0.5 * e_log_det - 0.5 * d * np.log(2 * np.pi) - 0.5 * quad
    return np.exp(log_rho - logsumexp(log_rho, axis=1)[:, None])


@pytest.mark.parametrize("fixed", BGM_SUBSETS, ids="+".join)
def test_variational_bound_changes_as_the_whole_elbo_with_held_parameters(fixed):
    """The reported bound drops constants; its changes between iterations are the whole
    ELBO's, and the held values stay as given."""
    X, _ = blobs()
    _, (weights, means, covariances) = start("full")
    held = {name: value for name, value in (("weights", weights), ("means", means), ("covariances", covariances))
            if name in fixed}
    models = [quiet(bgm("full", fixed, m, reg_covar=0.0).fit, X) for m in (1, 2, 3)]
    elbos = [direct_elbo(after, X, bgm_responsibilities(before, X, held), held)
             for before, after in zip(models[:-1], models[1:])]
    bounds = models[-1].lower_bounds_
    assert bounds[2] - bounds[1] == pytest.approx(elbos[1] - elbos[0], rel=1e-7, abs=1e-8)
    assert elbos[1] >= elbos[0] - 1e-9
    last = models[-1]
    if "weights" in fixed:
        np.testing.assert_array_equal(last.weights_, weights)
    if "means" in fixed:
        np.testing.assert_array_equal(last.means_, means)
    if "covariances" in fixed:
        np.testing.assert_allclose(last.covariances_, covariances, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_variational_bound_never_decreases_with_held_parameters(covariance_type, prior_type):
    X, _ = blobs(seed=5)
    for fixed in BGM_SUBSETS:
        model = quiet(bgm(covariance_type, fixed, 40, prior_type).fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds)), fixed
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), (fixed, np.diff(bounds).min())


def test_variational_held_parameters_bad_input():
    X, _ = blobs()
    init, _ = start("full")
    with pytest.raises(ValueError, match="fixed names 'means', which is held at means_init: set means_init"):
        fastem.BayesianGaussianMixture(n_components=3, fixed="means").fit(X)
    with pytest.raises(ValueError, match="means_init is used by BayesianGaussianMixture only to hold 'means'"):
        fastem.BayesianGaussianMixture(n_components=3, means_init=init["means_init"]).fit(X)
    with pytest.raises(ValueError, match="fixed may name"):
        fastem.BayesianGaussianMixture(n_components=3, fixed="dof").fit(X)
    with pytest.raises(ValueError, match="means"):
        fastem.BayesianGaussianMixture(n_components=3, fixed="means", means_init=np.zeros((2, 3))).fit(X)
    # Nothing held: the fit is the one without the new parameters, bit for bit.
    plain = fastem.BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    again = fastem.BayesianGaussianMixture(n_components=3, random_state=0, fixed=()).fit(X)
    np.testing.assert_array_equal(plain.lower_bounds_, again.lower_bounds_)
