"""Per-iteration time of GaussianMixture with progress off, as plain lines and as a live
tqdm line, from the same start, in one run.

Usage: python bench/progress.py [--quick] [--output bench/results/progress.md]

Per-iteration time is (t(m + 1 iterations) - t(1 iteration)) / m, as in
bench/run.py. The reports go to a null device: plain lines as off a
terminal, the live line through a stream that says it is a terminal, so
both pay their formatting and tqdm's bookkeeping but no terminal's drawing.
"""

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import measured, Shape, data, emit, per_iteration, starting_point  # noqa: E402


class _NullTerminal:
    """A null device that says it is a terminal (for the live line)."""

    def __init__(self, live):
        self.live = live
        self.null = open(os.devnull, "w")

    def write(self, text):
        return self.null.write(text)

    def flush(self):
        self.null.flush()

    def isatty(self):
        return self.live


@contextlib.contextmanager
def reporting(mode):
    if mode == "off":
        yield
        return
    stream, previous = _NullTerminal(mode == "live"), sys.stderr
    sys.stderr = stream
    try:
        with fastem.progress():
            yield
    finally:
        sys.stderr = previous
        stream.null.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--output", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    repeat, iterations = (2, 5) if args.quick else (5, 20)
    lines = [
        "| workload | off ms | plain lines ms | plain / off | live line ms | live / off |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    # The second workload is too small for a whole compiled fit only because it is
    # started from given parameters (the compiled route starts from k-means alone).
    for shape in (Shape(100_000, 16, 16, "full"), Shape(20_000, 2, 2, "diag")):
        X = data(shape)
        start = starting_point(X, shape)
        times = {}
        for mode in ("off", "plain", "live"):
            with reporting(mode):
                times[mode] = per_iteration(fastem.GaussianMixture, shape, start, X, iterations, repeat)
        lines.append(
            f"| per iteration, n={shape.n_samples:,} d={shape.n_features} k={shape.n_components} "
            f"{shape.covariance_type} | {times['off'] * 1e3:.3f} | {times['plain'] * 1e3:.3f} | "
            f"{times['plain'] / times['off']:.3f}x | {times['live'] * 1e3:.3f} | {times['live'] / times['off']:.3f}x |"
        )
        print(lines[-1], flush=True)
    lines += measured(f"bench/progress.py{' --quick' if args.quick else ''}")
    emit(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
