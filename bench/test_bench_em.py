"""pytest-benchmark suite: fastem and scikit-learn side by side, same work.

Run with ``pytest bench --benchmark-enable`` (bench/ is outside the test
run). Each group holds both libraries at one shape; ``extra_info`` records
the bound reached, so a faster but wrong fit would show.
"""

import numpy as np
import pytest

from workloads import PER_ITERATION_SHAPES, data, fit_quietly, fixed_work_model, starting_point

# The same work for both, so the group's ratio is the per-iteration ratio.
MAX_ITER = {"fastem": 5, "sklearn": 5}


@pytest.fixture(scope="module", params=PER_ITERATION_SHAPES, ids=lambda s: s.label)
def problem(request):
    shape = request.param
    X = data(shape)
    return shape, X, starting_point(X, shape)


@pytest.mark.parametrize("library", ["fastem", "sklearn"])
def test_per_iteration(benchmark, problem, library):
    shape, X, start = problem
    benchmark.group = f"per-iteration {shape.label}"
    max_iter = MAX_ITER[library]
    model = fixed_work_model(library, shape, start, max_iter)
    fit_quietly(model, X)  # warm-up: JIT compile / BLAS threads
    benchmark.pedantic(fit_quietly, args=(model, X), rounds=3, iterations=1)
    benchmark.extra_info["iterations"] = max_iter
    benchmark.extra_info["lower_bound"] = float(model.lower_bound_)
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_float32_against_float64(benchmark, dtype):
    shape = PER_ITERATION_SHAPES[0]
    X = data(shape)
    start = starting_point(X, shape)
    X = X.astype(dtype)
    benchmark.group = f"float32 against float64 {shape.label}"
    model = fixed_work_model("fastem", shape, start, MAX_ITER["fastem"])
    fit_quietly(model, X)
    benchmark.pedantic(fit_quietly, args=(model, X), rounds=3, iterations=1)
    benchmark.extra_info["lower_bound"] = float(model.lower_bound_)
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("prior", [None, "default"], ids=["ML", "MAP"])
def test_map_against_ml(benchmark, prior):
    shape = PER_ITERATION_SHAPES[0]
    X = data(shape)
    start = starting_point(X, shape)
    benchmark.group = f"ML vs MAP per-iteration {shape.label}"
    model = fixed_work_model("fastem", shape, start, MAX_ITER["fastem"], prior=prior)
    fit_quietly(model, X)
    benchmark.pedantic(fit_quietly, args=(model, X), rounds=3, iterations=1)
    benchmark.extra_info["lower_bound"] = float(model.lower_bound_)


@pytest.mark.parametrize("library", ["fastem", "sklearn"])
def test_bayesian_per_fit(benchmark, library):
    from sklearn import mixture

    import fastem

    shape = PER_ITERATION_SHAPES[0]
    X = data(shape)
    cls = fastem.BayesianGaussianMixture if library == "fastem" else mixture.BayesianGaussianMixture
    model = cls(n_components=shape.n_components, tol=0.0, max_iter=MAX_ITER[library], random_state=0)
    benchmark.group = f"BayesianGaussianMixture {shape.label}"
    fit_quietly(model, X)
    benchmark.pedantic(fit_quietly, args=(model, X), rounds=2, iterations=1)
    benchmark.extra_info["iterations"] = MAX_ITER[library]
    benchmark.extra_info["lower_bound"] = float(np.squeeze(model.lower_bound_))


@pytest.fixture(scope="module", params=["poisson", "bernoulli"])
def family_problem(request):
    from families import make_data

    n = 200_000
    X, weights, means = make_data(request.param, n, 16, 16)
    return request.param, X, weights, means


@pytest.mark.parametrize("library", ["fastem", "numpy"])
def test_family_per_iteration(benchmark, family_problem, library):
    """A family's fixed-work fit beside the plain NumPy EM of bench/families.py, from the same start."""
    from families import fastem_model, numpy_em

    family, X, weights, means = family_problem
    benchmark.group = f"per-iteration {family}, n={X.shape[0]:,} d=16 k=16"
    if library == "fastem":
        model = fastem_model(family, 16, weights, means, MAX_ITER["fastem"])
        fit_quietly(model, X)
        benchmark.pedantic(fit_quietly, args=(model, X), rounds=3, iterations=1)
        bound = float(model.lower_bound_)
    else:
        bound = numpy_em(family, X, weights, means, MAX_ITER["fastem"])
        benchmark.pedantic(numpy_em, args=(family, X, weights, means, MAX_ITER["fastem"]), rounds=3, iterations=1)
    benchmark.extra_info["lower_bound"] = bound
    assert np.isfinite(bound)


@pytest.mark.parametrize("library", ["student", "fastem", "sklearn"])
def test_student_per_iteration(benchmark, library):
    """StudentTMixture (nu estimated) beside both GaussianMixtures, from the same start (bench/student.py)."""
    import fastem
    from sklearn import mixture

    shape = PER_ITERATION_SHAPES[0]
    X = data(shape)
    start = starting_point(X, shape)
    benchmark.group = f"Student-t against Gaussian per-iteration {shape.label}"
    cls = {"student": fastem.StudentTMixture, "fastem": fastem.GaussianMixture, "sklearn": mixture.GaussianMixture}[library]
    model = cls(shape.n_components, covariance_type=shape.covariance_type, tol=0.0, max_iter=5, **start)
    fit_quietly(model, X)
    benchmark.pedantic(fit_quietly, args=(model, X), rounds=3, iterations=1)
    benchmark.extra_info["lower_bound"] = float(model.lower_bound_)
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("kind", ["none", "hard", "soft"])
def test_labels_per_iteration(benchmark, kind):
    """GaussianMixture with known components for some rows, from the same start (bench/labels.py)."""
    import fastem
    from labels import labels_of

    shape = PER_ITERATION_SHAPES[0]
    X = data(shape)
    start = starting_point(X, shape)
    y = labels_of(shape.n_samples, shape.n_components, kind)
    benchmark.group = f"labels per-iteration {shape.label}"
    model = fastem.GaussianMixture(shape.n_components, covariance_type=shape.covariance_type, tol=0.0, max_iter=5,
                                   **start)
    fit_quietly(model, X, y)
    benchmark.pedantic(fit_quietly, args=(model, X, y), rounds=3, iterations=1)
    benchmark.extra_info["lower_bound"] = float(model.lower_bound_)
    assert np.isfinite(model.lower_bound_)
