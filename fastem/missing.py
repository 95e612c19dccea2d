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

The M-step is then every covariance model's usual update. Student-t
components (Liu and Rubin 1995) use the observed coordinates' t marginal
(its dimension o, the row's), weigh a row's moments by
u = (nu + o) / (nu + delta_o), add r C unweighted (E[tau (x - mu)(x - mu)^T]
given x_o is u (xhat - mu)(xhat - mu)^T + C), and sum nu's statistic with
each row's own o. Mean-field variational Bayes puts the missing
coordinates in q: q(z, x_m) = q(z) q(x_m | z), and the optimal
q(x_m | z = j) is the conditional of N(m_j, (nu_j W_j)^-1) given x_o.
Integrating x_m out of exp E[log N(x | mu_j, Lambda_j)] leaves
log N(x_o; m_o, ((nu_j W_j)^-1)_oo) plus the complete rows' per-component
constant, so the variational pass inputs (a Gaussian with covariance
(nu_j W_j)^-1) serve unchanged, and the bound adds the entropy of
q(x_m | z) (see :meth:`MissingRows.statistics`). Rows are sorted
by missingness pattern: each pass factors Sigma_oo once per pattern and
component here (in NumPy, patterns of one size together), and a compiled
pass over the sorted rows (fastem._kernels._missing) does the per-row work
in blocks of one pattern. Complete rows
never come here: a copy of them takes the main compiled pass
(fastem._source), so that data without NaN give exactly the complete-data
fit and the main pass does no work for the incomplete rows. A row
with nothing observed has the weights as its responsibilities and adds
nothing to the statistics.
"""

import numpy as np
from scipy.special import digamma, gammaln

from fastem._blocks import MAX_GROUPS
from fastem._kernels import FULL
from fastem._kernels._missing import missing_pass
from fastem._labels import RowLabels, no_labels
from fastem._stats import Stats
from fastem._threads import run_groups, thread_limit

LOG_2PI = float(np.log(2.0 * np.pi))
#: Rows per block of the incomplete rows' pass (a block holds rows of one pattern).
BLOCK_ROWS = 256


def all_finite(X):
    """A quick test that X holds neither NaN nor infinity: its sum is finite (an overflowing
    sum of finite values fails it too, and the exact tests then decide)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(X)))


def check_no_infinity(X, name="X"):
    """Raise a ValueError naming the first row and column holding an infinity (NaN is allowed)."""
    if all_finite(X):
        return
    infinite = np.isinf(X)
    if np.any(infinite):
        row, column = (int(i[0]) for i in np.nonzero(infinite))
        raise ValueError(f"{name} holds {X[row, column]} in row {row}, column {column}: infinity is not a value "
                         "(NaN marks a missing entry)")


def check_observed(counts, name="X"):
    """Raise a ValueError naming the first column of ``counts`` (each column's observed entries)
    that has none: a fit has nothing to learn its parameters from."""
    empty = np.flatnonzero(np.asarray(counts) == 0)
    if empty.shape[0]:
        raise ValueError(f"column {int(empty[0])} of {name} has no observed entry (all NaN): nothing to fit "
                         "its parameters from; drop the column")


def observed_sums(X, weights=None):
    """Per column: the (weighted) sum of the observed entries (NaN left out) and their weight."""
    observed = ~np.isnan(X)
    if weights is None:
        return np.where(observed, X, 0.0).sum(axis=0, dtype=np.float64), observed.sum(axis=0, dtype=np.float64)
    return (np.where(observed, X, 0.0) * weights[:, None]).sum(axis=0), (observed * weights[:, None]).sum(axis=0)


def observed_means(sums, counts):
    """Each column's observed mean from :func:`observed_sums` (0 for a column with nothing observed)."""
    return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), 0.0)


def missing_rows(X, sample_weight=None, labels=None):
    """X's incomplete rows as MissingRows, or None when X has no NaN."""
    return None if all_finite(X) or not np.isnan(X).any() else MissingRows(X, sample_weight, labels)


def no_missing_rows(X, sample_weight=None, labels=None):
    """None: the data of an estimator that takes no missing entry (checked before) has no incomplete row."""
    return None


class MissingRows:
    """The rows of X holding NaN, sorted by pattern, and what the compiled pass reads instead.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), with NaN somewhere
    sample_weight : ndarray of shape (n_samples,) or None
    labels : RowLabels or None
    unobserved : ndarray of bool of shape (n_samples,), default=None
        The rows that count as having nothing observed (default: the rows
        of NaN alone). A row of NaN alone that is not among them takes the
        pass as a pattern of no observed column: its statistics are the
        components' means and covariances (a product of families, whose
        other groups observe something of the row, fastem._family_missing).

    Attributes
    ----------
    filled : ndarray like X
        X with each missing entry replaced by its column's (weighted) observed
        mean: the initialization clusters these rows, and the main compiled
        pass reads them for the per-row outputs (which this class then
        overwrites for the incomplete rows).
    complete_X, complete_weight, complete_labels
        The complete rows, their sample weights (None for all ones) and
        labels (None without): what the main pass reads for the statistics.
    incomplete : ndarray of int
        The incomplete rows.
    unobserved : ndarray of int
        The rows with nothing observed.
    order : ndarray of int
        The other incomplete rows, sorted by pattern (the kernel's rows).
    """

    def __init__(self, X, sample_weight=None, labels=None, unobserved=None):
        nan = np.isnan(X)
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        column_means = observed_means(*observed_sums(X, weights))
        self.filled = np.where(nan, column_means.astype(X.dtype), X)  # fastem._blocks.filled, nan at hand
        incomplete_mask = nan.any(axis=1)
        self.incomplete = np.flatnonzero(incomplete_mask)
        complete = np.flatnonzero(~incomplete_mask)
        self.complete_X = np.ascontiguousarray(X[complete])
        self.complete_weight = (None if sample_weight is None
                                else np.ascontiguousarray(sample_weight[complete], dtype=np.float64))
        self.complete_labels = None if labels is None else labels.take_rows(complete)
        some = nan[self.incomplete].all(axis=1) if unobserved is None else unobserved[self.incomplete]
        self.unobserved = self.incomplete[some]
        rows = self.incomplete[~some]
        if X.shape[1] <= 62:  # each pattern as one integer: np.unique of integers, not of rows
            codes = nan[rows] @ (np.int64(1) << np.arange(X.shape[1], dtype=np.int64))
            codes, inverse = np.unique(codes, return_inverse=True)
            masks = ((codes[:, None] >> np.arange(X.shape[1])) & 1).astype(bool)
        else:
            masks, inverse = np.unique(nan[rows], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        sort = np.argsort(inverse, kind="stable")
        self.order = rows[sort]
        counts = np.bincount(inverse, minlength=masks.shape[0])
        n_features = X.shape[1]
        n_patterns = masks.shape[0]
        self.n_observed = (~masks).sum(axis=1).astype(np.int64)
        self.observed = np.zeros((n_patterns, n_features), dtype=np.int64)
        self.missing = np.zeros((n_patterns, n_features), dtype=np.int64)
        for p, mask in enumerate(masks):
            self.observed[p, : self.n_observed[p]] = np.flatnonzero(~mask)
            self.missing[p, : n_features - self.n_observed[p]] = np.flatnonzero(mask)
        # Blocks of one pattern, then groups of consecutive blocks: a function of the data alone.
        starts, sizes, block_patterns = [], [], []
        first = 0
        for p, count in enumerate(counts):
            for offset in range(0, int(count), BLOCK_ROWS):
                starts.append(first + offset)
                sizes.append(min(BLOCK_ROWS, int(count) - offset))
                block_patterns.append(p)
            first += int(count)
        n_blocks = len(starts)
        n_groups = max(1, min(n_blocks, MAX_GROUPS))
        self._blocks = (np.array(starts, dtype=np.int64), np.array(sizes, dtype=np.int64),
                        np.array(block_patterns, dtype=np.int64),
                        np.array([g * n_blocks // n_groups for g in range(n_groups + 1)], dtype=np.int64))
        self._X = np.ascontiguousarray(self.filled[self.order], dtype=np.float64)
        self._weights = np.ascontiguousarray(weights[self.order], dtype=np.float64)
        self._labels = no_labels(0) if labels is None else labels.take_rows(self.order)
        self._unobserved_labels = None if labels is None else labels.take_rows(self.unobserved)

    @property
    def n_patterns(self):
        return self.n_observed.shape[0]

    def factors(self, covariances, log_weights, dof=None):
        """Per pattern and component: U with U U^T = Sigma_oo^-1 (upper, zero-padded to d x d),
        G = Sigma_oo^-1 Sigma_om (zero-padded), log pi + log N's constant, and the conditional
        covariance C of the missing block at the missing columns (d x d, zero elsewhere), for
        patterns of one size at a time. With ``dof`` (Student-t components) the constant is
        the t marginal's, log pi + log Gamma((nu + o) / 2) - log Gamma(nu / 2) - o / 2 log(nu pi)
        - log det L, and the fifth result holds nu's per-row terms (see the kernel); the
        sixth is log det L itself (P, k), half the log-determinant of Sigma_oo."""
        k, d = covariances.shape[0], covariances.shape[1]
        n_patterns = self.n_patterns
        factor = np.zeros((n_patterns, k, d, d))
        gain = np.zeros((n_patterns, k, d, d))
        constant = np.empty((n_patterns, k))
        t_terms = np.zeros((n_patterns, k) if dof is not None else (0, 0))
        conditional = np.zeros((n_patterns, k, d, d))
        half_log_det = np.empty((n_patterns, k))
        for size in np.unique(self.n_observed):
            patterns = np.flatnonzero(self.n_observed == size)
            o = self.observed[patterns, :size]  # (P_s, o)
            m = self.missing[patterns, : d - size]  # (P_s, m)
            sigma_oo = covariances[:, o[:, :, None], o[:, None, :]]  # (k, P_s, o, o)
            sigma_om = covariances[:, o[:, :, None], m[:, None, :]]
            sigma_mm = covariances[:, m[:, :, None], m[:, None, :]]
            lower = np.linalg.cholesky(sigma_oo)
            inverse = np.linalg.inv(lower)
            regression = np.swapaxes(inverse, 2, 3) @ (inverse @ sigma_om)
            log_det = np.sum(np.log(np.diagonal(lower, axis1=2, axis2=3)), axis=2)
            half_log_det[patterns] = log_det.T
            if dof is None:
                constant[patterns] = (log_weights[:, None] - 0.5 * size * LOG_2PI - log_det).T
            else:
                half = 0.5 * (dof + size)
                normalizer = gammaln(half) - gammaln(0.5 * dof) - 0.5 * size * np.log(dof * np.pi)
                constant[patterns] = (log_weights[:, None] + normalizer[:, None] - log_det).T
                t_terms[patterns] = np.log((dof + size) / dof) + digamma(half) - np.log(half)
            factor[patterns, :, :size, :size] = np.swapaxes(np.swapaxes(inverse, 2, 3), 0, 1)  # L^-T
            gain[patterns, :, :size, : d - size] = np.swapaxes(regression, 0, 1)
            conditional_mm = sigma_mm - np.swapaxes(sigma_om, 2, 3) @ regression  # (k, P_s, m, m)
            components = np.arange(k)[None, :, None, None]
            conditional[patterns[:, None, None, None], components, m[:, None, :, None], m[:, None, None, :]] = (
                np.swapaxes(conditional_mm, 0, 1))
        return factor, gain, constant, conditional, t_terms, half_log_det

    def run(self, kparams, stats, outputs, labels, n_threads, gaussian=None, log_extra=None):
        """The kernel over the sorted rows; returns the conditional covariances (P, k, d, d), padded,
        and half the log-determinants of Sigma_oo (P, k).

        ``gaussian`` (log weights, means, covariances) replaces the components
        ``kparams`` describe (whose reference and degrees of freedom are still
        read); ``log_extra`` (sorted rows, k) is added to the rows'
        log-probabilities, with the labels (a product's other groups,
        fastem._family_missing)."""
        log_weights, means, covariances = gaussian_of(kparams) if gaussian is None else gaussian
        dof = student_dof(kparams)
        factor, gain, constant, conditional, t_terms, half_log_det = self.factors(covariances, log_weights, dof)
        patterns = (self.observed, self.n_observed, self.missing, self.observed.shape[1] - self.n_observed,
                    factor, gain, constant, t_terms)
        params = (np.ascontiguousarray(kparams[1], dtype=np.float64), np.ascontiguousarray(means, dtype=np.float64),
                  np.empty(0) if dof is None else np.ascontiguousarray(dof, dtype=np.float64))
        known = self._labels if labels else no_labels(means.shape[0])
        if log_extra is not None:
            known = RowLabels(np.empty(0, dtype=np.int64), with_labels(log_extra, known))
        with thread_limit(n_threads):
            run_groups(missing_pass, self._blocks[3].shape[0] - 1, self._X, self._blocks, (self._weights, *known),
                       params, patterns, stats, outputs)
        return conditional, half_log_det

    def statistics(self, kparams, n_threads=None, labels=True, entropy=False, gaussian=None, log_extra=None,
                   resp=None):
        """The incomplete rows' statistics about the pass's reference, as Stats (layout of ``kparams``).

        With ``entropy`` (variational Bayes, whose pass inputs are a Gaussian with
        covariance (nu W)^-1 and log-weights holding the rest of E[log pi N]),
        ``Stats.entropy`` is minus the entropy of q over the rows' latent variables:
        sum w r (log r - log s) - sum w r H[q(x_m | z)], where q(x_m | z = j) is the
        Gaussian whose mean and covariance the statistics use (the conditional of
        N(mu_j, (nu_j W_j)^-1) given x_o), with entropy
        |m| / 2 (1 + log 2 pi) + 1/2 (log det Sigma_j - log det Sigma_oo).

        ``gaussian`` and ``log_extra`` as for :meth:`run`; ``resp`` (sorted rows, k),
        if given, receives the responsibilities."""
        family, reference = kparams[0], kparams[1]
        means = kparams[3] if gaussian is None else gaussian[1]
        k, d = means.shape
        n_groups = self._blocks[3].shape[0] - 1
        robust = student_dof(kparams) is not None
        stats = (np.empty((n_groups, k)), np.empty((n_groups, k, d)), np.empty((n_groups, k, d, d)),
                 np.empty(n_groups), np.empty((n_groups, self.n_patterns, k)), np.empty((n_groups, 2 if robust else 0, k)),
                 np.empty(n_groups if entropy else 0))
        outputs = (np.empty(0), np.empty((0, k)) if resp is None else resp, np.empty(0, dtype=np.int64))
        conditional, half_log_det = self.run(kparams, stats, outputs, labels, n_threads, gaussian, log_extra)
        # Reduced in group order: deterministic for any thread count.
        n, s1, upper, log_likelihood, mass, robust_sums, resp_entropy = (a.sum(axis=0) for a in stats)
        s2 = np.triu(upper) + np.swapaxes(np.triu(upper, 1), 1, 2)
        s2 += np.einsum("pj,pjfg->jfg", mass, conditional)
        if family != FULL:
            s2 = np.diagonal(s2, axis1=1, axis2=2).copy()
        negative_entropy = 0.0
        if entropy:
            n_missing = (d - self.n_observed)[:, None]
            log_det = -2.0 * _half_log_det_precision(kparams[4])  # log det Sigma_j
            conditional_entropy = 0.5 * n_missing * (1.0 + LOG_2PI) + 0.5 * log_det[None, :] - half_log_det
            negative_entropy = float(resp_entropy) - float(np.sum(mass * conditional_entropy))
        return Stats(n, s1, s2, np.broadcast_to(reference, (k, d)), float(log_likelihood), negative_entropy,
                     robust=robust_sums if robust else None)

    def evaluate(self, kparams, log_norm, resp, label, labelled=False, n_threads=None, gaussian=None,
                 log_extra=None):
        """Fill the incomplete rows' entries of the per-row outputs (each may have length 0):
        log p(x_o), responsibilities, labels. A row with nothing observed gets the weights.
        ``gaussian`` and ``log_extra`` as for :meth:`run`."""
        log_weights = (gaussian_of(kparams) if gaussian is None else gaussian)[0]
        k = log_weights.shape[0]
        rows = self.order.shape[0]
        sorted_outputs = (np.empty(rows if log_norm.shape[0] else 0), np.empty((rows if resp.shape[0] else 0, k)),
                          np.empty(rows if label.shape[0] else 0, dtype=np.int64))
        no_stats = (np.empty((0, k)), np.empty((0, k, 1)), np.empty((0, k, 1, 1)), np.empty(0),
                    np.empty((0, self.n_patterns, k)), np.empty((0, 2, k)), np.empty(0))
        self.run(kparams, no_stats, sorted_outputs, labelled, n_threads, gaussian, log_extra)
        for full, part in zip((log_norm, resp, label), sorted_outputs):
            if full.shape[0]:
                full[self.order] = part
        if self.unobserved.shape[0]:
            log_prob = np.repeat(log_weights[None, :], self.unobserved.shape[0], axis=0)
            if labelled and self._unobserved_labels is not None:
                log_prob = with_labels(log_prob, self._unobserved_labels)
            total = np.logaddexp.reduce(log_prob, axis=1)
            if log_norm.shape[0]:
                log_norm[self.unobserved] = total
            if resp.shape[0]:
                resp[self.unobserved] = np.exp(log_prob - total[:, None])
            if label.shape[0]:
                label[self.unobserved] = np.argmax(log_prob, axis=1)


def with_labels(log_prob, known):
    """Rows' log-probabilities (n, k) with their labels applied as the pass applies them
    (fastem._kernels._pass.apply_labels): a hard-labelled row keeps its label's alone,
    soft labels add their logs. A new array."""
    log_prob = np.array(log_prob, dtype=np.float64)
    if known.log_soft.shape[0]:
        log_prob += known.log_soft
    elif known.hard.shape[0]:
        rows = np.flatnonzero(known.hard >= 0)
        keep = log_prob[rows, known.hard[rows]]
        log_prob[rows] = -np.inf
        log_prob[rows, known.hard[rows]] = keep
    return log_prob


def student_dof(kparams):
    """The degrees of freedom of Student-t components' pass inputs, or None for Gaussian ones."""
    return kparams[6][:, 0] if len(kparams) > 6 and kparams[6].shape[0] > 0 else None


def _half_log_det_precision(chol):
    """1/2 log det of each component's precision from the pass's factors (k, d, d), or (k, 1, d)
    for the diagonal layouts (1 / sigma per feature)."""
    if chol.shape[1] == 1:
        return np.sum(np.log(chol[:, 0, :]), axis=1)
    return np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)


def gaussian_of(kparams):
    """(log weights (k,), means (k, d), covariances (k, d, d)) from the pass's Gaussian inputs."""
    _, _, _, means, chol, log_const = kparams[:6]
    k, d = means.shape
    if chol.shape[1] == 1:  # diagonal layouts: 1 / sigma per feature
        covariances = np.zeros((k, d, d))
        covariances[:, np.arange(d), np.arange(d)] = 1.0 / chol[:, 0, :] ** 2
    else:  # precision = U U^T, so the covariance is U^-T U^-1
        inverse = np.linalg.inv(chol)
        covariances = np.swapaxes(inverse, 1, 2) @ inverse
    log_weights = log_const - _half_log_det_precision(chol) + 0.5 * d * LOG_2PI
    return log_weights, means, covariances
