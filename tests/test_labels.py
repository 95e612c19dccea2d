"""Known components for some rows (semi-supervised EM): fit(X, y) against direct
twins, the bound, the initialization from the labels, every estimator and data
source, and bad labels."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import fastem
import naive
import naive_families
import naive_student
from fastem import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def blobs(n_samples=900, seed=0, n_features=2):
    """Three overlapping Gaussian blobs and their true components."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.5], [1.0, 3.0]])[:, :n_features]
    truth = rng.integers(0, 3, n_samples)
    X = centres[truth] + rng.normal(size=(n_samples, n_features)) * np.array([1.0, 0.7])[:n_features]
    return X, truth


def some_labels(truth, fraction, seed=0):
    """The true component of a random ``fraction`` of the rows, -1 elsewhere."""
    rng = np.random.default_rng(seed)
    y = np.full(truth.shape[0], -1)
    known = rng.random(truth.shape[0]) < fraction
    y[known] = truth[known]
    return y


def soft_labels(truth, k, seed=0):
    """Per-row prior probabilities: most rows uniform, some leaning to their component, one ruling one out."""
    rng = np.random.default_rng(seed)
    soft = np.full((truth.shape[0], k), 1.0 / k)
    leaning = rng.random(truth.shape[0]) < 0.2
    soft[leaning] = 0.1 / (k - 1)
    soft[leaning, truth[leaning]] = 0.9
    soft[0] = [0.0] + [1.0 / (k - 1)] * (k - 1)
    return soft


def start_of(model):
    return dict(weights_init=model.weights_, means_init=model.means_, precisions_init=model.precisions_)


# ---------------------------------------------------------------- the twins


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_iterates_equal_a_direct_semi_supervised_em(covariance_type, kind):
    X, truth = blobs(600, seed=1)
    y = some_labels(truth, 0.1) if kind == "hard" else soft_labels(truth, 3)
    w = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    start = quiet(GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=2).fit, X)
    params = start.weights_, start.means_, start.covariances_
    for n_iter in (1, 4):
        fitted = quiet(GaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=n_iter,
                                       **start_of(start)).fit, X, y, sample_weight=w)
        (weights, means, covariances), bounds = naive.labelled_em(X, y, *params, covariance_type, 1e-6, n_iter, w)
        np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-9)
        np.testing.assert_allclose(fitted.means_, means, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fitted.covariances_, covariances, rtol=1e-9)
        np.testing.assert_allclose(fitted.lower_bounds_, bounds, rtol=1e-10)


@pytest.mark.parametrize("family", ["poisson", "bernoulli"])
def test_family_iterates_equal_a_direct_semi_supervised_em(family):
    from test_families import estimator, make_data

    X, truth = make_data(family, n_samples=1500, seed=3)
    y = some_labels(truth, 0.1)
    start = quiet(estimator(family, n_components=3, random_state=0, max_iter=1).fit, X)
    # Off 0 and 1: where the start rules a value out, fastem's log is -708, SciPy's -inf.
    weights, means, bounds = start.weights_, np.clip(start.means_, 0.05, 0.95), []
    fitted = quiet(estimator(family, n_components=3, tol=0.0, max_iter=5, weights_init=weights,
                             means_init=means).fit, X, y)
    for _ in range(5):
        log_prob = naive.apply_labels(naive_families.column_log_pmf(family, X, means) + np.log(weights), y)
        log_norm = logsumexp(log_prob, axis=1)
        bounds.append(log_norm.mean())
        n, s = naive_families.sums(family, X, np.exp(log_prob - log_norm[:, None]), np.ones(X.shape[0]))
        weights, means = n / n.sum(), s / n[:, None]
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-9)
    np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-9)
    np.testing.assert_allclose(fitted.lower_bounds_, bounds, rtol=1e-10)


def test_student_t_iterates_equal_a_direct_labelled_ecm():
    from test_student import make_data, scales_of

    X, truth = make_data(800, seed=4)
    y = some_labels(truth, 0.2)
    start = quiet(fastem.StudentTMixture(2, dof=[4.0, 9.0], random_state=0, max_iter=1).fit, X)
    fitted = quiet(fastem.StudentTMixture(2, dof=[4.0, 9.0], tol=0.0, max_iter=3, **start_of(start)).fit, X, y)
    weights, means, scales, dof = start.weights_, start.means_, scales_of(start), start.dof_
    for _ in range(3):
        log_prob = naive.apply_labels(naive_student.log_prob(X, weights, means, scales, dof), y)
        r = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
        _, u, _ = naive_student.e_step(X, weights, means, scales, dof)
        mass = r.sum(axis=0)
        weights = mass / X.shape[0]
        means = np.stack([(r[:, j] * u[:, j]) @ X / np.sum(r[:, j] * u[:, j]) for j in range(2)])
        scales = np.stack([((r[:, j] * u[:, j])[:, None] * (X - means[j])).T @ (X - means[j]) / mass[j]
                           + 1e-6 * np.eye(3) for j in range(2)])
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-9)
    np.testing.assert_allclose(scales_of(fitted), scales, rtol=1e-9)


def test_every_row_labelled_gives_the_supervised_estimate_in_one_step():
    """With every row labelled the E-step is the labels: one update gives the class
    proportions and moments, for every family."""
    from test_families import estimator, make_data

    X, truth = blobs(900, seed=5)
    model = quiet(GaussianMixture(3, covariance_type="full", reg_covar=0.0, tol=0.0, max_iter=1).fit, X, truth)
    for j in range(3):
        rows = X[truth == j]
        np.testing.assert_allclose(model.weights_[j], rows.shape[0] / X.shape[0], rtol=1e-12)
        np.testing.assert_allclose(model.means_[j], rows.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(model.covariances_[j], np.cov(rows.T, bias=True), rtol=1e-9)
    for family in ("poisson", "bernoulli"):
        Xf, truth_f = make_data(family, n_samples=1200, seed=6)
        fitted = quiet(estimator(family, n_components=2, tol=0.0, max_iter=1).fit, Xf, truth_f)
        for j in range(2):
            np.testing.assert_allclose(fitted.means_[j], Xf[truth_f == j].mean(axis=0), rtol=1e-10)


# ------------------------------------------------------------------ the bound


@pytest.mark.parametrize("make", [
    lambda: GaussianMixture(3, covariance_type="full"),
    lambda: GaussianMixture(3, covariance_type="diag", prior="default"),
    lambda: fastem.BayesianGaussianMixture(n_components=3),
    lambda: fastem.BayesianGaussianMixture(n_components=3, covariance_type="spherical",
                                           weight_concentration_prior_type="dirichlet_distribution"),
    lambda: fastem.StudentTMixture(3),
], ids=["ml", "map", "vb", "vb-spherical", "t"])
@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("seed", [0, 1])
def test_bound_never_decreases(make, kind, seed):
    X, truth = blobs(700, seed=seed)
    y = some_labels(truth, 0.15, seed) if kind == "hard" else soft_labels(truth, 3, seed)
    model = quiet(make().set_params(random_state=seed, tol=0.0, max_iter=40).fit, X, y)
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))


@pytest.mark.parametrize("family", ["poisson", "bernoulli", "categorical"])
@pytest.mark.parametrize("variational", [False, True])
def test_family_bound_never_decreases(family, variational):
    from test_families import N_CATEGORIES, estimator, make_data

    X, truth = make_data(family, n_samples=1500, seed=7)
    extra = {"n_categories": N_CATEGORIES} if family == "categorical" else {}
    for y in (some_labels(truth, 0.1), soft_labels(truth, 3)):
        model = quiet(estimator(family, n_components=3, random_state=0, tol=0.0, max_iter=30,
                                variational=variational, **extra).fit, X, y)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))


# ------------------------------------------------------- labels and the fit


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_labelled_rows_keep_their_labels_from_every_initialization(init_params):
    X, truth = blobs(900, seed=8)
    # Labels numbered against the data's natural order, so that a start ignoring them would disagree.
    y = some_labels((truth + 1) % 3, 0.05)
    model = GaussianMixture(3, init_params=init_params, random_state=0)
    predicted = model.fit_predict(X, y)
    labelled = y >= 0
    np.testing.assert_array_equal(predicted[labelled], y[labelled])
    # The components follow the labels' numbering: most unlabelled rows too.
    assert np.mean(model.predict(X) == (truth + 1) % 3) > 0.85


def test_no_known_label_gives_the_unlabelled_fit_bitwise():
    X, _ = blobs(900, seed=9)
    for make in (lambda: GaussianMixture(3, random_state=0), lambda: fastem.BayesianGaussianMixture(
            n_components=3, random_state=0)):
        plain = make().fit(X)
        unknown = make().fit(X, np.full(X.shape[0], -1))
        np.testing.assert_array_equal(plain.means_, unknown.means_)
        assert plain.lower_bounds_ == unknown.lower_bounds_


def test_a_few_labels_recover_the_classes_the_unsupervised_fit_misses():
    """Two classes, each two blobs on one side of a tall rectangle: without labels
    a two-component fit splits top from bottom; 3% of the rows labelled split left from right."""
    rng = np.random.default_rng(10)
    corners = np.array([[0.0, 0.0], [0.0, 8.0], [4.0, 0.0], [4.0, 8.0]])
    blob = rng.integers(0, 4, 4000)
    X = corners[blob] + rng.normal(scale=0.6, size=(4000, 2))
    truth = (blob >= 2).astype(int)
    y = some_labels(truth, 0.03, seed=11)

    def accuracy(predicted):
        return max(np.mean(predicted == truth), np.mean(predicted != truth))

    unsupervised = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    supervised = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X, y)
    assert accuracy(unsupervised.predict(X)) < 0.6
    assert np.mean(supervised.predict(X) == truth) > 0.99


def test_integer_sample_weights_equal_repeated_labelled_rows():
    X, truth = blobs(400, seed=12)
    y = some_labels(truth, 0.2)
    w = np.random.default_rng(13).integers(0, 3, X.shape[0]).astype(float)
    start = quiet(GaussianMixture(3, random_state=0, max_iter=1).fit, X)
    weighted = quiet(GaussianMixture(3, tol=0.0, max_iter=6, **start_of(start)).fit, X, y, sample_weight=w)
    rows = np.repeat(np.arange(X.shape[0]), w.astype(int))
    repeated = quiet(GaussianMixture(3, tol=0.0, max_iter=6, **start_of(start)).fit, X[rows], y[rows])
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9)
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)


def test_bitwise_identical_for_one_and_two_threads():
    X, truth = blobs(20_000, seed=14)
    for y in (some_labels(truth, 0.1), soft_labels(truth, 3)):
        one = GaussianMixture(3, random_state=0, n_threads=1).fit(X, y)
        two = GaussianMixture(3, random_state=0, n_threads=2).fit(X, y)
        np.testing.assert_array_equal(one.means_, two.means_)
        np.testing.assert_array_equal(one.covariances_, two.covariances_)
        assert one.lower_bounds_ == two.lower_bounds_


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_fit_chunks_equals_the_in_memory_fit(init_params, kind):
    X, truth = blobs(2000, seed=15)
    y = some_labels(truth, 0.1) if kind == "hard" else soft_labels(truth, 3)
    params = dict(init_params=init_params, random_state=0, tol=0.0, max_iter=8)
    in_memory = quiet(GaussianMixture(3, **params).fit, X, y)
    chunked = quiet(GaussianMixture(3, **params).fit_chunks, lambda: iter(np.array_split(X, 4)), y)
    np.testing.assert_allclose(chunked.means_, in_memory.means_, rtol=1e-9)
    np.testing.assert_allclose(chunked.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)


def test_fit_many_and_partial_fit():
    X, truth = blobs(1500, seed=16)
    y = some_labels(truth, 0.1)
    template = GaussianMixture(3, random_state=0)
    datasets = [X, X[:800], X[::2]]
    labels = [y, None, y[::2]]
    models = fastem.fit_many(datasets, template, labels=labels)
    for model, data, yy in zip(models, datasets, labels):
        single = GaussianMixture(3, random_state=0).fit(data, yy)
        np.testing.assert_array_equal(model.means_, single.means_)
    with pytest.raises(ValueError, match="labels has 2 entries for 3 data sets"):
        fastem.fit_many(datasets, template, labels=labels[:2])
    online = GaussianMixture(3, random_state=0)
    for part in range(0, X.shape[0], 300):
        online.partial_fit(X[part : part + 300], y[part : part + 300])
    assert np.mean(online.predict(X) == truth) > 0.85


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("y, message", [
    (np.zeros(10, dtype=int), "y has 10 rows, but X has 300 samples"),
    (np.full(300, 3), r"labels must lie in -1 .. 2 \(n_components - 1; -1 for unknown\), got 3 in row 0"),
    (np.concatenate([np.zeros(299, dtype=int), [-2]]), "got -2 in row 299"),
    (np.concatenate([np.zeros(5), [0.5], np.zeros(294)]), r"integer labels \(-1 for unknown\), got 0.5 in row 5"),
    (np.concatenate([np.zeros(5), [np.nan], np.zeros(294)]), "got nan in row 5"),
    (np.array(["a"] * 300), "must hold integer labels"),
    (np.full((300, 2), 0.5), r"soft labels must have n_components = 3 columns, got shape \(300, 2\)"),
    (np.vstack([np.full((299, 3), 1 / 3), [[-0.1, 0.6, 0.5]]]), "nonnegative and finite, got -0.1 in row 299"),
    (np.vstack([np.full((299, 3), 1 / 3), [[0.2, 0.2, 0.2]]]), "each row of soft labels must sum to one, row 299"),
    (np.zeros((300, 3, 1)), "got an array of shape"),
])
def test_bad_labels_are_refused_before_any_work(y, message):
    X, _ = blobs(300, seed=17)
    before = X.copy()
    for call in (lambda m: m.fit(X, y), lambda m: m.partial_fit(X, y),
                 lambda m: m.fit_chunks(lambda: iter([X[:100], X[100:]]), y)):
        model = GaussianMixture(3)
        with pytest.raises(ValueError, match=message):
            call(model)
        assert not hasattr(model, "means_")
    np.testing.assert_array_equal(X, before)
