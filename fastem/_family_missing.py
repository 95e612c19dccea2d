"""Independent-feature families on incomplete rows: a missing entry's term is dropped.

For a LINEAR-layout family, log p(x | j) = sum_c (theta_jc x_c - A_jc) + log h(x)
over X's columns c, each column's terms independent given the component.
With NaN marking a missing entry, the observed part is the same sum over
the observed columns only. :class:`WithMissing` gives the pass the family's
own columns with every missing entry's columns set to zero, plus one
indicator column per column of X that is 1 where the entry is observed,
whose coefficient is that column's -A_jc; the constant is the family's less
every column's -A_jc. A complete row's log-probability is the family's, a
row's missing entries add nothing. The same pass sums each column's
observed responsibility mass in the indicator columns, so each column's ML,
MAP and variational update divides by the mass of its observed rows
(the families take per-column counts, fastem._family.column_counts).

A Gaussian group of a product (fastem.product) is not a sum over its
columns: its rows with a missing entry have NaN features, and
:class:`FamilyMissingRows` sets them apart. They take the Gaussian
mixtures' exact EM (fastem.missing) over the union of the Gaussian groups'
columns, whose covariance is block-diagonal (the groups are independent
given the component): the marginal density of a row's observed Gaussian
columns, plus the other groups' log-densities (their features times their
natural parameters), gives its responsibilities; the Gaussian groups'
statistics are the conditional expectations of their features, the other
groups' the row's own. A row that observes nothing, in any group, has the
weights as its responsibilities and adds nothing to the statistics, as in
fastem.missing.
"""

from typing import NamedTuple

import numpy as np

from fastem._blocks import filled
from fastem._family import Family
from fastem._kernels import FULL
from fastem.missing import LOG_2PI, MissingRows, observed_means, observed_sums
from fastem._stats import Stats


class GaussianColumns(NamedTuple):
    """A Gaussian group's pass columns: its centred values ``first`` (g,), its products
    ``second``, the products of the group's columns ``upper_a`` and ``upper_b`` (a <= b)."""

    first: np.ndarray
    second: np.ndarray
    upper_a: np.ndarray
    upper_b: np.ndarray


class MissingLayout(NamedTuple):
    """Where a family's pass columns say what a row observes: ``indicators``, the columns that
    are 1 where an entry of an independent-feature group is observed (:class:`WithMissing`),
    and ``gaussian``, the Gaussian groups' columns (NaN where an entry is missing)."""

    indicators: np.ndarray
    gaussian: tuple


def family_missing_rows(layout, X, sample_weight=None, labels=None):
    """The rows of pass data ``X`` that the main pass cannot take alone, as FamilyMissingRows,
    or None: every row is complete (or the family takes no missing entry)."""
    if layout is None:
        return None
    rows = FamilyMissingRows(X, layout, sample_weight, labels)
    return None if rows.complete_X.shape[0] == X.shape[0] else rows


class FamilyMissingRows:
    """A family's incomplete rows (see the module docstring), in fastem.missing.MissingRows's
    role for the data sources: ``filled``, ``complete_X``, ``complete_weight``,
    ``complete_labels``, :meth:`statistics` and :meth:`evaluate`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
        The pass's data (:meth:`Family.pass_data`).
    layout : MissingLayout
    sample_weight : ndarray of shape (n_samples,) or None
    labels : RowLabels or None
    """

    def __init__(self, X, layout, sample_weight=None, labels=None):
        self.layout = layout
        n_samples, n_columns = X.shape
        observed = np.zeros(n_samples, dtype=bool)
        if layout.indicators.shape[0]:
            observed |= (X[:, layout.indicators] != 0).any(axis=1)
        self._union = np.concatenate([group.first for group in layout.gaussian]) if layout.gaussian else None
        incomplete = np.zeros(n_samples, dtype=bool)
        self.filled = X
        if self._union is not None:
            nan = np.isnan(X[:, self._union])
            observed |= ~nan.all(axis=1)
            incomplete = nan.any(axis=1)
            if incomplete.any():
                # As fastem._blocked fills a block: each missing entry at its column's observed mean.
                weights = np.ones(n_samples) if sample_weight is None else sample_weight
                self.filled = filled(observed_means(*observed_sums(X, weights)), X)
        keep = np.flatnonzero(observed & ~incomplete)
        self.complete_X = np.ascontiguousarray(X[keep])
        self.complete_weight = (None if sample_weight is None
                                else np.ascontiguousarray(sample_weight[keep], dtype=np.float64))
        self.complete_labels = None if labels is None else labels.take_rows(keep)
        # Rows with a missing Gaussian entry (those observing nothing among them).
        self.incomplete = np.flatnonzero(incomplete)
        self._rows = None
        if self.incomplete.shape[0]:
            rows = self.incomplete
            self._rows = MissingRows(X[np.ix_(rows, self._union)],
                                     None if sample_weight is None else sample_weight[rows],
                                     None if labels is None else labels.take_rows(rows), unobserved=~observed[rows])
            gaussian = np.zeros(n_columns, dtype=bool)
            for group in layout.gaussian:
                gaussian[group.first] = gaussian[group.second] = True
            self._other = np.flatnonzero(~gaussian)
            sorted_rows = rows[self._rows.order]
            self._other_X = np.ascontiguousarray(X[np.ix_(sorted_rows, self._other)], dtype=np.float64)
            self._sorted_weight = (np.ones(sorted_rows.shape[0]) if sample_weight is None
                                   else np.asarray(sample_weight[sorted_rows], dtype=np.float64))

    def _gaussian(self, kparams):
        """The union's Gaussian behind LINEAR pass inputs: (log weights, means, covariances), with
        log weights holding everything of log_const but the Gaussian groups' plug-in constants
        -m^T P m / 2 + log det P / 2 - g / 2 log 2 pi (variational Bayes's offsets stay in them)."""
        theta, log_const = kparams[2][:, 1:], kparams[5]
        k, d = theta.shape[0], self._union.shape[0]
        means, covariances = np.zeros((k, d)), np.zeros((k, d, d))
        plug_in = np.zeros(k)
        at = 0
        for group in self.layout.gaussian:
            g = group.first.shape[0]
            coefficients = theta[:, group.second]
            precision = np.zeros((k, g, g))
            precision[:, group.upper_a, group.upper_b] = -coefficients
            precision[:, group.upper_b, group.upper_a] = -coefficients
            diagonal = np.arange(g)
            precision[:, diagonal, diagonal] *= 2.0  # a square's coefficient is -P_aa / 2
            lower = np.linalg.cholesky(precision)
            mean = np.linalg.solve(precision, theta[:, group.first, None])[:, :, 0]
            plug_in += (-0.5 * np.einsum("ka,ka->k", mean, theta[:, group.first])
                        + np.sum(np.log(np.diagonal(lower, axis1=1, axis2=2)), axis=1) - 0.5 * g * LOG_2PI)
            means[:, at : at + g] = mean
            covariances[:, at : at + g, at : at + g] = np.linalg.inv(precision)
            at += g
        with np.errstate(invalid="ignore"):  # a weight of zero: -inf stays -inf
            return log_const - plug_in, means, covariances

    def _log_extra(self, kparams):
        """The other groups' log-density terms of the sorted rows (sorted rows, k)."""
        theta = kparams[2][:, 1:]
        return self._other_X @ theta[:, self._other].T

    def statistics(self, kparams, n_threads=None, labels=True, entropy=False):
        """The incomplete rows' statistics in the pass's columns, as Stats of the LINEAR layout
        (None without incomplete rows: the rows that observe nothing add nothing)."""
        if self._rows is None:
            return None
        k, n_columns = kparams[2].shape[0], kparams[2].shape[1] - 1
        resp = np.empty((self._rows.order.shape[0], k))
        union = self._rows.statistics((FULL, np.zeros(self._union.shape[0])), n_threads, labels,
                                      gaussian=self._gaussian(kparams), log_extra=self._log_extra(kparams), resp=resp)
        s1 = np.zeros((k, n_columns))
        s1[:, self._other] = resp.T @ (self._sorted_weight[:, None] * self._other_X)
        at = 0
        for group in self.layout.gaussian:
            g = group.first.shape[0]
            s1[:, group.first] = union.s1[:, at : at + g]
            s1[:, group.second] = union.s2[:, at + group.upper_a, at + group.upper_b]
            at += g
        return Stats(union.n, s1, np.zeros((k, 0)), kparams[1], union.log_likelihood)

    def evaluate(self, kparams, log_norm, resp, label, labelled=False, n_threads=None):
        """Overwrite the incomplete rows' per-row outputs (the main pass's on ``filled`` are not
        theirs); a row of an independent-feature family that observes nothing already has the
        weights from the main pass (its features and indicators are zero)."""
        if self._rows is None:
            return
        k = kparams[2].shape[0]
        rows = self.incomplete.shape[0]
        part = (np.empty(rows if log_norm.shape[0] else 0), np.empty((rows if resp.shape[0] else 0, k)),
                np.empty(rows if label.shape[0] else 0, dtype=np.int64))
        self._rows.evaluate((FULL, np.zeros(self._union.shape[0])), *part, labelled=labelled, n_threads=n_threads,
                            gaussian=self._gaussian(kparams), log_extra=self._log_extra(kparams))
        for full, values in zip((log_norm, resp, label), part):
            if full.shape[0]:
                full[self.incomplete] = values


class WithMissing(Family):
    """``inner`` on rows with missing entries (NaN): see the module docstring.

    Parameters
    ----------
    inner : Family
        A LINEAR-layout family whose columns' terms are independent
        (Poisson, Bernoulli, categorical).
    """

    takes_missing = True

    def __init__(self, inner):
        self.inner = inner
        self.n_features = inner.n_features
        self.n_means = inner.n_means
        self.n_columns = inner.n_columns + inner.n_features
        self.layout = inner.layout
        self.has_log_base = inner.has_log_base
        self.columns = inner.columns
        self.FIELDS, self.MODE_FIELDS, self.prior_type = inner.FIELDS, inner.MODE_FIELDS, inner.prior_type
        # The initialization clusters the family's own columns (missing entries at zero).
        self.init_columns = inner.n_columns
        self._sources = inner.column_sources()

    def _split(self, n, s):
        """Per-column counts (each column's observed mass) and the family's own sums."""
        own = self.inner.n_columns
        return s[:, own:][:, self._sources], s[:, :own]

    def pass_data(self, X, estimator_name):
        missing = np.isnan(X)
        data = self.inner.pass_data(np.where(missing, 0.0, X).astype(X.dtype), estimator_name)
        observed = ~missing
        return np.hstack([data * observed[:, self._sources], observed.astype(data.dtype)])

    def log_base(self, data):
        return self.inner.log_base(data[:, : self.inner.n_columns])

    def missing_layout(self):
        return MissingLayout(np.arange(self.inner.n_columns, self.n_columns), ())

    def natural(self, means):
        theta, constant = self.inner.natural(means)
        per_column = self.inner.column_constants(means)
        return np.hstack([theta, per_column]), constant - per_column.sum(axis=1)

    def expected_natural(self, posterior):
        theta, constant = self.inner.expected_natural(posterior)
        per_column = self.inner.expected_column_constants(posterior)
        return np.hstack([theta, per_column]), constant - per_column.sum(axis=1)

    def ml(self, n, s):
        return self.inner.ml(*self._split(n, s))

    def map(self, n, s, prior):
        return self.inner.map(*self._split(n, s), prior)

    def posterior(self, n, s, prior):
        return self.inner.posterior(*self._split(n, s), prior)

    def default_prior(self, column_means):
        """The family's defaults at the observed entries' means (column_means over the pass's
        columns: the zeroed sums' means over the indicators' means)."""
        own = self.inner.n_columns
        observed = column_means[own:][self._sources]
        return self.inner.default_prior(np.where(observed > 0, column_means[:own] / np.where(observed > 0, observed, 1),
                                                 0.0))

    def rounding_point(self, means):
        return np.hstack([self.inner.rounding_point(means), np.ones((means.shape[0], self.n_features))])

    def check_means(self, means, name):
        self.inner.check_means(means, name)

    def expand(self, value, name):
        return self.inner.expand(value, name)

    def log_prior(self, means, prior):
        return self.inner.log_prior(means, prior)

    def posterior_means(self, first, second):
        return self.inner.posterior_means(first, second)

    def kl(self, first, second, prior):
        return self.inner.kl(first, second, prior)

    def with_means(self, params, means):
        return self.inner.with_means(params, means)

    def n_free(self):
        return self.inner.n_free()

    def sample(self, means, counts, rng):
        return self.inner.sample(means, counts, rng)

    def __getattr__(self, name):
        """Whatever else a family offers (a categorical family's tables, offsets) is the inner family's."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
