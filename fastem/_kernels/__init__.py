"""Numba kernels: arrays in, arrays out. No validation, no Python objects, no raising."""

from fastem._kernels._gaussian import DIAG, FULL, n_stats
from fastem._kernels._pass import em_pass

__all__ = ["DIAG", "FULL", "em_pass", "n_stats"]
