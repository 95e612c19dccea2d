"""Per-iteration time of GaussianMixture with known components for some rows
(fit(X, y)) against the same fit without labels and scikit-learn's, from the
same start, in one run, with the fraction of this machine's matrix-multiply rate.

Usage: python bench/labels.py [--quick] [--output bench/results/labels.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m, as in
bench/run.py. Hard labels: 10% of the rows carry their true component.
Soft labels: every row an (n, k) prior, 20% of them leaning 0.9 to their
component, the rest uniform.
"""

import argparse
import os
import sys

import numpy as np
from sklearn import mixture

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import measured, pass_flops, Shape, data, emit, matmul_rate, per_iteration, starting_point  # noqa: E402


def labels_of(n, k, kind, seed=0):
    """Labels of the kind for n rows: hard (10% known, the rest -1), soft (n, k) or None."""
    rng = np.random.default_rng(seed)
    component = rng.integers(0, k, n)
    if kind == "hard":
        return np.where(rng.random(n) < 0.1, component, -1)
    if kind == "soft":
        soft = np.full((n, k), 1.0 / k)
        leaning = np.flatnonzero(rng.random(n) < 0.2)
        soft[leaning] = 0.1 / (k - 1)
        soft[leaning, component[leaning]] = 0.9
        return soft
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--output", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    n, d, k = 100_000, 16, 16
    repeat, iterations = (2, 3) if args.quick else (5, 8)
    rate = max(matmul_rate(), matmul_rate())
    lines = [
        f"float64 matrix multiply, measured in this run: {rate / 1e9:.1f} GFLOP/s",
        "",
        "| workload | no labels ms | hard labels ms | hard / none | soft labels ms | soft / none | "
        "scikit-learn (no labels) ms | hard vs scikit-learn | hard: of matmul rate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for covariance_type in ("full", "diag"):
        shape = Shape(n, d, k, covariance_type)
        X = data(shape)
        start = starting_point(X, shape)
        none = per_iteration(fastem.GaussianMixture, shape, start, X, iterations, repeat)
        hard = per_iteration(fastem.GaussianMixture, shape, start, X, iterations, repeat, labels_of(n, k, "hard"))
        soft = per_iteration(fastem.GaussianMixture, shape, start, X, iterations, repeat, labels_of(n, k, "soft"))
        reference = per_iteration(mixture.GaussianMixture, shape, start, X, iterations, repeat)
        flops = pass_flops(shape)
        lines.append(
            f"| per iteration, n={n:,} d={d} k={k} {covariance_type} | {none * 1e3:.2f} | {hard * 1e3:.2f} | "
            f"{hard / none:.2f}x | {soft * 1e3:.2f} | {soft / none:.2f}x | {reference * 1e3:.1f} | "
            f"{reference / hard:.1f}x faster | {flops / hard / rate:.1%} |"
        )
        print(lines[-1], flush=True)
    lines += measured(f"bench/labels.py{' --quick' if args.quick else ''}")
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
