"""fit_many and select."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem


def _problems(count=12, seed=0):
    rng = np.random.default_rng(seed)
    return [make_blobs(n_samples=int(rng.integers(200, 600)), n_features=2, centers=3, random_state=int(s))[0]
            for s in rng.integers(0, 10_000, size=count)]


def _alone(estimator, X, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clone(estimator).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("estimator", [
    fastem.GaussianMixture(3, random_state=0),
    fastem.GaussianMixture(3, covariance_type="diag", prior="default", random_state=1),
    fastem.BayesianGaussianMixture(n_components=3, random_state=0),
], ids=["ml", "map", "vb"])
def test_results_equal_single_fits_bitwise(estimator):
    datasets = _problems()
    weights = [np.random.default_rng(i).uniform(0.5, 2.0, size=X.shape[0]) if i % 2 else None
               for i, X in enumerate(datasets)]
    datasets[3] = datasets[3].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = fastem.fit_many(datasets, estimator, sample_weights=weights)
    for X, w, model in zip(datasets, weights, models):
        alone = _alone(estimator, X, w)
        assert model.lower_bounds_ == alone.lower_bounds_
        np.testing.assert_array_equal(model.means_, alone.means_)
        np.testing.assert_array_equal(model.covariances_, alone.covariances_)
        assert model.get_params() == estimator.get_params()


def test_three_dimensional_input():
    stack = np.stack([make_blobs(n_samples=300, n_features=2, centers=2, random_state=s)[0] for s in range(4)])
    models = fastem.fit_many(stack, fastem.GaussianMixture(2, random_state=0))
    assert len(models) == 4
    np.testing.assert_array_equal(models[2].means_, _alone(fastem.GaussianMixture(2, random_state=0), stack[2]).means_)


def test_failure_isolation_both_ways():
    datasets = _problems(count=5)
    bad_inf = datasets[1].copy()
    bad_inf[0, 0] = np.inf
    datasets[1] = bad_inf
    datasets[3] = datasets[3][:2]  # fewer rows than components
    estimator = fastem.GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match="problem 1 failed: X holds inf in row 0, column 0"):
        fastem.fit_many(datasets, estimator)
    results = fastem.fit_many(datasets, estimator, errors="collect")
    assert isinstance(results[1], ValueError) and "inf" in str(results[1])
    assert isinstance(results[3], ValueError) and "n_samples >= n_components" in str(results[3])
    for index in (0, 2, 4):
        np.testing.assert_array_equal(results[index].means_, _alone(estimator, datasets[index]).means_)


def test_bad_arguments():
    with pytest.raises(ValueError, match="errors"):
        fastem.fit_many([], fastem.GaussianMixture(), errors="ignore")
    with pytest.raises(ValueError, match="sample_weights has 1 entries for 2"):
        fastem.fit_many([np.ones((5, 2))] * 2, fastem.GaussianMixture(), sample_weights=[None])
    assert fastem.fit_many([], fastem.GaussianMixture()) == []
    # A bad template is no problem's fault: it raises whatever ``errors`` says.
    for estimator in (fastem.GaussianMixture(n_components=0), fastem.BayesianGaussianMixture(tol=-1.0)):
        with pytest.raises(ValueError, match="must be"):
            fastem.fit_many([np.ones((5, 2))], estimator, errors="collect")


def test_select_finds_the_true_model():
    rng = np.random.default_rng(0)
    # Four elongated clusters with different orientations: full covariance, k = 4.
    parts = []
    for j, angle in enumerate((0.0, 0.8, 1.6, 2.4)):
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        parts.append(rng.normal(size=(400, 2)) * [3.0, 0.4] @ rotation.T + 12.0 * np.array([j % 2, j // 2]))
    X = np.vstack(parts)
    for criterion in ("bic", "icl"):
        best, table = fastem.select(X, n_components=range(1, 7), criterion=criterion, random_state=0)
        assert (best.n_components, best.covariance_type) == (4, "full")
        assert len(table) == 24
        chosen = min((r for r in table if r["status"] != "failed"), key=lambda r: r[criterion])
        assert (chosen["n_components"], chosen["covariance_type"]) == (4, "full")
    aic_best, _ = fastem.select(X, n_components=range(1, 7), covariance_types=("full",), criterion="aic", random_state=0)
    assert aic_best.n_components >= 4


def test_select_reports_failures_and_degenerate_fits():
    rng = np.random.default_rng(1)
    # Two duplicated points and a small cloud: ML with reg_covar=0 fails for some k.
    X = np.vstack([np.repeat([[0.0, 0.0], [5.0, 5.0]], 20, axis=0), rng.normal(size=(6, 2)) + 10.0])
    best, table = fastem.select(X, n_components=range(1, 5), covariance_types=("full", "diag"), reg_covar=0.0,
                                random_state=0)
    failed = [r for r in table if r["status"] == "failed"]
    assert failed and all("ill-defined" in r["reason"] and np.isnan(r["bic"]) for r in failed)
    assert (best.n_components, best.covariance_type) not in {(r["n_components"], r["covariance_type"]) for r in failed}
    _, table = fastem.select(X, n_components=[4], covariance_types=("full",), random_state=0)
    assert table[0]["status"] in ("ok", "degenerate")
    # a component of fewer effective points than parameters: degenerate, still eligible
    few = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 10.0, rng.normal(size=(3, 2)) * 0.1 + 30.0])
    degenerate = fastem.select(few, n_components=[3], covariance_types=("full",), random_state=0)[1][0]
    assert degenerate["status"] == "degenerate" and "effective points" in degenerate["reason"]
    assert np.isfinite(degenerate["bic"])
    # an empty component (12 equal rows, k = 3): the fit has fewer components, NaN criteria
    best, table = fastem.select(X[:12], n_components=[1, 3], covariance_types=("full",), random_state=0)
    empty = table[1]
    assert empty["status"] == "degenerate" and "empty" in empty["reason"] and np.isnan(empty["bic"])
    assert best.n_components == 1
    with pytest.raises(ValueError, match="criterion"):
        fastem.select(X, criterion="dic")
