"""StudentTMixture against its SciPy twin (tests/naive_student.py), its bound, its
robustness to outliers, bad input and every facility it shares with GaussianMixture."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
import naive_student as naive
import unsupervised
from fastem import GaussianMixture, StudentTMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def make_data(n_samples=3000, seed=0, outliers=0.0):
    """Two t components in 3 features (dof 3 and 8), and a fraction of uniform outliers."""
    rng = np.random.default_rng(seed)
    n_first = int(0.4 * n_samples)
    first = stats.multivariate_t(loc=[0.0, 0.0, 0.0], shape=np.eye(3), df=3).rvs(n_first, random_state=rng)
    shape = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 1.5]])
    second = stats.multivariate_t(loc=[7.0, 5.0, -4.0], shape=shape, df=8).rvs(n_samples - n_first, random_state=rng)
    X = np.vstack([first, second])
    labels = np.repeat([0, 1], [n_first, n_samples - n_first])
    n_out = int(outliers * n_samples)
    if n_out:
        X = np.vstack([X, rng.uniform(-40.0, 40.0, size=(n_out, 3))])
        labels = np.concatenate([labels, np.full(n_out, -1)])
    return X, labels


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def scales_of(model):
    k, d = model.means_.shape
    return naive.full_scales(model.covariances_, model.covariance_type, k, d)


# ------------------------------------------------------------ the algorithm


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("estimate_dof", [False, True])
def test_iterates_equal_a_direct_ecm_from_the_same_start(covariance_type, estimate_dof):
    X, _ = make_data(800, seed=1)
    dof = None if estimate_dof else [4.0, 12.0]
    params = dict(covariance_type=covariance_type, dof=dof, dof_init=[5.0, 6.0], random_state=0, tol=0.0)
    start = StudentTMixture(2, max_iter=0, **params).fit(X)
    weights, means, scales, nu = start.weights_, start.means_, scales_of(start), start.dof_
    for n_iter in range(1, 6):
        (weights, means, scales, nu), log_likelihood = naive.ecm_step(
            X, weights, means, scales, nu, covariance_type, 1e-6, estimate_dof)
        if n_iter not in (1, 2, 5):
            continue
        model = quiet(StudentTMixture(2, max_iter=n_iter, **params).fit, X)
        assert model.lower_bounds_[-1] == pytest.approx(log_likelihood / X.shape[0], rel=1e-10)
        np.testing.assert_allclose(model.weights_, weights, rtol=1e-9)
        np.testing.assert_allclose(model.means_, means, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(scales_of(model), scales, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model.dof_, nu, rtol=1e-8)


def test_estimated_dof_converge_to_the_direct_ecm_log_likelihood():
    X, _ = make_data(1500, seed=2)
    model = StudentTMixture(2, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    weights, means, scales, nu = model.weights_, model.means_, scales_of(model), model.dof_
    (_, _, _, nu_next), log_likelihood = naive.ecm_step(X, weights, means, scales, nu, "full", 1e-6, True)
    assert model.converged_
    assert model.score(X) == pytest.approx(log_likelihood / X.shape[0], rel=1e-12)
    np.testing.assert_allclose(nu_next, nu, rtol=1e-4)
    # A restart from other degrees of freedom reaches the same likelihood.
    other = StudentTMixture(2, random_state=0, tol=1e-10, max_iter=1000, dof_init=[60.0, 1.0]).fit(X)
    assert other.score(X) == pytest.approx(model.score(X), abs=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_is_the_mixture_log_density(covariance_type):
    X, _ = make_data(600, seed=3)
    model = StudentTMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    far = np.array([[300.0, -200.0, 1e4]])
    rows = np.vstack([X, far])
    expected = naive.score_samples(rows, model.weights_, model.means_, scales_of(model), model.dof_)
    np.testing.assert_allclose(model.score_samples(rows), expected, rtol=1e-10)
    lp = naive.log_prob(rows, model.weights_, model.means_, scales_of(model), model.dof_)
    np.testing.assert_allclose(model.predict_proba(rows), np.exp(lp - expected[:, None]), rtol=1e-8, atol=1e-14)
    np.testing.assert_array_equal(model.predict(rows), lp.argmax(axis=1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior", [None, "default"])
@pytest.mark.parametrize("seed", range(4))
def test_bound_never_decreases(covariance_type, prior, seed):
    """Generalized EM: every ECM iteration (and MAP-ECM's) raises the bound or keeps it.

    Maximum likelihood gets two components: a third takes a single outlier, whose
    likelihood has no maximum, and reg_covar's floor on its scale then moves the
    bound by rounding-sized amounts either way (as for a Gaussian component).
    """
    X, _ = make_data(700, seed=10 + seed, outliers=0.02)
    model = quiet(StudentTMixture(2 if prior is None else 3, covariance_type=covariance_type, prior=prior, random_state=seed, tol=0.0,
                                  max_iter=60, init_params=("kmeans", "random")[seed % 2]).fit, X)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_map_bound_is_the_log_posterior():
    X, _ = make_data(500, seed=4)
    model = quiet(StudentTMixture(2, prior="default", random_state=0, max_iter=3, tol=0.0).fit, X)
    again = quiet(StudentTMixture(2, prior="default", random_state=0, max_iter=4, tol=0.0).fit, X)
    from fastem import gaussian

    log_prior = gaussian.log_prior(model._state(), "full", model.prior_)
    assert again.lower_bounds_[-1] == pytest.approx(model.score(X) + log_prior / X.shape[0], rel=1e-10)


def test_outliers_move_gaussian_means_but_not_t_means():
    rng = np.random.default_rng(5)
    n = 4000
    X = np.vstack([rng.normal([0.0, 0.0], 1.0, size=(n // 2, 2)), rng.normal([6.0, 0.0], 1.0, size=(n // 2, 2))])
    X = np.vstack([X, rng.uniform(-30.0, 30.0, size=(n // 100, 2))])
    truth = np.array([[0.0, 0.0], [6.0, 0.0]])
    standard_error = 1.0 / np.sqrt(n / 2)

    def errors(model):
        means = model.means_[np.argsort(model.means_[:, 0])]
        return np.abs(means - truth).max()

    robust = StudentTMixture(2, random_state=0).fit(X)
    plain = GaussianMixture(2, random_state=0).fit(X)
    assert errors(robust) < 5 * standard_error
    assert errors(plain) > 20 * standard_error


def test_fixed_dof_stay_and_are_not_counted():
    X, _ = make_data(1000, seed=6)
    fixed = StudentTMixture(2, dof=[3.0, 8.0], random_state=0).fit(X)
    np.testing.assert_array_equal(fixed.dof_, [3.0, 8.0])
    free = StudentTMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert fixed._n_parameters() == gm._n_parameters()
    assert free._n_parameters() == gm._n_parameters() + 2
    assert free.bic(X) == pytest.approx(-2 * free.score(X) * 1000 + free._n_parameters() * np.log(1000))
    scalar = StudentTMixture(2, dof=5.0, random_state=0).fit(X)
    np.testing.assert_array_equal(scalar.dof_, [5.0, 5.0])


def test_gaussian_data_drive_the_dof_to_the_upper_end():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20000, 2))
    # ECM's steps in nu shrink as nu grows (the likelihood flattens): it climbs slowly.
    model = StudentTMixture(1, tol=1e-5, max_iter=1000, random_state=0).fit(X)
    assert model.dof_[0] > 30
    gm = GaussianMixture(1).fit(X)
    assert model.score(X) == pytest.approx(gm.score(X), abs=2e-3)


def test_sample_draws_multivariate_t():
    X, _ = make_data(1000, seed=8)
    model = StudentTMixture(1, dof=6.0, random_state=0).fit(X[:400])
    samples, labels = model.sample(200_000)
    assert samples.shape == (200_000, 3) and np.all(labels == 0)
    scale = model.covariances_[0]
    np.testing.assert_allclose(np.cov(samples.T), 6.0 / 4.0 * scale, rtol=0.05, atol=0.02)
    diff = samples - model.means_[0]
    delta = np.einsum("ia,ab,ib->i", diff, np.linalg.inv(scale), diff)
    # delta / d of a t sample follows F(d, nu).
    assert stats.kstest(delta / 3.0, stats.f(3, 6.0).cdf).pvalue > 1e-3


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(dof=0.0), "dof must be positive and finite, got 0.0 for component 0"),
        (dict(dof=[3.0, -1.0]), "dof must be positive and finite, got -1.0 for component 1"),
        (dict(dof_init=np.inf), "dof_init must be positive and finite, got inf"),
        (dict(dof_init=[np.nan, 3.0]), "dof_init must be positive and finite, got nan for component 0"),
        (dict(dof=[3.0, 4.0, 5.0]), r"dof must be a number or have shape \(2,\), got shape \(3,\)"),
        (dict(dof_init=[[3.0, 4.0]]), r"dof_init must be a number or have shape \(2,\)"),
    ],
)
def test_bad_dof_is_refused_before_any_work(params, message):
    X, _ = make_data(200)
    before = X.copy()
    model = StudentTMixture(2, **params)
    with pytest.raises(ValueError, match=message):
        model.fit(X)
    with pytest.raises(ValueError, match=message):
        StudentTMixture(2, **params).partial_fit(X)
    assert not hasattr(model, "converged_")
    np.testing.assert_array_equal(X, before)


# ---------------------------------------------------------------- facilities


def test_integer_sample_weights_equal_repeated_rows():
    X, _ = make_data(400, seed=9)
    counts = np.random.default_rng(0).integers(0, 3, size=X.shape[0])
    params = dict(random_state=0, tol=0.0, max_iter=10, means_init=[[0, 0, 0], [7, 5, -4]])
    weighted = quiet(StudentTMixture(2, **params).fit, X, sample_weight=counts.astype(float))
    repeated = quiet(StudentTMixture(2, **params).fit, np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(weighted.dof_, repeated.dof_, rtol=1e-8)
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)


def test_bitwise_identical_for_one_and_two_threads():
    X, _ = make_data(60_000, seed=10)
    one = StudentTMixture(3, random_state=0, n_threads=1).fit(X)
    two = StudentTMixture(3, random_state=0, n_threads=2).fit(X)
    for name in ("weights_", "means_", "covariances_", "dof_"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.lower_bounds_ == two.lower_bounds_


def test_float32_data_stay_float32_and_agree_with_float64():
    X, _ = make_data(20_000, seed=11)
    model64 = StudentTMixture(2, random_state=0, tol=1e-6).fit(X)
    model32 = StudentTMixture(2, random_state=0, tol=1e-6).fit(X.astype(np.float32))
    assert model32.means_.dtype == np.float32 and model32.dof_.dtype == np.float64
    np.testing.assert_allclose(model32.means_, model64.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model32.dof_, model64.dof_, rtol=1e-3)


def test_fit_chunks_memmap_and_partial_fit(tmp_path):
    X, _ = make_data(6000, seed=12)
    params = dict(random_state=0, tol=0.0, max_iter=15)
    whole = quiet(StudentTMixture(2, **params).fit, X)
    chunked = quiet(StudentTMixture(2, **params).fit_chunks, lambda: (X[i : i + 1000] for i in range(0, 6000, 1000)))
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(chunked.means_, whole.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(chunked.dof_, whole.dof_, rtol=1e-8)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mapped = quiet(StudentTMixture(2, **params).fit, np.load(path, mmap_mode="r"))
    assert np.array_equal(mapped.means_, whole.means_) and np.array_equal(mapped.dof_, whole.dof_)
    online = StudentTMixture(2, random_state=0)
    shuffled = X[np.random.default_rng(0).permutation(X.shape[0])]  # make_data orders the rows by component
    for i in range(0, 6000, 500):
        online.partial_fit(shuffled[i : i + 500])
    fitted = StudentTMixture(2, random_state=0).fit(X)
    assert online.score(X) > fitted.score(X) - 0.05
    assert np.all(online.dof_ > 0)


def test_fit_many_and_select():
    datasets = [make_data(500, seed=s)[0] for s in range(3)]
    template = StudentTMixture(2, random_state=0)
    for X, model in zip(datasets, fastem.fit_many(datasets, template)):
        single = StudentTMixture(2, random_state=0).fit(X)
        assert np.array_equal(model.means_, single.means_) and np.array_equal(model.dof_, single.dof_)
    X, _ = make_data(2000, seed=13)
    best, table = fastem.select(X, n_components=range(1, 4), covariance_types=("full", "diag"),
                                estimator=StudentTMixture(random_state=0))
    assert type(best) is StudentTMixture and best.n_components == 2 and best.covariance_type == "full"
    full = {r["n_components"]: r["n_parameters"] for r in table if r["covariance_type"] == "full"}
    assert full == {k: k * (3 + 6 + 1) + k - 1 for k in (1, 2, 3)}


def test_warm_start_n_init_and_fit_predict():
    X, labels = make_data(1500, seed=14)
    model = StudentTMixture(2, random_state=0, n_init=3)
    predicted = model.fit_predict(X)
    np.testing.assert_array_equal(predicted, model.predict(X))
    agreement = max(np.mean(predicted == labels), np.mean(predicted == 1 - labels))
    assert agreement > 0.97
    warm = StudentTMixture(2, random_state=0, warm_start=True, max_iter=2)
    quiet(warm.fit, X)
    first = warm.dof_.copy()
    quiet(warm.fit, X)
    assert warm.n_iter_ <= 2 and not np.array_equal(first, warm.dof_)


def test_warm_start_and_partial_fit_take_a_newly_fixed_dof():
    """set_params(dof=...) after a fit: the continued fit holds the new value from its first pass."""
    X, _ = make_data(1500, seed=15)
    for continue_fit in ("fit", "partial_fit"):
        model = StudentTMixture(2, random_state=0, warm_start=True, max_iter=3)
        quiet(model.fit, X)
        assert not np.allclose(model.dof_, 4.0)
        start = dict(weights_init=model.weights_, means_init=model.means_, precisions_init=model.precisions_)
        model.set_params(dof=4.0)
        quiet(getattr(model, continue_fit), X)
        np.testing.assert_array_equal(model.dof_, [4.0, 4.0])
        if continue_fit == "fit":
            # The first pass of the continued fit already used nu = 4: its bound is the nu = 4 model's.
            fresh = StudentTMixture(2, dof=4.0, max_iter=1, **start)
            quiet(fresh.fit, X)
            np.testing.assert_allclose(model.lower_bounds_[0], fresh.lower_bounds_[0], rtol=1e-10)


class _ContinuousT(unsupervised.StudentTMixture):
    """StudentTMixture with one component, for scikit-learn's checks (as GaussianMixture's)."""


@parametrize_with_checks([_ContinuousT(dof=4.0), _ContinuousT()])
def test_check_estimator(estimator, check):
    check(estimator)
