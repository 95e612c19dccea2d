"""The EM loop: iterate, track the bound, check convergence, pick the best restart.

Pure functions over immutable parameters. The loop knows nothing of
covariance types or algorithms: it is handed

- ``step(params) -> (new_params, bound)``: one pass over the data and one
  update, returning the bound (mean log-likelihood, log-posterior or ELBO)
  *of the parameters it was given*, and
- ``initialize() -> params`` for each restart.

The convergence rule is scikit-learn's: stop at the first iteration whose
bound differs from the previous one by less than ``tol`` in absolute value.
"""

from typing import Any, NamedTuple

import numpy as np

from fastem._kernels._rules import converged as has_converged
from fastem._kernels._rules import replaces_best


class EMResult(NamedTuple):
    """Outcome of one EM run, or of the best of several."""

    params: Any
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool


class Monitor:
    """Receives progress reports; the default reports nothing."""

    def init_begin(self, init):
        """Restart ``init`` is starting."""

    def iteration_end(self, n_iter, change):
        """Iteration ``n_iter`` changed the bound by ``change``."""

    def init_end(self, lower_bound, converged):
        """The current restart ended."""


def run_em(params, step, *, tol, max_iter, lower_bound=-np.inf, monitor=None):
    """Iterate ``step`` from ``params`` until the bound changes by less than ``tol``.

    Parameters
    ----------
    params : object
        Starting parameters.
    step : callable
        ``step(params) -> (new_params, bound)``.
    tol : float
        Convergence threshold on the absolute change of the bound.
    max_iter : int
        Maximum number of iterations (at least 1).
    lower_bound : float, default=-inf
        Bound before the first iteration (a warm start passes the last one).
    monitor : Monitor, optional

    Returns
    -------
    result : EMResult
    """
    monitor = monitor or Monitor()
    lower_bounds = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        params, lower_bound = step(params)
        lower_bounds.append(lower_bound)
        monitor.iteration_end(n_iter, lower_bound - previous)
        if has_converged(previous, lower_bound, tol):
            converged = True
            break
    monitor.init_end(lower_bound, converged)
    return EMResult(params, lower_bound, lower_bounds, n_iter, converged)


def fit_restarts(initialize, step, *, n_init, tol, max_iter, lower_bound=-np.inf, monitor=None):
    """Run EM from ``n_init`` initializations and keep the best bound.

    A later restart replaces the best one only when its final bound is
    strictly larger, so ties keep the earliest. With ``max_iter == 0`` no
    iteration runs: the result holds the last initialization and a bound of
    -inf, as scikit-learn does.

    Parameters
    ----------
    initialize : callable
        ``initialize() -> params``, called once per restart, in order.
    step, tol, max_iter, lower_bound, monitor
        As for :func:`run_em`; ``lower_bound`` is the starting bound of every
        restart.
    n_init : int

    Returns
    -------
    result : EMResult
    """
    monitor = monitor or Monitor()
    best = None
    for init in range(n_init):
        monitor.init_begin(init)
        params = initialize()
        if max_iter == 0:
            best = EMResult(params, -np.inf, [], 0, False)
            continue
        result = run_em(params, step, tol=tol, max_iter=max_iter, lower_bound=lower_bound, monitor=monitor)
        if replaces_best(result.lower_bound, -np.inf if best is None else best.lower_bound, best is not None):
            best = result
    return best
