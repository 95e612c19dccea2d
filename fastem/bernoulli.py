"""The Bernoulli component family: independent binary features (latent class analysis).

log p(x | p) = sum_c x_c log p_c + (1 - x_c) log(1 - p_c), so with T(x) = x
the natural parameters are log(p / (1 - p)) and A = -sum_c log(1 - p_c).
The conjugate prior of each probability is Beta(a0, b0): the posterior is
Beta(a0 + S, b0 + N - S), its mode (a0 - 1 + S) / (a0 + b0 - 2 + N).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, xlog1py, xlogy

from fastem._family import Family, check_range, column_counts, check_values, expand_per_column, floored_log


@dataclass(frozen=True)
class BernoulliPrior:
    """Conjugate prior of a Bernoulli mixture (MAP-EM and variational Bayes).

    Parameters
    ----------
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet concentration of the weights; default 1 (flat).
    alpha : float or array-like of shape (n_features,), default=None
        Beta a0 of each probability; default 1.5.
    beta : float or array-like of shape (n_features,), default=None
        Beta b0 of each probability; default 1.5: one pseudo-row split
        evenly between 0 and 1, which keeps every probability off 0 and 1.
    """

    weight_concentration_prior: object = None
    alpha: object = None
    beta: object = None


class BernoulliFamily(Family):
    """Independent binary (0/1) features on ``n_features`` columns."""

    FIELDS = ("alpha", "beta")
    MODE_FIELDS = ("alpha", "beta")
    prior_type = BernoulliPrior

    def __init__(self, n_features):
        self.n_features = self.n_columns = self.n_means = n_features

    def pass_data(self, X, estimator_name):
        check_values(X, lambda rows: ~((rows == 0) | (rows == 1)), "binary values (0 or 1)", estimator_name,
                     self.columns)
        return X

    def check_means(self, means, name):
        check_range(means, name, 0.0, 1.0)

    def ml(self, n, s):
        """s / n, clipped to [0, 1]: a column of ones in every row of a component can
        round to 1 + ulp, whose log(1 - p) is NaN."""
        return np.clip(s / column_counts(n), 0.0, 1.0)

    def natural(self, means):
        log_one_minus = floored_log(1.0 - means)
        return floored_log(means) - log_one_minus, log_one_minus.sum(axis=1)

    def expected_natural(self, posterior):
        a, b = posterior.first, posterior.second
        log_total = digamma(a + b)
        return digamma(a) - digamma(b), (digamma(b) - log_total).sum(axis=1)

    def column_constants(self, means):
        return floored_log(1.0 - means)

    def expected_column_constants(self, posterior):
        return digamma(posterior.second) - digamma(posterior.first + posterior.second)

    def map(self, n, s, prior):
        a, b = prior.first, prior.second
        return np.clip((s + a - 1.0) / (column_counts(n) + a + b - 2.0), 0.0, 1.0)

    def log_prior(self, means, prior):
        a, b = prior.first, prior.second
        return float(np.sum(xlogy(a - 1.0, means) + xlog1py(b - 1.0, -means) - betaln(a, b)))

    def posterior(self, n, s, prior):
        return prior.first + s, prior.second + np.maximum(column_counts(n) - s, 0.0)

    def posterior_means(self, first, second):
        return first / (first + second)

    def kl(self, first, second, prior):
        a0, b0 = prior.first, prior.second
        total = digamma(first + second)
        return float(np.sum(betaln(a0, b0) - betaln(first, second) + (first - a0) * (digamma(first) - total)
                            + (second - b0) * (digamma(second) - total)))

    def default_prior(self, column_means):
        return np.full_like(column_means, 1.5), np.full_like(column_means, 1.5)

    def expand(self, value, name):
        return expand_per_column(value, name, self.n_features)

    def n_free(self):
        return self.n_features

    def sample(self, means, counts, rng):
        return np.vstack([(rng.random_sample((int(c), self.n_features)) < p).astype(np.float64)
                          for p, c in zip(means, counts)])
