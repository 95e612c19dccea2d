"""Whole fits of small problems in compiled code: k-means initialization, the
EM loop, the M-step and the convergence test, one problem per thread.

For a problem of a few thousand rows one pass over the data takes
microseconds, and the Python around it (parameter updates, kernel inputs,
the loop) takes a hundred times longer. Here everything of a maximum-
likelihood fit with the 'kmeans' initialization runs in one call, serially
per (problem, restart) task; the caller runs ranges of tasks on several
threads. So ``fit_many`` runs thousands of problems at once and ``n_init``
restarts of one small problem run side by side, each with exactly the
result it has alone. Sample weights are always given (ones for an
unweighted problem; multiplying by one changes no bit).

The arithmetic follows the Python path's (:mod:`fastem.gaussian`,
:mod:`fastem._kmeans`) step for step, with sums taken in row order instead
of NumPy's pairwise order: the two agree to rounding, not bitwise. Whether
a fit runs here depends only on its settings and shapes, so a problem gets
the same bits from ``fit`` and from ``fit_many``.

No BLAS: every product is a loop whose inner index runs over the contiguous
row axis of a block.

Covariance types are numbered as in :mod:`fastem._kernels._update`.
Per task the outputs are the parameters (covariances and precision Cholesky
factors as (k, d, d) for full and tied, on row 0 of each (d, d) slot for
diag and spherical), the bounds of every iteration, and ``info`` =
(status, n_iter, converged, distinct k-means clusters).
"""

import numpy as np

from fastem._kernels._features import DIAG, FULL, features
from fastem._kernels._jit import kernel
from fastem._kernels._kmeans import squared_distances
from fastem._kernels._pass import all_below_inf, fallback_rows, normalize
from fastem._kernels._rules import LLOYD_GO_ON, LLOYD_LABELS_FINAL, converged, lloyd_stop
from fastem._kernels._update import (
    EPS64,
    ILL_DEFINED,
    OK,
    TIED_COV,
    kernel_inputs,
    m_step,
)

NOT_FINITE = 2

#: Up to this many clusters k-means sums its clusters by masked passes over all rows (k passes of
#: vector adds), above it by adding each row into its cluster (one pass of dependent scalar adds).
MASKED_SUMS_MAX_CLUSTERS = 16


# ----------------------------------------------------------------- k-means


@kernel()
def kmeans_seed(xt, weight, draws, centers, closest, scratch):
    """Greedy k-means++ on the centred, transposed rows ``xt`` (d x n) of weights ``weight``, from pre-drawn uniforms.

    ``draws`` holds the 1 + (k - 1) (2 + int(log k)) uniforms scikit-learn's
    seeding takes from its random state, in order. Unit weights give the
    unweighted seeding bit for bit (scikit-learn weighs by ones too).
    """
    n_clusters, n_features = centers.shape
    n_samples = xt.shape[1]
    n_trials = 2 + int(np.log(n_clusters))
    # RandomState.choice(n, p=w / sum(w)): the first i whose normalized cumulative probability exceeds the draw.
    total = 0.0
    for b in range(n_samples):
        total += weight[b]
    cumulative = 0.0
    for b in range(n_samples):
        cumulative += weight[b] / total
        scratch[b] = cumulative
    chosen = n_samples - 1
    for b in range(n_samples):
        if scratch[b] / cumulative > draws[0]:
            chosen = b
            break
    for c in range(n_features):
        centers[0, c] = xt[c, chosen]
    squared_distances(xt, n_samples, centers[0], closest)
    potential = 0.0
    for b in range(n_samples):
        potential += weight[b] * closest[b]
    targets = np.empty(n_trials)
    candidate = np.empty(n_features)
    for center in range(1, n_clusters):
        for t in range(n_trials):
            targets[t] = draws[1 + (center - 1) * n_trials + t] * potential
        # np.searchsorted(np.cumsum(weight * closest), targets), the sums in the same order.
        cumulative = 0.0
        for b in range(n_samples):
            cumulative += weight[b] * closest[b]
            scratch[b] = cumulative
        ids = np.searchsorted(scratch, targets)
        best_potential = np.inf
        best = 0
        for t in range(n_trials):
            column = min(ids[t], n_samples - 1)
            for c in range(n_features):
                candidate[c] = xt[c, column]
            squared_distances(xt, n_samples, candidate, scratch)
            total = 0.0
            for b in range(n_samples):
                total += weight[b] * min(closest[b], scratch[b])
            if total < best_potential:
                best_potential = total
                best = column
        potential = best_potential
        for c in range(n_features):
            centers[center, c] = xt[c, best]
        squared_distances(xt, n_samples, centers[center], scratch)
        for b in range(n_samples):
            closest[b] = min(closest[b], scratch[b])


@kernel()
def _assign(xt, weight, centers, labels, sums, counts, dot, best, nearest):
    """Nearest centre of every row (ties to the lower index); returns how many labels changed.

    ``sums``/``counts`` get the per-centre weighted sums of the rows when ``counts`` is not empty.
    """
    n_clusters, n_features = centers.shape
    n_samples = xt.shape[1]
    for b in range(n_samples):
        best[b] = np.inf
        nearest[b] = 0
    for j in range(n_clusters):
        norm = 0.0
        for c in range(n_features):
            norm += centers[j, c] * centers[j, c]
        for b in range(n_samples):
            dot[b] = 0.0
        for c in range(n_features):
            row = xt[c]
            value = centers[j, c]
            for b in range(n_samples):
                dot[b] += row[b] * value
        for b in range(n_samples):
            # Branch-free so that the loop vectorizes.
            distance = norm - 2.0 * dot[b]
            nearest[b] = j if distance < best[b] else nearest[b]
            best[b] = min(distance, best[b])
    changes = 0
    for b in range(n_samples):
        changes += labels[b] != nearest[b]
        labels[b] = nearest[b]
    if counts.shape[0] == 0:
        return changes
    if n_clusters <= MASKED_SUMS_MAX_CLUSTERS:
        # Per cluster, sums over all rows masked by the label: vectorizes,
        # where adding each row into its cluster's sum waits on the last add.
        for j in range(n_clusters):
            count = 0.0
            for b in range(n_samples):
                count += weight[b] if nearest[b] == j else 0.0
            counts[j] = count
            for c in range(n_features):
                row = xt[c]
                total = 0.0
                for b in range(n_samples):
                    total += row[b] * weight[b] if nearest[b] == j else 0.0
                sums[j, c] = total
    else:
        sums[:, :] = 0.0
        counts[:] = 0.0
        for b in range(n_samples):
            counts[nearest[b]] += weight[b]
        for c in range(n_features):
            row = xt[c]
            for b in range(n_samples):
                sums[nearest[b], c] += row[b] * weight[b]
    return changes


@kernel()
def _relocate_empty(xt, weight, centers, labels, sums, counts, distances):
    """Move each empty cluster onto one of the rows farthest from their centres
    (the farthest first; scikit-learn takes the same rows, possibly paired
    with the empty clusters in another order when several are empty at once)."""
    n_clusters, n_features = centers.shape
    n_samples = xt.shape[1]
    n_empty = 0
    for j in range(n_clusters):
        if counts[j] == 0.0:
            n_empty += 1
    if n_empty == 0:
        return
    largest = 0.0
    for b in range(n_samples):
        total = 0.0
        for c in range(n_features):
            diff = xt[c, b] - centers[labels[b], c]
            total += diff * diff
        distances[b] = total
        largest = max(largest, total)
    if largest == 0.0:
        return
    for new_id in range(n_clusters):
        if counts[new_id] != 0.0:
            continue
        row = 0
        for b in range(n_samples):
            if distances[b] > distances[row]:
                row = b
        distances[row] = -1.0
        old_id = labels[row]
        w = weight[row]
        for c in range(n_features):
            point = xt[c, row] * w
            sums[old_id, c] -= point
            sums[new_id, c] = point
        counts[new_id] = w
        counts[old_id] -= w


@kernel()
def kmeans_labels(X, first, n_samples, mean, weight, n_clusters, draws, labels, max_iter, tol):
    """scikit-learn's KMeans(n_init=1) labels of rows first:first+n_samples (weights ``weight``); returns distinct clusters.

    Seeding from ``draws``, Lloyd iterations on the centred rows until no
    label changes or the squared centre shift is within ``tol`` times the
    mean feature variance, empty clusters relocated, a final assignment when
    the loop did not stop on unchanged labels.
    """
    n_features = X.shape[1]
    xt = np.empty((n_features, n_samples))
    for b in range(n_samples):
        for c in range(n_features):
            xt[c, b] = X[first + b, c] - mean[c]
    variance = 0.0
    for c in range(n_features):
        row = xt[c]
        column = 0.0
        for b in range(n_samples):
            column += row[b] * row[b]
        variance += column / n_samples
    threshold = variance / n_features * tol
    centers = np.empty((n_clusters, n_features))
    closest = np.empty(n_samples)
    scratch = np.empty(n_samples)
    nearest = np.empty(n_samples, dtype=np.int64)
    kmeans_seed(xt, weight, draws, centers, closest, scratch)
    sums = np.empty((n_clusters, n_features))
    counts = np.empty(n_clusters)
    no_counts = np.empty(0)
    labels[:] = -1
    strict = False
    for _ in range(max_iter):
        changes = _assign(xt, weight, centers, labels, sums, counts, closest, scratch, nearest)
        _relocate_empty(xt, weight, centers, labels, sums, counts, closest)
        shift = 0.0
        for j in range(n_clusters):
            for c in range(n_features):
                new = sums[j, c] / counts[j] if counts[j] > 0.0 else 0.0
                shift += (new - centers[j, c]) ** 2
        for j in range(n_clusters):
            for c in range(n_features):
                centers[j, c] = sums[j, c] / counts[j] if counts[j] > 0.0 else 0.0
        stop = lloyd_stop(changes, shift, threshold)
        if stop != LLOYD_GO_ON:
            strict = stop == LLOYD_LABELS_FINAL
            break
    if not strict:
        _assign(xt, weight, centers, labels, sums, no_counts, closest, scratch, nearest)
    seen = np.zeros(n_clusters, dtype=np.bool_)
    distinct = 0
    for b in range(n_samples):
        if not seen[labels[b]]:
            seen[labels[b]] = True
            distinct += 1
    return distinct


# ---------------------------------------------------------------------- EM


@kernel()
def e_step(X, first, n_samples, weight, params, labels, block, sums, phi, resp, work, label, bits, xt, dev, row, out):
    """Weighted statistics T . (w r)^T (about params' reference) of rows first:first+n_samples;
    returns the weighted log-likelihood (rows of weight zero left out).

    With ``labels`` not empty the responsibilities are their one-hot rows
    (the initialization) and the log-likelihood is 0. ``work`` holds two
    scratch rows (log-normalizers, totals).
    """
    family, ref, theta = params[0], params[1], params[2]
    n_stat, n_components = sums.shape
    given = labels.shape[0] > 0
    log_norm = work[0]
    total = work[1]
    scales = bits.view(np.float64)
    sums[:, :] = 0.0
    log_likelihood = 0.0
    for start in range(0, n_samples, block):
        n_rows = min(block, n_samples - start)
        features(family, X, first + start, n_rows, ref, phi)
        if given:
            for j in range(n_components):
                target = resp[j]
                for b in range(n_rows):
                    target[b] = 1.0 if labels[start + b] == j else 0.0
        else:
            for j in range(n_components):
                target = resp[j]
                constant = theta[j, 0]
                for b in range(n_rows):
                    target[b] = constant
                for f in range(1, n_stat):
                    coefficient = theta[j, f]
                    source = phi[f]
                    for b in range(n_rows):
                        target[b] += coefficient * source[b]
            if not all_below_inf(resp, n_rows):
                fallback_rows(X, first + start, n_rows, params, resp, xt, dev, row, out, -np.inf)
            normalize(resp, n_rows, log_norm, label, total, bits, scales)
            for b in range(n_rows):
                w = weight[start + b]
                log_likelihood += w * log_norm[b] if w != 0.0 else 0.0
        for j in range(n_components):
            target = resp[j]
            for b in range(n_rows):
                target[b] *= weight[start + b]
        for f in range(n_stat):
            source = phi[f]
            for j in range(n_components):
                r = resp[j]
                acc = 0.0
                for b in range(n_rows):
                    acc += source[b] * r[b]
                sums[f, j] += acc
    return log_likelihood


@kernel(inline="always")
def fit_task(X, sample_weight, first, n_samples, covariance_type, draws, reg_covar, tol, max_iter, block,
             weights, means, cov, chol, bounds, info):
    """One restart of one problem (rows first:first+n_samples of X, their weights in
    ``sample_weight``): k-means labels, the initial M-step, EM to convergence.

    ``info`` gets (status, n_iter, converged, distinct k-means clusters).
    """
    n_components = weights.shape[0]
    d = X.shape[1]
    family = FULL if covariance_type <= TIED_COV else DIAG
    n_stat = 1 + d + d * (d + 1) // 2 if family == FULL else 1 + 2 * d
    info[:] = 0
    for i in range(n_samples):
        for c in range(d):
            if not np.isfinite(X[first + i, c]):
                info[0] = NOT_FINITE
                return
    weight = np.empty(n_samples)
    for i in range(n_samples):
        weight[i] = sample_weight[first + i]
    # Determinism: every sum into a scalar runs in a loop that stores
    # nothing. Summed in the copying loop above, the total weight varied in
    # its last bits with where the arrays sat (about one call in three);
    # most likely LLVM guards such a vectorized loop with a run-time overlap
    # check whose scalar fallback adds in another order.
    total_weight = 0.0
    for i in range(n_samples):
        total_weight += weight[i]
    mean = np.zeros(d)
    for i in range(n_samples):
        for c in range(d):
            mean[c] += X[first + i, c]
    for c in range(d):
        mean[c] /= n_samples
    labels = np.empty(n_samples, dtype=np.int64)
    info[3] = kmeans_labels(X, first, n_samples, mean, weight, n_components, draws, labels, 300, 1e-4)

    size = min(block, n_samples)
    sums = np.empty((n_stat, n_components))
    phi = np.empty((n_stat, size))
    resp = np.empty((n_components, size))
    work = np.empty((2, size))
    label = np.empty(size, dtype=np.int64)
    bits = np.empty(size, dtype=np.int64)
    xt = np.empty((d, 1))
    dev = np.empty((d, 1))
    row = np.empty(1)
    out = np.empty(1)
    scatter = np.empty((d, d))
    lower = np.zeros((d, d))
    ref = np.empty(d)
    theta = np.zeros((n_components, n_stat))
    chol3 = np.empty((n_components, d, d)) if family == FULL else np.empty((n_components, 1, d))
    log_const = np.empty(n_components)

    params = (family, mean, theta, means, chol3, log_const)
    e_step(X, first, n_samples, weight, params, labels, block, sums, phi, resp, work, label, bits, xt, dev, row, out)
    pad = 10.0 * EPS64
    if m_step(sums, mean, covariance_type, reg_covar, pad, total_weight, weights, means, cov, chol, scatter, lower) != OK:
        info[0] = ILL_DEFINED
        return
    no_labels = np.empty(0, dtype=np.int64)
    params = (family, ref, theta, means, chol3, log_const)
    lower_bound = -np.inf
    for iteration in range(1, max_iter + 1):
        info[1] = iteration
        kernel_inputs(covariance_type, weights, means, chol, ref, theta, chol3, log_const)
        log_likelihood = e_step(X, first, n_samples, weight, params, no_labels, block, sums, phi, resp, work, label,
                                bits, xt, dev, row, out)
        if m_step(sums, ref, covariance_type, reg_covar, pad, -1.0, weights, means, cov, chol, scatter, lower) != OK:
            info[0] = ILL_DEFINED
            return
        previous = lower_bound
        lower_bound = log_likelihood / total_weight
        bounds[iteration - 1] = lower_bound
        if converged(previous, lower_bound, tol):
            info[2] = 1
            return


@kernel()
def fit_tasks(X, sample_weight, offsets, covariance_type, draws, reg_covar, tol, max_iter, block, weights, means, cov,
              chol, bounds, info, first_task, stop_task):
    """(problem, restart) tasks first_task:stop_task, in order; problem p is rows offsets[p]:offsets[p+1]
    of X, with those entries of ``sample_weight`` as weights (ones for an unweighted problem: a weight of
    one changes no bit).

    Shapes: draws (P, R, n_draws), weights (P, R, k), means (P, R, k, d),
    cov and chol (P, R, k, d, d), bounds (P, R, max_iter), info (P, R, 4).
    Tasks share nothing: the caller runs ranges of them on several threads
    (the function releases the GIL), and the result does not depend on how.
    A ``prange`` here would compile the whole fit a second time into the
    parallel loop's body, doubling its cold compile.
    """
    n_restarts = info.shape[1]
    for task in range(first_task, stop_task):
        p = task // n_restarts
        r = task % n_restarts
        first = offsets[p]
        fit_task(X, sample_weight, first, offsets[p + 1] - first, covariance_type, draws[p, r], reg_covar, tol,
                 max_iter, block, weights[p, r], means[p, r], cov[p, r], chol[p, r], bounds[p, r], info[p, r])
