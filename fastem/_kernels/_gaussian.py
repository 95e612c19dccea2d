"""Gaussian component family: block log-densities and block statistics.

A block of rows is held transposed, ``xt`` of shape (n_features, block_size)
in float64, so that every inner loop runs over the contiguous row axis with
independent iterations (LLVM vectorizes them).

Two layouts cover the four covariance types:

- ``FULL``: ``chol`` has shape (n_components, n_features, n_features) and
  holds upper-triangular precision Cholesky factors U (precision = U U^T).
  'tied' is 'full' with the one factor repeated.
- ``DIAG``: ``chol`` has shape (n_components, 1, n_features) and holds the
  square roots of the precisions. 'spherical' is 'diag' with equal entries.

The log-density of component j at x is ``log_const[j] - 0.5 * ||(x - mu_j) U_j||^2``;
the caller folds the log weight, the log-determinant and -d/2 log(2 pi) into
``log_const``, so the same code serves ML, MAP and variational Bayes.
"""

from fastem._kernels._jit import kernel

FULL = 0
DIAG = 1


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


@kernel()
def _dot(a, b, n_rows):
    total = 0.0
    for i in range(n_rows):
        total += a[i] * b[i]
    return total


@kernel()
def accumulate(family, xt, n_rows, resp, mean, dev, weighted_dev, stat_s1, stat_s2):
    """Add one component's statistics of one block, about ``mean``.

    ``resp`` holds the (sample-weighted) responsibilities of the block's rows.
    Adds sum(resp * dev) to ``stat_s1`` and the upper triangle of
    sum(resp * dev dev^T) (FULL) or sum(resp * dev^2) (DIAG) to ``stat_s2``,
    with ``dev = x - mean``, and returns sum(resp). A component whose
    responsibilities in the block are all zero adds nothing and costs nothing.
    """
    total = 0.0
    for b in range(n_rows):
        total += resp[b]
    if total == 0.0:
        return total
    n_features = xt.shape[0]
    center(xt, n_rows, mean, dev)
    for c in range(n_features):
        source = dev[c]
        target = weighted_dev[c]
        s = 0.0
        for b in range(n_rows):
            v = resp[b] * source[b]
            target[b] = v
            s += v
        stat_s1[c] += s
    if family == FULL:
        for c in range(n_features):
            for e in range(c, n_features):
                stat_s2[c, e] += _dot(weighted_dev[c], dev[e], n_rows)
    else:
        for c in range(n_features):
            stat_s2[0, c] += _dot(weighted_dev[c], dev[c], n_rows)
    return total
