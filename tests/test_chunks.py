"""fit_chunks: exact EM over data read piece by piece; fit on a read-only memmap."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(n=3000, seed=0):
    X, _ = make_blobs(n_samples=n, n_features=3, centers=3, cluster_std=1.5, random_state=seed)
    return X


def _chunker(X, size):
    return lambda: (X[start : start + size] for start in range(0, X.shape[0], size))


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


ESTIMATORS = {
    "ml": lambda **kw: fastem.GaussianMixture(3, **kw),
    "map": lambda **kw: fastem.GaussianMixture(3, prior="default", **kw),
    "vb": lambda **kw: fastem.BayesianGaussianMixture(n_components=3, **kw),
}


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_fit_chunks_equals_fit_on_concatenated_data(kind, covariance_type, init_params):
    X = _data()
    params = dict(covariance_type=covariance_type, init_params=init_params, random_state=0, tol=0.0, max_iter=25)
    whole = _quiet(ESTIMATORS[kind](**params).fit, X)
    # 512-row chunks follow the block grid of d <= 4; the last chunk is partial.
    chunked = _quiet(ESTIMATORS[kind](**params).fit_chunks, _chunker(X, 512))
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10, atol=1e-12)
    assert chunked.n_features_in_ == 3
    np.testing.assert_allclose(chunked.predict_proba(X), whole.predict_proba(X), atol=1e-10)


def test_fit_chunks_with_uneven_chunks_and_float32():
    X = _data(seed=1).astype(np.float32)
    whole = _quiet(fastem.GaussianMixture(3, random_state=0).fit, X)
    chunked = _quiet(fastem.GaussianMixture(3, random_state=0).fit_chunks, _chunker(X, 777))
    assert chunked.means_.dtype == np.float32
    assert chunked.n_iter_ == whole.n_iter_
    # Float32 data: the passes multiply in float32, on blocks cut where the chunks end.
    np.testing.assert_allclose(chunked.lower_bound_, whole.lower_bound_, rtol=1e-6)


def test_initialization_draws_from_the_first_chunks():
    X = _data(n=250_000, seed=2)
    model = _quiet(fastem.GaussianMixture(3, random_state=0, max_iter=0).fit_chunks, _chunker(X, 50_000))
    sample_fit = _quiet(fastem.GaussianMixture(3, random_state=0, max_iter=0).fit, X[:100_000])
    np.testing.assert_allclose(model.means_, sample_fit.means_, rtol=1e-12)


@pytest.mark.parametrize(
    "chunks, error, message",
    [
        (lambda: iter([np.zeros((5, 3)), np.zeros((5, 4))]), ValueError, "chunk 1 has 4 features"),
        (lambda: iter([np.ones((5, 3)), np.array([[np.nan, 0.0, 0.0]])]), ValueError, "chunk 1 contains NaN"),
        (lambda: iter([]), ValueError, "empty"),
        (lambda: iter([np.ones(3)]), ValueError, "2D array"),
        (np.ones((5, 3)), TypeError, "callable"),
    ],
)
def test_bad_chunks(chunks, error, message):
    with pytest.raises(error, match=message):
        fastem.GaussianMixture(2).fit_chunks(chunks)


def test_fit_on_read_only_memmap_equals_in_memory(tmp_path):
    X = _data(n=20_000, seed=3)
    path = tmp_path / "data.f64"
    X.tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    assert not mapped.flags.writeable
    on_disk = _quiet(fastem.GaussianMixture(3, random_state=0).fit, mapped)
    in_memory = _quiet(fastem.GaussianMixture(3, random_state=0).fit, X)
    assert on_disk.lower_bounds_ == in_memory.lower_bounds_
    np.testing.assert_array_equal(on_disk.means_, in_memory.means_)
    np.testing.assert_array_equal(on_disk.predict(mapped), in_memory.predict(X))
