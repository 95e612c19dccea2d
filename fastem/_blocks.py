"""Running a function over the row blocks of data, wherever the blocks are.

The k-means initialization and the EM passes over data that are not one
array in this process (chunks read again for every pass, blocks of a Dask
array on a cluster) are written once, as per-block steps reduced in block
order by the caller. A runner says where the steps run:

- :class:`LocalBlocks`: in this process, over blocks that a callable reads
  afresh each time (one in-memory array is a single block);
- :class:`DaskBlocks`: one task per block of a persisted Dask array, its
  results kept on the cluster until :meth:`DaskBlocks.gather` asks for them
  (:meth:`DaskBlocks.run` brings them at once, in one round trip).

A step is a module-level function ``step(X, weights, start, *args)`` of
the block's rows ``X``, their sample weights (empty: all ones) and the
block's first row ``start``; ``per_block(index, start, stop)`` gives a
tuple of further arguments for each block. What a step returns may be
kept as per-block state and handed to a later step of the same block: it
stays where the block is.
"""

import functools
import operator

import numpy as np

#: Upper bound on the number of groups (parallel work items) of one compiled pass.
MAX_GROUPS = 64

#: A block's weights when every row weighs one.
NO_WEIGHTS = np.empty(0)


def readonly(X):
    """A read-only view: the kernel sees one array type and cannot write X."""
    view = X.view()
    view.flags.writeable = False
    return view


def _extra(per_block, index, start, stop):
    return () if per_block is None else tuple(per_block(index, start, stop))


class _Runner:
    """What both runners share: ``starts``, the blocks' first rows and the row count at the end."""

    starts: np.ndarray

    @property
    def n_samples(self):
        return int(self.starts[-1])

    @property
    def n_blocks(self):
        return self.starts.shape[0] - 1


class LocalBlocks(_Runner):
    """Blocks in this process.

    Parameters
    ----------
    read : callable
        ``read()`` returns a fresh iterator of ``(X, weights)`` per block,
        the same data each time, each ``X`` a C-contiguous 2-D array.
    sizes : sequence of int
        Rows of each block.
    """

    #: Steps may update per-block state in place (nothing else holds it).
    mutable_state = True

    def __init__(self, read, sizes):
        self._read = read
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])

    def map(self, step, *args, per_block=None, only=None):
        """``[step(X_b, w_b, start_b, *args[, per_block(b, start_b, stop_b)]) for each block b]``.

        ``only``: the blocks to run (the others get None); reading stops after the last of them.
        """
        last = self.n_blocks - 1 if only is None else max(only, default=-1)
        results = [None] * self.n_blocks
        if last < 0:
            return results
        for index, (X, weights) in enumerate(self._read()):
            start, stop = int(self.starts[index]), int(self.starts[index + 1])
            if only is None or index in only:
                results[index] = step(X, weights, start, *args, *_extra(per_block, index, start, stop))
            if index == last:
                break
        return results

    def run(self, step, *args, per_block=None, only=None):
        """:meth:`map`, its results brought here (nothing kept as state)."""
        return self.map(step, *args, per_block=per_block, only=only)

    def gather(self, results, item=None):
        """The results themselves (``item``: that element of each)."""
        return [r if item is None or r is None else r[item] for r in results]

    def part(self, results, item):
        """Each result's element ``item``, kept as per-block state."""
        return self.gather(results, item)


def memory_blocks(X, sample_weight=None):
    """One in-memory array (and its weights) as a single block."""
    weights = NO_WEIGHTS if sample_weight is None else sample_weight
    return LocalBlocks(lambda: iter([(X, weights)]), [X.shape[0]])


class DaskBlocks(_Runner):
    """The row blocks of a persisted 2-D Dask array, one task per block.

    Parameters
    ----------
    X : dask.array.Array
        Persisted, one chunk across the columns.
    """

    #: Steps must return new arrays: a task's inputs belong to the cluster.
    mutable_state = False

    def __init__(self, X):
        import dask

        self._dask = dask
        self._blocks = list(X.to_delayed().ravel())
        self.starts = np.concatenate([[0], np.cumsum(X.chunks[0], dtype=np.int64)])

    def _tasks(self, step, args, per_block, only):
        delayed = self._dask.delayed(step, pure=False)
        client = distributed_client()
        tasks = [None] * self.n_blocks
        for index, block in enumerate(self._blocks):
            if only is None or index in only:
                start, stop = int(self.starts[index]), int(self.starts[index + 1])
                extra = _extra(per_block, index, start, stop)
                if client is not None:
                    extra = tuple(_scattered(client, value) for value in extra)
                tasks[index] = delayed(block, NO_WEIGHTS, start, *args, *extra)
        return tasks, [index for index, task in enumerate(tasks) if task is not None]

    def map(self, step, *args, per_block=None, only=None):
        """One task per block (see :meth:`LocalBlocks.map`); results stay on the cluster."""
        tasks, ran = self._tasks(step, args, per_block, only)
        for index, task in zip(ran, self._dask.persist(*[tasks[index] for index in ran])):
            tasks[index] = task
        return tasks

    def run(self, step, *args, per_block=None, only=None):
        """One task per block, the results brought here in one round trip."""
        tasks, ran = self._tasks(step, args, per_block, only)
        for index, value in zip(ran, self._dask.compute(*[tasks[index] for index in ran])):
            tasks[index] = value
        return tasks

    def gather(self, results, item=None):
        """The results (``item``: that element of each) brought to this process, in block order."""
        wanted = [index for index, r in enumerate(results) if r is not None]
        values = self._dask.compute(*[results[i] if item is None else results[i][item] for i in wanted])
        gathered = [None] * len(results)
        for index, value in zip(wanted, values):
            gathered[index] = value
        return gathered

    def part(self, results, item):
        """Each result's element ``item``, kept on the cluster as per-block state."""
        return [None if r is None else r[item] for r in results]


def leading_columns(n_columns, X):
    """The block's leading ``n_columns`` columns."""
    return np.ascontiguousarray(X[:, :n_columns])


def filled(values, X):
    """The block with each missing entry (NaN) at its column's ``values`` (a copy only where X has NaN)."""
    missing = np.isnan(X)
    return np.where(missing, values.astype(X.dtype), X) if missing.any() else X


def _on_mapped(step, transform, X, *args):
    """``step`` run on ``transform(X)`` (module level: it runs on workers)."""
    return step(transform(X), *args)


class MappedBlocks:
    """A runner's blocks as ``transform`` (a module-level function of the block) maps them:
    the same blocks, each step given ``transform(X)``, e.g. ``partial(leading_columns, n)`` (the
    columns an initialization clusters) or ``partial(filled, column_means)``."""

    def __init__(self, blocks, transform):
        self._blocks = blocks
        self._transform = transform
        self.starts = blocks.starts
        self.mutable_state = blocks.mutable_state

    n_samples = _Runner.n_samples
    n_blocks = _Runner.n_blocks

    def map(self, step, *args, per_block=None, only=None):
        return self._blocks.map(functools.partial(_on_mapped, step, self._transform), *args, per_block=per_block,
                                only=only)

    def run(self, step, *args, per_block=None, only=None):
        return self._blocks.run(functools.partial(_on_mapped, step, self._transform), *args, per_block=per_block,
                                only=only)

    def gather(self, results, item=None):
        return self._blocks.gather(results, item)

    def part(self, results, item):
        return self._blocks.part(results, item)


#: Per-block arrays at least this large go to the workers directly, not inside the task graph.
SCATTER_BYTES = 1 << 20


def distributed_client():
    """The current distributed client, or None (dask's local schedulers)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _scattered(client, value):
    """A large array sent to the cluster ahead of its task (a graph holding it
    goes through the scheduler: the 'random' initialization's draws)."""
    if isinstance(value, np.ndarray) and value.nbytes >= SCATTER_BYTES:
        return client.scatter(value, direct=True)
    return value


def column_sums(X, weights, start):
    """A step: the block's column sums in float64 (unweighted)."""
    return X.sum(axis=0, dtype=np.float64)


def ordered_sum(parts, add=operator.add):
    """add(...add(parts[0], parts[1])..., parts[-1]) in block order, Nones left out
    (parts[0] itself when there is one)."""
    parts = [p for p in parts if p is not None]
    total = parts[0]
    for part in parts[1:]:
        total = add(total, part)
    return total
