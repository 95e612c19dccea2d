"""k-means labels pinned before k-means ran over blocks (in memory, chunks and Dask alike)."""

import pathlib

import numpy as np
import pytest
from sklearn import datasets

from fastem._kmeans import kmeans_labels

PINNED = np.load(pathlib.Path(__file__).with_name("kmeans_pinned.npz"))
CASES = [(5000, 3, 4), (20000, 8, 9), (3000, 2, 12)]


def _case(seed):
    n, d, k = CASES[seed]
    X, _ = datasets.make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=2.5, random_state=seed)
    return X, np.random.RandomState(seed).gamma(2.0, size=n), k


@pytest.mark.parametrize("seed", range(len(CASES)))
@pytest.mark.parametrize("weighted", [False, True])
def test_in_memory_kmeans_labels_are_the_pinned_ones(seed, weighted):
    X, weights, k = _case(seed)
    labels = kmeans_labels(X, k, np.random.RandomState(seed), weights if weighted else None)
    np.testing.assert_array_equal(labels, PINNED[f"{'weighted' if weighted else 'labels'}{seed}"])
