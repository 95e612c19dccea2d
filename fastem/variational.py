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

Held parameters (``fixed``; :class:`Held`) are points, not random: their
q is a point mass at the given value and their prior drops out, so the
others' updates are the conditional ones. With the means held, q(Lambda_k)
is the Wishart of the scatter about them (nu_k = nu0 + N_k, the scale
Psi0 + W_k, no mean term); with the covariances held at P_k^-1, q(mu_k) =
N(m_k, (beta_k P_k)^-1) with beta_k and m_k as usual; with the weights held,
E[log pi_k] is log w_k. The bound is the evidence lower bound of the model
whose parameters those are, with the same kind of constants dropped.
"""

from typing import Any, NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

from fastem import gaussian
from fastem._stats import about_held_means
from fastem.covariance import COVARIANCE_MODELS


class VBPrior(NamedTuple):
    """Resolved hyperparameters of the variational model."""

    prior_type: str
    weight_concentration_prior: float
    mean_precision_prior: float
    mean_prior: np.ndarray
    degrees_of_freedom_prior: float
    covariance_prior: Any


class Held(NamedTuple):
    """Parameters held at given values (``fixed``), float64; None where q is fitted. The
    covariances in the covariance type's shape, with their precision Cholesky factors."""

    weights: Any = None
    means: Any = None
    covariances: Any = None
    precisions_cholesky: Any = None


NOTHING_HELD = Held()


class VBState(NamedTuple):
    """Parameters of q, all float64.

    ``weight_concentration`` is a pair of arrays (the Beta sticks) for the
    Dirichlet process, one array for the Dirichlet distribution;
    ``degrees_of_freedom`` is a scalar for 'tied', else one per component;
    ``held`` the parameters ``fixed`` holds, which every update carries on.
    """

    weight_concentration: Any
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: Any
    covariances: Any
    precisions_cholesky: Any
    held: Held = NOTHING_HELD


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
    and log-weights E[log pi_k] - d/2 log nu_k + 1/2 (E[log|Lambda_k|] - log|W_k| - d / beta_k)
    (log w_k for held weights; no Wishart terms for held covariances, no -d / (2 beta_k)
    for held means)."""
    d = state.means.shape[1]
    nu, held = state.degrees_of_freedom, state.held
    if held is NOTHING_HELD:
        log_weights = (
            expected_log_weights(state, prior_type)
            - 0.5 * d * np.log(nu)
            + 0.5 * (_expected_log_det_terms(state, d) - d / state.mean_precision)
        )
    else:
        with np.errstate(divide="ignore"):
            log_weights = (np.log(held.weights) if held.weights is not None
                           else expected_log_weights(state, prior_type))
        if held.covariances is None:
            log_weights = log_weights - 0.5 * d * np.log(nu) + 0.5 * _expected_log_det_terms(state, d)
        if held.means is None:
            log_weights = log_weights - 0.5 * d / state.mean_precision
    weights = expected_weights(state, prior_type) if held.weights is None else held.weights
    plug_in = gaussian.GaussianParams(weights, state.means, state.covariances, state.precisions_cholesky)
    return gaussian.kernel_params(plug_in, covariance_type, reference, log_weights=log_weights)


def update(stats, covariance_type, reg_covar, dtype, prior, held=NOTHING_HELD):
    """q from the statistics of one pass (the variational M-step).

    With N_k, xbar_k and S_k from :func:`fastem.gaussian.moments`:
    beta_k = beta0 + N_k, m_k = (beta0 m0 + N_k xbar_k) / beta_k, nu_k = nu0 + N_k
    (nu = nu0 + N / K for 'tied'), and the scale of q(Lambda) as scikit-learn
    parametrizes it (``covariances_``), e.g. for 'full'
    (Psi0 + N_k S_k + N_k beta0 / beta_k (xbar_k - m0)(xbar_k - m0)^T) / nu_k.
    Weights: Dirichlet alpha0 + N_k, or Beta sticks (1 + N_k, alpha0 + sum_{j>k} N_j),
    what q(pi) would be also when the weights are held. ``held``: see the module docstring.
    """
    if held.means is not None:
        stats = about_held_means(stats, held.means)
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
    if held.means is not None:  # no prior on the means: no mean term in the scale
        means, diff = held.means, np.zeros_like(diff)
    nu, covariances = COVARIANCE_MODELS[covariance_type].variational(psi0, nk, sk, diff, beta0, beta, nu0)
    if held.covariances is not None:
        return VBState(concentration, beta, means, nu, held.covariances, held.precisions_cholesky, held)
    chol = gaussian.precision_cholesky(covariances, covariance_type, float32=np.dtype(dtype) == np.float32)
    return VBState(concentration, beta, means, nu, covariances, chol, held)


def lower_bound(entropy, state, covariance_type, prior_type, stats=None, prior=None):
    """The evidence lower bound as scikit-learn reports it (constants dropped).

    ``entropy`` is sum_i w_i sum_k r_ik log r_ik from the E-step that led to
    ``state``; the rest are the normalizers of q's Wishart (or Gamma),
    Dirichlet (or Beta) and Gaussian factors at ``state``. With parameters
    held (``state.held``), the terms of what is held change (:func:`_held_terms`),
    from that E-step's ``stats`` and the ``prior``.
    """
    held = state.held
    if held is NOTHING_HELD:
        return -entropy - _wishart_terms(state, covariance_type) - _weight_terms(state, prior_type) \
            - _mean_terms(state)
    return -entropy + _held_terms(state, covariance_type, prior_type, stats, held, prior)


def _wishart_terms(state, covariance_type):
    """log of q(Lambda)'s normalizers (Wishart, or Gamma for 'diag' and 'spherical'), summed."""
    d = state.means.shape[1]
    nu = state.degrees_of_freedom
    log_det_chol = gaussian.log_det_cholesky(state.precisions_cholesky, covariance_type, d) - 0.5 * d * np.log(nu)
    log_wishart_norm = -(nu * log_det_chol + nu * d * 0.5 * np.log(2.0)
                         + np.sum(gammaln(0.5 * (np.asarray(nu) - np.arange(d)[:, None])), axis=0))
    if COVARIANCE_MODELS[covariance_type].shared:
        return state.mean_precision.shape[0] * float(np.squeeze(log_wishart_norm))
    return float(np.sum(log_wishart_norm))


def _weight_terms(state, prior_type):
    """log of q(pi)'s normalizer (Dirichlet, or the Beta sticks)."""
    if prior_type == "dirichlet_process":
        return -float(np.sum(betaln(*state.weight_concentration)))
    concentration = state.weight_concentration
    return float(gammaln(concentration.sum()) - gammaln(concentration).sum())


def _mean_terms(state):
    """d/2 sum_k log beta_k: q(mu)'s part."""
    return 0.5 * state.means.shape[1] * float(np.sum(np.log(state.mean_precision)))


def _held_terms(state, covariance_type, prior_type, stats, held, prior):
    """The bound's terms besides -sum r log r with parameters held, each part at q's
    optimum for the E-step's statistics, constants dropped:

    - weights held: sum_k N_k log w_k (else scikit-learn's term of q(pi));
    - covariances free: scikit-learn's terms of q(Lambda), and of q(mu) with the means free;
    - covariances held at P_k^-1: sum_k N_k / 2 log|P_k| - 1/2 tr(P_k W_k), W_k the scatter
      about the held means or, with the means free, about xbar_k, plus the log evidence of
      the means, -N_k beta0 / (2 beta_k) (xbar_k - m0)^T P_k (xbar_k - m0) + d/2 log(beta0 / beta_k).
    """
    total = 0.0
    if held.weights is not None:
        positive = stats.n > 0
        total += float(np.sum(stats.n[positive] * np.log(held.weights[positive])))
    else:
        total -= _weight_terms(state, prior_type)
    if held.covariances is None:
        return total - _wishart_terms(state, covariance_type) - (_mean_terms(state) if held.means is None else 0.0)
    n = stats.n
    k, d = state.means.shape
    about = held.means if held.means is not None else stats.reference + stats.s1 / np.maximum(n, 1e-300)[:, None]
    scatter = about_held_means(stats, about).s2
    scatter = scatter if scatter.ndim == 3 else scatter[:, :, None] * np.eye(d)  # the DIAG layout's diagonals
    precision = gaussian.full_matrices(gaussian.precisions_from_cholesky(held.precisions_cholesky, covariance_type),
                                       covariance_type, k, d)
    log_det = 2.0 * np.broadcast_to(gaussian.log_det_cholesky(held.precisions_cholesky, covariance_type, d), (k,))
    total += float(np.sum(0.5 * n * log_det - 0.5 * np.einsum("kab,kba->k", precision, scatter)))
    if held.means is None:
        beta0, beta, offset = prior.mean_precision_prior, state.mean_precision, about - prior.mean_prior
        quadratic = np.einsum("ka,kab,kb->k", offset, precision, offset)
        total += float(np.sum(-0.5 * n * beta0 / beta * quadratic + 0.5 * d * np.log(beta0 / beta)))
    return total

