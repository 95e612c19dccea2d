"""The stopping and choosing rules, compiled once for every route that runs them.

The driver (fastem._driver) and the k-means over blocks (fastem._kmeans)
call them from Python; the small-problem fit (fastem._kernels._small) runs
whole in compiled code and calls the same functions, so the routes cannot
disagree on when EM or Lloyd's iterations stop or which restart is kept.
"""

import numpy as np

from fastem._kernels._jit import kernel


@kernel()
def converged(previous, current, tol):
    """scikit-learn's rule: the bound changed by less than ``tol`` in absolute value
    (never from a previous bound of -inf, nor when either bound is NaN)."""
    return abs(current - previous) < tol


@kernel()
def replaces_best(bound, best_bound, has_best):
    """Whether a restart that ended at ``bound`` replaces the best so far: the first
    one does, a later one only with a strictly larger bound (ties keep the earliest),
    or when the best ended at -inf."""
    return not has_best or bound > best_bound or best_bound == -np.inf


#: What :func:`lloyd_stop` returns.
LLOYD_GO_ON = 0
LLOYD_LABELS_FINAL = 1
LLOYD_CENTERS_SETTLED = 2


@kernel()
def lloyd_stop(changes, shift, threshold):
    """scikit-learn's stopping rule of Lloyd's iterations: LLOYD_LABELS_FINAL when no
    label changed in the step (the labels are the result), LLOYD_CENTERS_SETTLED when
    the centres moved by at most ``threshold`` in squared distance (the labels are
    assigned once more to the final centres), else LLOYD_GO_ON."""
    if changes == 0:
        return LLOYD_LABELS_FINAL
    if shift <= threshold:
        return LLOYD_CENTERS_SETTLED
    return LLOYD_GO_ON
