"""The expected sufficient statistics of a pass: one type for every family.

The pass sums, per component j, sum_i w_i r_ij T(x_i - ref) over the
features of its layout (fastem._kernels._features). ``Stats`` holds them
split by order: the responsibility mass ``n``, the first-order sums ``s1``
and the second-order sums ``s2`` (the Gaussian layouts'; empty for the
LINEAR layout), all about ``reference``.
"""

from typing import NamedTuple

import numpy as np

from fastem._kernels import FULL


class Stats(NamedTuple):
    """Expected sufficient statistics of one pass, summed over the data.

    ``s1`` and ``s2`` are taken about ``reference`` (one point per
    component, shape (k, d)): s1[j] = sum_i w_i r_ij (x_i - ref_j); s2[j]
    the symmetric scatter sum_i w_i r_ij (x_i - ref_j)(x_i - ref_j)^T,
    shape (k, d, d) for the FULL layout, its diagonal, shape (k, d), for
    the DIAG layout, and shape (k, 0) for the LINEAR layout. ``entropy`` is
    sum_i w_i sum_j r_ij log r_ij when the pass was asked for it.
    """

    n: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    reference: np.ndarray
    log_likelihood: float
    entropy: float = 0.0


def combine_stats(a, b=None, scale_a=1.0, scale_b=1.0):
    """scale_a * a + scale_b * b, field by field (both about the same reference); b=None scales a alone."""
    fields = ("n", "s1", "s2", "log_likelihood", "entropy")
    if b is None:
        return a._replace(**{f: scale_a * getattr(a, f) for f in fields})
    return a._replace(**{f: scale_a * getattr(a, f) + scale_b * getattr(b, f) for f in fields})


def stats_from_sums(sums, reference, log_likelihood, family, entropy=0.0):
    """Stats from the pass's summed features: N, S1 and S2 about ``reference``."""
    n_components, n_stat = sums.shape
    n = sums[:, 0].copy()
    n_features = reference.shape[0]
    s1 = sums[:, 1 : 1 + n_features].copy()
    if family == FULL:
        upper_a, upper_c = np.triu_indices(n_features)
        s2 = np.zeros((n_components, n_features, n_features))
        s2[:, upper_a, upper_c] = sums[:, 1 + n_features :]
        s2[:, upper_c, upper_a] = sums[:, 1 + n_features :]
    else:
        s2 = sums[:, 1 + n_features :].copy()
    reference = np.broadcast_to(reference, (n_components, n_features))
    return Stats(n, s1, s2, reference, log_likelihood, entropy)
