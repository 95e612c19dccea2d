"""Print fastem's benchmark table: ms per iteration, ratio to scikit-learn,
and the fractions of this machine's float64 matrix-multiply rate and (where
the exponentials bound the pass) of its memory bandwidth, all measured in
the same run.

Usage: python bench/run.py [--quick] [--output bench/results/latest.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m from the
same starting point, which removes validation, set-up and scikit-learn's
final E-step from both libraries alike.
"""

import argparse
import re
import os
import platform
import sys
import time
import warnings

import numba
import numpy as np
import sklearn
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import (  # noqa: E402
    PER_ITERATION_SHAPES,
    best_time,
    data,
    fit_quietly,
    fixed_work_model,
    matmul_rate,
    memory_bandwidth,
    starting_point,
)


def per_iteration(library, shape, X, start, iterations, repeat, **extra):
    one = fixed_work_model(library, shape, start, 1, **extra)
    many = fixed_work_model(library, shape, start, iterations + 1, **extra)
    t_one = best_time(lambda: fit_quietly(one, X), repeat)
    t_many = best_time(lambda: fit_quietly(many, X), repeat)
    return max(t_many - t_one, 1e-9) / iterations, many.lower_bound_


def bayesian_per_iteration(library, shape, X, iterations, repeat):
    """(t(m + 1) - t(1)) / m for BayesianGaussianMixture from the same k-means start."""
    cls = fastem.BayesianGaussianMixture if library == "fastem" else mixture.BayesianGaussianMixture

    def model(max_iter):
        return cls(n_components=shape.n_components, covariance_type=shape.covariance_type, tol=0.0,
                   max_iter=max_iter, random_state=0)

    one, many = model(1), model(iterations + 1)
    t_one = best_time(lambda: fit_quietly(one, X), repeat)
    t_many = best_time(lambda: fit_quietly(many, X), repeat)
    return max(t_many - t_one, 1e-9) / iterations, float(np.squeeze(many.lower_bound_))


def whole_fit(library, shape, X, repeat):
    cls = fastem.GaussianMixture if library == "fastem" else mixture.GaussianMixture
    model = cls(shape.n_components, covariance_type=shape.covariance_type, random_state=0)
    seconds = best_time(lambda: fit_quietly(model, X), repeat)
    return seconds, model


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
        f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads), scikit-learn {sklearn.__version__}"
    )


def share(gflops):
    """The "of matmul rate" cell of a row: a mark that :func:`render` fills in."""
    return f"{{rate:{gflops!r}}}"


def render(line, rate):
    """``line`` with its :func:`share` marks as fractions of ``rate`` (FLOP/s)."""
    return re.sub(r"\{rate:([^}]+)\}", lambda mark: f"{float(mark.group(1)) * 1e9 / rate:.1%}", line)


def float32_agreement(shape, X32, start, max_iter=21):
    """Largest normwise relative difference of weights, means and covariances
    between fits of the float32 data and of the same values as float64."""
    single, double = (fit_quietly(fixed_work_model("fastem", shape, start, max_iter), data)
                      for data in (X32, X32.astype(np.float64)))
    return max(np.max(np.abs(getattr(single, name) - getattr(double, name))) / np.max(np.abs(getattr(double, name)))
               for name in ("weights_", "means_", "covariances_"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, fewer repeats")
    parser.add_argument("--output", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    # Smallest of five: on a shared machine the other tenants slow some calls, never speed one up.
    repeat = 1 if args.quick else 5
    warnings.simplefilter("ignore", ConvergenceWarning)

    # The matrix-multiply rate is measured at the start and again at the end and
    # the larger taken: another tenant on the cores during one measurement
    # would otherwise lower the denominator of every "of matmul rate".
    rate = matmul_rate()
    bandwidth = memory_bandwidth()
    lines = [
        f"Machine: {machine()}",
        "",  # the rates, once both are measured
        "",
        "| workload | fastem ms | scikit-learn ms | speed-up | fastem GFLOP/s | of matmul rate | bound by | bound reached (fastem / sklearn) |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for base in PER_ITERATION_SHAPES:
        shape = base._replace(n_samples=base.n_samples // scale)
        X = data(shape)
        start = starting_point(X, shape)
        ours, ours_bound = per_iteration("fastem", shape, X, start, 20, repeat)
        theirs, their_bound = per_iteration("sklearn", shape, X, start, 2, repeat)
        gflops = shape.flops_per_iteration() / ours / 1e9
        bound = shape.bound()
        if bound != "flops":
            bound += f" (X read at {shape.bytes_per_iteration() / ours / bandwidth:.0%} of memory bandwidth)"
        lines.append(
            f"| per iteration, {shape.label} | {ours * 1e3:.2f} | {theirs * 1e3:.1f} | {theirs / ours:.1f}x "
            f"| {gflops:.1f} | {share(gflops)} | {bound} | {ours_bound:.6f} / {their_bound:.6f} |"
        )
        print(render(lines[-1], rate), flush=True)

    shape = PER_ITERATION_SHAPES[0]._replace(n_samples=PER_ITERATION_SHAPES[0].n_samples // scale)
    X = data(shape)
    start = starting_point(X, shape)
    ml, _ = per_iteration("fastem", shape, X, start, 20, repeat)
    map_, map_bound = per_iteration("fastem", shape, X, start, 20, repeat, prior="default")
    lines.append(
        f"| MAP-EM (prior='default') per iteration, {shape.label} | {map_ * 1e3:.2f} | | "
        f"MAP/ML time {map_ / ml:.2f} | {shape.flops_per_iteration() / map_ / 1e9:.1f} | "
        f"{share(shape.flops_per_iteration() / map_ / 1e9)} | flops | {map_bound:.6f} (log-posterior) |"
    )
    print(render(lines[-1], rate), flush=True)

    ours_vb, vb_bound = bayesian_per_iteration("fastem", shape, X, 20, repeat)
    theirs_vb, their_vb_bound = bayesian_per_iteration("sklearn", shape, X, 2, 1)
    gflops = shape.flops_per_iteration() / ours_vb / 1e9
    lines.append(
        f"| BayesianGaussianMixture per iteration, {shape.label} | {ours_vb * 1e3:.2f} | {theirs_vb * 1e3:.1f} | "
        f"{theirs_vb / ours_vb:.1f}x | {gflops:.1f} | {share(gflops)} | flops | "
        f"{vb_bound:.3f} / {their_vb_bound:.3f} (ELBO) |"
    )
    print(render(lines[-1], rate), flush=True)

    ours64 = per_iteration("fastem", shape, X, start, 20, repeat)[0]
    X32 = X.astype(np.float32)
    ours32, bound32 = per_iteration("fastem", shape, X32, start, 20, repeat)
    lines.append(
        f"| float32 data per iteration, {shape.label} | {ours32 * 1e3:.2f} | | float64/float32 time "
        f"{ours64 / ours32:.2f} | | | flops | {bound32:.6f} (fitted model within "
        f"{float32_agreement(shape, X32, start):.1e} of the float64 fit's) |"
    )
    print(render(lines[-1], rate), flush=True)
    one_thread, _ = per_iteration("fastem", shape, X, start, 20, repeat, n_threads=1)
    lines.append(
        f"| 1 thread per iteration, {shape.label} | {one_thread * 1e3:.2f} | | 1-thread/all-thread time "
        f"{one_thread / ours64:.2f} | | | flops | |"
    )
    print(render(lines[-1], rate), flush=True)
    fitted, reference = (fixed_work_model(lib, shape, start, 1) for lib in ("fastem", "sklearn"))
    fit_quietly(fitted, X)
    fit_quietly(reference, X)
    for method in ("predict_proba", "score_samples", "predict"):
        # Calls of ~10 ms: more repeats, so that one slow call on a shared machine does not set the number.
        theirs = best_time(lambda: getattr(reference, method)(X), 3 * repeat)
        ours = best_time(lambda: getattr(fitted, method)(X), 3 * repeat)
        lines.append(f"| {method}, {shape.label} | {ours * 1e3:.2f} | {theirs * 1e3:.1f} | {theirs / ours:.1f}x | | | | |")
        print(render(lines[-1], rate), flush=True)

    ours, ours_model = whole_fit("fastem", shape, X, repeat)
    theirs, their_model = whole_fit("sklearn", shape, X, 1)
    lines.append(
        f"| whole default fit (k-means init, tol=1e-3), {shape.label} | {ours * 1e3:.0f} | {theirs * 1e3:.0f} "
        f"| {theirs / ours:.1f}x | | | | {ours_model.lower_bound_:.6f} ({ours_model.n_iter_} it) / "
        f"{their_model.lower_bound_:.6f} ({their_model.n_iter_} it) |"
    )
    print(render(lines[-1], rate), flush=True)
    rate = max(rate, matmul_rate())
    lines = [render(line, rate) for line in lines]
    lines[1] = (f"float64 matrix multiply, measured in this run: {rate / 1e9:.1f} GFLOP/s (the larger of two "
                f"measurements); memory bandwidth (streaming sum): {bandwidth / 1e9:.1f} GB/s")
    lines.append("")
    lines.append(f"Measured {time.strftime('%Y-%m-%d')} with `python bench/run.py{' --quick' if args.quick else ''}`.")
    table = "\n".join(lines)
    print()
    print(table)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
