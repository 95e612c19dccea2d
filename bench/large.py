"""fastem on data larger than its caller holds: a read-only memmap on disk,
chunks, and Dask.

Usage: python bench/large.py [--rows N] [--init-rows N] [--dask-only] [--memmap-only] [--init-only]

- memmap: a file of N x 8 float32 rows (default 10^8, 3.2 GB) read through a
  read-only ``numpy.memmap``: per-iteration time, read throughput against the
  machine's memory bandwidth measured in the same run (a streaming sum over
  an in-memory array), and the process's peak RSS beyond the page cache's
  share (which the OS may reclaim);
- Dask: per-iteration time of the same fit in memory and on a LocalCluster
  (2 worker processes, 1 thread each) for 8 blocks, and the cluster's
  throughput in rows per second;
- initialization over blocks: the default k-means initialization of
  10^7 x 8 rows (k = 8) in memory, over chunks of 10^6 rows and over a Dask
  array of 10^6-row blocks on the same LocalCluster, against scikit-learn's
  KMeans(n_init=1) on the same rows, and how far the three fitted starts lie
  apart.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastem  # noqa: E402
from workloads import memory_bandwidth  # noqa: E402


def start_params(n_features, k, rng):
    return dict(weights_init=np.full(k, 1 / k), means_init=rng.normal(scale=3, size=(k, n_features)),
                precisions_init=np.stack([np.eye(n_features)] * k))


def memmap_bench(rows):
    rng = np.random.default_rng(0)
    k, d = 8, 8
    with tempfile.TemporaryDirectory(dir=os.environ.get("FASTEM_BENCH_DIR")) as directory:
        path = os.path.join(directory, "rows.f32")
        centers = rng.normal(scale=3, size=(k, d)).astype(np.float32)
        with open(path, "wb") as f:
            for start in range(0, rows, 1 << 20):
                m = min(1 << 20, rows - start)
                block = rng.standard_normal((m, d), dtype=np.float32) + centers[rng.integers(0, k, m)]
                f.write(block.tobytes())
        X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, d))
        params = dict(tol=0.0, **start_params(d, k, rng))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fastem.GaussianMixture(k, max_iter=1, **params).fit(X[:10_000])
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            start = time.perf_counter()
            fastem.GaussianMixture(k, max_iter=1, **params).fit(X)
            one = time.perf_counter() - start
            start = time.perf_counter()
            fastem.GaussianMixture(k, max_iter=4, **params).fit(X)
            four = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_iteration = (four - one) / 3
    return per_iteration, X.nbytes / per_iteration, rss_after - rss_before, X.nbytes / 2**30


def dask_bench():
    import dask.array as da
    import distributed

    rng = np.random.default_rng(1)
    n, d, k = 2_000_000, 8, 8
    X = rng.normal(size=(n, d)) + rng.integers(0, k, size=(n, 1)) * 2.0
    params = dict(tol=0.0, **start_params(d, k, rng))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        def per_iteration(data):
            fastem.GaussianMixture(k, max_iter=1, **params).fit(data)
            start = time.perf_counter()
            fastem.GaussianMixture(k, max_iter=1, **params).fit(data)
            one = time.perf_counter() - start
            start = time.perf_counter()
            fastem.GaussianMixture(k, max_iter=11, **params).fit(data)
            return (time.perf_counter() - start - one) / 10

        in_memory = per_iteration(X)
        os.environ["NUMBA_NUM_THREADS"] = "1"
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=50)
        client = distributed.Client(cluster)
        dX = da.from_array(X, chunks=(n // 8, d)).persist()
        on_cluster = per_iteration(dX)
        client.close()
        cluster.close()
    return in_memory, on_cluster, n


def init_bench(rows, block_rows=1_000_000):
    """Seconds of the 'kmeans' initialization (max_iter=0 fits) in memory, over chunks and on Dask."""
    import dask.array as da
    import distributed
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(2)
    d, k = 8, 8
    centres = rng.normal(scale=4, size=(k, d))
    X = rng.normal(size=(rows, d)) + centres[rng.integers(0, k, size=rows)]

    def chunks():
        return (X[start : start + block_rows] for start in range(0, rows, block_rows))

    def timed(fit):
        start = time.perf_counter()
        model = fit()
        return time.perf_counter() - start, model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastem.GaussianMixture(k, max_iter=0, random_state=0).fit(X[:200_000])  # compile outside the timings
        memory_s, memory = timed(lambda: fastem.GaussianMixture(k, max_iter=0, random_state=0).fit(X))
        chunks_s, chunked = timed(lambda: fastem.GaussianMixture(k, max_iter=0, random_state=0).fit_chunks(chunks))
        sklearn_s, _ = timed(lambda: KMeans(k, n_init=1, random_state=0).fit(X))
        os.environ["NUMBA_NUM_THREADS"] = "1"
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=50)
        client = distributed.Client(cluster)
        dX = da.from_array(X, chunks=(block_rows, d)).persist()
        fastem.GaussianMixture(k, max_iter=0, random_state=0).fit(dX[:200_000])  # the workers compile
        dask_s, on_cluster = timed(lambda: fastem.GaussianMixture(k, max_iter=0, random_state=0).fit(dX))
        client.close()
        cluster.close()
    apart = max(np.max(np.abs(getattr(m, name) - getattr(memory, name))) / np.max(np.abs(getattr(memory, name)))
                for m in (chunked, on_cluster) for name in ("weights_", "means_", "covariances_"))
    return memory_s, chunks_s, dask_s, sklearn_s, apart


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10**8)
    parser.add_argument("--dask-only", action="store_true")
    parser.add_argument("--memmap-only", action="store_true")
    parser.add_argument("--init-only", action="store_true")
    parser.add_argument("--init-rows", type=int, default=10**7)
    args = parser.parse_args(argv)
    if not (args.memmap_only or args.dask_only):
        memory_s, chunks_s, dask_s, sklearn_s, apart = init_bench(args.init_rows)
        print(f"initialization ('kmeans'), {args.init_rows:,} x 8, k=8, blocks of 10^6 rows: in memory {memory_s:.2f} s, "
              f"chunks {chunks_s:.2f} s, Dask LocalCluster 2 processes x 1 thread {dask_s:.2f} s; scikit-learn "
              f"KMeans(n_init=1) {sklearn_s:.2f} s ({sklearn_s / memory_s:.1f}x in memory, {sklearn_s / chunks_s:.1f}x "
              f"chunks, {sklearn_s / dask_s:.1f}x Dask); the chunked and Dask starts within {apart:.1e} of the "
              "in-memory start (normwise)")
    if args.init_only:
        return 0
    if not args.dask_only:
        bandwidth = memory_bandwidth()
        per_iteration, throughput, rss, gib = memmap_bench(args.rows)
        print(f"memmap: {args.rows:,} x 8 float32 ({gib:.1f} GiB) read-only: {per_iteration:.2f} s per iteration, "
              f"{throughput / 1e9:.2f} GB/s read = {throughput / bandwidth:.0%} of the measured memory bandwidth "
              f"({bandwidth / 1e9:.1f} GB/s); peak RSS grew {rss:.0f} MB (mapped pages included)")
    if not args.memmap_only:
        in_memory, on_cluster, n = dask_bench()
        print(f"dask: {n:,} x 8, 8 blocks, LocalCluster 2 processes x 1 thread: {on_cluster * 1e3:.1f} ms per "
              f"iteration vs {in_memory * 1e3:.1f} ms in memory (overhead {(on_cluster - in_memory) * 1e3:.1f} ms), "
              f"{n / on_cluster / 1e6:.1f} M rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
