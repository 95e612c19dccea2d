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


INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_initialization_over_all_chunks_equals_in_memory(init_params, covariance_type):
    # More rows than any sample: the initialization runs over every chunk, with the
    # in-memory fit's random draws (tied: with scikit-learn's term for unassigned rows).
    X = _data(n=300_000, seed=2)
    params = dict(init_params=init_params, covariance_type=covariance_type, random_state=0, tol=0.0, max_iter=3)
    whole = _quiet(fastem.GaussianMixture(3, **params).fit, X)
    chunked = _quiet(fastem.GaussianMixture(3, **params).fit_chunks, _chunker(X, 70_001))
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10, atol=1e-12)


def test_chunks_that_change_between_passes_are_an_error():
    X = _data()
    calls = []

    def chunks():
        calls.append(1)
        size = 1000 if len(calls) == 1 else 999
        return (X[start : start + size] for start in range(0, X.shape[0], size))

    with pytest.raises(ValueError, match="chunk 0 changed between passes"):
        _quiet(fastem.GaussianMixture(3, random_state=0).fit_chunks, chunks)


@pytest.mark.parametrize(
    "chunks, error, message",
    [
        (lambda: iter([np.zeros((5, 3)), np.zeros((5, 4))]), ValueError, "chunk 1 has 4 features"),
        (lambda: iter([np.ones((5, 3)), np.array([[np.inf, 0.0, 0.0]])]), ValueError,
         "chunk 1 holds inf in row 0, column 0"),
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
