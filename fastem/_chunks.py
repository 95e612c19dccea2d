"""Data read piecewise: a callable that returns a fresh iterator of 2-D arrays.

Every pass over the data calls it again and runs the compiled pass on each
chunk; the chunks' statistics are added in chunk order. Only one chunk is
in memory at a time (plus the initialization sample).
"""

import numpy as np
from sklearn.utils import check_array

from fastem._source import ArraySource, run_pass
from fastem.gaussian import combine_stats
from fastem._validation import FLOAT_DTYPES

#: Rows of the first chunks that initialization draws from.
INIT_SAMPLE_ROWS = 100_000


class ChunkSource:
    """Exact EM over chunks.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` returns a fresh iterator of arrays of shape
        (n_rows_i, n_features), the same data each time.
    n_threads : int or None
    init_sample_rows : int
        Initialization (k-means, random responsibilities, ...) runs on the
        first chunks up to this many rows; EM then runs on all of them.

    Raises
    ------
    TypeError
        When ``chunks`` is not callable.
    ValueError
        Naming the chunk: a different number of features, NaN or infinity,
        not 2-D; or an empty iterator.
    """

    def __init__(self, chunks, n_threads=None, init_sample_rows=INIT_SAMPLE_ROWS):
        if not callable(chunks):
            raise TypeError(f"chunks must be a callable returning an iterator of 2-D arrays, got {type(chunks).__name__}")
        self.chunks = chunks
        self.n_threads = n_threads
        self.sample_weight = None
        #: Whether float32 data may take float32 products in the statistics' passes.
        self.single_products = True
        n_samples, sample, sample_rows = 0, [], 0
        self.dtype = self.n_features = None
        for chunk in self._iterate(validate=True):
            n_samples += chunk.shape[0]
            if sample_rows < init_sample_rows:
                sample.append(chunk[: init_sample_rows - sample_rows])
                sample_rows += sample[-1].shape[0]
        if n_samples == 0:
            raise ValueError("chunks() returned no data: the iterator was empty")
        self.n_samples = n_samples
        self.total_weight = float(n_samples)
        self._sample = np.ascontiguousarray(np.concatenate(sample))

    def _iterate(self, validate=False):
        for index, chunk in enumerate(self.chunks()):
            name = f"chunk {index}"
            if validate:
                chunk = check_array(chunk, dtype=FLOAT_DTYPES, input_name=name, ensure_min_samples=1)
                if self.n_features is None:
                    self.n_features, self.dtype = chunk.shape[1], chunk.dtype
            else:
                chunk = np.asarray(chunk)
                if chunk.ndim != 2:
                    raise ValueError(f"{name} is not 2-D (shape {chunk.shape})")
            if chunk.shape[1] != self.n_features:
                raise ValueError(f"{name} has {chunk.shape[1]} features, but the first chunk has {self.n_features}")
            yield np.ascontiguousarray(chunk, dtype=self.dtype)

    def init_source(self):
        """The first chunks, up to ``init_sample_rows`` rows."""
        return ArraySource(self._sample, n_threads=self.n_threads)

    def statistics(self, kparams, entropy=False):
        total = None
        for chunk in self._iterate():
            part = run_pass(chunk, None, kparams, entropy=entropy, n_threads=self.n_threads, single=self.single_products)
            total = part if total is None else combine_stats(total, part)
        return total

    def moments(self):
        """Mean and unbiased covariance, merged chunk by chunk (Chan et al.'s pairwise update)."""
        count, mean, scatter = 0.0, np.zeros(self.n_features), np.zeros((self.n_features, self.n_features))
        for chunk in self._iterate():
            chunk = chunk.astype(np.float64)
            n = chunk.shape[0]
            chunk_mean = chunk.mean(axis=0)
            centred = chunk - chunk_mean
            delta = chunk_mean - mean
            total = count + n
            scatter += centred.T @ centred + np.outer(delta, delta) * (count * n / total)
            mean = mean + delta * (n / total)
            count = total
        return mean, scatter / max(count - 1.0, 1.0)
