"""The compiled k-means initialization gives scikit-learn's KMeans labels."""

import numpy as np
import pytest
from sklearn import datasets
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from fastem import _kmeans
from fastem._blocks import memory_blocks
from fastem._kmeans import kmeans_labels
from fastem.cli import make_workload

DATASETS = {
    "iris": lambda: datasets.load_iris().data,
    "wine": lambda: StandardScaler().fit_transform(datasets.load_wine().data),
    "breast_cancer": lambda: StandardScaler().fit_transform(datasets.load_breast_cancer().data),
    "workload": lambda: make_workload(20_000, 5, 6, seed=1)[0],
    "far_from_origin": lambda: make_workload(3_000, 3, 4, seed=2)[0] + 1e5,
}


@pytest.mark.parametrize("n_clusters", [1, 2, 3, 8])
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_labels_and_random_state_match_sklearn(dataset, n_clusters):
    X = np.ascontiguousarray(DATASETS[dataset]())
    for seed in range(3):
        ours_state, their_state = np.random.RandomState(seed), np.random.RandomState(seed)
        labels = kmeans_labels(X, n_clusters, ours_state)
        expected = KMeans(n_clusters, n_init=1, random_state=their_state).fit(X).labels_
        np.testing.assert_array_equal(labels, expected)
        # The random state is left where scikit-learn leaves it.
        assert ours_state.randint(1 << 30) == their_state.randint(1 << 30)


def test_weighted_labels_match_sklearn():
    X = make_workload(5_000, 3, 4, seed=3)[0]
    weights = np.random.default_rng(0).uniform(0.1, 3.0, size=X.shape[0])
    labels = kmeans_labels(X, 4, np.random.RandomState(0), weights)
    expected = KMeans(4, n_init=1, random_state=0).fit(X, sample_weight=weights).labels_
    np.testing.assert_array_equal(labels, expected)


def test_same_labels_for_one_and_two_threads():
    X = make_workload(50_000, 4, 5, seed=4)[0]
    one = kmeans_labels(X, 5, np.random.RandomState(0), n_threads=1)
    two = kmeans_labels(X, 5, np.random.RandomState(0), n_threads=2)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("weighted", [False, True])
def test_seeding_same_with_kept_or_recomputed_distances(monkeypatch, weighted):
    # The chosen candidate's closest distances are kept from the candidates'
    # pass when they fit in TRIAL_BYTES; computed again from X, they are bitwise the same.
    X = make_workload(30_000, 4, 7, seed=6)[0]
    weights = np.random.default_rng(1).uniform(0.1, 3.0, size=X.shape[0]) if weighted else None
    mean = X.mean(axis=0)

    def seed():
        kmeans = _kmeans.BlockKMeans(memory_blocks(X, weights), 7, weights)
        return kmeans.seed(mean, np.random.RandomState(0))[0]

    kept = seed()
    monkeypatch.setattr(_kmeans, "TRIAL_BYTES", 0)
    recomputed = seed()
    np.testing.assert_array_equal(kept, recomputed)
    assert len(np.unique(kept, axis=0)) == 7


def test_duplicate_points_warn_like_sklearn():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 5, axis=0)
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(2\) found smaller than n_clusters \(3\)"):
        labels = kmeans_labels(X, 3, np.random.RandomState(0))
    with pytest.warns(ConvergenceWarning):
        expected = KMeans(3, n_init=1, random_state=0).fit(X).labels_
    np.testing.assert_array_equal(labels, expected)


def test_float32_uses_sklearn_kmeans():
    X = make_workload(2_000, 3, 3, seed=5)[0].astype(np.float32)
    labels = kmeans_labels(X, 3, np.random.RandomState(0))
    np.testing.assert_array_equal(labels, KMeans(3, n_init=1, random_state=0).fit(X).labels_)


@pytest.mark.parametrize("weighted", [False, True])
def test_cumulative_search_is_searchsorted_of_cumsum(weighted):
    from fastem._kernels._kmeans import cumulative_search

    rng = np.random.default_rng(7)
    values = rng.exponential(size=10_000)
    values[rng.integers(0, 10_000, 3000)] = 0.0  # runs of equal cumulative sums
    weights = rng.uniform(0.1, 3.0, size=values.size) if weighted else np.empty(0)
    cumsum = np.cumsum(values * weights if weighted else values)
    targets = np.concatenate([rng.uniform(size=7) * cumsum[-1], cumsum[[0, 17, 17, 5000]], [cumsum[-1] * 2, 0.0]])
    for order in (targets, targets[::-1], np.sort(targets)):
        out = np.empty(order.size, dtype=np.int64)
        cumulative_search(values, weights, order, out)
        np.testing.assert_array_equal(out, np.searchsorted(cumsum, order))
