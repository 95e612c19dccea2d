"""Per-iteration time under Numba's threading layers, in one run.

fastem runs its passes on the TBB layer (fork-safe and safe under
concurrent calls; see fastem/_threads.py). This script measures the same
fixed-work fits under each layer, each in its own process (a process picks
its layer once), alternating the layers over several rounds so that a
change in the machine's load reaches both alike, and prints the smallest
time per layer with the ratio to TBB and the fraction of the matrix-multiply
rate measured in the same run.

Usage: python bench/layers.py [--rounds 3] [--output bench/results/layers.md]
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LAYERS = ("tbb", "omp", "workqueue")
#: (label, shape, extra estimator parameters): the run.py shapes, a small n
#: where a pass's fixed cost (launching the parallel loop) counts most, and a
#: prediction pass.
CASES = [
    ("per iteration", (100_000, 16, 16, "full"), {}),
    ("per iteration", (100_000, 16, 16, "diag"), {}),
    ("per iteration", (200_000, 2, 8, "full"), {}),
    ("per iteration", (10_000, 8, 8, "full"), {}),
    ("per iteration, 1 thread", (100_000, 16, 16, "full"), {"n_threads": 1}),
    ("predict_proba", (100_000, 16, 16, "full"), {}),
]


def worker(repeat):
    """Measure every case in this process (its layer set by the environment); print JSON."""
    import numba

    from workloads import case_times

    times = case_times(CASES, repeat)
    print(json.dumps({"layer": numba.threading_layer(), "times": times}))


def measure(layer, repeat):
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    result = subprocess.run([sys.executable, __file__, "--worker", str(repeat)], env=env, check=True,
                            capture_output=True, text=True)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if found["layer"] != layer:
        raise SystemExit(f"asked for the {layer} layer, the worker ran on {found['layer']}")
    return found["times"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=None)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker)
        return 0

    from run import machine
    from workloads import Shape, emit, matmul_rate

    rate = matmul_rate()
    best = {layer: None for layer in LAYERS}
    for round_ in range(args.rounds):
        for layer in LAYERS if round_ % 2 == 0 else LAYERS[::-1]:
            times = measure(layer, args.repeat)
            best[layer] = times if best[layer] is None else [min(a, b) for a, b in zip(best[layer], times)]
            print(f"round {round_ + 1}, {layer}: " + ", ".join(f"{t * 1e3:.2f}" for t in times) + " ms", flush=True)
    rate = max(rate, matmul_rate())
    lines = [
        f"Machine: {machine()}",
        f"float64 matrix multiply, measured in this run: {rate / 1e9:.1f} GFLOP/s (the larger of two measurements)",
        "",
        "| workload | tbb ms | omp ms | workqueue ms | omp/tbb time | workqueue/tbb time | tbb of matmul rate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (label, dims, _) in enumerate(CASES):
        shape = Shape(*dims)
        tbb, omp, workqueue = (best[layer][i] for layer in LAYERS)
        share = f"{shape.flops_per_iteration() / tbb / rate:.1%}" if label.startswith("per iteration") else ""
        lines.append(f"| {label}, {shape.label} | {tbb * 1e3:.2f} | {omp * 1e3:.2f} | {workqueue * 1e3:.2f} "
                     f"| {omp / tbb:.2f} | {workqueue / tbb:.2f} | {share} |")
    lines += ["", f"Smallest of {args.rounds} rounds per layer, layers alternated; measured {time.strftime('%Y-%m-%d')} "
              "with `python bench/layers.py`."]
    print()
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
