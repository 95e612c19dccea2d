"""The EM loop: iterate, track the bound, check convergence, pick the best restart.

Pure functions over immutable parameters. The loop knows nothing of
covariance types or algorithms: it is handed

- ``step(params) -> (new_params, bound)``: one pass over the data and one
  update, returning the bound (mean log-likelihood, log-posterior or ELBO)
  *of the parameters it was given*, and
- ``initialize() -> params`` for each restart.

Three convergence rules: 'bound' (scikit-learn's) stops at the first
iteration whose bound differs from the previous one by less than ``tol`` in
absolute value; 'relative' (mclust's) at the first whose total L (the
estimator's measure: the total log-likelihood for mclust's rule) changed by
less than ``tol * (1 + |L|)``, and keeps the parameters it was measured at,
as mclust does;
'parameters' at the first whose parameters moved by less than ``tol``
relative to their size (:func:`parameter_change`). None asks
an update to maximize: an M-step that only increases the bound (ECM, an
iterative or gradient M-step: generalized EM) runs in the same loop.
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

    def iteration_end(self, n_iter, change, lower_bound=None):
        """Iteration ``n_iter`` changed the bound by ``change``, to ``lower_bound``."""

    def init_end(self, lower_bound, converged):
        """The current restart ended."""


#: What the ``convergence`` parameter of every estimator takes.
CONVERGENCE_RULES = ("bound", "relative", "parameters")


def _leaves(value):
    """The arrays of a state: its fields, recursively through tuples, lists and dicts."""
    if value is None or isinstance(value, str):
        return
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield np.asarray(value, dtype=np.float64)


def parameter_change(old, new):
    """The largest relative change of a state's arrays: over each array a of
    the state, max |a_new - a_old| / max(|a_old|, |a_new|) (largest entries;
    0 when both are zero). An array holding a non-finite value gives inf."""
    largest = 0.0
    for before, after in zip(_leaves(old), _leaves(new)):
        if before.size == 0:
            continue
        if not (np.all(np.isfinite(before)) and np.all(np.isfinite(after))):
            return np.inf
        scale = max(np.max(np.abs(before)), np.max(np.abs(after)))
        if scale > 0.0:
            largest = max(largest, float(np.max(np.abs(after - before)) / scale))
    return largest


def relative_converged(previous, current, tol):
    """mclust's rule: a total changed by less than ``tol`` times one plus its size."""
    return abs(current - previous) < tol * (1.0 + abs(current))


def run_em(params, step, *, tol, max_iter, lower_bound=-np.inf, monitor=None, convergence="bound",
           measure=None):
    """Iterate ``step`` from ``params`` until the bound changes by less than ``tol``.

    Parameters
    ----------
    params : object
        Starting parameters.
    step : callable
        ``step(params) -> (new_params, bound)``.
    tol : float
        Convergence threshold: on the absolute change of the bound, or on
        the relative change of the parameters.
    max_iter : int
        Maximum number of iterations (at least 1).
    lower_bound : float, default=-inf
        Bound before the first iteration (a warm start passes the last one).
    monitor : Monitor, optional
    convergence : {'bound', 'relative', 'parameters'}, default='bound'
    measure : callable, optional
        ``measure(params, bound) -> float``: the total 'relative' compares, of
        the parameters a step was given and the bound it measured there (the
        bound itself by default).

    Returns
    -------
    result : EMResult
    """
    monitor = monitor or Monitor()
    on_parameters = convergence == "parameters"
    on_relative = convergence == "relative"
    measure = measure or (lambda _, bound: bound)
    previous_total = -np.inf
    lower_bounds = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        previous, before = lower_bound, params
        params, lower_bound = step(params)
        lower_bounds.append(lower_bound)
        monitor.iteration_end(n_iter, lower_bound - previous, lower_bound)
        if on_parameters:
            done = parameter_change(before, params) < tol
        elif on_relative:
            total = measure(before, lower_bound)
            done = relative_converged(previous_total, total, tol)
            previous_total = total
            if done:  # mclust keeps the parameters its last bound was measured at
                params = before
        else:
            done = has_converged(previous, lower_bound, tol)
        if done:
            converged = True
            break
    monitor.init_end(lower_bound, converged)
    return EMResult(params, lower_bound, lower_bounds, n_iter, converged)


def fit_restarts(initialize, step, *, n_init, tol, max_iter, lower_bound=-np.inf, monitor=None, convergence="bound",
                 measure=None):
    """Run EM from ``n_init`` initializations and keep the best bound.

    A later restart replaces the best one only when its final bound is
    strictly larger, so ties keep the earliest. With ``max_iter == 0`` no
    iteration runs: the result holds the last initialization and a bound of
    -inf, as scikit-learn does.

    Parameters
    ----------
    initialize : callable
        ``initialize() -> params``, called once per restart, in order.
    step, tol, max_iter, lower_bound, monitor, convergence, measure
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
        result = run_em(params, step, tol=tol, max_iter=max_iter, lower_bound=lower_bound, monitor=monitor,
                        convergence=convergence, measure=measure)
        if replaces_best(result.lower_bound, -np.inf if best is None else best.lower_bound, best is not None):
            best = result
    return best
