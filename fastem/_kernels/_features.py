"""Feature layouts: the sufficient-statistic features T(x') of a block of rows.

Every component family the pass serves is an exponential family whose
log-density is theta_j . T(x') for x' = x - ref (``ref`` a reference point
near the data; the family folds log weights and log-normalizers into the
constant feature's coefficient). Its layout says what T is:

- ``FULL``: T(x') = (1, x', x'_a x'_c for a <= c), 1 + d + d(d+1)/2 features
  (Gaussian, full or tied covariance);
- ``DIAG``: T(x') = (1, x', x'^2), 1 + 2d features (Gaussian, diagonal or
  spherical covariance);
- ``LINEAR``: T(x') = (1, x'), 1 + d features (Poisson counts, Bernoulli
  indicators, one-hot categories: families whose statistics are the
  responsibility-weighted sums of x).

Blocks of features are held as (n_features_T, block_size) so that every
inner loop runs over the contiguous row axis (LLVM vectorizes it), and the
per-block log-densities and statistics are matrix products.

Each layout's features, its direct row density and its rounding scale are
plain functions here (the Gaussian densities in fastem._kernels._gaussian),
compiled as first-class functions by fastem._kernels._layouts and handed
to the pass.
"""

import numpy as np

from fastem._kernels._jit import kernel

FULL = 0
DIAG = 1
LINEAR = 2


def n_stats(family, n_features):
    """Length of T(x) for a layout."""
    d = n_features
    if family == FULL:
        return 1 + d + d * (d + 1) // 2
    return 1 + 2 * d if family == DIAG else 1 + d


def first_order(X, start, n_rows, ref, phi):
    """phi[0, :n_rows] = 1 and phi[1 + c, :n_rows] = X[start:start + n_rows, c] - ref[c]."""
    n_features = X.shape[1]
    ones = phi[0]
    for b in range(n_rows):
        ones[b] = 1.0
    for c in range(n_features):
        target = phi[1 + c]
        r = ref[c]
        for b in range(n_rows):
            target[b] = X[start + b, c] - r


def full_features(X, start, n_rows, ref, phi):
    """The FULL layout's T(x - ref): first order, then x'_a x'_c for a <= c."""
    first_order(X, start, n_rows, ref, phi)
    n_features = X.shape[1]
    index = 1 + n_features
    for a in range(n_features):
        left = phi[1 + a]
        for c in range(a, n_features):
            right = phi[1 + c]
            target = phi[index]
            for b in range(n_rows):
                target[b] = left[b] * right[b]
            index += 1


def diag_features(X, start, n_rows, ref, phi):
    """The DIAG layout's T(x - ref): first order, then x'^2."""
    first_order(X, start, n_rows, ref, phi)
    n_features = X.shape[1]
    index = 1 + n_features
    for c in range(n_features):
        source = phi[1 + c]
        target = phi[index + c]
        for b in range(n_rows):
            target[b] = source[b] * source[b]


def linear_features(X, start, n_rows, ref, phi):
    """The LINEAR layout's T(x - ref): first order only."""
    first_order(X, start, n_rows, ref, phi)


def linear_row_density(X, index, j, ref, theta, means, chol, log_const, xt, dev, row, out):
    """theta_j . T(x - ref) for row ``index`` of X in the LINEAR layout, in float64, the
    terms of a zero feature left out (so that a coefficient of -inf times 0 adds 0)."""
    coef = theta[j]
    total = coef[0]
    for c in range(ref.shape[0]):
        value = np.float64(X[index, c]) - ref[c]
        if value != 0.0:
            total += coef[1 + c] * value
    return total


def first_order_scale(coef, point, ref):
    """|coef[0]| + sum_a |coef[1 + a] (point[a] - ref[a])|."""
    scale = abs(coef[0])
    for a in range(ref.shape[0]):
        scale += abs(coef[1 + a] * (point[a] - ref[a]))
    return scale


def full_scale(coef, point, ref):
    """sum_f |coef[f] T_f(point - ref)| in the FULL layout."""
    n_features = ref.shape[0]
    scale = first_order_scale(coef, point, ref)
    index = 1 + n_features
    for a in range(n_features):
        left = point[a] - ref[a]
        for c in range(a, n_features):
            scale += abs(coef[index] * (left * (point[c] - ref[c])))
            index += 1
    return scale


def diag_scale(coef, point, ref):
    """sum_f |coef[f] T_f(point - ref)| in the DIAG layout."""
    n_features = ref.shape[0]
    scale = first_order_scale(coef, point, ref)
    index = 1 + n_features
    for a in range(n_features):
        left = point[a] - ref[a]
        scale += abs(coef[index + a] * (left * left))
    return scale


def linear_scale(coef, point, ref):
    """sum_f |coef[f] T_f(point - ref)| in the LINEAR layout."""
    return first_order_scale(coef, point, ref)


# The layouts' functions call these two; compiled once, linked into each.
first_order = kernel()(first_order)
first_order_scale = kernel()(first_order_scale)
