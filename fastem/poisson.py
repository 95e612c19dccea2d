"""The Poisson component family: independent counts per feature.

log p(x | lambda) = sum_c x_c log lambda_c - lambda_c - log x_c!, so with
T(x) = x the natural parameters are log lambda, A = sum_c lambda_c and
log h(x) = -sum_c log x_c!. The conjugate prior of each rate is
Gamma(shape a0, rate b0): the posterior is Gamma(a0 + S, b0 + N), its mode
(a0 - 1 + S) / (b0 + N).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, xlogy

from fastem._family import Family, check_range, column_counts, check_values, expand_per_column, floored_log, gamma_kl


@dataclass(frozen=True)
class PoissonPrior:
    """Conjugate prior of a Poisson mixture (MAP-EM and variational Bayes).

    Parameters
    ----------
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet concentration of the weights; default 1 (flat).
    rate_shape : float or array-like of shape (n_features,), default=None
        Gamma shape a0 of each rate; default 1 + the feature's mean count.
    rate_rate : float or array-like of shape (n_features,), default=None
        Gamma rate b0 of each rate (pseudo-rows); default 1: one pseudo-row
        at the feature's mean count, which keeps every rate above zero
        where the feature is not all zeros.
    """

    weight_concentration_prior: object = None
    rate_shape: object = None
    rate_rate: object = None


class PoissonFamily(Family):
    """Independent Poisson counts on ``n_features`` columns."""

    FIELDS = ("rate_shape", "rate_rate")
    MODE_FIELDS = ("rate_shape",)
    prior_type = PoissonPrior
    has_log_base = True

    def __init__(self, n_features):
        self.n_features = self.n_columns = self.n_means = n_features

    def pass_data(self, X, estimator_name):
        check_values(X, lambda rows: ~((rows >= 0) & (rows == np.floor(rows))), "nonnegative integer counts",
                     estimator_name, self.columns)
        return X

    def log_base(self, data):
        return -gammaln(np.asarray(data, dtype=np.float64) + 1.0).sum(axis=1)

    def check_means(self, means, name):
        check_range(means, name, 0.0, np.inf)

    def natural(self, means):
        return floored_log(means), -means.sum(axis=1)

    def expected_natural(self, posterior):
        shape, rate = posterior.first, posterior.second
        return digamma(shape) - np.log(rate), -(shape / rate).sum(axis=1)

    def column_constants(self, means):
        return -means

    def expected_column_constants(self, posterior):
        return -(posterior.first / posterior.second)

    def map(self, n, s, prior):
        return np.maximum(s + prior.first - 1.0, 0.0) / (column_counts(n) + prior.second)

    def log_prior(self, means, prior):
        a, b = prior.first, prior.second
        return float(np.sum(xlogy(a, b) - gammaln(a) + xlogy(a - 1.0, means) - b * means))

    def posterior(self, n, s, prior):
        return prior.first + s, prior.second + np.broadcast_to(column_counts(n), s.shape)

    def posterior_means(self, first, second):
        return first / second

    def kl(self, first, second, prior):
        return float(np.sum(gamma_kl(first, second, prior.first, prior.second)))

    def default_prior(self, column_means):
        return 1.0 + column_means, np.ones_like(column_means)

    def expand(self, value, name):
        return expand_per_column(value, name, self.n_features)

    def n_free(self):
        return self.n_features

    def sample(self, means, counts, rng):
        return np.vstack([rng.poisson(mean, size=(int(c), self.n_features)) for mean, c in zip(means, counts)])
