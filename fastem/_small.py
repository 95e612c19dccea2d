"""Small problems fitted whole in compiled code (see fastem._kernels._small).

A fit qualifies when it is a maximum-likelihood GaussianMixture fit from the
'kmeans' initialization of float64 data in memory (weighted or not), without user
initial parameters, warm-start continuation or verbose output, and its pass
is small (``n * k * n_stats <= MAX_WORK``). ``fit`` and ``fit_many`` use the
same rule, so a problem gets the same bits from both.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from fastem import gaussian
from fastem._blocks import readonly
from fastem._kernels import n_stats
from fastem._kernels._rules import replaces_best
from fastem._kernels._small import NOT_FINITE, OK, fit_tasks
from fastem._source import block_size
from fastem._threads import resolve_n_threads
from fastem.covariance import COVARIANCE_MODELS

#: Largest n * k * n_stats run whole in compiled code. There one serial pass
#: costs about half a millisecond; above it (measured: d=8, k=8 between 2,000
#: and 8,000 rows) the parallel pass with its Python loop is faster.
MAX_WORK = 1 << 21

#: Most (problem, restart) tasks per compiled call when several threads share a batch.
TASKS_PER_CALL = 64
#: Fewer rows than this over all tasks run on the calling thread: starting
#: the other threads' work costs more than it saves (measured: 8 restarts of
#: 5,000 rows take as long on two threads as on one; 1.5x faster at 50,000).
PARALLEL_MIN_ROWS = 100_000

_pool = []
_pool_lock = threading.Lock()



class Outcome(NamedTuple):
    """The best restart of one problem, or the error that stopped it."""

    params: gaussian.GaussianParams
    precisions: np.ndarray
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool
    distinct: list  # distinct k-means clusters of every restart run
    error: Exception | None


def data_qualify(X, n_components, covariance_type):
    """Whether the data (already validated) allow the compiled whole fit."""
    if X.dtype != np.float64:
        return False
    family = COVARIANCE_MODELS[covariance_type].layout
    return X.shape[0] * n_components * n_stats(family, X.shape[1]) <= MAX_WORK


def draw_count(n_components):
    """Uniforms one k-means++ seeding takes: one for the first centre, 2 + log k per further centre."""
    return 1 + (n_components - 1) * (2 + int(np.log(n_components)))


def kmeans_draws(random_state, n_init, n_components):
    """The seeding uniforms of ``n_init`` restarts, shape (n_init, m), advancing ``random_state`` as fit does."""
    count = draw_count(n_components)
    return random_state.random_sample(n_init * count).reshape(n_init, count)


def fit(datasets, sample_weights, draws, covariance_type, n_components, reg_covar, tol, max_iter, n_threads=None):
    """Fit every problem (all restarts in parallel); returns one :class:`Outcome` per problem,
    None for a problem holding NaN or infinity (``fit`` validates its data first; fit_many leaves
    such a problem to it, for its message).

    Parameters
    ----------
    datasets : list of ndarray of shape (n_i, d), float64, finite or not
    sample_weights : list of (validated float64 ndarray of shape (n_i,) or None)
    draws : ndarray of shape (n_problems, n_init, m)
    """
    d = datasets[0].shape[1]
    n_problems, n_init = draws.shape[:2]
    offsets = np.zeros(n_problems + 1, dtype=np.int64)
    np.cumsum([X.shape[0] for X in datasets], out=offsets[1:])
    X = datasets[0] if n_problems == 1 else np.concatenate(datasets)
    X = readonly(np.ascontiguousarray(X))
    sample_weight = np.ones(X.shape[0])
    for p, w in enumerate(sample_weights):
        if w is not None:
            sample_weight[offsets[p] : offsets[p + 1]] = w
    sample_weight = readonly(sample_weight)
    k = n_components
    weights = np.empty((n_problems, n_init, k))
    means = np.empty((n_problems, n_init, k, d))
    cov = np.zeros((n_problems, n_init, k, d, d))
    chol = np.zeros((n_problems, n_init, k, d, d))
    bounds = np.empty((n_problems, n_init, max_iter))
    info = np.zeros((n_problems, n_init, 4), dtype=np.int64)
    arguments = (X, sample_weight, offsets, COVARIANCE_MODELS[covariance_type].code, np.ascontiguousarray(draws, dtype=np.float64),
                 float(reg_covar), float(tol), int(max_iter), block_size(d), weights, means, cov, chol, bounds, info)
    n_tasks = n_problems * n_init
    n_workers = min(resolve_n_threads(n_threads), n_tasks)
    if n_workers == 1 or X.shape[0] * n_init < PARALLEL_MIN_ROWS:
        fit_tasks(*arguments, 0, n_tasks)
        return _outcomes(covariance_type, weights, means, cov, chol, bounds, info)
    # Small ranges handed out in order: threads finishing early take more.
    # Which thread runs a range never changes its result.
    size = max(1, min(TASKS_PER_CALL, n_tasks // (4 * n_workers)))
    starts = iter(range(0, n_tasks, size))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                first = next(starts, None)
            if first is None:
                return
            fit_tasks(*arguments, first, min(first + size, n_tasks))

    for future in [_executor().submit(work) for _ in range(n_workers)]:
        future.result()
    return _outcomes(covariance_type, weights, means, cov, chol, bounds, info)


def _executor():
    """The process's thread pool for batches (one thread per core Numba uses), made on first use.

    A child forked after the pool was made has none of its threads: it makes its own.
    """
    with _pool_lock:
        if not _pool or _pool[0][0] != os.getpid():
            _pool[:] = [(os.getpid(), ThreadPoolExecutor(max_workers=resolve_n_threads(None), thread_name_prefix="fastem"))]
        return _pool[0][1]


def _outcomes(covariance_type, weights, means, cov, chol, bounds, info):
    """Per-problem :class:`Outcome` (None for a problem with NaN or infinity, left to fit's validation)."""
    cov, chol = gaussian.from_slots(covariance_type, cov, chol)
    info = info.tolist()
    choices = [_choose(rows, bounds[p]) for p, rows in enumerate(info)]
    problems = np.arange(len(info))
    best = np.array([choice[0] for choice in choices])
    # One gather per array copies out every problem's chosen restart; each
    # problem's fitted arrays are views of these.
    weights, means, cov, chol = (a[problems, best] for a in (weights, means, cov, chol))
    precisions = gaussian.precisions_from_cholesky(chol, covariance_type)
    outcomes = []
    for p, (rows, (r, failure)) in enumerate(zip(info, choices)):
        distinct = [row[3] for row in rows]
        if failure is not None:
            outcomes.append(None if failure == NOT_FINITE else Outcome(
                None, None, -np.inf, [], 0, False, distinct[: r + 1],
                gaussian.IllDefinedCovariance(gaussian.ill_defined_message(False))))
            continue
        n_iter = rows[r][1]
        lower_bounds = bounds[p, r, :n_iter].tolist()
        params = gaussian.GaussianParams(weights[p], means[p], cov[p], chol[p])
        outcomes.append(Outcome(params, precisions[p], lower_bounds[-1], lower_bounds, n_iter, bool(rows[r][2]),
                                distinct, None))
    return outcomes


def _choose(rows, bounds):
    """(restart, None) for one problem: its restart of largest final bound, ties to the earliest, as
    restarts in sequence choose; or (restart, status) of the first that failed, where restarts in
    sequence would have stopped (NaN or infinity is found before k-means runs)."""
    best, best_bound = None, -np.inf
    for r, (status, n_iter, _, _) in enumerate(rows):
        if status != OK:
            return r, status
        bound = bounds[r, n_iter - 1]
        if replaces_best(bound, best_bound, best is not None):
            best, best_bound = r, bound
    return best, None
