"""End to end: the same random_state gives scikit-learn's fit."""

import warnings

import numpy as np
import pytest
from sklearn import datasets, mixture
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import fastem

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _blobs(n=600, d=3, k=3, seed=0):
    X, _ = datasets.make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=1.5, random_state=seed)
    return X


DATASETS = {
    "iris": lambda: (datasets.load_iris().data, 3),
    "wine": lambda: (StandardScaler().fit_transform(datasets.load_wine().data), 3),
    "breast_cancer": lambda: (StandardScaler().fit_transform(datasets.load_breast_cancer().data)[:, :8], 2),
    "blobs": lambda: (_blobs(), 3),
}


def _fit_both(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = fastem.GaussianMixture(**params).fit(X)
        reference = mixture.GaussianMixture(**params).fit(X)
    return ours, reference


def _assert_same_fit(ours, reference, rtol=1e-6, path_rtol=1e-6, param_rtol=1e-4):
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=rtol)
    np.testing.assert_allclose(ours.lower_bounds_, reference.lower_bounds_, rtol=path_rtol)
    np.testing.assert_allclose(ours.weights_, reference.weights_, rtol=param_rtol, atol=1e-8)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=param_rtol, atol=1e-6)
    np.testing.assert_allclose(ours.covariances_, reference.covariances_, rtol=param_rtol, atol=1e-6)
    np.testing.assert_allclose(ours.precisions_cholesky_, reference.precisions_cholesky_, rtol=10 * param_rtol, atol=1e-4)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(ours, name).shape == getattr(reference, name).shape
        assert getattr(ours, name).dtype == getattr(reference, name).dtype


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_same_fit_as_sklearn(dataset, covariance_type, init_params):
    X, k = DATASETS[dataset]()
    ours, reference = _fit_both(X, n_components=k, covariance_type=covariance_type, init_params=init_params, random_state=0)
    # k-means++ and random_from_data start every component from one point, so
    # the initial diagonal variances are reg_covar alone. scikit-learn's
    # diagonal M-step, E[x^2] - mu^2 with N padded by 10 eps, adds
    # 10 eps mu^2 / N to each variance (a term that also makes it depend on
    # where the origin is); fastem does not. From a 1e-6 variance that shifts
    # the first bounds and the parameters by up to ~1e-4 relative; the final
    # bound still agrees to 1e-6.
    singleton_start = covariance_type in ("diag", "spherical") and init_params in ("k-means++", "random_from_data")
    tolerance = 1e-3 if singleton_start else 1e-5
    _assert_same_fit(ours, reference, path_rtol=tolerance, param_rtol=10 * tolerance)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))
    np.testing.assert_allclose(ours.score_samples(X), reference.score_samples(X), rtol=tolerance)
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=tolerance)
    np.testing.assert_allclose(ours.bic(X), reference.bic(X), rtol=1e-6)
    np.testing.assert_allclose(ours.aic(X), reference.aic(X), rtol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_picks_the_same_restart(covariance_type):
    X = _blobs(n=400, k=4, seed=5)
    ours, reference = _fit_both(X, n_components=4, covariance_type=covariance_type, n_init=4, random_state=7)
    assert ours.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-6)
    # Restarts that reach the same optimum with the components in another
    # order tie to rounding; either may be kept. Compare up to that order.
    order, their_order = np.lexsort(ours.means_.T), np.lexsort(reference.means_.T)
    np.testing.assert_allclose(ours.weights_[order], reference.weights_[their_order], rtol=1e-4)
    np.testing.assert_allclose(ours.means_[order], reference.means_[their_order], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_user_initial_parameters(covariance_type):
    X = _blobs(seed=2)
    rng = np.random.default_rng(0)
    means = X[rng.choice(X.shape[0], 3, replace=False)]
    precisions = {
        "full": np.stack([np.eye(3)] * 3),
        "tied": np.eye(3) * 2.0,
        "diag": np.ones((3, 3)),
        "spherical": np.ones(3) * 0.5,
    }[covariance_type]
    for kwargs in (
        dict(means_init=means),
        dict(weights_init=[0.2, 0.3, 0.5], means_init=means, precisions_init=precisions),
        dict(precisions_init=precisions),
    ):
        ours, reference = _fit_both(X, n_components=3, covariance_type=covariance_type, random_state=1, **kwargs)
        _assert_same_fit(ours, reference)


def test_warm_start_continues_like_sklearn():
    X = _blobs(n=500, k=3, seed=9)
    params = dict(n_components=3, max_iter=2, warm_start=True, random_state=3, tol=0.0)
    ours, reference = fastem.GaussianMixture(**params), mixture.GaussianMixture(**params)
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(X)
            reference.fit(X)
        _assert_same_fit(ours, reference)


def test_float32_keeps_dtype_and_agrees_to_float32_precision():
    X = _blobs(n=800, d=4, seed=4).astype(np.float32)
    ours, reference = _fit_both(X, n_components=3, random_state=0)
    assert ours.means_.dtype == np.float32
    assert ours.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-5)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-4, atol=1e-4)
    assert ours.predict_proba(X).dtype == np.float32
    assert ours.score_samples(X).dtype == np.float32


def test_max_iter_zero_keeps_initialization_without_warning():
    X = _blobs(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = fastem.GaussianMixture(3, max_iter=0, random_state=0).fit(X)
        reference = mixture.GaussianMixture(3, max_iter=0, random_state=0).fit(X)
    assert ours.n_iter_ == 0 and not ours.converged_ and ours.lower_bound_ == -np.inf
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-10)


def test_convergence_warning_text_matches():
    X = _blobs(seed=3)
    with pytest.warns(ConvergenceWarning) as ours:
        fastem.GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning) as reference:
        mixture.GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    assert str(ours[0].message) == str(reference[0].message)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_matches_sklearn(covariance_type):
    X = _blobs(seed=6)
    ours, reference = _fit_both(X, n_components=3, covariance_type=covariance_type, random_state=2)
    # Same parameters, so the same draws from the same seed.
    for name in ("weights_", "means_", "covariances_"):
        setattr(reference, name, getattr(ours, name))
    drawn, labels = ours.sample(50)
    expected, expected_labels = reference.sample(50)
    np.testing.assert_allclose(drawn, expected, rtol=1e-12)
    np.testing.assert_array_equal(labels, expected_labels)


def test_verbose_output_matches(capsys):
    X = _blobs(seed=8)
    params = dict(n_components=3, verbose=1, verbose_interval=1, random_state=0)
    fastem.GaussianMixture(**params).fit(X)
    ours = capsys.readouterr().out
    mixture.GaussianMixture(**params).fit(X)
    assert ours == capsys.readouterr().out


@pytest.mark.parametrize("covariance_type", ["spherical", "diag"])
def test_collapsed_component_without_reg_covar_fits_on_as_in_sklearn(covariance_type):
    # scikit-learn's issue #18216: two components start on single points with
    # reg_covar=0. scikit-learn's E[x^2] - mu^2 with padded counts leaves them a
    # variance of ~10 eps x^2 and it fits on; fastem's scatter about the mean is
    # exactly zero there and takes that variance (fastem.gaussian.moments).
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 3))
    means = X[[3, 17, 5, 9, 20, 11]] + np.array([[0.0], [0.0], [0.05], [0.05], [0.1], [0.1]])
    precisions = np.array([1e6, 1e6, 553.76, 204.79, 15.87, 85.46])
    if covariance_type == "diag":
        precisions = np.repeat(precisions[:, None], 3, axis=1)
    params = dict(n_components=6, covariance_type=covariance_type, reg_covar=0, max_iter=1, random_state=0,
                  weights_init=np.full(6, 1 / 6), means_init=means, precisions_init=precisions)
    ours, reference = _fit_both(X, **params)
    assert not ours.converged_ and ours.n_iter_ == 1
    np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-12)
    collapsed = reference.covariances_ < 1e-12
    assert collapsed.any() and (ours.covariances_ > 0).all()
    # Elsewhere the same variances (to scikit-learn's cancellation, eps x^2 / var ~ 1e-10
    # here); on the collapsed entries scikit-learn's carry rounding noise of their
    # own size, so only the scale is compared.
    np.testing.assert_allclose(ours.covariances_[~collapsed], reference.covariances_[~collapsed], rtol=1e-8)
    ratio = ours.covariances_[collapsed] / reference.covariances_[collapsed]
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio
    assert np.isfinite(ours.score_samples(X)).all()


def test_component_collapsed_on_the_origin_raises_as_in_sklearn():
    # There E[x^2] - mu^2 is zero in both libraries: no positive variance to fit on.
    rng = np.random.RandomState(0)
    X = np.vstack([np.zeros((1, 2)), rng.uniform(1.0, 2.0, size=(29, 2))])
    params = dict(n_components=2, covariance_type="diag", reg_covar=0, max_iter=1,
                  weights_init=[0.5, 0.5], means_init=[[0.0, 0.0], [1.5, 1.5]], precisions_init=[[1e8, 1e8], [3.0, 3.0]])
    for estimator in (mixture.GaussianMixture(**params), fastem.GaussianMixture(**params)):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            estimator.fit(X)
