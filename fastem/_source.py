"""In-memory data source: runs the compiled pass over an array and reduces.

The block grid and the number of groups depend only on the data's shape,
so results are bitwise identical for any thread count.
"""

import numpy as np

from fastem import gaussian
from fastem._blocks import MAX_GROUPS, readonly
from fastem._init import initial_responsibilities, unassigned_moment
from fastem._labels import label_overlap, labelled_responsibilities, matching, no_labels
from fastem._kernels import FULL, em_pass, n_stats
from fastem._kernels._update import OK, ml_update
from fastem._threads import run_groups, thread_limit
from fastem.covariance import COVARIANCE_MODELS
from fastem._stats import combine_stats, stats_from_sums, student_statistics
from fastem.prior import CHUNK_ROWS, weighted_mean, weighted_moments

#: Memory allowed for the per-group statistics of one pass.
GROUP_STATS_BYTES = 32 * 2**20
#: Fewest blocks per group when rows are few: a group costs its scratch
#: arrays and a slot of statistics, more than a block's work where blocks are few.
MIN_GROUP_BLOCKS = 4
#: Rows per call when responsibilities are supplied (initialization).
RESP_CHUNK_ROWS = CHUNK_ROWS

_EMPTY_WEIGHTS = np.empty(0)
#: The pass's ``robust`` input for components that are not Student-t.
NO_ROBUST = np.empty((0, 2))


def block_size(n_features):
    """Rows per block: a block's working set stays within L2 cache, and tiny
    blocks of few features do not pay a matrix-product call for little work."""
    if n_features <= 4:
        return 512
    if n_features <= 32:
        return 256
    if n_features <= 128:
        return 128
    return 64


def grid(n_samples, n_features, n_components, family):
    """``(block_size, n_groups)`` of a pass; a function of the shapes only."""
    size = block_size(n_features)
    n_blocks = -(-n_samples // size)
    slot_bytes = 8 * n_components * n_stats(family, n_features)
    n_groups = min(n_blocks // MIN_GROUP_BLOCKS, MAX_GROUPS, max(8, GROUP_STATS_BYTES // slot_bytes))
    return size, max(n_groups, 1)


def _no_outputs(n_components):
    """The pass's ``outputs`` and ``resp_in`` when neither is wanted."""
    return (np.empty(0), np.empty((0, n_components)), np.empty(0, dtype=np.int64)), np.empty((0, n_components))


def pass_data(X):
    """em_pass's ``data``: read-only X in the slot of its dtype, no rows in the other.

    Float64 data leave the float32 slot a float64 array, so that their pass
    compiles no float32 code (the float32 branch never runs for them).
    """
    if X.dtype == np.float32:
        return readonly(np.empty((0, X.shape[1]))), readonly(X)
    return readonly(X), readonly(np.empty((0, X.shape[1])))


def _call_pass(data, sample_weight, kparams, resp_in, pass_grid, stat_arrays, outputs, n_threads, labels=None):
    """em_pass on ``n_threads`` threads (``data`` from :func:`pass_data`; None weights mean all ones,
    None labels no labelled row)."""
    weights = _EMPTY_WEIGHTS if sample_weight is None else sample_weight
    if labels is None:
        labels = no_labels(resp_in.shape[1])
    if len(kparams) == 6:
        kparams = (*kparams, NO_ROBUST)
    with thread_limit(n_threads):
        run_groups(em_pass, pass_grid[1], data, (weights, *labels), kparams, resp_in, pass_grid, stat_arrays, outputs)


def run_pass(X, sample_weight, kparams, *, resp_in=None, stats=True, entropy=False, outputs=None, n_threads=None,
             single=True, labels=None):
    """One pass over ``X``; returns reduced statistics (or None) and fills ``outputs``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32/float64
    sample_weight : ndarray of shape (n_samples,) float64, or None
    kparams : tuple
        ``(family, ref, theta, means, chol, log_const)`` from
        :func:`fastem.gaussian.kernel_params` (or a family's), with a
        seventh entry ``robust`` for Student-t components
        (:func:`fastem.student.kernel_params`).
    resp_in : ndarray of shape (n_samples, n_components), optional
        Responsibilities to use instead of the E-step.
    stats : bool
        Accumulate statistics about ``ref``.
    entropy : bool
        Also sum w_i r_ij log r_ij (into ``Stats.entropy``).
    outputs : tuple of three arrays, optional
        ``(log_norm, resp, label)`` as :func:`fastem._kernels.em_pass` takes them.
    n_threads : int or None
    single : bool
        Whether float32 data may take float32 products (see
        :data:`fastem._kernels._pass.SINGLE_LIMIT`).
    labels : RowLabels, optional
        Known components of some rows (fastem._labels), applied before
        the log-sum-exp; not with ``resp_in``.

    Returns
    -------
    stats : Stats or None
    """
    family, reference, theta = kparams[:3]
    n_samples, n_features = X.shape
    n_components, n_stat = theta.shape
    size, n_groups = grid(n_samples, n_features, n_components, family)
    groups = n_groups if stats else 0
    robust = kparams[6] if len(kparams) > 6 else NO_ROBUST
    robust_groups = groups if robust.shape[0] > 0 and resp_in is None else 0
    stat_arrays = (np.empty((groups, n_stat, n_components)), np.empty(groups), np.empty(groups if entropy else 0),
                   np.empty((robust_groups, 2, n_components)))
    no_outputs, no_resp = _no_outputs(n_components)
    outputs = no_outputs if outputs is None else outputs
    resp_in = no_resp if resp_in is None else resp_in
    _call_pass(pass_data(X), sample_weight, kparams, resp_in, (size, n_groups, single), stat_arrays, outputs, n_threads,
               labels)
    if not stats:
        return None
    # Reduce the groups' slots in group order: deterministic for any thread count.
    sums, log_likelihood, resp_entropy, robust_sums = (a.sum(axis=0) for a in stat_arrays)
    stats = stats_from_sums(sums.T, reference, float(log_likelihood), family, float(resp_entropy))
    if robust_groups:
        stats = stats._replace(robust=student_statistics(stats.n, robust_sums, robust[:, 0], n_features))
    return stats


class MLSteps:
    """Maximum-likelihood EM iterations over an in-memory array: the driver's
    ``step(params) -> (new_params, bound)`` as two compiled calls, the pass and
    :func:`fastem._kernels._update.ml_update` (group reduction, M-step and the
    next pass's inputs), with no NumPy between them.

    The Python update (:func:`fastem.gaussian.ml_update` with
    :func:`fastem.gaussian.kernel_params`) is dozens of small NumPy calls,
    as much time as a pass over a few thousand rows. The next pass's inputs
    come out of the update and are kept for the call given exactly the
    parameters they belong to; any other parameters (a restart's first)
    get theirs from kernel_params.

    Parameters
    ----------
    source : ArraySource
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
    """

    def __init__(self, source, n_components, covariance_type, reg_covar):
        n_samples, n_features = source.X.shape
        k = n_components
        model = COVARIANCE_MODELS[covariance_type]
        self._family = model.layout
        self._grid = grid(n_samples, n_features, k, self._family)
        n_stat = n_stats(self._family, n_features)
        n_groups = self._grid[1]
        self._source = source
        self._data = pass_data(source.X)
        # Each pass sets every group's slot: the arrays are reused.
        self._stats = (np.empty((n_groups, n_stat, k)), np.empty(n_groups), np.empty(0), np.empty((0, 2, k)))
        self._outputs, self._resp_in = _no_outputs(k)
        self._labels = no_labels(k) if source.labels is None else source.labels
        self._sums = np.empty((n_stat, k))
        self._covariance_type = covariance_type
        self._type_index = model.code
        self._reg_covar = float(reg_covar)
        self._pad = gaussian.count_pad(source.dtype)
        # Shapes of the compiled update's outputs: (k, d, d) slots for full and tied
        # (tied in slot 0), row 0 of each slot for diag and spherical.
        full = self._family == FULL
        self._slots = (1 if model.shared else k, n_features if full else 1, n_features)
        self._chol3_shape = (k, n_features if full else 1, n_features)
        self._last = (None, None)

    def __call__(self, params):
        last, kparams = self._last
        if params is not last:
            kparams = gaussian.kernel_params(params, self._covariance_type)
        source = self._source
        _call_pass(self._data, source.sample_weight, kparams, self._resp_in, (*self._grid, source.single_products),
                   self._stats, self._outputs, source.n_threads, self._labels)
        k, d = params.means.shape
        weights, means, cov, chol = np.empty(k), np.empty((k, d)), np.zeros(self._slots), np.zeros(self._slots)
        ref, theta, log_const = np.empty(d), np.empty(kparams[2].shape), np.empty(k)
        chol3 = np.empty(self._chol3_shape)
        status, log_likelihood = ml_update(self._stats[0], self._stats[1], kparams[1], self._type_index,
                                           self._reg_covar, self._pad, self._sums, weights, means, cov, chol,
                                           ref, theta, chol3, log_const)
        if status != OK:
            raise gaussian.IllDefinedCovariance(gaussian.ill_defined_message(source.dtype == np.float32))
        new = gaussian.GaussianParams(weights, means, *gaussian.from_slots(self._covariance_type, cov, chol))
        self._last = (new, (self._family, ref, theta, means, chol3, log_const))
        return new, log_likelihood / source.total_weight


class ArraySource:
    """Data held in memory: one array, optional sample weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or None
    n_threads : int or None
    labels : RowLabels or None
        Known components of some rows (fastem._labels.check_labels).
    missing : MissingRows, FamilyMissingRows or None
        X's incomplete rows (fastem.missing, fastem._family_missing): the
        statistics' main pass then reads the complete rows alone, the
        per-row outputs' pass ``missing.filled``, and the incomplete rows'
        statistics and outputs come from ``missing``.
    """

    def __init__(self, X, sample_weight=None, n_threads=None, labels=None, missing=None):
        self.missing = missing
        self.X = np.ascontiguousarray(X if missing is None else missing.filled)
        self.labels = labels
        self.sample_weight = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
        self.n_threads = n_threads
        #: Whether float32 data may take float32 products in the statistics' passes.
        self.single_products = True
        if self.sample_weight is None:
            self.total_weight = float(self.X.shape[0])
        else:
            self.total_weight = float(self.sample_weight.sum())

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def n_samples(self):
        return self.X.shape[0]

    def moments(self):
        """The (weighted) mean and unbiased covariance of the rows."""
        return weighted_moments(self.X, self.sample_weight)

    def statistics(self, kparams, entropy=False):
        """E-step statistics about the reference point, with the log-likelihood (and the entropy term)."""
        missing = self.missing
        if missing is None:
            return run_pass(self.X, self.sample_weight, kparams, entropy=entropy, n_threads=self.n_threads,
                            single=self.single_products, labels=self.labels)
        incomplete = missing.statistics(kparams, self.n_threads, entropy=entropy)  # None: nothing to add
        if incomplete is not None and missing.complete_X.shape[0] == 0:
            return incomplete
        stats = run_pass(missing.complete_X, missing.complete_weight, kparams, entropy=entropy,
                         n_threads=self.n_threads, single=self.single_products, labels=missing.complete_labels)
        return stats if incomplete is None else combine_stats(stats, incomplete)

    def mean(self):
        """The (weighted) mean of the rows: the reference point of the initial statistics."""
        return weighted_mean(self.X, self.sample_weight)

    def row_total(self, function):
        """sum_i w_i function(rows)_i: a per-row function of the data (``function(X_chunk)``
        returns its (n_rows,) values), summed over chunks of rows in row order."""
        total = 0.0
        for start in range(0, self.X.shape[0], RESP_CHUNK_ROWS):
            values = function(self.X[start : start + RESP_CHUNK_ROWS])
            weights = None if self.sample_weight is None else self.sample_weight[start : start + RESP_CHUNK_ROWS]
            total += float(np.sum(values) if weights is None else weights @ values)
        return total

    def statistics_given_resp(self, kparams, resp_chunk):
        """Statistics about ``kparams``'s reference for given responsibilities.

        ``resp_chunk(start, stop)`` returns the float64 responsibilities of
        rows ``start:stop``; it is called once per chunk, in row order.
        """
        total = None
        n_samples = self.X.shape[0]
        for start in range(0, n_samples, RESP_CHUNK_ROWS):
            stop = min(start + RESP_CHUNK_ROWS, n_samples)
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            resp = np.ascontiguousarray(resp_chunk(start, stop), dtype=np.float64)
            part = run_pass(self.X[start:stop], weights, kparams, resp_in=resp, n_threads=self.n_threads)
            total = part if total is None else combine_stats(total, part)
        return total

    def initial_responsibilities(self, method, n_components, random_state, n_threads=None, columns=None):
        """An ``init_params`` method's ``resp_chunk(start, stop)`` (fastem._init), from the
        leading ``columns`` columns of the data (all by default), started from the labels
        where some rows have them (fastem._labels)."""
        X = self.X if columns is None else np.ascontiguousarray(self.X[:, :columns])
        resp_chunk = initial_responsibilities(method, X, n_components, random_state, self.sample_weight, n_threads,
                                              self.labels)
        if self.labels is None:
            return resp_chunk
        labels, weights = self.labels, self.sample_weight

        def prior(start, stop):
            return labels.take(start, stop).prior(n_components)

        overlap = np.zeros((n_components, n_components))
        for start in range(0, self.X.shape[0], RESP_CHUNK_ROWS):
            stop = min(start + RESP_CHUNK_ROWS, self.X.shape[0])
            overlap += label_overlap(resp_chunk(start, stop), prior(start, stop),
                                     None if weights is None else weights[start:stop])
        order = matching(overlap)
        return lambda start, stop: labelled_responsibilities(resp_chunk(start, stop), order, prior(start, stop))

    def unassigned_moment(self, resp_chunk):
        """Sum over rows of w_i (1 - sum_j r_ij) x_i x_i^T (fastem._init.unassigned_moment)."""
        moment = np.zeros((self.X.shape[1], self.X.shape[1]))
        for start in range(0, self.X.shape[0], RESP_CHUNK_ROWS):
            stop = min(start + RESP_CHUNK_ROWS, self.X.shape[0])
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            moment += unassigned_moment(self.X[start:stop], weights, resp_chunk(start, stop))
        return moment

    def evaluate(self, kparams, *, log_norm=False, resp=False, label=False, labelled=False):
        """Per-row outputs of the E-step: log p(x), responsibilities, labels (``labelled``:
        with the source's known components applied, as the fit's E-step has them)."""
        n_samples = self.X.shape[0]
        n_components = kparams[2].shape[0]
        outputs = (
            np.empty(n_samples if log_norm else 0),
            np.empty((n_samples if resp else 0, n_components)),
            np.empty(n_samples if label else 0, dtype=np.int64),
        )
        labels = self.labels if labelled else None
        run_pass(self.X, None, kparams, stats=False, outputs=outputs, n_threads=self.n_threads, labels=labels)
        if self.missing is not None:
            self.missing.evaluate(kparams, *outputs, labelled=labels is not None, n_threads=self.n_threads)
        return outputs
