"""The categorical component family: integer-coded columns, each with its own categories.

Column c holds codes 0 .. L_c - 1. The pass reads each column as L_c
one-hot indicators, so with T(x) the concatenated indicators the natural
parameters are the log-probabilities of every category and A = 0 (each
column's probabilities sum to one). The conjugate prior of a column's
probabilities is Dirichlet(alpha0): the posterior is Dirichlet(alpha0 + S),
its mode (alpha0 - 1 + S) / (sum(alpha0 - 1) + N).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma

from fastem._family import (Family, check_range, check_values, column_counts, dirichlet_kl, dirichlet_log_density,
                            floored_log)


#: Most categories of a column: the pass reads one indicator column per category.
MAX_CATEGORIES = 2**16


def check_codes(X, estimator_name, columns=None):
    """ValueError naming the column and value unless X holds codes 0 .. MAX_CATEGORIES - 1."""
    check_values(X, lambda rows: ~((rows >= 0) & (rows == np.floor(rows))), "category codes (nonnegative integers)",
                 estimator_name, columns)
    check_values(X, lambda rows: rows >= MAX_CATEGORIES, f"category codes below {MAX_CATEGORIES} (recode the column)",
                 estimator_name, columns)


@dataclass(frozen=True)
class CategoricalPrior:
    """Conjugate prior of a categorical mixture (MAP-EM and variational Bayes).

    Parameters
    ----------
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet concentration of the weights; default 1 (flat).
    concentration : float or array-like of shape (sum of n_categories,), default=None
        Dirichlet concentration alpha0 of every category, columns one after
        another; default 1 + 1 / L_c for the L_c categories of column c:
        one pseudo-row spread evenly over a column's categories, which keeps
        every probability above zero.
    """

    weight_concentration_prior: object = None
    concentration: object = None


class CategoricalFamily(Family):
    """Categorical columns with ``n_categories[c]`` categories each."""

    FIELDS = ("concentration",)
    MODE_FIELDS = ("concentration",)
    prior_type = CategoricalPrior

    def __init__(self, n_categories):
        self.n_categories = np.asarray(n_categories, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_categories)[:-1]])
        #: The column each one-hot indicator belongs to.
        self.column_of = np.repeat(np.arange(self.n_categories.shape[0]), self.n_categories)
        self.n_columns = self.n_means = int(self.n_categories.sum())
        self.n_features = self.n_categories.shape[0]

    def codes_of(self, X, estimator_name):
        """Validated integer codes of X (n_samples, n_features)."""
        check_codes(X, estimator_name, self.columns)

        def what(column):
            name = column if self.columns is None else int(self.columns[column])
            return f"category codes below n_categories (column {name} has {self.n_categories[column]})"

        check_values(X, lambda rows: rows >= self.n_categories, what, estimator_name, self.columns)
        return X.astype(np.int64)

    def column_sources(self):
        return self.column_of

    def pass_data(self, X, estimator_name):
        codes = self.codes_of(X, estimator_name)
        data = np.zeros((X.shape[0], self.n_columns), dtype=X.dtype)
        rows = np.arange(X.shape[0])
        for c in range(codes.shape[1]):
            data[rows, self.offsets[c] + codes[:, c]] = 1.0
        return data

    def _group_sums(self, values):
        """Per column of the pass, the sum of ``values`` over its categorical column."""
        return np.add.reduceat(values, self.offsets, axis=-1)[..., self.column_of]

    def check_means(self, means, name):
        check_range(means, name, 0.0, 1.0)
        sums = np.add.reduceat(means, self.offsets, axis=1)
        if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-6):
            raise ValueError(f"'{name}': every column's category probabilities must sum to 1, got sums {sums!r}")

    def natural(self, means):
        return floored_log(means), np.zeros(means.shape[0])

    def expected_natural(self, posterior):
        alpha = posterior.first
        return digamma(alpha) - digamma(self._group_sums(alpha)), np.zeros(alpha.shape[0])

    def map(self, n, s, prior):
        excess = prior.first - 1.0
        return (s + excess) / (column_counts(n) + self._group_sums(excess))

    def _per_column(self, function, *arrays):
        total = 0.0
        for start, size in zip(self.offsets, self.n_categories):
            total += np.sum(function(*(a[..., start : start + size] for a in arrays)))
        return float(total)

    def log_prior(self, means, prior):
        alpha = np.broadcast_to(prior.first, means.shape)
        return self._per_column(dirichlet_log_density, means, alpha)

    def posterior(self, n, s, prior):
        return prior.first + s, np.zeros_like(s)

    def posterior_means(self, first, second):
        return first / self._group_sums(first)

    def kl(self, first, second, prior):
        return self._per_column(dirichlet_kl, first, np.broadcast_to(prior.first, first.shape))

    def default_prior(self, column_means):
        return 1.0 + 1.0 / self.n_categories[self.column_of], np.zeros(self.n_columns)

    def expand(self, value, name):
        array = np.asarray(value, dtype=np.float64)
        if array.ndim == 0:
            return np.full(self.n_columns, float(array))
        if array.shape != (self.n_columns,):
            raise ValueError(f"prior: {name} must be a float or of shape ({self.n_columns},) "
                             f"(every category of every column), got shape {array.shape}")
        return array.copy()

    def n_free(self):
        return int(np.sum(self.n_categories - 1))

    def sample(self, means, counts, rng):
        parts = []
        for probabilities, count in zip(means, counts):
            draws = rng.random_sample((int(count), self.n_categories.shape[0]))
            codes = np.empty(draws.shape)
            for c, (start, size) in enumerate(zip(self.offsets, self.n_categories)):
                cumulative = np.cumsum(probabilities[start : start + size])
                codes[:, c] = np.minimum(np.searchsorted(cumulative / cumulative[-1], draws[:, c], side="right"),
                                         size - 1)
            parts.append(codes)
        return np.vstack(parts)

    def tables(self, means):
        """Per column, the (k, L_c) probability table, from means over the pass's columns."""
        return [means[:, start : start + size] for start, size in zip(self.offsets, self.n_categories)]
