"""Gaussian fits pinned before the component-families redesign.

``tests/gaussian_pinned.npz`` holds the fitted weights, means, covariances
and every iteration's bound of a matrix of fits (ML, MAP and variational
Bayes; every covariance type; float64 and float32; with and without sample
weights; k-means and k-means++ starts), made with fastem as it was before
the redesign. A redesign that keeps behaviour keeps these. They are
compared to a tolerance, not bitwise: another BLAS kernel (OpenBLAS picks
one per processor) sums the pass's products in another order. Five fixed
iterations from the start keep EM's path insensitive to that rounding.

Regenerate only for a deliberate change of results, with the reason in the
commit: ``python -c "import sys; sys.path.insert(0, 'tests'); import test_gaussian_pinned as t; t.write_pins()"``.
"""

import itertools
import pathlib
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem

PINS = pathlib.Path(__file__).with_name("gaussian_pinned.npz")
ESTIMATORS = ("ml", "map", "vb")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CASES = [
    dict(estimator=e, covariance_type=c, dtype=t, weighted=w, init_params=i)
    for e, c, t, w, i in itertools.product(ESTIMATORS, COVARIANCE_TYPES, ("float64", "float32"), (False, True),
                                           ("kmeans", "k-means++"))
]
#: Relative tolerance per dtype, normwise per attribute (BLAS summation order).
RTOL = {"float64": 1e-9, "float32": 2e-5}


def case_id(case):
    return "-".join(str(case[key]) for key in ("estimator", "covariance_type", "dtype", "weighted", "init_params"))


def _data(case):
    X, _ = make_blobs(n_samples=3000, n_features=3, centers=3, cluster_std=1.5, random_state=7)
    weights = np.random.RandomState(7).gamma(2.0, size=X.shape[0]) if case["weighted"] else None
    return X.astype(case["dtype"]), weights


def fit_case(case):
    X, weights = _data(case)
    common = dict(covariance_type=case["covariance_type"], init_params=case["init_params"], tol=0.0, max_iter=5,
                  random_state=0)
    if case["estimator"] == "vb":
        model = fastem.BayesianGaussianMixture(n_components=3, **common)
    else:
        model = fastem.GaussianMixture(3, prior="default" if case["estimator"] == "map" else None, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, sample_weight=weights)


def write_pins():
    pins = {}
    for case in CASES:
        model = fit_case(case)
        for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
            pins[f"{case_id(case)}/{name}"] = np.asarray(getattr(model, name), dtype=np.float64)
    np.savez_compressed(PINS, **pins)


@pytest.fixture(scope="module")
def pins():
    return np.load(PINS)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fit_is_the_pinned_one(pins, case):
    model = fit_case(case)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        got = np.asarray(getattr(model, name), dtype=np.float64)
        want = pins[f"{case_id(case)}/{name}"]
        assert got.shape == want.shape, name
        assert np.max(np.abs(got - want)) <= RTOL[case["dtype"]] * np.max(np.abs(want)), name
