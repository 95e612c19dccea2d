"""fastem.BayesianGaussianMixture: textbook updates, monotone ELBO, scikit-learn parity."""

import copy
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn import datasets, mixture
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
import naive
import unsupervised
from fastem import variational
from fastem._source import ArraySource

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


def _fit(cls, X, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if sample_weight is None:
            return cls(**params).fit(X)
        return cls(**params).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_update_and_e_step_match_bishop(prior_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) + np.repeat([[0, 0, 0], [4, 1, 0], [0, 5, 2]], 20, axis=0)
    resp = rng.dirichlet(np.ones(3), size=60)
    model = fastem.BayesianGaussianMixture(n_components=3, weight_concentration_prior_type=prior_type,
                                           weight_concentration_prior=0.3, mean_precision_prior=0.7,
                                           degrees_of_freedom_prior=4.5, reg_covar=0.0)
    prior = model._resolve(ArraySource(X))
    stats = ArraySource(X).statistics_given_resp(
        (0, X.mean(axis=0), np.zeros((3, 10)), np.zeros((3, 3)), np.zeros((3, 1, 3)), np.zeros(3)),
        lambda start, stop: resp[start:stop],
    )
    state = variational.update(stats, "full", 0.0, np.float64, prior)
    stick = prior_type == "dirichlet_process"
    concentration, beta, means, nu, W = naive.vb_update_full(
        X, resp, 0.3, 0.7, prior.mean_prior, 4.5, prior.covariance_prior, stick_breaking=stick)
    if stick:
        for ours, theirs in zip(state.weight_concentration, concentration):
            np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    else:
        np.testing.assert_allclose(state.weight_concentration, concentration, rtol=1e-6)
    np.testing.assert_allclose(state.mean_precision, beta, rtol=1e-6)
    np.testing.assert_allclose(state.means, means, rtol=1e-6)
    np.testing.assert_allclose(state.degrees_of_freedom, nu, rtol=1e-6)
    # scikit-learn's covariances_ are W_k^-1 / nu_k.
    np.testing.assert_allclose(np.linalg.inv(state.covariances * nu[:, None, None]), W, rtol=1e-6)

    log_rho = naive.vb_log_rho(X, state.weight_concentration, beta, means, nu, W, stick_breaking=stick)
    log_norm, resp_out, _ = ArraySource(X).evaluate(variational.kernel_params(state, "full", prior_type),
                                                     log_norm=True, resp=True)
    np.testing.assert_allclose(log_norm, logsumexp(log_rho, axis=1), rtol=1e-9)
    np.testing.assert_allclose(resp_out, np.exp(log_rho - logsumexp(log_rho, axis=1)[:, None]), atol=1e-10)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", range(4))
def test_elbo_never_decreases(covariance_type, prior_type, seed):
    X, _ = datasets.make_blobs(n_samples=300, n_features=3, centers=4, cluster_std=2.0, random_state=seed)
    model = _fit(fastem.BayesianGaussianMixture, X, n_components=6, covariance_type=covariance_type,
                 weight_concentration_prior_type=prior_type, reg_covar=0.0, tol=0.0, max_iter=40,
                 init_params="random", random_state=seed)
    bounds = np.asarray(model.lower_bounds_)
    assert len(bounds) == 40
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:])), np.diff(bounds).min()


DATASETS = {
    "iris": lambda: datasets.load_iris().data,
    "wine": lambda: StandardScaler().fit_transform(datasets.load_wine().data),
    "breast_cancer": lambda: StandardScaler().fit_transform(datasets.load_breast_cancer().data)[:, :6],
}


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_same_fit_as_sklearn(dataset, covariance_type, prior_type, init_params):
    X = DATASETS[dataset]()
    params = dict(n_components=4, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
                  init_params=init_params, random_state=0)
    ours = _fit(fastem.BayesianGaussianMixture, X, **params)
    reference = _fit(mixture.BayesianGaussianMixture, X, **params)
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    # scikit-learn's tied lower bound is a length-1 array.
    np.testing.assert_allclose(ours.lower_bound_, np.squeeze(reference.lower_bound_), rtol=1e-6)
    np.testing.assert_allclose(ours.lower_bounds_, np.squeeze(reference.lower_bounds_), rtol=1e-6)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "mean_precision_",
                 "degrees_of_freedom_", "mean_prior_", "covariance_prior_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-5, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(ours.weight_concentration_, reference.weight_concentration_, rtol=1e-5)
    for name in ("weight_concentration_prior_", "mean_precision_prior_", "degrees_of_freedom_prior_"):
        assert getattr(ours, name) == pytest.approx(getattr(reference, name))
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(ours.score_samples(X), reference.score_samples(X), rtol=1e-6)


def test_surplus_components_get_weights_near_zero():
    X, _ = datasets.make_blobs(n_samples=1500, n_features=2, centers=3, cluster_std=0.7, random_state=3)
    model = _fit(fastem.BayesianGaussianMixture, X, n_components=10, weight_concentration_prior=1e-3,
                 max_iter=500, random_state=0)
    weights = np.sort(model.weights_)[::-1]
    assert weights[:3].sum() > 0.99
    assert np.all(weights[3:] < 0.01)


def test_integer_weights_equal_repeated_rows():
    X, _ = datasets.make_blobs(n_samples=200, n_features=2, centers=3, random_state=4)
    weights = np.random.default_rng(0).integers(0, 4, size=X.shape[0])
    repeated = np.repeat(X, weights, axis=0)
    params = dict(n_components=3, max_iter=1, random_state=0, tol=0.0,
                  mean_prior=[0.0, 0.0], covariance_prior=np.eye(2))
    start = _fit(fastem.BayesianGaussianMixture, repeated, **params)
    copies, weighted = copy.deepcopy(start), copy.deepcopy(start)
    copies.set_params(warm_start=True, max_iter=10)
    weighted.set_params(warm_start=True, max_iter=10)
    _fit_warm = lambda model, *args, **kw: _fit_continue(model, *args, **kw)  # noqa: E731
    _fit_warm(copies, repeated)
    _fit_warm(weighted, X, sample_weight=weights)
    np.testing.assert_allclose(weighted.lower_bounds_, copies.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(weighted.means_, copies.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, copies.covariances_, rtol=1e-9)


def _fit_continue(model, X, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, sample_weight=sample_weight)


def test_unit_weights_equal_no_weights_bitwise():
    X = datasets.load_iris().data
    plain = _fit(fastem.BayesianGaussianMixture, X, n_components=3, random_state=0)
    ones = _fit(fastem.BayesianGaussianMixture, X, sample_weight=np.ones(X.shape[0]), n_components=3, random_state=0)
    assert plain.lower_bounds_ == ones.lower_bounds_
    np.testing.assert_array_equal(plain.means_, ones.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_translation_by_1e6_leaves_the_bound_unchanged(covariance_type):
    X, _ = datasets.make_blobs(n_samples=600, n_features=3, centers=3, random_state=5)
    params = dict(n_components=3, covariance_type=covariance_type, init_params="random", random_state=0,
                  tol=0.0, max_iter=20)
    base = _fit(fastem.BayesianGaussianMixture, X, **params)
    shifted = _fit(fastem.BayesianGaussianMixture, X + 1e6, **params)
    np.testing.assert_allclose(shifted.lower_bounds_, base.lower_bounds_, rtol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_far_points_threads_and_fit_predict(covariance_type):
    X, _ = datasets.make_blobs(n_samples=30_000, n_features=3, centers=3, random_state=6)
    X32 = X.astype(np.float32)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0, max_iter=15)
    one = _fit(fastem.BayesianGaussianMixture, X32, n_threads=1, **params)
    two = _fit(fastem.BayesianGaussianMixture, X32, n_threads=2, **params)
    assert one.means_.dtype == np.float32
    assert one.lower_bounds_ == two.lower_bounds_
    np.testing.assert_array_equal(one.covariances_, two.covariances_)
    resp = one.predict_proba(np.array([[1e30, -1e30, 0.0]], dtype=np.float32))
    assert np.all(np.isfinite(resp)) and resp.sum() == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = fastem.BayesianGaussianMixture(**params).fit_predict(X32)
    np.testing.assert_array_equal(labels, one.predict(X32))


@pytest.mark.parametrize(
    "params",
    [
        dict(degrees_of_freedom_prior=1.0),
        dict(mean_prior=[0.0, 0.0]),
        dict(covariance_prior=np.eye(2)),
        dict(covariance_prior=-np.eye(4)),
        dict(covariance_prior=np.ones(3), covariance_type="diag"),
        dict(covariance_prior=-np.ones(4), covariance_type="diag"),
        dict(weight_concentration_prior=-1.0),
        dict(weight_concentration_prior_type="beta"),
        dict(mean_precision_prior=0.0),
    ],
)
def test_bad_hyperparameters_raise_like_sklearn(params):
    X = datasets.load_iris().data
    with pytest.raises(ValueError) as reference:
        mixture.BayesianGaussianMixture(n_components=2, **params).fit(X)
    with pytest.raises(ValueError) as ours:
        fastem.BayesianGaussianMixture(n_components=2, **params).fit(X)
    assert type(ours.value) is type(reference.value)
    if "must be" not in str(reference.value):  # parameter-validation messages list option sets in any order
        assert str(ours.value) == str(reference.value)


@parametrize_with_checks([unsupervised.BayesianGaussianMixture(),
                          unsupervised.BayesianGaussianMixture(covariance_type="spherical")])
def test_check_estimator(estimator, check):
    check(estimator)
