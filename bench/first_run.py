"""A user's first run: the cold compile of a first default fit, and a fresh process's start.

Usage: python bench/first_run.py [--rounds 3] [--output bench/results/first_run.md]

The workload is the first-run issue's: GaussianMixture(16) on 100,000 x 16
normal rows (full covariance, k-means start, float64). Each round runs

- a fresh process with an empty Numba cache: the time to the fitted model
  (import excluded), the same fit again in that process (the fit's own
  time; the difference is compiling and loading), and the compile time of
  each kernel the fit compiled at the top level (Numba's compile events;
  a kernel's time includes the kernels it calls that were not compiled yet);
- a fresh process with the cache now warm: the time from before the import
  to the fitted model, against the same fit in that process a second time.

The smallest value over the rounds is kept for each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import emit  # noqa: E402

SCRIPT = textwrap.dedent(
    """
    import json, time, warnings
    start = time.perf_counter()
    import numpy as np
    import fastem
    from numba.core import event
    imported = time.perf_counter()
    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
    X = np.random.default_rng(0).normal(size=(100_000, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        began = time.perf_counter()
        fastem.GaussianMixture(16, random_state=0).fit(X)
        first = time.perf_counter() - began
        began = time.perf_counter()
        fastem.GaussianMixture(16, random_state=0).fit(X)
        again = time.perf_counter() - began
    opened, spans = {}, []
    for stamp, item in recorder.buffer:
        key = (item.data["dispatcher"].py_func.__module__ + "." + item.data["dispatcher"].py_func.__qualname__,
               str(item.data["args"]))
        if item.is_start:
            opened[key] = stamp
        else:
            spans.append((opened.pop(key), stamp, key[0]))
    top = [s for s in spans if not any(o[0] < s[0] and s[1] < o[1] for o in spans)]
    kernels = {}
    for begin, end, name in top:
        kernels[name] = kernels.get(name, 0.0) + end - begin
    print(json.dumps(dict(import_=imported - start, to_model=imported - start + first, first=first, again=again,
                          kernels=kernels)))
    """
)


def _run(cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    cold, warm = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(_run(cache))
            warm.append(_run(cache))
    best = min(cold, key=lambda run: run["first"])
    compile_s = best["first"] - best["again"]
    warm_best = min(warm, key=lambda run: run["to_model"])
    lines = [
        "First default fit (GaussianMixture(16), 100,000 x 16, full, float64), "
        f"smallest of {args.rounds} rounds:",
        "",
        "| measure | seconds |",
        "|---|---:|",
        f"| cold cache: the first fit | {best['first']:.2f} |",
        f"| of which compiling and loading (the first fit minus the second) | {compile_s:.2f} |",
        f"| the same fit again in that process | {best['again']:.2f} |",
        f"| warm cache, fresh process: import and the first fit | {warm_best['to_model']:.2f} |",
        f"| of which importing fastem | {warm_best['import_']:.2f} |",
        f"| the same fit again in that process | {warm_best['again']:.2f} |",
        f"| a fresh process's start (import and loading: the first minus the second) "
        f"| {warm_best['to_model'] - warm_best['again']:.2f} |",
        "",
        "Where the cold compile goes (top-level kernels, each with the kernels it calls first):",
        "",
        "| kernel | seconds |",
        "|---|---:|",
    ]
    for name, seconds in sorted(best["kernels"].items(), key=lambda item: -item[1]):
        if seconds >= 0.05:
            lines.append(f"| {name.removeprefix('fastem._kernels.')} | {seconds:.2f} |")
    lines += ["", f"Measured {time.strftime('%Y-%m-%d')} with `python bench/first_run.py --rounds {args.rounds}`."]
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
