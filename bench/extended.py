"""fastem's extended benchmarks: scaling in n and k, memory, compile time.

Usage: python bench/extended.py [--quick] [--output bench/results/extended.md] [--plot bench/results/scaling.png]

- scaling: per-iteration time (d=8, full, fixed starting point) for n from
  10^4 to 10^7 at k=8, and for k from 2 to 32 at n=10^5, with the time per
  row per component, which is flat when the cost is linear;
- memory: peak RSS a default fit adds beyond X at n=10^7, d=8, k=8 (in a
  subprocess, so nothing else shares the process);
- compile time: a cold compile of every covariance type and dtype, for
  small problems and for large ones (fresh cache directory), and the first
  fits in a fresh process with a warm cache against the same fits in a
  warm process.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import Shape, best_time, data, fit_quietly, fixed_work_model, starting_point  # noqa: E402


def per_iteration(shape, repeat=3):
    # Enough iterations that a measurement lasts ~0.2 s or more: at 10^4 rows an
    # iteration is ~0.3 ms, and ten of them drown in a shared machine's noise.
    iterations = max(10, 10**7 // shape.n_samples)
    X = data(shape)
    start = starting_point(X, shape)
    one = fixed_work_model("fastem", shape, start, 1)
    many = fixed_work_model("fastem", shape, start, iterations + 1)
    t_one = best_time(lambda: fit_quietly(one, X), repeat)
    t_many = best_time(lambda: fit_quietly(many, X), repeat)
    return max(t_many - t_one, 1e-9) / iterations


def scaling(quick):
    top = 6 if quick else 7
    rows_n = [(10**e, per_iteration(Shape(10**e, 8, 8, "full"))) for e in range(4, top + 1)]
    rows_k = [(k, per_iteration(Shape(100_000, 8, k, "full"))) for k in (2, 4, 8, 16, 32)]
    return rows_n, rows_k


MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    import fastem
    warnings.simplefilter("ignore")

    def peak_mb():
        # VmHWM belongs to this address space; getrusage's maxrss survives exec from the parent.
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

    n = int(sys.argv[1])
    rng = np.random.default_rng(0)
    X = np.empty((n, 8))
    for s in range(0, n, 1 << 15):  # small chunks: making X must not set the peak
        m = min(1 << 15, n - s)
        X[s:s + m] = rng.normal(size=(m, 8)) + rng.integers(0, 8, size=(m, 1)) * 2.0
    fastem.GaussianMixture(2, max_iter=1).fit(X[:1000])
    before = peak_mb()
    fastem.GaussianMixture(8, random_state=0).fit(X)
    after = peak_mb()
    print(after - before, X.nbytes / 2**20)
    """
)


def memory(n):
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n)], capture_output=True, text=True, check=True)
    added, x_mb = map(float, out.stdout.split())
    return added, x_mb


COMPILE_SCRIPT = textwrap.dedent(
    """
    import sys, time, warnings
    start = time.perf_counter()
    import numpy as np, fastem
    rng = np.random.default_rng(0)
    # 2,000 rows are fitted whole by the small-problem kernels; 300,000 rows
    # take the parallel pass and the parallel k-means.
    small, large = rng.normal(size=(2000, 4)), rng.normal(size=(300_000, 4))
    types = sys.argv[1].split(",")

    def first_model():
        return fastem.GaussianMixture(3, max_iter=2, random_state=0).fit(large)

    def fit_all():
        for covariance_type in types:
            for dtype in (np.float64, np.float32):
                model = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0)
                model.fit(small.astype(dtype)).predict_proba(small.astype(dtype))
            fastem.GaussianMixture(3, covariance_type=covariance_type, max_iter=2, random_state=0).fit(large)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first_model()
        first = time.perf_counter() - start
        fit_all()
        every = time.perf_counter() - start
        again = time.perf_counter()
        first_model()
        first_again = time.perf_counter() - again
        again = time.perf_counter()
        fit_all()
        every_again = time.perf_counter() - again
    print(first, every, first_again, every_again)
    """
)


def compile_times():
    """(seconds from start to the first model, to every fit) for a cold and a warm
    cache, and the same fits in the warm process."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = lambda: [float(value) for value in subprocess.run(  # noqa: E731
            [sys.executable, "-c", COMPILE_SCRIPT, "full,tied,diag,spherical"], env=env, capture_output=True,
            text=True, check=True,
        ).stdout.split()]
        cold_first, cold_every, warm_process_first, warm_process_every = run()
        warm_first, warm_every, _, _ = run()
    return dict(cold=cold_every, first=warm_first, first_warm_process=warm_process_first,
                every=warm_every, every_warm_process=warm_process_every)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10^6, memory at n=10^6")
    parser.add_argument("--output", default=None)
    parser.add_argument("--plot", default=None, help="write the scaling curves to this PNG (needs matplotlib)")
    args = parser.parse_args(argv)
    lines = []
    rows_n, rows_k = scaling(args.quick)
    # Off linear: in n, the time per row against the largest n's; in k, the
    # time against the least-squares line a + b k (a row's features cost the
    # same for every k, so the time per row per component falls with k).
    largest_n, largest_time = rows_n[-1]
    ks, k_times = np.array([k for k, _ in rows_k]), np.array([t for _, t in rows_k])
    slope, intercept = np.polyfit(ks, k_times, 1)
    lines += ["Per-iteration time, d=8, full covariance:", "",
              "| n | k | ms per iteration | ns per row per component | off linear |", "|---:|---:|---:|---:|---:|"]
    for n, seconds in rows_n:
        off = seconds / n / (largest_time / largest_n) - 1.0
        lines.append(f"| {n:,} | 8 | {seconds * 1e3:.2f} | {seconds / n / 8 * 1e9:.2f} | {off:+.1%} |")
    for k, seconds in rows_k:
        off = seconds / (intercept + slope * k) - 1.0
        lines.append(f"| 100,000 | {k} | {seconds * 1e3:.2f} | {seconds / 100_000 / k * 1e9:.2f} | {off:+.1%} |")
    lines += ["", f"Off linear: in n, time per row against n={largest_n:,}; in k, time against the least-squares "
              f"line {intercept * 1e3:.2f} ms + {slope * 1e3:.3f} ms x k."]
    n_mem = 10**6 if args.quick else 10**7
    added, x_mb = memory(n_mem)
    lines += ["", f"Memory: a default fit (k-means init) at n={n_mem:,}, d=8, k=8 adds {added:.0f} MB to peak RSS "
              f"beyond X ({x_mb:.0f} MB)."]
    times = compile_times()
    lines += [f"Compile: cold (every covariance type, both dtypes, small and large problems, fresh cache) "
              f"{times['cold']:.1f} s. With a warm cache a fresh process has its first model (import and a default "
              f"fit of 300,000 x 4) after {times['first']:.2f} s, the same fit in a warm process takes "
              f"{times['first_warm_process']:.2f} s ({times['first'] - times['first_warm_process']:.2f} s later); "
              f"every fit above: {times['every']:.2f} s against {times['every_warm_process']:.2f} s."]
    lines += ["", f"Measured {time.strftime('%Y-%m-%d')} with `python bench/extended.py{' --quick' if args.quick else ''}`."]
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write(table + "\n")
    if args.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot")
            return 0
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        ns = np.array([n for n, _ in rows_n])
        left.loglog(ns, [s * 1e3 for _, s in rows_n], "o-")
        left.set(xlabel="n (d=8, k=8, full)", ylabel="ms per iteration")
        ks = np.array([k for k, _ in rows_k])
        right.plot(ks, [s * 1e3 for _, s in rows_k], "o-")
        right.set(xlabel="k (n=100,000, d=8, full)", ylabel="ms per iteration")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
