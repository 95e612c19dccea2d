"""Slow, obviously-right twins of the Poisson, Bernoulli and categorical mixtures.

Direct EM, MAP-EM and variational Bayes written from the textbook formulas
with scipy.stats densities and entropies, float64 throughout, one n x k
array per step: what a user would write, for checking fastem's iterates.
"""

import numpy as np
from scipy import stats
from scipy.special import betaln, digamma, gammaln, logsumexp


def one_hot(codes, n_categories):
    """Indicators of integer codes, one block of columns per column of codes."""
    return np.hstack([np.eye(L)[codes[:, c]] for c, L in enumerate(n_categories)])


def column_log_pmf(family, X, means, n_categories=None):
    """log p(x_i | component j) by scipy, shape (n, k); categorical X are codes."""
    k = means.shape[0]
    if family == "poisson":
        return np.stack([stats.poisson.logpmf(X, means[j]).sum(axis=1) for j in range(k)], axis=1)
    if family == "bernoulli":
        return np.stack([stats.bernoulli.logpmf(X, means[j]).sum(axis=1) for j in range(k)], axis=1)
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    columns = []
    for j in range(k):
        total = np.zeros(X.shape[0])
        for c, (start, L) in enumerate(zip(offsets, n_categories)):
            total += np.log(means[j, start : start + L])[X[:, c].astype(int)]
        columns.append(total)
    return np.stack(columns, axis=1)


def sums(family, X, resp, w, n_categories=None):
    """N_j and sum_i w_i r_ij x_i (one-hot for categorical)."""
    data = one_hot(X.astype(int), n_categories) if family == "categorical" else X
    wr = resp * w[:, None]
    return wr.sum(axis=0), wr.T @ data


def default_prior(family, X, w, k, n_categories=None):
    """The documented 'default' hyperparameters (first, second) per pass column."""
    if family == "poisson":
        mean = w @ X / w.sum()
        return 1.0 + mean, np.ones_like(mean)
    if family == "bernoulli":
        return np.full(X.shape[1], 1.5), np.full(X.shape[1], 1.5)
    return np.concatenate([np.full(L, 1.0 + 1.0 / L) for L in n_categories]), None


def log_prior(family, weights, means, prior, n_categories=None):
    """log Dirichlet(weights; 1) + the conjugate log density of the means, by scipy."""
    first, second = prior
    total = stats.dirichlet.logpdf(weights, np.ones(weights.shape[0]))
    if family == "poisson":
        return total + stats.gamma.logpdf(means, first, scale=1.0 / second).sum()
    if family == "bernoulli":
        return total + stats.beta.logpdf(means, first, second).sum()
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    for j in range(means.shape[0]):
        for start, L in zip(offsets, n_categories):
            total += stats.dirichlet.logpdf(means[j, start : start + L], first[start : start + L])
    return total


def em(family, X, weights, means, n_iter, w=None, prior=None, n_categories=None):
    """``n_iter`` ML (prior None) or MAP iterations; returns (weights, means, bounds per unit weight)."""
    w = np.ones(X.shape[0]) if w is None else w
    bounds = []
    for _ in range(n_iter):
        log_prob = column_log_pmf(family, X, means, n_categories) + np.log(weights)
        log_norm = logsumexp(log_prob, axis=1)
        bound = w @ log_norm
        if prior is not None:
            bound += log_prior(family, weights, means, prior, n_categories)
        bounds.append(bound / w.sum())
        resp = np.exp(log_prob - log_norm[:, None])
        n, s = sums(family, X, resp, w, n_categories)
        if prior is None:
            weights, means = n / n.sum(), s / n[:, None]
            continue
        first, second = prior
        weights = n / n.sum()  # the Dirichlet(1) weight prior's mode
        if family == "poisson":
            means = (s + first - 1.0) / (n[:, None] + second)
        elif family == "bernoulli":
            means = (s + first - 1.0) / (n[:, None] + first + second - 2.0)
        else:
            means = np.empty_like(s)
            offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
            for start, L in zip(offsets, n_categories):
                block = s[:, start : start + L] + first[start : start + L] - 1.0
                means[:, start : start + L] = block / block.sum(axis=1, keepdims=True)
    return weights, means, bounds


def _expectations(family, a, b, n_categories):
    """E_q[log p(x | component)] coefficients: (coefficient of x, constant per component)."""
    if family == "poisson":
        return digamma(a) - np.log(b), -(a / b).sum(axis=1)
    if family == "bernoulli":
        return digamma(a) - digamma(b), (digamma(b) - digamma(a + b)).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    coef = np.empty_like(a)
    for start, L in zip(offsets, n_categories):
        block = a[:, start : start + L]
        coef[:, start : start + L] = digamma(block) - digamma(block.sum(axis=1, keepdims=True))
    return coef, np.zeros(a.shape[0])


def _kl(family, alpha, a, b, prior, n_categories):
    """KL(q || prior) = -H(q) - E_q[log prior], the entropies by scipy; the weights'
    prior Dirichlet(1) has the constant density gamma(k)."""
    first, second = prior
    total = -stats.dirichlet.entropy(alpha) - gammaln(alpha.shape[0])
    if family == "poisson":
        e_log, e = digamma(a) - np.log(b), a / b
        expected = first * np.log(second) - gammaln(first) + (first - 1.0) * e_log - second * e
        return total - stats.gamma.entropy(a, scale=1.0 / b).sum() - expected.sum()
    if family == "bernoulli":
        e_log, e_log1 = digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)
        expected = (first - 1.0) * e_log + (second - 1.0) * e_log1 - betaln(first, second)
        return total - stats.beta.entropy(a, b).sum() - expected.sum()
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]])
    for j in range(a.shape[0]):
        for start, L in zip(offsets, n_categories):
            q, p0 = a[j, start : start + L], first[start : start + L]
            e_log = digamma(q) - digamma(q.sum())
            expected = gammaln(p0.sum()) - gammaln(p0).sum() + (p0 - 1.0) @ e_log
            total += -stats.dirichlet.entropy(q) - expected
    return total


def variational(family, X, weights, means, n_iter, prior, n_categories=None, fixed=()):
    """Mean-field VB from one E-step at (weights, means); returns (alpha, a, b, bounds per row).

    ``fixed`` names parameters held at (weights, means): q of each is a point mass there, so the
    E-step takes log pi or the log pmf at those points, and the bound has no KL term for them."""
    first, second = prior
    data = one_hot(X.astype(int), n_categories) if family == "categorical" else X
    # sum_c log x_c!, from the Poisson pmf at rate 1: log p(x; 1) = -1 - log x!.
    log_factorials = -(stats.poisson.logpmf(X, 1.0) + 1.0).sum(axis=1) if family == "poisson" else 0.0
    log_prob = column_log_pmf(family, X, means, n_categories) + np.log(weights)
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])

    def posterior(resp):
        n, s = resp.sum(axis=0), resp.T @ data
        if family == "poisson":
            return 1.0 + n, first + s, second + n[:, None]
        if family == "bernoulli":
            return 1.0 + n, first + s, second + n[:, None] - s
        return 1.0 + n, first + s, None

    alpha, a, b = posterior(resp)
    bounds = []
    weights_kl = lambda alpha: -stats.dirichlet.entropy(alpha) - gammaln(alpha.shape[0])  # noqa: E731
    for _ in range(n_iter):
        if "means" in fixed:
            log_rho = column_log_pmf(family, X, means, n_categories) + np.asarray(log_factorials)[..., None]
        else:
            coef, constant = _expectations(family, a, b, n_categories)
            log_rho = data @ coef.T + constant
        log_rho = log_rho + (np.log(weights) if "weights" in fixed else digamma(alpha) - digamma(alpha.sum()))
        log_norm = logsumexp(log_rho, axis=1)
        kl = 0.0 if "weights" in fixed else weights_kl(alpha)
        if "means" not in fixed:
            kl += _kl(family, alpha, a, b, prior, n_categories) - weights_kl(alpha)
        bounds.append((np.sum(log_norm - log_factorials) - kl) / X.shape[0])
        alpha, a, b = posterior(np.exp(log_rho - log_norm[:, None]))
    return alpha, a, b, bounds
