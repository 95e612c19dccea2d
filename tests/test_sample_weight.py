"""Sample weights: an integer weight w is w copies of the row."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import _small

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(seed=0, n=300):
    X, _ = make_blobs(n_samples=n, n_features=2, centers=3, cluster_std=1.5, random_state=seed)
    return X


def _start(X, covariance_type):
    """A fixed starting point: k-means on weighted rows is not k-means on copies."""
    precisions = {"full": np.stack([np.eye(2)] * 3), "tied": np.eye(2), "diag": np.ones((3, 2)), "spherical": np.ones(3)}
    return dict(weights_init=np.full(3, 1 / 3), means_init=X[[0, 100, 200]], precisions_init=precisions[covariance_type])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = _data()
    weights = np.random.default_rng(0).integers(0, 4, size=X.shape[0])
    repeated = np.repeat(X, weights, axis=0)
    params = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=15, **_start(X, covariance_type))
    with pytest.warns(ConvergenceWarning):
        weighted = fastem.GaussianMixture(**params).fit(X, sample_weight=weights)
    with pytest.warns(ConvergenceWarning):
        copies = fastem.GaussianMixture(**params).fit(repeated)
    np.testing.assert_allclose(weighted.lower_bounds_, copies.lower_bounds_, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(copies, name), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("compiled", [True, False], ids=["whole-fit-compiled", "python-loop"])
def test_unit_weights_equal_no_weights_bitwise(monkeypatch, compiled):
    X = _data(1)
    if not compiled:
        monkeypatch.setattr(_small, "MAX_WORK", -1)
    plain = fastem.GaussianMixture(3, random_state=0).fit(X)
    ones = fastem.GaussianMixture(3, random_state=0).fit(X, sample_weight=np.ones(X.shape[0]))
    assert plain.lower_bounds_ == ones.lower_bounds_
    np.testing.assert_array_equal(plain.means_, ones.means_)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_weighted_fit_with_every_init(init_params):
    X = _data(2)
    weights = np.random.default_rng(1).uniform(0.0, 2.0, size=X.shape[0])
    model = fastem.GaussianMixture(3, init_params=init_params, random_state=0)
    labels = model.fit_predict(X, sample_weight=weights)
    assert np.isfinite(model.lower_bound_)
    np.testing.assert_array_equal(labels, model.predict(X))


def test_weights_scale_invariance():
    X = _data(3)
    weights = np.random.default_rng(2).uniform(0.5, 1.5, size=X.shape[0])
    a = fastem.GaussianMixture(3, **_start(X, "full")).fit(X, sample_weight=weights)
    b = fastem.GaussianMixture(3, **_start(X, "full")).fit(X, sample_weight=weights * 8.0)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-10)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.zeros(300), "non-zero|positive sum"),
        (-np.ones(300), "Negative values"),
        (np.full(300, np.nan), "NaN"),
        (np.full(300, np.inf), "infinity"),
        (np.ones(299), r"sample_weight.shape == \(299,\), expected \(300,\)"),
        (np.ones((300, 2)), "1D array or scalar"),
    ],
)
def test_bad_weights_raise_clear_errors(weights, message):
    with pytest.raises(ValueError, match=message):
        fastem.GaussianMixture(3).fit(_data(), sample_weight=weights)
