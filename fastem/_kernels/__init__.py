"""Numba kernels: arrays in, arrays out. No validation, no Python objects, no raising."""

from fastem._kernels._features import DIAG, FULL, LINEAR, n_stats
from fastem._kernels._pass import em_pass

__all__ = ["DIAG", "FULL", "LINEAR", "em_pass", "n_stats"]
