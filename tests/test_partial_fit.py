"""partial_fit: stepwise (online) EM for both estimators."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem.cli import make_workload

ESTIMATORS = {
    "ml": lambda **kw: fastem.GaussianMixture(4, **kw),
    "map": lambda **kw: fastem.GaussianMixture(4, prior="default", **kw),
    "vb": lambda **kw: fastem.BayesianGaussianMixture(n_components=4, **kw),
}


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_streaming_a_million_rows_reaches_the_batch_fit(kind, covariance_type):
    X, _ = make_workload(1_000_000, 3, 4, seed=7)
    X = X[np.random.default_rng(0).permutation(X.shape[0])]  # a stationary stream
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = ESTIMATORS[kind](covariance_type=covariance_type, random_state=0).fit(X)
    online = ESTIMATORS[kind](covariance_type=covariance_type, random_state=0)
    for start in range(0, X.shape[0], 1000):
        online.partial_fit(X[start : start + 1000])
    assert online.n_iter_ == 1000
    assert abs(online.score(X) - batch.score(X)) <= 0.01 * abs(batch.score(X))


def test_weighted_batches_equal_repeated_rows():
    X, _ = make_workload(20_000, 2, 4, seed=1)
    weights = np.random.default_rng(2).integers(0, 3, size=X.shape[0])
    start = dict(weights_init=np.full(4, 0.25), means_init=X[:4], precisions_init=np.stack([np.eye(2)] * 4))
    weighted = fastem.GaussianMixture(4, **start)
    copies = fastem.GaussianMixture(4, **start)
    for begin in range(0, X.shape[0], 2000):
        rows, w = X[begin : begin + 2000], weights[begin : begin + 2000]
        weighted.partial_fit(rows, sample_weight=w)
        copies.partial_fit(np.repeat(rows, w, axis=0))
    np.testing.assert_allclose(weighted.means_, copies.means_, rtol=1e-9)
    np.testing.assert_allclose(weighted.covariances_, copies.covariances_, rtol=1e-9)


def test_partial_fit_after_fit_starts_from_the_fitted_model():
    X, _ = make_workload(5_000, 2, 3, seed=3)
    model = fastem.GaussianMixture(3, random_state=0).fit(X)
    before = model.means_.copy()
    model.partial_fit(X[:1000])
    assert model.n_iter_ == 1
    np.testing.assert_allclose(model.means_, before, atol=0.5)


@pytest.mark.parametrize(
    "batch, message",
    [
        (np.ones((10, 2)), "expecting 3 features"),
        (np.array([[np.inf, 0.0, 1.0]]), "X holds inf in row 0, column 0"),
    ],
)
def test_failed_partial_fit_leaves_the_model_unchanged(batch, message):
    X, _ = make_workload(3_000, 3, 3, seed=4)
    model = fastem.GaussianMixture(3, random_state=0)
    model.partial_fit(X[:1500])
    model.partial_fit(X[1500:])
    snapshot = copy.deepcopy(model.__dict__)
    with pytest.raises(ValueError, match=message):
        model.partial_fit(batch)
    assert model.__dict__.keys() == snapshot.keys()
    for name, value in snapshot.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(model, name), value)
    assert model.n_iter_ == 2


def test_failed_update_leaves_the_model_unchanged():
    X, _ = make_workload(3_000, 2, 2, seed=5)
    # Step size (1 + 0)^-1 = 1: the second batch replaces the running statistics.
    model = fastem.GaussianMixture(2, reg_covar=0.0, random_state=0, learning_decay=1.0, learning_offset=0.0)
    model.partial_fit(X[:1000])
    means, covariances = model.means_.copy(), model.covariances_.copy()
    with pytest.raises(ValueError, match="ill-defined"):
        model.partial_fit(np.repeat(X[:1], 1000, axis=0))
    np.testing.assert_array_equal(model.means_, means)
    np.testing.assert_array_equal(model.covariances_, covariances)
    assert model.n_iter_ == 1


def test_learning_rate_parameters_are_validated():
    with pytest.raises(ValueError, match="learning_decay"):
        fastem.GaussianMixture(2, learning_decay=0.4).partial_fit(np.random.default_rng(0).normal(size=(10, 2)))
