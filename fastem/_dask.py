"""Dask arrays as a data source: every pass runs per block on the cluster.

The array is persisted on the workers (or in the local scheduler's memory)
once. Each pass sends the small parameter set with one task per block of
rows; each task runs the compiled pass on its block and returns the block's
statistics, and the client adds them in block order, so the result does
not depend on where or when the tasks ran. The initialization runs the
same way over all the rows, its per-row state (k-means' closest distances
and labels) kept on the workers beside the blocks. A lost worker's blocks
are recomputed by Dask from the array's graph.
"""

import numpy as np

from fastem._blocked import BlockSource
from fastem._blocks import DaskBlocks, distributed_client
from fastem._validation import FLOAT_DTYPES


def is_dask_array(X):
    """True for a dask.array.Array, without importing dask when it is absent."""
    module = type(X).__module__ or ""
    return module.startswith("dask.") and hasattr(X, "to_delayed") and hasattr(X, "chunks")


class DaskSource(BlockSource):
    """Exact EM over a 2-D dask array.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    n_threads : int or None
        Unused on the workers (each task runs on its worker's Numba threads).
    allow_nan : bool, default=False
        Whether NaN marks a missing entry (fastem.missing); infinity is an error either way.

    Raises
    ------
    ValueError
        For an array that is not 2-D, has no rows, or holds NaN or infinity.
    TypeError
        For a non-numeric dtype.
    """

    def __init__(self, X, n_threads=None, allow_nan=False):
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

        infinite, missing = (bool(v) for v in da.compute(da.isinf(X).any(), da.isnan(X).any()))
        if infinite or (missing and not allow_nan):
            raise ValueError("Input X contains NaN or infinity." if not allow_nan else
                             "Input X contains infinity: it is not a value (NaN marks a missing entry).")
        self.X = X
        self.blocks = DaskBlocks(X)
        self.n_samples, self.n_features = n_samples, n_features
        self.dtype = X.dtype
        self.n_threads = n_threads
        # One task per block: each runs on its worker's Numba threads.
        self._task_threads = None
        self._init_common(missing)

    def _place_labels(self, parts):
        """The blocks' labels scattered to the cluster once (not sent with every pass's tasks)."""
        client = distributed_client()
        return parts if client is None else client.scatter(parts)
