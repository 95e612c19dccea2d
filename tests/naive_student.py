"""Slow, obviously-right Student-t mixture ECM, written from Peel and McLachlan (2000)
with SciPy's multivariate t density and a root finder: the twin of fastem.student."""

import numpy as np
from scipy import optimize, stats
from scipy.special import digamma, logsumexp


def full_scales(covariances, covariance_type, k, d):
    """The scale matrices as (k, d, d) whatever the covariance type."""
    if covariance_type == "full":
        return np.asarray(covariances)
    if covariance_type == "tied":
        return np.repeat(np.asarray(covariances)[None], k, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(d) for c in covariances])


def log_prob(X, weights, means, scales, dof):
    """(n, k) log w_j + log t_j(x_i) from scipy.stats.multivariate_t."""
    return np.column_stack([
        np.log(w) + stats.multivariate_t(loc=m, shape=s, df=nu).logpdf(X)
        for w, m, s, nu in zip(weights, means, scales, dof)
    ])


def score_samples(X, weights, means, scales, dof):
    return logsumexp(log_prob(X, weights, means, scales, dof), axis=1)


def e_step(X, weights, means, scales, dof):
    """Responsibilities r, weights u = (nu + d) / (nu + delta), and the log-likelihood."""
    lp = log_prob(X, weights, means, scales, dof)
    norm = logsumexp(lp, axis=1)
    r = np.exp(lp - norm[:, None])
    d = X.shape[1]
    u = np.empty_like(r)
    for j in range(len(weights)):
        diff = X - means[j]
        delta = np.einsum("ia,ab,ib->i", diff, np.linalg.inv(scales[j]), diff)
        u[:, j] = (dof[j] + d) / (dof[j] + delta)
    return r, u, norm.sum()


def solve_dof(nu_old, r_j, u_j, d):
    """The root of Peel and McLachlan's equation for one component's nu."""
    n_j = r_j.sum()
    c = (1.0 + np.sum(r_j * (np.log(u_j) - u_j)) / n_j
         + digamma(0.5 * (nu_old + d)) - np.log(0.5 * (nu_old + d)))
    return optimize.brentq(lambda nu: np.log(0.5 * nu) - digamma(0.5 * nu) + c, 1e-2, 1e3, xtol=1e-14, rtol=1e-14)


def ecm_step(X, weights, means, scales, dof, covariance_type, reg_covar, estimate_dof):
    """One ECM iteration; returns the new (weights, means, scales, dof) and the old log-likelihood."""
    n, d = X.shape
    k = len(weights)
    r, u, log_likelihood = e_step(X, weights, means, scales, dof)
    mass = r.sum(axis=0)
    new_weights = mass / n
    new_means = np.stack([(r[:, j] * u[:, j]) @ X / np.sum(r[:, j] * u[:, j]) for j in range(k)])
    scatter = np.stack([
        ((r[:, j] * u[:, j])[:, None] * (X - new_means[j])).T @ (X - new_means[j]) for j in range(k)
    ])
    if covariance_type == "full":
        new_scales = scatter / mass[:, None, None] + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        new_scales = np.repeat((scatter.sum(axis=0) / n + reg_covar * np.eye(d))[None], k, axis=0)
    elif covariance_type == "diag":
        new_scales = np.stack([np.diag(np.diag(s) / m + reg_covar) for s, m in zip(scatter, mass)])
    else:
        new_scales = np.stack([(np.trace(s) / (d * m) + reg_covar) * np.eye(d) for s, m in zip(scatter, mass)])
    new_dof = np.array([solve_dof(dof[j], r[:, j], u[:, j], d) for j in range(k)]) if estimate_dof else dof
    return (new_weights, new_means, new_scales, new_dof), log_likelihood


def incomplete_ecm_step(X, weights, means, scales, dof, reg_covar):
    """One ECM iteration (full scales, nu held) on rows with NaN, row by row (Liu and Rubin 1995):
    the observed coordinates' t marginal (dimension o), u = (nu + o) / (nu + delta_o), the missing
    coordinates' conditional means, and the conditional covariance C in the scale update
    (E[tau (x - mu)(x - mu)^T | x_o] = u (xhat - mu)(xhat - mu)^T + C). A row with nothing
    observed adds nothing to the statistics. Returns the new (weights, means, scales) and the
    old log-likelihood."""
    n, d = X.shape
    k = len(weights)
    log_prob = np.zeros((n, k))
    for i, row in enumerate(X):
        o = np.flatnonzero(~np.isnan(row))
        for j in range(k):
            log_prob[i, j] = np.log(weights[j]) + (stats.multivariate_t(
                loc=means[j, o], shape=scales[j][np.ix_(o, o)], df=dof[j]).logpdf(row[o]) if o.size else 0.0)
    norm = logsumexp(log_prob, axis=1)
    r = np.exp(log_prob - norm[:, None])
    r[np.isnan(X).all(axis=1)] = 0.0  # a row with nothing observed adds nothing to the statistics
    new_means, new_scales = np.empty_like(means), np.empty_like(scales)
    completed = np.empty((k, n, d))
    u = np.empty((n, k))
    extra = np.zeros((k, n, d, d))
    for i, row in enumerate(X):
        o, m = np.flatnonzero(~np.isnan(row)), np.flatnonzero(np.isnan(row))
        for j in range(k):
            diff = row[o] - means[j, o]
            inverse = np.linalg.inv(scales[j][np.ix_(o, o)])
            u[i, j] = (dof[j] + o.size) / (dof[j] + diff @ inverse @ diff)
            completed[j, i] = row
            if m.size:
                gain = scales[j][np.ix_(m, o)] @ inverse
                completed[j, i, m] = means[j, m] + gain @ diff
                extra[j, i][np.ix_(m, m)] = scales[j][np.ix_(m, m)] - gain @ scales[j][np.ix_(o, m)]
    mass = r.sum(axis=0)
    for j in range(k):
        ru = r[:, j] * u[:, j]
        new_means[j] = ru @ completed[j] / ru.sum()
        dev = completed[j] - new_means[j]
        new_scales[j] = ((ru[:, None] * dev).T @ dev + np.einsum("i,iab->ab", r[:, j], extra[j])) / mass[j] \
            + reg_covar * np.eye(d)
    return (mass / mass.sum(), new_means, new_scales), norm.sum()
