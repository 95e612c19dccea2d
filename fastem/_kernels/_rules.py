"""The rules of the EM loop, compiled once for every route that runs it.

The driver (fastem._driver) calls them from Python each iteration and
restart; the small-problem fit (fastem._kernels._small) runs whole in
compiled code and calls the same functions, so the two routes cannot
disagree on when a run has converged or which restart is kept.
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
