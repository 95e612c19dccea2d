"""The Gaussian component family: parameters, kernel inputs and updates.

Everything here is small (O(k d^3)) NumPy work done once per iteration; the
pass over the data lives in :mod:`fastem._kernels`. Parameters are held in
float64 whatever the data's dtype.

Covariance types and their parameter shapes (k components, d features):

=========== ======================= =================================
type        covariances             precisions_cholesky
=========== ======================= =================================
'full'      (k, d, d)               (k, d, d), upper triangular
'tied'      (d, d)                  (d, d), upper triangular
'diag'      (k, d)                  (k, d), 1 / sqrt(variance)
'spherical' (k,)                    (k,), 1 / sqrt(variance)
=========== ======================= =================================
"""

from typing import NamedTuple

import numpy as np
from scipy.special import gammaln, multigammaln

from fastem._kernels import DIAG, FULL
from fastem._kernels._update import COLLAPSED_MAX_COUNT, NOISE_ULPS

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

LOG_2PI = np.log(2.0 * np.pi)


class GaussianParams(NamedTuple):
    """Parameters of a Gaussian mixture, all float64."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class IllDefinedCovariance(ValueError):
    """A covariance matrix is not positive definite."""


def _ill_defined_message(float32):
    message = (
        "Fitting the mixture model failed because some components have "
        "ill-defined empirical covariance (for instance caused by singleton "
        "or collapsed samples). Try to decrease the number of components, "
        "increase reg_covar, or scale the input data."
    )
    if float32:
        message += (
            " The numerical accuracy can also be improved by passing float64"
            " data instead of float32."
        )
    return message


def layout(covariance_type):
    """Kernel layout (FULL or DIAG) of a covariance type."""
    return FULL if covariance_type in ("full", "tied") else DIAG


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
    chol = params.precisions_cholesky
    if covariance_type == "full":
        chol3 = np.ascontiguousarray(chol, dtype=np.float64)
    elif covariance_type == "tied":
        chol3 = np.ascontiguousarray(np.broadcast_to(chol, (n_components, n_features, n_features)), dtype=np.float64)
    elif covariance_type == "diag":
        chol3 = np.ascontiguousarray(chol[:, None, :], dtype=np.float64)
    else:
        chol3 = np.ascontiguousarray(np.broadcast_to(chol[:, None, None], (n_components, 1, n_features)), dtype=np.float64)
    if log_weights is None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
    log_const = log_weights + log_det_cholesky(chol, covariance_type, n_features) - 0.5 * n_features * LOG_2PI
    log_const = np.ascontiguousarray(log_const, dtype=np.float64)
    offset = means - reference
    if layout(covariance_type) == FULL:
        precision = chol3 @ np.swapaxes(chol3, 1, 2)
        linear = np.einsum("kab,kb->ka", precision, offset)
        upper_a, upper_c = np.triu_indices(n_features)
        second = np.where(upper_a == upper_c, -0.5, -1.0) * precision[:, upper_a, upper_c]
    else:
        precision = chol3[:, 0, :] ** 2
        linear = precision * offset
        second = -0.5 * precision
    constant = log_const - 0.5 * np.sum(linear * offset, axis=1)
    theta = np.ascontiguousarray(np.concatenate([constant[:, None], linear, second], axis=1))
    return layout(covariance_type), reference, theta, means, chol3, log_const


def log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """Log-determinant of each precision Cholesky factor, shape (k,) or scalar for 'tied'."""
    chol = precisions_cholesky
    if covariance_type == "full":
        return np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diagonal(chol)).sum()
    if covariance_type == "diag":
        return np.log(chol).sum(axis=1)
    return n_features * np.log(chol)


def moments(stats, covariance_type, reg_covar, dtype):
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

    Returns
    -------
    nk : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray, shaped by ``covariance_type``
    """
    n = stats.n
    nk = n + count_pad(dtype)
    means = (stats.s1 + n[:, None] * stats.reference) / nk[:, None]
    scatter = _scatter_about_mean(stats, covariance_type)
    if covariance_type == "full":
        covariances = scatter / nk[:, None, None]
        idx = np.arange(covariances.shape[1])
        covariances[:, idx, idx] += reg_covar
    elif covariance_type == "tied":
        covariances = scatter.sum(axis=0) / nk.sum()
        covariances.flat[:: covariances.shape[0] + 1] += reg_covar
    else:
        # A collapsed feature of a component (zero scatter: one value) gets
        # the variance scikit-learn's E[x^2] - mu^2 leaves with padded counts,
        # pad S2 / nk^2 ~ 10 eps mu^2 / N about the origin, where that exceeds
        # twice the rounding of its subtraction (~eps mu^2), i.e. for N below
        # 5: there scikit-learn's variance is positive and it fits on with
        # reg_covar=0, so fastem does too. Above, its sign is rounding's and
        # scikit-learn mostly raises; at the origin or for an empty component
        # it is zero and raises: fastem takes zero there. A sum about the
        # origin within rounding of zero is zero.
        shift = n[:, None] * stats.reference
        origin = stats.s1 + shift
        noise = NOISE_ULPS * np.finfo(np.float64).eps * (np.abs(stats.s1) + np.abs(shift))
        origin = np.where((np.abs(origin) <= noise) | (n[:, None] >= COLLAPSED_MAX_COUNT), 0.0, origin)
        safe_n = np.where(n > 0.0, n, 1.0)[:, None]
        collapsed = count_pad(dtype) * origin * origin / (safe_n * nk[:, None] * nk[:, None])
        covariances = np.where(scatter == 0.0, collapsed, scatter / nk[:, None]) + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    return nk, means, covariances


def ml_update(stats, covariance_type, reg_covar, dtype, total_weight=None):
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

    Returns
    -------
    params : GaussianParams

    Raises
    ------
    IllDefinedCovariance
        When a covariance is not positive definite.
    """
    nk, means, covariances = moments(stats, covariance_type, reg_covar, dtype)
    weights = nk / (nk.sum() if total_weight is None else total_weight)
    chol = precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    return GaussianParams(weights, means, covariances, chol)


def map_update(stats, covariance_type, reg_covar, dtype, prior):
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

    Returns
    -------
    params : GaussianParams
    """
    n = stats.n
    nk = n + count_pad(dtype)
    d = stats.s1.shape[1]
    xbar = (stats.s1 + n[:, None] * stats.reference) / nk[:, None]
    kappa, m0, nu, psi = prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior, prior.covariance_prior
    c = 1.0 if kappa > 0 else 0.0
    means = (nk[:, None] * xbar + kappa * m0) / (nk + kappa)[:, None]
    offset = xbar - m0
    shrink = kappa * nk / (nk + kappa)
    scatter = _scatter_about_mean(stats, covariance_type)
    if covariance_type in ("full", "tied"):
        b = scatter + shrink[:, None, None] * offset[:, :, None] * offset[:, None, :]
        if covariance_type == "full":
            covariances = (psi + b) / (nu + nk + d + 1 + c)[:, None, None]
        else:
            covariances = (psi + b.sum(axis=0)) / (nu + nk.sum() + d + 1 + c * nk.shape[0])
        covariances = covariances + reg_covar * np.eye(d)
    else:
        b = scatter + shrink[:, None] * offset**2
        if covariance_type == "diag":
            covariances = (psi + b) / (nu + nk + 2 + c)[:, None] + reg_covar
        else:
            covariances = (psi + b.sum(axis=1)) / (nu + d * nk + 2 + c * d) + reg_covar
    weights = np.maximum(nk + prior.weight_concentration_prior - 1.0, 0.0)
    weights = weights / weights.sum()
    chol = precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    return GaussianParams(weights, means, covariances, chol)


def log_prior(params, covariance_type, prior):
    """log p(theta) of the conjugate model of :mod:`fastem.prior`.

    The Dirichlet term leaves out components of weight zero (they have left
    the model; with alpha < 1 their density term would be +inf). With
    kappa0 = 0 the means have a flat (improper) prior and no term.
    """
    alpha = prior.weight_concentration_prior
    weights = params.weights
    alive = weights > 0
    total = gammaln(alpha.sum()) - gammaln(alpha).sum() + np.sum((alpha[alive] - 1.0) * np.log(weights[alive]))

    kappa, m0, nu, psi = prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior, prior.covariance_prior
    chol = params.precisions_cholesky
    k, d = params.means.shape
    offset = params.means - m0
    if covariance_type in ("full", "tied"):
        log_det_precision = 2.0 * log_det_cholesky(chol, covariance_type, d)  # (k,) or scalar
        precisions = precisions_from_cholesky(chol, covariance_type)
        if kappa > 0:
            projected = np.einsum("kc,kca->ka", offset, np.broadcast_to(chol, (k, d, d)))
            quadratic = (projected**2).sum(axis=1)
            total += np.sum(0.5 * d * (np.log(kappa) - LOG_2PI) + 0.5 * log_det_precision - 0.5 * kappa * quadratic)
        _, log_det_psi = np.linalg.slogdet(psi)
        trace = np.einsum("ij,...ji->...", psi, precisions)
        inverse_wishart = (0.5 * nu * log_det_psi - 0.5 * nu * d * np.log(2.0) - multigammaln(0.5 * nu, d)
                           + 0.5 * (nu + d + 1) * log_det_precision - 0.5 * trace)
        total += np.sum(inverse_wishart)
    else:
        variances = 1.0 / chol**2  # (k, d) or (k,)
        if covariance_type == "spherical":
            variances = np.repeat(variances[:, None], d, axis=1)
            scale = np.full(d, psi)
        else:
            scale = psi
        if kappa > 0:
            total += np.sum(-0.5 * LOG_2PI + 0.5 * np.log(kappa) - 0.5 * np.log(variances) - 0.5 * kappa * offset**2 / variances)
        a, b = 0.5 * nu, 0.5 * scale
        if covariance_type == "spherical":
            v = variances[:, 0]
            total += np.sum(a * np.log(b[0]) - gammaln(a) - (a + 1.0) * np.log(v) - b[0] / v)
        else:
            total += np.sum(a * np.log(b) - gammaln(a) - (a + 1.0) * np.log(variances) - b / variances)
    return float(total)


def _scatter_about_mean(stats, covariance_type):
    """Weighted scatter about each component's weighted mean, from the statistics.

    S2 - S1 S1^T / N shifts the scatter from the reference point to the
    mean. Entries below the rounding error of that subtraction (a few ulps
    of S2) are set to zero, so that a collapsed component has exactly zero
    scatter rather than rounding noise of either sign.
    """
    n = stats.n
    safe_n = np.where(n > 0.0, n, 1.0)
    tolerance = NOISE_ULPS * np.finfo(np.float64).eps
    if layout(covariance_type) == FULL:
        second = stats.s2
        scatter = second - stats.s1[:, :, None] * stats.s1[:, None, :] / safe_n[:, None, None]
        scale = np.sqrt(np.abs(np.diagonal(second, axis1=1, axis2=2)))
        noise = tolerance * scale[:, :, None] * scale[:, None, :]
        return np.where(np.abs(scatter) <= noise, 0.0, scatter)
    second = stats.s2
    scatter = second - stats.s1**2 / safe_n[:, None]
    return np.where(scatter <= tolerance * second, 0.0, scatter)


def precision_cholesky(covariances, covariance_type, float32=False):
    """Upper-triangular U with U U^T = inverse(covariance), per component.

    Raises
    ------
    IllDefinedCovariance
        With scikit-learn's message when a covariance is not positive definite.
    """
    if covariance_type in ("full", "tied"):
        try:
            lower = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise IllDefinedCovariance(_ill_defined_message(float32)) from None
        eye = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape)
        return np.swapaxes(np.linalg.solve(lower, eye), -1, -2)
    if not np.all(covariances > 0.0):
        raise IllDefinedCovariance(_ill_defined_message(float32))
    return 1.0 / np.sqrt(covariances)


def cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular U with U U^T = precision (reverse-order Cholesky)."""
    if covariance_type in ("full", "tied"):
        flipped = np.flip(precisions, axis=(-2, -1))
        return np.flip(np.linalg.cholesky(flipped), axis=(-2, -1))
    return np.sqrt(precisions)


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices U U^T (full, tied) or squares (diag, spherical)."""
    if covariance_type in ("full", "tied"):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    return precisions_cholesky**2


def covariances_from_cholesky(precisions_cholesky, covariance_type):
    """Covariances (U U^T)^-1 from precision Cholesky factors."""
    if covariance_type in ("full", "tied"):
        eye = np.broadcast_to(np.eye(precisions_cholesky.shape[-1]), precisions_cholesky.shape)
        inverse = np.linalg.solve(np.swapaxes(precisions_cholesky, -1, -2), eye)
        return inverse @ np.swapaxes(inverse, -1, -2)
    return 1.0 / precisions_cholesky**2


def count_pad(dtype):
    """What every component's count gets added (scikit-learn's 10 eps of the data's dtype)."""
    return 10.0 * float(np.finfo(dtype).eps)


def from_slots(covariance_type, cov, chol):
    """Views in the shapes above of covariances and precision Cholesky factors held as the
    compiled M-step holds them (:mod:`fastem._kernels._update`): (..., k, d, d) slots, tied
    in slot 0, diag on row 0 of each slot, spherical in its entry (0, 0)."""
    if covariance_type == "full":
        return cov, chol
    if covariance_type == "tied":
        return cov[..., 0, :, :], chol[..., 0, :, :]
    if covariance_type == "diag":
        return cov[..., 0, :], chol[..., 0, :]
    return cov[..., 0, 0], chol[..., 0, 0]


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters, as scikit-learn counts them for BIC/AIC."""
    cov_params = {
        "full": n_components * n_features * (n_features + 1) / 2.0,
        "tied": n_features * (n_features + 1) / 2.0,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]
    return int(cov_params + n_features * n_components + n_components - 1)
