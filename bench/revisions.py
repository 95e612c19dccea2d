"""Two revisions of fastem in one run: per-iteration times and cold compile.

Each revision is checked out into a temporary git worktree; every
measurement runs in a fresh process importing that revision, the revisions
alternating over several rounds so that a change in the machine's load
reaches both alike; the smallest time per case is kept. The cold compile is
the time from a fresh process with an empty Numba cache to its first fitted
model (GaussianMixture, full covariance, 20,000 x 4 rows and 8 components:
the pass, not the small-problem route), then what each other estimator of
the revision that has it adds at its first use.

Usage: python bench/revisions.py BEFORE [AFTER=HEAD] [--rounds 3] [--output FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

#: (label, shape, extra parameters): the run.py per-iteration shapes and a small n.
CASES = [
    ("per iteration", (100_000, 16, 16, "full"), {}),
    ("per iteration", (100_000, 16, 16, "diag"), {}),
    ("per iteration", (200_000, 2, 8, "full"), {}),
    ("per iteration", (10_000, 8, 8, "full"), {}),
    ("predict_proba", (100_000, 16, 16, "full"), {}),
]

COLD_SCRIPT = r"""
import time, warnings
start = time.perf_counter()
import numpy as np
import fastem
from sklearn.exceptions import ConvergenceWarning
rng = np.random.default_rng(0)
X = rng.normal(size=(20_000, 4))
counts = rng.poisson(3.0, size=(20_000, 4)).astype(float)
out = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    # Past the small-problem route: the pass, the compiled update and k-means over blocks.
    fastem.GaussianMixture(8, random_state=0).fit(X)
    out["GaussianMixture"] = time.perf_counter() - start
    for name, data in (("PoissonMixture", counts), ("BernoulliMixture", (counts > 2).astype(float)),
                       ("CategoricalMixture", np.minimum(counts, 3)),
                       ("MixedMixture", np.column_stack([X[:, :2], counts[:, :2]])), ("StudentTMixture", X)):
        cls = getattr(fastem, name, None)
        if cls is None:
            continue
        kw = {"groups": [("gaussian", [0, 1]), ("poisson", [2, 3])]} if name == "MixedMixture" else {}
        began = time.perf_counter()
        cls(3, random_state=0, **kw).fit(data)
        out[name] = time.perf_counter() - began
print(__import__("json").dumps(out))
"""


def worker(repeat, cases):
    """Measure the cases in this process (fastem from PYTHONPATH); print JSON."""
    from workloads import case_times

    print(json.dumps(case_times(cases, repeat)))


def _env(tree, **extra):
    return dict(os.environ, PYTHONPATH=tree, **extra)


def _run(tree, repeat, cases):
    out = subprocess.run([sys.executable, __file__, "--worker", str(repeat), ",".join(map(str, cases))], env=_env(tree),
                         capture_output=True, text=True, check=True, cwd=HERE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cold(tree):
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", COLD_SCRIPT], env=_env(tree, NUMBA_CACHE_DIR=cache),
                             capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(int(argv[1]), [CASES[int(i)] for i in argv[2].split(",")])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=None)
    parser.add_argument("--cases", default=None, help="indices of CASES to run, e.g. 2,3 (default: all)")
    parser.add_argument("--no-compile", action="store_true", help="skip the cold-compile measurement")
    args = parser.parse_args(argv)
    from workloads import emit, matmul_rate

    revisions = {}
    with tempfile.TemporaryDirectory() as base:
        for name in (args.before, args.after):
            tree = os.path.join(base, name.replace("/", "_"))
            subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, name], check=True,
                           capture_output=True)
            revisions[name] = tree
        try:
            cold = {name: [] for name in revisions}
            best = {name: None for name in revisions}
            cases = list(range(len(CASES))) if args.cases is None else [int(i) for i in args.cases.split(",")]
            for _ in range(args.rounds):
                for name, tree in revisions.items():
                    if not args.no_compile:
                        cold[name].append(_cold(tree))
                    times = _run(tree, args.repeat, cases)
                    best[name] = times if best[name] is None else [min(a, b) for a, b in zip(best[name], times)]
            rate = matmul_rate()
        finally:
            for tree in revisions.values():
                subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True)
    before, after = args.before, args.after
    lines = [f"Revisions {before} (before) and {after} (after), {args.rounds} alternating rounds, smallest time "
             f"per case; float64 matrix multiply {rate / 1e9:.1f} GFLOP/s in this run.", "",
             "| workload | before ms | after ms | after / before |", "|---|---:|---:|---:|"]
    for (label, dims, _), t_before, t_after in zip([CASES[i] for i in cases], best[before], best[after]):
        n, d, k, ctype = dims
        lines.append(f"| {label}, n={n:,} d={d} k={k} {ctype} | {t_before * 1e3:.3f} | {t_after * 1e3:.3f} | "
                     f"{t_after / t_before:.3f} |")
    if not args.no_compile:
        lines += ["", "Cold compile, a fresh process with an empty cache (smallest of the rounds), seconds: "
                  "to the first GaussianMixture fit, then what each other estimator's first fit adds.", "",
                  "| estimator | before s | after s |", "|---|---:|---:|"]
        names = list(dict.fromkeys(key for name in revisions for run in cold[name] for key in run))
        for key in names:
            cells = [min(run[key] for run in cold[name]) if key in cold[name][0] else None for name in (before, after)]
            lines.append(f"| {key} | " + " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")
    lines += ["", f"Measured {time.strftime('%Y-%m-%d')} with `python bench/revisions.py {before} {after}`."]
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
