"""mclust's 14 covariance models (fastem.decomposed): each M-step against a numerical
minimization of its objective, parameter counts, the four models scikit-learn shares,
monotone bounds, and what the models refuse."""

import pathlib
import warnings

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastem
import naive
from fastem import GaussianMixture
from fastem.decomposed import MCLUST_MODELS, m_step, objective

#: mclust's nVarParams for G = 3 components in d = 4 dimensions (its documented formulas).
MCLUST_VARIANCE_PARAMETERS_G3_D4 = {
    "EII": 1, "VII": 3, "EEI": 4, "VEI": 6, "EVI": 10, "VVI": 12, "EEE": 10, "VEE": 12,
    "EVE": 16, "VVE": 18, "EEV": 22, "VEV": 24, "EVV": 28, "VVV": 30,
}
SHARED = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def three_blobs(n_samples=600, seed=0, d=3):
    rng = np.random.default_rng(seed)
    X = []
    for j in range(3):
        a = rng.normal(size=(d, d))
        X.append(rng.normal(size=(n_samples // 3, d)) @ a + 4.0 * rng.normal(size=d))
    return np.vstack(X)


def scatters_and_counts(seed, k=3, d=3):
    """Random component scatters W_k (positive definite) and counts n_k."""
    rng = np.random.default_rng(seed)
    nk = rng.uniform(20.0, 80.0, size=k)
    W = []
    for j in range(k):
        a = rng.normal(size=(d, d)) * rng.uniform(0.5, 2.0, size=d)
        W.append(nk[j] * (a @ a.T / d + 0.1 * np.eye(d)))
    return np.array(W), nk


def covariances_from_vector(name, theta, k, d):
    """A model's covariances from unconstrained coordinates: log volumes, log shapes (last
    = -sum of the others), orientations as exp of skew-symmetric matrices."""
    volume, shape, orientation = name
    position = 0

    def take(count):
        nonlocal position
        part = theta[position : position + count]
        position += count
        return part

    volumes = np.exp(take(1 if volume == "E" else k))
    volumes = np.broadcast_to(volumes, (k,))
    shapes = np.ones((k, d))
    if shape != "I":
        raw = take((d - 1) * (1 if shape == "E" else k)).reshape(-1, d - 1)
        shapes = np.exp(np.hstack([raw, -raw.sum(axis=1, keepdims=True)]))
        shapes = np.broadcast_to(shapes, (k, d))
    rotations = np.broadcast_to(np.eye(d), (k, d, d))
    if orientation != "I":
        upper = np.triu_indices(d, 1)
        count = len(upper[0])
        raw = take(count * (1 if orientation == "E" else k)).reshape(-1, count)
        mats = []
        for row in raw:
            skew = np.zeros((d, d))
            skew[upper] = row
            mats.append(expm(skew - skew.T))
        rotations = np.broadcast_to(np.array(mats), (k, d, d))
    assert position == theta.shape[0]
    return np.einsum("kab,kb,kcb->kac", rotations, volumes[:, None] * shapes, rotations)


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_m_step_minimizes_the_models_objective(name, monkeypatch):
    monkeypatch.setattr(fastem.decomposed, "INNER_MAX_ITER", 100_000)  # an M-step run to its end
    k, d = 3, 3
    from fastem.decomposed import _n_covariance_parameters

    size = _n_covariance_parameters(name, k, d)  # the coordinates above are mclust's free parameters
    for seed in range(2):
        scatters, nk = scatters_and_counts(seed, k, d)
        ours = m_step(name, scatters, nk)
        value = objective(ours, scatters, nk)
        best = np.inf
        rng = np.random.default_rng(100 + seed)
        log_scale = np.log(np.trace(scatters.sum(axis=0)) / (nk.sum() * d))
        for _ in range(6):
            theta0 = rng.normal(scale=0.5, size=size)
            theta0[: 1 if name[0] == "E" else k] += log_scale  # the volumes come first
            result = minimize(lambda t: objective(covariances_from_vector(name, t, k, d), scatters, nk), theta0,
                              method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
            best = min(best, result.fun)
        assert value <= best + 1e-7 * abs(best), (value, best)
        assert value >= best - 1e-5 * abs(best), (value, best)  # not better than the model allows


@pytest.mark.parametrize("name", ["VEI", "VEE", "VEV", "EVE", "VVE"])
def test_iterative_m_steps_never_raise_the_objective_from_their_start(name, monkeypatch):
    for seed in range(4):
        scatters, nk = scatters_and_counts(seed)
        other, _ = scatters_and_counts(seed + 50)
        start = m_step(name, other, nk)  # a covariance of the model, away from this optimum
        capped = m_step(name, scatters, nk, start)  # at most INNER_MAX_ITER inner iterations
        assert objective(capped, scatters, nk) <= objective(start, scatters, nk)
        with monkeypatch.context() as patch:
            patch.setattr(fastem.decomposed, "INNER_MAX_ITER", 100_000)
            result = m_step(name, scatters, nk, start)
            free = m_step(name, scatters, nk)
        assert objective(result, scatters, nk) <= objective(capped, scatters, nk)
        np.testing.assert_allclose(objective(result, scatters, nk), objective(free, scatters, nk), rtol=1e-8)


@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_rotation_sweep_kernel_equals_its_numpy_twin(d):
    """EVE's and VVE's sweep of plane rotations, compiled, against the NumPy rounds; and
    a sweep never raises Q for the eigenvalues it was given."""
    from fastem import decomposed
    from fastem._kernels._rotation import rotation_sweep

    rng = np.random.default_rng(d)
    k = 4
    a = rng.normal(size=(k, d, d))
    scatters = a @ np.swapaxes(a, 1, 2) + d * np.eye(d)
    orientation = np.linalg.qr(rng.normal(size=(d, d)))[0]
    eigenvalues = rng.uniform(0.5, 3.0, size=(k, d))
    expected = naive.rotation_sweep(scatters, orientation, eigenvalues, decomposed._rounds(d))
    turned = np.array(orientation)
    rotation_sweep(scatters, turned, 1.0 / eigenvalues, decomposed._round_pairs(d))
    np.testing.assert_allclose(turned, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(turned.T @ turned, np.eye(d), atol=1e-12)
    nk = np.full(k, 10.0)
    before = decomposed.objective(decomposed._compose(orientation, eigenvalues), scatters, nk)
    after = decomposed.objective(decomposed._compose(turned, eigenvalues), scatters, nk)
    assert after <= before


def test_parameter_counts_are_mclusts():
    X = three_blobs(600, seed=1, d=4)
    for name, variance_parameters in MCLUST_VARIANCE_PARAMETERS_G3_D4.items():
        model = quiet(GaussianMixture(3, covariance_type=name, random_state=0, max_iter=5).fit, X)
        # mclust's nMclustParams: G - 1 weights, G d means, and the variance parameters.
        assert model._n_parameters() == 2 + 12 + variance_parameters, name


@pytest.mark.parametrize("name", sorted(SHARED))
def test_the_models_scikit_learn_shares_fit_the_same(name):
    X = three_blobs(seed=2)
    ours = GaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    theirs = GaussianMixture(3, covariance_type=SHARED[name], random_state=0).fit(X)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8, atol=1e-10)
    expected = naive.full_covariances(theirs.covariances_, SHARED[name], 3, 3)
    np.testing.assert_allclose(ours.covariances_, expected, rtol=1e-8, atol=1e-12)
    assert ours.covariances_.shape == ours.precisions_.shape == ours.precisions_cholesky_.shape == (3, 3, 3)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-12)


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_bound_never_decreases(name):
    X = three_blobs(450, seed=3)
    for seed in range(2):
        model = quiet(GaussianMixture(4, covariance_type=name, random_state=seed, tol=0.0, max_iter=30,
                                      init_params="random").fit, X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), (name, np.diff(bounds).min())


def test_select_fits_every_mclust_model_and_the_rest_refuse_them():
    X = three_blobs(300, seed=4)
    best, table = fastem.select(X, n_components=range(1, 4), covariance_types="mclust", random_state=0)
    assert [r["covariance_type"] for r in table] == [name for name in MCLUST_MODELS for _ in range(3)]
    assert all(r["status"] != "failed" for r in table)
    assert best.n_components == 3
    with pytest.raises(ValueError, match="covariance_type='EVE' takes no prior"):
        GaussianMixture(2, covariance_type="EVE", prior="default").fit(X)
    for model in (fastem.BayesianGaussianMixture(covariance_type="VVV"), fastem.StudentTMixture(covariance_type="EEV")):
        with pytest.raises(InvalidParameterError):
            model.fit(X)


def _dataset(name):
    if name == "faithful":
        return np.loadtxt(__import__("pathlib").Path(__file__).with_name("data_faithful.csv"), delimiter=",",
                          skiprows=1)
    from sklearn.datasets import load_iris

    return load_iris().data


def _mclust_fit(key, d):
    from mclust_models_reference import MCLUST_ML

    ref = MCLUST_ML[key]
    G = len(ref["pro"])
    means = np.asarray(ref["mean"]).reshape(G, d)
    sigma = np.asarray(ref["sigma"]).reshape(G, d, d)  # column-major d x d x G: each d x d is symmetric
    return ref, G, means, sigma


@pytest.mark.parametrize("dataset", ["faithful", "iris"])
@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_mclusts_fits_are_fixed_points_with_its_log_likelihood_and_bic(dataset, name):
    X = _dataset(dataset)
    n, d = X.shape
    for G in (1, 2, 3):
        ref, G, means, sigma = _mclust_fit(f"{dataset}-{name}-{G}", d)
        init = dict(weights_init=np.asarray(ref["pro"]) / np.sum(ref["pro"]), means_init=means,
                    precisions_init=np.linalg.inv(sigma))
        model = quiet(GaussianMixture(G, covariance_type=name, reg_covar=0.0, tol=0.0, max_iter=5, **init).fit, X)
        # The bound of the first iteration is the log-likelihood at mclust's parameters.
        assert model.lower_bounds_[0] * n == pytest.approx(ref["loglik"], rel=1e-9, abs=1e-7)
        assert model._n_parameters() == ref["df"]
        if name == "VVE" and G > 1:
            # mclust's VVE stops below the model's maximum here (its own em() started from
            # fastem's faithful G = 2 fit, log-likelihood -1132.113, returns to -1132.187):
            # EM climbs from mclust's fit, to a BIC lower by twice the gained log-likelihood.
            assert model.lower_bound_ * n > ref["loglik"] + 0.05
            continue
        # EM stays there: mclust's maximum is ours (no other parameters of the model do better).
        assert model.lower_bound_ * n == pytest.approx(ref["loglik"], rel=1e-8)
        np.testing.assert_allclose(model.means_, means, rtol=1e-5, atol=1e-6 * np.abs(X).max())
        # scikit-learn's sign: lower is better.
        assert model.bic(X) == pytest.approx(-ref["bic"], rel=1e-8)
        assert model.icl(X) == pytest.approx(-ref["icl"], rel=1e-5)  # 5 iterations on: z moves a little
    # One component: no initialization to differ, the same BIC from fastem's own start.
    ref = _mclust_fit(f"{dataset}-{name}-1", d)[0]
    alone = GaussianMixture(1, covariance_type=name, reg_covar=0.0, tol=1e-12, max_iter=500).fit(X)
    assert alone.bic(X) == pytest.approx(-ref["bic"], rel=1e-9)


@pytest.mark.parametrize("covariance_type", list(MCLUST_MODELS) + ["full", "tied", "diag", "spherical"])
def test_volume_shape_and_orientation_rebuild_the_covariances(covariance_type):
    """volume_, shape_ and orientation_ are the model's own decomposition: they rebuild
    covariances_, every shape has product 1, and what the model's name holds Equal (or
    the Identity) is equal across components."""
    X = np.loadtxt(pathlib.Path(__file__).with_name("data_faithful.csv"), delimiter=",", skiprows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=30).fit(X)
    volume, shape, orientation = gm.volume_, gm.shape_, gm.orientation_
    rebuilt = np.einsum("k,kab,kb,kcb->kac", volume, orientation, shape, orientation)
    full = fastem.gaussian.full_matrices(gm.covariances_, covariance_type, 3, 2)
    np.testing.assert_allclose(rebuilt, full, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.prod(shape, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.abs(np.einsum("kab,kac->kbc", orientation, orientation)), np.eye(2)[None].repeat(3, 0),
                               atol=1e-12)
    # scikit-learn's four in mclust's terms, written here rather than taken from fastem.
    name = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}.get(covariance_type, covariance_type)
    equal = {"volume": name[0] == "E", "shape": name[1] in "EI", "orientation": name[2] in "EI"}
    for part, values in (("volume", volume), ("shape", shape), ("orientation", orientation)):
        if equal[part]:
            np.testing.assert_allclose(values, values[:1].repeat(3, 0), rtol=1e-8, atol=1e-12, err_msg=part)
    if name[1] == "I":
        np.testing.assert_allclose(shape, 1.0, rtol=1e-12)
    if name[2] == "I":
        np.testing.assert_array_equal(orientation, np.eye(2)[None].repeat(3, 0))
    with pytest.raises(AttributeError):
        fastem.GaussianMixture(covariance_type=covariance_type).volume_
