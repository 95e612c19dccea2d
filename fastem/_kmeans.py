"""k-means for the 'kmeans' initialization, compiled, with scikit-learn's outcome.

scikit-learn's ``KMeans(n_clusters, n_init=1, random_state)`` is the
reference: the same k-means++ seeding (the same draws from the same random
state, greedy choice among 2 + log(k) candidates per centre), the same
Lloyd iterations on data centred by their mean, the same relocation of
empty clusters, the same stopping rule (labels unchanged, or the squared
centre shift within tol times the mean feature variance, tol = 1e-4, at
most 300 iterations) and the same final labels. Distances are computed in
float64 in a different order than scikit-learn's BLAS calls, so the labels
can differ only where a row is equidistant from two centres to rounding.

float32 data go to scikit-learn's KMeans itself: there the seeding compares
float32 potentials summed by BLAS, and a one-ulp difference in a potential
moves the seeding for large n.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastem._kernels._kmeans import (
    candidate_potentials,
    cumulative_search,
    first_weighted_index,
    lloyd_assign,
    update_closest,
)
from fastem._source import MAX_GROUPS, readonly
from fastem._threads import pass_guard, thread_limit

#: Rows per block of the k-means kernels. The Lloyd step takes a block as
#: (features x rows), so that its product with the centres has the shape
#: OpenBLAS runs fastest (centres . block: 0.95 ms per 10^5 rows of 16
#: features, k=16, one core, against 1.74 ms for centres . rows^T). At
#: 100,000 x 16, k=16 the step took 1.39 ms with blocks of 128 rows and
#: 1.69 ms with 256 (1.6-1.8 ms before, rows x features blocks of 256).
BLOCK_ROWS = 128
#: Memory allowed for the k-means++ candidates' closest distances (n x trials):
#: kept, the chosen candidate's need no second pass over X (update_closest,
#: ~0.8 ms per centre at 100,000 x 16); beyond it they are computed again.
TRIAL_BYTES = 32 * 2**20


def _grid(n_samples):
    n_blocks = -(-n_samples // BLOCK_ROWS)
    return BLOCK_ROWS, max(1, min(n_blocks, MAX_GROUPS))


def _mean_variance(X, mean):
    """Mean over features of the column variances, without an n x d temporary."""
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], 1 << 16):
        total += ((X[start : start + (1 << 16)] - mean) ** 2).sum(axis=0)
    return float(np.mean(total / X.shape[0]))


def _kmeans_plusplus(X, mean, n_clusters, random_state, sample_weight, grid):
    """Greedy k-means++ seeding; returns the centres (centred coordinates, float64).

    Without sample weights the cumulative sums scikit-learn takes with
    ``np.cumsum`` and ``np.searchsorted`` are scanned in compiled code
    instead, in the same order (so with the same rounding), which keeps
    memory to the one n-sized array of closest squared distances.
    """
    n_samples, n_features = X.shape
    n_local_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, n_features))
    if sample_weight is None:
        no_weights = np.empty(0)
        # RandomState.choice(n, p=ones / n): one uniform draw, searched in the
        # normalized cumulative sum of p.
        first = first_weighted_index(n_samples, random_state.random_sample())
    else:
        weights = sample_weight.astype(X.dtype)
        first = random_state.choice(n_samples, p=weights / weights.sum())
    centers[0] = X[first] - mean
    closest = np.full(n_samples, np.inf)
    update_closest(X, mean, centers[0], closest, grid)
    # The candidates' closest distances are kept when small enough, so that
    # the chosen one's need not be computed again from X.
    keep = n_local_trials * n_samples * 8 <= TRIAL_BYTES
    trial_closest = np.empty((n_local_trials if keep else 0, n_samples))
    current_pot = closest.sum() if sample_weight is None else closest @ weights
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        if sample_weight is None:
            candidate_ids = np.empty(n_local_trials, dtype=np.int64)
            cumulative_search(closest, no_weights, rand_vals, candidate_ids)
        else:
            candidate_ids = np.searchsorted(np.cumsum(weights * closest), rand_vals)
        np.clip(candidate_ids, None, n_samples - 1, out=candidate_ids)
        candidates = np.ascontiguousarray(X[candidate_ids] - mean, dtype=np.float64)
        partial = np.zeros((grid[1], n_local_trials))
        candidate_potentials(X, mean, candidates, closest, no_weights if sample_weight is None else sample_weight,
                             grid, partial, trial_closest)
        potentials = partial.sum(axis=0)
        best = int(np.argmin(potentials))
        current_pot = potentials[best]
        centers[c] = candidates[best]
        if keep:
            closest[:] = trial_closest[best]
        else:
            update_closest(X, mean, centers[c], closest, grid)
    return centers


def _relocate_empty_clusters(X, mean, weights, old_centers, sums, counts, labels):
    """Move each empty cluster to one of the rows farthest from their centre."""
    empty = np.flatnonzero(counts == 0)
    if empty.shape[0] == 0:
        return
    distances = np.zeros(X.shape[0])
    for start in range(0, X.shape[0], 1 << 16):
        stop = start + (1 << 16)
        distances[start:stop] = ((X[start:stop] - mean - old_centers[labels[start:stop]]) ** 2).sum(axis=1)
    if distances.max() == 0:
        return
    far = np.argpartition(distances, -empty.shape[0])[: -empty.shape[0] - 1 : -1]
    for new_id, row in zip(empty, far):
        w = 1.0 if weights is None else weights[row]
        point = (X[row] - mean) * w
        old_id = labels[row]
        sums[old_id] -= point
        sums[new_id] = point
        counts[new_id] = w
        counts[old_id] -= w


def kmeans_labels(X, n_clusters, random_state, sample_weight=None, n_threads=None, max_iter=300, tol=1e-4):
    """Labels of k-means on X, as scikit-learn's KMeans(n_clusters, n_init=1) gives them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous
    n_clusters : int
    random_state : numpy.random.RandomState
        Advanced exactly as scikit-learn's KMeans advances it.
    sample_weight : ndarray of shape (n_samples,) or None
    n_threads : int or None

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    """
    if X.dtype != np.float64:
        from sklearn.cluster import KMeans  # imported here: sklearn.cluster adds ~0.16 s to importing fastem

        model = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
        return model.fit(X, sample_weight=sample_weight).labels_.astype(np.int64)

    n_samples, n_features = X.shape
    X = readonly(X)
    mean = X.mean(axis=0)
    threshold = _mean_variance(X, mean) * tol if tol > 0 else 0.0
    grid = _grid(n_samples)
    kernel_weights = np.empty(0) if sample_weight is None else sample_weight
    with thread_limit(n_threads), pass_guard():
        centers = _kmeans_plusplus(X, mean, n_clusters, random_state, sample_weight, grid)
        labels = np.full(n_samples, -1, dtype=np.int64)
        strict = False
        for _ in range(max_iter):
            sums = np.zeros((grid[1], n_clusters, n_features))
            counts = np.zeros((grid[1], n_clusters))
            changes = np.zeros(grid[1], dtype=np.int64)
            lloyd_assign(X, mean, kernel_weights, centers, grid, labels, sums, counts, changes)
            sums, counts = sums.sum(axis=0), counts.sum(axis=0)
            _relocate_empty_clusters(X, mean, sample_weight, centers, sums, counts, labels)
            # A cluster still empty (every row a duplicate) goes to the origin
            # of the centred data, as in scikit-learn.
            new_centers = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
            shift = float(((new_centers - centers) ** 2).sum())
            centers = new_centers
            if changes.sum() == 0:
                strict = True
                break
            if shift <= threshold:
                break
        if not strict:
            changes = np.zeros(grid[1], dtype=np.int64)
            empty = np.empty((0, n_clusters, n_features))
            lloyd_assign(X, mean, kernel_weights, centers, grid, labels, empty, empty[:, :, 0], changes)
    warn_few_clusters(int(np.count_nonzero(np.bincount(labels, minlength=n_clusters))), n_clusters)
    return labels


def warn_few_clusters(distinct, n_clusters):
    """scikit-learn's KMeans warning when fewer distinct clusters than asked were found."""
    if distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({n_clusters}). "
            "Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=4,
        )
