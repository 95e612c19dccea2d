"""Gaussian mixtures on incomplete data: NaN marks a missing entry (missing at random).

Each iteration is the textbook EM for incomplete data (Ghahramani and Jordan
1994). For a row with observed coordinates o and missing coordinates m, and
component j with mean mu and covariance Sigma:

- E-step: the marginal density of the observed coordinates,
  log pi_j + log N(x_o; mu_o, Sigma_oo), gives the responsibilities;
- the missing coordinates' conditional mean given x_o and the component,
  xhat_m = mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o), and conditional covariance
  C = Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om, enter the statistics:
  S1_j += w r xhat, S2_j += w r (xhat xhat^T + C on the m block).

The M-step is then every covariance model's usual update. Rows are grouped
by missingness pattern, so each pattern costs one factorization of Sigma_oo
per component, and its rows are handled together as matrices. Complete rows
never come here: they take the compiled pass (fastem._source), where the
incomplete rows are present with weight zero and their missing entries
filled, so that data without NaN give exactly the complete-data fit. A row
with nothing observed has the weights as its responsibilities and adds
nothing to the statistics.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from fastem._kernels import FULL
from fastem._stats import Stats

LOG_2PI = float(np.log(2.0 * np.pi))


class Pattern(NamedTuple):
    """The incomplete rows sharing one set of observed columns."""

    observed: np.ndarray  # column indices, ascending
    missing: np.ndarray
    rows: np.ndarray  # row indices into X
    values: np.ndarray  # (n_rows, n_observed) float64, the observed entries
    weights: np.ndarray  # (n_rows,)
    labels: object  # RowLabels of the rows, or None


def check_no_infinity(X):
    """Raise a ValueError naming the first row and column holding an infinity (NaN is allowed)."""
    infinite = np.isinf(X)
    if np.any(infinite):
        row, column = (int(i[0]) for i in np.nonzero(infinite))
        raise ValueError(f"X holds {X[row, column]} in row {row}, column {column}: infinity is not a value "
                         "(NaN marks a missing entry)")


class MissingRows:
    """The rows of X holding NaN, grouped by pattern, and what the compiled pass reads instead.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), with NaN somewhere
    sample_weight : ndarray of shape (n_samples,) or None
    labels : RowLabels or None

    Attributes
    ----------
    filled : ndarray like X
        X with each missing entry replaced by its column's (weighted) observed
        mean: the initialization clusters these rows, and the compiled pass
        reads them with ``pass_weight``.
    pass_weight : ndarray of shape (n_samples,)
        The sample weights with the incomplete rows' set to zero.
    incomplete : ndarray of int
        The incomplete rows.
    patterns : list of Pattern
        The incomplete rows with at least one observed entry, by pattern.
    """

    def __init__(self, X, sample_weight=None, labels=None):
        nan = np.isnan(X)
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        observed_weight = (~nan * weights[:, None]).sum(axis=0)
        column_means = np.where(observed_weight > 0, np.nansum(np.where(nan, 0.0, X) * weights[:, None], axis=0)
                                / np.where(observed_weight > 0, observed_weight, 1.0), 0.0)
        self.filled = np.where(nan, column_means.astype(X.dtype), X)
        self.incomplete = np.flatnonzero(nan.any(axis=1))
        self.pass_weight = weights.astype(np.float64, copy=True)
        self.pass_weight[self.incomplete] = 0.0
        self.column_means = column_means
        self.patterns = []
        #: The rows with nothing observed.
        self.unobserved = self.incomplete[nan[self.incomplete].all(axis=1)]
        masks, inverse = np.unique(nan[self.incomplete], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(masks.shape[0] + 1))
        for index, mask in enumerate(masks):
            if mask.all():
                continue  # nothing observed: the weights are its responsibilities, it adds nothing
            rows = self.incomplete[order[bounds[index] : bounds[index + 1]]]
            observed = np.flatnonzero(~mask)
            part = None if labels is None else labels.take_rows(rows)
            self.patterns.append(Pattern(observed, np.flatnonzero(mask), rows,
                                         np.asarray(X[np.ix_(rows, observed)], dtype=np.float64), weights[rows], part))


def gaussian_of(kparams):
    """(log weights (k,), means (k, d), covariances (k, d, d)) from the pass's Gaussian inputs."""
    _, _, _, means, chol, log_const = kparams[:6]
    k, d = means.shape
    if chol.shape[1] == 1:  # diagonal layouts: 1 / sigma per feature
        scale = chol[:, 0, :]
        covariances = np.zeros((k, d, d))
        covariances[:, np.arange(d), np.arange(d)] = 1.0 / scale**2
        log_det = np.sum(np.log(scale), axis=1)
    else:  # precision = U U^T, so the covariance is U^-T U^-1
        inverse = np.linalg.inv(chol)
        covariances = np.swapaxes(inverse, 1, 2) @ inverse
        log_det = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    log_weights = log_const - log_det + 0.5 * d * LOG_2PI
    return log_weights, means, covariances


class _PatternModel(NamedTuple):
    """One pattern's factors: per component, Sigma_oo^-1, log det Sigma_oo, the regression
    Sigma_oo^-1 Sigma_om and the conditional covariance of the missing block."""

    precision: np.ndarray  # (k, o, o)
    log_det: np.ndarray  # (k,)
    regression: np.ndarray  # (k, o, m)
    conditional: np.ndarray  # (k, m, m)


def _pattern_model(pattern, covariances):
    o, m = pattern.observed, pattern.missing
    sigma_oo = covariances[:, o[:, None], o[None, :]]
    sigma_om = covariances[:, o[:, None], m[None, :]]
    sigma_mm = covariances[:, m[:, None], m[None, :]]
    factor = np.linalg.cholesky(sigma_oo)
    log_det = 2.0 * np.sum(np.log(np.diagonal(factor, axis1=1, axis2=2)), axis=1)
    precision = np.linalg.inv(sigma_oo)
    regression = precision @ sigma_om
    conditional = sigma_mm - np.swapaxes(sigma_om, 1, 2) @ regression
    return _PatternModel(precision, log_det, regression, conditional)


def _log_prob(pattern, model, log_weights, means):
    """(n_rows, k): log pi_j + log N(x_o; mu_o, Sigma_oo), and the deviations x_o - mu_o (k, n_rows, o)."""
    deviation = pattern.values[None, :, :] - means[:, None, pattern.observed]
    mahalanobis = np.einsum("kro,kop,krp->kr", deviation, model.precision, deviation)
    n_observed = pattern.observed.shape[0]
    log_density = -0.5 * (n_observed * LOG_2PI + model.log_det[:, None] + mahalanobis)
    return (log_weights[:, None] + log_density).T, deviation


def _apply_labels(log_prob, labels):
    if labels is None:
        return log_prob
    if labels.log_soft.shape[0]:
        return log_prob + labels.log_soft
    known = np.flatnonzero(labels.hard >= 0)
    keep = log_prob[known, labels.hard[known]]
    log_prob = log_prob.copy()
    log_prob[known] = -np.inf
    log_prob[known, labels.hard[known]] = keep
    return log_prob


def _normalize(log_prob):
    """Log-sum-exp per row and responsibilities; a row with every log-probability -inf
    gets its first largest component, as the compiled pass gives it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        log_norm = logsumexp(log_prob, axis=1)
        resp = np.exp(log_prob - log_norm[:, None])
    empty = ~np.isfinite(log_norm)
    if np.any(empty):
        log_norm[empty] = -np.inf
        resp[empty] = 0.0
        resp[empty, np.argmax(log_prob[empty], axis=1)] = 1.0
    return log_norm, resp


def statistics(missing, kparams):
    """The incomplete rows' statistics about the pass's reference, as Stats (layout of ``kparams``)."""
    family, reference = kparams[0], kparams[1]
    log_weights, means, covariances = gaussian_of(kparams)
    k, d = means.shape
    n = np.zeros(k)
    s1 = np.zeros((k, d))
    s2 = np.zeros((k, d, d))
    log_likelihood = 0.0
    for pattern in missing.patterns:
        model = _pattern_model(pattern, covariances)
        log_prob, deviation = _log_prob(pattern, model, log_weights, means)
        log_norm, resp = _normalize(_apply_labels(log_prob, pattern.labels))
        log_likelihood += float(pattern.weights @ log_norm)
        mass = resp * pattern.weights[:, None]  # (rows, k)
        o, m = pattern.observed, pattern.missing
        # Each component's completed rows about the reference: observed entries, conditional means.
        completed = np.empty((k, pattern.rows.shape[0], d))
        completed[:, :, o] = pattern.values[None, :, :] - reference[o]
        completed[:, :, m] = (means[:, None, m] - reference[m]) + deviation @ model.regression
        weighted = completed * mass.T[:, :, None]
        component_mass = mass.sum(axis=0)
        n += component_mass
        s1 += weighted.sum(axis=1)
        s2 += np.swapaxes(weighted, 1, 2) @ completed
        s2[:, m[:, None], m[None, :]] += component_mass[:, None, None] * model.conditional
    if family != FULL:
        s2 = np.diagonal(s2, axis1=1, axis2=2).copy()
    return Stats(n, s1, s2, np.broadcast_to(reference, (k, d)), log_likelihood)


def evaluate(missing, kparams, log_norm, resp, label, labels=None):
    """Fill the incomplete rows' entries of the per-row outputs (each may have length 0):
    log p(x_o), responsibilities, labels. A row with nothing observed gets the weights."""
    log_weights, means, covariances = gaussian_of(kparams)
    parts = [(p.rows, _log_prob(p, _pattern_model(p, covariances), log_weights, means)[0]) for p in missing.patterns]
    unobserved = missing.unobserved
    if unobserved.shape[0]:
        parts.append((unobserved, np.broadcast_to(log_weights, (unobserved.shape[0], log_weights.shape[0]))))
    for rows, log_prob in parts:
        if labels is not None:
            log_prob = _apply_labels(np.asarray(log_prob, dtype=np.float64), labels.take_rows(rows))
        row_log_norm, row_resp = _normalize(np.asarray(log_prob, dtype=np.float64))
        if log_norm.shape[0]:
            log_norm[rows] = row_log_norm
        if resp.shape[0]:
            resp[rows] = row_resp
        if label.shape[0]:
            label[rows] = np.argmax(log_prob, axis=1)
