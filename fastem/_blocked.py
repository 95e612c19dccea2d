"""What the data sources held as row blocks share: chunks read again for each
pass (fastem._chunks) and the blocks of a Dask array (fastem._dask).

Every pass runs one step per block through the source's runner
(:mod:`fastem._blocks`) and adds the blocks' results in block order. The
initialization runs over all the rows the same way (k-means seeding and
Lloyd's steps, the draws of 'random' and 'random_from_data'), with the
random draws of the in-memory fit, so that a fit over blocks reaches the
in-memory fit of the same rows.
"""

from typing import Callable, NamedTuple

import numpy as np

import functools

from fastem._blocks import MappedBlocks, column_sums, filled, leading_columns, ordered_sum
from fastem._hc import sample_labels, sample_rows
from fastem._init import labels_of_rows, one_hot, random_responsibilities, rows_from_data, unassigned_moment
from fastem._kmeans import BlockKMeans
from fastem._labels import label_overlap, labelled_responsibilities, matching
from fastem._source import ArraySource, run_pass
from fastem.missing import check_observed, missing_rows, observed_means, observed_sums
from fastem._stats import combine_stats


# Per-block steps (fastem._blocks): step(X, weights, start, *args).


def _block_statistics(X, weights, start, kparams, entropy, single, n_threads, missing_of, labels=None):
    """The block as an in-memory source, its incomplete rows set apart by ``missing_of`` (fastem.missing)."""
    X = np.ascontiguousarray(X)
    source = ArraySource(X, n_threads=n_threads, labels=labels, missing=missing_of(X, labels=labels))
    source.single_products = single
    return source.statistics(kparams, entropy)


def _block_observed_sums(X, weights, start):
    return observed_sums(X)


def _block_row_total(X, weights, start, function):
    return float(np.sum(function(X)))


def _block_moments(X, weights, start):
    """Rows, mean and scatter about the mean of one block, in float64."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    centred = X - mean
    return X.shape[0], mean, centred.T @ centred


def _resp_of_labels(start, n_rows, n_components, labels):
    return one_hot(labels, n_components)


def _resp_of_rows(start, n_rows, n_components, rows, row_labels=None):
    return one_hot(labels_of_rows(rows, start, n_rows, row_labels), n_components)


def _resp_given(start, n_rows, n_components, resp):
    return resp


def _resp_labelled(start, n_rows, n_components, resp_of, order, labels, *resp_args):
    """``resp_of``'s responsibilities started from the block's labels (fastem._labels)."""
    return labelled_responsibilities(resp_of(start, n_rows, n_components, *resp_args), order,
                                     labels.prior(n_components))


def _block_label_overlap(X, weights, start, n_components, resp_of, labels, *resp_args):
    return label_overlap(resp_of(start, X.shape[0], n_components, *resp_args), labels.prior(n_components))


def _block_resp_statistics(X, weights, start, kparams, n_threads, n_components, resp_of, *resp_args):
    resp = np.ascontiguousarray(resp_of(start, X.shape[0], n_components, *resp_args), dtype=np.float64)
    return run_pass(np.ascontiguousarray(X), None, kparams, resp_in=resp, n_threads=n_threads)


def _block_unassigned_moment(X, weights, start, n_components, resp_of, *resp_args):
    return unassigned_moment(X, None, resp_of(start, X.shape[0], n_components, *resp_args))


class BlockResponsibilities(NamedTuple):
    """Initial responsibilities over blocks: ``resp_of(start, n_rows, k, arg)`` run where
    each block is, with ``arg`` from ``per_block(index, start, stop)`` (evaluated here, in block order)."""

    resp_of: Callable
    per_block: Callable
    n_components: int


class BlockSource:
    """A data source of row blocks run by ``self.blocks`` (LocalBlocks or DaskBlocks).

    Subclasses set ``blocks``, ``n_samples``, ``n_features``, ``dtype``,
    ``n_threads`` and ``_task_threads`` (the thread count each block's pass
    asks for), then call :meth:`_init_common` (saying whether any entry is
    missing).

    With missing entries (NaN) each pass sets a block's incomplete rows apart
    as the in-memory fit does (fastem.missing), and the initialization reads
    the blocks with every missing entry at its column's observed mean.
    """

    sample_weight = None
    #: ``missing_of(X, labels=...)``: a block's incomplete rows (set by the estimator, see
    #: BaseMixture._missing_of; it runs where the blocks are).
    missing_of = staticmethod(missing_rows)
    #: Known components of some rows (fastem._labels), or None: see :meth:`attach_labels`.
    labels = None
    _block_labels = None

    def _init_common(self, has_missing=False):
        self.total_weight = float(self.n_samples)
        #: Whether float32 data may take float32 products in the statistics' passes.
        self.single_products = True
        #: The blocks the initialization reads: with missing entries at their columns' observed means.
        self._init_blocks = self.blocks
        if has_missing:
            parts = self.blocks.run(_block_observed_sums)
            sums, counts = ordered_sum([p[0] for p in parts]), ordered_sum([p[1] for p in parts])
            check_observed(counts, "the data")
            means = observed_means(sums, counts)
            self._init_blocks = MappedBlocks(self.blocks, functools.partial(filled, means))

    def attach_labels(self, labels):
        """Use ``labels`` (a RowLabels of every row, or None) in every pass and in the initialization;
        each block's part is sent where the block is, once."""
        self.labels = labels
        self._block_labels = None if labels is None else self._place_labels(
            [labels.take(int(start), int(stop)) for start, stop in zip(self.blocks.starts[:-1], self.blocks.starts[1:])])

    def _place_labels(self, parts):
        """The blocks' labels as the steps receive them (kept where the blocks are)."""
        return parts

    def _labels_of_block(self, index, start, stop):
        return (self._block_labels[index],)

    def statistics(self, kparams, entropy=False):
        """E-step statistics of every block, added in block order."""
        blocks = self.blocks
        per_block = None if self.labels is None else self._labels_of_block
        parts = blocks.run(_block_statistics, kparams, entropy, self.single_products, self._task_threads,
                           self.missing_of, per_block=per_block)
        return ordered_sum(parts, combine_stats)

    def row_total(self, function):
        """sum_i function(rows)_i over every block, added in block order (``function`` runs where the blocks are)."""
        return float(ordered_sum(self.blocks.run(_block_row_total, function)))

    def moments(self):
        """Mean and unbiased covariance, merged block by block (Chan et al.'s pairwise update)."""
        count, mean, scatter = 0.0, np.zeros(self.n_features), np.zeros((self.n_features, self.n_features))
        for n, block_mean, block_scatter in self._init_blocks.run(_block_moments):
            delta = block_mean - mean
            total = count + n
            scatter = scatter + block_scatter + np.outer(delta, delta) * (count * n / total)
            mean = mean + delta * (n / total)
            count = total
        return mean, scatter / max(count - 1.0, 1.0)

    def mean(self):
        """The mean of the rows: the reference point of the initial statistics."""
        return ordered_sum(self._init_blocks.run(column_sums)) / self.n_samples

    def initial_responsibilities(self, method, n_components, random_state, n_threads=None, columns=None):
        """An ``init_params`` method's responsibilities for every row, as the in-memory fit draws them
        (from the leading ``columns`` columns of the data; all by default), started from the
        labels where some rows have them (fastem._labels)."""
        resp = self._method_responsibilities(method, n_components, random_state, columns)
        if self.labels is None:
            return resp

        def per_block(index, start, stop):
            return (resp.resp_of, self._block_labels[index], *resp.per_block(index, start, stop))

        overlap = ordered_sum(self.blocks.run(_block_label_overlap, n_components, per_block=per_block))
        order = matching(overlap)

        def labelled(index, start, stop):
            return (resp.resp_of, order, self._block_labels[index], *resp.per_block(index, start, stop))

        return BlockResponsibilities(_resp_labelled, labelled, n_components)

    def _method_responsibilities(self, method, n_components, random_state, columns):
        blocks = self._init_blocks
        blocks = blocks if columns is None else MappedBlocks(blocks, functools.partial(leading_columns, columns))
        if method == "kmeans":
            labels = BlockKMeans(blocks, n_components).fit(random_state, labels=self._block_labels)
            return BlockResponsibilities(_resp_of_labels, lambda b, start, stop: (labels[b],), n_components)
        if method == "random":
            resp_chunk = random_responsibilities(random_state, n_components, self.dtype)
            return BlockResponsibilities(_resp_given, lambda b, start, stop: (resp_chunk(start, stop),), n_components)
        if method == "hc":
            rows = sample_rows(random_state, self.n_samples)
            width = self.n_features if columns is None else columns
            data, weights, _ = BlockKMeans(blocks, n_components).rows(rows, np.zeros(width))
            row_labels = sample_labels(data, weights, n_components)
            return BlockResponsibilities(_resp_of_rows, lambda b, start, stop: (rows, row_labels), n_components)
        if method == "random_from_data":
            rows = rows_from_data(random_state, self.n_samples, n_components)
        else:  # 'k-means++'
            kmeans = BlockKMeans(blocks, n_components)
            rows = kmeans.seed(kmeans.centre()[0], random_state)[1]
        return BlockResponsibilities(_resp_of_rows, lambda b, start, stop: (rows,), n_components)

    def statistics_given_resp(self, kparams, resp):
        """Statistics about ``kparams``'s reference for the responsibilities ``resp``."""
        blocks = self._init_blocks
        parts = blocks.run(_block_resp_statistics, kparams, self._task_threads, resp.n_components, resp.resp_of,
                           per_block=resp.per_block)
        return ordered_sum(parts, combine_stats)

    def unassigned_moment(self, resp):
        """Sum over rows of (1 - sum_j r_ij) x x^T (see fastem._init.unassigned_moment)."""
        blocks = self._init_blocks
        return ordered_sum(blocks.run(_block_unassigned_moment, resp.n_components, resp.resp_of,
                                      per_block=resp.per_block))

