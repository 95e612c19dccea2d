"""fit_many against loops: problems of n=500, d=2, k=3, full, default settings.

Usage: python bench/many.py [--problems 2000]

Times fastem.fit_many, a Python loop of fastem fits (median of five runs
each), and a Python loop of scikit-learn fits (one run) on the same problems,
with the garbage collector off during each run as timeit does (fit_many is
also timed with it on), and checks that every fastem result
matches scikit-learn's lower_bound_ to 1e-6 relative.
"""

import argparse
import gc
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

    def median_time(run, repeats=5, garbage_collection=False):
        """Median wall time of ``run`` and its last result. As in timeit, the garbage collector is off
        during each run unless asked for: a full collection of this process's ~200,000 objects takes
        ~0.1 s and lands in whichever run happens to trigger it."""
        times, result = [], None
        for _ in range(repeats):
            result = None
            gc.collect()
            if not garbage_collection:
                gc.disable()
            try:
                start = time.perf_counter()
                result = run()
                times.append(time.perf_counter() - start)
            finally:
                gc.enable()
        return float(np.median(times)), result, max(times)

    t_many, many, _ = median_time(lambda: fastem.fit_many(datasets, template))
    t_loop, loop, _ = median_time(lambda: [fastem.GaussianMixture(3, random_state=0).fit(X) for X in datasets])
    t_many_gc, _, worst_many_gc = median_time(lambda: fastem.fit_many(datasets, template), garbage_collection=True)
    t_sklearn, reference, _ = median_time(lambda: [mixture.GaussianMixture(3, random_state=0).fit(X) for X in datasets],
                                          repeats=1)

    worst = max(abs(a.lower_bound_ - b.lower_bound_) / abs(b.lower_bound_) for a, b in zip(many, reference))
    same = all(a.lower_bounds_ == b.lower_bounds_ for a, b in zip(many, loop))
    print(f"{args.problems} problems of 500 x 2, k=3, full: fit_many {t_many:.2f} s, loop of fastem fits {t_loop:.2f} s, "
          f"loop of scikit-learn fits {t_sklearn:.2f} s; fit_many is {t_sklearn / t_many:.1f}x scikit-learn's loop and "
          f"{t_loop / t_many:.1f}x fastem's loop; largest relative lower_bound_ difference to scikit-learn "
          f"{worst:.1e}; fit_many equals single fits bitwise: {same}. With the garbage collector on, fit_many "
          f"{t_many_gc:.2f} s (median of five), {worst_many_gc:.2f} s at worst")

    # Parallel restarts: n_init=8 on one small problem (20,000 rows), restarts side by side (2 threads) or one after another.
    X = make_blobs(n_samples=20000, n_features=2, centers=4, random_state=0)[0]
    restart_times = {}
    for threads in (1, 2):
        restart_times[threads], fitted, _ = median_time(
            lambda: fastem.GaussianMixture(4, n_init=8, random_state=0, n_threads=threads).fit(X), repeats=11)
        restart_times[threads, "bounds"] = fitted.lower_bounds_
    t_restarts_sklearn, _, _ = median_time(lambda: mixture.GaussianMixture(4, n_init=8, random_state=0).fit(X), repeats=1)
    print(f"n_init=8 on 20000 x 2, k=4: {restart_times[1] * 1e3:.1f} ms on 1 thread, {restart_times[2] * 1e3:.1f} ms on 2 "
          f"({restart_times[1] / restart_times[2]:.2f}x; same result: {restart_times[1, 'bounds'] == restart_times[2, 'bounds']}), "
          f"scikit-learn {t_restarts_sklearn * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
