"""Slow, obviously-right twins of fastem's kernels and updates.

Each function has the name of what it checks and is written for clarity
alone: SciPy densities, explicit loops, float64 throughout.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from fastem import gaussian
from fastem import decomposed
from fastem.decomposed import MCLUST_MODELS


def full_covariances(covariances, covariance_type, n_components, n_features):
    """Every covariance type as a (k, d, d) stack of matrices (mclust's models hold them so)."""
    if covariance_type == "full" or covariance_type in MCLUST_MODELS:
        return np.asarray(covariances, dtype=np.float64)
    if covariance_type == "tied":
        return np.repeat(np.asarray(covariances, dtype=np.float64)[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([np.eye(n_features) * c for c in covariances])


def weighted_log_prob(X, weights, means, covariances, covariance_type):
    """log w_j + log N(x_i; mu_j, Sigma_j) by scipy, shape (n, k)."""
    X = np.asarray(X, dtype=np.float64)
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    columns = [multivariate_normal(means[j], covs[j]).logpdf(X).reshape(-1) for j in range(k)]
    with np.errstate(divide="ignore"):
        return np.stack(columns, axis=1) + np.log(weights)


def e_step(X, weights, means, covariances, covariance_type):
    """Per-row log p(x) and responsibilities, by scipy's logsumexp."""
    log_prob = weighted_log_prob(X, weights, means, covariances, covariance_type)
    log_norm = logsumexp(log_prob, axis=1)
    return log_norm, np.exp(log_prob - log_norm[:, None])


def statistics(X, resp, reference, sample_weight=None):
    """N_j, sum w r (x - ref_j), sum w r (x - ref_j)(x - ref_j)^T by explicit loops."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = resp.shape[1]
    w = np.ones(n) if sample_weight is None else sample_weight
    count = np.zeros(k)
    first = np.zeros((k, d))
    second = np.zeros((k, d, d))
    for i in range(n):
        for j in range(k):
            r = w[i] * resp[i, j]
            dev = X[i] - reference[j]
            count[j] += r
            first[j] += r * dev
            second[j] += r * np.outer(dev, dev)
    return count, first, second


def m_step(X, resp, covariance_type, reg_covar, sample_weight=None):
    """Weighted maximum-likelihood update, written per component (float64).

    Uses scikit-learn's conventions: N_j padded by 10 * eps, reg_covar on
    the diagonal, weights renormalized.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = resp.shape[1]
    w = np.ones(n) if sample_weight is None else sample_weight
    wr = resp * w[:, None]
    nk = wr.sum(axis=0) + 10 * np.finfo(np.float64).eps
    means = np.stack([(wr[:, j, None] * X).sum(axis=0) / nk[j] for j in range(k)])
    scatters = np.stack([(wr[:, j, None] * (X - means[j])).T @ (X - means[j]) for j in range(k)])
    return nk / nk.sum(), means, covariances_from_scatters(scatters, nk, covariance_type, reg_covar)


def covariances_from_scatters(scatters, nk, covariance_type, reg_covar, previous=None):
    """Each covariance type's ML covariances from the (k, d, d) weighted scatters and counts nk.
    An mclust model takes fastem.decomposed.m_step (checked against a numerical minimum in
    test_decomposed) on the scatters plus reg_covar n_k I, its iterative models started
    from the ``previous`` covariances."""
    d = scatters.shape[1]
    if covariance_type in MCLUST_MODELS:
        return decomposed.m_step(covariance_type, scatters + (reg_covar * nk)[:, None, None] * np.eye(d), nk,
                                 previous)
    if covariance_type == "full":
        return scatters / nk[:, None, None] + reg_covar * np.eye(d)
    if covariance_type == "tied":
        return scatters.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    if covariance_type == "diag":
        return np.stack([np.diag(s) for s in scatters]) / nk[:, None] + reg_covar
    return np.stack([np.diag(s).mean() for s in scatters]) / nk + reg_covar


def random_params(rng, covariance_type, n_components, n_features):
    """A well-conditioned random parameter set for any covariance type."""
    k, d = n_components, n_features
    weights = rng.dirichlet(np.ones(k))
    means = rng.normal(scale=3.0, size=(k, d))
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        covariances = a @ np.swapaxes(a, 1, 2) / d + np.eye(d)
    elif covariance_type == "tied":
        a = rng.normal(size=(d, d))
        covariances = a @ a.T / d + np.eye(d)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(k, d))
    else:
        covariances = rng.uniform(0.5, 2.0, size=k)
    chol = gaussian.precision_cholesky(covariances, covariance_type)
    return gaussian.GaussianParams(weights, means, covariances, chol)


def vb_update_full(X, resp, alpha0, beta0, m0, nu0, psi0, stick_breaking=False):
    """Bishop (10.58)-(10.63) for full covariances, written per component.

    Returns the concentration (alpha_k, or the Beta sticks (a_k, b_k)),
    beta_k, m_k, nu_k and W_k (the Wishart scale; inverse of psi0 for W0).
    """
    X = np.asarray(X, dtype=np.float64)
    k = resp.shape[1]
    nk = resp.sum(axis=0)
    xbar = [(resp[:, j, None] * X).sum(axis=0) / nk[j] for j in range(k)]
    S = [(resp[:, j, None] * (X - xbar[j])).T @ (X - xbar[j]) / nk[j] for j in range(k)]
    beta = beta0 + nk
    means = np.stack([(beta0 * m0 + nk[j] * xbar[j]) / beta[j] for j in range(k)])
    nu = nu0 + nk
    W = []
    for j in range(k):
        diff = xbar[j] - m0
        W_inv = psi0 + nk[j] * S[j] + beta0 * nk[j] / (beta0 + nk[j]) * np.outer(diff, diff)
        W.append(np.linalg.inv(W_inv))
    if stick_breaking:
        concentration = (1.0 + nk, np.array([alpha0 + nk[j + 1:].sum() for j in range(k)]))
    else:
        concentration = alpha0 + nk
    return concentration, beta, means, nu, np.stack(W)


def vb_log_rho(X, concentration, beta, means, nu, W, stick_breaking=False):
    """Bishop (10.64)-(10.67), and the stick-breaking E[log pi]: log rho_nk, shape (n, k)."""
    from scipy.special import digamma

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = means.shape[0]
    if stick_breaking:
        a, b = concentration
        log_v = digamma(a) - digamma(a + b)
        log_1mv = digamma(b) - digamma(a + b)
        e_log_pi = np.array([log_v[j] + log_1mv[:j].sum() for j in range(k)])
    else:
        e_log_pi = digamma(concentration) - digamma(concentration.sum())
    out = np.empty((n, k))
    for j in range(k):
        e_log_det = sum(digamma((nu[j] + 1 - i) / 2) for i in range(1, d + 1)) + d * np.log(2) + np.linalg.slogdet(W[j])[1]
        diff = X - means[j]
        quad = d / beta[j] + nu[j] * np.einsum("na,ab,nb->n", diff, W[j], diff)
        out[:, j] = e_log_pi[j] + 0.5 * e_log_det - 0.5 * d * np.log(2 * np.pi) - 0.5 * quad
    return out


def apply_labels(log_prob, y):
    """Known components applied to (n, k) weighted log-probabilities: a hard label
    y_i >= 0 keeps column y_i alone (the others -inf); soft labels (n, k) add log s."""
    log_prob = np.array(log_prob, dtype=np.float64)
    y = np.asarray(y)
    if y.ndim == 2:
        with np.errstate(divide="ignore"):
            return log_prob + np.log(y)
    for i in np.flatnonzero(y >= 0):
        keep = log_prob[i, y[i]]
        log_prob[i] = -np.inf
        log_prob[i, y[i]] = keep
    return log_prob


def labelled_em(X, y, weights, means, covariances, covariance_type, reg_covar, n_iter, sample_weight=None):
    """``n_iter`` semi-supervised ML iterations; returns the parameters and the bound of each
    iteration's starting parameters (the weighted mean of the labelled log-sum-exp)."""
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    bounds = []
    for _ in range(n_iter):
        log_prob = apply_labels(weighted_log_prob(X, weights, means, covariances, covariance_type), y)
        log_norm = logsumexp(log_prob, axis=1)
        bounds.append(w @ log_norm / w.sum())
        resp = np.exp(log_prob - log_norm[:, None])
        weights, means, covariances = m_step(X, resp, covariance_type, reg_covar, sample_weight)
    return (weights, means, covariances), bounds


def incomplete_log_prob(X, weights, means, covariances, covariance_type):
    """(n, k) log w_j + log N(x_o; mu_o, Sigma_oo) of each row's observed coordinates, by scipy."""
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    out = np.empty((X.shape[0], k))
    for i, row in enumerate(np.asarray(X, dtype=np.float64)):
        o = np.flatnonzero(~np.isnan(row))
        for j in range(k):
            density = multivariate_normal(means[j, o], covs[j][np.ix_(o, o)]).logpdf(row[o]) if o.size else 0.0
            out[i, j] = np.log(weights[j]) + density
    return out


def incomplete_em(X, weights, means, covariances, covariance_type, reg_covar, n_iter, sample_weight=None):
    """``n_iter`` iterations of EM for incomplete data (Ghahramani and Jordan 1994), row by row:
    returns the parameters and the bound of each iteration's starting parameters. A row with
    nothing observed is left out of the statistics."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = means.shape[0]
    w = np.ones(n) if sample_weight is None else sample_weight
    bounds = []
    for _ in range(n_iter):
        covs = full_covariances(covariances, covariance_type, k, d)
        log_prob = incomplete_log_prob(X, weights, means, covariances, covariance_type)
        log_norm = logsumexp(log_prob, axis=1)
        bounds.append(w @ log_norm / w.sum())
        resp = np.exp(log_prob - log_norm[:, None])
        count = np.zeros(k)
        first = np.zeros((k, d))
        second = np.zeros((k, d, d))
        for i in range(n):
            o = np.flatnonzero(~np.isnan(X[i]))
            m = np.flatnonzero(np.isnan(X[i]))
            if o.size == 0:
                continue
            for j in range(k):
                xhat = X[i].copy()
                extra = np.zeros((d, d))
                if m.size:
                    gain = covs[j][np.ix_(m, o)] @ np.linalg.inv(covs[j][np.ix_(o, o)])
                    xhat[m] = means[j, m] + gain @ (X[i, o] - means[j, o])
                    extra[np.ix_(m, m)] = covs[j][np.ix_(m, m)] - gain @ covs[j][np.ix_(o, m)]
                r = w[i] * resp[i, j]
                count[j] += r
                first[j] += r * xhat
                second[j] += r * (np.outer(xhat, xhat) + extra)
        nk = count + 10 * np.finfo(np.float64).eps
        means = first / nk[:, None]
        # About the new means: sum r ((xhat - mu)(xhat - mu)^T + C), with mu = first / nk.
        scatters = second - (first[:, :, None] * means[:, None, :] + means[:, :, None] * first[:, None, :]) \
            + count[:, None, None] * means[:, :, None] * means[:, None, :]
        covariances = covariances_from_scatters(scatters, nk, covariance_type, reg_covar, covs)
        weights = nk / nk.sum()
    return (weights, means, covariances), bounds


def _e_log_weights(concentration, stick_breaking):
    from scipy.special import digamma

    if stick_breaking:
        a, b = concentration
        log_v = digamma(a) - digamma(a + b)
        log_1mv = digamma(b) - digamma(a + b)
        return np.array([log_v[j] + log_1mv[:j].sum() for j in range(a.shape[0])])
    return digamma(concentration) - digamma(concentration.sum())


def _e_log_det(nu, W):
    """E[log |Lambda|] under the Wishart W(W, nu) (Bishop 10.65)."""
    from scipy.special import digamma

    d = W.shape[0]
    return sum(digamma((nu + 1 - i) / 2) for i in range(1, d + 1)) + d * np.log(2) + np.linalg.slogdet(W)[1]


def _log_wishart_b(W, nu):
    """log B(W, nu), the Wishart's normalizer (Bishop B.79)."""
    from scipy.special import gammaln

    d = W.shape[0]
    return (-0.5 * nu * np.linalg.slogdet(W)[1] - 0.5 * nu * d * np.log(2) - 0.25 * d * (d - 1) * np.log(np.pi)
            - sum(gammaln((nu + 1 - i) / 2) for i in range(1, d + 1)))


def incomplete_vb(X, state, prior, n_iter, stick_breaking=False, sample_weight=None):
    """``n_iter`` mean-field iterations for full covariances on incomplete data, row by row, with
    q(Z, X_m) q(pi) q(mu, Lambda): q(x_m | z = j) maximizes the bound for the current q(mu, Lambda),
    the Gaussian with precision E[Lambda_j]_mm = nu_j W_mm and mean m_m - W_mm^-1 W_mo (x_o - m_o).
    A row with nothing observed is left out.

    ``state`` and the result are (concentration, beta, m, nu, W); ``prior`` is
    (alpha0, beta0, m0, nu0, W0^-1). Also returns, after each iteration, the whole
    evidence lower bound (Bishop 10.70-10.77, every constant kept, plus the entropy
    of q(X_m)) for the Dirichlet weights (None for the stick-breaking ones).
    """
    from scipy.special import gammaln

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    alpha0, beta0, m0, nu0, psi0 = prior
    concentration, beta, means, nu, W = state
    k = means.shape[0]
    bounds = []
    rows = [i for i in range(n) if not np.isnan(X[i]).all()]
    for _ in range(n_iter):
        e_log_pi = _e_log_weights(concentration, stick_breaking)
        e_log_det = np.array([_e_log_det(nu[j], W[j]) for j in range(k)])
        log_rho = np.empty((n, k))
        completed = np.empty((n, k, d))
        extra = np.zeros((n, k, d, d))
        entropy_xm = np.zeros((n, k))
        for i in rows:
            o = np.flatnonzero(~np.isnan(X[i]))
            m = np.flatnonzero(np.isnan(X[i]))
            for j in range(k):
                xhat = X[i].copy()
                if m.size:
                    precision_mm = nu[j] * W[j][np.ix_(m, m)]
                    cov_m = np.linalg.inv(precision_mm)
                    xhat[m] = means[j, m] - cov_m @ (nu[j] * W[j][np.ix_(m, o)]) @ (X[i, o] - means[j, o])
                    extra[i, j][np.ix_(m, m)] = cov_m
                    entropy_xm[i, j] = 0.5 * m.size * (1 + np.log(2 * np.pi)) + 0.5 * np.linalg.slogdet(cov_m)[1]
                completed[i, j] = xhat
                diff = xhat - means[j]
                expected_quad = d / beta[j] + nu[j] * (diff @ W[j] @ diff + np.trace(W[j] @ extra[i, j]))
                log_rho[i, j] = (e_log_pi[j] + 0.5 * e_log_det[j] - 0.5 * d * np.log(2 * np.pi) - 0.5 * expected_quad
                                 + entropy_xm[i, j])
        log_rho = log_rho[rows]
        resp = np.exp(log_rho - logsumexp(log_rho, axis=1)[:, None])
        rw = w[rows, None] * resp
        nk = rw.sum(axis=0)
        xbar = np.stack([(rw[:, j, None] * completed[rows, j]).sum(axis=0) / nk[j] for j in range(k)])
        S = np.stack([sum(rw[a, j] * (np.outer(completed[i, j] - xbar[j], completed[i, j] - xbar[j]) + extra[i, j])
                          for a, i in enumerate(rows)) / nk[j] for j in range(k)])
        beta = beta0 + nk
        means = (beta0 * m0 + nk[:, None] * xbar) / beta[:, None]
        nu = nu0 + nk
        W = np.stack([np.linalg.inv(psi0 + nk[j] * S[j] + beta0 * nk[j] / beta[j] * np.outer(xbar[j] - m0, xbar[j] - m0))
                      for j in range(k)])
        if stick_breaking:
            concentration = (1.0 + nk, np.array([alpha0 + nk[j + 1:].sum() for j in range(k)]))
            bounds.append(None)
            continue
        concentration = alpha0 + nk
        # The whole bound at q(Z, X_m) of this E-step and the updated q(pi) q(mu, Lambda).
        e_log_pi = _e_log_weights(concentration, False)
        e_log_det = np.array([_e_log_det(nu[j], W[j]) for j in range(k)])
        likelihood = 0.0
        for a, i in enumerate(rows):
            for j in range(k):
                diff = completed[i, j] - means[j]
                quad = d / beta[j] + nu[j] * (diff @ W[j] @ diff + np.trace(W[j] @ extra[i, j]))
                likelihood += rw[a, j] * (0.5 * e_log_det[j] - 0.5 * d * np.log(2 * np.pi) - 0.5 * quad + e_log_pi[j])
        with np.errstate(divide="ignore", invalid="ignore"):
            q_z = float(np.sum(np.where(resp > 0, rw * np.log(resp), 0.0)))
        q_xm = float(np.sum(rw * entropy_xm[rows]))
        log_c = lambda alpha: gammaln(alpha.sum()) - gammaln(alpha).sum()  # noqa: E731
        p_pi = log_c(np.full(k, alpha0)) + (alpha0 - 1) * e_log_pi.sum()
        q_pi = log_c(concentration) + ((concentration - 1) * e_log_pi).sum()
        W0 = np.linalg.inv(psi0)
        p_mu_lambda = k * _log_wishart_b(W0, nu0)
        q_mu_lambda = 0.0
        for j in range(k):
            diff = means[j] - m0
            p_mu_lambda += (0.5 * d * np.log(beta0 / (2 * np.pi)) + 0.5 * e_log_det[j] - 0.5 * d * beta0 / beta[j]
                            - 0.5 * beta0 * nu[j] * diff @ W[j] @ diff + 0.5 * (nu0 - d - 1) * e_log_det[j]
                            - 0.5 * nu[j] * np.trace(psi0 @ W[j]))
            wishart_entropy = -_log_wishart_b(W[j], nu[j]) - 0.5 * (nu[j] - d - 1) * e_log_det[j] + 0.5 * nu[j] * d
            q_mu_lambda += 0.5 * e_log_det[j] + 0.5 * d * np.log(beta[j] / (2 * np.pi)) - 0.5 * d - wishart_entropy
        bounds.append(likelihood + p_pi + p_mu_lambda - q_z + q_xm - q_pi - q_mu_lambda)
    return (concentration, beta, means, nu, W), bounds


def rotation_sweep(scatters, orientation, eigenvalues, rounds):
    """One sweep of exact plane rotations of a common orientation D (fastem._kernels._rotation),
    a round of disjoint pairs at a time in NumPy: M_k = D^T W_k D, then every pair's angle
    t = atan2(-b, -a) / 2 from a = sum_k (m_pp - m_qq) / 2 (1 / d_kp - 1 / d_kq) and
    b = sum_k m_pq (1 / d_kp - 1 / d_kq)."""
    orientation = np.array(orientation, dtype=np.float64)
    inverse = 1.0 / eigenvalues
    for left, right in rounds:
        projected = np.einsum("ai,kab,bj->kij", orientation, scatters, orientation)
        contrast = inverse[:, left] - inverse[:, right]
        a = np.sum(0.5 * (projected[:, left, left] - projected[:, right, right]) * contrast, axis=0)
        b = np.sum(projected[:, left, right] * contrast, axis=0)
        angle = np.where((a == 0.0) & (b == 0.0), 0.0, 0.5 * np.arctan2(-b, -a))
        c, s = np.cos(angle), np.sin(angle)
        first, second = orientation[:, left].copy(), orientation[:, right].copy()
        orientation[:, left], orientation[:, right] = c * first + s * second, c * second - s * first
    return orientation


def hc_merges(Z, alpha=1.0, beta=1.0):
    """mclust's hierarchical merges by brute force: every step scores every pair of
    groups from their rows afresh and merges the cheapest (ties: the largest second,
    then first, smallest-row index)."""
    n, d = Z.shape
    omega = alpha * np.sum((Z - Z.mean(axis=0)) ** 2) / (n * d)

    def score(rows):
        part = Z[rows]
        centered = part - part.mean(axis=0)
        W = centered.T @ centered
        m = len(rows)
        return m * np.log((np.trace(W) + omega) / m + np.linalg.det(W) / (beta * m * m))

    groups = {i: [i] for i in range(n)}
    out = []
    while len(groups) > 1:
        keys = sorted(groups)
        best = None
        for a_pos, a in enumerate(keys):
            for b in keys[a_pos + 1:]:
                cost = score(groups[a] + groups[b]) - score(groups[a]) - score(groups[b])
                if best is None or cost < best[0] or (cost == best[0] and (b, a) > (best[2], best[1])):
                    best = (cost, a, b)
        _, a, b = best
        out.append((a, b))
        groups[a] = groups[a] + groups.pop(b)
    return np.array(out)
