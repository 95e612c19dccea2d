"""The Gaussian covariance models: one registry entry per model.

Each entry says, for its model, everything that depends on it: the shapes
of its parameters, the kernel layout and the precision factors the pass
reads, log-determinants, the covariances of the ML, MAP and variational
updates from the weighted scatter, its parameter count, its prior's
default and checks, sampling, and how the compiled update (fastem._kernels._update)
holds it. fastem.gaussian, fastem.prior, fastem.variational and the
estimators look the entry up by name (``COVARIANCE_MODELS[covariance_type]``);
a new model is a new entry.

=========== ======================= =================================
model       covariances             precisions_cholesky
=========== ======================= =================================
'full'      (k, d, d)               (k, d, d), upper triangular
'tied'      (d, d)                  (d, d), upper triangular
'diag'      (k, d)                  (k, d), 1 / sqrt(variance)
'spherical' (k,)                    (k,), 1 / sqrt(variance)
'EII' ...   (k, d, d)               (k, d, d), upper triangular
=========== ======================= =================================

The last row stands for mclust's 14 models (fastem.decomposed), maximum
likelihood only.
"""

import numpy as np
from scipy.special import gammaln, multigammaln

from fastem._kernels import DIAG, FULL
from fastem._kernels._update import COLLAPSED_MAX_COUNT, DIAG_COV, FULL_COV, NOISE_ULPS, SPHERICAL_COV, TIED_COV

LOG_2PI = np.log(2.0 * np.pi)


class IllDefinedCovariance(ValueError):
    """A covariance matrix is not positive definite."""


def ill_defined_message(float32):
    message = (
        "Fitting the mixture model failed because some components have "
        "ill-defined empirical covariance (for instance caused by singleton "
        "or collapsed samples). Try to decrease the number of components, "
        "increase reg_covar, or scale the input data."
    )
    if float32:
        message += (
            " The numerical accuracy can also be improved by passing float64"
            " data instead of float32."
        )
    return message


def weights_log_prior(weights, alpha):
    """log Dirichlet(weights; alpha), leaving out components of weight zero (they have
    left the model; with alpha < 1 their density term would be +inf)."""
    alive = weights > 0
    return gammaln(alpha.sum()) - gammaln(alpha).sum() + np.sum((alpha[alive] - 1.0) * np.log(weights[alive]))


def count_pad(dtype):
    """What every component's count gets added (scikit-learn's 10 eps of the data's dtype)."""
    return 10.0 * float(np.finfo(dtype).eps)


class _Matrices:
    """Models held as matrices ('full', 'tied'): the pass's FULL layout, Cholesky factors.

    ``ml_covariances`` and ``map_covariances`` take ``start``, the previous covariances,
    which only a model whose M-step iterates (``iterative``, fastem.decomposed) reads."""

    layout = FULL
    iterative = False

    def scale_shape(self, d):
        """Shape of the prior's scale Psi0 (a covariance of one component)."""
        return (d, d)

    def scatter_about_mean(self, stats):
        """S2 - S1 S1^T / N, entries within rounding of the subtraction set to zero
        (see fastem.gaussian.moments): a collapsed component has exactly zero scatter."""
        n = stats.n
        safe_n = np.where(n > 0.0, n, 1.0)
        second = stats.s2
        scatter = second - stats.s1[:, :, None] * stats.s1[:, None, :] / safe_n[:, None, None]
        scale = np.sqrt(np.abs(np.diagonal(second, axis1=1, axis2=2)))
        noise = NOISE_ULPS * np.finfo(np.float64).eps * scale[:, :, None] * scale[:, None, :]
        return np.where(np.abs(scatter) <= noise, 0.0, scatter)

    def second_coefficients(self, chol3, offset):
        """(P m, the coefficients of the second-order features) for precisions P = U U^T."""
        n_features = chol3.shape[-1]
        precision = chol3 @ np.swapaxes(chol3, 1, 2)
        linear = np.einsum("kab,kb->ka", precision, offset)
        upper_a, upper_c = np.triu_indices(n_features)
        return linear, np.where(upper_a == upper_c, -0.5, -1.0) * precision[:, upper_a, upper_c]

    def precision_cholesky(self, covariances, float32=False):
        try:
            lower = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise IllDefinedCovariance(ill_defined_message(float32)) from None
        eye = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape)
        return np.swapaxes(np.linalg.solve(lower, eye), -1, -2)

    def cholesky_from_precisions(self, precisions):
        flipped = np.flip(precisions, axis=(-2, -1))
        return np.flip(np.linalg.cholesky(flipped), axis=(-2, -1))

    def precisions_from_cholesky(self, chol):
        return chol @ np.swapaxes(chol, -1, -2)

    def covariances_from_cholesky(self, chol):
        eye = np.broadcast_to(np.eye(chol.shape[-1]), chol.shape)
        inverse = np.linalg.solve(np.swapaxes(chol, -1, -2), eye)
        return inverse @ np.swapaxes(inverse, -1, -2)

    def map_scatter(self, scatter, shrink, offset):
        """B_k = S_k + kappa0 N_k / (N_k + kappa0) (xbar_k - m0)(xbar_k - m0)^T."""
        return scatter + shrink[:, None, None] * offset[:, :, None] * offset[:, None, :]

    def log_prior_terms(self, params, prior, total):
        """``total`` plus the log density of the means' and precisions' prior (normal-inverse-Wishart)."""
        kappa, m0, nu, psi = prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior, prior.covariance_prior
        chol = params.precisions_cholesky
        k, d = params.means.shape
        offset = params.means - m0
        log_det_precision = 2.0 * self.log_det(chol, d)  # (k,) or scalar
        precisions = self.precisions_from_cholesky(chol)
        if kappa > 0:
            projected = np.einsum("kc,kca->ka", offset, np.broadcast_to(chol, (k, d, d)))
            quadratic = (projected**2).sum(axis=1)
            total += np.sum(0.5 * d * (np.log(kappa) - LOG_2PI) + 0.5 * log_det_precision - 0.5 * kappa * quadratic)
        _, log_det_psi = np.linalg.slogdet(psi)
        trace = np.einsum("ij,...ji->...", psi, precisions)
        inverse_wishart = (0.5 * nu * log_det_psi - 0.5 * nu * d * np.log(2.0) - multigammaln(0.5 * nu, d)
                           + 0.5 * (nu + d + 1) * log_det_precision - 0.5 * trace)
        total += np.sum(inverse_wishart)
        return total

    def default_covariance_prior(self, data_cov, average, floor, shrink):
        """mclust's default Psi0: cov(X) k^(-2/d), made positive definite where cov(X) is singular."""
        d = data_cov.shape[0]
        psi = data_cov * shrink
        if np.linalg.eigvalsh(psi)[0] <= floor * shrink:
            psi = psi + floor * shrink * np.eye(d)
        return psi

    def check_covariance_prior(self, value, n_features):
        d = n_features
        psi = np.asarray(value, dtype=np.float64)
        ok = psi.shape == (d, d) and np.all(np.isfinite(psi)) and np.allclose(psi, psi.T)
        ok = ok and np.all(np.linalg.eigvalsh(psi) > 0)
        if not ok:
            raise ValueError(
                f"covariance_prior must be a symmetric positive definite array of shape ({d}, {d}) "
                f"for covariance_type='{self.name}', got shape {psi.shape}"
            )
        return psi

    def variational_prior_scale(self, covariance):
        """scikit-learn's default covariance_prior of BayesianGaussianMixture: the data's covariance."""
        return covariance

    def check_precisions(self, precisions):
        """Symmetric positive definite matrices, with scikit-learn's message."""
        n_features = precisions.shape[-1]
        matrices = precisions.reshape((-1, n_features, n_features))
        symmetric = np.allclose(matrices, np.swapaxes(matrices, 1, 2))
        if not (symmetric and np.all(np.linalg.eigvalsh(matrices) > 0.0)):
            raise ValueError(f"'{self.name} precision' should be symmetric, positive-definite")


class _Diagonals:
    """Models held as variances ('diag', 'spherical'): the pass's DIAG layout."""

    layout = DIAG
    iterative = False

    def scatter_about_mean(self, stats):
        n = stats.n
        safe_n = np.where(n > 0.0, n, 1.0)
        second = stats.s2
        scatter = second - stats.s1**2 / safe_n[:, None]
        return np.where(scatter <= NOISE_ULPS * np.finfo(np.float64).eps * second, 0.0, scatter)

    def second_coefficients(self, chol3, offset):
        precision = chol3[:, 0, :] ** 2
        return precision * offset, -0.5 * precision

    def variances(self, stats, scatter, nk, reg_covar, dtype):
        """Per-feature variances (k, d), scikit-learn's for a collapsed feature.

        A collapsed feature of a component (zero scatter: one value) gets
        the variance scikit-learn's E[x^2] - mu^2 leaves with padded counts,
        pad S2 / nk^2 ~ 10 eps mu^2 / N about the origin, where that exceeds
        twice the rounding of its subtraction (~eps mu^2), i.e. for N below
        5: there scikit-learn's variance is positive and it fits on with
        reg_covar=0, so fastem does too. Above, its sign is rounding's and
        scikit-learn mostly raises; at the origin or for an empty component
        it is zero and raises: fastem takes zero there. A sum about the
        origin within rounding of zero is zero.
        """
        n = stats.n
        shift = n[:, None] * stats.reference
        origin = stats.s1 + shift
        noise = NOISE_ULPS * np.finfo(np.float64).eps * (np.abs(stats.s1) + np.abs(shift))
        origin = np.where((np.abs(origin) <= noise) | (n[:, None] >= COLLAPSED_MAX_COUNT), 0.0, origin)
        safe_n = np.where(n > 0.0, n, 1.0)[:, None]
        collapsed = count_pad(dtype) * origin * origin / (safe_n * nk[:, None] * nk[:, None])
        return np.where(scatter == 0.0, collapsed, scatter / nk[:, None]) + reg_covar

    def precision_cholesky(self, covariances, float32=False):
        if not np.all(covariances > 0.0):
            raise IllDefinedCovariance(ill_defined_message(float32))
        return 1.0 / np.sqrt(covariances)

    def cholesky_from_precisions(self, precisions):
        return np.sqrt(precisions)

    def precisions_from_cholesky(self, chol):
        return chol**2

    def covariances_from_cholesky(self, chol):
        return 1.0 / chol**2

    def map_scatter(self, scatter, shrink, offset):
        return scatter + shrink[:, None] * offset**2

    def log_prior_terms(self, params, prior, total):
        """``total`` plus the log density of the means' and variances' prior (normal-inverse-gamma)."""
        kappa, m0, nu, psi = prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior, prior.covariance_prior
        chol = params.precisions_cholesky
        d = params.means.shape[1]
        offset = params.means - m0
        variances = self.full_variances(1.0 / chol**2, d)
        if kappa > 0:
            total += np.sum(-0.5 * LOG_2PI + 0.5 * np.log(kappa) - 0.5 * np.log(variances) - 0.5 * kappa * offset**2 / variances)
        total += self.inverse_gamma_terms(variances, 0.5 * nu, 0.5 * self.full_scale(psi, d))
        return total

    def check_precisions(self, precisions):
        if np.any(precisions <= 0.0):
            raise ValueError(f"'{self.name} precision' should be positive")


class Full(_Matrices):
    """Each component its own covariance matrix."""

    name, code, shared = "full", FULL_COV, False

    def shape(self, k, d):
        return (k, d, d)

    def chol3(self, chol, k, d):
        return np.ascontiguousarray(chol, dtype=np.float64)

    def log_det(self, chol, d):
        return np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)

    def ml_covariances(self, stats, scatter, nk, reg_covar, dtype, start=None):
        covariances = scatter / nk[:, None, None]
        idx = np.arange(covariances.shape[1])
        covariances[:, idx, idx] += reg_covar
        return covariances

    def map_covariances(self, b, nk, psi, nu, c, d, reg_covar, start=None):
        return (psi + b) / (nu + nk + d + 1 + c)[:, None, None] + reg_covar * np.eye(d)

    def variational(self, psi0, nk, sk, diff, beta0, beta, nu0):
        nu = nu0 + nk
        covariances = psi0 + nk[:, None, None] * sk + (nk * beta0 / beta)[:, None, None] * diff[:, :, None] * diff[:, None, :]
        return nu, covariances / nu[:, None, None]

    def n_covariance_parameters(self, k, d):
        return k * d * (d + 1) / 2.0

    def free_per_component(self, d):
        return d + d * (d + 1) // 2

    def component_covariances(self, covariances, k):
        return covariances

    def from_slots(self, cov, chol):
        return cov, chol

    def sample(self, rng, means, covariances, counts):
        return [rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(means, covariances, counts)]


class Tied(_Matrices):
    """One covariance matrix shared by every component."""

    name, code, shared = "tied", TIED_COV, True

    def shape(self, k, d):
        return (d, d)

    def chol3(self, chol, k, d):
        return np.ascontiguousarray(np.broadcast_to(chol, (k, d, d)), dtype=np.float64)

    def log_det(self, chol, d):
        return np.log(np.diagonal(chol)).sum()

    def ml_covariances(self, stats, scatter, nk, reg_covar, dtype, start=None):
        covariances = scatter.sum(axis=0) / nk.sum()
        covariances.flat[:: covariances.shape[0] + 1] += reg_covar
        return covariances

    def map_covariances(self, b, nk, psi, nu, c, d, reg_covar, start=None):
        return (psi + b.sum(axis=0)) / (nu + nk.sum() + d + 1 + c * nk.shape[0]) + reg_covar * np.eye(d)

    def variational(self, psi0, nk, sk, diff, beta0, beta, nu0):
        k = nk.shape[0]
        nu = nu0 + nk.sum() / k
        covariances = psi0 + sk * nk.sum() / k + beta0 / k * ((nk / beta) * diff.T) @ diff
        return nu, covariances / nu

    def n_covariance_parameters(self, k, d):
        return d * (d + 1) / 2.0

    def free_per_component(self, d):
        return d

    def component_covariances(self, covariances, k):
        return [covariances] * k

    def from_slots(self, cov, chol):
        return cov[..., 0, :, :], chol[..., 0, :, :]

    def sample(self, rng, means, covariances, counts):
        return Full.sample(self, rng, means, [covariances] * len(means), counts)


class Diag(_Diagonals):
    """Each component its own diagonal covariance."""

    name, code, shared = "diag", DIAG_COV, False

    def scale_shape(self, d):
        return (d,)

    def shape(self, k, d):
        return (k, d)

    def chol3(self, chol, k, d):
        return np.ascontiguousarray(chol[:, None, :], dtype=np.float64)

    def log_det(self, chol, d):
        return np.log(chol).sum(axis=1)

    def ml_covariances(self, stats, scatter, nk, reg_covar, dtype, start=None):
        return self.variances(stats, scatter, nk, reg_covar, dtype)

    def map_covariances(self, b, nk, psi, nu, c, d, reg_covar, start=None):
        return (psi + b) / (nu + nk + 2 + c)[:, None] + reg_covar

    def variational(self, psi0, nk, sk, diff, beta0, beta, nu0):
        nu = nu0 + nk
        return nu, (psi0 + nk[:, None] * (sk + (beta0 / beta)[:, None] * diff**2)) / nu[:, None]

    def full_variances(self, variances, d):
        return variances

    def full_scale(self, psi, d):
        return psi

    def inverse_gamma_terms(self, variances, a, b):
        return np.sum(a * np.log(b) - gammaln(a) - (a + 1.0) * np.log(variances) - b / variances)

    def default_covariance_prior(self, data_cov, average, floor, shrink):
        return np.full(data_cov.shape[0], max(average, floor) * shrink)

    def check_covariance_prior(self, value, n_features):
        psi = np.asarray(value, dtype=np.float64)
        if psi.shape != (n_features,) or not np.all(np.isfinite(psi)) or np.any(psi <= 0):
            raise ValueError(f"covariance_prior must be a positive array of shape ({n_features},) "
                             "for covariance_type='diag'")
        return psi

    def variational_prior_scale(self, covariance):
        return np.diagonal(covariance).copy()

    def n_covariance_parameters(self, k, d):
        return k * d

    def free_per_component(self, d):
        return 2 * d

    def from_slots(self, cov, chol):
        return cov[..., 0, :], chol[..., 0, :]

    def sample(self, rng, means, covariances, counts):
        d = means.shape[1]
        return [m + rng.standard_normal(size=(s, d)) * np.sqrt(c) for m, c, s in zip(means, covariances, counts)]


class Spherical(_Diagonals):
    """Each component its own single variance."""

    name, code, shared = "spherical", SPHERICAL_COV, False

    def scale_shape(self, d):
        return ()

    def shape(self, k, d):
        return (k,)

    def chol3(self, chol, k, d):
        return np.ascontiguousarray(np.broadcast_to(chol[:, None, None], (k, 1, d)), dtype=np.float64)

    def log_det(self, chol, d):
        return d * np.log(chol)

    def ml_covariances(self, stats, scatter, nk, reg_covar, dtype, start=None):
        return self.variances(stats, scatter, nk, reg_covar, dtype).mean(axis=1)

    def map_covariances(self, b, nk, psi, nu, c, d, reg_covar, start=None):
        return (psi + b.sum(axis=1)) / (nu + d * nk + 2 + c * d) + reg_covar

    def variational(self, psi0, nk, sk, diff, beta0, beta, nu0):
        nu = nu0 + nk
        return nu, (psi0 + nk * (sk + beta0 / beta * np.mean(diff**2, axis=1))) / nu

    def full_variances(self, variances, d):
        return np.repeat(variances[:, None], d, axis=1)

    def full_scale(self, psi, d):
        return np.full(d, psi)

    def inverse_gamma_terms(self, variances, a, b):
        v = variances[:, 0]
        return np.sum(a * np.log(b[0]) - gammaln(a) - (a + 1.0) * np.log(v) - b[0] / v)

    def default_covariance_prior(self, data_cov, average, floor, shrink):
        return max(average, floor) * shrink

    def check_covariance_prior(self, value, n_features):
        psi = np.asarray(value, dtype=np.float64)
        if psi.ndim != 0 or not np.isfinite(psi) or psi <= 0:
            raise ValueError("covariance_prior must be a positive float for covariance_type='spherical'")
        return float(psi)

    def variational_prior_scale(self, covariance):
        return float(np.diagonal(covariance).mean())

    def n_covariance_parameters(self, k, d):
        return k

    def free_per_component(self, d):
        return d + 1

    def from_slots(self, cov, chol):
        return cov[..., 0, 0], chol[..., 0, 0]

    def sample(self, rng, means, covariances, counts):
        return Diag.sample(self, rng, means, covariances, counts)


#: scikit-learn's covariance models, in its order.
SKLEARN_MODELS = ("full", "tied", "diag", "spherical")
#: The covariance models by name: scikit-learn's, then mclust's (fastem.decomposed).
COVARIANCE_MODELS = {model.name: model for model in (Full(), Tied(), Diag(), Spherical())}

from fastem.decomposed import DECOMPOSED_MODELS  # noqa: E402  (its entries build on Full)

COVARIANCE_MODELS.update(DECOMPOSED_MODELS)
