"""The one compiled pass over the data.

Rows are cut into fixed blocks of ``block_size`` rows; consecutive blocks form
``n_groups`` groups. Groups run in parallel; inside a group, blocks run in
order and add into that group's slot of the statistics. The caller reduces
the slots in group order. The grid depends only on the data's shape, never on
the thread count, so the result is bitwise the same with any number of
threads.

Per block: log-densities of every component (k x block), row-wise
max-shifted log-sum-exp, responsibilities (in place), then per component the
sample-weighted statistics about the component's current mean. Nothing of
size n x k is allocated; the per-row outputs are written only when asked for.
"""

import numpy as np
from numba import prange

from fastem._kernels._gaussian import accumulate, log_density
from fastem._kernels._jit import kernel
from fastem._kernels._math import exp_shifted


@kernel()
def load_block(X, start, n_rows, xt):
    """xt[:, :n_rows] = X[start:start + n_rows].T, in float64."""
    for b in range(n_rows):
        for c in range(X.shape[1]):
            xt[c, b] = X[start + b, c]


@kernel()
def normalize(log_prob, n_rows, log_norm, label, total, bits, scales):
    """Turn weighted log-probabilities (k x block) into responsibilities in place.

    ``log_norm[b]`` gets log sum_j exp(log_prob[j, b]) and ``label[b]`` the
    first j of largest log_prob[j, b]. A row where every component has
    probability zero (log_prob all -inf) keeps log_norm = -inf and gets all
    its responsibility on its label, so the responsibilities always sum to one.
    The loops over rows are branch-free so that they vectorize; ``total``,
    ``bits`` and ``scales`` are scratch rows (see :func:`exp_shifted`).
    """
    n_components = log_prob.shape[0]
    for b in range(n_rows):
        log_norm[b] = -np.inf
        label[b] = 0
    for j in range(n_components):
        values = log_prob[j]
        for b in range(n_rows):
            label[b] = j if values[b] > log_norm[b] else label[b]
            log_norm[b] = max(values[b], log_norm[b])
    for b in range(n_rows):
        total[b] = 0.0
    for j in range(n_components):
        values = log_prob[j]
        exp_shifted(values, log_norm, n_rows, bits, scales)
        for b in range(n_rows):
            total[b] += values[b]
    for b in range(n_rows):
        total[b] = 1.0 / total[b]
    for j in range(n_components):
        values = log_prob[j]
        for b in range(n_rows):
            values[b] *= total[b]
    for b in range(n_rows):
        if log_norm[b] == -np.inf:
            for j in range(n_components):
                log_prob[j, b] = 1.0 if j == label[b] else 0.0
        else:
            log_norm[b] -= np.log(total[b])


@kernel()
def weighted_sum(weight, values, n_rows):
    """sum(weight[:n_rows] * values[:n_rows]), rows of weight zero left out."""
    total = 0.0
    for b in range(n_rows):
        if weight[b] != 0.0:
            total += weight[b] * values[b]
    return total


@kernel(parallel=True)
def em_pass(X, sample_weight, params, resp_in, grid, stats, outputs):
    """Run the E-step over X and add the expected sufficient statistics.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Empty means every weight is one.
    params : tuple (family, means, chol, log_const)
        ``family`` is FULL or DIAG; ``means`` (k, d); ``chol`` (k, d, d) or
        (k, 1, d); ``log_const`` (k,), see fastem._kernels._gaussian.
    resp_in : ndarray of shape (n_samples, k) or (0, k)
        When not empty, these responsibilities are used instead of the
        E-step (initialization from labels or random responsibilities).
    grid : tuple (block_size, n_groups)
    stats : tuple (n, s1, s2, log_likelihood), each with a leading group axis
        Shapes (G, k), (G, k, d), (G, k, d or 1, d), (G,); zeroed by the
        caller. A leading length of 0 skips the statistics.
    outputs : tuple (log_norm, resp, label)
        Shapes (n_samples,), (n_samples, k), (n_samples,) or length 0 each
        when not wanted.
    """
    family, means, chol, log_const = params
    block_size, n_groups = grid
    stat_n, stat_s1, stat_s2, stat_ll = stats
    out_log_norm, out_resp, out_label = outputs
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_blocks = (n_samples + block_size - 1) // block_size
    weighted = sample_weight.shape[0] > 0
    given_resp = resp_in.shape[0] > 0
    want_stats = stat_n.shape[0] > 0

    for group in prange(n_groups):
        xt = np.empty((n_features, block_size))
        dev = np.empty((n_features, block_size))
        weighted_dev = np.empty((n_features, block_size))
        resp = np.empty((n_components, block_size))
        row = np.empty(block_size)
        log_norm = np.empty(block_size)
        label = np.empty(block_size, dtype=np.int64)
        weight = np.ones(block_size)
        total = np.empty(block_size)
        bits = np.empty(block_size, dtype=np.int64)
        scales = bits.view(np.float64)
        for block in range(group * n_blocks // n_groups, (group + 1) * n_blocks // n_groups):
            start = block * block_size
            n_rows = min(block_size, n_samples - start)
            load_block(X, start, n_rows, xt)
            if weighted:
                for b in range(n_rows):
                    weight[b] = sample_weight[start + b]
            if given_resp:
                for j in range(n_components):
                    for b in range(n_rows):
                        resp[j, b] = resp_in[start + b, j]
            else:
                for j in range(n_components):
                    log_density(family, xt, n_rows, means, chol, log_const, j, dev, row, resp[j])
                normalize(resp, n_rows, log_norm, label, total, bits, scales)
                if out_log_norm.shape[0] > 0:
                    out_log_norm[start : start + n_rows] = log_norm[:n_rows]
                if out_label.shape[0] > 0:
                    out_label[start : start + n_rows] = label[:n_rows]
                if out_resp.shape[0] > 0:
                    for b in range(n_rows):
                        for j in range(n_components):
                            out_resp[start + b, j] = resp[j, b]
            if not want_stats:
                continue
            if not given_resp:
                stat_ll[group] += weighted_sum(weight, log_norm, n_rows)
            if weighted:
                for j in range(n_components):
                    for b in range(n_rows):
                        resp[j, b] *= weight[b]
            for j in range(n_components):
                stat_n[group, j] += accumulate(
                    family, xt, n_rows, resp[j], means[j], dev, weighted_dev,
                    stat_s1[group, j], stat_s2[group, j],
                )
