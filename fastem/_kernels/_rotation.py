"""Plane rotations of a common orientation (mclust's EVE and VVE M-steps, fastem.decomposed).

One sweep turns every pair of axes (p, q) of the orientation D once, in
rounds of disjoint pairs. For a pair, with M_k = D^T W_k D and Delta_k the
component's eigenvalues along D, turning the two axes by t changes Q by
a cos 2t + b sin 2t plus a constant, where
a = sum_k (m_pp - m_qq) / 2 (1 / delta_kp - 1 / delta_kq) and
b = sum_k m_pq (1 / delta_kp - 1 / delta_kq); the turn takes the minimum,
t = atan2(-b, -a) / 2 (none where a and b vanish). The pairs of a round are
disjoint, so turning them one after another is turning them together.
In NumPy the sweep is a few dozen small array operations per round; here
it is loops of a few thousand multiply-adds (d = 8, k = 8).
"""

import math

from fastem._kernels._jit import kernel


@kernel()
def rotation_sweep(scatters, orientation, inverse, rounds):
    """One sweep over ``orientation`` (d, d, columns are axes; turned in place) given the
    scatters W_k (k, d, d), 1 / Delta_k (k, d) and the rounds' pairs (R, P, 2), a pair of
    -1 filling a round with fewer pairs."""
    n_components, d = scatters.shape[0], scatters.shape[1]
    for r in range(rounds.shape[0]):
        for pair in range(rounds.shape[1]):
            p, q = rounds[r, pair, 0], rounds[r, pair, 1]
            if p < 0:
                continue
            a = 0.0
            b = 0.0
            for j in range(n_components):
                m_pp = 0.0
                m_qq = 0.0
                m_pq = 0.0
                for x in range(d):
                    w_p = 0.0
                    w_q = 0.0
                    for y in range(d):
                        w_p += scatters[j, x, y] * orientation[y, p]
                        w_q += scatters[j, x, y] * orientation[y, q]
                    m_pp += orientation[x, p] * w_p
                    m_qq += orientation[x, q] * w_q
                    m_pq += orientation[x, p] * w_q
                contrast = inverse[j, p] - inverse[j, q]
                a += 0.5 * (m_pp - m_qq) * contrast
                b += m_pq * contrast
            if a == 0.0 and b == 0.0:
                continue
            angle = 0.5 * math.atan2(-b, -a)
            c, s = math.cos(angle), math.sin(angle)
            for x in range(d):
                first, second = orientation[x, p], orientation[x, q]
                orientation[x, p] = c * first + s * second
                orientation[x, q] = c * second - s * first
