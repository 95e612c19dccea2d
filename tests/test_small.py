"""Small problems fitted whole in compiled code (fastem._small) against the Python path.

The Python path (fastem.gaussian's updates, fastem._kmeans, the driver
loop) is the compiled whole fit's slow twin; scikit-learn is the reference
for both.
"""

import warnings

import numpy as np
import pytest
from sklearn import datasets, mixture
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import fastem
from fastem import _small
from fastem._kernels import _small as kernels
from fastem._kernels import _update
from fastem._source import readonly
from fastem.cli import make_workload

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

DATASETS = {
    "iris": lambda: (datasets.load_iris().data, 3),
    "wine": lambda: (StandardScaler().fit_transform(datasets.load_wine().data), 3),
    "one_feature": lambda: (make_workload(700, 1, 3, seed=1)[0], 3),
    "one_component": lambda: (make_workload(400, 3, 1, seed=2)[0], 1),
    "far_from_origin": lambda: (make_workload(1_500, 3, 4, seed=3)[0] + 1e4, 4),
    "many_components": lambda: (make_workload(1_200, 4, 9, seed=4)[0], 9),
}


def _fit(X, python_path=False, sample_weight=None, **params):
    """A fastem fit through the compiled whole fit, or forced through the Python path."""
    model = fastem.GaussianMixture(**params)
    compiled = model._fits_whole_in_compiled_code() and _small.data_qualify(np.asarray(X, dtype=np.float64),
                                                                      model.n_components, model.covariance_type)
    assert compiled or python_path, "these tests need problems the compiled whole fit takes"
    previous = _small.MAX_WORK
    _small.MAX_WORK = -1 if python_path else previous
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(X, sample_weight=sample_weight)
    finally:
        _small.MAX_WORK = previous


def test_whole_fit_is_taken_for_small_problems_only():
    model = fastem.GaussianMixture(3)
    small, large = np.zeros((100, 2)), np.zeros((200_000, 8))
    assert model._fits_whole_in_compiled_code()
    assert _small.data_qualify(small, 3, "full")
    assert not _small.data_qualify(large, 3, "full")
    assert not _small.data_qualify(small.astype(np.float32), 3, "full")
    for params in (dict(init_params="random"), dict(prior="default"), dict(verbose=1), dict(max_iter=0),
                   dict(means_init=np.zeros((3, 2)))):
        assert not fastem.GaussianMixture(3, **params)._fits_whole_in_compiled_code()
    assert not fastem.BayesianGaussianMixture(n_components=3)._fits_whole_in_compiled_code()


@pytest.mark.parametrize("n_clusters", [1, 2, 3, 8, 20])  # 20: above MASKED_SUMS_MAX_CLUSTERS, the other way to sum
@pytest.mark.parametrize("name", ["iris", "wine", "one_feature", "far_from_origin"])
def test_compiled_kmeans_labels_match_sklearn(name, n_clusters):
    X = np.ascontiguousarray(DATASETS[name]()[0])
    labels = np.empty(X.shape[0], dtype=np.int64)
    for seed in range(3):
        draws = _small.kmeans_draws(np.random.RandomState(seed), 1, n_clusters)[0]
        distinct = kernels.kmeans_labels(X, 0, X.shape[0], X.mean(axis=0), np.ones(X.shape[0]), n_clusters, draws,
                                         labels, 300, 1e-4)
        expected = KMeans(n_clusters, n_init=1, random_state=seed).fit(X).labels_
        np.testing.assert_array_equal(labels, expected)
        assert distinct == len(np.unique(expected))


@pytest.mark.parametrize("n_clusters", [2, 3, 8, 20])
@pytest.mark.parametrize("name", ["iris", "wine", "far_from_origin"])
def test_compiled_weighted_kmeans_labels_match_sklearn(name, n_clusters):
    X = np.ascontiguousarray(DATASETS[name]()[0])
    weights = np.random.default_rng(n_clusters).uniform(0.0, 3.0, size=X.shape[0])
    weights[::7] = 0.0
    labels = np.empty(X.shape[0], dtype=np.int64)
    for seed in range(3):
        draws = _small.kmeans_draws(np.random.RandomState(seed), 1, n_clusters)[0]
        kernels.kmeans_labels(X, 0, X.shape[0], X.mean(axis=0), weights, n_clusters, draws, labels, 300, 1e-4)
        expected = KMeans(n_clusters, n_init=1, random_state=seed).fit(X, sample_weight=weights).labels_
        np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_whole_fit_equals_the_python_path(name, covariance_type, weighted):
    X, k = DATASETS[name]()
    weights = np.random.default_rng(1).uniform(0.2, 2.0, size=X.shape[0]) if weighted else None
    params = dict(n_components=k, covariance_type=covariance_type, random_state=0)
    ours = _fit(X, sample_weight=weights, **params)
    twin = _fit(X, python_path=True, sample_weight=weights, **params)
    assert ours.n_iter_ == twin.n_iter_ and ours.converged_ == twin.converged_
    np.testing.assert_allclose(ours.lower_bounds_, twin.lower_bounds_, rtol=1e-11)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        a, b = getattr(ours, name), getattr(twin, name)
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * np.abs(b).max())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parallel_restarts_give_the_sequential_result(covariance_type, monkeypatch):
    monkeypatch.setattr(_small, "PARALLEL_MIN_ROWS", 0)  # two threads even for this small problem
    X = make_workload(3_000, 2, 4, seed=5)[0]
    params = dict(n_components=4, covariance_type=covariance_type, n_init=5)
    state = np.random.RandomState(7)
    one = _fit(X, n_threads=1, random_state=np.random.RandomState(7), **params)
    two = _fit(X, n_threads=2, random_state=state, **params)
    assert one.lower_bounds_ == two.lower_bounds_
    np.testing.assert_array_equal(one.means_, two.means_)
    np.testing.assert_array_equal(one.covariances_, two.covariances_)
    sequential_state = np.random.RandomState(7)
    sequential = _fit(X, python_path=True, random_state=sequential_state, **params)
    np.testing.assert_allclose(two.lower_bounds_, sequential.lower_bounds_, rtol=1e-11)
    # Every restart drew its seeding: the state is where the sequential restarts leave it.
    assert state.randint(1 << 30) == sequential_state.randint(1 << 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = mixture.GaussianMixture(**params, random_state=7).fit(X)
    np.testing.assert_allclose(two.lower_bound_, reference.lower_bound_, rtol=1e-10)


def test_singular_covariance_fails_like_the_python_path():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 30, axis=0)
    params = dict(n_components=3, reg_covar=0.0, random_state=0)
    for python_path in (False, True):
        previous = _small.MAX_WORK
        _small.MAX_WORK = -1 if python_path else previous
        try:
            with pytest.warns(ConvergenceWarning, match="distinct clusters"):
                with pytest.raises(ValueError, match="ill-defined empirical covariance"):
                    fastem.GaussianMixture(**params).fit(X)
        finally:
            _small.MAX_WORK = previous


def test_duplicate_rows_warn_and_fit_like_sklearn():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 30, axis=0)
    with pytest.warns(ConvergenceWarning) as ours_caught:
        ours = fastem.GaussianMixture(3, random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning) as their_caught:
        reference = mixture.GaussianMixture(3, random_state=0).fit(X)
    assert sorted(str(w.message) for w in ours_caught) == sorted(str(w.message) for w in their_caught)
    np.testing.assert_allclose(ours.lower_bounds_, reference.lower_bounds_, rtol=1e-6)


def test_not_converged_warns():
    X = make_workload(2_000, 3, 5, seed=7)[0]
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = fastem.GaussianMixture(5, max_iter=2, tol=0.0, random_state=0).fit(X)
    assert model.n_iter_ == 2 and not model.converged_ and len(model.lower_bounds_) == 2


def test_fit_many_isolates_a_singular_problem():
    problems = [make_workload(300, 2, 3, seed=s)[0] for s in range(4)]
    problems[2] = np.repeat(problems[2][:2], 150, axis=0)
    estimator = fastem.GaussianMixture(3, reg_covar=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = fastem.fit_many(problems, estimator, errors="collect")
        with pytest.raises(ValueError, match="problem 2 failed: Fitting the mixture model failed"):
            fastem.fit_many(problems, estimator)
    assert isinstance(results[2], ValueError)
    for index in (0, 1, 3):
        alone = clone(estimator).fit(problems[index])
        assert results[index].lower_bounds_ == alone.lower_bounds_


def test_fit_many_random_state_instance_is_copied_per_problem():
    problems = [make_workload(400, 2, 3, seed=s)[0] for s in range(3)]
    state = np.random.RandomState(3)
    before = state.get_state()[1].copy()
    estimator = fastem.GaussianMixture(3, n_init=2, random_state=state)
    models = fastem.fit_many(problems, estimator)
    np.testing.assert_array_equal(state.get_state()[1], before)
    for X, model in zip(problems, models):
        alone = clone(estimator).fit(X)
        assert model.lower_bounds_ == alone.lower_bounds_
        assert model.random_state is not state
    assert all(m.lower_bound_ > -np.inf for m in fastem.fit_many(problems, fastem.GaussianMixture(3)))


def test_empty_cluster_relocation_matches_the_python_path():
    from fastem._blocks import memory_blocks
    from fastem._kmeans import BlockKMeans

    rng = np.random.default_rng(8)
    X = rng.normal(size=(50, 3))
    mean = X.mean(axis=0)
    centers = rng.normal(size=(4, 3))
    labels = rng.integers(0, 3, size=50)  # cluster 3 is empty
    sums = np.zeros((4, 3))
    np.add.at(sums, labels, X - mean)
    counts = np.bincount(labels, minlength=4).astype(float)
    expected_sums, expected_counts = sums.copy(), counts.copy()
    BlockKMeans(memory_blocks(X), 4).relocate_empty_clusters(mean, centers, expected_sums, expected_counts, [labels])
    kernels._relocate_empty(np.ascontiguousarray((X - mean).T), np.ones(50), centers, labels, sums, counts, np.empty(50))
    assert expected_counts[3] == 1.0
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-14, atol=1e-14)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_forked_child_fits_in_parallel():
    # The batch pool's threads do not survive a fork: the child must make its own, not wait on dead threads.
    import multiprocessing

    problems = [make_workload(60_000, 2, 3, seed=s)[0] for s in range(2)]
    estimator = fastem.GaussianMixture(3, random_state=0, n_threads=2)
    parent = fastem.fit_many(problems, estimator)  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        bounds = pool.apply_async(_bounds_of_fit_many, (problems, estimator)).get(timeout=120)
    assert bounds == [m.lower_bounds_ for m in parent]


def _bounds_of_fit_many(problems, estimator):
    return [m.lower_bounds_ for m in fastem.fit_many(problems, estimator)]


def test_fit_many_on_two_threads_equals_one_thread(monkeypatch):
    monkeypatch.setattr(_small, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(_small, "TASKS_PER_CALL", 3)  # many ranges, taken by whichever thread is free
    problems = [make_workload(int(n), 3, 3, seed=int(n))[0] for n in np.linspace(100, 900, 25)]
    estimator = fastem.GaussianMixture(3, n_init=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = fastem.fit_many(problems, estimator, n_jobs=1)
        two = fastem.fit_many(problems, estimator, n_jobs=2)
    for a, b in zip(one, two):
        assert a.lower_bounds_ == b.lower_bounds_
        np.testing.assert_array_equal(a.precisions_cholesky_, b.precisions_cholesky_)


def _placed(array, shift):
    """A copy of ``array`` starting ``shift`` elements into a fresh buffer: another address, another alignment."""
    buffer = np.empty(array.size + 8, dtype=array.dtype)
    copy = buffer[shift : shift + array.size].reshape(array.shape)
    copy[...] = array
    return copy


def test_same_bits_wherever_the_arrays_sit():
    # Bits must not depend on addresses: a sum in a loop that also stored once
    # took LLVM's scalar fallback (another order) for some placements of the
    # arrays, about one call in three here.
    X = make_workload(574, 2, 3, seed=9)[0]
    rng = np.random.default_rng(9)
    # Weights over six decades: sums of them round differently in another order.
    weights = rng.uniform(0.5, 2.0, size=X.shape[0]) * 10.0 ** rng.uniform(-3, 3, size=X.shape[0])
    draws = _small.kmeans_draws(np.random.RandomState(0), 1, 3)[None]
    offsets = np.array([0, X.shape[0]])
    k, d, max_iter = 3, 2, 100
    results = set()
    for trial in range(120):
        _ = [np.empty(int(size)) for size in np.random.default_rng(trial).integers(1, 5000, size=5)]  # stir the heap
        for ctype in (_update.FULL_COV, _update.SPHERICAL_COV):
            out = (np.empty((1, 1, k)), np.empty((1, 1, k, d)), np.zeros((1, 1, k, d, d)), np.zeros((1, 1, k, d, d)),
                   np.empty((1, 1, max_iter)), np.zeros((1, 1, 4), dtype=np.int64))
            kernels.fit_tasks(readonly(_placed(X, trial % 8)), readonly(_placed(weights, (trial + 3) % 8)), offsets,
                              ctype, draws, 1e-6, 1e-3, max_iter, 512, *out, 0, 1)
            n_iter = out[5][0, 0, 1]
            results.add((ctype, out[4][0, 0, :n_iter].tobytes(), out[1].tobytes()))
    assert len(results) == 2
