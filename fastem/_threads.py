"""Threads and thread count for the compiled passes.

The EM pass and the k-means kernels run on fastem's own threads: each
kernel takes a range of groups of the fixed block grid and releases the
GIL, and :func:`run_groups` runs one range on the calling thread and the
others on worker threads that fastem starts once per process (a child
forked afterwards starts its own). A compiled parallel loop would compile
the kernel's whole body a second time, which was most of a first fit's
compile (bench/README.md, "First run").

Numba's threading layer runs the one remaining parallel loop, the
incomplete rows' pass of missing values. It is chosen when fastem is
imported, before any parallel code runs: TBB, from the ``tbb`` package
fastem depends on, is the one layer that is both safe under concurrent
calls from several Python threads and safe to ``fork()`` after (a process
that has used GNU OpenMP kills its forked children: a server that forks
workers after a first fit, or ``multiprocessing`` with the fork start
method). A layer the user chose (``NUMBA_THREADING_LAYER``, or
``numba.config.THREADING_LAYER`` set before importing fastem), or one
already running when fastem is imported, is kept.

The thread count is Numba's, set per calling thread by
:func:`thread_limit` (``numba.set_num_threads`` acts on the calling thread
only), so a server that calls fastem from several Python threads with
different ``n_threads`` gets what each asked for. The previous value is
always restored.

Numba's ``workqueue`` threading layer (the fallback when neither OpenMP nor
TBB is available) aborts the process when two threads launch parallel work at
once; under it, fastem serializes its parallel loop with a lock
(:func:`pass_guard`). Under ``omp`` or ``tbb`` it runs concurrently.

BLAS is held to one thread while fastem fits: its calls are all small
(k x d^3 updates), and BLAS threads left spinning between them would compete
with the compiled passes for the cores.
"""

import ctypes
import importlib.metadata
import os
import queue
import threading
from contextlib import contextmanager, nullcontext

import numba
from numba.np.ufunc import parallel as _numba_parallel
from threadpoolctl import ThreadpoolController

#: The shared library of the tbb package, under the name each platform's Numba loads.
_TBB_LIBRARIES = ("libtbb.so.12", "libtbb.12.dylib", "tbb12.dll")

_workqueue_lock = threading.Lock()
_worker_queues = []
_workers_lock = threading.Lock()
_NO_GUARD = nullcontext()
_controllers = []


def _load_tbb():
    """Load the tbb package's TBB library so that Numba's TBB layer finds it; True when it can run.

    pip installs the library into the environment's ``lib`` folder, which
    the dynamic loader does not search (conda's does); loaded here by its
    full path, it satisfies Numba's later load by name.
    """
    try:
        files = importlib.metadata.files("tbb") or ()
    except importlib.metadata.PackageNotFoundError:
        files = ()
    for file in files:
        if file.name in _TBB_LIBRARIES:
            try:
                ctypes.CDLL(str(file.locate()), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            break
    # The version check Numba makes before it loads the layer (a private
    # function: absent from a future Numba, the import alone decides).
    check_version = getattr(_numba_parallel, "_check_tbb_version_compatible", lambda: None)
    try:
        check_version()
        from numba.np.ufunc import tbbpool  # noqa: F401
    except ImportError:
        return False
    return True


def _choose_threading_layer():
    """Select TBB unless the user chose a layer or one is already running.

    The TBB library is loaded in any case while no layer runs, so that a
    user's own choice of 'tbb' (or 'safe') finds it too.
    """
    if getattr(_numba_parallel, "_is_initialized", False):
        return
    if _load_tbb() and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "tbb"


_choose_threading_layer()


def resolve_n_threads(n_threads):
    """The number of threads to use: ``None`` means every thread Numba has."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        return available
    return max(1, min(int(n_threads), available))


def thread_limit(n_threads):
    """A context in which the enclosed passes run on ``n_threads`` threads (None: all).

    The pass calls BLAS for its small per-block matrix products from every
    one of its threads, so BLAS itself is held to one thread meanwhile.
    Entered once per pass: a plain object rather than a generator-based
    context, and no call into Numba or threadpoolctl where nothing changes,
    since at 10^4 rows a pass is only a few hundred microseconds.
    """
    return _ThreadLimit(resolve_n_threads(n_threads))


class _ThreadLimit:
    __slots__ = ("_wanted", "_previous", "_blas")

    def __init__(self, wanted):
        self._wanted = wanted

    def __enter__(self):
        self._previous = numba.get_num_threads()
        if self._previous != self._wanted:
            numba.set_num_threads(self._wanted)
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
            if self._previous != self._wanted:
                numba.set_num_threads(self._previous)
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
    n_ranges = min(numba.get_num_threads(), n_groups)
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
    """The task queues of the process's worker threads (one fewer than the threads Numba may use).

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


def _layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel function has run yet
        return None


def pass_guard():
    """A context that serializes the parallel loop under the workqueue layer (and until a layer is chosen)."""
    return _workqueue_lock if _layer() in (None, "workqueue") else _NO_GUARD


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
