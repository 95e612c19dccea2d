"""The compiled pass and the Gaussian update against their naive twins."""

import numpy as np
import pytest

import naive
from fastem import gaussian, student
from fastem._kernels import DIAG, FULL, em_pass
from fastem._kernels._features import term_scale
from fastem._kernels._pass import single_floor
from fastem._source import ArraySource, block_size, grid, pass_data

COVARIANCE_TYPES = gaussian.COVARIANCE_TYPES
# (n_samples, n_features, n_components): a block's worth and less, not a
# multiple of the block, k = 1, d = 1, products in several BLAS calls (more
# than E_CHUNK components, n_stat k above M_CHUNK_FROM), many groups.
SHAPES = [(1, 3, 2), (7, 2, 3), (256, 3, 4), (257, 4, 2), (1000, 1, 3), (600, 5, 1), (300, 13, 40), (20_000, 3, 3)]


def _data(rng, n, d, dtype):
    return rng.normal(scale=2.0, size=(n, d)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_e_step_matches_scipy(shape, covariance_type, dtype):
    n, d, k = shape
    rng = np.random.default_rng(n + d + k)
    X = _data(rng, n, d, dtype)
    params = naive.random_params(rng, covariance_type, k, d)
    log_norm, resp, label = ArraySource(X).evaluate(
        gaussian.kernel_params(params, covariance_type), log_norm=True, resp=True, label=True
    )
    expected_norm, expected_resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    np.testing.assert_allclose(log_norm, expected_norm, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(resp, expected_resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    log_prob = naive.weighted_log_prob(X, params.weights, params.means, params.covariances, covariance_type)
    np.testing.assert_array_equal(label, log_prob.argmax(axis=1))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shape", SHAPES[:-1])
def test_statistics_match_loops(shape, covariance_type, dtype, weighted):
    n, d, k = shape
    rng = np.random.default_rng(10 * n + d + k)
    X = _data(rng, n, d, dtype)
    sample_weight = rng.uniform(0.0, 3.0, size=n) if weighted else None
    if weighted:
        sample_weight[::3] = 0.0  # zero weights must contribute nothing
    params = naive.random_params(rng, covariance_type, k, d)
    stats = ArraySource(X, sample_weight).statistics(gaussian.kernel_params(params, covariance_type))

    log_norm, resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    # The statistics are taken about the mixture's mean.
    np.testing.assert_allclose(stats.reference, np.broadcast_to(params.weights @ params.means, (k, d)))
    count, first, second = naive.statistics(X, resp, stats.reference, sample_weight)
    w = np.ones(n) if sample_weight is None else sample_weight
    full = gaussian.layout(covariance_type) == FULL
    if not full:
        second = np.diagonal(second, axis1=1, axis2=2)
    if dtype == np.float64:
        np.testing.assert_allclose(stats.log_likelihood, np.sum(w * log_norm), rtol=1e-10)
        np.testing.assert_allclose(stats.n, count, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(stats.s1, first, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(stats.s2, second, rtol=1e-9, atol=1e-10)
        return
    # Float32 data: both products run in float32 (these parameters lie near
    # enough to the reference), so every value is good to float32 rounding of
    # the terms it sums, each weighted by the row's condition (see _float32_scales).
    kparams = gaussian.kernel_params(params, covariance_type)
    assert _single_floor(kparams) < np.inf
    ll_scale, scales = _float32_scales(X, resp, w, kparams)
    tolerance = 2e-6  # ~30 float32 units (measured: at most 2.3); a wrong row or term is off by ~1
    assert abs(stats.log_likelihood - np.sum(w * log_norm)) <= tolerance * ll_scale
    np.testing.assert_array_less(np.abs(stats.n - count), tolerance * scales[0] + 1e-300)
    np.testing.assert_array_less(np.abs(stats.s1 - first), tolerance * scales[1] + 1e-300)
    np.testing.assert_array_less(np.abs(stats.s2 - second), tolerance * scales[2] + 1e-300)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_far_component_keeps_float64_products(covariance_type):
    # One component 200 standard deviations from the reference: float32
    # products would lose ~eps32 * 200^2 of its log-densities, so the pass
    # runs in float64 and float32 data give the statistics of the same
    # values held as float64, bit for bit.
    rng = np.random.default_rng(21)
    X = _data(rng, 3_000, 3, np.float32)
    params = naive.random_params(rng, covariance_type, 3, 3)
    scale = np.sqrt(np.max(params.covariances))
    params = params._replace(means=params.means + np.array([[0.0], [0.0], [200.0 * scale]]))
    kparams = gaussian.kernel_params(params, covariance_type)
    assert _single_floor(kparams) == np.inf
    single = ArraySource(X).statistics(kparams, entropy=True)
    double = ArraySource(X.astype(np.float64)).statistics(kparams, entropy=True)
    for got, want in zip(single, double):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_row_far_from_every_component_is_recomputed(covariance_type):
    # A row 10^4 standard deviations from every component: its float32
    # log-probability (~ -5e7) would be off by ~eps32 * 10^8; the pass
    # recomputes it directly in float64.
    rng = np.random.default_rng(22)
    X = _data(rng, 2_000, 3, np.float32)
    params = naive.random_params(rng, covariance_type, 3, 3)
    X[1234] = params.weights @ params.means + 1e4 * np.sqrt(np.max(params.covariances))
    kparams = gaussian.kernel_params(params, covariance_type)
    assert _single_floor(kparams) < np.inf
    stats = ArraySource(X).statistics(kparams)
    log_norm, resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    assert log_norm[1234] < -1e7
    ll_scale, _ = _float32_scales(np.delete(X, 1234, axis=0), np.delete(resp, 1234, axis=0), np.ones(1999), kparams)
    assert abs(stats.log_likelihood - log_norm.sum()) <= 2e-6 * ll_scale + 1e-12 * abs(log_norm[1234])


def _abs_features(X, ref, family):
    """|T(x - ref)| for the rows of X, one row each (the pass's feature layout)."""
    dev = np.abs(np.asarray(X, dtype=np.float64) - ref)
    n, d = dev.shape
    if family == FULL:
        upper_a, upper_c = np.triu_indices(d)
        return np.hstack([np.ones((n, 1)), dev, dev[:, upper_a] * dev[:, upper_c]])
    return np.hstack([np.ones((n, 1)), dev, dev**2])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_term_scale_sums_the_magnitudes_of_the_terms(covariance_type):
    rng = np.random.default_rng(23)
    params = naive.random_params(rng, covariance_type, 3, 4)
    family, ref, theta, means = gaussian.kernel_params(params, covariance_type)[:4]
    for j in range(3):
        point = means[j] + rng.normal(size=4)
        expected = _abs_features(point[None], ref, family)[0] @ np.abs(theta[j])
        assert term_scale(family, theta[j], point, ref) == pytest.approx(expected, rel=1e-12)


def _single_floor(kparams):
    """The pass's floor for float32 products (+inf: they are not used), from Python."""
    family, ref, theta, means, chol, log_const = kparams
    return single_floor(family, ref, theta, means, log_const)


def _float32_scales(X, resp, w, kparams):
    """What float32 rounding of the pass scales with.

    A row's log-probabilities are theta . T(x - ref), rounded on the order of
    cond_i = max_j sum_f |theta_jf T_f|; its responsibilities then carry
    relative errors of that order. A statistic sum_i w_i r_ij T_f is so good
    to about eps32 sum_i w_i r_ij |T_f| (1 + cond_i), the log-likelihood to
    eps32 sum_i w_i (1 + cond_i). Returns that log-likelihood scale and the
    scales of (n, s1, s2), shaped as the statistics.
    """
    family, ref, theta = kparams[:3]
    dev = np.abs(np.asarray(X, dtype=np.float64) - ref)
    cond = (_abs_features(X, ref, family) @ np.abs(theta).T).max(axis=1)
    row = w * (1.0 + cond)
    weighted = resp * row[:, None]
    counts = weighted.sum(axis=0)
    firsts = weighted.T @ dev
    if family == FULL:
        seconds = np.einsum("ij,ia,ib->jab", weighted, dev, dev)
    else:
        seconds = weighted.T @ dev**2
    return row.sum(), (counts, firsts, seconds)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ml_update_matches_naive_m_step(covariance_type):
    rng = np.random.default_rng(3)
    X = _data(rng, 500, 3, np.float64) + 100.0
    sample_weight = rng.uniform(0.5, 2.0, size=500)
    params = naive.random_params(rng, covariance_type, 4, 3)
    params = params._replace(means=params.means + 100.0)
    stats = ArraySource(X, sample_weight).statistics(gaussian.kernel_params(params, covariance_type))
    updated = gaussian.ml_update(stats, covariance_type, 1e-6, np.float64)

    _, resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    weights, means, covariances = naive.m_step(X, resp, covariance_type, 1e-6, sample_weight)
    np.testing.assert_allclose(updated.weights, weights, rtol=1e-12)
    np.testing.assert_allclose(updated.means, means, rtol=1e-12)
    np.testing.assert_allclose(updated.covariances, covariances, rtol=1e-9)
    precisions = gaussian.precisions_from_cholesky(updated.precisions_cholesky, covariance_type)
    if covariance_type in ("full", "tied"):
        np.testing.assert_allclose(precisions @ covariances, np.broadcast_to(np.eye(3), precisions.shape), atol=1e-9)
        upper = updated.precisions_cholesky
        np.testing.assert_array_equal(np.tril(upper, -1), 0.0)
    else:
        np.testing.assert_allclose(precisions * covariances, 1.0, rtol=1e-12)


def test_far_point_has_finite_log_density_and_one_responsibility():
    rng = np.random.default_rng(0)
    params = naive.random_params(rng, "full", 3, 2)
    X = np.array([[1e150, -1e150], [0.0, 0.0], [1e300, 1e300]])
    log_norm, resp, _ = ArraySource(X).evaluate(gaussian.kernel_params(params, "full"), log_norm=True, resp=True)
    assert np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    assert np.isfinite(log_norm[:2]).all()
    # 1e300 overflows the squared distance: p(x) underflows to zero, still one label.
    assert log_norm[2] == -np.inf
    assert sorted(resp[2]) == [0.0, 0.0, 1.0]


def test_underflowing_responsibilities_are_exact_zeros_not_nan():
    means = np.array([[0.0], [1000.0]])
    params = gaussian.GaussianParams(
        np.array([0.5, 0.5]), means, np.array([1.0, 1.0]), gaussian.precision_cholesky(np.array([1.0, 1.0]), "spherical")
    )
    X = np.array([[0.0], [1000.0], [500.0]])
    log_norm, resp, _ = ArraySource(X).evaluate(gaussian.kernel_params(params, "spherical"), log_norm=True, resp=True)
    np.testing.assert_array_equal(resp[:2], [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(resp[2], [0.5, 0.5])
    expected, _ = naive.e_step(X, params.weights, params.means, params.covariances, "spherical")
    # Components 500 standard deviations from the reference point: the
    # features' precision is about eps * 500^2 absolute.
    np.testing.assert_allclose(log_norm, expected, rtol=0, atol=1e-15 * 500**2)


def test_zero_weight_component_gets_no_responsibility():
    rng = np.random.default_rng(1)
    params = naive.random_params(rng, "diag", 3, 2)
    params = params._replace(weights=np.array([0.5, 0.0, 0.5]))
    _, resp, label = ArraySource(rng.normal(size=(50, 2))).evaluate(
        gaussian.kernel_params(params, "diag"), resp=True, label=True
    )
    np.testing.assert_array_equal(resp[:, 1], 0.0)
    assert not np.any(label == 1)


def test_grid_depends_on_shape_only():
    assert block_size(16) == 256
    size, n_groups = grid(100_000, 16, 16, FULL)
    assert size == 256 and n_groups == 64
    assert grid(10, 3, 2, DIAG) == (512, 1)
    # Few rows: groups of at least four blocks (10,000 rows of 8 features: 40 blocks).
    assert grid(10_000, 8, 8, FULL) == (256, 10)
    # Huge statistics per group cap the group count, never below 8.
    assert grid(10**6, 512, 64, FULL)[1] == 8


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_over_many_groups_match_loops(covariance_type):
    # 6,000 rows of 3 features: 12 blocks in 3 groups, so groups run on
    # both threads and every group's slot must be set, not added to.
    rng = np.random.default_rng(11)
    X = _data(rng, 6000, 3, np.float64)
    sample_weight = rng.uniform(0.0, 2.0, size=6000)
    params = naive.random_params(rng, covariance_type, 3, 3)
    stats = ArraySource(X, sample_weight, n_threads=2).statistics(gaussian.kernel_params(params, covariance_type))
    _, resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    count, first, second = naive.statistics(X, resp, stats.reference, sample_weight)
    np.testing.assert_allclose(stats.n, count, rtol=1e-10)
    np.testing.assert_allclose(stats.s1, first, rtol=1e-9, atol=1e-9)
    expected = second if gaussian.layout(covariance_type) == FULL else np.diagonal(second, axis1=1, axis2=2)
    np.testing.assert_allclose(stats.s2, expected, rtol=1e-9, atol=1e-9)


def test_pass_sets_every_group_slot_whatever_it_held_and_however_the_groups_are_cut():
    # Callers reuse the per-group slots between passes without zeroing them.
    rng = np.random.default_rng(12)
    X = _data(rng, 5000, 3, np.float64)
    params = naive.random_params(rng, "full", 3, 3)
    kparams = student.kernel_params(student.StudentTParams(*params, np.array([3.0, 8.0, 30.0])), "full")
    n_stat, n_groups = kparams[2].shape[1], 7
    results = []
    # The whole range in one call, then cut into ranges as threads run them: the same slots.
    for fill, cuts in ((0.0, (0, n_groups)), (np.nan, (0, 3, n_groups)), (1e300, (0, 1, 2, 6, n_groups))):
        stats = (np.full((n_groups, n_stat, 3), fill), np.full(n_groups, fill), np.full(n_groups, fill),
                 np.full((n_groups, 2, 3), fill))
        no_outputs = (np.empty(0), np.empty((0, 3)), np.empty(0, dtype=np.int64))
        rows = (np.empty(0), np.empty(0, dtype=np.int64), np.empty((0, 3)))
        for first, stop in zip(cuts[:-1], cuts[1:]):
            em_pass(first, stop, pass_data(X), rows, kparams, np.empty((0, 3)), (512, n_groups, True), stats,
                    no_outputs)
        results.append(stats)
    for stats in results[1:]:
        for got, want in zip(stats, results[0]):
            np.testing.assert_array_equal(got, want)
    assert np.all(np.isfinite(results[0][0])) and results[0][1].sum() < 0 and results[0][2].sum() < 0
    assert np.all(results[0][3][:, 0] > 0) and np.all(results[0][3][:, 1] >= 0)


def test_worker_threads_keep_no_reference_to_a_pass_s_arrays():
    # A worker waiting for its next range must not hold the last one's
    # arrays: a fit's temporaries (and a caller's X) are freed when it ends.
    import weakref

    from fastem._threads import run_groups, thread_limit

    def kernel(first, stop, values):
        values[first:stop] += 1

    values = np.zeros(8)
    with thread_limit(2):
        run_groups(kernel, 8, values)
    np.testing.assert_array_equal(values, 1.0)
    ref = weakref.ref(values)
    del values
    assert ref() is None


def test_float64_data_reach_a_pass_with_no_float32_array():
    # Its own specialization: a float64 user's first fit compiles none of the float32 branch.
    X = np.zeros((5, 3))
    assert [a.dtype for a in pass_data(X)] == [np.float64, np.float64]
    assert pass_data(X)[0].shape == (5, 3) and pass_data(X)[1].shape == (0, 3)
    assert [a.dtype for a in pass_data(X.astype(np.float32))] == [np.float64, np.float32]


def test_run_groups_raises_a_worker_s_error_after_every_range_is_done():
    from fastem._threads import run_groups, thread_limit

    ran = np.zeros(6)

    def kernel(first, stop, out):
        out[first:stop] += 1
        if stop == 6:  # the last range, a worker's wherever there are two threads
            raise ValueError(f"range to {stop}")

    with thread_limit(2), pytest.raises(ValueError, match="range to 6"):
        run_groups(kernel, 6, ran)
    np.testing.assert_array_equal(ran, 1.0)


def test_log_positive_matches_numpy_log():
    from fastem._kernels._math import log_positive

    rng = np.random.default_rng(13)
    values = np.concatenate([
        rng.uniform(1.0, 64.0, 2_000),  # the normalization's totals lie in [1, k]
        10.0 ** rng.uniform(-300, 300, 2_000),
        [1.0, 2.0, 0.5, np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 2.0), np.nextafter(1.0, 0.0), 3.0, 1e-300, 1e300],
    ])
    out = values.copy()
    bits = np.empty(values.shape[0], dtype=np.int64)
    log_positive(out, values.shape[0], bits, bits.view(np.float64))
    expected = np.log(values)
    np.testing.assert_array_equal(out[values == 1.0], 0.0)
    nonzero = expected != 0.0
    # Within one unit in the last place of numpy's log everywhere.
    assert np.all(np.abs(out - expected)[nonzero] <= np.spacing(np.abs(expected[nonzero])))


def test_exp_shifted_matches_numpy_exp():
    from fastem._kernels._math import exp_shifted

    rng = np.random.default_rng(12)
    values = np.concatenate([rng.uniform(-750.0, 0.0, 500), [0.0, -1e-300, -707.9, -708.1, -745.2, -np.inf, np.nan]])
    shift = np.zeros_like(values)
    shift[-1] = -np.inf  # NaN from -inf - -inf must also give 0
    values[-1] = -np.inf
    out = values.copy()
    bits = np.empty(values.shape[0], dtype=np.int64)
    exp_shifted(out, shift, values.shape[0], bits, bits.view(np.float64))
    with np.errstate(invalid="ignore"):
        expected = np.exp(values - shift)
    with np.errstate(invalid="ignore"):
        normal = values - shift >= -708.0  # the documented cut-off
    np.testing.assert_allclose(out[normal], expected[normal], rtol=3e-15 * 708)  # input conditioning |x| eps
    np.testing.assert_allclose(out[:500][np.abs(values[:500]) < 40], np.exp(values[:500][np.abs(values[:500]) < 40]),
                               rtol=2e-15)
    assert np.all(out[~normal] == 0.0)  # below the smallest normal, and -inf: exactly 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_labels_alone_skip_nothing(shape, covariance_type, dtype):
    # Asked for labels only, the pass takes the largest log-probability and
    # skips the exponentials; the labels are those of the full E-step.
    n, d, k = shape
    rng = np.random.default_rng(7 * n + d + k)
    X = _data(rng, n, d, dtype)
    X[0] = 1e200 if dtype == np.float64 else 1e30  # a row whose features overflow
    params = naive.random_params(rng, covariance_type, k, d)
    kparams = gaussian.kernel_params(params, covariance_type)
    _, _, alone = ArraySource(X).evaluate(kparams, label=True)
    _, _, full = ArraySource(X).evaluate(kparams, log_norm=True, resp=True, label=True)
    np.testing.assert_array_equal(alone, full)
    log_prob = naive.weighted_log_prob(X[1:], params.weights, params.means, params.covariances, covariance_type)
    np.testing.assert_array_equal(alone[1:], log_prob.argmax(axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pass_gives_the_same_bits_wherever_the_arrays_sit(covariance_type, dtype):
    rng = np.random.default_rng(11)
    X = _data(rng, 3_000, 3, dtype)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    params = naive.random_params(rng, covariance_type, 4, 3)
    kparams = gaussian.kernel_params(params, covariance_type)
    seen = set()
    for shift in range(8):
        buffer, weight_buffer = np.empty(X.size + 8, dtype=dtype), np.empty(X.shape[0] + 8)
        placed = buffer[shift : shift + X.size].reshape(X.shape)
        placed[...] = X
        placed_weights = weight_buffer[7 - shift : 7 - shift + X.shape[0]]
        placed_weights[...] = weights
        stats = ArraySource(placed, placed_weights).statistics(kparams, entropy=True)
        seen.add((stats.n.tobytes(), stats.s1.tobytes(), stats.s2.tobytes(), stats.log_likelihood, stats.entropy))
    assert len(seen) == 1


# ------------------------------------------------------------ LINEAR layout


def _linear_naive(X, theta, log_const, sample_weight):
    """log p per row and component (theta_0 + theta . x, terms of a zero x left out),
    log-sum-exp, and the statistics N and sum w r x, by NumPy."""
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        terms = np.where(X[:, None, :] == 0.0, 0.0, X[:, None, :] * theta[None, :, :])
    log_prob = log_const[None, :] + terms.sum(axis=2)
    largest = log_prob.max(axis=1, keepdims=True)
    log_norm = largest[:, 0] + np.log(np.exp(log_prob - largest).sum(axis=1))
    resp = np.exp(log_prob - log_norm[:, None])
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    return log_norm, resp, (w[:, None] * resp).sum(axis=0), (w[:, None] * resp).T @ X, float(w @ log_norm)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_linear_layout_matches_numpy(shape, dtype, weighted):
    from fastem._family import kernel_params

    n, d, k = shape
    rng = np.random.default_rng(7 * n + d + k)
    X = rng.poisson(2.0, size=(n, d)).astype(dtype)
    theta = np.log(rng.uniform(0.5, 4.0, size=(k, d)))
    constant = -np.exp(theta).sum(axis=1)
    log_weights = np.log(rng.dirichlet(np.ones(k)))
    sample_weight = rng.uniform(0.0, 3.0, size=n) if weighted else None
    kparams = kernel_params(theta, constant, log_weights, np.maximum(np.exp(theta), 1.0))
    source = ArraySource(X, sample_weight)
    stats = source.statistics(kparams)
    log_norm, resp, count, first, log_likelihood = _linear_naive(X, theta, log_weights + constant, sample_weight)
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(stats.n, count, rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(stats.s1, first, rtol=rtol, atol=1e-9)
    assert stats.s2.shape == (k, 0)
    assert stats.log_likelihood == pytest.approx(log_likelihood, rel=rtol)
    got_log_norm, got_resp, got_label = source.evaluate(kparams, log_norm=True, resp=True, label=True)
    np.testing.assert_allclose(got_log_norm, log_norm, rtol=1e-12)
    np.testing.assert_allclose(got_resp, resp, atol=1e-12)
    assert np.array_equal(got_label, np.argmax(np.log(resp + 1e-300), axis=1))


def test_linear_layout_zero_feature_times_minus_infinity_is_zero():
    """A coefficient of -inf (a probability of zero) times a feature of 0 adds 0: the row
    is recomputed term by term instead of becoming NaN."""
    from fastem._family import kernel_params

    X = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    theta = np.array([[-np.inf, np.log(0.5)], [np.log(0.5), np.log(0.5)]])
    kparams = kernel_params(theta, np.zeros(2), np.log([0.5, 0.5]), np.ones((2, 2)))
    log_norm, resp, _ = ArraySource(X).evaluate(kparams, log_norm=True, resp=True)
    assert np.all(np.isfinite(log_norm))
    np.testing.assert_allclose(resp[1], [0.0, 1.0])  # component 0 cannot produce x_0 = 1
    np.testing.assert_allclose(resp[0], [0.5, 0.5])  # x_0 = 0: the zero probability does not count
    np.testing.assert_allclose(log_norm[2], np.log(0.5 + 0.5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_student_pass_matches_scipy_and_loops(covariance_type, dtype):
    """The Student-t transform and weights of the pass against scipy.stats.multivariate_t and plain sums."""
    import naive_student
    from scipy.special import digamma

    rng = np.random.default_rng(21)
    n, d, k = 7000, 3, 3
    X = _data(rng, n, d, dtype)
    X[5] = [40.0, -60.0, 90.0]  # far from every component
    sample_weight = rng.uniform(0.0, 2.0, size=n)
    gauss = naive.random_params(rng, covariance_type, k, d)
    dof = np.array([0.7, 4.0, 60.0])
    params = student.StudentTParams(*gauss, dof)
    kparams = student.kernel_params(params, covariance_type)
    scales = naive.full_covariances(gauss.covariances, covariance_type, k, d)
    X64 = X.astype(np.float64)
    rtol = 1e-9 if dtype == np.float64 else 2e-5
    log_norm, resp, label = ArraySource(X, n_threads=2).evaluate(kparams, log_norm=True, resp=True, label=True)
    expected = naive_student.score_samples(X64, gauss.weights, gauss.means, scales, dof)
    np.testing.assert_allclose(log_norm, expected, rtol=1e-10)
    r, u, _ = naive_student.e_step(X64, gauss.weights, gauss.means, scales, dof)
    np.testing.assert_allclose(resp, r, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(label, r.argmax(axis=1))

    stats = ArraySource(X, sample_weight, n_threads=2).statistics(kparams)
    ru = r * u * sample_weight[:, None]
    count, first, second = naive.statistics(X64, r * u, stats.reference, sample_weight)
    np.testing.assert_allclose(stats.n, ru.sum(axis=0), rtol=rtol)
    np.testing.assert_allclose(stats.s1, first, rtol=rtol, atol=rtol * np.abs(first).max())
    expected2 = second if gaussian.layout(covariance_type) == FULL else np.diagonal(second, axis1=1, axis2=2)
    np.testing.assert_allclose(stats.s2, expected2, rtol=rtol, atol=rtol * np.abs(expected2).max())
    wr = r * sample_weight[:, None]
    half = 0.5 * (dof + d)
    e_log_tau = np.log(u) + digamma(half) - np.log(half)
    np.testing.assert_allclose(stats.robust[0], wr.sum(axis=0), rtol=1e-10 if dtype == np.float64 else rtol)
    np.testing.assert_allclose(stats.robust[1], np.sum(wr * (e_log_tau - u), axis=0), rtol=rtol)
    assert stats.log_likelihood == pytest.approx(sample_weight @ expected, rel=1e-10 if dtype == np.float64 else 1e-6)
