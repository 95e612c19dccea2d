"""Mean-field variational Bayes for Gaussian mixtures: hyperparameters,
updates of q, the pass's inputs, and the evidence lower bound.

The model and its updates are scikit-learn's ``BayesianGaussianMixture``
(Bishop, Pattern Recognition and Machine Learning, section 10.2, with a
stick-breaking Dirichlet process as the alternative weight prior):
q(pi) Dirichlet or Beta sticks, q(mu_k, Lambda_k) = N(m_k, (beta_k Lambda_k)^-1)
W(Lambda_k; W_k, nu_k) (one Wishart for 'tied'; a product of Gammas for
'diag' and 'spherical', in scikit-learn's parametrization).

The E-step is fastem's one pass: under q,

    E[log N(x | mu_k, Lambda_k)] = 1/2 E[log |Lambda_k|] - d/2 log 2 pi - d / (2 beta_k)
                                   - nu_k / 2 (x - m_k)^T W_k (x - m_k),

the pass's quadratic form with precision nu_k W_k (the inverse of
``covariances_``) and a per-component constant, folded here with E[log pi_k]
into the log-weights handed to the pass.
"""

from typing import Any, NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

from fastem import gaussian
from fastem.covariance import COVARIANCE_MODELS


class VBPrior(NamedTuple):
    """Resolved hyperparameters of the variational model."""

    prior_type: str
    weight_concentration_prior: float
    mean_precision_prior: float
    mean_prior: np.ndarray
    degrees_of_freedom_prior: float
    covariance_prior: Any


class VBState(NamedTuple):
    """Parameters of q, all float64.

    ``weight_concentration`` is a pair of arrays (the Beta sticks) for the
    Dirichlet process, one array for the Dirichlet distribution;
    ``degrees_of_freedom`` is a scalar for 'tied', else one per component.
    """

    weight_concentration: Any
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: Any
    covariances: Any
    precisions_cholesky: Any


def expected_weights(state, prior_type):
    """E[pi] under q (the fitted ``weights_``)."""
    if prior_type == "dirichlet_process":
        a, b = state.weight_concentration
        total = a + b
        weights = a / total * np.hstack((1.0, np.cumprod(b / total)[:-1]))
        return weights / weights.sum()
    concentration = state.weight_concentration
    return concentration / concentration.sum()


def expected_log_weights(state, prior_type):
    """E[log pi] under q."""
    if prior_type == "dirichlet_process":
        a, b = state.weight_concentration
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0.0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
    concentration = state.weight_concentration
    return digamma(concentration) - digamma(concentration.sum())


def _expected_log_det_terms(state, n_features):
    """E[log |Lambda|] - log |W| (one per component, or a scalar for 'tied')."""
    nu = np.asarray(state.degrees_of_freedom, dtype=np.float64)
    return n_features * np.log(2.0) + np.sum(digamma(0.5 * (nu - np.arange(n_features)[:, None])), axis=0)


def kernel_params(state, covariance_type, prior_type, reference=None):
    """The pass's inputs for q: means m_k, precision factors of ``covariances_``,
    and log-weights E[log pi_k] - d/2 log nu_k + 1/2 (E[log|Lambda_k|] - log|W_k| - d / beta_k)."""
    d = state.means.shape[1]
    nu = state.degrees_of_freedom
    log_weights = (
        expected_log_weights(state, prior_type)
        - 0.5 * d * np.log(nu)
        + 0.5 * (_expected_log_det_terms(state, d) - d / state.mean_precision)
    )
    plug_in = gaussian.GaussianParams(expected_weights(state, prior_type), state.means, state.covariances,
                                      state.precisions_cholesky)
    return gaussian.kernel_params(plug_in, covariance_type, reference, log_weights=log_weights)


def update(stats, covariance_type, reg_covar, dtype, prior):
    """q from the statistics of one pass (the variational M-step).

    With N_k, xbar_k and S_k from :func:`fastem.gaussian.moments`:
    beta_k = beta0 + N_k, m_k = (beta0 m0 + N_k xbar_k) / beta_k, nu_k = nu0 + N_k
    (nu = nu0 + N / K for 'tied'), and the scale of q(Lambda) as scikit-learn
    parametrizes it (``covariances_``), e.g. for 'full'
    (Psi0 + N_k S_k + N_k beta0 / beta_k (xbar_k - m0)(xbar_k - m0)^T) / nu_k.
    Weights: Dirichlet alpha0 + N_k, or Beta sticks (1 + N_k, alpha0 + sum_{j>k} N_j).
    """
    nk, xk, sk = gaussian.moments(stats, covariance_type, reg_covar, dtype)
    alpha0, beta0, m0 = prior.weight_concentration_prior, prior.mean_precision_prior, prior.mean_prior
    nu0, psi0 = prior.degrees_of_freedom_prior, prior.covariance_prior
    if prior.prior_type == "dirichlet_process":
        concentration = (1.0 + nk, alpha0 + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0)))
    else:
        concentration = alpha0 + nk
    beta = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / beta[:, None]
    diff = xk - m0
    nu, covariances = COVARIANCE_MODELS[covariance_type].variational(psi0, nk, sk, diff, beta0, beta, nu0)
    chol = gaussian.precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    return VBState(concentration, beta, means, nu, covariances, chol)


def lower_bound(entropy, state, covariance_type, prior_type):
    """The evidence lower bound as scikit-learn reports it (constants dropped).

    ``entropy`` is sum_i w_i sum_k r_ik log r_ik from the E-step that led to
    ``state``; the rest are the normalizers of q's Wishart (or Gamma),
    Dirichlet (or Beta) and Gaussian factors at ``state``.
    """
    d = state.means.shape[1]
    nu = state.degrees_of_freedom
    log_det_chol = gaussian.log_det_cholesky(state.precisions_cholesky, covariance_type, d) - 0.5 * d * np.log(nu)
    log_wishart_norm = -(nu * log_det_chol + nu * d * 0.5 * np.log(2.0)
                         + np.sum(gammaln(0.5 * (np.asarray(nu) - np.arange(d)[:, None])), axis=0))
    if COVARIANCE_MODELS[covariance_type].shared:
        log_wishart = state.mean_precision.shape[0] * float(np.squeeze(log_wishart_norm))
    else:
        log_wishart = float(np.sum(log_wishart_norm))
    if prior_type == "dirichlet_process":
        log_norm_weight = -float(np.sum(betaln(*state.weight_concentration)))
    else:
        concentration = state.weight_concentration
        log_norm_weight = float(gammaln(concentration.sum()) - gammaln(concentration).sum())
    return -entropy - log_wishart - log_norm_weight - 0.5 * d * float(np.sum(np.log(state.mean_precision)))
