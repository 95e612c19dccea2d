"""Data read piecewise: a callable that returns a fresh iterator of 2-D arrays.

Every pass over the data, the initialization's included, calls it again
and runs the compiled steps on each chunk; the chunks' results are added
in chunk order. One chunk is in memory at a time, with the per-row state
of the k-means initialization (a float64 and an int64 per row).
"""

import numpy as np
from sklearn.utils import check_array

from fastem._blocked import BlockSource
from fastem._blocks import NO_WEIGHTS, LocalBlocks
from fastem._validation import FLOAT_DTYPES
from fastem.missing import check_no_infinity


class ChunkSource(BlockSource):
    """Exact EM over chunks.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` returns a fresh iterator of arrays of shape
        (n_rows_i, n_features), the same data each time.
    n_threads : int or None
    allow_nan : bool, default=False
        Whether NaN marks a missing entry (fastem.missing); infinity is an error either way.

    Raises
    ------
    TypeError
        When ``chunks`` is not callable.
    ValueError
        Naming the chunk: a different number of features, NaN or infinity,
        not 2-D; a chunk whose number of rows changed between passes; or an
        empty iterator.
    """

    def __init__(self, chunks, n_threads=None, allow_nan=False):
        if not callable(chunks):
            raise TypeError(f"chunks must be a callable returning an iterator of 2-D arrays, got {type(chunks).__name__}")
        self.chunks = chunks
        self.n_threads = self._task_threads = n_threads
        self.dtype = self.n_features = None
        self.allow_nan = allow_nan
        self._has_missing = False
        sizes = [chunk.shape[0] for chunk in self._iterate(validate=True)]
        self.n_samples = int(sum(sizes))
        if self.n_samples == 0:
            raise ValueError("chunks() returned no data: the iterator was empty")
        self._sizes = sizes
        self.blocks = LocalBlocks(self._read, sizes)
        self._init_common(self._has_missing)

    def _iterate(self, validate=False):
        for index, chunk in enumerate(self.chunks()):
            name = f"chunk {index}"
            if validate:
                chunk = check_array(chunk, dtype=FLOAT_DTYPES, input_name=name, ensure_min_samples=1,
                                    ensure_all_finite=not self.allow_nan)
                if self.allow_nan:
                    check_no_infinity(chunk, name)
                    self._has_missing = self._has_missing or bool(np.isnan(chunk).any())
                if self.n_features is None:
                    self.n_features, self.dtype = chunk.shape[1], chunk.dtype
            else:
                chunk = np.asarray(chunk)
                if chunk.ndim != 2:
                    raise ValueError(f"{name} is not 2-D (shape {chunk.shape})")
            if chunk.shape[1] != self.n_features:
                raise ValueError(f"{name} has {chunk.shape[1]} features, but the first chunk has {self.n_features}")
            yield np.ascontiguousarray(chunk, dtype=self.dtype)

    def _read(self):
        """The chunks as blocks (no weights), checked to have the rows they had."""
        for index, chunk in enumerate(self._iterate()):
            if index >= len(self._sizes) or chunk.shape[0] != self._sizes[index]:
                raise ValueError(f"chunk {index} changed between passes: chunks() must return the same data each time")
            yield chunk, NO_WEIGHTS
