"""mclust's hierarchical start (init_params='hc'), its relative convergence rule,
and the BIC tables they give, against mclust 6.0.0's numbers (mclust_hc_reference)."""

import pathlib
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris

import fastem
from fastem import _hc
from fastem._driver import relative_converged
from fastem._init import initial_responsibilities
from fastem.covariance import IllDefinedCovariance

import mclust_hc_reference as ref
import naive

def syn3():
    """90 rows of three Gaussian clouds in 3-D (the data of mclust_hc_reference's syn3)."""
    rng = np.random.RandomState(16)
    centres = np.array([[0, 0, 0], [4, 1, 0], [1, 5, 2]])
    return np.round(np.vstack([rng.normal(size=(30, 3)) * s + c for c, s in zip(centres, (1.0, 0.7, 1.3))]), 4)


DATA = {
    "faithful": lambda: np.loadtxt(pathlib.Path(__file__).with_name("data_faithful.csv"), delimiter=",", skiprows=1),
    "iris": lambda: load_iris().data,
    "syn3": syn3,
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


@pytest.mark.parametrize("name", ["faithful", "iris", "syn3"])
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


def test_relative_rule():
    # |L - L'| < tol (1 + |L|) on a total: near L = -4000 it may move by up to about 0.04
    assert relative_converged(-4000.0, -4000.0 + 0.03, 1e-5)
    assert not relative_converged(-4000.0, -4000.0 + 0.05, 1e-5)
    assert not relative_converged(-np.inf, -4000.0, 1e-5)
    assert not relative_converged(np.nan, -4000.0, 1e-5)


@pytest.mark.parametrize("n_components, model, iterations, log_likelihood", ref.ME_FAITHFUL)
def test_em_from_hc_is_mclusts(n_components, model, iterations, log_likelihood):
    """mclust's me() from its hc partition, with its default tolerance: the same
    number of iterations and the same log-likelihood (of the last E-step's parameters)."""
    X = DATA["faithful"]()
    gm = fastem.GaussianMixture(n_components, covariance_type=model, init_params="hc", reg_covar=0.0, tol=1e-5,
                                max_iter=10_000, convergence="relative").fit(X)
    assert gm.n_iter_ == iterations
    assert gm.lower_bound_ * X.shape[0] == pytest.approx(log_likelihood, rel=1e-9)
    # the fitted parameters are those the last bound was measured at, as mclust returns
    assert gm.score(X) == pytest.approx(gm.lower_bound_, rel=1e-13)


def _table(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best, table = fastem.select(X, range(1, 10), "mclust", "bic", init_params="hc", reg_covar=0.0, tol=1e-5,
                                    max_iter=10_000, convergence="relative")
    bic = np.full((9, len(ref.MODELS)), np.nan)
    icl = np.full((9, len(ref.MODELS)), np.nan)
    for record in table:
        at = record["n_components"] - 1, ref.MODELS.index(record["covariance_type"])
        bic[at], icl[at] = record["bic"], record["icl"]
    return best, bic, icl


def _mclust(values):
    """mclust's table in scikit-learn's sign (lower is better), NaN for NA."""
    return -np.array([[np.nan if v is None else v for v in row] for row in values])


@pytest.mark.parametrize("name", ["faithful", "iris", "syn3"])
def test_bic_table_is_mclusts(name):
    X = DATA[name]()
    best, bic, icl = _table(X)
    expected_bic, expected_icl = _mclust(ref.BIC[name]), _mclust(ref.ICL[name])
    # mclust's NA (its EM stopped at a singular covariance) is a failed fit here, except
    # that mclust's VEE, EVE and VVE also give NA from some starts fastem fits (syn3's
    # G = 7..9, whose start has groups of 3 to 5 rows)
    lenient = [ref.MODELS.index(m) for m in ("VEE", "EVE", "VVE")]
    strict = [m for m in range(len(ref.MODELS)) if m not in lenient]
    np.testing.assert_array_equal(np.isnan(bic[:, strict]), np.isnan(expected_bic[:, strict]))
    assert not np.any(np.isnan(bic) & np.isfinite(expected_bic))
    expected_bic = np.where(np.isnan(expected_bic), bic, expected_bic)
    expected_icl = np.where(np.isnan(expected_icl), icl, expected_icl)
    vve = ref.MODELS.index("VVE")
    others = [m for m in range(len(ref.MODELS)) if m != vve]
    np.testing.assert_allclose(bic[:, others], expected_bic[:, others], rtol=1e-5)
    # The iterative M-steps (VEI, VEE, EVE, VEV) reach mclust's log-likelihood (to 1e-8)
    # at parameters a little apart along the likelihood's flat directions (mclust's inner
    # tolerance is 1.5e-8, fastem's inner steps differ): responsibilities differ by up
    # to 3e-4 on iris, and ICL, which scores them, by up to 2e-5 relative.
    iterative = [ref.MODELS.index(m) for m in ("VEI", "VEE", "EVE", "VEV")]
    closed = [m for m in others if m not in iterative]
    np.testing.assert_allclose(icl[:, closed], expected_icl[:, closed], rtol=1e-5)
    np.testing.assert_allclose(icl[:, iterative], expected_icl[:, iterative], rtol=5e-5)
    # VVE is left out: mclust's VVE M-step stops short of its maximum
    # (tests/test_decomposed.py), so the two EMs take different paths and may end at
    # different local maxima (fastem's is higher on faithful, lower on iris at G = 5).
    assert np.all(np.isfinite(bic[:, vve]) == np.isfinite(expected_bic[:, vve]))
    chosen = np.unravel_index(np.nanargmin(expected_bic), expected_bic.shape)
    assert (best.n_components, best.covariance_type) == (chosen[0] + 1, ref.MODELS[chosen[1]])


def test_one_feature_starts_from_mclusts_quantiles():
    x = np.array(ref.QUANTILE_X)
    for k, expected in enumerate(ref.QUANTILE_CLASSES, start=1):
        np.testing.assert_array_equal(_hc.quantile_classes(x, k) + 1, [int(c) for c in expected])
    labels = _hc.hc_labels(x[:, None], 3, np.random.RandomState(0))
    np.testing.assert_array_equal(labels, _hc.quantile_classes(x, 3))


def test_one_feature_bic_table_is_mclusts():
    """faithful's waiting times: mclust fits E and V, which select's 'mclust' names
    'EII' and 'VII' for one feature; every BIC equals mclust's."""
    X = DATA["faithful"]()[:, 1:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best, table = fastem.select(X, range(1, 10), "mclust", "bic", init_params="hc", reg_covar=0.0, tol=1e-5,
                                    max_iter=10_000, convergence="relative")
    assert [r["covariance_type"] for r in table[::9]] == ["EII", "VII"]
    bic = np.array([[r["bic"] for r in table[:9]], [r["bic"] for r in table[9:]]]).T
    np.testing.assert_allclose(bic, -np.array(ref.BIC_WAITING), rtol=1e-12)
    assert (best.covariance_type, best.n_components) == ("EII", 2)


def test_singular_decomposed_covariance_is_ill_defined():
    """mclust reports NA where its EM meets a singular covariance; fastem raises
    scikit-learn's error (select records a failed fit) instead of going on with NaN."""
    X = DATA["iris"]()
    gm = fastem.GaussianMixture(5, covariance_type="VEE", init_params="hc", reg_covar=0.0, tol=1e-5,
                                max_iter=10_000, convergence="relative")
    with pytest.raises(IllDefinedCovariance, match="ill-defined empirical covariance"):
        gm.fit(X)


def test_hc_start_in_chunks_and_in_memory_agree():
    X = DATA["faithful"]()
    params = dict(n_components=3, covariance_type="EEV", init_params="hc", reg_covar=0.0, tol=1e-5,
                  convergence="relative", random_state=0)
    whole = fastem.GaussianMixture(**params).fit(X)
    chunks = fastem.GaussianMixture(**params).fit_chunks(lambda: (X[i:i + 50] for i in range(0, X.shape[0], 50)))
    assert chunks.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(chunks.means_, whole.means_, rtol=1e-10)
    np.testing.assert_allclose(chunks.covariances_, whole.covariances_, rtol=1e-9)


def test_bad_init_name_keeps_sklearns_message():
    with pytest.raises(ValueError, match=r"The 'init_params' parameter of GaussianMixture must be a str among"):
        fastem.GaussianMixture(init_params="hcc").fit(np.zeros((10, 2)))


def test_variational_bayes_takes_the_hc_start():
    X = DATA["faithful"]()
    fits = [fastem.BayesianGaussianMixture(n_components=3, init_params="hc", max_iter=200, tol=1e-6,
                                           random_state=seed).fit(X) for seed in (0, 1)]
    bounds = np.array(fits[0].lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))
    # no sample below 2,000 rows: the start, and so the fit, does not depend on the seed
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    assert not np.array_equal(
        fits[0].means_, fastem.BayesianGaussianMixture(n_components=3, max_iter=200, tol=1e-6, random_state=0).fit(X).means_)
