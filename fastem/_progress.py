"""Live progress of long fits, fit_many and select.

A fit reports each restart's iterations (the bound, its change, rows per
second); fit_many and select report models done of models to do, and the
fits they run report nothing themselves. On a terminal the report is a
live line drawn by tqdm on standard error; otherwise plain lines, one per
``verbose_interval`` iterations and one per restart, or about one per
tenth of the models. scikit-learn's own ``verbose`` messages (standard
output) are unchanged.

Progress is off in the Python API unless an estimator's ``verbose`` is set
(or :func:`progress` turns it on or off); the ``fastem`` command turns it
on.
"""

import contextlib
import math
import sys
import threading
import time

from fastem._driver import Monitor

_lock = threading.Lock()
#: None: follow ``verbose``; True or False: set by :func:`progress`.
_enabled = None
#: How many fit_many or select calls are reporting models now (their fits report nothing).
_models_running = 0


@contextlib.contextmanager
def progress(enabled=True):
    """Show (or with ``enabled=False`` hide) live progress of the fits, fit_many and select
    calls made inside the ``with`` block, whatever the estimators' ``verbose`` says.

    Examples
    --------
    >>> import numpy as np, fastem
    >>> X = np.random.default_rng(0).normal(size=(1000, 2))
    >>> with fastem.progress(False):
    ...     model = fastem.GaussianMixture(2, verbose=1).fit(X)  # doctest: +SKIP
    """
    global _enabled
    with _lock:
        previous, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        with _lock:
            _enabled = previous


def _wanted(verbose):
    return bool(verbose) if _enabled is None else _enabled


def fit_monitor(estimator, n_rows):
    """A Monitor reporting ``estimator``'s fit over ``n_rows`` rows, or None when progress is off
    (or a fit_many or select call reports its models instead)."""
    if _models_running or not _wanted(estimator.verbose):
        return None
    return FitProgress(type(estimator).__name__, n_rows, estimator.n_init, estimator.max_iter,
                       estimator.verbose_interval)


def _live(stream):
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _tqdm():
    from tqdm import tqdm  # here: only a fit that reports progress pays its import

    return tqdm


class FitProgress(Monitor):
    """Reports one fit's restarts and iterations on standard error."""

    def __init__(self, name, n_rows, n_init, max_iter, interval, stream=None):
        self.name, self.n_rows, self.n_init, self.max_iter, self.interval = name, n_rows, n_init, max_iter, interval
        self.stream = sys.stderr if stream is None else stream
        self.live = _live(self.stream)
        self.bar = None
        self.init = 0
        self.start = self.first = time.perf_counter()

    def _prefix(self):
        return f"fastem: {self.name}" + (f" init {self.init + 1}/{self.n_init}" if self.n_init > 1 else "")

    def _rate(self, n_iter):
        """Rows per second of the iterations after the first (the first: since the restart
        began, its initialization included)."""
        now = time.perf_counter()
        if n_iter == 1:
            self.first = now
            elapsed, rows = now - self.start, self.n_rows
        else:
            elapsed, rows = now - self.first, self.n_rows * (n_iter - 1)
        return f"{rows / elapsed:.3g} rows/s" if elapsed > 0 else ""

    def init_begin(self, init):
        self.init, self.start = init, time.perf_counter()
        if self.live:
            self.bar = _tqdm()(total=self.max_iter, desc=self._prefix(), unit="it", file=self.stream, leave=True,
                               dynamic_ncols=True)

    def iteration_end(self, n_iter, change, lower_bound=None):
        changed = f" (change {change:.3g})" if math.isfinite(change) else ""  # the first: from -inf
        text = f"bound {lower_bound:.8g}{changed}, {self._rate(n_iter)}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif n_iter % self.interval == 0:
            print(f"{self._prefix()}, iteration {n_iter}: {text}", file=self.stream, flush=True)

    def init_end(self, lower_bound, converged):
        elapsed = time.perf_counter() - self.start
        outcome = "converged" if converged else "stopped without converging"
        if self.bar is not None:
            self.bar.set_description_str(f"{self._prefix()} {outcome}", refresh=False)
            self.bar.close()
            self.bar = None
        else:
            print(f"{self._prefix()} {outcome}: bound {lower_bound:.8g} in {elapsed:.2f} s", file=self.stream,
                  flush=True)

    def summary(self, n_iter, lower_bound, converged):
        """One line for a fit that ran whole in compiled code (fastem._small), reporting nothing
        on its way."""
        outcome = "converged" if converged else "stopped without converging"
        print(f"fastem: {self.name} {outcome} after {n_iter} iterations (compiled whole fit): bound "
              f"{lower_bound:.8g} in {time.perf_counter() - self.start:.2f} s", file=self.stream, flush=True)


class Monitors(Monitor):
    """Every report to each of ``monitors`` (None entries skipped), in order."""

    def __init__(self, *monitors):
        self.monitors = [m for m in monitors if m is not None]

    def init_begin(self, init):
        for monitor in self.monitors:
            monitor.init_begin(init)

    def iteration_end(self, n_iter, change, lower_bound=None):
        for monitor in self.monitors:
            monitor.iteration_end(n_iter, change, lower_bound)

    def init_end(self, lower_bound, converged):
        for monitor in self.monitors:
            monitor.init_end(lower_bound, converged)


@contextlib.contextmanager
def models_progress(label, total, verbose, stream=None):
    """``done(count)`` for a fit_many or select call over ``total`` models: a live bar on a
    terminal, plain lines at each tenth otherwise, nothing when progress is off; the fits
    inside report nothing."""
    global _models_running
    if not _wanted(verbose) or total == 0:
        yield lambda count=1: None
        return
    stream = sys.stderr if stream is None else stream
    bar = _tqdm()(total=total, desc=f"fastem: {label}", unit="model", file=stream, dynamic_ncols=True) \
        if _live(stream) else None
    state = {"done": 0, "shown": 0}
    start = time.perf_counter()

    def done(count=1):
        with _lock:
            state["done"] += count
            if bar is not None:
                bar.update(count)
            elif state["done"] == total or state["done"] - state["shown"] >= max(1, total // 10):
                state["shown"] = state["done"]
                print(f"fastem: {label}: {state['done']}/{total} models, {time.perf_counter() - start:.2f} s",
                      file=stream, flush=True)

    with _lock:
        _models_running += 1
    try:
        yield done
    finally:
        with _lock:
            _models_running -= 1
        if bar is not None:
            bar.close()
