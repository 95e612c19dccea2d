"""fastem.GaussianMixture: scikit-learn's GaussianMixture on fastem's compiled pass."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions

from fastem import _small, gaussian
from fastem._base import _NOT_CONVERGED, BaseGaussianMixture, CriteriaMixin
from fastem._kmeans import warn_few_clusters
from fastem._progress import fit_monitor
from fastem._source import ArraySource, MLSteps
from fastem._validation import check_means_init, check_precisions_init, check_weights_init
from fastem.covariance import COVARIANCE_MODELS, SKLEARN_MODELS
from fastem.decomposed import MAP_MODELS, decomposition
from fastem.prior import GaussianPrior, resolve_prior


class GaussianMixture(CriteriaMixin, BaseGaussianMixture):
    """Gaussian mixture fitted by maximum-likelihood EM on compiled kernels.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, fitted attributes, methods, warnings and errors, and for the
    same ``random_state`` the same result. In addition, ``fit`` and
    ``fit_predict`` take ``sample_weight``, and the pass over the data runs
    in parallel on ``n_threads`` threads with a result independent of the
    thread count.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical', 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', 'EEE', 'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all
        components share one; 'diag': each has its own diagonal covariance;
        'spherical': each has its own single variance. mclust's three
        letters (fastem.decomposed) say whether each component's volume,
        shape and orientation are Equal, Varying or the Identity; their
        covariances and precisions are (n_components, n_features,
        n_features) arrays; all but EEI, VEE, EVE, VVE and EVV also take
        mclust's prior (fastem.decomposed.MAP_MODELS).
    tol : float, default=1e-3
        Convergence threshold: EM stops when the mean log-likelihood changes
        by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        The number of EM iterations per initialization.
    n_init : int, default=1
        The number of initializations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}, default='kmeans'
        How the initial responsibilities are drawn. 'hc' is mclust's start:
        the partition into n_components groups of a model-based
        agglomerative hierarchical clustering of the rows on mclust's scaled
        SVD coordinates (fastem._hc; a sample of 2,000 rows drawn with
        ``random_state`` when there are more, the others left to the first
        E-step); for one feature, quantile classes, as mclust starts. It is
        deterministic, so n_init > 1 repeats it.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Shape (n_components,) for 'spherical', (n_features, n_features) for
        'tied', (n_components, n_features) for 'diag' and (n_components,
        n_features, n_features) for 'full'.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution (``n_init`` is then
        ignored after the first fit).
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int or None, default=None
        Threads for the pass over the data; None uses every thread Numba has.
    prior : None, 'default' or GaussianPrior, default=None
        None fits by maximum likelihood. 'default' or a
        :class:`fastem.GaussianPrior` fits by MAP-EM under the conjugate
        prior (mclust's defaults for every unset hyperparameter): the fit
        then never fails a Cholesky factorization (but for mclust's EII,
        whose prior has no scale, on data without spread), and
        ``lower_bound_`` is the log-posterior per sample (for mclust's
        models, up to a constant). ``score``, ``score_samples``, ``bic`` and
        ``aic`` stay the log-likelihood, taken at the MAP estimate.
    learning_decay : float in (0.5, 1], default=0.7
        kappa of :meth:`partial_fit`'s step size (t + learning_offset)^(-kappa).
    learning_offset : float >= 0, default=10.0
        t0 of :meth:`partial_fit`'s step size.
    convergence : {'bound', 'relative', 'parameters'}, default='bound'
        'bound' stops when the bound changes by less than ``tol`` (scikit-learn's
        rule); 'relative' when the total log-likelihood L (under MAP: without
        the log prior) changes by less than ``tol * (1 + |L|)``, keeping the
        parameters it was measured at (mclust's rule and convention; mclust's
        tol is 1e-5); 'parameters' when no parameter array changes by more
        than ``tol`` relative to its largest entry.
    fixed : str or tuple of str, default=None
        Parameters held at their initial values while the others are fitted
        (a constrained M-step: the bound still never decreases): any of
        'weights' (held at ``weights_init``), 'means' (``means_init``; the
        covariances are then taken about them) and 'covariances'
        (``precisions_init``). ``bic``, ``aic`` and ``select`` count only the
        fitted parameters.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape by ``covariance_type``, as ``precisions_init``.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
        Upper-triangular U with precision = U U^T (full, tied), or
        1 / sqrt(variance) (diag, spherical).
    volume_ : ndarray of shape (n_components,)
    shape_ : ndarray of shape (n_components, n_features)
    orientation_ : ndarray of shape (n_components, n_features, n_features)
        The eigen-decomposition covariance_k = volume_k D_k diag(shape_k) D_k^T
        (Celeux and Govaert 1995) with D_k = orientation_[k] (axes as columns)
        and prod(shape_k) = 1, in the terms of the covariance type's mclust
        name ('full', 'tied', 'diag', 'spherical' are VVV, EEE, VVI, VII):
        an Identity orientation is the coordinate axes, an Equal one the first
        component's eigenvectors, a Varying one each component's own, with
        its shape in descending order (fastem.decomposed.decomposition).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean (sample-weighted) log-likelihood of the best initialization at
        its last iteration; with a prior, (log-likelihood + log prior) / n.
    lower_bounds_ : list of float
        The bound at every iteration of the best initialization.
    prior_ : GaussianPrior
        The resolved hyperparameters (only with a prior).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    """

    _parameter_constraints: dict = {
        **BaseGaussianMixture._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "prior": [None, StrOptions({"default"}), GaussianPrior],
        "fixed": [None, str, list, tuple],
    }

    _FIXABLE = {
        "weights": (("weights",), "weights_init"),
        "means": (("means",), "means_init"),
        "covariances": (("covariances", "precisions_cholesky"), "precisions_init"),
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        prior=None,
        learning_decay=0.7,
        learning_offset=10.0,
        convergence="bound",
        fixed=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.prior = prior
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.convergence = convergence
        self.fixed = fixed

    # ---------------------------------------------------------------- hooks

    def _resolve(self, source):
        if self.prior is None:
            return None
        if self.covariance_type not in SKLEARN_MODELS + MAP_MODELS:
            raise ValueError(f"covariance_type={self.covariance_type!r} takes no prior: MAP-EM takes "
                             f"{', '.join(map(repr, SKLEARN_MODELS + MAP_MODELS))}")
        return resolve_prior(self.prior, source, self.n_components, self.covariance_type)

    def _set_resolved(self, prior):
        if prior is not None:
            self.prior_ = prior
        elif hasattr(self, "prior_"):
            del self.prior_

    def _bound(self, stats, old, new, prior, total_weight):
        """Mean log-likelihood of ``old``; with a prior, (log-likelihood + log prior(old)) / n."""
        log_posterior = stats.log_likelihood
        if prior is not None:
            log_posterior += gaussian.log_prior(old, self.covariance_type, prior)
        return log_posterior / total_weight

    @property
    def volume_(self):
        return self._decomposition()[0]

    @property
    def shape_(self):
        return self._decomposition()[1]

    @property
    def orientation_(self):
        return self._decomposition()[2]

    def _decomposition(self):
        """(volume_, shape_, orientation_) from the fitted covariances."""
        if not hasattr(self, "covariances_"):
            raise AttributeError("the decomposition of the covariances exists once the model is fitted")
        k, d = self.means_.shape
        return decomposition(self.covariance_type,
                             gaussian.full_matrices(self.covariances_, self.covariance_type, k, d))

    def _relative_measure(self, prior, total_weight):
        """The total log-likelihood, as mclust's rule compares it: under MAP the bound
        less the log prior of the parameters it was measured at."""
        if prior is None:
            return super()._relative_measure(prior, total_weight)
        ctype = self.covariance_type
        return lambda state, bound: bound * total_weight - gaussian.log_prior(state, ctype, prior)

    def _kernel_params_of(self, params, reference=None):
        return gaussian.kernel_params(params, self.covariance_type, reference)

    def _update_rule(self, prior, dtype):
        """``update(stats, total_weight=None, held_means=None[, start]) -> params``: the ML or the MAP M-step."""
        ctype, reg_covar = self.covariance_type, self.reg_covar
        if prior is None:
            return lambda stats, total_weight=None, held_means=None, start=None: gaussian.ml_update(
                stats, ctype, reg_covar, dtype, total_weight, held_means, start)
        return lambda stats, total_weight=None, held_means=None, start=None: gaussian.map_update(
            stats, ctype, reg_covar, dtype, prior, held_means, start)

    def _update_options(self, state):
        """Held means are the state's: the covariances are taken about them. An iterative
        M-step (mclust's models, fastem.decomposed) starts from the state's covariances."""
        options = {"held_means": state.means} if "means" in self._fixed() else {}
        if COVARIANCE_MODELS[self.covariance_type].iterative:
            options["start"] = state.covariances
        return options

    def _step_rule(self, source, prior, update):
        """Maximum likelihood over complete data in memory: the pass and a compiled update (see _source.MLSteps)."""
        compiled = COVARIANCE_MODELS[self.covariance_type].code is not None
        if (compiled and prior is None and isinstance(source, ArraySource) and source.missing is None
                and not self._fixed()):
            return MLSteps(source, self.n_components, self.covariance_type, self.reg_covar)
        return super()._step_rule(source, prior, update)

    def _fits_whole_in_compiled_code(self):
        """Whether the settings allow the compiled whole fit (fastem._small): maximum
        likelihood from k-means, nothing given, nothing printed, nothing carried over."""
        return (
            type(self) is GaussianMixture
            and COVARIANCE_MODELS[self.covariance_type].code is not None
            and self.prior is None
            and self.init_params == "kmeans"
            and self.weights_init is None
            and self.means_init is None
            and self.precisions_init is None
            and not self.verbose
            and self.max_iter > 0
            and self.convergence == "bound"
            and not self.fixed
            and not (self.warm_start and hasattr(self, "converged_"))
        )

    def _fit_whole(self, source):
        """Small maximum-likelihood fits from k-means run whole in compiled code (see fastem._small)."""
        if not (self._fits_whole_in_compiled_code()
                and _small.data_qualify(source.X, self.n_components, self.covariance_type)):
            return False
        monitor = fit_monitor(self, source.n_samples)
        draws = _small.kmeans_draws(check_random_state(self.random_state), self.n_init, self.n_components)
        outcome = _small.fit([source.X], [source.sample_weight], draws[None], self.covariance_type, self.n_components,
                             self.reg_covar, self.tol, self.max_iter, self.n_threads)[0]
        self._apply_outcome(outcome)
        if monitor is not None:  # the whole fit ran in compiled code: one line for all of it
            monitor.summary(self.n_iter_, self.lower_bound_, self.converged_)
        return True

    def _apply_outcome(self, outcome):
        """Fitted attributes (and warnings) from a compiled whole fit; raises its error."""
        for distinct in outcome.distinct:
            warn_few_clusters(distinct, self.n_components)
        if outcome.error is not None:
            raise outcome.error
        if not outcome.converged:
            warnings.warn(_NOT_CONVERGED, ConvergenceWarning)
        self._set_outcome(outcome)

    def _set_outcome(self, outcome):
        """Fitted attributes from a successful compiled whole fit."""
        if hasattr(self, "_online"):
            del self._online
        # Fresh float64 arrays of this fit (views into its batch): no copies.
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = outcome.params
        self.precisions_ = outcome.precisions
        self._set_resolved(None)
        self._set_run(outcome.converged, outcome.n_iter, outcome.lower_bound, outcome.lower_bounds)

    def _check_initial_parameters(self, n_features):
        """Validated copies of the user's initial parameters (never stored on self), and ``fixed``."""
        super()._check_initial_parameters(n_features)
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, self.n_components)
        if self.means_init is not None:
            means = check_means_init(self.means_init, self.n_components, n_features)
        if self.precisions_init is not None:
            precisions = check_precisions_init(self.precisions_init, self.covariance_type, self.n_components, n_features)
        return weights, means, precisions

    def _initial_state(self, source, random_state, update):
        weights_init, means_init, precisions_init = self._check_initial_parameters(source.n_features)
        ctype = self.covariance_type
        if weights_init is None or means_init is None or precisions_init is None:
            resp = source.initial_responsibilities(self.init_params, self.n_components, random_state, self.n_threads)
            params = update(self._stats_from_resp(source, resp), source.total_weight)
        else:
            params = gaussian.GaussianParams(None, None, None, None)
        weights = params.weights if weights_init is None else np.asarray(weights_init, dtype=np.float64)
        means = params.means if means_init is None else np.asarray(means_init, dtype=np.float64)
        if precisions_init is None:
            covariances, chol = params.covariances, params.precisions_cholesky
        else:
            chol = gaussian.cholesky_from_precisions(np.asarray(precisions_init, dtype=np.float64), ctype)
            covariances = gaussian.covariances_from_cholesky(chol, ctype)
        return gaussian.GaussianParams(weights, means, covariances, chol)

    def _reproduces_tied_init_quirk(self):
        return self.prior is None

    def _state(self):
        """The fitted parameters, in float64."""
        return gaussian.GaussianParams(
            *(np.asarray(a, dtype=np.float64) for a in (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_))
        )

    def _set_state(self, params, dtype):
        self.weights_ = params.weights.astype(dtype)
        self.means_ = params.means.astype(dtype)
        self.covariances_ = params.covariances.astype(dtype)
        self.precisions_cholesky_ = params.precisions_cholesky.astype(dtype)
        self.precisions_ = gaussian.precisions_from_cholesky(params.precisions_cholesky, self.covariance_type).astype(dtype)

    def _parameter_counts(self):
        k, d = self.means_.shape
        return gaussian.parameter_counts(self.covariance_type, k, d)
