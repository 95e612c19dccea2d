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
"""

import numpy as np

from fastem._family import Family


class WithMissing(Family):
    """``inner`` on rows with missing entries (NaN): see the module docstring.

    Parameters
    ----------
    inner : Family
        A LINEAR-layout family whose columns' terms are independent
        (Poisson, Bernoulli, categorical).
    """

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
