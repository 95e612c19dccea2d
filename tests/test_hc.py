"""mclust's hierarchical start (init_params='hc') against mclust 6.0.0's numbers (mclust_hc_reference)."""

import pathlib

import numpy as np
import pytest
from sklearn.datasets import load_iris

import fastem
from fastem import _hc
from fastem._init import initial_responsibilities

import mclust_hc_reference as ref
import naive

DATA = {
    "faithful": lambda: np.loadtxt(pathlib.Path(__file__).with_name("data_faithful.csv"), delimiter=",", skiprows=1),
    "iris": lambda: load_iris().data,
}


def same_partition(a, b):
    """Whether two label vectors make the same groups (whatever the labels' names)."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_svd_coordinates_are_mclusts(name):
    Z = _hc.svd_scaled(DATA[name]())
    expected = np.array(ref.SVD_ROWS[name])
    # the singular vectors' signs are arbitrary
    np.testing.assert_allclose(np.abs(Z[:5]), np.abs(expected), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_partitions_are_mclusts(name):
    X = DATA[name]()
    tree = _hc.merges(_hc.svd_scaled(X))
    for k in range(1, 10):
        labels = _hc.partition(tree, X.shape[0], k)
        assert same_partition(labels, [int(c) for c in ref.HCLASS[name][k - 1]]), k


@pytest.mark.parametrize("seed, duplicates", [(0, False), (1, False), (2, True)])
def test_merges_equal_brute_force(seed, duplicates):
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(24, 3))
    Z[:8] += 2.5
    if duplicates:  # exact ties between pairs of equal rows
        Z[10:14] = Z[2:6]
    np.testing.assert_array_equal(_hc.merges(Z), naive.hc_merges(Z))


def test_partition_numbers_groups_by_first_row():
    tree = np.array([[2, 3], [0, 1], [0, 2]])
    np.testing.assert_array_equal(_hc.partition(tree, 4, 2), [0, 0, 1, 1])
    np.testing.assert_array_equal(_hc.partition(tree, 4, 4), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="no partition into 5 groups"):
        _hc.partition(tree, 4, 5)


def test_larger_data_merge_a_sample_and_leave_the_rest():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(_hc.HC_ROWS + 500, 2))
    labels = _hc.hc_labels(X, 3, np.random.RandomState(5))
    assert np.count_nonzero(labels >= 0) == _hc.HC_ROWS
    assert set(labels[labels >= 0].tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(labels, _hc.hc_labels(X, 3, np.random.RandomState(5)))


def test_zero_weight_rows_take_no_part():
    X = DATA["iris"]()
    weights = np.ones(X.shape[0])
    weights[::3] = 0.0
    labels = _hc.hc_labels(X, 3, np.random.RandomState(0), weights)
    assert np.all(labels[::3] == -1)
    kept = np.flatnonzero(weights > 0)
    expected = _hc.partition(_hc.merges(_hc.svd_scaled(X[kept])), kept.shape[0], 3)
    np.testing.assert_array_equal(labels[kept], expected)
    with pytest.raises(ValueError, match="init_params='hc' needs at least n_components = 3"):
        _hc.hc_labels(X[:4], 3, np.random.RandomState(0), np.array([1.0, 0.0, 0.0, 1.0]))


def test_hc_start_is_one_hot_of_the_partition():
    X = DATA["faithful"]()
    resp = initial_responsibilities("hc", X, 4, np.random.RandomState(0))(0, X.shape[0])
    labels = _hc.partition(_hc.merges(_hc.svd_scaled(X)), X.shape[0], 4)
    np.testing.assert_array_equal(resp, np.eye(4)[labels])


def test_hc_start_in_chunks_and_in_memory_agree():
    X = DATA["faithful"]()
    params = dict(n_components=3, covariance_type="EEV", init_params="hc", reg_covar=0.0, tol=1e-8, random_state=0)
    whole = fastem.GaussianMixture(**params).fit(X)
    chunks = fastem.GaussianMixture(**params).fit_chunks(lambda: (X[i:i + 50] for i in range(0, X.shape[0], 50)))
    assert chunks.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(chunks.means_, whole.means_, rtol=1e-10)
    np.testing.assert_allclose(chunks.covariances_, whole.covariances_, rtol=1e-9)


def test_bad_init_name_keeps_sklearns_message():
    with pytest.raises(ValueError, match=r"The 'init_params' parameter of GaussianMixture must be a str among"):
        fastem.GaussianMixture(init_params="hcc").fit(np.zeros((10, 2)))
