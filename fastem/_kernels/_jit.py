"""The one place that owns Numba's decorator and its options.

Every compiled function in fastem is made with :func:`kernel`. The options:

- ``fastmath``: reassociation and contraction only, so that reductions over a
  block vectorize; never the no-NaN / no-Inf flags, because log-sum-exp relies
  on ``-inf``.
- ``error_model="numpy"``: division by zero gives inf/NaN instead of raising,
  so the loops carry no Python exception checks.
- ``nogil``: the passes run their ranges of groups on several Python
  threads (fastem._threads), and a server may call fastem from several at once.
- ``cache``: compiled code is stored on disk. When no writable cache location
  exists (read-only package directory and no user cache directory), the
  function is compiled per process instead: caching never fails an import.
"""

import warnings

import numba

FASTMATH = frozenset({"reassoc", "contract", "nsz", "arcp"})


def kernel(inline="never"):
    """Return the decorator for a fastem kernel.

    No kernel is a Numba parallel loop: each runs on one thread, and the
    passes' callers run ranges of groups on several (fastem._threads).

    Parameters
    ----------
    inline : {'never', 'always'}, default='never'
        'always' compiles the function into each caller (Numba IR
        inlining) instead of as a library of its own that every caller
        links and optimizes again: cheaper to compile for a function with
        one caller.

    Returns
    -------
    decorator : callable
        Turns a plain Python function into a Numba dispatcher.
    """

    def decorate(function):
        options = dict(
            fastmath=set(FASTMATH),
            error_model="numpy",
            nogil=True,
            inline=inline,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                return numba.njit(cache=True, **options)(function)
        except RuntimeError:
            # numba raises RuntimeError when it finds no cache locator.
            return numba.njit(cache=False, **options)(function)

    return decorate
