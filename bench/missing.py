"""Per-iteration time of GaussianMixture (and BayesianGaussianMixture) on data
with missing entries (NaN) against the same data complete and scikit-learn's
fit of the complete data, from the same start, in one run, with the fraction
of this machine's matrix-multiply rate; and of MixedMixture (a full Gaussian
group, counts and binary items) with and without NaN.

Usage: python bench/missing.py [--quick] [--output bench/results/missing.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m, as in
bench/run.py; entries are missing completely at random at the given rate.
Building the patterns (once per fit) is in neither term.
"""

import argparse
import os
import sys

import numpy as np
from sklearn import mixture

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import (measured, pass_flops, Shape, best_time, data, emit, fit_quietly, matmul_rate,  # noqa: E402
                       per_iteration, starting_point)


def mixed_table(repeat, iterations, n=200_000, k=4, missing_rate=0.10):
    """MixedMixture over 4 Gaussian (one full group), 2 count and 2 binary columns: its
    iteration on the data complete and with ``missing_rate`` of the entries missing."""
    rng = np.random.default_rng(2)
    z = rng.integers(0, k, n)
    complete = np.column_stack([rng.normal(size=(n, 4)) + z[:, None], rng.poisson(1.0 + z[:, None], size=(n, 2)),
                                rng.random((n, 2)) < 0.2 + 0.15 * z[:, None]]).astype(np.float64)
    X = complete.copy()
    X[rng.random(X.shape) < missing_rate] = np.nan
    groups = [("gaussian", [0, 1, 2, 3]), ("poisson", [4, 5]), ("bernoulli", [6, 7])]

    def per_iteration_mixed(data):
        def fit(max_iter):
            model = fastem.MixedMixture(k, groups=groups, tol=0.0, max_iter=max_iter, random_state=0)
            return lambda: fit_quietly(model, data)

        return max(best_time(fit(iterations + 1), repeat) - best_time(fit(1), repeat), 1e-9) / iterations

    full, with_nan = per_iteration_mixed(complete), per_iteration_mixed(X)
    gaussian_incomplete = int(np.isnan(X[:, :4]).any(axis=1).sum())
    lines = [
        "",
        "| MixedMixture workload | missing | rows missing a Gaussian entry | complete data ms | with NaN ms | "
        "NaN / complete |",
        "|---|---:|---:|---:|---:|---:|",
        f"| per iteration, n={n:,}, 4 Gaussian (full) + 2 Poisson + 2 Bernoulli columns, k={k} | "
        f"{missing_rate:.0%} MCAR | {gaussian_incomplete:,} | {full * 1e3:.1f} | {with_nan * 1e3:.1f} | "
        f"{with_nan / full:.2f}x |",
    ]
    print(lines[-1], flush=True)
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--output", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    repeat, iterations = (2, 3) if args.quick else (3, 6)
    rate = max(matmul_rate(), matmul_rate())
    lines = [
        f"float64 matrix multiply, measured in this run: {rate / 1e9:.1f} GFLOP/s",
        "",
        "| workload | missing | incomplete rows | patterns | complete data ms | with NaN ms | NaN / complete | "
        "scikit-learn (complete) ms | NaN vs scikit-learn | complete: of matmul rate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    workloads = (
        ("full", fastem.GaussianMixture, mixture.GaussianMixture, 1_000_000, 8, 8, 0.10),
        ("full", fastem.GaussianMixture, mixture.GaussianMixture, 1_000_000, 8, 8, 0.02),
        ("full variational", fastem.BayesianGaussianMixture, mixture.BayesianGaussianMixture, 1_000_000, 8, 8, 0.10),
    )
    for name, ours, theirs, n, d, k, missing_rate in workloads:
        shape = Shape(n, d, k, "full")
        complete = data(shape)
        X = complete.copy()
        X[np.random.default_rng(1).random(X.shape) < missing_rate] = np.nan
        nan_rows = np.isnan(X).any(axis=1)
        n_patterns = np.unique(np.isnan(X[nan_rows]), axis=0).shape[0]
        # Variational Bayes has no *_init: both libraries start from the same k-means seed.
        start = starting_point(complete, shape) if ours is fastem.GaussianMixture else dict(random_state=0)
        full = per_iteration(ours, shape, start, complete, iterations, repeat)
        with_nan = per_iteration(ours, shape, start, X, iterations, repeat)
        reference = per_iteration(theirs, shape, start, complete, iterations, repeat)
        flops = pass_flops(shape)
        lines.append(
            f"| per iteration, n={n:,} d={d} k={k} {name} | {missing_rate:.0%} MCAR | {int(nan_rows.sum()):,} | "
            f"{n_patterns} | {full * 1e3:.1f} | {with_nan * 1e3:.1f} | {with_nan / full:.2f}x | "
            f"{reference * 1e3:.0f} | {reference / with_nan:.1f}x faster | {flops / full / rate:.1%} |"
        )
        print(lines[-1], flush=True)
    lines += mixed_table(repeat, iterations)
    lines += measured(f"bench/missing.py{' --quick' if args.quick else ''}")
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
