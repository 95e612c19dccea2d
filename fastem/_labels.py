"""Known components for some rows: semi-supervised EM.

``fit(X, y)`` takes either hard labels, y[i] in 0 .. n_components - 1 a
known component and -1 unknown (scikit-learn's semi-supervised convention),
or soft labels, an (n_samples, n_components) array of per-row prior
probabilities of the components. The pass applies them to the E-step's
log-probabilities before the log-sum-exp (fastem._kernels._pass.apply_labels):
a labelled row's responsibilities are one-hot at its label, and the bound is
the semi-supervised log-likelihood

    sum over unlabelled rows of log sum_j pi_j p_j(x_i)
    + sum over labelled rows of log pi_{y_i} p_{y_i}(x_i)

(log sum_j pi_j s_ij p_j(x_i) for soft labels), which every family's usual
update increases: the updates themselves do not change.

The initialization starts from the labels: the ``init_params`` method's
responsibilities are renumbered so that its components best match the
labelled rows (an assignment on their overlap), then a hard-labelled row's
responsibilities are set one-hot at its label, and a soft-labelled row's
multiplied by its prior probabilities and normalized.
"""

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

#: How far a row of soft labels may sum from one.
SOFT_SUM_TOLERANCE = 1e-6


class RowLabels(NamedTuple):
    """The pass's per-row labels: ``hard`` (n,) int64 with -1 unknown, or
    ``log_soft`` (n, k) the logs of soft labels; the other has no rows."""

    hard: np.ndarray
    log_soft: np.ndarray

    def take(self, start, stop):
        """The labels of rows ``start:stop``."""
        hard = self.hard[start:stop] if self.hard.shape[0] else self.hard
        log_soft = self.log_soft[start:stop] if self.log_soft.shape[0] else self.log_soft
        return RowLabels(np.ascontiguousarray(hard), np.ascontiguousarray(log_soft))

    def take_rows(self, rows):
        """The labels of the rows at indices ``rows``."""
        return RowLabels(self.hard[rows] if self.hard.shape[0] else self.hard,
                         self.log_soft[rows] if self.log_soft.shape[0] else self.log_soft)

    def prior(self, n_components):
        """The labels as per-row prior probabilities (n, k): one-hot rows for hard labels,
        rows of ones where the component is unknown."""
        if self.log_soft.shape[0]:
            return np.exp(self.log_soft)
        prior = np.ones((self.hard.shape[0], n_components))
        known = np.flatnonzero(self.hard >= 0)
        prior[known] = 0.0
        prior[known, self.hard[known]] = 1.0
        return prior


def no_labels(n_components):
    """The pass's labels input when no row is labelled."""
    return RowLabels(np.empty(0, dtype=np.int64), np.empty((0, n_components)))


def check_labels(y, n_samples, n_components):
    """Validated labels of ``fit(X, y)``: a RowLabels, or None when ``y`` labels no row.

    Raises
    ------
    ValueError
        Naming the problem: a length other than n_samples, labels that are
        not integers or lie outside -1 .. n_components - 1, soft labels
        that are negative, not finite or do not sum to one, or a shape
        other than (n_samples,) or (n_samples, n_components).
    """
    if y is None:
        return None
    if hasattr(y, "compute") and hasattr(y, "chunks"):  # a dask array: labels are small, bring them here
        y = y.compute()
    y = np.asarray(y)
    if y.ndim == 0 or y.ndim > 2:
        raise ValueError(f"y must be labels of shape (n_samples,) or soft labels of shape (n_samples, n_components), "
                         f"got an array of shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} rows, but X has {n_samples} samples")
    if y.ndim == 2:
        return _soft_labels(y, n_components)
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating) or y.dtype == bool):
        raise ValueError(f"y must hold integer labels (-1 for unknown), got dtype {y.dtype}")
    values = y.astype(np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"y must hold integer labels (-1 for unknown), got {y[row].item()!r} in row {row}")
    out = (values < -1) | (values > n_components - 1)
    if np.any(out):
        row = int(np.flatnonzero(out)[0])
        raise ValueError(f"labels must lie in -1 .. {n_components - 1} (n_components - 1; -1 for unknown), "
                         f"got {int(values[row])} in row {row}")
    hard = np.ascontiguousarray(values, dtype=np.int64)
    if not np.any(hard >= 0):
        return None
    return RowLabels(hard, np.empty((0, n_components)))


def _soft_labels(y, n_components):
    if y.shape[1] != n_components:
        raise ValueError(f"soft labels must have n_components = {n_components} columns, got shape {y.shape}")
    try:
        soft = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"soft labels must be numbers, got dtype {y.dtype}")
    bad = ~np.isfinite(soft) | (soft < 0)
    if np.any(bad):
        row, column = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"soft labels must be nonnegative and finite, got {soft[row, column]} in row {row}, "
                         f"column {column}")
    sums = soft.sum(axis=1)
    off = np.abs(sums - 1.0) > SOFT_SUM_TOLERANCE
    if np.any(off):
        row = int(np.flatnonzero(off)[0])
        raise ValueError(f"each row of soft labels must sum to one, row {row} sums to {sums[row]}")
    with np.errstate(divide="ignore"):
        log_soft = np.log(soft)
    return RowLabels(np.empty(0, dtype=np.int64), np.ascontiguousarray(log_soft))


def label_overlap(resp, prior, weights=None):
    """(k, k): entry (c, j) is sum_i w_i prior_ic r_ij over the labelled rows
    (rows whose prior is not uniform), of an initialization's responsibilities ``resp``."""
    informative = np.ptp(prior, axis=1) > 0
    if weights is not None:
        prior = prior * weights[:, None]
    return prior[informative].T @ resp[informative]


def matching(overlap):
    """order[c]: the initialization's component that becomes component c, the
    assignment of largest total overlap (ties: the identity's order)."""
    rows, columns = linear_sum_assignment(overlap, maximize=True)
    order = np.empty(overlap.shape[0], dtype=np.int64)
    order[rows] = columns
    return order


def labelled_responsibilities(resp, order, prior):
    """Initial responsibilities of rows with these priors: ``resp`` renumbered by
    ``order``; a labelled row's times its prior, normalized (its prior itself where
    the product is zero). Unlabelled rows keep the initialization's values."""
    resp = np.asarray(resp, dtype=np.float64)[:, order]
    informative = np.ptp(prior, axis=1) > 0
    known = prior[informative]
    product = resp[informative] * known
    total = product.sum(axis=1)
    empty = ~(total > 0)
    product[empty] = known[empty]
    total[empty] = known[empty].sum(axis=1)
    resp[informative] = product / total[:, None]
    return resp
