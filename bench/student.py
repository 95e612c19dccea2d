"""Per-iteration time of StudentTMixture against fastem's and scikit-learn's
GaussianMixture from the same start, in one run, with the fraction of this
machine's matrix-multiply rate.

Usage: python bench/student.py [--quick] [--output bench/results/student.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m, as in
bench/run.py; every model starts from the same short Gaussian fit, the t
mixture with its degrees of freedom estimated.
"""

import argparse
import os
import sys

import numpy as np
from sklearn import mixture

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import measured, pass_flops, Shape, data, emit, matmul_rate, per_iteration, starting_point  # noqa: E402

CASES = [
    ("full", np.float64),
    ("full", np.float32),
    ("diag", np.float64),
]


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
        "| workload | StudentTMixture ms | GaussianMixture ms | t / Gaussian | scikit-learn GaussianMixture ms | "
        "t vs scikit-learn | t GFLOP/s | of matmul rate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for covariance_type, dtype in CASES:
        shape = Shape(n, d, k, covariance_type)
        X = data(shape, dtype)
        start = starting_point(X, shape)
        t = per_iteration(fastem.StudentTMixture, shape, start, X, iterations, repeat)
        g = per_iteration(fastem.GaussianMixture, shape, start, X, iterations, repeat)
        s = per_iteration(mixture.GaussianMixture, shape, start, X, iterations, repeat)
        flops = pass_flops(shape)
        lines.append(
            f"| per iteration, n={n:,} d={d} k={k} {covariance_type} {np.dtype(dtype).name} | {t * 1e3:.2f} | "
            f"{g * 1e3:.2f} | {t / g:.2f}x | {s * 1e3:.1f} | {s / t:.1f}x faster | {flops / t / 1e9:.1f} | "
            f"{flops / t / rate:.1%} |"
        )
        print(lines[-1], flush=True)
    lines += measured(f"bench/student.py{' --quick' if args.quick else ''}")
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
