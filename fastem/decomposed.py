"""mclust's covariance models: the eigen-decomposition Sigma_k = lambda_k D_k A_k D_k^T.

Celeux and Govaert (1995) write component k's covariance as its volume
lambda_k = |Sigma_k|^(1/d), its shape A_k (diagonal, |A_k| = 1) and its
orientation D_k (orthogonal), and constrain each to be Equal across
components or to Vary; the shape and orientation may also be the
Identity. mclust names a model by three letters in that order (EII ...
VVV). Each model is an entry of fastem.covariance's registry with
covariances and precisions held as full (k, d, d) arrays (the pass's FULL
layout), so that VII, VVI, EEE and VVV fit what 'spherical', 'diag',
'tied' and 'full' fit, in mclust's shapes.

The M-step minimizes, over the model's covariances,

    Q = sum_k [n_k log |Sigma_k| + tr(W_k Sigma_k^-1)]

with W_k the component's weighted scatter about its mean (plus
n_k reg_covar on the diagonal, which gives scikit-learn's regularized
covariances for the four models it shares). Closed forms (Celeux and
Govaert 1995): EII, VII, EEI, VVI, EVI, EEE, EEV, EVV, VVV. The others
alternate closed-form steps, each of which lowers Q: VEI, VEE and VEV
alternate the volumes and the common shape (or shape and orientation);
EVE and VVE alternate the shapes and volumes given a common orientation D
with sweeps of plane rotations of D's axes, as Flury and Gautschi's
algorithm for common principal components does: rotating axes p and q by
t changes Q by a cos 2t + b sin 2t + const, with
a = sum_k (m_pp - m_qq) / 2 (1 / delta_kp - 1 / delta_kq) and
b = sum_k m_pq (1 / delta_kp - 1 / delta_kq) for M_k = D^T W_k D and
Delta_k the component's eigenvalues along D, so each rotation takes its
exact minimum; disjoint pairs turn together (a compiled sweep,
fastem._kernels._rotation; Q of each inner step from D and the Delta_k
directly). Started from the previous
iteration's covariances and kept only where Q is lower than there, every
M-step lowers Q: EM stays monotone (generalized EM).

MAP-EM (prior="default": mclust's priorControl() with its defaultPrior
values). mclust defines a prior for ten models, :data:`MAP_MODELS` and EEI.
VII, VVI, EEE and VVV take the steps of 'spherical', 'diag', 'tied' and
'full' (normal-inverse-gamma and -Wishart, as fastem.gaussian.map_update
writes them). With the means' prior N(m0, Sigma_k / kappa0) the means are
(n_k xbar_k + kappa0 m0) / (n_k + kappa0) and B_k = W_k + kappa0 n_k /
(n_k + kappa0) (xbar_k - m0)(xbar_k - m0)^T; with Psi the prior's scale
matrix, s2 = tr(Psi) / d and nu its degrees of freedom, mclust 6.0.0's
estimates for the others are the fixed points of

- EII: sigma^2 = sum_k tr B_k / ((n + k) d + nu + 2) (no s2);
- VEI: M_k = diag(B_k) + s2 I, the VEI step with counts n_k + (nu + 3) / d;
- EVI: M_k = diag(B_k) + s2 I, shapes M_k / |M_k|^(1/d), a common volume
  sum_k |M_k|^(1/d) / (n + nu + 2);
- EEV: M_k = B_k + Psi, the EEV step with count n + nu + d + 2;
- VEV: M_k = B_k + Psi, the VEV step with the counts n_k;

(identified from mclust's converged fits of faithful, G = 2, and iris,
G = 3, to 1e-12; tests/test_map_mclust.py). With one component they are
mclust's one-component steps: 'spherical''s for EII, 'diag''s for VEI and
EVI, 'full''s for VEV (EEV's is the same). Each is the maximum of the
log-likelihood plus a log prior of the model's own (:meth:`Decomposed.log_prior_terms`),
which the bound reports up to a constant. mclust's EEI prior is not offered:
its means stay unshrunk while its variances take the means' prior term,
which maximizes no one objective, so MAP-EM could not be monotone.
"""

import dataclasses
import functools

import numpy as np

from fastem._kernels._rotation import rotation_sweep
from fastem.covariance import COVARIANCE_MODELS, Full, IllDefinedCovariance, ill_defined_message

#: mclust's models with a MAP step here (see the module docstring).
MAP_MODELS = ("EII", "VII", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")

#: VII, VVI, EEE and VVV take the MAP step and log prior of these entries of
#: fastem.covariance's registry.
_TWINS = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}
#: The other way: scikit-learn's names by mclust's.
_MCLUST_NAMES = {twin: name for name, twin in _TWINS.items()}

#: With one component mclust fits these models as its one-component XII, XXI
#: and XXX, which are VII's, VVI's and VVV's steps, prior included.
_ONE_COMPONENT = {"EII": "VII", "VEI": "VVI", "EVI": "VVI", "VEV": "VVV"}


def _in_layout(twin, matrices):
    """(k, d, d) matrices in a registry entry's layout (gaussian.full_matrices's inverse)."""
    if twin == "tied":
        return matrices[0]
    if twin in ("diag", "spherical"):
        diagonal = np.diagonal(matrices, axis1=-2, axis2=-1)
        return diagonal if twin == "diag" else diagonal[:, 0]
    return matrices


def _twin_scale(twin, psi):
    """The prior's scale ``psi`` (d, d) as the entry takes it: s2 = tr(psi) / d for the
    spherical and diagonal ones (mclust's one number), psi itself otherwise."""
    d = psi.shape[0]
    if twin == "spherical":
        return np.trace(psi) / d
    return np.full(d, np.trace(psi) / d) if twin == "diag" else psi

#: mclust's models in mclust's order.
MCLUST_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
#: Inner iterations of the iterative M-steps: at most this many, stopping when Q's
#: relative change falls below INNER_TOL. A capped M-step still lowers Q (generalized
#: EM), and the next one goes on from it: at 10^5 rows a pass costs about as much as a
#: dozen inner iterations, and EVE's fits took the same EM iterations with 20 as with 500.
INNER_MAX_ITER = 20
INNER_TOL = 1e-13


def objective(covariances, scatters, nk):
    """Q = sum_k n_k log |Sigma_k| + tr(W_k Sigma_k^-1) (inf where a Sigma_k is not positive definite)."""
    sign, log_det = np.linalg.slogdet(covariances)
    if np.any(sign <= 0):
        return np.inf
    return float(np.sum(nk * log_det) + np.einsum("kab,kba->", scatters, np.linalg.inv(covariances)))


def _geometric_mean(values):
    """|diag(values)|^(1/d) of each row of positive values."""
    return np.exp(np.mean(np.log(values), axis=-1))


def _descending_eigen(matrices):
    """Eigenvalues (descending) and eigenvectors (as columns) of symmetric matrices."""
    values, vectors = np.linalg.eigh(matrices)
    return values[..., ::-1], vectors[..., ::-1]


@functools.lru_cache(maxsize=None)
def _rounds(d):
    """The pairs of a sweep over d axes as d - 1 (d even) or d (d odd) rounds of disjoint pairs
    (the circle method of round-robin schedules); each round as (left, right) index arrays."""
    players = list(range(d)) + ([-1] if d % 2 else [])
    size = len(players)
    rounds = []
    for _ in range(size - 1):
        pairs = [(players[i], players[size - 1 - i]) for i in range(size // 2)]
        pairs = [(min(p, q), max(p, q)) for p, q in pairs if p >= 0 and q >= 0]
        rounds.append((np.array([p for p, _ in pairs]), np.array([q for _, q in pairs])))
        players = [players[0], players[-1]] + players[1:-1]
    return rounds


def _rotation_sweep(scatters, orientation, eigenvalues):
    """One sweep of exact plane rotations of a common orientation D given each component's
    eigenvalues Delta_k along D's axes (see the module docstring and
    fastem._kernels._rotation); returns the new D."""
    orientation = np.array(orientation, dtype=np.float64, order="C")
    rotation_sweep(np.ascontiguousarray(scatters, dtype=np.float64), orientation,
                   np.ascontiguousarray(1.0 / eigenvalues), _round_pairs(orientation.shape[0]))
    return orientation


@functools.lru_cache(maxsize=None)
def _round_pairs(d):
    """The rounds of :func:`_rounds` as one (R, P, 2) int64 array, short rounds filled with -1."""
    rounds = _rounds(d)
    pairs = np.full((len(rounds), max(len(left) for left, _ in rounds), 2), -1, dtype=np.int64)
    for r, (left, right) in enumerate(rounds):
        pairs[r, : len(left), 0], pairs[r, : len(left), 1] = left, right
    return pairs


def _compose(orientation, eigenvalues):
    """Sigma_k = D diag(Delta_k) D^T for a common D (d, d) or one D_k per component (k, d, d)."""
    if orientation.ndim == 2:
        return np.einsum("ab,kb,cb->kac", orientation, eigenvalues, orientation)
    return np.einsum("kab,kb,kcb->kac", orientation, eigenvalues, orientation)


def _iterate(step, state, scatters, nk, value_of=None, finish=None):
    """Apply ``step(state) -> (state, covariances)`` until Q settles; returns the covariances.
    ``value_of(candidate)`` gives Q where a step's result says it more cheaply than the
    covariances do, and ``finish(candidate)`` then makes the covariances of the last one."""
    value_of = value_of or (lambda covariances: objective(covariances, scatters, nk))
    state, covariances = step(state)
    value = value_of(covariances)
    for _ in range(INNER_MAX_ITER):
        state, candidate = step(state)
        new_value = value_of(candidate)
        if not new_value <= value:  # a step that does not lower Q ends the loop
            break
        covariances, settled = candidate, value - new_value <= INNER_TOL * abs(new_value)
        value = new_value
        if settled:
            break
    return covariances if finish is None else finish(covariances)


def m_step(name, scatters, nk, start=None):
    """The covariances (k, d, d) of model ``name`` minimizing Q for scatters W_k (k, d, d) and
    counts n_k (k,); ``start`` (previous covariances of the model, or None) starts the
    iterative models and is kept where it has the lower Q."""
    k, d, _ = scatters.shape
    n = nk.sum()
    eye = np.eye(d)
    diagonals = np.diagonal(scatters, axis1=1, axis2=2)
    if name == "EII":
        return np.broadcast_to(np.trace(scatters, axis1=1, axis2=2).sum() / (n * d) * eye, (k, d, d)).copy()
    if name == "VII":
        return (np.trace(scatters, axis1=1, axis2=2) / (nk * d))[:, None, None] * eye
    if name == "EEI":
        return np.broadcast_to(np.diag(diagonals.sum(axis=0) / n), (k, d, d)).copy()
    if name == "VVI":
        return diagonals[:, :, None] / nk[:, None, None] * eye
    if name == "EVI":
        volume = _geometric_mean(diagonals).sum() / n
        shapes = diagonals / _geometric_mean(diagonals)[:, None]
        return volume * shapes[:, :, None] * eye
    if name == "EEE":
        return np.broadcast_to(scatters.sum(axis=0) / n, (k, d, d)).copy()
    if name == "VVV":
        return scatters / nk[:, None, None]
    if name == "EVV":
        log_det = np.linalg.slogdet(scatters)[1]
        volume = np.exp(log_det / d).sum() / n
        return volume * scatters / np.exp(log_det / d)[:, None, None]
    if name == "EEV":
        values, vectors = _descending_eigen(scatters)
        return _compose(vectors, np.broadcast_to(values.sum(axis=0) / n, (k, d)))
    covariances = _iterative(name, scatters, nk, start)
    if start is not None and objective(start, scatters, nk) <= objective(covariances, scatters, nk):
        return np.array(start, dtype=np.float64)
    return covariances


def _iterative(name, scatters, nk, start):
    k, d, _ = scatters.shape
    n = nk.sum()
    eye = np.eye(d)
    diagonals = np.diagonal(scatters, axis1=1, axis2=2)
    if name == "VEI":
        shape = (np.diagonal(start[0]) if start is not None else diagonals.sum(axis=0))
        shape = shape / _geometric_mean(shape)

        def step(shape):
            volumes = (diagonals / shape).sum(axis=1) / (nk * d)
            shape = (diagonals / volumes[:, None]).sum(axis=0)
            shape = shape / _geometric_mean(shape)
            return shape, volumes[:, None, None] * (shape * eye)

        return _iterate(step, shape, scatters, nk)
    if name == "VEE":
        common = start[0] if start is not None else scatters.sum(axis=0)
        common = common / np.exp(np.linalg.slogdet(common)[1] / d)

        def step(common):
            volumes = np.einsum("kab,ba->k", scatters, np.linalg.inv(common)) / (nk * d)
            common = (scatters / volumes[:, None, None]).sum(axis=0)
            common = common / np.exp(np.linalg.slogdet(common)[1] / d)
            return common, volumes[:, None, None] * common

        return _iterate(step, common, scatters, nk)
    if name == "VEV":
        values, vectors = _descending_eigen(scatters)
        shape = _descending_eigen(start[0])[0] if start is not None else values.sum(axis=0)
        shape = shape / _geometric_mean(shape)

        def step(shape):
            volumes = (values / shape).sum(axis=1) / (nk * d)
            shape = (values / volumes[:, None]).sum(axis=0)
            shape = shape / _geometric_mean(shape)
            return shape, _compose(vectors, volumes[:, None] * shape)

        return _iterate(step, shape, scatters, nk)
    if name in ("EVE", "VVE"):
        orientation = _descending_eigen(start[0] if start is not None else scatters.sum(axis=0))[1]

        def eigenvalues_given(orientation):
            projected = np.einsum("ab,kac,cb->kb", orientation, scatters, orientation)  # diag(D^T W_k D)
            if name == "VVE":
                return projected / nk[:, None]
            shapes = projected / _geometric_mean(projected)[:, None]
            return _geometric_mean(projected).sum() / n * shapes

        def step(orientation):
            eigenvalues = eigenvalues_given(orientation)
            orientation = _rotation_sweep(scatters, orientation, eigenvalues)
            return orientation, (orientation, eigenvalues_given(orientation))

        def value_of(candidate):
            """Q of D diag(Delta_k) D^T: sum_k n_k sum log Delta_k + sum (D^T W_k D)_bb / Delta_kb."""
            orientation, eigenvalues = candidate
            projected = np.einsum("ab,kac,cb->kb", orientation, scatters, orientation)
            return float(np.sum(nk * np.log(eigenvalues).sum(axis=1)) + np.sum(projected / eigenvalues))

        return _iterate(step, orientation, scatters, nk, value_of, lambda candidate: _compose(*candidate))
    raise ValueError(f"unknown covariance model {name!r}")


def decomposition(name, covariances):
    """Sigma_k = lambda_k D_k diag(A_k) D_k^T of (k, d, d) covariances, in model ``name``'s terms
    (an mclust name, or one of scikit-learn's four, taken as their mclust twins).

    Returns the volumes lambda_k = |Sigma_k|^(1/d) (k,), the shapes A_k (k, d; product 1)
    and the orientations D_k (k, d, d; axes as columns). An Identity orientation is the
    coordinate axes, the shapes along them; an Equal one is the eigenvectors of the first
    component's covariance (descending eigenvalues), every shape along those axes; a
    Varying one is each component's own eigenvectors, its shape descending.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    k, d, _ = covariances.shape
    volumes = np.exp(np.linalg.slogdet(covariances)[1] / d)
    orientation = _MCLUST_NAMES.get(name, name)[2]
    if orientation == "V":
        values, vectors = _descending_eigen(covariances)
        return volumes, values / volumes[:, None], vectors
    axes = np.eye(d) if orientation == "I" else _descending_eigen(covariances[:1])[1][0]
    along = np.einsum("ab,kac,cb->kb", axes, covariances, axes)  # diag(D^T Sigma_k D)
    return volumes, along / volumes[:, None], np.broadcast_to(axes, (k, d, d)).copy()


def _n_covariance_parameters(name, k, d):
    """mclust's count of a model's variance parameters (its nVarParams)."""
    volume, shape, orientation = name
    count = {"E": 1, "V": k}[volume]
    count += {"I": 0, "E": d - 1, "V": k * (d - 1)}[shape]
    count += {"I": 0, "E": d * (d - 1) // 2, "V": k * d * (d - 1) // 2}[orientation]
    return count


class Decomposed(Full):
    """An mclust model (see the module docstring): covariances and precisions as (k, d, d)."""

    code = None  # no compiled update: the M-step is this module's
    shared = False

    def __init__(self, name):
        self.name = name
        self.iterative = name in ("VEI", "VEE", "VEV", "EVE", "VVE")

    def ml_covariances(self, stats, scatter, nk, reg_covar, dtype, start=None):
        d = scatter.shape[1]
        regularized = scatter + (reg_covar * nk)[:, None, None] * np.eye(d)
        # A collapsed component (no scatter, or no weight) gives NaN or infinite
        # covariances here; precision_cholesky then names the fit ill-defined.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return m_step(self.name, regularized, nk, start)

    def map_covariances(self, b, nk, psi, nu, c, d, reg_covar, start=None):
        """mclust's MAP covariances (module docstring) from B_k (k, d, d), the counts and the
        prior's scale ``psi`` (d, d) and degrees of freedom ``nu``; ``c`` (the means' prior
        normalizer) enters EII's count only, as mclust counts it."""
        if self.name not in MAP_MODELS:
            raise ValueError(f"covariance_type={self.name!r} has no prior here: MAP-EM takes 'full', 'tied', "
                             f"'diag', 'spherical' and {', '.join(map(repr, MAP_MODELS))}")
        k = nk.shape[0]
        eye = np.eye(d)
        b = b + (reg_covar * nk)[:, None, None] * eye
        s2 = np.trace(psi) / d
        n = nk.sum()
        twin = self._twin(k)
        if twin is not None:
            from fastem.gaussian import full_matrices  # gaussian imports this module (through covariance)

            # the entries' B_k: per component, diagonals for 'spherical' and 'diag'
            scatters = np.diagonal(b, axis1=1, axis2=2) if twin in ("spherical", "diag") else b
            covariances = COVARIANCE_MODELS[twin].map_covariances(scatters, nk, _twin_scale(twin, psi), nu, c, d, 0.0)
            return np.array(full_matrices(covariances, twin, k, d))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.name == "EII":
                variance = np.trace(b, axis1=1, axis2=2).sum() / ((n + c * k) * d + nu + 2.0)
                return np.broadcast_to(variance * eye, (k, d, d)).copy()
            diagonal = np.diagonal(b, axis1=1, axis2=2) + s2
            if self.name == "VEI":
                return m_step("VEI", diagonal[:, :, None] * eye, nk + (nu + 3.0) / d, start)
            if self.name == "EVI":
                volume = _geometric_mean(diagonal).sum() / (n + nu + 2.0)
                return volume * (diagonal / _geometric_mean(diagonal)[:, None])[:, :, None] * eye
            scatters = b + psi
            if self.name == "EEV":
                values, vectors = _descending_eigen(scatters)
                return _compose(vectors, np.broadcast_to(values.sum(axis=0) / (n + nu + d + 2.0), (k, d)))
            return m_step("VEV", scatters, nk, start)

    def _twin(self, k):
        """The registry entry whose MAP step and prior this model takes with ``k``
        components (module docstring), or None."""
        return _TWINS.get(_ONE_COMPONENT.get(self.name, self.name) if k == 1 else self.name)

    def log_prior_terms(self, params, prior, total):
        """``total`` plus, up to a constant, the log prior whose posterior mode the MAP step is:
        the means' -kappa0 / 2 (mu_k - m0)^T Sigma_k^-1 (mu_k - m0), and

        - VII, VVI, EEE, VVV: those of 'spherical', 'diag', 'tied' and 'full'
          (whole: the means' normal and the inverse-gamma or -Wishart density);
        - EII: -((nu + 2) / 2 + c k d / 2) log sigma^2;
        - VEI: sum_k -((nu + 3) / 2) log lambda_k - s2 / 2 tr Sigma_k^-1;
        - EVI: -(d (nu + 2) / 2) log lambda - s2 / 2 sum_k tr Sigma_k^-1;
        - EEV: -((nu + d + 2) / 2) log |Sigma| - 1/2 sum_k tr(Psi Sigma_k^-1);
        - VEV: -1/2 sum_k tr(Psi Sigma_k^-1);

        with lambda_k = |Sigma_k|^(1/d).
        """
        if self.name not in MAP_MODELS:
            raise ValueError(f"covariance_type={self.name!r} has no prior here")
        kappa, m0, nu, psi = (prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior,
                              prior.covariance_prior)
        chol = params.precisions_cholesky
        k, d = params.means.shape
        twin = self._twin(k)
        if twin is not None:
            in_layout = params._replace(precisions_cholesky=_in_layout(twin, chol),
                                        covariances=_in_layout(twin, params.covariances))
            return COVARIANCE_MODELS[twin].log_prior_terms(
                in_layout, dataclasses.replace(prior, covariance_prior=_twin_scale(twin, psi)), total)
        precisions = self.precisions_from_cholesky(chol)
        log_det = -2.0 * self.log_det(chol, d)  # log |Sigma_k|
        offset = params.means - m0
        total += -0.5 * kappa * float(np.einsum("ka,kab,kb->", offset, precisions, offset))
        s2 = np.trace(psi) / d
        c = 1.0 if kappa > 0 else 0.0
        trace_precision = np.trace(precisions, axis1=1, axis2=2)
        trace = float(np.einsum("ab,kba->", psi, precisions))
        if self.name == "EII":
            return total - ((nu + 2.0) / 2.0 + c * k * d / 2.0) * log_det[0] / d
        if self.name == "VEI":
            return total - np.sum((nu + 3.0) / 2.0 * log_det / d) - 0.5 * s2 * trace_precision.sum()
        if self.name == "EVI":
            return total - (nu + 2.0) / 2.0 * log_det[0] - 0.5 * s2 * trace_precision.sum()
        if self.name == "EEV":
            return total - (nu + d + 2.0) / 2.0 * log_det[0] - 0.5 * trace
        return total - 0.5 * trace

    def variational(self, psi0, nk, sk, diff, beta0, beta, nu0):
        raise ValueError(f"covariance_type={self.name!r}: variational Bayes takes 'full', 'tied', 'diag' "
                         "and 'spherical'")

    def precision_cholesky(self, covariances, float32=False):
        """As for 'full', and a covariance whose eigenvalues span more than 1 / eps
        (or are not finite) is ill-defined: mclust stops there (its rcond test)
        and reports no value, where a Cholesky factor could still be formed."""
        finite = np.all(np.isfinite(covariances), axis=(1, 2))
        if not finite.all():
            raise IllDefinedCovariance(ill_defined_message(float32))
        eigenvalues = np.linalg.eigvalsh(covariances)
        if np.any(eigenvalues[:, 0] <= np.finfo(np.float64).eps * eigenvalues[:, -1]):
            raise IllDefinedCovariance(ill_defined_message(float32))
        return super().precision_cholesky(covariances, float32)

    def n_covariance_parameters(self, k, d):
        return float(_n_covariance_parameters(self.name, k, d))

    def free_per_component(self, d):
        volume, shape, orientation = self.name
        return (d + (volume == "V") + (d - 1) * (shape == "V") + d * (d - 1) // 2 * (orientation == "V"))


DECOMPOSED_MODELS = {name: Decomposed(name) for name in MCLUST_MODELS}
