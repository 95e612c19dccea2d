"""Dask arrays as a data source: the pass runs per block on the cluster.

The array is persisted on the workers (or in the local scheduler's memory)
once. Each pass sends the small parameter set with one task per block of
rows; each task runs the compiled pass on its block and returns the block's
statistics, and the client adds them in block order, so the result does
not depend on where or when the tasks ran. A lost worker's blocks are
recomputed by Dask from the array's graph.
"""

import numpy as np

from fastem._source import ArraySource, run_pass
from fastem.gaussian import combine_stats
from fastem._validation import FLOAT_DTYPES

#: Rows of the first blocks that initialization draws from.
INIT_SAMPLE_ROWS = 100_000


def is_dask_array(X):
    """True for a dask.array.Array, without importing dask when it is absent."""
    module = type(X).__module__ or ""
    return module.startswith("dask.") and hasattr(X, "to_delayed") and hasattr(X, "chunks")


def _block_statistics(block, kparams, entropy, single):
    # One thread per task: the workers' own threads are the parallelism.
    return run_pass(np.ascontiguousarray(block), None, kparams, entropy=entropy, n_threads=None, single=single)


class DaskSource:
    """Exact EM over a 2-D dask array.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    n_threads : int or None
        Unused on the workers (each task runs on its worker's Numba threads).

    Raises
    ------
    ValueError
        For an array that is not 2-D, has no rows, or holds NaN or infinity.
    TypeError
        For a non-numeric dtype.
    """

    def __init__(self, X, n_threads=None):
        import dask

        if X.ndim != 2:
            raise ValueError(f"Expected a 2D dask array, got {X.ndim}D (shape {X.shape})")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise TypeError(f"Expected a real numeric dask array, got dtype {X.dtype}")
        if X.dtype not in FLOAT_DTYPES:
            X = X.astype(np.float64)
        X = X.rechunk({1: -1}).persist()
        n_samples, n_features = X.shape
        if n_samples == 0 or n_features == 0:
            raise ValueError(f"Found array with shape {X.shape}: at least one row and one feature are required")
        import dask.array as da

        if not bool(da.isfinite(X).all().compute()):
            raise ValueError("Input X contains NaN or infinity.")
        self.X = X
        self.dask = dask
        self.blocks = list(X.to_delayed().ravel())
        self.n_samples, self.n_features = n_samples, n_features
        self.dtype = X.dtype
        self.total_weight = float(n_samples)
        self.sample_weight = None
        self.n_threads = n_threads
        #: Whether float32 data may take float32 products in the statistics' passes.
        self.single_products = True

    def init_source(self):
        """The first blocks, up to ``INIT_SAMPLE_ROWS`` rows, in memory."""
        sample = self.X[: min(self.n_samples, INIT_SAMPLE_ROWS)].compute()
        return ArraySource(np.ascontiguousarray(sample), n_threads=self.n_threads)

    def statistics(self, kparams, entropy=False):
        delayed = self.dask.delayed(_block_statistics)
        parts = self.dask.compute(*[delayed(block, kparams, entropy, self.single_products) for block in self.blocks])
        total = parts[0]
        for part in parts[1:]:
            total = combine_stats(total, part)
        return total

    def moments(self):
        """Mean and unbiased covariance, computed on the cluster."""
        X = self.X.astype(np.float64)
        mean = X.mean(axis=0)
        centred = X - mean
        scatter = centred.T @ centred
        mean, scatter = self.dask.compute(mean, scatter)
        return np.asarray(mean), np.asarray(scatter) / max(self.n_samples - 1.0, 1.0)
