"""The one compiled pass over the data.

Rows are cut into fixed blocks of ``block_size`` rows; consecutive blocks form
``n_groups`` groups. Ranges of groups run on several threads
(fastem._threads.run_groups); inside a group, blocks run in order and add
into that group's slot of the statistics. The caller reduces the slots in
group order. The grid depends only on the data's shape, never on
the thread count, so the result is bitwise the same with any number of
threads.

Per block: the features T(x - ref) (n_stat x block), the weighted
log-probabilities of every component as one matrix product theta . T
(k x block), row-wise max-shifted log-sum-exp, responsibilities (in place),
then the sample-weighted statistics of every component as a second product
T . resp^T (n_stat x k); each product is made of a few BLAS calls (see
E_CHUNK). For float32 data the statistics' passes run both products in
float32 while that keeps float32 precision (see SINGLE_LIMIT). Nothing of
size n x k is allocated; the per-row outputs are written only when asked for.
"""

import numpy as np

from fastem._kernels._features import LINEAR, features, term_scale
from fastem._kernels._gaussian import log_density
from fastem._kernels._grid import block_rows, group_blocks
from fastem._kernels._jit import kernel
from fastem._kernels._math import exp_shifted, log_positive

#: Largest finite float64: 1 + delta / nu is clamped to it (a row at infinite distance).
FLOAT64_MAX = np.finfo(np.float64).max


# The two products per block are cut into calls that OpenBLAS runs at its
# full single-core rate: one call of a whole product falls off that rate at
# some shapes (calls of 16 components stay within OpenBLAS's small-matrix
# path, M N K <= 10^6), while below about 1,000 outputs (n_stat k) one call
# is as fast. bench/README.md, "Cost model", has the measurements.
#: Components per call of the log-density product.
E_CHUNK = 16
#: Features per call of the statistics' product, when n_stat * k exceeds M_CHUNK_FROM.
M_CHUNK = 32
M_CHUNK_FROM = 1024

# Float32 data: the statistics' passes run both products in float32, at up
# to twice the float64 rate, while that keeps float32 precision. A float32
# log-probability theta_j . T(x - ref) is rounded on the order of eps32 times
# the sum of its terms' magnitudes, sum_f |theta_jf T_f(x - ref)|, not their
# sum. At a component's own mean that scale grows with the squared
# Mahalanobis distance of mu_j from ref and with the spread of its
# precision's entries (an ill-conditioned covariance); the statistics'
# cancellation, S2 / N - m m^T about ref, relative to the component's
# thinnest variance grows alike. So float32 products are used only while
# every component's scale at its mean is at most SINGLE_LIMIT
# (eps32 * 2^16 = 2^-8 on the log-density scale), and a row far from every
# component (its largest log-probability more than SINGLE_LIMIT / 2 below the
# largest log_const) is recomputed directly in float64. The passes that
# return per-row values (predict, predict_proba, score_samples) keep float64
# products: a row's own value is returned there, where rounding does not average out.
#: Largest rounding scale at a component's mean for float32 products.
SINGLE_LIMIT = 2.0**16
# The float32 statistics' product takes the responsibilities rows-first
# (block x k, written so as they are narrowed): the product shape OpenBLAS
# runs fastest in float32 (bench/README.md, "Float32 data").
#: Features per call of the float32 statistics' product, when n_stat * k exceeds SINGLE_M_CHUNK_FROM.
SINGLE_M_CHUNK = 64
SINGLE_M_CHUNK_FROM = 4096


@kernel()
def row_max(log_prob, n_rows, largest, label):
    """largest[b] = max_j log_prob[j, b] and label[b] the first j reaching it (0 when all are -inf)."""
    for b in range(n_rows):
        largest[b] = -np.inf
        label[b] = 0
    for j in range(log_prob.shape[0]):
        values = log_prob[j]
        for b in range(n_rows):
            label[b] = j if values[b] > largest[b] else label[b]
            largest[b] = max(values[b], largest[b])


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
    row_max(log_prob, n_rows, log_norm, label)
    for b in range(n_rows):
        total[b] = 0.0
    for j in range(n_components):
        values = log_prob[j]
        exp_shifted(values, log_norm, n_rows, bits, scales)
        for b in range(n_rows):
            total[b] += values[b]
    n_infinite = 0  # counted, not and-ed: a short-circuit "and" is a branch per row and does not vectorize
    for b in range(n_rows):
        n_infinite += 0 if log_norm[b] > -np.inf else 1
    # One reciprocal per row, then k multiplications. The largest term is
    # exp(0) = 1, so a row's total lies in [1, k] and its reciprocal in
    # [1/k, 1]: a positive normal number, whose log the vectorized series
    # takes (a row with every log_prob -inf is mended below).
    for b in range(n_rows):
        total[b] = 1.0 / total[b]
    for j in range(n_components):
        values = log_prob[j]
        for b in range(n_rows):
            values[b] *= total[b]
    log_positive(total, n_rows, bits, scales)
    for b in range(n_rows):
        log_norm[b] -= total[b]
    if n_infinite > 0:
        for b in range(n_rows):
            if log_norm[b] != log_norm[b] or log_norm[b] == -np.inf:
                log_norm[b] = -np.inf
                for j in range(n_components):
                    log_prob[j, b] = 1.0 if j == label[b] else 0.0


@kernel()
def weighted_sum(weight, values, n_rows):
    """sum(weight[:n_rows] * values[:n_rows]), rows of weight zero left out."""
    total = 0.0
    for b in range(n_rows):
        if weight[b] != 0.0:
            total += weight[b] * values[b]
    return total


@kernel()
def linear_log_density(X, row_index, theta_j, ref):
    """theta_j . T(x - ref) for one row in the LINEAR layout, in float64, terms of
    a zero feature left out (so that a coefficient of -inf times 0 adds 0)."""
    total = theta_j[0]
    for c in range(ref.shape[0]):
        value = np.float64(X[row_index, c]) - ref[c]
        if value != 0.0:
            total += theta_j[1 + c] * value
    return total


@kernel()
def fallback_rows(X, start, n_rows, params, log_prob, xt, dev, row, out, floor):
    """Recompute directly the log-probabilities of rows whose feature-based
    values are NaN or +inf or all below ``floor`` (far from every component):
    from (x - mu) U for the Gaussian layouts (second-order features that
    overflowed), term by term for the LINEAR layout."""
    family, ref, theta, means, chol, log_const = params[:6]
    n_components = log_prob.shape[0]
    for b in range(n_rows):
        bad = False
        largest = -np.inf
        for j in range(n_components):
            if not log_prob[j, b] < np.inf:
                bad = True
            largest = max(largest, log_prob[j, b])
        if not bad and not largest < floor:
            continue
        if family == LINEAR:
            for j in range(n_components):
                log_prob[j, b] = linear_log_density(X, start + b, theta[j], ref)
            continue
        for c in range(X.shape[1]):
            xt[c, 0] = X[start + b, c]
        for j in range(n_components):
            log_density(family, xt, 1, means, chol, log_const, j, dev, row, out)
            log_prob[j, b] = out[0]


@kernel()
def all_below_inf(values, n_rows):
    """True when values[:, :n_rows] holds neither NaN nor +inf.

    Counted, not and-ed: a short-circuit "and" is a branch per entry, and
    the loop then does not vectorize.
    """
    n_bad = 0
    for j in range(values.shape[0]):
        row = values[j]
        for b in range(n_rows):
            n_bad += 0 if row[b] < np.inf else 1
    return n_bad == 0


@kernel()
def widen_checked(source, constants, target, n_rows, floor, largest):
    """target[j, :n_rows] = source[j, :n_rows] + constants[j] in float64; True
    when every value is below +inf (no NaN) and every row's largest reaches ``floor``."""
    n_bad = 0
    for b in range(n_rows):
        largest[b] = -np.inf
    for j in range(source.shape[0]):
        from_row = source[j]
        to_row = target[j]
        constant = constants[j]
        for b in range(n_rows):
            value = np.float64(from_row[b]) + constant
            to_row[b] = value
            n_bad += 0 if value < np.inf else 1
            largest[b] = max(largest[b], value)
    for b in range(n_rows):
        n_bad += 0 if largest[b] >= floor else 1
    return n_bad == 0


@kernel()
def narrow_weighted(source, weight, target, n_rows):
    """target[b, j] = source[j, b] * weight[b] for b < n_rows: multiplied in float64, stored in float32, rows-first."""
    for j in range(source.shape[0]):
        from_row = source[j]
        for b in range(n_rows):
            target[b, j] = np.float32(from_row[b] * weight[b])


@kernel()
def single_floor(family, ref, theta, means, log_const):
    """The floor below which float32 log-probabilities are recomputed, or +inf
    when some component's rounding scale exceeds SINGLE_LIMIT (float32 products not used)."""
    top = -np.inf
    for j in range(means.shape[0]):
        if not term_scale(family, theta[j], means[j], ref) <= SINGLE_LIMIT:
            return np.inf
        top = max(top, log_const[j])
    return top - 0.5 * SINGLE_LIMIT


@kernel()
def weighted_entropy(resp, log_prob, log_norm, weight, n_rows, scratch):
    """sum_b w_b sum_j r_jb log r_jb, with log r_jb = log_prob_jb - log_norm_b; r = 0 adds 0.

    Loops run over rows, branch-free, so that they vectorize; ``scratch`` is a row buffer.
    """
    for b in range(n_rows):
        scratch[b] = 0.0
    for j in range(resp.shape[0]):
        r_row = resp[j]
        log_row = log_prob[j]
        for b in range(n_rows):
            term = r_row[b] * (log_row[b] - log_norm[b])
            scratch[b] += term if r_row[b] > 0.0 else 0.0
    total = 0.0
    for b in range(n_rows):
        total += weight[b] * scratch[b] if weight[b] != 0.0 else 0.0
    return total


@kernel(inline="always")
def write_outputs(start, n_rows, log_norm, resp, label, outputs):
    """The block's per-row outputs into ``outputs`` (log_norm, resp, label) at rows start..., each
    array of length 0 left alone."""
    out_log_norm, out_resp, out_label = outputs
    if out_log_norm.shape[0] > 0:
        for b in range(n_rows):
            out_log_norm[start + b] = log_norm[b]
    if out_label.shape[0] > 0:
        for b in range(n_rows):
            out_label[start + b] = label[b]
    if out_resp.shape[0] > 0:
        for b in range(n_rows):
            for j in range(resp.shape[0]):
                out_resp[start + b, j] = resp[j, b]


@kernel()
def copy_rows(source, target, n_rows):
    """target[:, :n_rows] = source[:, :n_rows]."""
    for j in range(source.shape[0]):
        from_row = source[j]
        to_row = target[j]
        for b in range(n_rows):
            to_row[b] = from_row[b]


@kernel()
def zero_columns(values, first):
    """values[:, first:] = 0 (a loop: in the parallel pass a slice assignment is a nested parallel loop to compile)."""
    for j in range(values.shape[0]):
        row = values[j]
        for b in range(first, row.shape[0]):
            row[b] = 0.0


@kernel()
def add_into(target, values):
    """target += values, for 2-D arrays of one shape."""
    for j in range(target.shape[0]):
        row = target[j]
        source = values[j]
        for f in range(row.shape[0]):
            row[f] += source[f]


@kernel(inline="always")
def student_log_prob(log_prob, n_rows, log_const, robust, n_features, t_values, log_t, bits, scales):
    """Turn weighted Gaussian log-probabilities into Student-t ones, in place.

    For component j, log_prob[j, b] = log_const[j] - delta / 2 with delta the
    squared Mahalanobis distance of row b (the Gaussian layouts' value), so
    delta = 2 (log_const[j] - log_prob[j, b]); the t log-probability is
    robust[j, 1] - (nu + d) / 2 log(1 + delta / nu) with nu = robust[j, 0]
    and robust[j, 1] the component's log weight plus the t density's
    constant. ``t_values`` gets 1 + delta / nu and ``log_t`` its log (the
    weights u = (nu + d) / (nu t) and the degrees of freedom's statistic
    need them). A component of weight zero (log_const -inf) stays at -inf.
    """
    for j in range(log_prob.shape[0]):
        nu = robust[j, 0]
        inverse_nu = 1.0 / nu
        constant = robust[j, 1]
        gauss = log_const[j]
        half = 0.5 * (nu + n_features)
        values = log_prob[j]
        t_row = t_values[j]
        log_row = log_t[j]
        if not gauss > -np.inf:
            for b in range(n_rows):
                values[b] = -np.inf
                t_row[b] = 1.0
                log_row[b] = 0.0
            continue
        for b in range(n_rows):
            delta = 2.0 * (gauss - values[b])
            # A select, not max(): rounding may leave delta slightly negative, and NaN maps to 0 too.
            delta = delta if delta > 0.0 else 0.0
            t = 1.0 + delta * inverse_nu
            t = t if t < FLOAT64_MAX else FLOAT64_MAX
            t_row[b] = t
            log_row[b] = t
        log_positive(log_row, n_rows, bits, scales)
        for b in range(n_rows):
            values[b] = constant - half * log_row[b]


@kernel(inline="always")
def student_weights(resp, weight, n_rows, robust, n_features, t_values, log_t, sums):
    """Add sum_b w_b r_jb and sum_b w_b r_jb log t_jb into sums[0, j] and sums[1, j],
    then multiply the responsibilities by u_jb = (nu_j + d) / (nu_j t_jb) in place."""
    for j in range(resp.shape[0]):
        nu = robust[j, 0]
        ratio = (nu + n_features) / nu
        values = resp[j]
        t_row = t_values[j]
        log_row = log_t[j]
        # The sums first, in a loop that stores nothing: a loop that also stores takes a
        # vectorized or a scalar path by a runtime overlap check of its arrays' addresses,
        # and the two paths round its sums differently.
        mass = 0.0
        log_mass = 0.0
        for b in range(n_rows):
            wr = weight[b] * values[b]
            mass += wr
            log_mass += wr * log_row[b]
        for b in range(n_rows):
            values[b] *= ratio / t_row[b]
        sums[0, j] += mass
        sums[1, j] += log_mass


@kernel(inline="always")
def apply_labels(log_prob, n_rows, start, hard, log_soft):
    """Known components, applied to weighted log-probabilities (k x block) in place.

    A row with a hard label y = hard[start + b] >= 0 keeps the log-probability
    of component y alone (the others become -inf), so its responsibility is
    one-hot at y and its log-sum-exp is log pi_y p_y(x). Soft labels add
    log s_bj = log_soft[start + b, j], a per-row prior over the components
    (log 0 = -inf rules a component out). Either array may have no rows.
    """
    n_components = log_prob.shape[0]
    if hard.shape[0] > 0:
        for b in range(n_rows):
            label = hard[start + b]
            if label >= 0:
                for j in range(n_components):
                    if j != label:
                        log_prob[j, b] = -np.inf
    if log_soft.shape[0] > 0:
        for j in range(n_components):
            values = log_prob[j]
            for b in range(n_rows):
                values[b] += log_soft[start + b, j]


@kernel()
def em_pass(first_group, stop_group, data, rows, params, resp_in, grid, stats, outputs):
    """Run the E-step over the rows of groups ``first_group`` to ``stop_group`` and set their statistics.

    The caller runs ranges of groups on several threads
    (:func:`fastem._threads.run_groups`); one call of the whole range gives
    the same result.

    Parameters
    ----------
    first_group, stop_group : int
        The groups to run, ``range(first_group, stop_group)`` of ``n_groups``.
    data : tuple (X64, X32)
        X of shape (n_samples, n_features) in one of the two, the other
        without rows. Float32 X goes in X32, whose rows go into float32
        features and products when the pass sums statistics from the E-step
        and SINGLE_LIMIT allows, into the float64 ones otherwise. Float64 X
        goes in X64 with a float64 X32 (fastem._source.pass_data): that
        specialization holds no float32 code, so a float64 user compiles
        none of the float32 branch, which never runs for them.
    rows : tuple (sample_weight, hard, log_soft)
        Per-row inputs. ``sample_weight`` (n_samples,), empty when every
        weight is one. ``hard`` (n_samples,) int64 known components, -1
        unknown, and ``log_soft`` (n_samples, k) the logs of per-row prior
        probabilities of the components: see :func:`apply_labels` (applied
        after the E-step's log-probabilities, before the log-sum-exp, so
        that the bound is the semi-supervised log-likelihood). Each is
        empty when there are none.
    params : tuple (family, ref, theta, means, chol, log_const, robust)
        ``theta`` (k, n_stat) holds each component's coefficients of the
        features T(x - ref) (see fastem._kernels._features), so that the
        weighted log-probability of component j is theta[j] . T. ``means``
        (k, d), ``chol`` (k, d, d) or (k, 1, d) and ``log_const`` (k,) give
        the same values directly, for rows whose features overflow.
        ``robust`` (k, 2), or (0, 2) for none, makes the components
        Student-t: see :func:`student_log_prob` (a Gaussian layout's
        log-probabilities are transformed before the log-sum-exp) and
        :func:`student_weights` (the responsibilities are multiplied by the
        weights u before the statistics' product).
    resp_in : ndarray of shape (n_samples, k) or (0, k)
        When not empty, these responsibilities are used instead of the
        E-step (initialization from labels or random responsibilities).
    grid : tuple (block_size, n_groups, single)
        ``single`` False keeps float32 data in float64 products (see
        SINGLE_LIMIT; the driver asks for it where a convergence test needs
        a bound finer than float32 resolves).
    stats : tuple (sums, log_likelihood, entropy, robust_sums)
        ``sums`` (G, n_stat, k) is set to sum_i w_i r_ij T(x_i - ref) per
        group, ``log_likelihood`` (G,) to the weighted log-likelihood per
        group (their old contents are not read). A leading length of 0
        skips the statistics. ``entropy`` (G,) is set to
        sum_i w_i sum_j r_ij log r_ij per group (variational Bayes needs it;
        with soft labels sum_i w_i sum_j r_ij (log r_ij - log s_ij)), or has
        length 0.
        ``robust_sums`` (G, 2, k), with Student-t components and
        statistics from the E-step, is set to sum_i w_i r_ij and
        sum_i w_i r_ij log(1 + delta_ij / nu_j) per group (the first
        dimension is 0 otherwise).
    outputs : tuple (log_norm, resp, label)
        Shapes (n_samples,), (n_samples, k), (n_samples,) or length 0 each
        when not wanted.
    """
    family, ref, theta, means, chol, log_const, robust = params
    block_size, n_groups, allow_single = grid
    sample_weight, hard_labels, log_soft = rows
    stat_sums, stat_ll, stat_entropy, stat_robust = stats
    out_log_norm, out_resp, out_label = outputs
    X64, X32 = data
    single = X32.shape[0] > 0
    n_samples = X32.shape[0] if single else X64.shape[0]
    n_features = X64.shape[1]
    n_components, n_stat = theta.shape
    weighted = sample_weight.shape[0] > 0
    given_resp = resp_in.shape[0] > 0
    labelled = hard_labels.shape[0] > 0 or log_soft.shape[0] > 0
    want_stats = stat_sums.shape[0] > 0
    want_entropy = stat_entropy.shape[0] > 0
    student = robust.shape[0] > 0 and not given_resp
    want_robust = student and stat_robust.shape[0] > 0
    # predict: the labels need the largest log-probability only, no exponentials.
    m_chunk = M_CHUNK if n_stat * n_components > M_CHUNK_FROM else n_stat
    labels_only = not want_stats and out_label.shape[0] > 0 and out_log_norm.shape[0] == 0 and out_resp.shape[0] == 0
    # Float32 data, statistics from the E-step: both products in float32 when
    # every component's rounding scale allows (see SINGLE_LIMIT).
    floor = np.inf
    if allow_single and single and want_stats and not given_resp and n_components > 0:
        floor = single_floor(family, ref, theta, means, log_const)
    use32 = floor < np.inf
    theta32 = np.empty((n_components if use32 else 0, n_stat), dtype=X32.dtype)
    # Each component's constant is added in float64 as the values are widened: rounded, it would shift all its rows alike.
    for j in range(theta32.shape[0]):
        theta32[j, 0] = 0.0
        for f in range(1, n_stat):
            theta32[j, f] = np.float32(theta[j, f])
    constants = theta[:, 0].copy()
    single_chunk = SINGLE_M_CHUNK if n_stat * n_components > SINGLE_M_CHUNK_FROM else n_stat
    width32 = block_size if use32 else 0  # the float32 scratch has no columns otherwise, the float64 features none when it has

    for group in range(first_group, stop_group):
        phi = np.empty((n_stat, block_size - width32))
        resp = np.empty((n_components, block_size))
        sums = np.empty((n_stat, n_components))
        zero_columns(sums, 0)
        block_sums = np.empty((n_stat, n_components))
        phi32 = np.empty((n_stat, width32), dtype=X32.dtype)
        log_prob32 = np.empty((n_components, width32), dtype=X32.dtype)
        resp32 = np.empty((width32, n_components), dtype=X32.dtype)
        block_sums32 = np.empty((n_stat if use32 else 0, n_components), dtype=X32.dtype)
        log_norm = np.empty(block_size)
        label = np.empty(block_size, dtype=np.int64)
        weight = np.empty(block_size)
        for b in range(block_size):
            weight[b] = 1.0
        total = np.empty(block_size)
        bits = np.empty(block_size, dtype=np.int64)
        scales = bits.view(np.float64)
        log_prob = np.empty((n_components, block_size))
        t_values = np.empty((n_components if student else 0, block_size))
        log_t = np.empty((n_components if student else 0, block_size))
        robust_sums = np.zeros((2, n_components if want_robust else 0))
        xt = np.empty((n_features, 1))
        dev = np.empty((n_features, 1))
        row = np.empty(1)
        out = np.empty(1)
        # This group's slots are set here, not added to: callers may reuse them unzeroed.
        # (Scalars summed across the block loop and stored after it were not stored at
        # all inside the parallel loop; the slots themselves take the sums.)
        if want_stats:
            stat_ll[group] = 0.0
        if want_entropy:
            stat_entropy[group] = 0.0
        first, stop = group_blocks(group, n_groups, n_samples, block_size)
        for block in range(first, stop):
            start, n_rows = block_rows(block, block_size, n_samples)
            if n_rows < block_size:
                zero_columns(phi, n_rows)
                zero_columns(resp, n_rows)
                zero_columns(phi32, n_rows)
                for b in range(n_rows, resp32.shape[0]):
                    for j in range(n_components):
                        resp32[b, j] = 0.0
            if use32:
                features(family, X32, start, n_rows, ref, phi32)
            elif single:
                features(family, X32, start, n_rows, ref, phi)
            else:
                features(family, X64, start, n_rows, ref, phi)
            if weighted:
                for b in range(n_rows):
                    weight[b] = sample_weight[start + b]
            if given_resp:
                for j in range(n_components):
                    target = resp[j]
                    for b in range(n_rows):
                        target[b] = resp_in[start + b, j]
            elif use32:
                for j in range(0, n_components, E_CHUNK):
                    np.dot(theta32[j : j + E_CHUNK], phi32, log_prob32[j : j + E_CHUNK])
                if not widen_checked(log_prob32, constants, resp, n_rows, floor, total):
                    fallback_rows(X32, start, n_rows, params, resp, xt, dev, row, out, floor)
            else:
                for j in range(0, n_components, E_CHUNK):
                    np.dot(theta[j : j + E_CHUNK], phi, resp[j : j + E_CHUNK])
                if not all_below_inf(resp, n_rows):
                    if single:
                        fallback_rows(X32, start, n_rows, params, resp, xt, dev, row, out, -np.inf)
                    else:
                        fallback_rows(X64, start, n_rows, params, resp, xt, dev, row, out, -np.inf)
            if student:
                student_log_prob(resp, n_rows, log_const, robust, n_features, t_values, log_t, bits, scales)
            if not given_resp:
                # The entropy term is sum r (log r - log s): its copy is taken before the labels.
                if want_entropy:
                    copy_rows(resp, log_prob, n_rows)
                if labelled:
                    apply_labels(resp, n_rows, start, hard_labels, log_soft)
                if labels_only:
                    row_max(resp, n_rows, log_norm, label)
                    for b in range(n_rows):
                        out_label[start + b] = label[b]
                    continue
                normalize(resp, n_rows, log_norm, label, total, bits, scales)
                if want_entropy:
                    stat_entropy[group] += weighted_entropy(resp, log_prob, log_norm, weight, n_rows, total)
                write_outputs(start, n_rows, log_norm, resp, label, outputs)
            if not want_stats:
                continue
            if not given_resp:
                stat_ll[group] += weighted_sum(weight, log_norm, n_rows)
            if want_robust:
                student_weights(resp, weight, n_rows, robust, n_features, t_values, log_t, robust_sums)
            if use32:
                # The weights are applied as the responsibilities are narrowed: one sweep, not two
                # (a weight of one is exact, so unweighted rows pay a multiplication only).
                narrow_weighted(resp, weight, resp32, n_rows)
                for f in range(0, n_stat, single_chunk):
                    np.dot(phi32[f : f + single_chunk], resp32, block_sums32[f : f + single_chunk])
                add_into(sums, block_sums32)
            else:
                if weighted:
                    for j in range(n_components):
                        target = resp[j]
                        for b in range(n_rows):
                            target[b] *= weight[b]
                for f in range(0, n_stat, m_chunk):
                    np.dot(phi[f : f + m_chunk], resp.T, block_sums[f : f + m_chunk])
                add_into(sums, block_sums)
        if want_stats:
            copy_rows(sums, stat_sums[group], n_components)
        if want_robust:
            copy_rows(robust_sums, stat_robust[group], n_components)
