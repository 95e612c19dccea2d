"""fastem.BayesianGaussianMixture: scikit-learn's BayesianGaussianMixture on fastem's compiled pass."""

from numbers import Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from fastem import gaussian, variational
from fastem._base import BaseGaussianMixture
from fastem._validation import (FLOAT_DTYPES, check_means_init, check_precision_values, check_precisions_init,
                                check_shape, check_weights_init)
from fastem.covariance import COVARIANCE_MODELS, SKLEARN_MODELS


class BayesianGaussianMixture(BaseGaussianMixture):
    """Gaussian mixture fitted by mean-field variational Bayes on compiled kernels.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    parameters, fitted attributes, methods, warnings and errors, and for the
    same ``random_state`` the same result (``lower_bound_`` is the evidence
    lower bound as scikit-learn defines it, constants dropped). In addition,
    ``fit`` and ``fit_predict`` take ``sample_weight`` (weights act as
    replicated rows in the expected statistics), the pass over the data
    runs on ``n_threads`` threads with a result independent of their number,
    and NaN marks a missing entry, which q then covers: q(z, x_m) =
    q(z) q(x_m | z) (fastem.missing).

    Parameters
    ----------
    n_components : int, default=1
        The number of components (an upper bound: the prior may leave some
        with weights near zero).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}, default='kmeans'
        'hc': mclust's hierarchical start, as for :class:`fastem.GaussianMixture`.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, default='dirichlet_process'
    weight_concentration_prior : float, default=None
        gamma0 (Dirichlet process) or alpha0 (Dirichlet); None: 1 / n_components.
    mean_precision_prior : float, default=None
        beta0; None: 1.
    mean_prior : array-like of shape (n_features,), default=None
        m0; None: the (weighted) mean of X.
    degrees_of_freedom_prior : float, default=None
        nu0 > n_features - 1; None: n_features.
    covariance_prior : float or array-like, default=None
        Psi0: (n_features, n_features) for 'full' and 'tied', (n_features,)
        for 'diag', a float for 'spherical'. None: the (weighted) covariance
        of X, its diagonal, or the mean of its diagonal.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int or None, default=None
    learning_decay : float in (0.5, 1], default=0.7
        kappa of :meth:`partial_fit`'s step size (t + learning_offset)^(-kappa).
    learning_offset : float >= 0, default=10.0
        t0 of :meth:`partial_fit`'s step size.
    convergence : {'bound', 'relative', 'parameters'}, default='bound'
        'bound' stops when the bound changes by less than ``tol`` (scikit-learn's
        rule); 'relative' when the total bound L (the mean times the rows'
        total weight) changes by less than ``tol * (1 + |L|)``, keeping the
        parameters that bound was measured at (mclust's rule and convention;
        mclust's tol is 1e-5); 'parameters' when no parameter array changes by
        more than ``tol`` relative to its largest entry.
    weights_init, means_init, precisions_init : array-like, default=None
        The values ``fixed`` holds (shapes as for GaussianMixture); given
        for a parameter ``fixed`` does not name, a ValueError.
    fixed : str or tuple of str, default=None
        Any of 'weights', 'means', 'covariances': held at the values above,
        their q a point mass with no prior, the rest of q fitted given them
        (fastem.variational). ``weights_`` then holds the given weights,
        ``weight_concentration_`` the q the weights would have were they
        free; held means leave ``mean_precision_`` unused, held covariances
        ``degrees_of_freedom_``.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        As in GaussianMixture; the weights are E[pi] under q.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
    lower_bounds_ : list of float
    weight_concentration_prior_ : float
    weight_concentration_ : ndarray or tuple of two ndarrays
    mean_precision_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_prior_ : float
    degrees_of_freedom_ : ndarray of shape (n_components,) or float ('tied')
    covariance_prior_ : float or ndarray
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    """

    _parameter_constraints: dict = {
        **BaseGaussianMixture._parameter_constraints,
        "covariance_type": [StrOptions(set(SKLEARN_MODELS))],
        "weight_concentration_prior_type": [StrOptions({"dirichlet_process", "dirichlet_distribution"})],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "fixed": [None, str, list, tuple],
    }

    # Held inside the variational update (variational.Held), not by replacing state fields.
    _FIXABLE = {"weights": ((), "weights_init"), "means": ((), "means_init"),
                "covariances": ((), "precisions_init")}

    _needs_entropy = True

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        learning_decay=0.7,
        learning_offset=10.0,
        convergence="bound",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        fixed=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.convergence = convergence
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.fixed = fixed

    # ---------------------------------------------------------------- hooks

    def _resolve(self, source):
        """The hyperparameters, with scikit-learn's defaults and checks."""
        n_features = source.n_features
        alpha = 1.0 / self.n_components if self.weight_concentration_prior is None else self.weight_concentration_prior
        beta = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        needs_moments = self.mean_prior is None or self.covariance_prior is None
        mean, covariance = source.moments() if needs_moments else (None, None)
        if self.mean_prior is None:
            mean_prior = mean
        else:
            mean_prior = check_array(self.mean_prior, dtype=FLOAT_DTYPES, ensure_2d=False)
            check_shape(mean_prior, (n_features,), "means")
        if self.degrees_of_freedom_prior is None:
            nu = float(n_features)
        elif self.degrees_of_freedom_prior > n_features - 1.0:
            nu = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' should be greater than %d, but got %.3f."
                % (n_features - 1, self.degrees_of_freedom_prior)
            )
        ctype = self.covariance_type
        model = COVARIANCE_MODELS[ctype]
        if self.covariance_prior is None:
            psi = model.variational_prior_scale(covariance)
        elif model.scale_shape(n_features) != ():
            psi = check_array(self.covariance_prior, dtype=FLOAT_DTYPES, ensure_2d=False)
            check_shape(psi, model.scale_shape(n_features), f"{ctype} covariance_prior")
            check_precision_values(psi, ctype)
        else:
            psi = self.covariance_prior
        return variational.VBPrior(
            self.weight_concentration_prior_type, alpha, beta, np.asarray(mean_prior, dtype=np.float64), nu,
            np.asarray(psi, dtype=np.float64) if model.scale_shape(n_features) != () else float(psi),
        )

    def _set_resolved(self, prior):
        self.weight_concentration_prior_ = prior.weight_concentration_prior
        self.mean_precision_prior_ = prior.mean_precision_prior
        self.mean_prior_ = prior.mean_prior
        self.degrees_of_freedom_prior_ = prior.degrees_of_freedom_prior
        self.covariance_prior_ = prior.covariance_prior

    def _held(self, n_features):
        """The held parameters (``fixed``) as variational.Held, validated."""
        fixed = self._fixed()
        if not fixed:
            return variational.NOTHING_HELD
        ctype, k = self.covariance_type, self.n_components
        weights = means = covariances = chol = None
        if "weights" in fixed:
            weights = np.asarray(check_weights_init(self.weights_init, k), dtype=np.float64)
        if "means" in fixed:
            means = np.asarray(check_means_init(self.means_init, k, n_features), dtype=np.float64)
        if "covariances" in fixed:
            precisions = check_precisions_init(self.precisions_init, ctype, k, n_features)
            chol = gaussian.cholesky_from_precisions(np.asarray(precisions, dtype=np.float64), ctype)
            covariances = gaussian.covariances_from_cholesky(chol, ctype)
        return variational.Held(weights, means, covariances, chol)

    def _check_initial_parameters(self, n_features):
        super()._check_initial_parameters(n_features)
        fixed = self._fixed()
        for name, (_, init) in self._FIXABLE.items():
            if getattr(self, init) is not None and name not in fixed:
                raise ValueError(f"{init} is used by BayesianGaussianMixture only to hold {name!r} (fixed="
                                 f"{name!r}); variational Bayes starts from init_params")
        self._held(n_features)

    def _update_rule(self, prior, dtype):
        ctype, reg_covar = self.covariance_type, self.reg_covar
        held = self._held(prior.mean_prior.shape[0])  # validated once per fit; each state carries it
        return lambda stats, total_weight=None: variational.update(stats, ctype, reg_covar, dtype, prior, held)

    def _bound(self, stats, old, new, prior, total_weight):
        return variational.lower_bound(stats.entropy, new, self.covariance_type, prior.prior_type, stats, prior)

    def _kernel_params_of(self, state, reference=None):
        return variational.kernel_params(state, self.covariance_type, self.weight_concentration_prior_type, reference)

    def _state(self):
        f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        concentration = self.weight_concentration_
        if isinstance(concentration, tuple):
            concentration = tuple(f64(c) for c in concentration)
        else:
            concentration = f64(concentration)
        dof = self.degrees_of_freedom_ if COVARIANCE_MODELS[self.covariance_type].shared else f64(self.degrees_of_freedom_)
        return variational.VBState(concentration, f64(self.mean_precision_), f64(self.means_), dof,
                                   f64(self.covariances_), f64(self.precisions_cholesky_),
                                   self._held(self.means_.shape[1]))

    def _set_state(self, state, dtype):
        self.weight_concentration_ = state.weight_concentration
        self.mean_precision_ = state.mean_precision
        self.degrees_of_freedom_ = state.degrees_of_freedom
        weights = state.held.weights
        if weights is None:
            weights = variational.expected_weights(state, self.weight_concentration_prior_type)
        self.weights_ = weights.astype(dtype)
        self.means_ = state.means.astype(dtype)
        self.covariances_ = np.asarray(state.covariances).astype(dtype)
        self.precisions_cholesky_ = np.asarray(state.precisions_cholesky).astype(dtype)
        self.precisions_ = gaussian.precisions_from_cholesky(state.precisions_cholesky, self.covariance_type).astype(dtype)
