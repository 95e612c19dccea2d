"""Model-based agglomerative hierarchical clustering, as mclust starts EM.

mclust's ``Mclust`` starts every fit from a partition of the data cut from
one merge tree (Fraley 1998; Scrucca and Raftery 2015):

- the data are first put on the scaled-SVD coordinates: standardized
  columns (sample standard deviation), turned onto their right singular
  vectors and divided by the square roots of the singular values
  (:func:`svd_scaled`);
- groups start as single rows and the two groups whose merge changes the
  criterion least are merged, until one group is left (:func:`merges`);
- the partition into k groups is the state after n - k merges
  (:func:`partition`).

For one feature mclust starts from quantiles instead (:func:`quantile_classes`).

The criterion is the unconstrained (VVV) classification likelihood made
finite for groups too small to estimate a covariance. A group of n_k rows
with scatter W_k about its mean scores

    n_k log( (tr W_k + alpha w) / n_k + det W_k / (beta n_k^2) )

where w = tr W / (n d) is the whole data's scatter per entry and alpha =
beta = 1 are mclust's documented defaults; a merge costs the score of the
union less the scores of its two groups. A group whose scatter is singular
(fewer than d + 1 rows, or rows on a line) is scored by its trace alone,
mclust's spherical (VII) criterion. The form was identified against mclust
6.0.0: the merges where a growing group stops attracting a row, over alpha,
beta, group sizes 1 to 18 and collinear and spread groups, agree to 1e-6;
tests/test_hc.py holds reference trees and partitions.

Ties (duplicated rows give exactly equal changes) go to the pair with the
largest second index, then the largest first index, as mclust's do. The
merges run compiled (fastem._kernels._hc); tests/naive.py's brute-force
search is their twin.

mclust runs its search with bookkeeping of its own: on some data its late
merges differ from the plain greedy order (two of the nine partitions of
mclust's banknote and wreath data, none of faithful's, iris's or
diabetes's). This module is the plain greedy search.
"""

import threading

import numpy as np

from fastem._kernels._hc import merge_tree

#: mclust's ``mclust.options("subset")``: at most this many rows enter the
#: merges; a larger data set is sampled (with the fit's random state).
HC_ROWS = 2000


def svd_scaled(X):
    """mclust's default 'SVD' coordinates: standardized columns on the right singular
    vectors, each divided by the square root of its singular value."""
    X = np.asarray(X, dtype=np.float64)
    centered = X - X.mean(axis=0)
    scale = centered.std(axis=0, ddof=1) if X.shape[0] > 1 else np.ones(X.shape[1])
    scale[scale == 0.0] = 1.0
    standardized = centered / scale
    _, singular, vt = np.linalg.svd(standardized, full_matrices=False)
    keep = singular > singular[0] * 1e-12 if singular.size else singular > 0
    return standardized @ vt[keep].T / np.sqrt(singular[keep])


def merges(Z, alpha=1.0, beta=1.0):
    """The merge tree of the rows of ``Z``: an (n - 1, 2) int array of the
    smallest row index of each of the two groups merged, in merge order
    (compiled: fastem._kernels._hc)."""
    return merge_tree(np.ascontiguousarray(Z, dtype=np.float64), float(alpha), float(beta))


def partition(tree, n, n_groups):
    """Labels 0..n_groups-1 of ``n`` rows after ``n - n_groups`` merges of ``tree``,
    numbered by the order of their first rows."""
    if not 1 <= n_groups <= n:
        raise ValueError(f"a tree of {n} rows has no partition into {n_groups} groups")
    parent = np.arange(n)
    for i, j in tree[: n - n_groups]:
        parent[parent == j] = i
    _, labels = np.unique(parent, return_inverse=True)
    return labels.astype(np.int64)


def sample_rows(random_state, n_samples):
    """The rows the merges run on: all of them, or :data:`HC_ROWS` drawn with
    ``random_state`` (sorted), as mclust samples larger data."""
    if n_samples <= HC_ROWS:
        return np.arange(n_samples)
    return np.sort(random_state.choice(n_samples, size=HC_ROWS, replace=False))


def sample_labels(rows, weights, n_components):
    """Labels 0..n_components-1 of the sampled ``rows`` (their data, missing entries
    already filled as the initializations see them), -1 for rows of zero weight."""
    rows = np.asarray(rows)
    keep = np.ones(rows.shape[0], dtype=bool) if weights is None else np.asarray(weights) > 0
    if np.count_nonzero(keep) < n_components:
        raise ValueError(
            f"init_params='hc' needs at least n_components = {n_components} rows of positive "
            f"sample_weight among the {rows.shape[0]} it clusters, got {np.count_nonzero(keep)}"
        )
    labels = np.full(rows.shape[0], -1, dtype=np.int64)
    if rows.shape[1] == 1:
        labels[keep] = quantile_classes(rows[keep, 0], n_components)
    else:
        labels[keep] = partition(_cached_tree(svd_scaled(rows[keep])), int(np.count_nonzero(keep)), n_components)
    return labels


def quantile_classes(x, n_classes):
    """mclust's start for one feature: class j holds the values in [q_j, q_j+1) between
    the (j / n_classes)-quantiles (R's default, linear interpolation), the largest
    value in the last class."""
    edges = np.quantile(x, np.linspace(0.0, 1.0, n_classes + 1))
    return np.clip(np.searchsorted(edges, x, side="right"), 1, n_classes).astype(np.int64) - 1


def hc_labels(X, n_components, random_state, sample_weight=None):
    """Row labels of mclust's hierarchical start, -1 for rows outside it.

    The merges run on :func:`sample_rows`; the rows they leave out are left
    to the first E-step, as mclust leaves them.
    """
    rows = sample_rows(random_state, X.shape[0])
    weights = None if sample_weight is None else sample_weight[rows]
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    labels[rows] = sample_labels(X[rows], weights, n_components)
    return labels


_TREES = {}
_TREES_LOCK = threading.Lock()


def _cached_tree(Z):
    """The merge tree of ``Z``, kept for the last few data sets: a selection over
    component counts and models (fitted on several threads) cuts one tree many times."""
    key = (Z.shape, Z.tobytes())
    with _TREES_LOCK:
        tree = _TREES.get(key)
        if tree is None:
            tree = merges(Z)
            if len(_TREES) >= 4:
                _TREES.pop(next(iter(_TREES)))
            _TREES[key] = tree
    return tree
