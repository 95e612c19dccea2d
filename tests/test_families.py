"""PoissonMixture, BernoulliMixture and CategoricalMixture against their NumPy/SciPy
twins (tests/naive_families.py), their bounds, recovery, bad input and facilities."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
import naive_families as naive
from fastem import BernoulliMixture, CategoricalMixture, PoissonMixture
from unsupervised import Unsupervised

FAMILIES = ("poisson", "bernoulli", "categorical")
N_CATEGORIES = (3, 2, 4)


def make_data(family, n_samples=600, seed=0):
    """Two well-separated components of the family; returns (X, labels)."""
    rng = np.random.RandomState(seed)
    labels = (rng.random_sample(n_samples) < 0.4).astype(int)
    if family == "poisson":
        rates = np.array([[1.0, 6.0, 0.5, 3.0], [7.0, 1.0, 4.0, 0.2]])
        return rng.poisson(rates[labels]).astype(np.float64), labels
    if family == "bernoulli":
        probabilities = np.array([[0.9, 0.2, 0.7, 0.1, 0.8], [0.15, 0.85, 0.3, 0.9, 0.25]])
        return (rng.random_sample((n_samples, 5)) < probabilities[labels]).astype(np.float64), labels
    tables = [np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]), np.array([[0.8, 0.2], [0.3, 0.7]]),
              np.array([[0.4, 0.4, 0.1, 0.1], [0.05, 0.15, 0.4, 0.4]])]
    columns = [np.array([rng.choice(t.shape[1], p=t[z]) for z in labels]) for t in tables]
    return np.column_stack(columns).astype(np.float64), labels


def estimator(family, **params):
    cls = {"poisson": PoissonMixture, "bernoulli": BernoulliMixture, "categorical": CategoricalMixture}[family]
    return cls(**params)


def start(family, seed=1):
    """Strictly interior starting parameters (k = 2) over the pass's columns."""
    rng = np.random.RandomState(seed)
    weights = np.array([0.45, 0.55])
    if family == "poisson":
        return weights, rng.uniform(0.5, 5.0, size=(2, 4))
    if family == "bernoulli":
        return weights, rng.uniform(0.1, 0.9, size=(2, 5))
    blocks = [rng.dirichlet(np.full(L, 3.0), size=2) for L in N_CATEGORIES]
    return weights, np.hstack(blocks)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("algorithm", ["ml", "map"])
def test_iterates_equal_a_direct_em_from_the_same_start(family, algorithm):
    X, _ = make_data(family)
    weights, means = start(family)
    n_cat = N_CATEGORIES if family == "categorical" else None
    prior = None
    if algorithm == "map":
        prior = naive.default_prior(family, X, np.ones(X.shape[0]), 2, n_cat)
    for n_iter in (1, 4):
        model = estimator(family, n_components=2, weights_init=weights, means_init=means, max_iter=n_iter, tol=0.0,
                          prior="default" if algorithm == "map" else None)
        with pytest.warns(fastem._base.ConvergenceWarning):
            model.fit(X)
        w, m, bounds = naive.em(family, X, weights, means, n_iter, prior=prior, n_categories=n_cat)
        np.testing.assert_allclose(model.weights_, w, rtol=1e-10)
        np.testing.assert_allclose(model.means_, m, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-11)


@pytest.mark.parametrize("family", FAMILIES)
def test_variational_iterates_equal_a_direct_implementation(family):
    X, _ = make_data(family)
    weights, means = start(family)
    n_cat = N_CATEGORIES if family == "categorical" else None
    prior = naive.default_prior(family, X, np.ones(X.shape[0]), 2, n_cat)
    model = estimator(family, n_components=2, weights_init=weights, means_init=means, max_iter=5, tol=0.0,
                      variational=True)
    with pytest.warns(fastem._base.ConvergenceWarning):
        model.fit(X)
    alpha, a, b, bounds = naive.variational(family, X, weights, means, 5, prior, n_cat)
    np.testing.assert_allclose(model.weight_concentration_, alpha, rtol=1e-10)
    np.testing.assert_allclose(model.weights_, alpha / alpha.sum(), rtol=1e-10)
    first, second = model._posterior_arrays()
    np.testing.assert_allclose(first, a, rtol=1e-10)
    if b is not None:
        np.testing.assert_allclose(second, b, rtol=1e-10)
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_score_samples_is_the_mixture_log_pmf(family):
    X, _ = make_data(family)
    model = estimator(family, n_components=2, random_state=0).fit(X)
    n_cat = model.n_categories_ if family == "categorical" else None
    log_prob = naive.column_log_pmf(family, X, model.means_, n_cat) + np.log(model.weights_)
    expected = logsumexp(log_prob, axis=1)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), np.exp(log_prob - expected[:, None]), atol=1e-12)
    assert np.array_equal(model.predict(X), np.argmax(log_prob, axis=1))
    assert model.score(X) == pytest.approx(expected.mean(), rel=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("algorithm", ["ml", "map", "variational"])
@pytest.mark.parametrize("init_params", ["kmeans", "random", "k-means++", "random_from_data"])
def test_bound_never_decreases(family, algorithm, init_params):
    X, _ = make_data(family, n_samples=400, seed=3)
    for seed in range(3):
        model = estimator(family, n_components=3, init_params=init_params, random_state=seed, tol=1e-10, max_iter=60,
                          prior="default" if algorithm == "map" else None, variational=algorithm == "variational")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fastem._base.ConvergenceWarning)
            model.fit(X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


@pytest.mark.parametrize("family", FAMILIES)
def test_recovers_known_parameters(family):
    X, labels = make_data(family, n_samples=20_000, seed=5)
    model = estimator(family, n_components=2, random_state=0, n_init=5, tol=1e-6).fit(X)
    truth = make_truth(family)
    order = np.argsort(model.means_[:, 0]) if family != "categorical" else np.argsort(-model.means_[:, 0])
    np.testing.assert_allclose(model.means_[order], truth[np.argsort(truth[:, 0]) if family != "categorical"
                                                           else np.argsort(-truth[:, 0])], atol=0.05 * truth.max())
    agreement = np.mean(model.predict(X) == labels)
    assert max(agreement, 1.0 - agreement) > 0.85


def make_truth(family):
    if family == "poisson":
        return np.array([[1.0, 6.0, 0.5, 3.0], [7.0, 1.0, 4.0, 0.2]])
    if family == "bernoulli":
        return np.array([[0.9, 0.2, 0.7, 0.1, 0.8], [0.15, 0.85, 0.3, 0.9, 0.25]])
    return np.hstack([np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]), np.array([[0.8, 0.2], [0.3, 0.7]]),
                      np.array([[0.4, 0.4, 0.1, 0.1], [0.05, 0.15, 0.4, 0.4]])])


@pytest.mark.parametrize("family", FAMILIES)
def test_log_likelihood_matches_scipy_for_poisson_factorials(family):
    """lower_bound_ at convergence is the data's mean log-likelihood under the fitted model."""
    X, _ = make_data(family)
    model = estimator(family, n_components=2, random_state=0, tol=1e-10, max_iter=5000).fit(X)
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=1e-8)
    if family == "poisson":
        direct = logsumexp(np.stack([np.log(w) + stats.poisson.logpmf(X, m).sum(axis=1)
                                     for w, m in zip(model.weights_, model.means_)]), axis=0)
        assert model.score(X) == pytest.approx(direct.mean(), rel=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_integer_sample_weights_equal_repeated_rows(family):
    X, _ = make_data(family, n_samples=300)
    counts = np.random.RandomState(0).randint(0, 3, size=X.shape[0])
    weights, means = start(family)
    kw = dict(n_components=2, weights_init=weights, means_init=means, tol=1e-8, max_iter=50)
    weighted = estimator(family, **kw).fit(X, sample_weight=counts)
    repeated = estimator(family, **kw).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9, atol=1e-12)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_bitwise_identical_for_one_and_two_threads(family):
    X, _ = make_data(family, n_samples=50_000, seed=2)
    one = estimator(family, n_components=3, random_state=0, n_threads=1).fit(X)
    two = estimator(family, n_components=3, random_state=0, n_threads=2).fit(X)
    assert np.array_equal(one.means_, two.means_) and np.array_equal(one.weights_, two.weights_)
    assert one.lower_bounds_ == two.lower_bounds_


@pytest.mark.parametrize("family", ["poisson", "bernoulli"])
def test_float32_data_stay_float32_and_agree_with_float64(family):
    X, _ = make_data(family, n_samples=5000, seed=4)
    model64 = estimator(family, n_components=2, random_state=0, tol=1e-8).fit(X)
    model32 = estimator(family, n_components=2, random_state=0, tol=1e-8).fit(X.astype(np.float32))
    assert model32.means_.dtype == np.float32
    np.testing.assert_allclose(model32.means_, model64.means_, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_chunks_and_partial_fit(family):
    X, _ = make_data(family, n_samples=3000, seed=6)
    n_cat = N_CATEGORIES if family == "categorical" else None
    extra = {"n_categories": n_cat} if family == "categorical" else {}
    whole = estimator(family, n_components=2, random_state=0, **extra).fit(X)
    chunked = estimator(family, n_components=2, random_state=0, **extra).fit_chunks(
        lambda: (X[i : i + 700] for i in range(0, X.shape[0], 700)))
    np.testing.assert_allclose(chunked.means_, whole.means_, rtol=1e-9, atol=1e-12)
    assert chunked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-10)
    assert chunked.n_features_in_ == X.shape[1]
    online = estimator(family, n_components=2, random_state=0, **extra)
    for i in range(0, X.shape[0], 500):
        online.partial_fit(X[i : i + 500])
    assert online.score(X) > whole.score(X) - 0.05


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_many_equals_fits_one_by_one(family):
    datasets = [make_data(family, n_samples=400, seed=s)[0] for s in range(3)]
    extra = {"n_categories": N_CATEGORIES} if family == "categorical" else {}
    template = estimator(family, n_components=2, random_state=0, **extra)
    models = fastem.fit_many(datasets, template)
    for X, model in zip(datasets, models):
        single = estimator(family, n_components=2, random_state=0, **extra).fit(X)
        assert np.array_equal(model.means_, single.means_)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "family, value, message",
    [
        ("poisson", -1.0, "nonnegative integer counts: column 2 holds -1.0"),
        ("poisson", 2.5, "nonnegative integer counts: column 2 holds 2.5"),
        ("bernoulli", 2.0, r"binary values \(0 or 1\): column 2 holds 2.0"),
        ("bernoulli", 0.5, r"binary values \(0 or 1\): column 2 holds 0.5"),
        ("categorical", -1.0, r"category codes \(nonnegative integers\): column 2 holds -1.0"),
        ("categorical", 1.5, r"category codes \(nonnegative integers\): column 2 holds 1.5"),
    ],
)
def test_bad_values_are_named_before_any_work(family, value, message):
    X, _ = make_data(family, n_samples=50)
    X[7, 2] = value
    before = X.copy()
    with pytest.raises(ValueError, match=message):
        estimator(family, n_components=2).fit(X)
    assert np.array_equal(X, before)


@pytest.mark.parametrize("family", FAMILIES)
def test_infinity_is_refused(family):
    X, _ = make_data(family, n_samples=50)
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        estimator(family, n_components=2).fit(X)


def test_categories_beyond_the_fitted_ones_are_refused_at_predict_time():
    X, _ = make_data("categorical", n_samples=200)
    model = CategoricalMixture(2, random_state=0).fit(X)
    Y = X[:5].copy()
    Y[2, 1] = 2.0  # column 1 has 2 categories
    with pytest.raises(ValueError, match=r"below n_categories \(column 1 has 2\): column 1 holds 2.0"):
        model.predict(Y)


def test_n_categories_is_checked_and_used():
    X, _ = make_data("categorical", n_samples=200)
    model = CategoricalMixture(2, n_categories=[3, 3, 4], random_state=0).fit(X)
    assert [t.shape for t in model.probabilities_] == [(2, 3), (2, 3), (2, 4)]
    assert model.means_.shape == (2, 10)
    with pytest.raises(ValueError, match="n_categories must hold a positive integer for each of the 3 columns"):
        CategoricalMixture(2, n_categories=[3, 3]).fit(X)
    with pytest.raises(ValueError, match="below n_categories"):
        CategoricalMixture(2, n_categories=[3, 1, 4]).fit(X)


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_initial_parameters_and_priors(family):
    X, _ = make_data(family, n_samples=100)
    width = 10 - 1 if family == "categorical" else X.shape[1]
    width = 9 if family == "categorical" else width
    with pytest.raises(ValueError, match="'means_init' must lie in"):
        estimator(family, n_components=2, means_init=np.full((2, width), -0.5)).fit(X)
    prior_type = {"poisson": fastem.PoissonPrior, "bernoulli": fastem.BernoulliPrior,
                  "categorical": fastem.CategoricalPrior}[family]
    with pytest.raises(ValueError, match="weight_concentration_prior must be finite and positive"):
        estimator(family, n_components=2, prior=prior_type(weight_concentration_prior=0.0)).fit(X)
    field = prior_type.__dataclass_fields__
    name = [f for f in field if f != "weight_concentration_prior"][0]
    with pytest.raises(ValueError, match=f"prior: {name} must be finite and at least 1 for MAP"):
        estimator(family, n_components=2, prior=prior_type(**{name: 0.5})).fit(X)
    estimator(family, n_components=2, prior=prior_type(**{name: 0.5}), variational=True, random_state=0).fit(X)


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_draws_from_the_family(family):
    X, _ = make_data(family, n_samples=2000)
    model = estimator(family, n_components=2, random_state=0).fit(X)
    draws, labels = model.sample(20_000)
    assert draws.shape == (20_000, X.shape[1]) and labels.shape == (20_000,)
    assert np.array_equal(draws, np.floor(draws)) and draws.min() >= 0
    refit = estimator(family, n_components=2, random_state=0).fit(draws)
    assert abs(refit.score(X) - model.score(X)) < 0.05


@pytest.mark.parametrize("family", FAMILIES)
def test_criteria_count_the_family_parameters(family):
    X, _ = make_data(family, n_samples=500)
    model = estimator(family, n_components=2, random_state=0).fit(X)
    per_component = {"poisson": 4, "bernoulli": 5, "categorical": 2 + 1 + 3}[family]
    n_parameters = 2 * per_component + 1
    assert model.bic(X) == pytest.approx(-2 * model.score(X) * 500 + n_parameters * np.log(500), rel=1e-12)
    assert model.aic(X) == pytest.approx(-2 * model.score(X) * 500 + 2 * n_parameters, rel=1e-12)


# ------------------------------------------------------- scikit-learn checks


def _spread(X):
    """A nonnegative integer per value of X that separates close values (distinct
    reals stay mostly distinct, where a plain floor would make duplicate rows)."""
    magnitude = np.abs(X)
    return np.floor(magnitude * 1000.0) + 7.0 * np.floor(magnitude)


class _CountsFromReals(Unsupervised, PoissonMixture):
    """check_estimator draws real numbers; a Poisson mixture takes counts. This subclass
    turns each validated value into a count (``_spread`` modulo 20) before PoissonMixture's
    own checks; everything else is PoissonMixture's."""

    def _pass_data(self, X, fitting):
        return super()._pass_data(np.mod(_spread(X), 20.0).astype(X.dtype), fitting)


class _BinaryFromReals(Unsupervised, BernoulliMixture):
    """As _CountsFromReals, each value turned into the parity of ``_spread``."""

    def _pass_data(self, X, fitting):
        return super()._pass_data(np.mod(_spread(X), 2.0).astype(X.dtype), fitting)


class _CodesFromReals(Unsupervised, CategoricalMixture):
    """As _CountsFromReals, each value turned into ``_spread`` modulo 3, three categories per column."""

    def _pass_data(self, X, fitting):
        return super()._pass_data(np.mod(_spread(X), 3.0).astype(X.dtype), fitting)

    def _categories_of(self, X):
        return np.full(X.shape[1], 3)


# One component, as for GaussianMixture's checks: with two, a weighted fit and a
# fit on repeated rows start k-means from different draws and may label the
# components the other way round (check_sample_weight_equivalence_on_dense_data).
@parametrize_with_checks([_CountsFromReals(), _BinaryFromReals(), _CodesFromReals()])
def test_check_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("family", FAMILIES)
def test_select_chooses_the_component_count_with_the_family_parameter_count(family):
    X, _ = make_data(family, n_samples=3000, seed=7)
    best, table = fastem.select(X, n_components=range(1, 5), estimator=estimator(family, random_state=0, n_init=3))
    assert [r["n_components"] for r in table] == [1, 2, 3, 4]
    assert all(r["covariance_type"] is None and r["status"] in ("ok", "degenerate") for r in table)
    assert best.n_components == 2 and type(best) is type(estimator(family))
    per_component = {"poisson": 4, "bernoulli": 5, "categorical": 6}[family]
    assert [r["n_parameters"] for r in table] == [k * per_component + k - 1 for k in range(1, 5)]


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_predict_warm_start_verbose_and_memmap(family, tmp_path, capsys):
    X, _ = make_data(family, n_samples=800, seed=11)
    model = estimator(family, n_components=2, random_state=0)
    labels = model.fit_predict(X)
    assert np.array_equal(labels, model.predict(X))

    warm = estimator(family, n_components=2, random_state=0, warm_start=True, max_iter=2, tol=0.0)
    with pytest.warns(fastem._base.ConvergenceWarning):
        warm.fit(X)
    first = warm.lower_bounds_[-1]
    with pytest.warns(fastem._base.ConvergenceWarning):
        warm.fit(X)  # continues from the fitted parameters
    assert warm.lower_bounds_[0] >= first - 1e-12
    straight = estimator(family, n_components=2, random_state=0, max_iter=4, tol=0.0)
    with pytest.warns(fastem._base.ConvergenceWarning):
        straight.fit(X)
    np.testing.assert_allclose(warm.means_, straight.means_, rtol=1e-12, atol=1e-15)

    estimator(family, n_components=2, random_state=0, verbose=2, verbose_interval=1).fit(X)
    printed = capsys.readouterr().out
    assert "Initialization 0" in printed and "Iteration 1" in printed and "converged" in printed

    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    from_disk = estimator(family, n_components=2, random_state=0).fit(mapped)
    np.testing.assert_array_equal(from_disk.means_, model.means_)
