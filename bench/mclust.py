"""mclust's 14 covariance models in fastem: the per-iteration time of each
against 'full' and scikit-learn's 'full', and the whole selection
(14 models x 9 component counts) against R's mclust on the same data, in one
run, with the fraction of this machine's matrix-multiply rate.

Usage: python bench/mclust.py [--quick] [--output bench/results/mclust.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m, as in
bench/run.py, from the same k-means start. The selection is
``fastem.select(X, range(1, 10), covariance_types="mclust")`` against
``Mclust(X, G = 1:9)`` (all 14 models), twice for fastem: from k-means
starts with scikit-learn's stopping rule, and with mclust's settings
(``init_params="hc"``, ``convergence="relative"``, ``tol=1e-5``,
``reg_covar=0``). The hierarchical start needs memory quadratic in n, so
both run it on a random sample of 2,000 rows (mclust's
``mclust.options("subset")``; the two samples differ), and R's time is
measured inside R (reading the data is in neither). The hierarchical merges
of those 2,000 rows are timed alone too. R and mclust come
from the system's packages; without them the table says so.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from fastem import _hc  # noqa: E402
from fastem.decomposed import MCLUST_MODELS  # noqa: E402
from workloads import measured, pass_flops, Shape, data, emit, matmul_rate, per_iteration, starting_point  # noqa: E402

R_SELECT = """
suppressMessages(library(mclust))
X <- matrix(readBin("{path}", "double", n = {n} * {d}), ncol = {d}, byrow = TRUE)
set.seed(0)
subset <- sample(seq_len(nrow(X)), {subset})
elapsed <- system.time(fit <- Mclust(X, G = 1:9, initialization = list(subset = subset), verbose = FALSE))[["elapsed"]]
cat(elapsed, fit$modelName, fit$G, "\\n")
"""


def mclust_select(X, subset=2000):
    """(seconds, model, G) of R's Mclust on X, or None without R and mclust."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "X.bin")
        np.ascontiguousarray(X, dtype="<f8").tofile(path)
        script = R_SELECT.format(path=path, n=X.shape[0], d=X.shape[1], subset=subset)
        result = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    seconds, model, components = result.stdout.split()[:3]
    return float(seconds), model, int(components)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations; no R selection")
    parser.add_argument("--output", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    repeat, iterations = (1, 3) if args.quick else (3, 5)
    rate = max(matmul_rate(), matmul_rate())
    n, d, k = 100_000, 8, 8
    lines = [
        f"float64 matrix multiply, measured in this run: {rate / 1e9:.1f} GFLOP/s",
        "",
        f"Per iteration, n={n:,} d={d} k={k}:",
        "",
        "| model | fastem ms | / fastem 'full' | scikit-learn 'full' ms | vs scikit-learn 'full' |",
        "|---|---:|---:|---:|---:|",
    ]
    shape = Shape(n, d, k, "full")
    X = data(shape)
    start = starting_point(X, shape)
    full = per_iteration(fastem.GaussianMixture, shape, start, X, iterations, repeat)
    reference = per_iteration(mixture.GaussianMixture, shape, start, X, iterations, repeat)
    covariances = np.linalg.inv(start["precisions_init"])
    for name in MCLUST_MODELS:
        model_start = dict(start, precisions_init=np.linalg.inv(
            fastem.decomposed.m_step(name, covariances * 1000.0, np.full(k, 1000.0))))
        seconds = per_iteration(fastem.GaussianMixture, Shape(n, d, k, name), model_start, X, iterations, repeat)
        lines.append(f"| {name} | {seconds * 1e3:.1f} | {seconds / full:.2f}x | {reference * 1e3:.0f} | "
                     f"{reference / seconds:.1f}x faster |")
        print(lines[-1], flush=True)
    lines += ["", f"'full': {full * 1e3:.1f} ms, {pass_flops(shape) / full / rate:.1%} of the matmul rate.", ""]

    if not args.quick:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            begin = time.perf_counter()
            best, table = fastem.select(X, n_components=range(1, 10), covariance_types="mclust", random_state=0)
            ours = time.perf_counter() - begin
            begin = time.perf_counter()
            as_mclust, as_mclust_table = fastem.select(
                X, n_components=range(1, 10), covariance_types="mclust", random_state=0, init_params="hc",
                convergence="relative", tol=1e-5, reg_covar=0.0, max_iter=100_000)
            ours_hc = time.perf_counter() - begin
        sample = np.random.RandomState(0).choice(n, 2000, replace=False)
        begin = time.perf_counter()
        _hc.merges(_hc.svd_scaled(X[sample]))
        merges = time.perf_counter() - begin
        theirs = mclust_select(X)

        def failures(records):
            failed = sum(r["status"] == "failed" for r in records)
            return f" ({failed} fits failed)" if failed else ""

        lines += [
            f"Selection, n={n:,} d={d}, 14 models x G = 1..9:",
            "",
            "| | seconds | chosen | speed-up |",
            "|---|---:|---|---:|",
            f"| fastem.select (k-means starts) | {ours:.1f} | {best.covariance_type}, G={best.n_components}"
            f"{failures(table)} | |",
            f"| fastem.select (mclust's settings, hc on 2,000 rows) | {ours_hc:.1f} | {as_mclust.covariance_type}, "
            f"G={as_mclust.n_components}{failures(as_mclust_table)} | |",
        ]
        if theirs is None:
            lines.append("| mclust | not run: Rscript or mclust missing | | |")
        else:
            lines.append(f"| mclust Mclust (hc on 2,000 rows) | {theirs[0]:.1f} | {theirs[1]}, G={theirs[2]} | "
                         f"fastem {theirs[0] / ours:.1f}x (k-means), {theirs[0] / ours_hc:.1f}x (mclust's settings) "
                         "faster |")
        lines += ["", f"The hierarchical merges of 2,000 rows (d={d}) alone: {merges:.2f} s.", ""]
        print("\n".join(lines[-10:]), flush=True)
    lines += measured(f"bench/mclust.py{' --quick' if args.quick else ''}")
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
