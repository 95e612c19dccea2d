"""The maximum-likelihood M-step and the pass's inputs, in compiled code.

The compiled twins of :func:`fastem.gaussian.ml_update` and
:func:`fastem.gaussian.kernel_params` (tested against them). The Python EM
loop over data in memory calls :func:`ml_update` once per iteration, after
the pass, so that an iteration costs two compiled calls and no NumPy; the
compiled whole fit of small problems (:mod:`fastem._kernels._small`) calls
:func:`m_step` and :func:`kernel_inputs` directly.

Covariance types are numbered ``FULL_COV, TIED_COV, DIAG_COV, SPHERICAL_COV``.
Covariances and precision Cholesky factors are held as (k, d, d) for full
and tied (tied in slot 0), on row 0 of each slot for diag and spherical
(spherical in entry (0, 0)).
"""

import numpy as np

from fastem._kernels._jit import kernel

FULL_COV = 0
TIED_COV = 1
DIAG_COV = 2
SPHERICAL_COV = 3

OK = 0
ILL_DEFINED = 1

LOG_2PI = 1.8378770664093453
EPS64 = 2.220446049250313e-16
#: Scatter entries within this many ulps of S2 are rounding noise (see gaussian._scatter_about_mean).
NOISE_ULPS = 64.0
#: Below this count a collapsed diagonal entry takes scikit-learn's variance (see gaussian.moments).
COLLAPSED_MAX_COUNT = 5.0


@kernel()
def _upper_index(a, c, n_features):
    """Row of x'_a x'_c (a <= c) in the FULL layout's features."""
    return 1 + n_features + a * n_features - a * (a - 1) // 2 + (c - a)


@kernel()
def _precision_cholesky(covariance, lower, target):
    """target = inverse(L)^T, L the lower Cholesky factor of ``covariance`` (d x d); False if not positive definite."""
    d = covariance.shape[0]
    for j in range(d):
        pivot = covariance[j, j]
        for m in range(j):
            pivot -= lower[j, m] * lower[j, m]
        if not pivot > 0.0:
            return False
        lower[j, j] = np.sqrt(pivot)
        for i in range(j + 1, d):
            value = covariance[i, j]
            for m in range(j):
                value -= lower[i, m] * lower[j, m]
            lower[i, j] = value / lower[j, j]
    # Forward substitution L V = I column by column; target = V^T (upper triangular).
    target[:, :] = 0.0
    for c in range(d):
        for i in range(c, d):
            value = 1.0 if i == c else 0.0
            for m in range(c, i):
                value -= lower[i, m] * target[c, m]
            target[c, i] = value / lower[i, i]
    return True


@kernel()
def m_step(sums, ref, covariance_type, reg_covar, pad, total_weight, weights, means, cov, chol, scatter, lower):
    """Maximum-likelihood parameters from the statistics about ``ref`` (see gaussian.ml_update).

    Counts get ``pad`` (10 eps of the data's dtype); scatter entries within rounding noise of S2 become 0
    (diag and spherical: a collapsed feature's variance is scikit-learn's, see gaussian.moments);
    ``total_weight`` <= 0 renormalizes the weights. Returns OK or ILL_DEFINED.
    """
    n_components = sums.shape[1]
    d = ref.shape[0]
    full_layout = covariance_type <= TIED_COV
    noise = NOISE_ULPS * EPS64
    nk_total = 0.0
    if covariance_type == TIED_COV:
        cov[0, :, :] = 0.0
    for j in range(n_components):
        n = sums[0, j]
        nk = n + pad
        nk_total += nk
        weights[j] = nk
        safe = n if n > 0.0 else 1.0
        for a in range(d):
            means[j, a] = (sums[1 + a, j] + n * ref[a]) / nk
        if full_layout:
            for a in range(d):
                scale_a = np.sqrt(abs(sums[_upper_index(a, a, d), j]))
                for c in range(a, d):
                    scale_c = np.sqrt(abs(sums[_upper_index(c, c, d), j]))
                    value = sums[_upper_index(a, c, d), j] - sums[1 + a, j] * sums[1 + c, j] / safe
                    value = 0.0 if abs(value) <= noise * scale_a * scale_c else value
                    scatter[a, c] = value
                    scatter[c, a] = value
            if covariance_type == FULL_COV:
                for a in range(d):
                    for c in range(d):
                        cov[j, a, c] = scatter[a, c] / nk
                    cov[j, a, a] += reg_covar
            else:
                for a in range(d):
                    for c in range(d):
                        cov[0, a, c] += scatter[a, c]
        else:
            for a in range(d):
                second = sums[1 + d + a, j]
                value = second - sums[1 + a, j] ** 2 / safe
                if value <= noise * second:
                    # Collapsed: scikit-learn's E[x^2] - mu^2 with padded counts (see gaussian.moments).
                    origin = sums[1 + a, j] + n * ref[a]
                    origin = 0.0 if abs(origin) <= noise * (abs(sums[1 + a, j]) + abs(n * ref[a])) else origin
                    origin = origin if n < COLLAPSED_MAX_COUNT else 0.0
                    cov[j, 0, a] = pad * origin * origin / (safe * nk * nk) + reg_covar
                else:
                    cov[j, 0, a] = value / nk + reg_covar
            if covariance_type == SPHERICAL_COV:
                spherical = 0.0
                for a in range(d):
                    spherical += cov[j, 0, a]
                cov[j, 0, 0] = spherical / d
    scale = total_weight if total_weight > 0.0 else nk_total
    for j in range(n_components):
        weights[j] /= scale
    if covariance_type == TIED_COV:
        for a in range(d):
            for c in range(d):
                cov[0, a, c] /= nk_total
            cov[0, a, a] += reg_covar
    if full_layout:
        for j in range(n_components if covariance_type == FULL_COV else 1):
            if not _precision_cholesky(cov[j], lower, chol[j]):
                return ILL_DEFINED
    else:
        for j in range(n_components):
            for a in range(d if covariance_type == DIAG_COV else 1):
                if not cov[j, 0, a] > 0.0:
                    return ILL_DEFINED
                chol[j, 0, a] = 1.0 / np.sqrt(cov[j, 0, a])
    return OK


@kernel()
def kernel_inputs(covariance_type, weights, means, chol, ref, theta, chol3, log_const):
    """The pass's inputs (see gaussian.kernel_params) about the mixture's mean ``ref``.

    Every sum here runs in a loop that stores nothing: see the note in fastem._kernels._small.fit_task.
    """
    n_components, d = means.shape
    full_layout = covariance_type <= TIED_COV
    for a in range(d):
        total = 0.0
        for j in range(n_components):
            total += weights[j] * means[j, a]
        ref[a] = total
    offset = np.empty(d)
    linear = np.empty(d)
    precision = np.zeros((d, d))
    for j in range(n_components):
        source = chol[0] if covariance_type == TIED_COV else chol[j]
        if full_layout:
            for a in range(d):
                for c in range(d):
                    chol3[j, a, c] = source[a, c]
        else:
            for a in range(d):
                chol3[j, 0, a] = source[0, a] if covariance_type == DIAG_COV else source[0, 0]
        log_det = 0.0
        for a in range(d):
            log_det += np.log(chol3[j, a, a] if full_layout else chol3[j, 0, a])
        log_const[j] = np.log(weights[j]) + log_det - 0.5 * d * LOG_2PI
        for a in range(d):
            offset[a] = means[j, a] - ref[a]
        if full_layout:
            u = chol3[j]
            for a in range(d):
                for c in range(a, d):
                    value = 0.0
                    for m in range(c, d):
                        value += u[a, m] * u[c, m]
                    precision[a, c] = value
                    precision[c, a] = value
                    theta[j, _upper_index(a, c, d)] = -0.5 * value if a == c else -value
            for a in range(d):
                value = 0.0
                for c in range(d):
                    value += precision[a, c] * offset[c]
                linear[a] = value
        else:
            for a in range(d):
                value = chol3[j, 0, a] ** 2
                linear[a] = value * offset[a]
                theta[j, 1 + d + a] = -0.5 * value
        quadratic = 0.0
        for a in range(d):
            quadratic += linear[a] * offset[a]
        for a in range(d):
            theta[j, 1 + a] = linear[a]
        theta[j, 0] = log_const[j] - 0.5 * quadratic


@kernel()
def ml_update(group_sums, group_log_likelihood, ref, covariance_type, reg_covar, pad, sums, weights, means, cov, chol,
              new_ref, theta, chol3, log_const):
    """One M-step after a pass: reduce its groups, update, and make the next pass's inputs.

    ``group_sums`` (G, n_stat, k) and ``group_log_likelihood`` (G,) are the
    pass's per-group statistics about ``ref``; they are added in group order
    (into ``sums``, (n_stat, k)), so the result does not depend on the
    thread count. The new parameters go to ``weights``, ``means``, ``cov``
    and ``chol``, the next pass's inputs about the new mixture mean to
    ``new_ref``, ``theta``, ``chol3`` and ``log_const``.

    Returns
    -------
    status : int
        OK, or ILL_DEFINED when a covariance is not positive definite.
    log_likelihood : float
        The pass's weighted log-likelihood (of the parameters it was run with).
    """
    n_groups = group_sums.shape[0]
    total = sums.reshape(-1)
    total[:] = 0.0
    for g in range(n_groups):
        slot = group_sums[g].reshape(-1)
        for f in range(total.shape[0]):
            total[f] += slot[f]
    log_likelihood = 0.0
    for g in range(n_groups):
        log_likelihood += group_log_likelihood[g]
    d = ref.shape[0]
    scatter = np.empty((d, d))
    lower = np.zeros((d, d))
    status = m_step(sums, ref, covariance_type, reg_covar, pad, -1.0, weights, means, cov, chol, scatter, lower)
    if status == OK:
        kernel_inputs(covariance_type, weights, means, chol, new_ref, theta, chol3, log_const)
    return status, log_likelihood
