"""The compiled M-step (fastem._kernels._update) against fastem.gaussian's
NumPy update, its slow twin, and the EM iterations that use it."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import gaussian
from fastem._base import BaseGaussianMixture
from fastem._chunks import ChunkSource
from fastem._kernels import FULL, _update
from fastem._source import ArraySource, MLSteps
from fastem._stats import Stats
from fastem.cli import make_workload

COVARIANCE_TYPES = gaussian.COVARIANCE_TYPES
PAD64 = 10.0 * np.finfo(np.float64).eps


def _random_stats(rng, k, d, covariance_type):
    X = rng.normal(size=(300, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    resp = rng.dirichlet(np.ones(k), size=X.shape[0])
    reference = X.mean(axis=0) + 0.3
    dev = X - reference
    s2 = np.einsum("nk,na,nc->kac", resp, dev, dev)
    if gaussian.layout(covariance_type) != FULL:
        s2 = np.einsum("kaa->ka", s2)
    return Stats(resp.sum(axis=0), resp.T @ dev, s2, np.broadcast_to(reference, (k, d)), 0.0), dev, resp


def _sums(stats, covariance_type):
    """The pass's (n_stat, k) layout of statistics."""
    k, d = stats.s1.shape
    if gaussian.layout(covariance_type) == FULL:
        upper_a, upper_c = np.triu_indices(d)
        second = stats.s2[:, upper_a, upper_c]
    else:
        second = stats.s2
    return np.ascontiguousarray(np.concatenate([stats.n[:, None], stats.s1, second], axis=1).T)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_and_kernel_inputs_match_the_python_updates(covariance_type):
    rng = np.random.default_rng(0)
    k, d = 4, 3
    stats, _, _ = _random_stats(rng, k, d, covariance_type)
    expected = gaussian.ml_update(stats, covariance_type, 1e-6, np.float64)
    weights, means = np.empty(k), np.empty((k, d))
    cov, chol = np.zeros((k, d, d)), np.zeros((k, d, d))
    ctype = gaussian.COVARIANCE_TYPES.index(covariance_type)
    status = _update.m_step(_sums(stats, covariance_type), stats.reference[0].copy(), ctype, 1e-6, PAD64, -1.0,
                            weights, means, cov, chol, np.empty((d, d)), np.zeros((d, d)))
    assert status == _update.OK
    got_cov, got_chol = gaussian.from_slots(covariance_type, cov, chol)
    np.testing.assert_allclose(weights, expected.weights, rtol=1e-13)
    np.testing.assert_allclose(means, expected.means, rtol=1e-12)
    np.testing.assert_allclose(got_cov, expected.covariances, rtol=1e-12)
    np.testing.assert_allclose(got_chol, expected.precisions_cholesky, rtol=1e-11)

    family, ref, theta, _, chol3, log_const = gaussian.kernel_params(expected, covariance_type)
    got_ref, got_theta = np.empty(d), np.zeros_like(theta)
    got_chol3, got_log_const = np.empty_like(chol3), np.empty(k)
    _update.kernel_inputs(ctype, weights, means, chol, got_ref, got_theta, got_chol3, got_log_const)
    np.testing.assert_allclose(got_ref, ref, rtol=1e-13)
    np.testing.assert_allclose(got_chol3, chol3, rtol=1e-11)
    np.testing.assert_allclose(got_log_const, log_const, rtol=1e-12)
    np.testing.assert_allclose(got_theta, theta, rtol=1e-10, atol=1e-12)


def test_m_step_reports_a_singular_covariance():
    k, d = 2, 2
    stats = Stats(np.array([3.0, 5.0]), np.zeros((k, d)), np.zeros((k, d, d)), np.zeros((k, d)), 0.0)
    for ctype, name in enumerate(COVARIANCE_TYPES):
        layout_stats = stats if gaussian.layout(name) == FULL else stats._replace(s2=np.zeros((k, d)))
        outputs = (np.empty(k), np.empty((k, d)), np.zeros((k, d, d)), np.zeros((k, d, d)))
        status = _update.m_step(_sums(layout_stats, name), np.zeros(d), ctype, 0.0, PAD64, -1.0, *outputs,
                                np.empty((d, d)), np.zeros((d, d)))
        assert status == _update.ILL_DEFINED



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ml_update_adds_the_groups_and_matches_the_python_update(covariance_type, dtype):
    rng = np.random.default_rng(3)
    k, d, n_groups = 3, 4, 5
    stats, _, _ = _random_stats(rng, k, d, covariance_type)
    # The pass's per-group slots: random parts that add up to the statistics.
    parts = rng.dirichlet(np.ones(n_groups), size=1)[0]
    group_sums = np.ascontiguousarray(parts[:, None, None] * _sums(stats, covariance_type)[None])
    group_ll = rng.normal(size=n_groups)
    stats = stats._replace(**dict(zip(("n", "s1", "s2"), _stats_of(group_sums.sum(axis=0), stats, covariance_type))))
    expected = gaussian.ml_update(stats, covariance_type, 1e-6, dtype)
    expected_inputs = gaussian.kernel_params(expected, covariance_type)

    full = gaussian.layout(covariance_type) == FULL
    slots = (1 if covariance_type == "tied" else k, d if full else 1, d)
    out = dict(weights=np.empty(k), means=np.empty((k, d)), cov=np.zeros(slots), chol=np.zeros(slots), ref=np.empty(d),
               theta=np.empty_like(expected_inputs[2]), chol3=np.empty_like(expected_inputs[4]), log_const=np.empty(k))
    status, log_likelihood = _update.ml_update(group_sums, group_ll, stats.reference[0].copy(),
                                               COVARIANCE_TYPES.index(covariance_type), 1e-6,
                                               10.0 * float(np.finfo(dtype).eps), np.full(group_sums.shape[1:], np.nan),
                                               *out.values())
    assert status == _update.OK
    assert log_likelihood == pytest.approx(group_ll.sum(), rel=1e-15)
    got_cov, got_chol = gaussian.from_slots(covariance_type, out["cov"], out["chol"])
    np.testing.assert_allclose(out["weights"], expected.weights, rtol=1e-13)
    np.testing.assert_allclose(out["means"], expected.means, rtol=1e-12)
    np.testing.assert_allclose(got_cov, expected.covariances, rtol=1e-12)
    np.testing.assert_allclose(got_chol, expected.precisions_cholesky, rtol=1e-11)
    _, ref, theta, _, chol3, log_const = expected_inputs
    for got, want in zip((out["ref"], out["theta"], out["chol3"], out["log_const"]), (ref, theta, chol3, log_const)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _stats_of(sums, like, covariance_type):
    """(n, s1, s2) of the pass's (n_stat, k) layout."""
    k, d = like.s1.shape
    n, s1, second = sums[0], sums[1 : 1 + d].T, sums[1 + d :].T
    if gaussian.layout(covariance_type) != FULL:
        return n, s1, second
    upper_a, upper_c = np.triu_indices(d)
    s2 = np.zeros((k, d, d))
    s2[:, upper_a, upper_c] = second
    s2[:, upper_c, upper_a] = second
    return n, s1, s2


def _fit(X, numpy_update, sample_weight=None, **params):
    """A fit from given means (never the compiled whole fit), with the compiled or the NumPy update."""
    model = fastem.GaussianMixture(**params)
    if numpy_update:
        model._step_rule = lambda *args: BaseGaussianMixture._step_rule(model, *args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_iterations_equal_those_of_the_numpy_update(covariance_type, dtype, weighted):
    X, _ = make_workload(6_000, 3, 4, seed=11)
    X = (X + 50.0).astype(dtype)  # far from the origin: the statistics' reference point matters
    weights = np.random.default_rng(2).uniform(0.1, 3.0, size=X.shape[0]) if weighted else None
    params = dict(n_components=4, covariance_type=covariance_type, init_params="random_from_data", random_state=0,
                  n_init=2, max_iter=30, tol=0.0)
    ours = _fit(X, False, weights, **params)
    twin = _fit(X, True, weights, **params)
    assert ours.n_iter_ == twin.n_iter_ == 30
    np.testing.assert_allclose(ours.lower_bounds_, twin.lower_bounds_, rtol=1e-12)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a, b = getattr(ours, name), getattr(twin, name)
        assert a.shape == b.shape and a.dtype == b.dtype == dtype
        # (NumPy's triangular inverse leaves rounding noise below the diagonal; the compiled one exact zeros.)
        tolerance = 1e-5 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * 1e-3 * np.abs(b).max())


def test_iterations_use_the_compiled_update_for_maximum_likelihood_in_memory_only():
    X = np.random.default_rng(0).normal(size=(100, 2))
    source = ArraySource(X)
    model = fastem.GaussianMixture(2)
    assert isinstance(model._step_rule(source, None, None), MLSteps)
    assert not isinstance(model._step_rule(source, object(), None), MLSteps)  # a prior: MAP
    assert not isinstance(fastem.BayesianGaussianMixture(n_components=2)._step_rule(source, None, None), MLSteps)
    chunks = ChunkSource(lambda: iter([X[:50], X[50:]]))
    assert not isinstance(model._step_rule(chunks, None, None), MLSteps)  # data out of memory


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ill_defined_covariance_raises_from_the_compiled_update(dtype):
    # Two points, fifty copies each; one component on each: zero scatter, no regularization.
    X = np.repeat(np.array([[0.0, 0.0], [10.0, 10.0]], dtype=dtype), 50, axis=0)
    precision_cholesky = np.broadcast_to(np.eye(2), (2, 2, 2))
    params = gaussian.GaussianParams(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [10.0, 10.0]]),
                                     np.linalg.inv(precision_cholesky), precision_cholesky)
    steps = MLSteps(ArraySource(X), 2, "full", reg_covar=0.0)
    with pytest.raises(gaussian.IllDefinedCovariance, match="ill-defined empirical covariance") as error:
        steps(params)
    assert ("float64" in str(error.value)) == (dtype == np.float32)  # the hint to pass float64 data
