"""fit_many against loops: problems of n=500, d=2, k=3, full, default settings.

Usage: python bench/many.py [--problems 2000]

Times fastem.fit_many, a Python loop of fastem fits (median of five runs
each), and a Python loop of scikit-learn fits (one run) on the same problems, and checks that every fastem result
matches scikit-learn's lower_bound_ to 1e-6 relative.
"""

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn import mixture
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import fastem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=2000)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    datasets = [make_blobs(n_samples=500, n_features=2, centers=3, random_state=s)[0] for s in range(args.problems)]
    template = fastem.GaussianMixture(3, random_state=0)
    fastem.fit_many(datasets[:4], template)  # compile / load the cache

    def median_time(run, repeats=5):
        times, result = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - start)
        return float(np.median(times)), result

    # fastem's two ways take the median of five runs (a first run can pay a
    # full garbage collection of the process's objects, ~0.1 s here).
    t_many, many = median_time(lambda: fastem.fit_many(datasets, template))
    t_loop, loop = median_time(lambda: [fastem.GaussianMixture(3, random_state=0).fit(X) for X in datasets])
    start = time.perf_counter()
    reference = [mixture.GaussianMixture(3, random_state=0).fit(X) for X in datasets]
    t_sklearn = time.perf_counter() - start

    worst = max(abs(a.lower_bound_ - b.lower_bound_) / abs(b.lower_bound_) for a, b in zip(many, reference))
    same = all(a.lower_bounds_ == b.lower_bounds_ for a, b in zip(many, loop))
    print(f"{args.problems} problems of 500 x 2, k=3, full: fit_many {t_many:.2f} s, loop of fastem fits {t_loop:.2f} s, "
          f"loop of scikit-learn fits {t_sklearn:.2f} s; fit_many is {t_sklearn / t_many:.1f}x scikit-learn's loop and "
          f"{t_loop / t_many:.1f}x fastem's loop; largest relative lower_bound_ difference to scikit-learn "
          f"{worst:.1e}; fit_many equals single fits bitwise: {same}")

    # Parallel restarts: n_init=8 on one small problem (20,000 rows), restarts side by side (2 threads) or one after another.
    X = make_blobs(n_samples=20000, n_features=2, centers=4, random_state=0)[0]
    restart_times = {}
    for threads in (1, 2):
        restart_times[threads], fitted = median_time(
            lambda: fastem.GaussianMixture(4, n_init=8, random_state=0, n_threads=threads).fit(X), repeats=11)
        restart_times[threads, "bounds"] = fitted.lower_bounds_
    start = time.perf_counter()
    mixture.GaussianMixture(4, n_init=8, random_state=0).fit(X)
    t_restarts_sklearn = time.perf_counter() - start
    print(f"n_init=8 on 20000 x 2, k=4: {restart_times[1] * 1e3:.1f} ms on 1 thread, {restart_times[2] * 1e3:.1f} ms on 2 "
          f"({restart_times[1] / restart_times[2]:.2f}x; same result: {restart_times[1, 'bounds'] == restart_times[2, 'bounds']}), "
          f"scikit-learn {t_restarts_sklearn * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
