"""Each feature layout's kernels, compiled as first-class functions for the pass.

The pass (fastem._kernels._pass.em_pass) knows no family: it is handed a
layout's :class:`LayoutKernels` and calls them per block. They are Numba
compiled functions of fixed signatures, so the pass is compiled once for
every layout and stays in the on-disk cache; a layout's functions are
compiled when it is first used.
"""

import functools
from typing import Any, NamedTuple

from numba import types

from fastem._kernels import _features, _gaussian
from fastem._kernels._features import DIAG, FULL, LINEAR
from fastem._kernels._jit import compiled_function


class LayoutKernels(NamedTuple):
    """What the pass calls of a layout (arrays C-contiguous; X read-only).

    - ``features64(X64, start, n_rows, ref, phi64)``, ``features32(X32, ..., phi64)``,
      ``features32s(X32, ..., phi32)``: phi[:, :n_rows] = T(X[start:start + n_rows] - ref);
    - ``density64(X64, index, j, ref, theta, means, chol, log_const, xt, dev, row, out)``
      and ``density32(X32, ...)``: component j's log-probability at one row,
      computed directly where the features' product overflows or is too coarse;
    - ``scale(coef, point, ref)``: sum_f |coef[f] T_f(point - ref)|.
    """

    features64: Any
    features32: Any
    features32s: Any
    density64: Any
    density32: Any
    scale: Any


_F64, _F32 = types.float64, types.float32
_INT = types.int64
_X64 = types.Array(_F64, 2, "C", readonly=True)
_X32 = types.Array(_F32, 2, "C", readonly=True)
_ROW = types.Array(_F64, 1, "C")
_MATRIX = types.Array(_F64, 2, "C")
_MATRIX32 = types.Array(_F32, 2, "C")
_STACK = types.Array(_F64, 3, "C")


def _features_signature(X, phi):
    return types.void(X, _INT, _INT, _ROW, phi)


def _density_signature(X):
    return _F64(X, _INT, _INT, _ROW, _MATRIX, _MATRIX, _STACK, _ROW, _MATRIX, _MATRIX, _ROW, _ROW)


_SOURCES = {
    FULL: (_features.full_features, _gaussian.full_row_density, _features.full_scale),
    DIAG: (_features.diag_features, _gaussian.diag_row_density, _features.diag_scale),
    LINEAR: (_features.linear_features, _features.linear_row_density, _features.linear_scale),
}


@functools.lru_cache(maxsize=None)
def layout_kernels(layout):
    """The :class:`LayoutKernels` of a layout (FULL, DIAG or LINEAR), compiled on first use."""
    features, density, scale = _SOURCES[layout]
    return LayoutKernels(
        compiled_function(_features_signature(_X64, _MATRIX), features),
        compiled_function(_features_signature(_X32, _MATRIX), features),
        compiled_function(_features_signature(_X32, _MATRIX32), features),
        compiled_function(_density_signature(_X64), density),
        compiled_function(_density_signature(_X32), density),
        compiled_function(_F64(_ROW, _ROW, _ROW), scale),
    )
