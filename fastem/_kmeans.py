"""k-means for the 'kmeans' initialization, compiled, with scikit-learn's outcome.

The algorithm is written once over row blocks (:mod:`fastem._blocks`):
an array in memory is one block, chunks and the blocks of a Dask array
are many, and each seeding step and Lloyd step is a pass over them whose
per-block results are added in block order. The random draws are the same
whatever the blocks, so a chunked or Dask fit starts where the in-memory
fit of the same rows starts (sums over several blocks round differently,
which moves a label only for a row equidistant from two centres to
rounding). The per-block state (closest squared distances while seeding,
labels) stays with its block: on the cluster for a Dask array.

scikit-learn's ``KMeans(n_clusters, n_init=1, random_state)`` is the
reference: the same k-means++ seeding (the same draws from the same random
state, greedy choice among 2 + log(k) candidates per centre), the same
Lloyd iterations on data centred by their mean, the same relocation of
empty clusters, the same stopping rule (labels unchanged, or the squared
centre shift within tol times the mean feature variance, tol = 1e-4, at
most 300 iterations) and the same final labels. Distances are computed in
float64 in a different order than scikit-learn's BLAS calls, so the labels
can differ only where a row is equidistant from two centres to rounding.

float32 data in memory go to scikit-learn's KMeans itself: there the
seeding compares float32 potentials summed by BLAS, and a one-ulp
difference in a potential moves the seeding for large n. float32 blocks
(chunks, Dask) are read as float64 here: their k-means is the float64
k-means of the same values.
"""

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning

from fastem._kernels._kmeans import (
    candidate_potentials,
    cumulative_search,
    first_weighted_index,
    lloyd_assign,
    update_closest,
)
from fastem._kernels._rules import LLOYD_GO_ON, LLOYD_LABELS_FINAL, lloyd_stop
from fastem._blocks import MAX_GROUPS, column_sums, memory_blocks, ordered_sum, readonly
from fastem._threads import run_groups, thread_limit

#: Rows per block of the k-means kernels. The Lloyd step takes a block as
#: (features x rows), so that its product with the centres has the shape
#: OpenBLAS runs fastest (centres . block rather than centres . rows^T);
#: with that layout 128-row blocks run the step faster than 256-row ones.
BLOCK_ROWS = 128
#: Memory allowed for the k-means++ candidates' closest distances (rows x trials,
#: per block): kept, the chosen candidate's need no second pass over X
#: (update_closest); beyond it they are computed again.
TRIAL_BYTES = 32 * 2**20


def _grid(n_samples):
    n_blocks = -(-n_samples // BLOCK_ROWS)
    return BLOCK_ROWS, max(1, min(n_blocks, MAX_GROUPS))


def _float64_rows(X):
    return readonly(np.ascontiguousarray(X, dtype=np.float64))


# Per-block steps (fastem._blocks): step(X, weights, start, *args), weights empty for all ones.


def _block_scatter(X, weights, start, mean):
    """Per-feature sum of squared deviations from ``mean``, without an n x d temporary."""
    total = np.zeros(X.shape[1])
    for first in range(0, X.shape[0], 1 << 16):
        total += ((X[first : first + (1 << 16)] - mean) ** 2).sum(axis=0)
    return total


def _block_rows(X, weights, start, ids, mean, labels=None):
    """(positions in ``ids`` of the rows in this block, those rows minus ``mean``,
    their weights, their labels or None)."""
    inside = np.flatnonzero((ids >= start) & (ids < start + X.shape[0]))
    local = ids[inside] - start
    rows = np.asarray(X[local], dtype=np.float64) - mean
    row_weights = weights[local] if weights.shape[0] else np.ones(local.shape[0])
    return inside, rows, row_weights, (None if labels is None else labels[local])


def _block_class_sums(X, weights, start, mean, n_clusters, labels):
    """Per class of the block's labelled rows (fastem._labels): the sums of their rows
    minus ``mean``, weighted by their prior probabilities (and weights), and those totals."""
    prior = labels.prior(n_clusters)
    labelled = np.flatnonzero(np.ptp(prior, axis=1) > 0)
    prior = prior[labelled]
    if weights.shape[0]:
        prior = prior * weights[labelled, None]
    return prior.T @ (np.asarray(X[labelled], dtype=np.float64) - mean), prior.sum(axis=0)


def _block_first_closest(X, weights, start, mean, point):
    """The rows' squared distances to the first centre, and their (weighted) sum."""
    X = _float64_rows(X)
    closest = np.full(X.shape[0], np.inf)
    grid = _grid(X.shape[0])
    run_groups(update_closest, grid[1], X, mean, point, closest, grid)
    return closest, (closest.sum() if weights.shape[0] == 0 else closest @ weights)


def _block_search(X, weights, start, mean, targets, closest):
    """Where the block's cumulative (weighted) closest distances reach each target
    (``X.shape[0]`` where they do not), and those rows minus ``mean``."""
    if weights.shape[0]:
        found = np.searchsorted(np.cumsum(weights * closest), targets)
    else:
        found = np.empty(targets.shape[0], dtype=np.int64)
        cumulative_search(closest, weights, targets, found)
    inside = found[found < X.shape[0]]
    return found, np.asarray(X[inside], dtype=np.float64) - mean


def _block_trials(X, weights, start, mean, candidates, closest):
    """Each candidate's potential over the block, and the rows' closest distances
    with each candidate (kept within TRIAL_BYTES, else none)."""
    X = _float64_rows(X)
    grid = _grid(X.shape[0])
    keep = candidates.shape[0] * X.shape[0] * 8 <= TRIAL_BYTES
    trial_closest = np.empty((candidates.shape[0] if keep else 0, X.shape[0]))
    partial = np.zeros((grid[1], candidates.shape[0]))
    run_groups(candidate_potentials, grid[1], X, mean, candidates, closest, weights, grid, partial,
               trial_closest)
    return partial.sum(axis=0), trial_closest


def _block_choose_and_search(X, weights, start, mean, best, centre, in_place, targets, closest, trial_closest):
    """The rows' closest distances once candidate ``best`` (at ``centre``) is a
    centre, and :func:`_block_search` of the next centre's targets in them."""
    if not in_place:
        closest = closest.copy()
    if trial_closest.shape[0]:
        closest[:] = trial_closest[best]
    else:
        grid = _grid(X.shape[0])
        run_groups(update_closest, grid[1], _float64_rows(X), mean, centre, closest, grid)
    return closest, _block_search(X, weights, start, mean, targets, closest)


def _block_assign(X, weights, start, mean, centers, accumulate, in_place, labels):
    """Lloyd's assignment: (labels; the clusters' weighted sums and counts, or None; labels
    changed; rows per cluster). ``labels`` None: every row starts unlabelled."""
    X = _float64_rows(X)
    grid = _grid(X.shape[0])
    if labels is None:
        labels = np.full(X.shape[0], -1, dtype=np.int64)
    elif not in_place:
        labels = labels.copy()
    n_clusters, n_features = centers.shape
    groups = grid[1] if accumulate else 0
    sums, counts = np.zeros((groups, n_clusters, n_features)), np.zeros((groups, n_clusters))
    changes = np.zeros(grid[1], dtype=np.int64)
    run_groups(lloyd_assign, grid[1], X, mean, weights, centers, grid, labels, sums, counts, changes)
    rows = np.bincount(labels, minlength=n_clusters)
    if not accumulate:
        return labels, None, None, int(changes.sum()), rows
    return labels, sums.sum(axis=0), counts.sum(axis=0), int(changes.sum()), rows


def _block_distances(X, weights, start, mean, centers, labels):
    """Each row's squared distance to the centre of its cluster."""
    distances = np.zeros(X.shape[0])
    for first in range(0, X.shape[0], 1 << 16):
        stop = first + (1 << 16)
        distances[first:stop] = ((X[first:stop] - mean - centers[labels[first:stop]]) ** 2).sum(axis=1)
    return distances


class BlockKMeans:
    """k-means over the blocks of a runner (:mod:`fastem._blocks`), as scikit-learn's
    ``KMeans(n_clusters, n_init=1)`` runs it.

    Parameters
    ----------
    blocks : LocalBlocks or DaskBlocks
    n_clusters : int
    sample_weight : ndarray of shape (n_samples,) or None
        All the rows' weights, for the first centre's draw (blocks in memory).
    """

    def __init__(self, blocks, n_clusters, sample_weight=None):
        self.blocks = blocks
        self.n_clusters = n_clusters
        self.sample_weight = sample_weight

    def _holding(self, ids):
        """The blocks that hold rows ``ids``."""
        return set((np.searchsorted(self.blocks.starts, ids, side="right") - 1).tolist())

    def rows(self, ids, mean, labels=None):
        """X[ids] - mean in float64, the rows' weights, and (given the blocks' labels) their labels."""
        per_block = None if labels is None else (lambda b, start, stop: (labels[b],))
        rows, weights = np.empty((ids.shape[0], mean.shape[0])), np.empty(ids.shape[0])
        row_labels = np.empty(ids.shape[0], dtype=np.int64)
        for found in self.blocks.run(_block_rows, ids, mean, per_block=per_block, only=self._holding(ids)):
            if found is not None:
                rows[found[0]], weights[found[0]] = found[1], found[2]
                if labels is not None:
                    row_labels[found[0]] = found[3]
        return rows, weights, row_labels

    def centre(self):
        """The rows' mean, and the mean over features of their variances."""
        blocks = self.blocks
        n_samples = blocks.n_samples
        mean = ordered_sum(blocks.run(column_sums)) / n_samples
        scatter = ordered_sum(blocks.run(_block_scatter, mean))
        return mean, float(np.mean(scatter / n_samples))

    def _targets(self, targets, totals):
        """Each target's block (where the running sum of the blocks' totals reaches it)
        and its value within that block, for np.searchsorted(np.cumsum(every row's
        closest distance), targets) searched block by block."""
        where = np.full(targets.shape[0], self.blocks.n_blocks - 1)
        offsets = np.zeros(targets.shape[0])
        running, open_ = 0.0, np.ones(targets.shape[0], dtype=bool)
        for index, total in enumerate(totals[:-1]):
            reached = open_ & (targets < running + total)
            where[reached], offsets[reached] = index, running
            open_ &= ~reached
            running += total
        offsets[open_] = running
        # One block: offsets of 0.0, and x - 0.0 is x.
        return where, targets - offsets

    def _candidates(self, found, where, mean):
        """Global rows and their centred coordinates from the blocks' searches."""
        starts, n_samples = self.blocks.starts, self.blocks.n_samples
        ids = np.empty(where.shape[0], dtype=np.int64)
        rows = np.empty((where.shape[0], mean.shape[0]))
        fetched = np.zeros(where.shape[0], dtype=bool)
        for index in set(where.tolist()):
            local, block_rows = found[index]
            mine = np.flatnonzero(where == index)
            ids[mine] = starts[index] + local
            inside = local < starts[index + 1] - starts[index]
            rows[mine[inside]] = block_rows
            fetched[mine[inside]] = True
        # A target past its block's sum by rounding: the next row, wherever it is.
        np.clip(ids, None, n_samples - 1, out=ids)
        if not fetched.all():
            rows[~fetched] = self.rows(ids[~fetched], mean)[0]
        return ids, np.ascontiguousarray(rows)

    def seed(self, mean, random_state):
        """Greedy k-means++ seeding: (centres, less ``mean``; the rows chosen).

        Two passes per centre: the candidates' potentials (keeping each block's
        distances with each candidate), then the chosen candidate's distances
        kept, with the search for the next centre's candidates in them."""
        blocks, n_clusters = self.blocks, self.n_clusters
        n_samples = blocks.n_samples
        n_local_trials = 2 + int(np.log(n_clusters))
        centers = np.empty((n_clusters, mean.shape[0]))
        chosen = np.empty(n_clusters, dtype=np.int64)
        if self.sample_weight is None:
            # RandomState.choice(n, p=ones / n): one uniform draw, searched in the
            # normalized cumulative sum of p.
            chosen[0] = first_weighted_index(n_samples, random_state.random_sample())
        else:
            chosen[0] = random_state.choice(n_samples, p=self.sample_weight / self.sample_weight.sum())
        centers[0] = self.rows(chosen[:1], mean)[0][0]
        first = blocks.map(_block_first_closest, mean, centers[0])
        closest, totals = blocks.part(first, 0), blocks.gather(first, 1)
        current_pot = ordered_sum(totals)
        best = trial_closest = None
        for c in range(1, n_clusters):
            rand_vals = random_state.uniform(size=n_local_trials) * current_pot
            where, local = self._targets(rand_vals, totals)
            targets = lambda b: local[where == b]  # noqa: E731
            if best is None:
                found = blocks.run(_block_search, mean, only=set(where.tolist()),
                                   per_block=lambda b, start, stop: (targets(b), closest[b]))
            else:
                chose = blocks.map(_block_choose_and_search, mean, best, centers[c - 1], blocks.mutable_state,
                                   per_block=lambda b, start, stop: (targets(b), closest[b], trial_closest[b]))
                closest, found = blocks.part(chose, 0), blocks.gather(chose, 1)
            candidate_ids, candidates = self._candidates(found, where, mean)
            trials = blocks.map(_block_trials, mean, candidates, per_block=lambda b, start, stop: (closest[b],))
            block_potentials = blocks.gather(trials, 0)
            potentials = ordered_sum(block_potentials)
            best = int(np.argmin(potentials))
            current_pot = potentials[best]
            centers[c], chosen[c] = candidates[best], candidate_ids[best]
            totals = [part[best] for part in block_potentials]
            trial_closest = blocks.part(trials, 1)
        return centers, chosen

    def relocate_empty_clusters(self, mean, old_centers, sums, counts, labels):
        """Move each empty cluster to one of the rows farthest from their centre."""
        empty = np.flatnonzero(counts == 0)
        if empty.shape[0] == 0:
            return
        blocks = self.blocks
        per_block = lambda b, start, stop: (labels[b],)  # noqa: E731
        distances = np.concatenate(blocks.run(_block_distances, mean, old_centers, per_block=per_block))
        far = _farthest(distances, empty.shape[0])
        if far is None:
            return
        rows, weights, old_ids = self.rows(far, mean, labels)
        _move_to_rows(empty, rows, None if self.sample_weight is None else weights, old_ids, sums, counts)

    def lloyd(self, mean, centers, threshold, max_iter):
        """Lloyd's iterations from ``centers``: the labels, one array per block (kept with its block)."""
        blocks, n_clusters = self.blocks, self.n_clusters
        labels = [None] * blocks.n_blocks
        in_place = blocks.mutable_state
        strict = False
        for _ in range(max_iter):
            assigned = blocks.map(_block_assign, mean, centers, True, in_place,
                                  per_block=lambda b, start, stop: (labels[b],))
            labels = blocks.part(assigned, 0)
            parts = blocks.gather(assigned, slice(1, None))
            sums = ordered_sum([p[0] for p in parts])
            counts = ordered_sum([p[1] for p in parts])
            changes = sum(p[2] for p in parts)
            rows = ordered_sum([p[3] for p in parts])
            self.relocate_empty_clusters(mean, centers, sums, counts, labels)
            # A cluster still empty (every row a duplicate) goes to the origin
            # of the centred data, as in scikit-learn.
            new_centers = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
            shift = float(((new_centers - centers) ** 2).sum())
            centers = new_centers
            stop = lloyd_stop(changes, shift, threshold)
            if stop != LLOYD_GO_ON:
                strict = stop == LLOYD_LABELS_FINAL
                break
        if not strict:
            assigned = blocks.map(_block_assign, mean, centers, False, in_place,
                                  per_block=lambda b, start, stop: (labels[b],))
            labels = blocks.part(assigned, 0)
            rows = ordered_sum([p[3] for p in blocks.gather(assigned, slice(1, None))])
        warn_few_clusters(int(np.count_nonzero(rows)), n_clusters)
        return labels

    def labelled_centers(self, mean, centers, labels):
        """Seeded k-means (Basu, Banerjee and Mooney 2002): the centre of each class that
        has labelled rows becomes their mean, less ``mean``; the seeding's centres
        farthest from those means (an assignment) remain for the classes without any.
        ``labels``: each block's RowLabels."""
        parts = self.blocks.run(_block_class_sums, mean, self.n_clusters, per_block=lambda b, start, stop: (labels[b],))
        sums = ordered_sum([p[0] for p in parts])
        counts = ordered_sum([p[1] for p in parts])
        known = counts > 0
        class_means = sums[known] / counts[known, None]
        distances = ((class_means[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        taken = linear_sum_assignment(distances)[1]
        seeded = np.empty_like(centers)
        seeded[known] = class_means
        seeded[~known] = np.delete(centers, taken, axis=0)
        return seeded

    def fit(self, random_state, max_iter=300, tol=1e-4, labels=None):
        """Seeding and Lloyd's iterations: the labels, one array per block. With ``labels``
        (each block's RowLabels, fastem._labels), the seeding's draws are taken, then the
        labelled classes' means replace centres (:meth:`labelled_centers`)."""
        mean, variance = self.centre()
        centers, _ = self.seed(mean, random_state)
        if labels is not None:
            centers = self.labelled_centers(mean, centers, labels)
        return self.lloyd(mean, centers, variance * tol if tol > 0 else 0.0, max_iter)


def _farthest(distances, n_far):
    """The ``n_far`` rows farthest from their centres, in scikit-learn's order (None if every distance is 0)."""
    if distances.max() == 0:
        return None
    return np.argpartition(distances, -n_far)[: -n_far - 1 : -1]


def _move_to_rows(empty, rows, weights, old_ids, sums, counts):
    """Clusters ``empty`` take the centred ``rows`` (with their ``weights``) from their clusters ``old_ids``."""
    for index, new_id in enumerate(empty):
        w = 1.0 if weights is None else weights[index]
        point = rows[index] * w
        old_id = old_ids[index]
        sums[old_id] -= point
        sums[new_id] = point
        counts[new_id] = w
        counts[old_id] -= w


def kmeans_labels(X, n_clusters, random_state, sample_weight=None, n_threads=None, max_iter=300, tol=1e-4,
                  labels=None):
    """Labels of k-means on X, as scikit-learn's KMeans(n_clusters, n_init=1) gives them
    (seeded by the labelled rows' classes where ``labels`` is given).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous
    n_clusters : int
    random_state : numpy.random.RandomState
        Advanced exactly as scikit-learn's KMeans advances it.
    sample_weight : ndarray of shape (n_samples,) or None
    n_threads : int or None
    labels : RowLabels or None
        Known components of some rows (fastem._labels): see :meth:`BlockKMeans.labelled_centers`.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    """
    if X.dtype != np.float64 and labels is None:
        from sklearn.cluster import KMeans  # imported here: sklearn.cluster adds ~0.16 s to importing fastem

        model = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
        return model.fit(X, sample_weight=sample_weight).labels_.astype(np.int64)
    with thread_limit(n_threads):
        blocks = memory_blocks(_float64_rows(X), sample_weight)
        kmeans = BlockKMeans(blocks, n_clusters, sample_weight)
        return kmeans.fit(random_state, max_iter, tol, None if labels is None else [labels])[0]


def kmeans_plusplus_rows(X, n_clusters, random_state, sample_weight=None, n_threads=None):
    """The rows scikit-learn's ``kmeans_plusplus(X, n_clusters)`` chooses, for float64 X in memory."""
    if X.dtype != np.float64:
        from sklearn.cluster import kmeans_plusplus  # imported here, as above

        return kmeans_plusplus(X, n_clusters, random_state=random_state, sample_weight=sample_weight)[1]
    with thread_limit(n_threads):
        kmeans = BlockKMeans(memory_blocks(readonly(X), sample_weight), n_clusters, sample_weight)
        return kmeans.seed(kmeans.centre()[0], random_state)[1]


def warn_few_clusters(distinct, n_clusters):
    """scikit-learn's KMeans warning when fewer distinct clusters than asked were found."""
    if distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({n_clusters}). "
            "Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=4,
        )
