"""The multivariate Student-t component: parameters, kernel inputs and ECM updates.

A t component with location mu, scale matrix Sigma and nu degrees of
freedom has the density

    log t(x) = log G((nu + d) / 2) - log G(nu / 2) - d/2 log(nu pi)
               - 1/2 log|Sigma| - (nu + d)/2 log(1 + delta / nu),

delta = (x - mu)^T Sigma^-1 (x - mu), and is a Gaussian scale mixture,
x | tau ~ N(mu, Sigma / tau) with tau ~ Gamma(nu / 2, nu / 2). EM over the
missing (z, tau) is the ECM of Liu and Rubin (1995) and Peel and McLachlan
(2000): the E-step gives responsibilities r_ij and u_ij = E[tau_ij] =
(nu_j + d) / (nu_j + delta_ij); the first conditional maximization gives

    w_j = N_j / sum N,  N_j = sum_i r_ij,
    mu_j = sum_i r_ij u_ij x_i / sum_i r_ij u_ij,
    Sigma_j = sum_i r_ij u_ij (x_i - mu_j)(x_i - mu_j)^T / N_j  (+ reg_covar),

and the second solves, for each nu_j,

    log(nu / 2) - psi(nu / 2) + 1 + (1 / N_j) sum_i r_ij (E[log tau_ij] - E[tau_ij]) = 0.

Both maximize the expected complete-data log-likelihood (its mu, Sigma and
nu parts are separate), so the log-likelihood never decreases. The pass
computes delta from the Gaussian layouts' product of features and
parameters and transforms it (fastem._kernels._pass.student_log_prob); the
covariance models are the Gaussian registry's entries, with N_j as the
scatter's denominator. Everything here is small NumPy work, in float64.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import digamma, gammaln, zeta

from fastem import gaussian
from fastem._stats import about_held_means
from fastem.covariance import COVARIANCE_MODELS, count_pad

#: The range the degrees of freedom are estimated in. On Gaussian data the
#: likelihood keeps rising as nu grows: the estimate stops at DOF_MAX.
DOF_MIN = 1e-2
DOF_MAX = 1e3
#: When the search for nu stops: a step in log nu below this (Newton's steps
#: shrink quadratically near the root), or this many steps.
DOF_RESOLUTION = 1e-13
DOF_MAX_STEPS = 200


class StudentTParams(NamedTuple):
    """Parameters of a Student-t mixture, all float64 (covariances are the scale matrices)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    dof: np.ndarray


def log_constant(dof, n_features):
    """log G((nu + d) / 2) - log G(nu / 2) - d/2 log(nu / 2): the t density's constant
    minus the Gaussian's (-d/2 log 2 pi), both without the determinant."""
    return gammaln(0.5 * (dof + n_features)) - gammaln(0.5 * dof) - 0.5 * n_features * np.log(0.5 * dof)


def kernel_params(params, covariance_type, reference=None):
    """The pass's inputs: the Gaussian's, and ``robust`` (k, 2) holding nu and the
    log weight plus the t density's constant (see fastem._kernels._pass.student_log_prob)."""
    kparams = gaussian.kernel_params(params, covariance_type, reference)
    log_const = kparams[5]
    n_features = params.means.shape[1]
    dof = np.asarray(params.dof, dtype=np.float64)
    robust = np.ascontiguousarray(np.stack([dof, log_const + log_constant(dof, n_features)], axis=1))
    return (*kparams, robust)


def solve_dof(mass, statistic, start):
    """Each nu_j solving log(nu/2) - psi(nu/2) + 1 + statistic_j / mass_j = 0, in [DOF_MIN, DOF_MAX].

    The left side falls strictly from +inf (nu -> 0) toward 1 + statistic / mass
    (nu -> inf), so the root is unique; where it lies outside the range the
    nearer end is taken (the expected log-likelihood is unimodal in nu, so
    that end is the constrained maximum). Newton's method on log nu from
    ``start``, inside a bracket that every step narrows, with a bisection
    wherever Newton's step would leave it; it stops when no component's log nu
    moves by more than DOF_RESOLUTION. A component without mass keeps ``start``.
    """
    alive = mass > 0.0
    c = 1.0 + np.where(alive, statistic, -mass) / np.where(alive, mass, 1.0)

    def excess(nu):
        return np.log(0.5 * nu) - digamma(0.5 * nu) + c

    low = np.full(mass.shape, np.log(DOF_MIN))
    high = np.full(mass.shape, np.log(DOF_MAX))
    top, bottom = excess(DOF_MAX) >= 0.0, excess(DOF_MIN) <= 0.0
    at_end = top | bottom
    x = np.clip(np.log(start), low, high)
    for _ in range(DOF_MAX_STEPS):
        nu = np.exp(x)
        value = excess(nu)
        slope = 1.0 - 0.5 * nu * zeta(2.0, 0.5 * nu)  # d excess / d log nu (psi' is zeta(2, .)), negative
        low = np.where(value > 0.0, x, low)
        high = np.where(value > 0.0, high, x)
        newton = x - value / slope
        following = np.where((newton > low) & (newton < high), newton, 0.5 * (low + high))
        following = np.where(at_end | (value == 0.0), x, following)
        done = np.all(np.abs(following - x) <= DOF_RESOLUTION)
        x = following
        if done:
            break
    dof = np.where(top, DOF_MAX, np.where(bottom, DOF_MIN, np.exp(x)))
    return np.where(alive, dof, start)


def ecm_update(stats, covariance_type, reg_covar, dtype, dof, *, estimate_dof, prior=None, total_weight=None,
               held_means=None):
    """One ECM M-step: weights, locations, scale matrices, then (when estimated) nu.

    ``stats`` are the pass's Student-t statistics (``Stats.robust`` set), or
    plain Gaussian statistics (u = 1: the initialization from
    responsibilities), which keep ``dof``. With a resolved ``prior``
    (fastem.prior), locations and scales take the posterior mode of the
    Gaussian conjugate model with the u-weighted statistics and N_j counts;
    nu keeps its maximum-likelihood step. ``total_weight`` divides the counts
    into weights (initialization, as for Gaussians). With ``held_means`` the
    locations stay there and the scales are taken about them (the
    conditional step, as fastem.gaussian.map_update does for Gaussians).

    Returns
    -------
    params : StudentTParams
    """
    model = COVARIANCE_MODELS[covariance_type]
    if held_means is not None:
        stats = about_held_means(stats, held_means)
    pad = count_pad(dtype)
    n_u = stats.n
    mass = n_u if stats.robust is None else stats.robust[0]
    counts = mass + pad
    weighted = n_u + pad
    d = stats.s1.shape[1]
    xbar = (stats.s1 + n_u[:, None] * stats.reference) / weighted[:, None]
    scatter = model.scatter_about_mean(stats)
    if prior is None:
        means = xbar if held_means is None else held_means
        covariances = model.ml_covariances(stats, scatter, counts, reg_covar, dtype)
        weights = counts / (counts.sum() if total_weight is None else total_weight)
    else:
        means, offset, shrink = gaussian.map_mean_terms(xbar, weighted, prior, held_means)
        b = model.map_scatter(scatter, shrink, offset)
        c = 1.0 if prior.mean_precision_prior > 0 else 0.0
        covariances = model.map_covariances(b, counts, prior.covariance_prior, prior.degrees_of_freedom_prior, c, d,
                                            reg_covar)
        weights = np.maximum(counts + prior.weight_concentration_prior - 1.0, 0.0)
        weights = weights / weights.sum()
    chol = gaussian.precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    dof = np.asarray(dof, dtype=np.float64)
    if estimate_dof and stats.robust is not None:
        dof = solve_dof(mass, stats.robust[1], dof)
    return StudentTParams(weights, means, covariances, chol, dof)


def sample(rng, params, covariance_type, counts):
    """Rows drawn from each component: a Gaussian draw about zero divided by sqrt(g),
    g ~ Gamma(nu / 2, rate nu / 2), plus the location."""
    model = COVARIANCE_MODELS[covariance_type]
    zeros = np.zeros_like(params.means)
    parts = model.sample(rng, zeros, params.covariances, counts)
    rows = []
    for part, mean, nu, count in zip(parts, params.means, params.dof, counts):
        scale = rng.gamma(0.5 * nu, 2.0 / nu, size=int(count))
        rows.append(mean + np.asarray(part, dtype=np.float64).reshape(int(count), -1) / np.sqrt(scale)[:, None])
    return rows
