"""Per-iteration time of the Poisson, Bernoulli and categorical mixtures against
a plain NumPy EM (what a user writes: BLAS products for the log-densities and
the statistics, a max-shifted log-sum-exp), from the same start, in one run,
with the fraction of this machine's matrix-multiply rate.

Usage: python bench/families.py [--quick] [--output bench/results/families.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m, as in
bench/run.py. The NumPy EM is timed per iteration directly (it has no set-up).
"""

import argparse
import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import measured, best_time, emit, matmul_rate, memory_bandwidth  # noqa: E402


def make_data(family, n, d, k, seed=0):
    """n rows of a k-component mixture of the family, and a start near the truth."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(k, size=n)
    if family == "poisson":
        truth = rng.uniform(0.5, 8.0, size=(k, d))
        X = rng.poisson(truth[labels]).astype(np.float64)
    elif family == "bernoulli":
        truth = rng.uniform(0.05, 0.95, size=(k, d))
        X = (rng.random((n, d)) < truth[labels]).astype(np.float64)
    else:
        truth = rng.dirichlet(np.ones(4), size=(k, d))  # d columns of 4 categories
        cumulative = np.cumsum(truth[labels], axis=2)
        X = (rng.random((n, d, 1)) > cumulative).sum(axis=2).astype(np.float64)
        truth = truth.reshape(k, 4 * d)
    start = np.clip(truth * rng.uniform(0.8, 1.2, size=truth.shape), 0.01, None)
    if family == "bernoulli":
        start = np.clip(start, 0.01, 0.99)
    if family == "categorical":
        start = (start.reshape(k, d, 4) / start.reshape(k, d, 4).sum(axis=2, keepdims=True)).reshape(k, 4 * d)
    return X, np.full(k, 1.0 / k), start


def numpy_em(family, X, weights, means, n_iter):
    """Plain NumPy EM; returns the mean log-likelihood of the last iteration's start (h(x) left out)."""
    if family == "categorical":
        d = X.shape[1]
        X = np.eye(4)[X.astype(np.int64)].reshape(X.shape[0], 4 * d)
    n = X.shape[0]
    bound = None
    for _ in range(n_iter):
        with np.errstate(divide="ignore"):
            if family == "poisson":
                log_prob = X @ np.log(means).T - means.sum(axis=1)
            elif family == "bernoulli":
                log_prob = X @ (np.log(means) - np.log1p(-means)).T + np.log1p(-means).sum(axis=1)
            else:
                log_prob = X @ np.log(means).T
        log_prob += np.log(weights)
        largest = log_prob.max(axis=1, keepdims=True)
        resp = np.exp(log_prob - largest)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total
        bound = float(np.mean(largest[:, 0] + np.log(total[:, 0])))
        counts = resp.sum(axis=0)
        means = (resp.T @ X) / counts[:, None]
        weights = counts / n
    return bound


def fastem_model(family, k, weights, means, max_iter):
    cls = {"poisson": fastem.PoissonMixture, "bernoulli": fastem.BernoulliMixture,
           "categorical": fastem.CategoricalMixture}[family]
    return cls(k, weights_init=weights, means_init=means, tol=0.0, max_iter=max_iter)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, fewer repeats")
    parser.add_argument("--output", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else 1_000_000
    d = k = 16
    repeat, iterations = (2, 3) if args.quick else (5, 8)
    rate = max(matmul_rate(), matmul_rate())
    bandwidth = memory_bandwidth()
    lines = [
        f"float64 matrix multiply, measured in this run: {rate / 1e9:.1f} GFLOP/s; memory bandwidth "
        f"(streaming sum): {bandwidth / 1e9:.1f} GB/s",
        "",
        "| workload | fastem ms | NumPy EM ms | speed-up | fastem GFLOP/s | of matmul rate | X read at | "
        "bound reached (fastem / NumPy) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for family in ("poisson", "bernoulli", "categorical"):
        X, weights, means = make_data(family, n, d, k)
        one = fastem_model(family, k, weights, means, 1)
        many = fastem_model(family, k, weights, means, iterations + 1)
        t_one = best_time(lambda: fit_quietly(one, X), repeat)
        t_many = best_time(lambda: fit_quietly(many, X), repeat)
        ours = max(t_many - t_one, 1e-9) / iterations
        theirs = best_time(lambda: numpy_em(family, X, weights, means, 1), repeat)
        their_bound = numpy_em(family, X, weights, means, iterations + 1)
        log_base = 0.0
        if family == "poisson":
            from scipy.special import gammaln

            log_base = float(-gammaln(X + 1.0).sum(axis=1).mean())
        columns = means.shape[1]
        # Two products per iteration, log-densities and statistics: 2 x 2 n k (1 + columns) flops.
        flops = 4.0 * n * k * (1 + columns)
        label = f"{family}, n={n:,} d={d} k={k}" + (" (4 categories per column)" if family == "categorical" else "")
        lines.append(
            f"| per iteration, {label} | {ours * 1e3:.2f} | {theirs * 1e3:.1f} | {theirs / ours:.1f}x | "
            f"{flops / ours / 1e9:.1f} | {flops / ours / rate:.1%} | {X.nbytes / ours / bandwidth:.0%} of bandwidth | "
            f"{many.lower_bounds_[-1]:.6f} / {their_bound + log_base:.6f} |"
        )
        print(lines[-1], flush=True)
    lines += measured(f"bench/families.py{' --quick' if args.quick else ''}")
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
