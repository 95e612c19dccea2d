"""The Gaussian component family: parameters, kernel inputs and updates.

Everything here is small (O(k d^3)) NumPy work done once per iteration; the
pass over the data lives in :mod:`fastem._kernels`. Parameters are held in
float64 whatever the data's dtype.

Everything that depends on the covariance model is its entry in
:data:`fastem.covariance.COVARIANCE_MODELS` (shapes there); the functions
here look the entry up by ``covariance_type``.
"""

from typing import NamedTuple

import numpy as np

from fastem._stats import about_held_means
from fastem.covariance import (
    COVARIANCE_MODELS,
    LOG_2PI,
    SKLEARN_MODELS,
    IllDefinedCovariance,
    count_pad,
    ill_defined_message,
    weights_log_prior,
)

#: scikit-learn's covariance types (mclust's models are in COVARIANCE_MODELS too, fastem.decomposed).
COVARIANCE_TYPES = SKLEARN_MODELS


class GaussianParams(NamedTuple):
    """Parameters of a Gaussian mixture, all float64."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


__all__ = ["COVARIANCE_TYPES", "GaussianParams", "IllDefinedCovariance", "count_pad", "ill_defined_message"]


def layout(covariance_type):
    """Kernel layout (FULL or DIAG) of a covariance type."""
    return COVARIANCE_MODELS[covariance_type].layout


def kernel_params(params, covariance_type, reference=None, log_weights=None):
    """Turn parameters into the pass's inputs ``(family, ref, theta, means, chol, log_const)``.

    ``log_const[j] = log weight_j + log det U_j - d/2 log(2 pi)``; a component
    of weight zero gets -inf and so never receives responsibility. ``theta``
    holds the same log-probabilities as coefficients of the features
    T(x - ref) (see :mod:`fastem._kernels._features`): with m = mu - ref and
    precision P, constant log_const - m^T P m / 2, linear P m, and
    -P_aa / 2 (squares), -P_ac (products, a < c).

    Parameters
    ----------
    params : GaussianParams
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reference : ndarray of shape (n_features,), optional
        The point the features are taken about; by default the mixture's
        mean sum_j w_j mu_j. Precision of a log-density is about
        eps (|mu_j - ref| / sigma_j)^2, so it should lie near the data.
    log_weights : ndarray of shape (n_components,), optional
        Used instead of log(weights): variational Bayes passes E[log pi]
        plus its per-component constant here.
    """
    means = np.ascontiguousarray(params.means, dtype=np.float64)
    n_components, n_features = means.shape
    if reference is None:
        reference = params.weights @ means
    reference = np.ascontiguousarray(reference, dtype=np.float64)
    model = COVARIANCE_MODELS[covariance_type]
    chol = params.precisions_cholesky
    chol3 = model.chol3(chol, n_components, n_features)
    if log_weights is None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
    log_const = log_weights + model.log_det(chol, n_features) - 0.5 * n_features * LOG_2PI
    log_const = np.ascontiguousarray(log_const, dtype=np.float64)
    offset = means - reference
    linear, second = model.second_coefficients(chol3, offset)
    constant = log_const - 0.5 * np.sum(linear * offset, axis=1)
    theta = np.ascontiguousarray(np.concatenate([constant[:, None], linear, second], axis=1))
    return model.layout, reference, theta, means, chol3, log_const


def full_matrices(values, covariance_type, n_components, n_features):
    """(k, d, d) matrices from covariances (or precisions) in a covariance type's shape:
    one (d, d) for 'tied', (k, d) diagonals for 'diag', (k,) multiples of the identity for
    'spherical', (k, d, d) already for the others."""
    values = np.asarray(values, dtype=np.float64)
    if covariance_type == "tied":
        return np.broadcast_to(values, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return values[:, :, None] * np.eye(n_features)
    if covariance_type == "spherical":
        return values[:, None, None] * np.eye(n_features)
    return values


def log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """Log-determinant of each precision Cholesky factor, shape (k,) or scalar for 'tied'."""
    return COVARIANCE_MODELS[covariance_type].log_det(precisions_cholesky, n_features)


def moments(stats, covariance_type, reg_covar, dtype, start=None):
    """Padded counts, weighted means and covariances from the statistics of one pass.

    This is scikit-learn's ``_estimate_gaussian_parameters``: N_j gets
    ``10 * eps`` (of the data's dtype) added, the means are the
    responsibility-weighted sums divided by that, the covariances the
    weighted scatter divided by it, plus ``reg_covar`` on the diagonal. The
    scatter is taken about the weighted mean itself. scikit-learn takes it
    about the padded mean (full, tied) or as E[x^2] - mu^2 with padded counts
    (diag, spherical), which adds 10 eps S2 / N_j^2 about the origin: nothing
    for centred data, a relative error of 10 eps (offset / sd)^2 / N_j far
    from the origin. Only a collapsed diagonal entry (zero scatter) takes
    scikit-learn's value, the positive variance with which it fits on.

    ``start`` (the previous covariances) starts the iterative M-steps of
    mclust's models (fastem.decomposed); the others ignore it.

    Returns
    -------
    nk : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray, shaped by ``covariance_type``
    """
    model = COVARIANCE_MODELS[covariance_type]
    n = stats.n
    nk = n + count_pad(dtype)
    means = (stats.s1 + n[:, None] * stats.reference) / nk[:, None]
    scatter = model.scatter_about_mean(stats)
    covariances = model.ml_covariances(stats, scatter, nk, reg_covar, dtype, start=start)
    return nk, means, covariances


def ml_update(stats, covariance_type, reg_covar, dtype, total_weight=None, held_means=None, start=None):
    """Maximum-likelihood parameters from the statistics of one pass (scikit-learn's M-step).

    Parameters
    ----------
    stats : Stats
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
    dtype : numpy dtype
        The data's dtype; its machine epsilon pads the counts as in
        scikit-learn, and float32 adds a hint to the error message.
    total_weight : float, optional
        Divide the counts by this to get the weights (initialization, as
        scikit-learn does); by default the counts are renormalized.
    held_means : ndarray of shape (n_components, n_features), optional
        Means held fixed: the covariances are the scatter about them (the
        conditional maximum given them), and they are the means returned.
    start : ndarray, optional
        The previous covariances, where the model's M-step iterates (:func:`moments`).

    Returns
    -------
    params : GaussianParams

    Raises
    ------
    IllDefinedCovariance
        When a covariance is not positive definite.
    """
    if held_means is not None:
        stats = about_held_means(stats, held_means)
    nk, means, covariances = moments(stats, covariance_type, reg_covar, dtype, start)
    if held_means is not None:
        means = held_means
    weights = nk / (nk.sum() if total_weight is None else total_weight)
    chol = precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    return GaussianParams(weights, means, covariances, chol)


def map_update(stats, covariance_type, reg_covar, dtype, prior, held_means=None, start=None):
    """Posterior-mode (MAP) parameters from the statistics of one pass.

    The joint mode of the conjugate model of :mod:`fastem.prior`, with
    N_k, the weighted mean xbar_k and the weighted scatter S_k about it:

    - means: mu_k = (N_k xbar_k + kappa0 m0) / (N_k + kappa0);
    - with B_k = S_k + kappa0 N_k / (N_k + kappa0) (xbar_k - m0)(xbar_k - m0)^T
      and c = 1 when kappa0 > 0 (the mean prior's own log-determinant), else 0:

      - full: Sigma_k = (Psi0 + B_k) / (nu0 + N_k + d + 1 + c)
      - tied: Sigma = (Psi0 + sum_k B_k) / (nu0 + sum_k N_k + d + 1 + c k)
      - diag: sigma2_kj = (Psi0_j + B_k,jj) / (nu0 + N_k + 2 + c)
      - spherical: sigma2_k = (Psi0 + tr B_k) / (nu0 + d N_k + 2 + c d)

    - weights: proportional to max(N_k + alpha_k - 1, 0).

    ``reg_covar`` is added to the diagonal afterwards, as for ML. N_k gets
    scikit-learn's 10 * eps, as in :func:`ml_update`.

    With ``held_means`` (k, d) fixed, the covariances are the conditional mode
    given them: S_k the scatter about mu_k, and B_k = S_k + kappa0 (mu_k - m0)(mu_k - m0)^T
    (the mean prior's whole term) over the same divisors.

    mclust's models with a prior (fastem.decomposed.MAP_MODELS) take their own
    covariance steps from the same B_k; ``start`` (the previous covariances)
    starts those that iterate.

    Returns
    -------
    params : GaussianParams
    """
    if held_means is not None:
        stats = about_held_means(stats, held_means)
    n = stats.n
    nk = n + count_pad(dtype)
    d = stats.s1.shape[1]
    xbar = (stats.s1 + n[:, None] * stats.reference) / nk[:, None]
    kappa, nu, psi = prior.mean_precision_prior, prior.degrees_of_freedom_prior, prior.covariance_prior
    c = 1.0 if kappa > 0 else 0.0
    means, offset, shrink = map_mean_terms(xbar, nk, prior, held_means)
    model = COVARIANCE_MODELS[covariance_type]
    b = model.map_scatter(model.scatter_about_mean(stats), shrink, offset)
    covariances = model.map_covariances(b, nk, psi, nu, c, d, reg_covar, start=start)
    weights = np.maximum(nk + prior.weight_concentration_prior - 1.0, 0.0)
    weights = weights / weights.sum()
    chol = precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    return GaussianParams(weights, means, covariances, chol)


def map_mean_terms(xbar, counts, prior, held_means=None):
    """The means' posterior mode (N xbar + kappa0 m0) / (N + kappa0), and the offset and
    weight of the mean prior's term in the covariances' mode: xbar - m0 and
    kappa0 N / (N + kappa0). Held means are the means themselves, with offset
    mu - m0 and weight kappa0 (the conditional mode given them)."""
    kappa, m0 = prior.mean_precision_prior, prior.mean_prior
    if held_means is not None:
        return held_means, held_means - m0, np.full(counts.shape, float(kappa))
    means = (counts[:, None] * xbar + kappa * m0) / (counts + kappa)[:, None]
    return means, xbar - m0, kappa * counts / (counts + kappa)


def log_prior(params, covariance_type, prior):
    """log p(theta) of the conjugate model of :mod:`fastem.prior`.

    The Dirichlet term leaves out components of weight zero (they have left
    the model; with alpha < 1 their density term would be +inf). With
    kappa0 = 0 the means have a flat (improper) prior and no term.
    """
    total = weights_log_prior(params.weights, prior.weight_concentration_prior)
    return float(COVARIANCE_MODELS[covariance_type].log_prior_terms(params, prior, total))


def precision_cholesky(covariances, covariance_type, float32=False):
    """Upper-triangular U with U U^T = inverse(covariance), per component.

    Raises
    ------
    IllDefinedCovariance
        With scikit-learn's message when a covariance is not positive definite.
    """
    return COVARIANCE_MODELS[covariance_type].precision_cholesky(covariances, float32)


def cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular U with U U^T = precision (reverse-order Cholesky)."""
    return COVARIANCE_MODELS[covariance_type].cholesky_from_precisions(precisions)


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices U U^T (full, tied) or squares (diag, spherical)."""
    return COVARIANCE_MODELS[covariance_type].precisions_from_cholesky(precisions_cholesky)


def covariances_from_cholesky(precisions_cholesky, covariance_type):
    """Covariances (U U^T)^-1 from precision Cholesky factors."""
    return COVARIANCE_MODELS[covariance_type].covariances_from_cholesky(precisions_cholesky)


def from_slots(covariance_type, cov, chol):
    """Views in the shapes above of covariances and precision Cholesky factors held as the
    compiled M-step holds them (:mod:`fastem._kernels._update`): (..., k, d, d) slots, tied
    in slot 0, diag on row 0 of each slot, spherical in its entry (0, 0)."""
    return COVARIANCE_MODELS[covariance_type].from_slots(cov, chol)


def parameter_counts(covariance_type, n_components, n_features):
    """Free parameters of each kind, as scikit-learn counts them for BIC/AIC."""
    return {
        "weights": n_components - 1,
        "means": n_features * n_components,
        "covariances": COVARIANCE_MODELS[covariance_type].n_covariance_parameters(n_components, n_features),
    }


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters, as scikit-learn counts them for BIC/AIC."""
    return int(sum(parameter_counts(covariance_type, n_components, n_features).values()))
