"""Threads and thread count for the compiled passes.

Every pass (the EM pass, the incomplete rows' pass of missing values, the
k-means kernels) runs on fastem's own threads: each kernel takes a range of
groups of the fixed block grid and releases the GIL, and :func:`run_groups`
runs one range on the calling thread and the others on worker threads that
fastem starts once per process. A compiled parallel loop would compile the
kernel's whole body a second time, which was most of a first fit's compile
(bench/README.md, "First run").

fastem starts none of Numba's threading layers, so nothing depends on
which one a machine has: a process that has fitted may ``fork()`` (a
server that forks workers, ``multiprocessing`` with the fork start method)
and the child starts its own workers on first use (a process that has run
GNU OpenMP's layer would kill its forked children), and fits may run from
several Python threads at once.

The thread count is set per calling thread by :func:`thread_limit`, so a
server that calls fastem from several Python threads with different
``n_threads`` gets what each asked for. The previous value is always
restored.

BLAS is held to one thread while fastem fits: its calls are all small
(k x d^3 updates), and BLAS threads left spinning between them would compete
with the compiled passes for the cores.
"""

import os
import queue
import threading
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

_worker_queues = []
_workers_lock = threading.Lock()
_controllers = []
#: This thread's count for its passes (``value``), set by thread_limit.
_count = threading.local()


def resolve_n_threads(n_threads):
    """The number of threads to use: ``None`` means every one (Numba's
    count of the machine's cores, or ``NUMBA_NUM_THREADS``)."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        return available
    return max(1, min(int(n_threads), available))


def current_threads():
    """The thread count of the enclosing :func:`thread_limit` in this thread (all outside one)."""
    return getattr(_count, "value", None) or resolve_n_threads(None)


def thread_limit(n_threads):
    """A context in which the enclosed passes run on ``n_threads`` threads (None: all).

    The pass calls BLAS for its small per-block matrix products from every
    one of its threads, so BLAS itself is held to one thread meanwhile.
    Entered once per pass: a plain object rather than a generator-based
    context, and no call into threadpoolctl where nothing changes, since at
    10^4 rows a pass is only a few hundred microseconds.
    """
    return _ThreadLimit(resolve_n_threads(n_threads))


class _ThreadLimit:
    __slots__ = ("_wanted", "_previous", "_blas")

    def __init__(self, wanted):
        self._wanted = wanted

    def __enter__(self):
        self._previous = getattr(_count, "value", None)
        _count.value = self._wanted
        self._blas = None
        if not getattr(_blas_depth, "value", 0):
            try:
                blas = single_threaded_blas()
                blas.__enter__()
            except BaseException:
                self.__exit__(None, None, None)
                raise
            self._blas = blas
        return self

    def __exit__(self, *exc_info):
        try:
            if self._blas is not None:
                self._blas.__exit__(*exc_info)
        finally:
            _count.value = self._previous
        return False


def run_groups(kernel, n_groups, *args):
    """Run ``kernel(first, stop, *args)`` over the groups ``range(n_groups)`` on the threads of
    the enclosing :func:`thread_limit`.

    The groups are cut into one range of consecutive groups per thread; the
    calling thread runs the first range and fastem's worker threads the
    others (each kernel releases the GIL). A kernel writes each group's
    results to that group's own slots, so the result does not depend on the
    cut. Python threads rather than a compiled parallel loop: a parallel
    loop compiles its whole body a second time (seconds per kernel, see
    bench/README.md), while a hand-off to a waiting thread costs tens of
    microseconds per pass.
    """
    n_ranges = min(current_threads(), n_groups)
    if n_ranges <= 1:
        kernel(0, n_groups, *args)
        return
    bounds = [r * n_groups // n_ranges for r in range(n_ranges + 1)]
    workers = _workers()
    handed = []
    try:
        for r in range(1, n_ranges):
            done = threading.Lock()
            done.acquire()
            outcome = []
            workers[r - 1].put((kernel, (bounds[r], bounds[r + 1], *args), done, outcome))
            handed.append((done, outcome))
        kernel(0, bounds[1], *args)
    finally:
        # Every range handed out is waited for, even when this thread fails or
        # is interrupted: the caller's arrays are in use until then.
        for done, _ in handed:
            _wait(done)
    for _, outcome in handed:
        if outcome:
            raise outcome[0]


def _wait(lock):
    """Acquire ``lock``, waiting on through an interruption, which is raised once it is acquired."""
    interrupted = None
    while True:
        try:
            lock.acquire()
            break
        except BaseException as error:  # KeyboardInterrupt: wait on, then raise it
            interrupted = error
    if interrupted is not None:
        raise interrupted


def _work(tasks):
    """A worker thread's loop: run each range handed to it, then tell its caller."""
    while True:
        kernel, args, done, outcome = tasks.get()
        try:
            kernel(*args)
        except BaseException as error:
            outcome.append(error)
        finally:
            # Nothing of the task is kept while the thread waits for the next:
            # its arrays are the caller's to free.
            del kernel, args
            done.release()


def _workers():
    """The task queues of the process's worker threads (one fewer than :func:`resolve_n_threads` (None)).

    Made on first use. Each worker runs kernels only and never waits on
    another task, so callers from several Python threads share them without
    deadlock (a busy worker's next range waits in its queue).
    """
    with _workers_lock:
        if not _worker_queues:
            queues = [queue.SimpleQueue() for _ in range(max(resolve_n_threads(None) - 1, 1))]
            for tasks in queues:
                threading.Thread(target=_work, args=(tasks,), name="fastem-pass", daemon=True).start()
            _worker_queues[:] = queues
        return list(_worker_queues)


def _forget_workers():
    """In a forked child: none of the parent's threads exist there, and a lock
    another parent thread held at the fork would stay held. The child starts
    its own workers on first use."""
    global _workers_lock
    _workers_lock = threading.Lock()
    _worker_queues.clear()


os.register_at_fork(after_in_child=_forget_workers)


_blas_depth = threading.local()


def _controller():
    # Inspecting the loaded libraries costs ~0.5 ms; do it once, on first use.
    if not _controllers:
        _controllers.append(ThreadpoolController())
    return _controllers[0]


@contextmanager
def single_threaded_blas():
    """Hold BLAS to one thread in the enclosed block; restored on exit.

    Inside an enclosing block of the same thread this costs nothing (setting
    the limit costs ~30 us, as much as a whole pass over 1,000 rows).
    """
    depth = getattr(_blas_depth, "value", 0)
    if depth:
        yield
        return
    _blas_depth.value = 1
    try:
        with _controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        _blas_depth.value = 0
