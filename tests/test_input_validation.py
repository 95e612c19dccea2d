"""Bad input gets scikit-learn's clear error, never a crash or a NaN."""

import re

import numpy as np
import pytest
import scipy.sparse
from sklearn import mixture

import fastem

X = np.random.default_rng(0).normal(size=(50, 3))


def _normalized(message):
    """The message with every {...} set of options sorted: set order is arbitrary."""
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def _raises_like_sklearn(make_call, error=ValueError):
    """Both libraries raise the same error type with the same message."""
    with pytest.raises(error) as reference:
        make_call(mixture.GaussianMixture)
    with pytest.raises(error) as ours:
        make_call(fastem.GaussianMixture)
    assert _normalized(str(ours.value)) == _normalized(str(reference.value))


def _with_nan():
    bad = X.copy()
    bad[3, 1] = np.nan
    return bad


def _with_inf():
    bad = X.copy()
    bad[7, 0] = np.inf
    return bad


@pytest.mark.parametrize(
    "data, error",
    [
        (np.empty((0, 3)), ValueError),
        (np.empty((5, 0)), ValueError),
        (X[:, 0], ValueError),
        (X[:1], ValueError),
        (X + 1j, ValueError),
        (np.array([["a", "b"], ["c", "d"]]), ValueError),
        (scipy.sparse.csr_matrix(X), TypeError),
    ],
    ids=["empty", "no-features", "1-d", "one-row", "complex", "strings", "sparse"],
)
def test_bad_data(data, error):
    _raises_like_sklearn(lambda cls: cls(2).fit(data), error)


def test_nan_is_missing_and_infinity_is_named():
    """Where scikit-learn refuses NaN, fastem reads it as a missing entry (tests/test_missing.py);
    an infinity is an error that names its row and column."""
    with pytest.raises(ValueError, match="Input X contains NaN"):
        mixture.GaussianMixture(2).fit(_with_nan())
    assert np.isfinite(fastem.GaussianMixture(2, random_state=0).fit(_with_nan()).lower_bound_)
    with pytest.raises(ValueError, match=r"X holds inf in row 7, column 0: infinity is not a value"):
        fastem.GaussianMixture(2).fit(_with_inf())


@pytest.mark.parametrize(
    "params",
    [
        dict(n_components=0),
        dict(covariance_type="banana"),
        dict(tol=-1.0),
        dict(reg_covar=-1e-3),
        dict(max_iter=-1),
        dict(n_init=0),
        dict(init_params="nope"),
        dict(verbose_interval=0),
    ],
)
def test_bad_parameters(params):
    _raises_like_sklearn(lambda cls: cls(**params).fit(X))


def test_weights_out_of_range():
    # scikit-learn's message swaps the minimum and the maximum; ours states them right.
    with pytest.raises(ValueError, match=r"range \[0, 1\], but got max value 1.50000, min value -0.50000"):
        fastem.GaussianMixture(2, weights_init=[-0.5, 1.5]).fit(X)


def test_bad_n_threads():
    with pytest.raises(ValueError, match="n_threads"):
        fastem.GaussianMixture(2, n_threads=0).fit(X)


def test_more_components_than_samples():
    _raises_like_sklearn(lambda cls: cls(10).fit(X[:5]))


@pytest.mark.parametrize(
    "params",
    [
        dict(weights_init=[0.5, 0.6]),
        dict(weights_init=[0.5, 0.5, 0.0]),
        dict(means_init=np.zeros((3, 3))),
        dict(precisions_init=np.ones((2, 3, 3))),
        dict(precisions_init=np.stack([np.eye(3), -np.eye(3)])),
        dict(precisions_init=np.ones(3), covariance_type="spherical"),
        dict(precisions_init=-np.ones(2), covariance_type="spherical"),
        dict(precisions_init=-np.ones((2, 3)), covariance_type="diag"),
        dict(precisions_init=np.ones((3, 3)), covariance_type="tied"),
    ],
)
def test_bad_initial_parameters(params):
    _raises_like_sklearn(lambda cls: cls(2, **params).fit(X))


def test_wrong_feature_count_at_predict():
    for method in ("predict", "predict_proba", "score_samples", "score"):
        _raises_like_sklearn(lambda cls: getattr(cls(2, random_state=0).fit(X), method)(X[:, :2]))


def test_unfitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fastem.GaussianMixture(2).predict(X)


def test_sample_with_zero_samples():
    model = fastem.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


def test_integer_data_is_accepted_as_float64():
    data = np.random.default_rng(1).integers(0, 10, size=(60, 2))
    model = fastem.GaussianMixture(2, random_state=0).fit(data)
    assert model.means_.dtype == np.float64
