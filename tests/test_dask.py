"""Dask: exact EM on a real LocalCluster with two worker processes."""

import os
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # Workers inherit the environment: one Numba thread each, set before they spawn.
    previous = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=50)
            client = distributed.Client(cluster)
    finally:
        if previous is None:
            del os.environ["NUMBA_NUM_THREADS"]
        else:
            os.environ["NUMBA_NUM_THREADS"] = previous
    yield client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.close()
        cluster.close()


def _data(n=20_000, seed=0):
    X, _ = make_blobs(n_samples=n, n_features=3, centers=4, cluster_std=2.0, random_state=seed)
    return X


def _quiet(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args)


ESTIMATORS = {
    "ml": lambda **kw: fastem.GaussianMixture(4, **kw),
    "vb": lambda **kw: fastem.BayesianGaussianMixture(n_components=4, **kw),
}


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_fit_on_the_cluster_equals_in_memory(client, kind, covariance_type):
    X = _data()
    params = dict(covariance_type=covariance_type, random_state=0, tol=0.0, max_iter=15)
    in_memory = _quiet(ESTIMATORS[kind](**params).fit, X)
    # 8 blocks of 2,560 rows: whole 512-row blocks of the pass's grid.
    dX = da.from_array(X, chunks=(2560, 3))
    on_cluster = _quiet(ESTIMATORS[kind](**params).fit, dX)
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(on_cluster, name), getattr(in_memory, name), rtol=1e-12, atol=1e-14)

    proba = on_cluster.predict_proba(dX)
    labels = on_cluster.predict(dX)
    scores = on_cluster.score_samples(dX)
    assert isinstance(proba, da.Array) and isinstance(labels, da.Array) and isinstance(scores, da.Array)
    np.testing.assert_allclose(proba.compute(), in_memory.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(labels.compute(), in_memory.predict(X))
    np.testing.assert_allclose(scores.compute(), in_memory.score_samples(X), rtol=1e-12)
    assert on_cluster.score(dX) == pytest.approx(in_memory.score(X), rel=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initialization_on_the_cluster_equals_in_memory(client, init_params):
    # More rows than the old 100,000-row sample, in uneven blocks: k-means' seeding
    # and Lloyd steps run as tasks over every block, with the in-memory draws.
    X = _data(n=300_000, seed=3)
    params = dict(covariance_type="tied", init_params=init_params, random_state=0, tol=0.0, max_iter=3)
    in_memory = _quiet(fastem.GaussianMixture(4, **params).fit, X)
    on_cluster = _quiet(fastem.GaussianMixture(4, **params).fit, da.from_array(X, chunks=(70_001, 3)))
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(on_cluster, name), getattr(in_memory, name), rtol=1e-10, atol=1e-12)


def test_random_initialization_sends_its_draws_outside_the_graph(client):
    # The 'random' initialization draws every row's responsibilities here, in
    # block order; blocks of them go to the workers directly, so the graph stays
    # small (distributed warns of a large graph, and warnings are errors here).
    X = _data(n=400_000, seed=4)
    dX = da.from_array(X, chunks=(100_000, 3)).persist()
    params = dict(init_params="random", random_state=0, tol=0.0, max_iter=2)
    on_cluster = _quiet(fastem.GaussianMixture(8, **params).fit, dX)
    in_memory = _quiet(fastem.GaussianMixture(8, **params).fit, X)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-10)


def test_fit_survives_a_killed_worker(client):
    X = _data(n=400_000, seed=1)
    # A given start: the worker dies during the EM passes.
    params = dict(tol=0.0, max_iter=150, weights_init=np.full(4, 0.25), means_init=X[:4],
                  precisions_init=np.stack([np.eye(3)] * 4))
    in_memory = _quiet(fastem.GaussianMixture(4, **params).fit, X)
    dX = da.from_array(X, chunks=(50_000, 3))
    model = fastem.GaussianMixture(4, **params)
    errors = []

    def fit():
        try:
            _quiet(model.fit, dX)
        except Exception as error:  # reported below
            errors.append(error)

    worker = threading.Thread(target=fit)
    worker.start()
    time.sleep(1.0)
    assert worker.is_alive(), "the fit ended before a worker could be killed"
    victim = sorted(client.scheduler_info()["workers"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:
            pass  # the worker dies before it can answer
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert victim not in client.scheduler_info()["workers"]  # it did die
    assert not errors, errors
    np.testing.assert_allclose(model.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(model.means_, in_memory.means_, rtol=1e-12)


def test_bad_dask_input(client):
    bad = _data(n=1000)
    bad[10, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fastem.GaussianMixture(2).fit(da.from_array(bad, chunks=(250, 3)))
    with pytest.raises(TypeError, match="sample_weight"):
        fastem.GaussianMixture(2).fit(da.from_array(_data(n=1000), chunks=(250, 3)), sample_weight=np.ones(1000))


@pytest.mark.parametrize("family", ["poisson", "bernoulli", "categorical"])
@pytest.mark.parametrize("variational", [False, True])
def test_family_fit_on_the_cluster_equals_in_memory(client, family, variational):
    from test_families import N_CATEGORIES, estimator, make_data

    X, _ = make_data(family, n_samples=6000, seed=1)
    extra = {"n_categories": N_CATEGORIES} if family == "categorical" else {}
    params = dict(n_components=3, random_state=0, tol=0.0, max_iter=8, variational=variational, **extra)
    in_memory = _quiet(estimator(family, **params).fit, X)
    dX = da.from_array(X, chunks=(1536, X.shape[1]))
    on_cluster = _quiet(estimator(family, **params).fit, dX)
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(on_cluster.score_samples(dX).compute(), in_memory.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(on_cluster.predict(dX).compute(), in_memory.predict(X))


def test_family_bad_values_on_the_cluster_are_named(client):
    from test_families import make_data

    X, _ = make_data("poisson", n_samples=1000)
    X[700, 1] = 0.5
    with pytest.raises(ValueError, match="nonnegative integer counts: column 1 holds 0.5"):
        fastem.PoissonMixture(2).fit(da.from_array(X, chunks=(250, 4)))


@pytest.mark.parametrize("missing", [False, True])
def test_mixed_fit_on_the_cluster_equals_in_memory(client, missing):
    if missing:  # a full and a diagonal Gaussian group with NaN, counts, binary and categorical columns
        from test_mixed_missing import GROUPS, incomplete

        X = incomplete(n=6000, seed=15)[0]
    else:
        from test_mixed import GROUPS, make_data

        X = make_data(n=6000, seed=3)[0]
    params = dict(groups=GROUPS, random_state=0, tol=0.0, max_iter=6)
    in_memory = _quiet(fastem.MixedMixture(2, **params).fit, X)
    dX = da.from_array(X, chunks=(1536, X.shape[1]))
    on_cluster = _quiet(fastem.MixedMixture(2, **params).fit, dX)
    # The Gaussian groups' centres are column means, summed in another order on the cluster.
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(on_cluster.score_samples(dX).compute(), in_memory.score_samples(X), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_array_equal(on_cluster.predict(dX).compute(), in_memory.predict(X))


def test_student_fit_on_the_cluster_equals_in_memory(client):
    from test_student import make_data

    X, _ = make_data(6000, seed=3, outliers=0.01)
    params = dict(random_state=0, tol=0.0, max_iter=8)
    in_memory = _quiet(fastem.StudentTMixture(2, **params).fit, X)
    dX = da.from_array(X, chunks=(1536, X.shape[1]))
    on_cluster = _quiet(fastem.StudentTMixture(2, **params).fit, dX)
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(on_cluster.dof_, in_memory.dof_, rtol=1e-8)
    np.testing.assert_allclose(on_cluster.score_samples(dX).compute(), in_memory.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(on_cluster.predict(dX).compute(), in_memory.predict(X))


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_labelled_fit_on_the_cluster_equals_in_memory(client, init_params, kind):
    from test_labels import soft_labels, some_labels

    X, truth = make_blobs(n_samples=12_000, n_features=3, centers=3, cluster_std=2.5, random_state=3)
    y = some_labels(truth, 0.05) if kind == "hard" else soft_labels(truth, 3)
    params = dict(init_params=init_params, random_state=0, tol=0.0, max_iter=6)
    in_memory = _quiet(fastem.GaussianMixture(3, **params).fit, X, y)
    on_cluster = _quiet(fastem.GaussianMixture(3, **params).fit, da.from_array(X, chunks=(2500, 3)), da.from_array(y))
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-12)
    poisson = np.random.default_rng(4).poisson(np.array([[1.0, 5.0], [6.0, 1.0], [3.0, 3.0]])[truth]).astype(float)
    in_memory = _quiet(fastem.PoissonMixture(3, **params).fit, poisson, y)
    on_cluster = _quiet(fastem.PoissonMixture(3, **params).fit, da.from_array(poisson, chunks=(2500, 2)), y)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-12)


def test_fit_with_missing_entries_on_the_cluster_equals_in_memory(client):
    from test_missing import incomplete

    X, _, _ = incomplete(12_000, rate=0.15, seed=14)
    params = dict(random_state=0, tol=0.0, max_iter=6)
    in_memory = _quiet(fastem.GaussianMixture(3, **params).fit, X)
    dX = da.from_array(X, chunks=(2500, 3))
    on_cluster = _quiet(fastem.GaussianMixture(3, **params).fit, dX)
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-12)
    # atol: a row with nothing observed scores log(sum of the weights), 0 to rounding.
    np.testing.assert_allclose(on_cluster.score_samples(dX).compute(), in_memory.score_samples(X), rtol=1e-12,
                               atol=1e-12)


def test_student_t_with_missing_entries_on_the_cluster_and_in_chunks_equals_in_memory(client):
    from test_missing import incomplete

    X, _, _ = incomplete(8000, rate=0.15, seed=18)
    params = dict(random_state=0, tol=0.0, max_iter=5)
    in_memory = _quiet(fastem.StudentTMixture(3, **params).fit, X)
    on_cluster = _quiet(fastem.StudentTMixture(3, **params).fit, da.from_array(X, chunks=(2000, 3)))
    chunked = _quiet(fastem.StudentTMixture(3, **params).fit_chunks, lambda: iter(np.array_split(X, 3)))
    for other, rtol in ((on_cluster, 1e-12), (chunked, 1e-9)):
        np.testing.assert_allclose(other.lower_bounds_, in_memory.lower_bounds_, rtol=rtol)
        np.testing.assert_allclose(other.means_, in_memory.means_, rtol=rtol)
        np.testing.assert_allclose(other.dof_, in_memory.dof_, rtol=rtol)


def test_variational_fit_with_missing_entries_on_the_cluster_and_in_chunks_equals_in_memory(client):
    from test_missing import incomplete

    X, _, _ = incomplete(8000, rate=0.15, seed=19)
    params = dict(n_components=4, random_state=0, tol=0.0, max_iter=5)
    in_memory = _quiet(fastem.BayesianGaussianMixture(**params).fit, X)
    on_cluster = _quiet(fastem.BayesianGaussianMixture(**params).fit, da.from_array(X, chunks=(2000, 3)))
    chunked = _quiet(fastem.BayesianGaussianMixture(**params).fit_chunks, lambda: iter(np.array_split(X, 3)))
    for other, rtol in ((on_cluster, 1e-12), (chunked, 1e-9)):
        np.testing.assert_allclose(other.lower_bounds_, in_memory.lower_bounds_, rtol=rtol)
        np.testing.assert_allclose(other.means_, in_memory.means_, rtol=rtol)
        np.testing.assert_allclose(other.covariances_, in_memory.covariances_, rtol=rtol)


@pytest.mark.parametrize("family", ["poisson", "categorical"])
def test_family_fit_with_missing_entries_on_the_cluster_equals_in_memory(client, family):
    from test_missing_families import extra, with_nan

    X, _ = with_nan(family, n_samples=6000, seed=10)
    params = dict(n_components=2, random_state=0, tol=0.0, max_iter=6, **extra(family))
    from test_families import estimator

    in_memory = _quiet(estimator(family, **params).fit, X)
    on_cluster = _quiet(estimator(family, **params).fit, da.from_array(X, chunks=(1500, X.shape[1])))
    np.testing.assert_allclose(on_cluster.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(on_cluster.means_, in_memory.means_, rtol=1e-12)
