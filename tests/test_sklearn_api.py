"""scikit-learn's estimator contract: check_estimator, Pipeline, GridSearchCV, clone."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
import unsupervised


@parametrize_with_checks([unsupervised.GaussianMixture(),
                          unsupervised.GaussianMixture(covariance_type="diag", n_threads=1)])
def test_check_estimator(estimator, check):
    check(estimator)


def _data():
    X, _ = make_blobs(n_samples=300, n_features=2, centers=3, random_state=0)
    return X


def test_pipeline():
    X = _data()
    pipe = make_pipeline(StandardScaler(), fastem.GaussianMixture(3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (300,)
    assert np.isfinite(pipe.score(X))


def test_grid_search_selects_by_score():
    X = _data()
    search = GridSearchCV(
        fastem.GaussianMixture(random_state=0),
        {"n_components": [1, 3], "covariance_type": ["full", "spherical"]},
        cv=3,
    ).fit(X)
    assert search.best_params_["n_components"] == 3


def test_clone_gives_unfitted_copy_with_same_parameters():
    model = fastem.GaussianMixture(4, covariance_type="tied", n_threads=1, random_state=3).fit(_data())
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "means_")


def test_feature_names_are_recorded():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(_data(), columns=["a", "b"])
    model = fastem.GaussianMixture(3, random_state=0).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b"])
    assert model.n_features_in_ == 2
