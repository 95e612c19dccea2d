"""The merges of mclust's hierarchical start (fastem._hc), compiled.

A merge of groups i and j costs the criterion of their union less theirs
(fastem._hc's module docstring gives the criterion). The cost of every pair
i < j is held in an n x n array, with each row's minimum and the largest j
reaching it; a merge recomputes the merged group's costs against every other
group (k d^3 work for the determinants) and rescans the rows whose minimum
was one of the two merged groups. At 2,000 rows (mclust's sample size) the
array takes 32 MB.
"""

import math

import numpy as np

from fastem._kernels._jit import kernel

#: Costs within this relative distance of the lowest count as tied with it.
TIE = 1e-12


@kernel(inline="always")
def _determinant(work):
    """det of the square matrix ``work`` by Gaussian elimination with partial pivoting
    (``work`` is overwritten)."""
    d = work.shape[0]
    det = 1.0
    for c in range(d):
        pivot = c
        largest = abs(work[c, c])
        for r in range(c + 1, d):
            if abs(work[r, c]) > largest:
                largest = abs(work[r, c])
                pivot = r
        if largest == 0.0:
            return 0.0
        if pivot != c:
            for x in range(d):
                work[c, x], work[pivot, x] = work[pivot, x], work[c, x]
            det = -det
        det *= work[c, c]
        for r in range(c + 1, d):
            factor = work[r, c] / work[c, c]
            for x in range(c + 1, d):
                work[r, x] -= factor * work[c, x]
    return det


@kernel()
def _score(size, trace, work, omega, beta):
    """The criterion of a group of ``size`` rows whose scatter has trace ``trace``;
    ``work`` holds the scatter (overwritten) where the determinant counts: the scatter
    of d rows or fewer has rank below d, so its determinant is 0, not rounding."""
    d = work.shape[0]
    if size <= d and d > 1:
        return size * math.log((trace + omega) / size)
    return size * math.log((trace + omega) / size + _determinant(work) / (beta * size * size))


@kernel()
def _change(i, j, count, mean, scatter, own, omega, beta, work):
    """The cost of merging groups i and j."""
    d = mean.shape[1]
    size = count[i] + count[j]
    weight = count[i] * count[j] / size
    trace = 0.0
    for a in range(d):
        delta_a = mean[j, a] - mean[i, a]
        trace += scatter[i, a, a] + scatter[j, a, a] + weight * delta_a * delta_a
    if size > d or d == 1:
        for a in range(d):
            delta_a = mean[j, a] - mean[i, a]
            for b in range(d):
                work[a, b] = scatter[i, a, b] + scatter[j, a, b] + weight * delta_a * (mean[j, b] - mean[i, b])
    return _score(size, trace, work, omega, beta) - own[i] - own[j]


@kernel(inline="always")
def _tied(value, low):
    """Whether ``value`` ties with ``low``: costs equal in exact arithmetic (pairs of rows
    at the same distance) differ here in their last bits, and mclust's tie rule, not
    rounding, should choose between them."""
    return value <= low + TIE * max(1.0, abs(low))


@kernel(inline="always")
def _rescan(k, cost, alive, row_min, row_arg):
    """Row k's minimum over the live groups after it, and the largest index tied with it."""
    n = cost.shape[0]
    low = np.inf
    for j in range(k + 1, n):
        if alive[j] and cost[k, j] < low:
            low = cost[k, j]
    arg = -1
    if low < np.inf:
        for j in range(k + 1, n):
            if alive[j] and _tied(cost[k, j], low):
                arg = j
    row_min[k] = low
    row_arg[k] = arg


@kernel()
def merge_tree(Z, alpha, beta):
    """The (n - 1, 2) merges of the rows of ``Z`` (n, d): the smallest row index of each
    of the two groups, in merge order. Ties go to the largest second index, then the
    largest first."""
    n, d = Z.shape
    out = np.empty((max(n - 1, 0), 2), dtype=np.int64)
    if n < 2:
        return out
    centre = np.zeros(d)
    for r in range(n):
        for a in range(d):
            centre[a] += Z[r, a]
    total = 0.0
    for r in range(n):
        for a in range(d):
            total += (Z[r, a] - centre[a] / n) ** 2
    omega = alpha * total / (n * d)
    if omega <= 0.0:  # every row equal: every merge costs nothing; merge in index order
        for step in range(n - 1):
            out[step, 0] = 0
            out[step, 1] = step + 1
        return out
    count = np.ones(n)
    mean = Z.copy()
    scatter = np.zeros((n, d, d))
    own = np.full(n, math.log(omega))
    alive = np.ones(n, dtype=np.bool_)
    work = np.empty((d, d))
    cost = np.full((n, n), np.inf)
    for i in range(n - 1):
        for j in range(i + 1, n):
            cost[i, j] = _change(i, j, count, mean, scatter, own, omega, beta, work)
    row_min = np.full(n, np.inf)
    row_arg = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        _rescan(i, cost, alive, row_min, row_arg)
    stale = np.empty(n, dtype=np.int64)
    for step in range(n - 1):
        low = np.inf
        for k in range(n):
            if row_arg[k] >= 0 and row_min[k] < low:
                low = row_min[k]
        i = -1
        for k in range(n):  # among the tied rows: the largest second index, then first
            if row_arg[k] >= 0 and _tied(row_min[k], low) and (i < 0 or row_arg[k] >= row_arg[i]):
                i = k
        j = row_arg[i]
        out[step, 0] = i
        out[step, 1] = j
        # the union takes group i's place
        size = count[i] + count[j]
        weight = count[i] * count[j] / size
        for a in range(d):
            delta_a = mean[j, a] - mean[i, a]
            for b in range(d):
                scatter[i, a, b] += scatter[j, a, b] + weight * delta_a * (mean[j, b] - mean[i, b])
        for a in range(d):
            mean[i, a] += (mean[j, a] - mean[i, a]) * (count[j] / size)
        count[i] = size
        trace = 0.0
        for a in range(d):
            trace += scatter[i, a, a]
            for b in range(d):
                work[a, b] = scatter[i, a, b]
        own[i] = _score(size, trace, work, omega, beta)
        alive[j] = False
        row_min[j] = np.inf
        row_arg[j] = -1
        n_stale = 0
        for k in range(n):
            if not alive[k] or k == i:
                continue
            value = _change(i, k, count, mean, scatter, own, omega, beta, work)
            if k > i:
                cost[i, k] = value
                if row_arg[k] == j:  # k's minimum was against the group merged away
                    stale[n_stale] = k
                    n_stale += 1
                continue
            cost[k, i] = value
            if row_arg[k] == i and value <= row_min[k]:
                row_min[k] = value  # i stays the largest index reaching the minimum
            elif row_arg[k] == i or row_arg[k] == j:
                stale[n_stale] = k  # the minimum may now be elsewhere
                n_stale += 1
            elif value < row_min[k] and not _tied(row_min[k], value):
                row_min[k] = value
                row_arg[k] = i
            elif _tied(value, row_min[k]):  # a tie: i is the largest index so far?
                if i > row_arg[k]:
                    row_arg[k] = i
                row_min[k] = min(row_min[k], value)
        for s in range(n_stale):
            _rescan(stale[s], cost, alive, row_min, row_arg)
        _rescan(i, cost, alive, row_min, row_arg)
    return out
