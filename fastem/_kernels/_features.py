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
"""

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
    elif family == DIAG:
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
    if family == LINEAR:
        return scale
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
