"""Conjugate priors for MAP-EM: :class:`GaussianPrior` and its resolution.

The model, per component k of d features:

- weights ~ Dirichlet(alpha), alpha = ``weight_concentration_prior``;
- full: mu_k | Sigma_k ~ N(m0, Sigma_k / kappa0), Sigma_k ~ inverse-Wishart(Psi0, nu0);
- tied: the one Sigma ~ inverse-Wishart(Psi0, nu0), each mu_k | Sigma ~ N(m0, Sigma / kappa0);
- diag: each variance sigma2_kc ~ inverse-gamma(nu0 / 2, Psi0_c / 2), and
  mu_kc | sigma2_kc ~ N(m0_c, sigma2_kc / kappa0);
- spherical: sigma2_k ~ inverse-gamma(nu0 / 2, Psi0 / 2), mu_k | sigma2_k ~ N(m0, sigma2_k I / kappa0).

with m0 = ``mean_prior``, kappa0 = ``mean_precision_prior`` (0: no prior on
the means), nu0 = ``degrees_of_freedom_prior`` and Psi0 =
``covariance_prior``. These are the conventions of mclust's ``priorControl``
(Fraley and Raftery 2007); the defaults are mclust's, see :func:`resolve_prior`.
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np

from fastem.covariance import COVARIANCE_MODELS


@dataclass(frozen=True)
class GaussianPrior:
    """Hyperparameters of the conjugate prior of a Gaussian mixture (MAP-EM).

    Names and meanings follow scikit-learn's ``BayesianGaussianMixture``;
    ``None`` takes mclust's data-dependent default.

    Parameters
    ----------
    weight_concentration_prior : float or array-like of shape (n_components,), default=None
        Dirichlet concentration alpha of the weights; 1 (the default) is flat.
    mean_prior : array-like of shape (n_features,), default=None
        m0; default: the (weighted) column means of X.
    mean_precision_prior : float, default=None
        kappa0 >= 0; default 0.01. 0 puts no prior on the means.
    degrees_of_freedom_prior : float, default=None
        nu0 > n_features - 1; default n_features + 2.
    covariance_prior : float or array-like, default=None
        Psi0: (n_features, n_features) for 'full' and 'tied', (n_features,)
        for 'diag', a float for 'spherical'. Default: cov(X) / k^(2/d) for
        'full' and 'tied'; the mean variance times (1/k)^(2/d) for 'diag'
        (every entry) and 'spherical'.
    """

    weight_concentration_prior: object = None
    mean_prior: object = None
    mean_precision_prior: object = None
    degrees_of_freedom_prior: object = None
    covariance_prior: object = None


#: Rows per chunk when a statistic of the data is summed without an n x d temporary.
CHUNK_ROWS = 1 << 15


def weighted_mean(X, sample_weight=None):
    """Column means (frequency weights) in float64, summed chunk by chunk.

    The same products with and without weights, so unit weights give
    bitwise the mean of no weights.
    """
    n_samples, n_features = X.shape
    total = float(n_samples) if sample_weight is None else float(np.sum(sample_weight))
    mean = np.zeros(n_features)
    for start in range(0, n_samples, CHUNK_ROWS):
        chunk = np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64)
        w = np.ones(chunk.shape[0]) if sample_weight is None else sample_weight[start : start + CHUNK_ROWS]
        mean += w @ chunk
    return mean / total


def weighted_moments(X, sample_weight=None):
    """Column means and the unbiased covariance (frequency weights), in float64.

    Summed in chunks of rows, so no n x d temporary is made.
    """
    n_samples, n_features = X.shape
    total = float(n_samples) if sample_weight is None else float(np.sum(sample_weight))
    mean = weighted_mean(X, sample_weight)
    scatter = np.zeros((n_features, n_features))
    for start in range(0, n_samples, CHUNK_ROWS):
        centred = np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64) - mean
        w = None if sample_weight is None else sample_weight[start : start + CHUNK_ROWS]
        scatter += centred.T @ (centred if w is None else centred * w[:, None])
    return mean, scatter / max(total - 1.0, 1.0)


def resolve_prior(prior, X, n_components, covariance_type, sample_weight=None):
    """Fill every ``None`` of ``prior`` with mclust's default and validate.

    Parameters
    ----------
    prior : GaussianPrior or "default"
    X : ndarray of shape (n_samples, n_features), or a data source
        A source gives ``n_features`` and ``moments()`` (mean, covariance).
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    prior : GaussianPrior
        Every field set: alpha as an array of shape (n_components,), m0 of
        shape (n_features,), kappa0 and nu0 as floats, Psi0 shaped by
        ``covariance_type``.

    Raises
    ------
    ValueError
        Naming the hyperparameter that is out of range or of the wrong shape.
    TypeError
        When ``prior`` is neither a GaussianPrior nor "default".
    """
    if isinstance(prior, str) and prior == "default":
        prior = GaussianPrior()
    if not isinstance(prior, GaussianPrior):
        raise TypeError(f"prior must be None, 'default' or a fastem.GaussianPrior, got {prior!r}")
    if hasattr(X, "moments"):
        n_features, moments = X.n_features, X.moments
    else:
        n_features, moments = X.shape[1], lambda: weighted_moments(X, sample_weight)
    k, d = n_components, n_features
    needs_moments = prior.mean_prior is None or prior.covariance_prior is None
    data_mean, data_cov = moments() if needs_moments else (None, None)

    alpha = 1.0 if prior.weight_concentration_prior is None else prior.weight_concentration_prior
    alpha = np.asarray(alpha, dtype=np.float64)
    if alpha.ndim == 0:
        alpha = np.full(k, float(alpha))
    if alpha.shape != (k,) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(
            "weight_concentration_prior must be a positive finite float or an array of "
            f"{k} of them (one per component), got {prior.weight_concentration_prior!r}"
        )

    mean = data_mean if prior.mean_prior is None else np.asarray(prior.mean_prior, dtype=np.float64)
    if mean.shape != (d,) or not np.all(np.isfinite(mean)):
        raise ValueError(f"mean_prior must be a finite array of shape ({d},), got shape {np.shape(mean)}")

    kappa = 0.01 if prior.mean_precision_prior is None else prior.mean_precision_prior
    if not isinstance(kappa, Real) or not np.isfinite(kappa) or kappa < 0:
        raise ValueError(f"mean_precision_prior must be a finite float >= 0, got {kappa!r}")

    nu = d + 2.0 if prior.degrees_of_freedom_prior is None else prior.degrees_of_freedom_prior
    if not isinstance(nu, Real) or not np.isfinite(nu) or nu <= d - 1:
        raise ValueError(f"degrees_of_freedom_prior must be a finite float > n_features - 1 = {d - 1}, got {nu!r}")

    shrink = float(k) ** (-2.0 / d)
    model = COVARIANCE_MODELS[covariance_type]
    if prior.covariance_prior is None:
        # mclust's default; made positive definite when the data's covariance
        # is singular (a constant feature, d > n, identical rows) by adding
        # 1e-6 of the mean variance (or of 1 when every row is the same).
        average = float(np.trace(data_cov)) / d
        floor = 1e-6 * (average if average > 0 else 1.0)
        psi = model.default_covariance_prior(data_cov, average, floor, shrink)
    else:
        psi = model.check_covariance_prior(prior.covariance_prior, d)
    return GaussianPrior(alpha, mean, float(kappa), float(nu), psi)
