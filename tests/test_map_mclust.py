"""MAP-EM reaches mclust's posterior mode (reference numbers in mclust_reference.py)."""

import os
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem.decomposed import MAP_MODELS
from mclust_reference import MCLUST, MCLUST_DECOMPOSED

MODELS = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}


def _data(name):
    if name == "iris":
        return load_iris().data
    path = os.path.join(os.path.dirname(__file__), "data_faithful.csv")
    return np.loadtxt(path, delimiter=",", skiprows=1)


def _reference(name, ref):
    """The data, and mclust's component count, means (k, d) and covariances (k, d, d)
    from R's column-major vectors."""
    X = _data(name)
    k, d = len(ref["pro"]), X.shape[1]
    return X, k, np.asarray(ref["mean"]).reshape(k, d), np.asarray(ref["sigma"]).reshape(k, d, d)


@pytest.mark.parametrize("case", sorted(MCLUST))
def test_mclust_estimate_is_a_fixed_point_and_defaults_match(case):
    name, model = case.split("-")
    covariance_type = MODELS[model]
    ref = MCLUST[case]
    X, k, means, sigma = _reference(name, ref)
    n, d = X.shape
    scale = np.asarray(ref["scale"])
    if covariance_type in ("full", "tied"):
        covariance_prior = scale.reshape(d, d)
    else:  # mclust's scale for VVI and VII is one number
        covariance_prior = np.full(d, scale[0]) if covariance_type == "diag" else scale[0]
    precisions = {
        "full": np.linalg.inv(sigma),
        "tied": np.linalg.inv(sigma[0]),
        "diag": 1.0 / np.diagonal(sigma, axis1=1, axis2=2),
        "spherical": 1.0 / sigma[:, 0, 0],
    }[covariance_type]

    # mclust's default hyperparameters are fastem's prior="default".
    fitted_default = fastem.GaussianMixture(k, covariance_type=covariance_type, prior="default", random_state=0).fit(X)
    resolved = fitted_default.prior_
    assert resolved.mean_precision_prior == ref["shrinkage"]
    assert resolved.degrees_of_freedom_prior == ref["dof"]
    np.testing.assert_allclose(resolved.mean_prior, ref["prior_mean"], rtol=1e-12)
    np.testing.assert_allclose(resolved.covariance_prior, covariance_prior, rtol=1e-10)

    model = fastem.GaussianMixture(
        k, covariance_type=covariance_type, prior="default", reg_covar=0.0, tol=0.0, max_iter=20,
        weights_init=np.asarray(ref["pro"]) / np.sum(ref["pro"]), means_init=means, precisions_init=precisions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    np.testing.assert_allclose(model.weights_, ref["pro"], rtol=1e-6)
    np.testing.assert_allclose(model.means_, means, rtol=1e-6, atol=1e-8)
    expected_cov = {
        "full": sigma, "tied": sigma[0], "diag": np.diagonal(sigma, axis1=1, axis2=2), "spherical": sigma[:, 0, 0],
    }[covariance_type]
    np.testing.assert_allclose(model.covariances_, expected_cov, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(model.score(X) * n, ref["loglik"], rtol=1e-8)


@pytest.mark.parametrize("case", sorted(MCLUST_DECOMPOSED))
def test_mclust_models_map_estimate_is_a_fixed_point(case):
    """EII, VEI, EVI, EEV and VEV under mclust's default prior: started at mclust's
    MAP estimate, MAP-EM stays there (mclust's own estimates, tol = 1e-14). VII, VVI,
    EEE and VVV, which take 'spherical''s ... 'full''s steps, are checked through
    test_bic_table_with_mclusts_prior."""
    name, model = case.split("-")
    ref = MCLUST_DECOMPOSED[case]
    X, k, means, sigma = _reference(name, ref)
    n = X.shape[0]
    fitted = fastem.GaussianMixture(
        k, covariance_type=model, prior="default", reg_covar=0.0, tol=0.0, max_iter=20,
        weights_init=np.asarray(ref["pro"]), means_init=means, precisions_init=np.linalg.inv(sigma),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X)
    np.testing.assert_allclose(fitted.covariances_, sigma, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-10)
    np.testing.assert_allclose(fitted.weights_, ref["pro"], rtol=1e-9)
    assert fitted.score(X) * n == pytest.approx(ref["loglik"], rel=1e-10)


@pytest.mark.parametrize("model", MAP_MODELS)
@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_mclust_models_map_bound_never_decreases(model, name):
    X = _data(name)
    for init_params, seed in [("hc", 0), ("kmeans", 0), ("kmeans", 1), ("random", 2)]:
        fitted = fastem.GaussianMixture(3, covariance_type=model, prior="default", reg_covar=0.0, tol=0.0,
                                        max_iter=150, init_params=init_params, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted.fit(X)
        bounds = np.array(fitted.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), (init_params, seed)


@pytest.mark.parametrize("model", ["EEI", "VEE", "EVE", "VVE", "EVV"])
def test_other_mclust_models_refuse_a_prior(model):
    with pytest.raises(ValueError, match="takes no prior: MAP-EM takes"):
        fastem.GaussianMixture(2, covariance_type=model, prior="default").fit(_data("faithful"))


@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_bic_table_with_mclusts_prior(name):
    """mclustBIC with priorControl(): mclust's start (hc), stopping rule and prior give its
    table for the nine models with a prior here; a fit MAP empties (mclust's NA) has NaN
    criteria."""
    import mclust_hc_reference as hc_ref

    X = _data(name)
    models = [m for m in hc_ref.BIC_PRIOR_MODELS if m != "EEI"]
    assert tuple(models) == MAP_MODELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best, table = fastem.select(X, range(1, 10), models, "bic", prior="default", init_params="hc", reg_covar=0.0,
                                    tol=1e-5, max_iter=10_000, convergence="relative")
    ours = np.array([[r["bic"] for r in table[9 * j: 9 * j + 9]] for j in range(len(models))]).T
    columns = [hc_ref.BIC_PRIOR_MODELS.index(m) for m in models]
    expected = -np.array([[np.nan if v is None else v for v in row] for row in hc_ref.BIC_PRIOR[name]])[:, columns]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_allclose(ours, expected, rtol=1e-8)

