"""Mixtures of the LINEAR-layout families: PoissonMixture, BernoulliMixture, CategoricalMixture.

Each estimator has GaussianMixture's scikit-learn surface and runs on the
same compiled pass and driver. The family (fastem.poisson,
fastem.bernoulli, fastem.categorical) supplies the data checks, the
natural parameters and the updates; this module turns them into the hooks
of :class:`fastem._base.BaseMixture`, for maximum likelihood, MAP-EM under
the family's conjugate prior, and mean-field variational Bayes.
"""

import functools
from typing import Any, NamedTuple

import numpy as np
from scipy.special import digamma
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from fastem._base import BaseMixture, CriteriaMixin
from fastem._family import (
    FamilyParams,
    FamilyPosterior,
    dirichlet_kl,
    kernel_params,
    log_weights_of,
    placeholder_kernel_params,
)
from fastem._family_missing import WithMissing, family_missing_rows
from fastem.missing import check_no_infinity
from fastem._source import ArraySource
from fastem._validation import FLOAT_DTYPES, check_means_init, check_weights_init
from fastem.bernoulli import BernoulliFamily, BernoulliPrior
from fastem.categorical import MAX_CATEGORIES, CategoricalFamily, CategoricalPrior, check_codes
from fastem.covariance import count_pad, weights_log_prior
from fastem.poisson import PoissonFamily, PoissonPrior


class _Resolved(NamedTuple):
    """A fit's fixed settings: the family and its resolved prior (None for ML)."""

    family: Any
    prior: Any


def _ml_update(family, stats, pad, total_weight=None):
    """Maximum-likelihood parameters from a pass's statistics: the counts padded, the weights
    the counts over ``total_weight`` (by default their sum), the family's moment matching."""
    n = stats.n + pad
    return FamilyParams(n / (n.sum() if total_weight is None else total_weight), family.ml(n, stats.s1))


def _checked(X, takes_missing, input_name):
    """X validated: NaN only where the family takes missing entries, never infinity."""
    X = check_array(X, dtype=FLOAT_DTYPES, input_name=input_name, ensure_all_finite=not takes_missing)
    if takes_missing:
        check_no_infinity(X, input_name)
    return X


def _has_nan(chunk):
    """Whether a chunk holds NaN (False for one that is not numeric: its check names the fault)."""
    try:
        return bool(np.isnan(np.asarray(chunk, dtype=np.float64)).any())
    except (TypeError, ValueError):
        return False


def _block_pass_data(block, family, name):
    """A dask block as the pass reads it (module level: it runs on the workers)."""
    block = _checked(block, family.takes_missing, "X")
    return np.asarray(family.pass_data(block, name), dtype=block.dtype)


_COMMON_DOC = """
    Parameters
    ----------
    n_components : int, default=1
    tol : float, default=1e-3
        Convergence threshold on the change of the bound per unit weight.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {{'kmeans', 'k-means++', 'random', 'random_from_data'}}, default='kmeans'
        How the initial responsibilities are drawn ('kmeans' clusters the
        rows as the pass reads them{kmeans_note}).
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape {means_shape}, default=None
        {means_meaning}
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int or None, default=None
    prior : None, 'default' or {prior_name}, default=None
        None fits by maximum likelihood. 'default' or a :class:`fastem.{prior_name}`
        fits by MAP-EM under the conjugate prior ({prior_default}); the
        bound is then the log-posterior per unit weight.
    variational : bool, default=False
        Fit by mean-field variational Bayes (Dirichlet weights, the
        conjugate posterior of every component; the prior is 'default' when
        None). ``lower_bound_`` is then the evidence lower bound per unit
        weight, and the fitted ``weights_`` and ``means_`` are posterior means.
    learning_decay : float in (0.5, 1], default=0.7
        kappa of :meth:`partial_fit`'s step size.
    learning_offset : float >= 0, default=10.0
        t0 of :meth:`partial_fit`'s step size.
    convergence : {{'bound', 'relative', 'parameters'}}, default='bound'
        'bound' stops when the bound changes by less than ``tol`` (scikit-learn's
        rule); 'relative' when the total bound L (the mean times the rows'
        total weight) changes by less than ``tol * (1 + |L|)``, keeping the
        parameters that bound was measured at (mclust's rule and convention;
        mclust's tol is 1e-5); 'parameters' when no parameter array changes by
        more than ``tol`` relative to its largest entry.
    fixed : str or tuple of str, default=None
        Parameters held at their initial values while the others are fitted
        (a constrained M-step; with ``variational=True`` their q is a point
        mass at those values): {fixable}. ``bic``, ``aic`` and ``select``
        count only the fitted parameters.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape {means_shape}
        {means_meaning}
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The bound (log-likelihood, log-posterior or evidence lower bound,
        {log_base}) per unit weight of the best initialization's last iteration.
    lower_bounds_ : list of float
    prior_ : ResolvedPrior
        The prior's hyperparameters (with a prior or variational).
    weight_concentration_ : ndarray of shape (n_components,)
        Variational only: the Dirichlet posterior of the weights. With
        ``fixed`` weights (or means), this (or the family's posterior) is the
        one q would take were they free, unused: ``weights_`` and ``means_``
        hold the fixed values.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
"""


class FamilyMixture(CriteriaMixin, BaseMixture):
    """What the LINEAR-layout family mixtures share; a subclass names its family."""

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "variational": ["boolean"],
        "fixed": [None, str, list, tuple],
    }

    _FIXABLE = {"weights": (("weights",), "weights_init"), "means": (("means",), "means_init")}

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_threads=None, prior=None, variational=False, learning_decay=0.7, learning_offset=10.0,
                 convergence="bound", fixed=None):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.prior = prior
        self.variational = variational
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.convergence = convergence
        self.fixed = fixed

    # -------------------------------------------------------------- family

    #: The family class (of the number of features) of a subclass, and the
    #: attributes that hold its variational posterior's ``first`` and ``second``
    #: (one name: ``second`` is zeros).
    _family_type = None
    _posterior_attributes = ()

    def _family(self):
        """The family of the fitted data, made once per fit (every hook of an
        iteration asks for it) or, on an estimator from elsewhere, from its attributes."""
        family = self.__dict__.get("_fitted_family")
        return self._make_family() if family is None else family

    def _make_family(self):
        """A new family of the fitted data (from n_features_in_ and the like)."""
        return self._family_type(self.n_features_in_)

    def _remember_family(self):
        """The data's shape (and categories, groups) are set: make the fit's family."""
        self._fitted_family = self._make_family()

    #: NaN marks a missing entry: its term is dropped (fastem._family_missing).
    _allow_nan = True

    def _pass_data(self, X, fitting):
        missing = self._allow_nan and np.isnan(X).any()
        if fitting:
            self._remember_family()
            if missing:
                self._fitted_family = self._missing_family(self._fitted_family)
        family = self._family()
        if missing and not family.takes_missing:
            family = self._missing_family(family)  # rows with NaN for a model fitted on complete rows
        return family.pass_data(X, type(self).__name__)

    def _missing_family(self, family):
        """``family`` (the fitted data's) on data with missing entries (NaN)."""
        return WithMissing(family)

    def _missing_of(self):
        return functools.partial(family_missing_rows, self._family().missing_layout())

    def _evaluate(self, X, **wanted):
        """Per-row outputs; rows with NaN take the family on incomplete rows whatever the fit had."""
        check_is_fitted(self)
        data = self._data(X, reset=False)
        family = self._family()
        if data.shape[1] != family.n_columns:
            family = self._missing_family(family)
        source = ArraySource(data, n_threads=self.n_threads, missing=family_missing_rows(family.missing_layout(), data))
        outputs = source.evaluate(self._kernel_params_for(family, self._state()), **wanted)
        if wanted.get("log_norm") and family.has_log_base:
            outputs[0][:] += family.log_base(data)
        return outputs, np.result_type(data.dtype, self.means_.dtype)

    def _online_step(self, X, sample_weight, first, labels=None):
        if not first and X.shape[1] != self._family().n_columns:
            raise ValueError(f"{type(self).__name__}.partial_fit: this batch has missing entries (NaN) and the "
                             "first batch had none; start with a batch that has them, or fit again")
        return super()._online_step(X, sample_weight, first, labels)

    def _pass_chunks(self, chunks):
        if not callable(chunks):
            return chunks  # ChunkSource names the problem
        name = type(self).__name__

        # The pass's columns depend on whether any entry is missing: one read to find out.
        missing = self._allow_nan and any(_has_nan(chunk) for chunk in chunks())

        def checked():
            family = None
            for index, chunk in enumerate(chunks()):
                chunk = _checked(chunk, missing, f"chunk {index}")
                if family is None:
                    self._set_data_shape(chunk.shape[1])
                    if missing:
                        self._fitted_family = self._missing_family(self._fitted_family)
                    family = self._family()
                yield family.pass_data(chunk, name)

        return checked

    def _pass_dask(self, X):
        if X.ndim != 2:
            return X  # DaskSource names the problem
        self._set_data_shape(X.shape[1])
        if self._allow_nan:
            import dask.array as da

            if bool(da.isnan(X).any().compute()):
                self._fitted_family = self._missing_family(self._fitted_family)
        family = self._family()
        X = X.rechunk({1: -1})
        return X.map_blocks(_block_pass_data, family, type(self).__name__, chunks=(X.chunks[0], (family.n_columns,)),
                            dtype=X.dtype if X.dtype in FLOAT_DTYPES else np.float64)

    def _set_data_shape(self, n_features):
        """Record the data's feature count where ``fit_chunks`` or a dask fit sees it first."""
        self.n_features_in_ = n_features
        self._remember_family()

    # --------------------------------------------------------------- hooks

    def _placeholder_kernel_params(self, n_features, reference):
        return placeholder_kernel_params(self.n_components, n_features)

    def _resolve(self, source):
        family = self._family()
        if self.prior is None and not self.variational:
            return _Resolved(family, None)
        prior = "default" if self.prior is None else self.prior
        return _Resolved(family, family.resolve(prior, source, self.n_components, self.variational))

    def _set_resolved(self, resolved):
        if resolved.prior is not None:
            self.prior_ = resolved.prior
        elif hasattr(self, "prior_"):
            del self.prior_

    def _statistics_of(self, source):
        family = self._family()
        # log h(x) does not depend on the parameters: summed once per source.
        log_base = source.row_total(family.log_base) if family.has_log_base else 0.0

        def statistics(kparams):
            stats = source.statistics(kparams)
            return stats._replace(log_likelihood=stats.log_likelihood + log_base)

        return statistics

    def _update_rule(self, resolved, dtype):
        family, prior = resolved
        pad = count_pad(dtype)
        if self.variational:
            def update(stats, total_weight=None):
                n = stats.n + pad
                return FamilyPosterior(prior.weight_concentration + n, *family.posterior(n, stats.s1, prior))
        elif prior is None:
            def update(stats, total_weight=None):
                return _ml_update(family, stats, pad, total_weight)
        else:
            def update(stats, total_weight=None):
                n = stats.n + pad
                weights = np.maximum(n + prior.weight_concentration - 1.0, 0.0)
                return FamilyParams(weights / weights.sum(), family.map(n, stats.s1, prior))
        return update

    def _bound(self, stats, old, new, resolved, total_weight):
        """Log-likelihood of ``old``; plus its log prior (MAP); minus its KL from the prior (variational)."""
        family, prior = resolved
        total = stats.log_likelihood
        if self.variational:  # held parameters are points, not random: no KL term
            if old.held_weights is None:
                total -= float(dirichlet_kl(old.weight_concentration, prior.weight_concentration))
            if old.held_means is None:
                total -= family.kl(old.first, old.second, prior)
        elif prior is not None:
            total += float(weights_log_prior(old.weights, prior.weight_concentration))
            total += family.log_prior(old.means, prior)
        return total / total_weight

    def _kernel_params_of(self, state, reference=None):
        return self._kernel_params_for(self._family(), state)

    def _kernel_params_for(self, family, state):
        """The pass's inputs for ``state`` with ``family``'s columns."""
        if isinstance(state, FamilyPosterior):
            if state.held_means is None:
                theta, constant = family.expected_natural(state)
                point = family.rounding_point(family.posterior_means(state.first, state.second))
            else:
                theta, constant = family.natural(state.held_means)
                point = family.rounding_point(state.held_means)
            alpha = state.weight_concentration
            if state.held_weights is None:
                log_weights = digamma(alpha) - digamma(alpha.sum())
            else:
                log_weights = log_weights_of(state.held_weights)
            return kernel_params(theta, constant, log_weights, point)
        theta, constant = family.natural(state.means)
        return kernel_params(theta, constant, log_weights_of(state.weights), family.rounding_point(state.means))

    def _hold(self, new, state):
        if isinstance(new, FamilyPosterior):
            return new._replace(held_weights=state.held_weights, held_means=state.held_means)
        return super()._hold(new, state)

    def _held(self, weights, means):
        """The posterior fields holding the fixed parameters' point values (``weights``, ``means``)."""
        fixed = self._fixed()
        return {"held_weights": weights if "weights" in fixed else None,
                "held_means": means if "means" in fixed else None}

    def _check_initial_parameters(self, n_features):
        self._fixed()
        weights = means = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, self.n_components)
        if self.means_init is not None:
            family = self._family()
            means = check_means_init(self.means_init, self.n_components, family.n_means)
            family.check_means(means, "means_init")
        return weights, means

    def _initial_state(self, source, random_state, update):
        weights_init, means_init = self._check_initial_parameters(source.n_features)
        family = self._family()
        if weights_init is None or means_init is None or not family.means_define_components:
            resp = source.initial_responsibilities(self.init_params, self.n_components, random_state, self.n_threads,
                                                   columns=family.init_columns)
            start = self._stats_from_resp(source, resp)
            if weights_init is None and means_init is None:
                return update(start, source.total_weight)
            given = _ml_update(family, start, count_pad(source.dtype), source.total_weight)
        else:
            given = FamilyParams(None, None)
        params = FamilyParams(given.weights if weights_init is None else weights_init,
                              given.means if means_init is None else family.with_means(given.means, means_init))
        if not self.variational:
            return params
        # The variational posterior after one E-step at the given parameters.
        posterior = update(self._statistics_of(source)(self._kernel_params_of(params)))
        return posterior._replace(**self._held(params.weights, params.means))

    def _state(self):
        if self.variational:
            first, second = self._posterior_arrays()
            return FamilyPosterior(np.asarray(self.weight_concentration_, dtype=np.float64), first, second,
                                   **self._held(np.asarray(self.weights_, dtype=np.float64),
                                                np.asarray(self.means_, dtype=np.float64)))
        return FamilyParams(np.asarray(self.weights_, dtype=np.float64), np.asarray(self.means_, dtype=np.float64))

    def _set_state(self, state, dtype):
        family = self._family()
        if isinstance(state, FamilyPosterior):
            alpha = state.weight_concentration
            self.weight_concentration_ = alpha
            self._set_posterior(state.first, state.second)
            weights, means = alpha / alpha.sum(), family.posterior_means(state.first, state.second)
            weights = weights if state.held_weights is None else state.held_weights
            means = means if state.held_means is None else state.held_means
        else:
            weights, means = state
        self.weights_ = np.asarray(weights).astype(dtype)
        self.means_ = np.asarray(means).astype(dtype)

    def _set_posterior(self, first, second):
        for name, value in zip(self._posterior_attributes, (first, second)):
            setattr(self, name, value)

    def _posterior_arrays(self):
        arrays = [np.asarray(getattr(self, name), dtype=np.float64) for name in self._posterior_attributes]
        return arrays[0], (arrays[1] if len(arrays) > 1 else np.zeros_like(arrays[0]))

    def _sample_rows(self, counts, rng):
        return np.asarray(self._family().sample(np.asarray(self.means_, dtype=np.float64), counts, rng),
                          dtype=np.float64)

    def _parameter_counts(self):
        return {"weights": self.n_components - 1, "means": self.n_components * self._family().n_free()}

    def _free_per_component(self):
        return self._family().n_free()

    def _log_base_rows(self, data):
        return self._family().log_base(data)


class PoissonMixture(FamilyMixture):
    __doc__ = """Mixture of independent Poisson counts per feature, fitted by EM on compiled kernels.

    X holds nonnegative integer counts (any numeric dtype; float32 data stay
    float32). Component j has rate ``means_[j, c]`` for feature c, and the
    log-likelihood includes -log x!.
    """ + _COMMON_DOC.format(
        kmeans_note="", means_shape="(n_components, n_features)", means_meaning="The rates of every component.",
        fixable="'weights' (held at ``weights_init``) and 'means' (``means_init``)",
        prior_name="PoissonPrior", prior_default="Gamma rates, one pseudo-row at each feature's mean count",
        log_base="-log x! included")

    _parameter_constraints: dict = {**FamilyMixture._parameter_constraints,
                                    "prior": [None, StrOptions({"default"}), PoissonPrior]}

    _family_type = PoissonFamily
    _posterior_attributes = ("rate_shape_", "rate_rate_")


class BernoulliMixture(FamilyMixture):
    __doc__ = """Mixture of independent binary features (latent class analysis of yes/no items).

    X holds 0 and 1 (any numeric dtype). Component j has probability
    ``means_[j, c]`` that feature c is 1.
    """ + _COMMON_DOC.format(
        kmeans_note="", means_shape="(n_components, n_features)",
        means_meaning="The probabilities that each feature is 1, per component.", fixable="'weights' (held at ``weights_init``) and 'means' (``means_init``)",
        prior_name="BernoulliPrior", prior_default="Beta(1.5, 1.5) for every probability", log_base="h = 1")

    _parameter_constraints: dict = {**FamilyMixture._parameter_constraints,
                                    "prior": [None, StrOptions({"default"}), BernoulliPrior]}

    _family_type = BernoulliFamily
    _posterior_attributes = ("alpha_", "beta_")


class CategoricalMixture(FamilyMixture):
    __doc__ = """Mixture of categorical columns (latent class analysis of polytomous items).

    X holds integer codes: column c takes the values 0 .. n_categories_[c] - 1.
    Component j has a probability table per column, ``probabilities_[c][j]``.
    The pass reads each column as one indicator per category.
    """ + _COMMON_DOC.format(
        kmeans_note=": one indicator per category", means_shape="(n_components, sum of n_categories_)",
        means_meaning="Every column's category probabilities, columns one after another.", fixable="'weights' (held at ``weights_init``) and 'means' (``means_init``)",
        prior_name="CategoricalPrior",
        prior_default="Dirichlet 1 + 1 / L_c for each of the L_c categories of column c", log_base="h = 1") + """
    n_categories : None or array-like of int of shape (n_features,), default=None
        The number of categories of each column; None takes 1 + the largest
        code of each column seen by ``fit`` (by the first batch of
        ``partial_fit``). Codes at or beyond it are an error at fit and at
        predict time. ``fit_chunks`` and dask arrays need it given.

    Further attributes
    ------------------
    n_categories_ : ndarray of int of shape (n_features,)
    probabilities_ : list of ndarray of shape (n_components, n_categories_[c])
    concentration_ : ndarray of shape (n_components, sum of n_categories_)
        Variational only: the Dirichlet posterior of every column's probabilities.
    """

    _parameter_constraints: dict = {**FamilyMixture._parameter_constraints,
                                    "prior": [None, StrOptions({"default"}), CategoricalPrior],
                                    "n_categories": [None, "array-like"]}

    def __init__(self, n_components=1, *, n_categories=None, tol=1e-3, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, n_threads=None, prior=None, variational=False, learning_decay=0.7,
                 learning_offset=10.0, convergence="bound", fixed=None):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         weights_init=weights_init, means_init=means_init, random_state=random_state,
                         warm_start=warm_start, verbose=verbose, verbose_interval=verbose_interval,
                         n_threads=n_threads, prior=prior, variational=variational,
                         learning_decay=learning_decay, learning_offset=learning_offset, convergence=convergence,
                         fixed=fixed)
        self.n_categories = n_categories

    _posterior_attributes = ("concentration_",)

    def _make_family(self):
        return CategoricalFamily(self.n_categories_)

    def _pass_data(self, X, fitting):
        if fitting and not (self.warm_start and hasattr(self, "converged_")) and not hasattr(self, "_online"):
            self.n_categories_ = self._categories_of(np.where(np.isnan(X), 0.0, X))
        return super()._pass_data(X, fitting)

    def _categories_of(self, X):
        """n_categories, checked, or 1 + the largest code of each column of X."""
        if self.n_categories is not None:
            given = np.asarray(self.n_categories)
            valid = np.issubdtype(given.dtype, np.number) and np.all((given == np.floor(given)) & (given >= 1))
            if given.shape != (X.shape[1],) or not valid or np.any(given > MAX_CATEGORIES):
                raise ValueError(f"n_categories must hold a positive integer for each of the {X.shape[1]} "
                                 f"columns, got {self.n_categories!r}")
            return given.astype(np.int64)
        check_codes(X, type(self).__name__)
        return X.max(axis=0).astype(np.int64) + 1

    def _set_data_shape(self, n_features):
        if self.n_categories is None:
            raise ValueError("CategoricalMixture needs n_categories to fit chunks or a dask array "
                             "(the codes are read once per pass)")
        self.n_features_in_ = n_features
        self.n_categories_ = self._categories_of(np.zeros((1, n_features)))
        self._remember_family()

    def _features_in(self, n_columns):
        return int(self.n_categories_.shape[0])

    def _set_state(self, state, dtype):
        super()._set_state(state, dtype)
        self.probabilities_ = self._family().tables(self.means_)


