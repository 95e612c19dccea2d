"""Gaussian component family: the direct log-density, used where the
features of :mod:`fastem._kernels._features` overflow.

Two layouts of ``chol`` cover the four covariance types:

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

from fastem._kernels._features import FULL
from fastem._kernels._jit import kernel


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
    center(xt, n_rows, mean, dev)
    whitened_log_density(dev, n_rows, xt.shape[0], chol, log_const, row, out)


@kernel()
def whitened_log_density(dev, n_rows, n_dims, chol, log_const, row, out):
    """out[:n_rows] = log_const - 0.5 * ||dev_b U||^2 over the first ``n_dims`` rows of
    ``dev`` (deviations, dims x rows) and the leading n_dims x n_dims block of the
    upper-triangular U; ``row`` is scratch."""
    for b in range(n_rows):
        out[b] = 0.0
    for a in range(n_dims):
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
