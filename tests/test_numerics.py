"""Numerical soundness where scikit-learn's formulas lose precision."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(seed=0, n=2000, d=3, k=3):
    X, _ = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=1.0, center_box=(-5, 5), random_state=seed)
    return X


def _start(X, covariance_type):
    """A fixed starting point, so that only the EM iterations are compared."""
    rng = np.random.default_rng(0)
    means = X[rng.choice(X.shape[0], 3, replace=False)]
    precisions = {
        "full": np.stack([np.eye(3)] * 3),
        "tied": np.eye(3),
        "diag": np.ones((3, 3)),
        "spherical": np.ones(3),
    }[covariance_type]
    return dict(weights_init=np.full(3, 1 / 3), means_init=means, precisions_init=precisions)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_translation_by_1e6_leaves_the_bound_unchanged(covariance_type):
    X = _data()
    start = _start(X, covariance_type)
    params = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=30)
    base = fastem.GaussianMixture(**start, **params)
    start["means_init"] = start["means_init"] + 1e6
    shifted = fastem.GaussianMixture(**start, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base.fit(X)
        shifted.fit(X + 1e6)
    np.testing.assert_allclose(shifted.lower_bound_, base.lower_bound_, rtol=1e-6)
    np.testing.assert_allclose(shifted.lower_bounds_, base.lower_bounds_, rtol=1e-6)
    np.testing.assert_allclose(shifted.covariances_, base.covariances_, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_float32_variances_never_negative(covariance_type):
    # A tight cluster far from the origin: E[x^2] - mu^2 cancels in float32.
    rng = np.random.default_rng(0)
    X = (1e4 + rng.normal(scale=1e-3, size=(3000, 2))).astype(np.float32)
    X[1500:] += 10.0
    model = fastem.GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0, random_state=0).fit(X)
    assert model.covariances_.dtype == np.float32
    assert np.all(model.covariances_ > 0.0)
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_point_probabilities_are_finite_and_sum_to_one(covariance_type):
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(_data())
    far = np.array([[1e150, 1e150, 1e150], [-1e150, 0.0, 1e150]])
    resp = model.predict_proba(far)
    assert np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.score_samples(far)))
    assert model.predict(far).shape == (2,)


def test_collapsed_data_without_regularization_raises_sklearn_error():
    X = np.repeat(np.array([[1.0, 2.0], [3.0, 4.0]]), 10, axis=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        fastem.GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)


def test_float32_ill_defined_message_mentions_float64():
    X = np.repeat(np.array([[1.0, 2.0], [3.0, 4.0]]), 10, axis=0).astype(np.float32)
    with pytest.raises(ValueError, match="passing float64"):
        fastem.GaussianMixture(2, covariance_type="diag", reg_covar=0.0, random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fit_agrees_with_float64_fit_to_float32_precision(covariance_type):
    # Float32 data run the statistics' products in float32 (fastem._kernels._pass,
    # SINGLE_LIMIT). On separated clusters, where EM's path is insensitive to
    # rounding, the fitted model is the float64 fit's to float32 precision.
    X, _ = make_blobs(n_samples=20_000, n_features=5, centers=4, cluster_std=1.0, center_box=(-10, 10), random_state=3)
    X32 = X.astype(np.float32)
    single = fastem.GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X32)
    double = fastem.GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X32.astype(np.float64))
    assert single.means_.dtype == np.float32
    assert single.n_iter_ == double.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        got, want = getattr(single, name), getattr(double, name)
        # Normwise: within ~100 float32 units of the largest entry, the rounding of
        # clusters ~10 standard deviations from the reference (~eps32 * 10^2). Measured
        # 1e-6 with OpenBLAS's AVX-512 float32 kernels, 5.9e-6 (covariances_) with its
        # Haswell kernels, which sum the products in another order.
        assert np.max(np.abs(got - want)) <= 1.2e-5 * np.max(np.abs(want)), name
    np.testing.assert_allclose(single.lower_bound_, double.lower_bound_, rtol=1e-6)
    np.testing.assert_array_equal(single.predict(X32), double.predict(X32))


@pytest.mark.parametrize("estimator", ["ml", "bayesian"])
def test_float32_fit_resolves_a_tolerance_finer_than_float32(estimator):
    # Float32 products resolve a bound to ~1e-6 of its magnitude: a variational
    # bound summed over 20,000 rows (~1e5) to ~0.1, far above tol=1e-3, and any
    # bound to below tol=1e-9. The last iterations then run in float64 products
    # (fastem._base._float32_refinement), so the fit converges as in float64.
    X, _ = make_blobs(n_samples=20_000, n_features=5, centers=4, cluster_std=1.0, center_box=(-10, 10), random_state=3)
    if estimator == "ml":
        tol = 1e-9
        make = lambda: fastem.GaussianMixture(4, tol=tol, max_iter=200, random_state=0)  # noqa: E731
    else:
        tol = 1e-3
        make = lambda: fastem.BayesianGaussianMixture(n_components=4, max_iter=200, random_state=0)  # noqa: E731
    single, double = make().fit(X.astype(np.float32)), make().fit(X.astype(np.float32).astype(np.float64))
    assert single.converged_ and double.converged_
    assert single.n_iter_ <= double.n_iter_ + 3
    # Both stop at their first change below tol, from paths that differ by
    # float32 rounding: the bounds agree to about tol (float32 products alone
    # would leave them ~1e-6 relative apart: 0.08 for the ELBO of ~8e4).
    assert abs(single.lower_bound_ - double.lower_bound_) <= 2 * tol
    for name in ("weights_", "means_", "covariances_"):
        got, want = getattr(single, name), getattr(double, name)
        # ~100 float32 units, as in test_float32_fit_agrees_with_float64_fit_to_float32_precision.
        assert np.max(np.abs(got - want)) <= 1.2e-5 * np.max(np.abs(want)), name
