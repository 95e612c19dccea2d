"""Benchmark workloads shared by the pytest-benchmark suite and bench/run.py.

Every per-iteration measurement fixes the work: the same starting point for
both libraries (weights, means and precisions passed in, so no k-means runs),
``tol=0`` and a fixed ``max_iter``.
"""

import time
import warnings
from typing import NamedTuple

import numpy as np
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem.cli import make_workload


class Shape(NamedTuple):
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str

    @property
    def label(self):
        return f"n={self.n_samples:,} d={self.n_features} k={self.n_components} {self.covariance_type}"

    def flops_per_iteration(self):
        """Multiply-adds x 2 of one iteration (Mahalanobis form + scatter)."""
        n, d, k = self.n_samples, self.n_features, self.n_components
        if self.covariance_type in ("full", "tied"):
            return 2.0 * n * k * d * d
        return 8.0 * n * k * d

    def bytes_per_iteration(self, itemsize=8):
        """Bytes of X one pass reads (the statistics and parameters are small beside them)."""
        return float(itemsize) * self.n_samples * self.n_features

    def bound(self):
        """What limits the iteration: flops for large d; for small d or diagonal
        covariances the exponentials and per-row work (the bench prints the
        fraction of memory bandwidth the read of X takes, which is small)."""
        if self.covariance_type in ("full", "tied") and self.n_features >= 8:
            return "flops"
        return "exponentials, per-row work"


PER_ITERATION_SHAPES = [
    Shape(100_000, 16, 16, "full"),
    Shape(100_000, 16, 16, "diag"),
    Shape(200_000, 2, 8, "full"),
]


def data(shape, dtype=np.float64, seed=0):
    X, _ = make_workload(shape.n_samples, shape.n_features, shape.n_components, seed)
    return np.ascontiguousarray(X, dtype=dtype)


def starting_point(X, shape, seed=0):
    """Weights, means and precisions of a short fastem fit: both libraries start here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastem.GaussianMixture(
            shape.n_components, covariance_type=shape.covariance_type, max_iter=2, random_state=seed
        ).fit(X)
    return dict(weights_init=model.weights_, means_init=model.means_, precisions_init=model.precisions_)


def fixed_work_model(library, shape, start, max_iter, **extra):
    cls = fastem.GaussianMixture if library == "fastem" else mixture.GaussianMixture
    return cls(shape.n_components, covariance_type=shape.covariance_type, tol=0.0, max_iter=max_iter, **start, **extra)


def fit_quietly(model, X, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X) if y is None else model.fit(X, y)


def per_iteration(cls, shape, start, X, iterations, repeat, y=None):
    """Per-iteration time of ``cls`` from ``start``: (t(iterations + 1) - t(1)) / iterations,
    each the best of ``repeat`` fits (so initialization and validation cancel)."""

    def fit(max_iter):
        model = cls(n_components=shape.n_components, covariance_type=shape.covariance_type, tol=0.0, max_iter=max_iter,
                    **start)
        return lambda: fit_quietly(model, X, y)

    t_one = best_time(fit(1), repeat)
    t_many = best_time(fit(iterations + 1), repeat)
    return max(t_many - t_one, 1e-9) / iterations


def pass_flops(shape):
    """Floating-point operations of one iteration's two products over the layout's features
    (log-densities and statistics): 4 n k n_stats."""
    from fastem._kernels import n_stats  # here, not at the top: revisions.py imports this file
    from fastem.covariance import COVARIANCE_MODELS  # with older revisions of fastem

    layout = COVARIANCE_MODELS[shape.covariance_type].layout
    return 4.0 * shape.n_samples * shape.n_components * n_stats(layout, shape.n_features)


def measured(command):
    """A results table's last lines: the date and the command that measured it."""
    return ["", f"Measured {time.strftime('%Y-%m-%d')} with `python {command}`."]


def best_time(function, repeat=3):
    """Smallest wall time of ``repeat`` calls (after one untimed warm-up call)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def memory_bandwidth():
    """Bytes per second of a streaming reduction over 1 GiB in memory."""
    a = np.ones(1 << 27)
    a.sum()
    start = time.perf_counter()
    for _ in range(3):
        a.sum()
    return 3 * a.nbytes / (time.perf_counter() - start)


def matmul_rate(dtype=np.float64, size=2048, repeat=5):
    """The machine's matrix-multiply rate in FLOP/s, measured now."""
    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    seconds = best_time(lambda: a @ a, repeat)
    return 2.0 * size**3 / seconds


def case_times(cases, repeat):
    """Fixed-work times of ``(label, (n, d, k, covariance_type), extra parameters)`` cases in this
    process: per iteration (t(m + 1) - t(1)) / m from the common start, or one predict_proba call."""
    times = []
    for label, dims, extra in cases:
        shape = Shape(*dims)
        X = data(shape)
        start = starting_point(X, shape)
        if label == "predict_proba":
            model = fit_quietly(fixed_work_model("fastem", shape, start, 1), X)
            times.append(best_time(lambda: model.predict_proba(X), 3 * repeat))
            continue
        iterations = 20 if shape.n_samples >= 100_000 else 200
        one = fixed_work_model("fastem", shape, start, 1, **extra)
        many = fixed_work_model("fastem", shape, start, iterations + 1, **extra)
        t_one = best_time(lambda: fit_quietly(one, X), repeat)
        t_many = best_time(lambda: fit_quietly(many, X), repeat)
        times.append(max(t_many - t_one, 1e-9) / iterations)
    return times


def emit(lines, output=None):
    """Print a table's lines and write them to ``output`` (a markdown file) when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if output:
        with open(output, "w") as f:
            f.write(text)
