"""Missing values (NaN) in GaussianMixture: exact EM for incomplete data against its
row-by-row twin, the marginal densities, the bound, recovery, and what refuses NaN."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

import fastem
import naive
from fastem import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def incomplete(n_samples=400, rate=0.2, seed=0, n_features=3):
    """Three correlated Gaussian blobs with a fraction ``rate`` of entries missing completely at random;
    returns (X with NaN, complete X, true components)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0, 1.0], [4.0, 1.0, -2.0, 0.0], [1.0, 4.0, 3.0, -1.0]])[:, :n_features]
    truth = rng.integers(0, 3, n_samples)
    mix = np.array([[1.0, 0.5, 0.0, 0.2], [0.0, 1.0, 0.4, 0.0], [0.0, 0.0, 1.0, 0.3], [0.0, 0.0, 0.0, 1.0]])
    complete = centres[truth] + rng.normal(size=(n_samples, n_features)) @ mix[:n_features, :n_features]
    X = complete.copy()
    X[rng.random(X.shape) < rate] = np.nan
    return X, complete, truth


def start(X, covariance_type, seed=1):
    params = naive.random_params(np.random.default_rng(seed), covariance_type, 3, X.shape[1])
    precisions = fastem.gaussian.precisions_from_cholesky(params.precisions_cholesky, covariance_type)
    init = dict(weights_init=params.weights, means_init=params.means / 2.0, precisions_init=precisions)
    return init, (params.weights, params.means / 2.0, params.covariances)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_iterates_equal_a_direct_incomplete_data_em(covariance_type, weighted):
    X, _, _ = incomplete(300, seed=2)
    X[5] = np.nan  # a row with nothing observed
    w = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    init, held = start(X, covariance_type)
    for n_iter in (1, 4):
        fitted = quiet(GaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=n_iter, **init).fit,
                       X, sample_weight=w)
        (weights, means, covariances), bounds = naive.incomplete_em(X, *held, covariance_type, 1e-6, n_iter, w)
        np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-9)
        np.testing.assert_allclose(fitted.means_, means, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fitted.covariances_, covariances, rtol=1e-9)
        np.testing.assert_allclose(fitted.lower_bounds_, bounds, rtol=1e-10)


@pytest.mark.parametrize("name", fastem.decomposed.MCLUST_MODELS)
def test_mclust_models_step_as_a_direct_incomplete_data_em(name):
    X, _, _ = incomplete(300, seed=2)
    X[5] = np.nan
    for n_iter in (1, 3):
        before = quiet(GaussianMixture(3, covariance_type=name, tol=0.0, max_iter=n_iter, random_state=0).fit, X)
        after = quiet(GaussianMixture(3, covariance_type=name, tol=0.0, max_iter=n_iter + 1, random_state=0).fit, X)
        (weights, means, covariances), bounds = naive.incomplete_em(
            X, before.weights_, before.means_, before.covariances_, name, 1e-6, 1)
        np.testing.assert_allclose(after.weights_, weights, rtol=1e-9)
        np.testing.assert_allclose(after.means_, means, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(after.covariances_, covariances, rtol=1e-8, atol=1e-12)
        assert after.lower_bounds_[-1] == pytest.approx(bounds[0], rel=1e-10)
        assert np.all(np.diff(after.lower_bounds_) >= -1e-12 * np.abs(after.lower_bounds_[1:]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scores_are_the_marginal_densities_of_the_observed_coordinates(covariance_type):
    X, complete, _ = incomplete(300, seed=4)
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(complete)
    X[7] = np.nan
    k, d = model.means_.shape
    covs = naive.full_covariances(model.covariances_, covariance_type, k, d)
    expected = np.empty(X.shape[0])
    for i, row in enumerate(X):
        o = np.flatnonzero(~np.isnan(row))
        terms = [np.log(model.weights_[j]) + (multivariate_normal(model.means_[j, o], covs[j][np.ix_(o, o)])
                                              .logpdf(row[o]) if o.size else 0.0) for j in range(k)]
        expected[i] = logsumexp(terms)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-10, atol=1e-12)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[7], model.weights_, rtol=1e-12)
    assert abs(model.score_samples(X)[7]) < 1e-12  # log of the weights' sum
    np.testing.assert_array_equal(model.predict(X), np.argmax(proba, axis=1))
    # Rows without NaN score as before.
    rows = ~np.isnan(X).any(axis=1)
    np.testing.assert_array_equal(model.score_samples(X)[rows], model.score_samples(X[rows]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior", [None, "default"])
def test_bound_never_decreases(covariance_type, prior):
    X, _, _ = incomplete(500, rate=0.3, seed=5)
    for seed in range(2):
        model = quiet(GaussianMixture(3, covariance_type=covariance_type, prior=prior, random_state=seed, tol=0.0,
                                      max_iter=40).fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])), np.diff(bounds).min()


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_means_are_recovered_as_the_missing_rate_grows(rate):
    X, complete, truth = incomplete(6000, rate=rate, seed=6)
    model = GaussianMixture(3, random_state=0, n_init=2).fit(X)
    order = [int(np.argmin(np.linalg.norm(model.means_ - complete[truth == c].mean(axis=0), axis=1)))
             for c in range(3)]
    for c in range(3):
        rows = complete[truth == c]
        standard_error = rows.std(axis=0) / np.sqrt(rows.shape[0] * (1 - rate))
        assert np.all(np.abs(model.means_[order[c]] - rows.mean(axis=0)) < 5 * standard_error + 0.02)


def test_bitwise_identical_for_one_and_two_threads_and_complete_rows_unchanged():
    X, complete, _ = incomplete(20_000, rate=0.1, seed=7)
    one = GaussianMixture(3, random_state=0, n_threads=1).fit(X)
    two = GaussianMixture(3, random_state=0, n_threads=2).fit(X)
    np.testing.assert_array_equal(one.means_, two.means_)
    assert one.lower_bounds_ == two.lower_bounds_
    np.testing.assert_array_equal(one.score_samples(X), two.score_samples(X))


def test_labels_partial_fit_fit_many_and_select_take_nan():
    X, _, truth = incomplete(1500, rate=0.2, seed=8)
    y = np.where(np.random.default_rng(9).random(X.shape[0]) < 0.1, truth, -1)
    labelled = GaussianMixture(3, random_state=0).fit(X, y)
    assert np.mean(labelled.predict(X) == truth) > 0.9
    np.testing.assert_array_equal(labelled.fit_predict(X, y)[y >= 0], y[y >= 0])
    online = GaussianMixture(3, random_state=0)
    for part in range(0, X.shape[0], 300):
        online.partial_fit(X[part : part + 300])
    assert np.isfinite(online.score(X))
    models = fastem.fit_many([X, X[:700]], GaussianMixture(3, random_state=0))
    alone = GaussianMixture(3, random_state=0).fit(X)
    assert models[0].lower_bounds_ == alone.lower_bounds_
    np.testing.assert_array_equal(models[0].means_, alone.means_)
    best, table = fastem.select(X, n_components=range(1, 5), covariance_types=("full", "diag"), random_state=0)
    assert best.n_components == 3 and all(np.isfinite(r["bic"]) for r in table)


def test_float32_data_with_nan():
    X, _, _ = incomplete(2000, rate=0.15, seed=10)
    single = GaussianMixture(3, random_state=0).fit(X.astype(np.float32))
    double = GaussianMixture(3, random_state=0).fit(X)
    assert single.means_.dtype == np.float32
    np.testing.assert_allclose(single.means_, double.means_, rtol=1e-4, atol=1e-4)


def test_infinity_is_named_and_every_estimator_allows_nan():
    X, _, _ = incomplete(200, seed=11)
    bad = X.copy()
    bad[17, 2] = np.inf
    before = bad.copy()
    with pytest.raises(ValueError, match="X holds inf in row 17, column 2"):
        GaussianMixture(2).fit(bad)
    np.testing.assert_array_equal(bad, before)
    with pytest.raises(ValueError, match="X holds inf in row 17, column 2"):
        fastem.BayesianGaussianMixture(n_components=2).fit(bad)
    with pytest.raises(ValueError, match="X holds inf in row 17, column 2"):
        fastem.MixedMixture(2).fit(bad)
    with pytest.raises(ValueError, match="chunk 0 holds inf in row 17, column 2"):
        fastem.MixedMixture(2).fit_chunks(lambda: iter([bad[:100], bad[100:]]))
    model = GaussianMixture(2, random_state=0).fit(X)
    assert model.__sklearn_tags__().input_tags.allow_nan
    assert fastem.StudentTMixture().__sklearn_tags__().input_tags.allow_nan
    assert fastem.BayesianGaussianMixture().__sklearn_tags__().input_tags.allow_nan
    assert fastem.MixedMixture().__sklearn_tags__().input_tags.allow_nan


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_fit_chunks_equals_the_in_memory_fit(init_params):
    X, _, truth = incomplete(3000, rate=0.15, seed=12)
    y = np.where(np.random.default_rng(13).random(X.shape[0]) < 0.05, truth, -1)
    params = dict(init_params=init_params, random_state=0, tol=0.0, max_iter=8)
    for labels in (None, y):
        in_memory = quiet(GaussianMixture(3, **params).fit, X, labels)
        chunked = quiet(GaussianMixture(3, **params).fit_chunks, lambda: iter(np.array_split(X, 4)), labels)
        np.testing.assert_allclose(chunked.means_, in_memory.means_, rtol=1e-9)
        np.testing.assert_allclose(chunked.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
    bad = X.copy()
    bad[1600, 1] = -np.inf
    with pytest.raises(ValueError, match="chunk 2 holds -inf in row 100, column 1"):
        GaussianMixture(3).fit_chunks(lambda: iter(np.array_split(bad, 4)))


def test_student_t_iterates_equal_a_direct_incomplete_data_ecm():
    import naive_student

    X, _, _ = incomplete(300, rate=0.2, seed=15)
    X[9] = np.nan
    init, (weights, means, covariances) = start(X, "full", seed=16)
    dof = np.array([4.0, 7.0, 12.0])
    scales = covariances
    fitted = quiet(fastem.StudentTMixture(3, dof=dof, tol=0.0, max_iter=3, **init).fit, X)
    bounds = []
    for _ in range(3):
        (weights, means, scales), log_likelihood = naive_student.incomplete_ecm_step(X, weights, means, scales, dof,
                                                                                     1e-6)
        bounds.append(log_likelihood / X.shape[0])
    np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-9)
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fitted.covariances_, scales, rtol=1e-9)
    np.testing.assert_allclose(fitted.lower_bounds_, bounds, rtol=1e-10)
    expected = naive_student.logsumexp(np.column_stack([
        [np.log(fitted.weights_[j]) + (stats_t(fitted, j, row) if (~np.isnan(row)).any() else 0.0) for row in X]
        for j in range(3)]), axis=1)
    np.testing.assert_allclose(fitted.score_samples(X), expected, rtol=1e-10, atol=1e-12)


def stats_t(model, j, row):
    from scipy.stats import multivariate_t

    o = np.flatnonzero(~np.isnan(row))
    return multivariate_t(loc=model.means_[j, o], shape=model.covariances_[j][np.ix_(o, o)],
                          df=model.dof_[j]).logpdf(row[o])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_student_t_bound_never_decreases_with_dof_estimated(covariance_type):
    X, _, _ = incomplete(600, rate=0.25, seed=17)
    for prior in (None, "default"):
        model = quiet(fastem.StudentTMixture(3, covariance_type=covariance_type, prior=prior, random_state=0,
                                             tol=0.0, max_iter=30).fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_memmapped_x_with_nan_equals_in_memory_and_is_not_changed(tmp_path):
    X, _, _ = incomplete(2000, rate=0.1, seed=19)
    path = tmp_path / "rows.f64"
    mapped = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mapped[:] = X
    mapped.flush()
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    from_disk = GaussianMixture(3, random_state=0).fit(mapped)
    in_memory = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(from_disk.means_, in_memory.means_)
    np.testing.assert_array_equal(np.isnan(mapped), np.isnan(X))


def test_incomplete_rows_statistics_do_not_depend_on_where_the_arrays_lie():
    """The pass's sums once rounded differently for a few placements of its arrays in memory
    (a loop that summed and stored took a vectorized or a scalar path by an address check)."""
    X, _, _ = incomplete(1500, rate=0.2, seed=8)
    model = quiet(GaussianMixture(3, random_state=0, max_iter=2).fit, X)
    kparams = fastem.gaussian.kernel_params(fastem.gaussian.GaussianParams(
        model.weights_, model.means_, model.covariances_, model.precisions_cholesky_), "full", np.full(3, 0.5))
    first = fastem.missing.MissingRows(X).statistics(kparams)
    spacers = []
    for size in range(1, 401):
        spacers.append(np.empty(size))  # moves where the next arrays are allocated
        again = fastem.missing.MissingRows(X).statistics(kparams)
        assert np.array_equal(again.n, first.n) and np.array_equal(again.s2, first.s2), size
        assert again.log_likelihood == first.log_likelihood
