"""Properties every fit must have, whatever the data and settings."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(seed, n=400, d=3, k=3, dtype=np.float64):
    X, _ = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=2.0, random_state=seed)
    return X.astype(dtype)


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fastem.GaussianMixture(**params).fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", range(8))
def test_log_likelihood_never_decreases(covariance_type, seed, dtype):
    # With reg_covar=0 every M-step maximizes the expected complete-data
    # log-likelihood exactly, so EM cannot decrease the log-likelihood: by
    # no more than its rounding, which for float32 data (float32 products)
    # is float32's.
    X = _data(seed, k=4, dtype=dtype)
    model = _fit(X, n_components=4, covariance_type=covariance_type, reg_covar=0.0, tol=0.0, max_iter=60,
                 init_params="random", random_state=seed)
    bounds = np.asarray(model.lower_bounds_)
    assert len(bounds) == 60
    rounding = 1e-12 if dtype == np.float64 else 1e-6
    assert np.all(np.diff(bounds) >= -rounding * np.abs(bounds[1:])), (np.diff(bounds) / np.abs(bounds[1:])).min()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_responsibilities_sum_to_one(covariance_type):
    X = _data(1)
    model = _fit(X, n_components=3, covariance_type=covariance_type, random_state=0)
    resp = model.predict_proba(np.vstack([X, X * 50.0]))
    assert np.all(resp >= 0.0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_fit_predict_equals_fit_then_predict(covariance_type, init_params):
    X = _data(2)
    params = dict(n_components=3, covariance_type=covariance_type, init_params=init_params, random_state=4, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = fastem.GaussianMixture(**params).fit_predict(X)
    np.testing.assert_array_equal(labels, _fit(X, **params).predict(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bitwise_identical_for_one_and_two_threads(covariance_type, dtype):
    # 60,000 rows make 118 blocks in 29 groups: both threads get work. (And
    # every covariance type takes the pass on two threads: fewer rows of diag
    # would be fitted whole by the compiled small-problem fit, one thread each.)
    X = _data(3, n=60_000, d=4, k=5, dtype=dtype)
    params = dict(n_components=5, covariance_type=covariance_type, random_state=0, max_iter=20, tol=0.0)
    one = _fit(X, n_threads=1, **params)
    two = _fit(X, n_threads=2, **params)
    assert one.lower_bounds_ == two.lower_bounds_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))


def test_same_inputs_same_result_on_repeat():
    X = _data(4, n=5000)
    first = _fit(X, n_components=3, random_state=1)
    second = _fit(X, n_components=3, random_state=1)
    assert first.lower_bounds_ == second.lower_bounds_
    np.testing.assert_array_equal(first.means_, second.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_caller_arrays_are_not_changed(covariance_type):
    X = _data(5)
    weights = np.linspace(0.5, 2.0, X.shape[0])
    means = X[:3].copy()
    X_before, weights_before, means_before = X.copy(), weights.copy(), means.copy()
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, means_init=means, random_state=0)
    model.fit(X, sample_weight=weights)
    model.predict_proba(X)
    model.score_samples(X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(weights, weights_before)
    np.testing.assert_array_equal(means, means_before)
    assert model.means_init is means


def test_thread_count_is_restored():
    from fastem import _threads

    before = _threads.current_threads()
    with _threads.thread_limit(1):
        assert _threads.current_threads() == 1
        _fit(_data(6, n=60_000, d=4, k=5), n_components=5, max_iter=2)  # the pass's own limit, then this one's
        assert _threads.current_threads() == 1
    assert _threads.current_threads() == before


def test_thread_limit_restores_the_count_when_the_pass_or_the_blas_limit_fails(monkeypatch):
    from fastem import _threads

    before = _threads.current_threads()
    with pytest.raises(RuntimeError, match="in the pass"):
        with _threads.thread_limit(1):
            assert _threads.current_threads() == 1
            raise RuntimeError("in the pass")
    assert _threads.current_threads() == before

    def failing():
        raise RuntimeError("no BLAS limit")

    monkeypatch.setattr(_threads, "single_threaded_blas", failing)
    with pytest.raises(RuntimeError, match="no BLAS limit"):
        with _threads.thread_limit(1):
            pass
    assert _threads.current_threads() == before


def test_concurrent_fits_from_threads_agree_with_serial():
    from concurrent.futures import ThreadPoolExecutor

    datasets = [_data(seed, n=3000) for seed in range(6)]
    serial = [_fit(X, n_components=3, random_state=0).means_ for X in datasets]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(lambda X: _fit(X, n_components=3, random_state=0).means_, datasets))
    for a, b in zip(serial, concurrent):
        np.testing.assert_array_equal(a, b)
