"""The compiled pass over the incomplete rows of a Gaussian mixture (fastem.missing).

Rows are sorted by missingness pattern and cut into blocks of at most
``block_size`` rows of one pattern; consecutive blocks form groups, which
run in parallel and add into their own slots (reduced in group order by the
caller, so the result does not depend on the thread count). Per block and
component j, with o the pattern's observed and m its missing columns, and
the pattern's factors computed once per pass (fastem.missing):

- deviations x_o - mu_o and log pi_j N(x_o) = const_j - |(x_o - mu_o) U|^2 / 2
  with U U^T = Sigma_oo^-1 (U upper triangular: the main pass's direct
  density, fastem._kernels._gaussian);
- labels, the max-shifted log-sum-exp and the responsibilities
  (the main pass's kernels);
- the completed rows about ``ref``: x_o - ref_o (once per block), and per
  component mu_m - ref_m + G^T (x_o - mu_o) with G = Sigma_oo^-1 Sigma_om, whose
  weighted sums and products are the statistics (the conditional
  covariance's share, sum w r C, is added by the caller from the masses).

Loops run over the rows of a block, innermost, so that they vectorize.
"""

import numpy as np

from fastem._kernels._gaussian import whitened_log_density
from fastem._kernels._jit import kernel
from fastem._kernels._pass import apply_labels, copy_rows, normalize, weighted_entropy, write_outputs


@kernel()
def deviations(xt, n_rows, observed, n_observed, mean, dev):
    """dev[a, b] = x_o - mu_o for the block's rows (o x rows)."""
    for a in range(n_observed):
        column = observed[a]
        centre = mean[column]
        row = xt[column]
        target = dev[a]
        for b in range(n_rows):
            target[b] = row[b] - centre


@kernel()
def observed_about(xt, n_rows, ref, observed, n_observed, completed):
    """completed[o, b] = x_o - ref_o: the completed rows' observed columns, the same for every component."""
    for a in range(n_observed):
        column = observed[a]
        source = xt[column]
        target = completed[column]
        shift = ref[column]
        for b in range(n_rows):
            target[b] = source[b] - shift


@kernel()
def conditional_means(n_rows, ref, mean, missing, n_observed, n_missing, gain, dev, completed):
    """completed[m, b] = mu_m - ref_m + G^T (x_o - mu_o): the missing columns of the completed
    rows about ``ref``, at their conditional means given component ``mean``."""
    for e in range(n_missing):
        column = missing[e]
        target = completed[column]
        shift = mean[column] - ref[column]
        for b in range(n_rows):
            target[b] = shift
        for a in range(n_observed):
            coefficient = gain[a, e]
            source = dev[a]
            for b in range(n_rows):
                target[b] += coefficient * source[b]


@kernel()
def missing_pass(first_group, stop_group, X, blocks, rows, params, patterns, stats, outputs):
    """E-step and statistics of the incomplete rows of groups ``first_group`` to ``stop_group``.

    Parameters
    ----------
    first_group, stop_group : int
        The groups to run (the caller runs ranges of them on several
        threads, fastem._threads.run_groups).
    X : ndarray of shape (n_rows, n_features), float64
        The incomplete rows sorted by pattern, missing entries any finite value.
    blocks : tuple (block_start, block_rows, block_pattern, group_first)
        Each block's first row, row count and pattern; group g owns blocks
        group_first[g] .. group_first[g + 1] - 1.
    rows : tuple (weights, hard, log_soft)
        Per sorted row; labels as em_pass takes them (each may be empty).
    params : tuple (ref, means, dof)
        The statistics' reference (d,), the components' means (k, d), and
        for Student-t components their degrees of freedom nu (k,) (length 0
        for Gaussian ones).
    patterns : tuple (observed, n_observed, missing, n_missing, factor, gain, constant, t_terms)
        Per pattern p: column indices (P, d) and counts (P,); per pattern and
        component: U (P, k, d, d), G (P, k, d, d) and const (P, k), the log
        density's constant (a t component's: log pi + log t_o's normalizer);
        for t components, t_terms (P, k) = log((nu + o) / nu)
        + psi((nu + o) / 2) - log((nu + o) / 2) (nu's statistic).
    stats : tuple (s0, s1, s2, log_likelihood, mass, robust, entropy)
        Per group: sum w r u (G, k), sum w r u (x - ref) (G, k, d),
        sum w r u (x - ref)(x - ref)^T (G, k, d, d), sum w log p (G,), per
        pattern sum w r (G, P, k), and for t components sum w r and
        sum w r (E[log tau] - E[tau]) (G, 2, k); u = 1 for Gaussian
        components (a t row's E[tau] = (nu + o) / (nu + delta)), and
        sum w r (log r - log s) (G,), s a row's soft labels (variational
        Bayes's bound; length 0 skips it). A leading length of 0 skips them.
    outputs : tuple (log_norm, resp, label)
        Per sorted row, each of length 0 when not wanted.
    """
    block_start, block_rows, block_pattern, group_first = blocks
    weights, hard, log_soft = rows
    ref, means, dof = params
    observed, n_observed, missing, n_missing, factor, gain, constant, t_terms = patterns
    s0_out, s1_out, s2_out, ll_out, mass_out, robust_out, entropy_out = stats
    student = dof.shape[0] > 0
    n_components, n_features = means.shape
    block_size = 0
    for index in range(block_rows.shape[0]):
        block_size = max(block_size, block_rows[index])
    want_stats = s0_out.shape[0] > 0
    want_entropy = entropy_out.shape[0] > 0
    for group in range(first_group, stop_group):
        xt = np.empty((n_features, block_size))
        dev = np.empty((n_features, block_size))
        scratch = np.empty(block_size)
        completed = np.empty((n_features, block_size))
        resp = np.empty((n_components, block_size))
        log_norm = np.empty(block_size)
        label = np.empty(block_size, dtype=np.int64)
        total = np.empty(block_size)
        bits = np.empty(block_size, dtype=np.int64)
        scales = bits.view(np.float64)
        wr = np.empty(block_size)
        weighted_f = np.empty(block_size)
        t_values = np.empty((n_components if student else 0, block_size))
        log_prob = np.empty((n_components if want_entropy else 0, block_size))
        if want_entropy:
            entropy_out[group] = 0.0
        if want_stats:
            ll_out[group] = 0.0
            for j in range(n_components):
                s0_out[group, j] = 0.0
                for f in range(n_features):
                    s1_out[group, j, f] = 0.0
                    for g in range(n_features):
                        s2_out[group, j, f, g] = 0.0
            for p in range(mass_out.shape[1]):
                for j in range(n_components):
                    mass_out[group, p, j] = 0.0
            for i in range(robust_out.shape[1]):
                for j in range(n_components):
                    robust_out[group, i, j] = 0.0
        for block in range(group_first[group], group_first[group + 1]):
            start = block_start[block]
            n_rows = block_rows[block]
            p = block_pattern[block]
            n_obs = n_observed[p]
            n_mis = n_missing[p]
            for f in range(n_features):
                for b in range(n_rows):
                    xt[f, b] = X[start + b, f]
            for j in range(n_components):
                deviations(xt, n_rows, observed[p], n_obs, means[j], dev)
                if not student:
                    whitened_log_density(dev, n_rows, n_obs, factor[p, j], constant[p, j], scratch, resp[j])
                    continue
                # A t component: -delta / 2 first, then the t marginal's log density of delta.
                whitened_log_density(dev, n_rows, n_obs, factor[p, j], 0.0, scratch, resp[j])
                nu = dof[j]
                half = 0.5 * (nu + n_obs)
                values = resp[j]
                t_row = t_values[j]
                for b in range(n_rows):
                    t_row[b] = 1.0 - 2.0 * values[b] / nu
                    values[b] = constant[p, j] - half * np.log(t_row[b])
            # The entropy term is sum r (log r - log s): its copy is taken before the labels.
            if want_entropy:
                copy_rows(resp, log_prob, n_rows)
            apply_labels(resp, n_rows, start, hard, log_soft)
            normalize(resp, n_rows, log_norm, label, total, bits, scales)
            write_outputs(start, n_rows, log_norm, resp, label, outputs)
            if want_entropy:
                for b in range(n_rows):
                    wr[b] = weights[start + b]
                entropy_out[group] += weighted_entropy(resp, log_prob, log_norm, wr, n_rows, total)
            if not want_stats:
                continue
            # Sums run in loops that store nothing: a loop that also stores takes a
            # vectorized or a scalar path by a runtime overlap check of its arrays'
            # addresses, and the two paths round its sum differently.
            log_likelihood = 0.0
            for b in range(n_rows):
                log_likelihood += weights[start + b] * log_norm[b]
            ll_out[group] += log_likelihood
            observed_about(xt, n_rows, ref, observed[p], n_obs, completed)
            for j in range(n_components):
                deviations(xt, n_rows, observed[p], n_obs, means[j], dev)
                conditional_means(n_rows, ref, means[j], missing[p], n_obs, n_mis, gain[p, j], dev, completed)
                responsibility = resp[j]
                for b in range(n_rows):
                    wr[b] = weights[start + b] * responsibility[b]
                mass = 0.0
                for b in range(n_rows):
                    mass += wr[b]
                mass_out[group, p, j] += mass
                if student:
                    # E[tau] = u = (nu + o) / (nu t) weighs the rows' moments; nu's statistic
                    # sums w r (E[log tau] - E[tau]) = w r (t_term - log t - u).
                    ratio = (dof[j] + n_obs) / dof[j]
                    t_row = t_values[j]
                    statistic = 0.0
                    for b in range(n_rows):
                        statistic += wr[b] * (t_terms[p, j] - np.log(t_row[b]) - ratio / t_row[b])
                    for b in range(n_rows):
                        wr[b] *= ratio / t_row[b]
                    robust_out[group, 0, j] += mass
                    robust_out[group, 1, j] += statistic
                    mass = 0.0
                    for b in range(n_rows):
                        mass += wr[b]
                s0_out[group, j] += mass
                for f in range(n_features):
                    row_f = completed[f]
                    for b in range(n_rows):
                        weighted_f[b] = wr[b] * row_f[b]
                    first = 0.0
                    for b in range(n_rows):
                        first += weighted_f[b]
                    s1_out[group, j, f] += first
                    for g in range(f, n_features):
                        row_g = completed[g]
                        second = 0.0
                        for b in range(n_rows):
                            second += weighted_f[b] * row_g[b]
                        s2_out[group, j, f, g] += second
