"""Gaussian component family: sufficient-statistic features of a block of rows,
and the direct log-density used where those features overflow.

The pass treats the Gaussian as an exponential family: with x' = x - ref
(``ref`` a reference point near the data), the log-density of component j is
theta_j . T(x') with

- ``FULL`` layout: T(x') = (1, x', x'_a x'_c for a <= c), 1 + d + d(d+1)/2 features;
- ``DIAG`` layout: T(x') = (1, x', x'^2), 1 + 2d features.

Blocks of features are held as (n_features_T, block_size) so that every
inner loop runs over the contiguous row axis (LLVM vectorizes it), and the
per-block log-densities and statistics are matrix products.

For the direct log-density two layouts cover the four covariance types:

- ``FULL``: ``chol`` has shape (n_components, n_features, n_features) and
  holds upper-triangular precision Cholesky factors U (precision = U U^T).
  'tied' is 'full' with the one factor repeated.
- ``DIAG``: ``chol`` has shape (n_components, 1, n_features) and holds the
  square roots of the precisions. 'spherical' is 'diag' with equal entries.

The direct log-density of component j at x is
``log_const[j] - 0.5 * ||(x - mu_j) U_j||^2``; the caller folds the log
weight, the log-determinant and -d/2 log(2 pi) into ``log_const`` (and into
theta), so the same code serves ML, MAP and variational Bayes.
"""

from fastem._kernels._jit import kernel

FULL = 0
DIAG = 1


def n_stats(family, n_features):
    """Length of T(x) for a layout."""
    d = n_features
    return 1 + d + d * (d + 1) // 2 if family == FULL else 1 + 2 * d


@kernel()
def features(family, X, start, n_rows, ref, phi):
    """phi[:, :n_rows] = T(X[start:start + n_rows] - ref), one row of phi per feature."""
    n_features = X.shape[1]
    ones = phi[0]
    for b in range(n_rows):
        ones[b] = 1.0
    for c in range(n_features):
        target = phi[1 + c]
        r = ref[c]
        for b in range(n_rows):
            target[b] = X[start + b, c] - r
    index = 1 + n_features
    if family == FULL:
        for a in range(n_features):
            left = phi[1 + a]
            for c in range(a, n_features):
                right = phi[1 + c]
                target = phi[index]
                for b in range(n_rows):
                    target[b] = left[b] * right[b]
                index += 1
    else:
        for c in range(n_features):
            source = phi[1 + c]
            target = phi[index + c]
            for b in range(n_rows):
                target[b] = source[b] * source[b]


@kernel()
def term_scale(family, coef, point, ref):
    """sum_f |coef[f] T_f(point - ref)|: the size of the terms of coef . T, which
    sets the rounding of the sum (T's layout as in :func:`features`)."""
    n_features = ref.shape[0]
    scale = abs(coef[0])
    for a in range(n_features):
        scale += abs(coef[1 + a] * (point[a] - ref[a]))
    index = 1 + n_features
    for a in range(n_features):
        left = point[a] - ref[a]
        if family == FULL:
            for c in range(a, n_features):
                scale += abs(coef[index] * (left * (point[c] - ref[c])))
                index += 1
        else:
            scale += abs(coef[index + a] * (left * left))
    return scale


@kernel()
def center(xt, n_rows, mean, dev):
    """dev[c, :n_rows] = xt[c, :n_rows] - mean[c]."""
    for c in range(xt.shape[0]):
        mu = mean[c]
        source = xt[c]
        target = dev[c]
        for b in range(n_rows):
            target[b] = source[b] - mu


@kernel()
def full_log_density(xt, n_rows, mean, chol, log_const, dev, row, out):
    """out[:n_rows] = log_const - 0.5 * ||(x_b - mean) U||^2 for one component."""
    n_features = xt.shape[0]
    center(xt, n_rows, mean, dev)
    for b in range(n_rows):
        out[b] = 0.0
    for a in range(n_features):
        for b in range(n_rows):
            row[b] = 0.0
        for c in range(a + 1):
            u = chol[c, a]
            dev_c = dev[c]
            for b in range(n_rows):
                row[b] += u * dev_c[b]
        for b in range(n_rows):
            out[b] += row[b] * row[b]
    for b in range(n_rows):
        out[b] = log_const - 0.5 * out[b]


@kernel()
def diag_log_density(xt, n_rows, mean, scale, log_const, dev, out):
    """out[:n_rows] = log_const - 0.5 * sum_c ((x_bc - mean_c) scale_c)^2."""
    n_features = xt.shape[0]
    center(xt, n_rows, mean, dev)
    for b in range(n_rows):
        out[b] = 0.0
    for c in range(n_features):
        s = scale[c]
        dev_c = dev[c]
        for b in range(n_rows):
            v = dev_c[b] * s
            out[b] += v * v
    for b in range(n_rows):
        out[b] = log_const - 0.5 * out[b]


@kernel()
def log_density(family, xt, n_rows, means, chol, log_const, j, dev, row, out):
    """Log-density of component j for the rows of one block."""
    if family == FULL:
        full_log_density(xt, n_rows, means[j], chol[j], log_const[j], dev, row, out)
    else:
        diag_log_density(xt, n_rows, means[j], chol[j, 0], log_const[j], dev, out)
