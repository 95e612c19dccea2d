"""The expected sufficient statistics of a pass: one type for every family.

The pass sums, per component j, sum_i w_i r_ij T(x_i - ref) over the
features of its layout (fastem._kernels._features). ``Stats`` holds them
split by order: the responsibility mass ``n``, the first-order sums ``s1``
and the second-order sums ``s2`` (the Gaussian layouts'; empty for the
LINEAR layout), all about ``reference``.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import digamma

from fastem._kernels import FULL


class Stats(NamedTuple):
    """Expected sufficient statistics of one pass, summed over the data.

    ``s1`` and ``s2`` are taken about ``reference`` (one point per
    component, shape (k, d)): s1[j] = sum_i w_i r_ij (x_i - ref_j); s2[j]
    the symmetric scatter sum_i w_i r_ij (x_i - ref_j)(x_i - ref_j)^T,
    shape (k, d, d) for the FULL layout, its diagonal, shape (k, d), for
    the DIAG layout, and shape (k, 0) for the LINEAR layout. ``entropy`` is
    sum_i w_i sum_j r_ij log r_ij when the pass was asked for it (minus the
    entropy of q over the rows' latent variables: with missing entries it
    also subtracts that of q over them, fastem.missing).

    Student-t components (:func:`student_statistics`): ``n``, ``s1`` and
    ``s2`` are weighted by the E-step's u_ij as well, and ``robust`` (2, k)
    holds the responsibility mass sum_i w_i r_ij and the degrees of
    freedom's statistic sum_i w_i r_ij (E[log tau_ij] - E[tau_ij]); None
    for other components.
    """

    n: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    reference: np.ndarray
    log_likelihood: float
    entropy: float = 0.0
    robust: object = None


def combine_stats(a, b=None, scale_a=1.0, scale_b=1.0):
    """scale_a * a + scale_b * b, field by field (both about the same reference); b=None scales a alone."""
    fields = ("n", "s1", "s2", "log_likelihood", "entropy") + (() if a.robust is None else ("robust",))
    if b is None:
        return a._replace(**{f: scale_a * getattr(a, f) for f in fields})
    return a._replace(**{f: scale_a * getattr(a, f) + scale_b * getattr(b, f) for f in fields})


def about_held_means(stats, means):
    """The statistics about ``means`` (k, d) held fixed: reference ``means``, s1 zero and
    s2 the scatter sum_i w_i r_ij (x_i - mu_j)(x_i - mu_j)^T (its diagonal for the DIAG
    layout). An update's covariances from them are those about the held means: the
    conditional maximum (or mode) given them, a constrained M-step."""
    delta = means - stats.reference
    n, s1 = stats.n, stats.s1
    if stats.s2.ndim == 3:
        s2 = (stats.s2 - s1[:, :, None] * delta[:, None, :] - delta[:, :, None] * s1[:, None, :]
              + n[:, None, None] * delta[:, :, None] * delta[:, None, :])
    else:
        s2 = stats.s2 - 2.0 * s1 * delta + n[:, None] * delta**2
    return stats._replace(s1=np.zeros_like(s1), s2=s2, reference=np.broadcast_to(means, s1.shape))


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


def student_statistics(n_u, sums, dof, n_features):
    """Stats.robust of Student-t components from the pass's ``robust_sums``.

    A t component is a Gaussian scale mixture: x | tau ~ N(mu, Sigma / tau),
    tau ~ Gamma(nu / 2, nu / 2). Given x and the component, tau is
    Gamma((nu + d) / 2, (nu + delta) / 2), so E[tau] = u = (nu + d) / (nu t)
    with t = 1 + delta / nu, and E[log tau] = log u + psi((nu + d) / 2) -
    log((nu + d) / 2). Summed with the weights w r: the pass gives
    sum w r (``sums[0]``), sum w r log t (``sums[1]``) and sum w r u (the
    statistics' count ``n_u``). The result is additive over rows, so chunks,
    blocks and online averages combine it like the other statistics.
    """
    mass, log_t = sums
    half = 0.5 * (dof + n_features)
    log_ratio = np.log((dof + n_features) / dof)
    statistic = mass * (log_ratio + digamma(half) - np.log(half)) - log_t - n_u
    return np.stack([mass, statistic])
