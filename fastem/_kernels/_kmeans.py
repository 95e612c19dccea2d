"""k-means kernels for the 'kmeans' initialization.

The data are centred on the fly (``X[i] - mean`` in the data's dtype, then
float64), so no centred copy of X is made. Work is split over the same kind
of fixed block grid as the EM pass, each kernel running a range of groups
(fastem._threads.run_groups), with per-group partial sums reduced by the
caller in group order: results do not depend on the thread count.
"""

import numpy as np

from fastem._kernels._grid import block_rows, group_blocks
from fastem._kernels._jit import kernel


@kernel()
def _load_centred(X, start, n_rows, mean, xt):
    """xt[:, :n_rows] = (X[start:start + n_rows] - mean).T in float64."""
    for b in range(n_rows):
        for c in range(X.shape[1]):
            xt[c, b] = X[start + b, c] - mean[c]


@kernel()
def squared_distances(xt, n_rows, point, out):
    """out[b] = ||xt[:, b] - point||^2 for the rows of a block."""
    for b in range(n_rows):
        out[b] = 0.0
    for c in range(xt.shape[0]):
        p = point[c]
        row = xt[c]
        for b in range(n_rows):
            diff = row[b] - p
            out[b] += diff * diff


@kernel()
def first_weighted_index(n_samples, uniform):
    """The index RandomState.choice(n_samples, p=ones / n_samples) draws from ``uniform``.

    That is the first i whose cumulative probability, normalized by the
    total, exceeds ``uniform``; the sums are taken in the same order as
    ``np.cumsum``, so they round the same way.
    """
    p = 1.0 / n_samples
    total = 0.0
    for _ in range(n_samples):
        total += p
    cumulative = 0.0
    for i in range(n_samples):
        cumulative += p
        if cumulative / total > uniform:
            return i
    return n_samples - 1


@kernel()
def cumulative_search(values, weights, targets, out):
    """out[t] = np.searchsorted(np.cumsum(weights * values), targets[t]) without the cumsum array.

    An empty ``weights`` means all ones.
    """
    weighted = weights.shape[0] > 0
    n_targets = targets.shape[0]
    for t in range(n_targets):
        out[t] = values.shape[0]
    remaining = n_targets
    lowest = np.inf  # the smallest target not yet reached: one comparison per row
    for t in range(n_targets):
        lowest = min(lowest, targets[t])
    cumulative = 0.0
    for i in range(values.shape[0]):
        cumulative += values[i] * weights[i] if weighted else values[i]
        if cumulative >= lowest:
            lowest = np.inf
            for t in range(n_targets):
                if out[t] == values.shape[0]:
                    if cumulative >= targets[t]:
                        out[t] = i
                        remaining -= 1
                    else:
                        lowest = min(lowest, targets[t])
            if remaining == 0:
                break


@kernel()
def update_closest(first_group, stop_group, X, mean, point, closest, grid):
    """closest[i] = min(closest[i], ||X[i] - mean - point||^2) over the rows of groups ``first_group`` to ``stop_group``."""
    block_size, n_groups = grid
    n_samples = X.shape[0]
    for group in range(first_group, stop_group):
        xt = np.empty((X.shape[1], block_size))
        distance = np.empty(block_size)
        first, stop = group_blocks(group, n_groups, n_samples, block_size)
        for block in range(first, stop):
            start, n_rows = block_rows(block, block_size, n_samples)
            _load_centred(X, start, n_rows, mean, xt)
            squared_distances(xt, n_rows, point, distance)
            for b in range(n_rows):
                closest[start + b] = min(closest[start + b], distance[b])


@kernel()
def candidate_potentials(first_group, stop_group, X, mean, points, closest, sample_weight, grid, partial, trial_closest):
    """partial[g, t] = sum over group g of w_i min(closest_i, ||x_i - points[t]||^2), for the groups
    ``first_group`` to ``stop_group``.

    ``trial_closest`` of shape (len(points), n_samples) gets those minima
    themselves (the closest distances after each candidate, which
    :func:`update_closest` would compute again for the chosen one), or has
    no rows.
    """
    block_size, n_groups = grid
    n_samples = X.shape[0]
    weighted = sample_weight.shape[0] > 0
    keep = trial_closest.shape[0] > 0
    for group in range(first_group, stop_group):
        xt = np.empty((X.shape[1], block_size))
        distance = np.empty(block_size)
        first, stop = group_blocks(group, n_groups, n_samples, block_size)
        for block in range(first, stop):
            start, n_rows = block_rows(block, block_size, n_samples)
            _load_centred(X, start, n_rows, mean, xt)
            for t in range(points.shape[0]):
                squared_distances(xt, n_rows, points[t], distance)
                for b in range(n_rows):
                    distance[b] = min(closest[start + b], distance[b])
                if keep:
                    # A loop, not a slice assignment: that compiles a shape check with a formatted message.
                    kept = trial_closest[t]
                    for b in range(n_rows):
                        kept[start + b] = distance[b]
                total = 0.0
                for b in range(n_rows):
                    w = sample_weight[start + b] if weighted else 1.0
                    total += w * distance[b]
                partial[group, t] += total


@kernel()
def _add_rows(sums, counts, X, mean, nearest, sample_weight, start, n_rows):
    """Add each (weighted) centred row of a block into its cluster's sum, in row
    order (scikit-learn's Lloyd step adds rows one by one too). The rows are
    centred again from X, which the block has just read, with the arithmetic
    of :func:`_load_centred`."""
    weighted = sample_weight.shape[0] > 0
    for b in range(n_rows):
        w = sample_weight[start + b] if weighted else 1.0
        j = nearest[b]
        counts[j] += w
        target = sums[j]
        for c in range(target.shape[0]):
            target[c] += (X[start + b, c] - mean[c]) * w


@kernel()
def lloyd_assign(first_group, stop_group, X, mean, sample_weight, centers, grid, labels, sums, counts, changes):
    """Assign each row of groups ``first_group`` to ``stop_group`` to its nearest centre and add the
    weighted sums per centre.

    Distances are ||c||^2 - 2 x.c (the row's own norm does not change the
    argmin), ties to the lowest index; x.c for a block of centred rows, held
    as (features x rows), is one matrix product; the per-centre sums add the
    rows one by one.
    ``changes[g]`` counts rows of group g whose label changed.
    ``sums``/``counts`` with a leading length of 0 skip the sums.
    """
    block_size, n_groups = grid
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    accumulate = sums.shape[0] > 0
    norms = np.empty(n_clusters)
    for j in range(n_clusters):
        total = 0.0  # a sum in a loop that stores nothing (see fastem._kernels._small.fit_task)
        for c in range(n_features):
            total += centers[j, c] * centers[j, c]
        norms[j] = total
    for group in range(first_group, stop_group):
        xt = np.zeros((n_features, block_size))
        dots = np.empty((n_clusters, block_size))
        best = np.empty(block_size)
        nearest = np.empty(block_size, dtype=np.int64)
        first, stop = group_blocks(group, n_groups, n_samples, block_size)
        for block in range(first, stop):
            start, n_rows = block_rows(block, block_size, n_samples)
            _load_centred(X, start, n_rows, mean, xt)
            np.dot(centers, xt, dots)
            for b in range(n_rows):
                best[b] = np.inf
                nearest[b] = 0
            for j in range(n_clusters):
                dot = dots[j]
                for b in range(n_rows):
                    # Branch-free so that the loop vectorizes; ties keep the lower index.
                    distance = norms[j] - 2.0 * dot[b]
                    nearest[b] = j if distance < best[b] else nearest[b]
                    best[b] = min(distance, best[b])
            for b in range(n_rows):
                if labels[start + b] != nearest[b]:
                    changes[group] += 1
                    labels[start + b] = nearest[b]
            if accumulate:
                _add_rows(sums[group], counts[group], X, mean, nearest, sample_weight, start, n_rows)
