"""What fastem's mixture estimators share: validation, the fit loop around
the driver, initialization, prediction and sampling.

:class:`BaseMixture` knows no component family. A subclass supplies the
family and the algorithm through a few hooks:

- ``_resolve(source)``: the algorithm's fixed settings for this fit (a prior,
  hyperparameters; ``source.moments()`` gives the data's mean and
  covariance), or None;
- ``_update_rule(resolved, dtype)``: ``update(stats, total_weight=None) -> state``,
  the M-step (or variational update) from the pass's statistics (called through
  ``_next_state(update, stats, state)`` with the keywords ``_update_options(state)``
  gives, where an update may start from the old state; the fields of the
  parameters named by ``fixed`` (``_FIXABLE``) are then held at the old state's);
- ``_parameter_counts()``: the free parameters by name, for bic, aic and select;
- ``_bound(stats, old, new, resolved, total_weight)``: the bound reported for an
  iteration that took ``old`` to ``new``;
- ``_kernel_params_of(state, reference=None)``: the pass's inputs for a state;
- ``_set_state(state, dtype)`` / ``_state()``: fitted attributes to and from a state
  (``_continued_state()``: the state a warm start continues from);
- ``_placeholder_kernel_params(n_features, reference)``: inputs of a pass that
  sums the statistics of given responsibilities;
- ``_pass_data(X, fitting)``, ``_pass_chunks(chunks)``, ``_pass_dask(X)``: the
  family's validation of X and the columns the pass reads;
- ``_sample_rows(state, counts, rng)``: rows drawn from each component.

:class:`BaseGaussianMixture` supplies the Gaussian family's part of them.
"""

import warnings
from numbers import Integral, Real
from time import time
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from fastem._chunks import ChunkSource
from fastem._dask import DaskSource, is_dask_array
from fastem._driver import CONVERGENCE_RULES, Monitor, fit_restarts
from fastem._progress import Monitors, fit_monitor
from fastem._labels import check_labels
from fastem.missing import all_finite, check_no_infinity, check_observed, missing_rows, no_missing_rows
from fastem._kernels import n_stats
from fastem._source import ArraySource
from fastem._threads import single_threaded_blas
from fastem._validation import FLOAT_DTYPES, check_sample_weight
from fastem.covariance import COVARIANCE_MODELS, SKLEARN_MODELS
from fastem.decomposed import MCLUST_MODELS
from fastem._stats import combine_stats

_NOT_CONVERGED = (
    "Best performing initialization did not converge. "
    "Try different init parameters, or increase max_iter, "
    "tol, or check for degenerate data."
)

#: Rounding of a bound from float32 products, relative to its magnitude (measured
#: 1.6e-7 to 5e-7 at convergence; see bench/README.md, "Float32 data").
FLOAT32_BOUND_RESOLUTION = 2.0**-20


def _float32_refinement(source, tol, initialize, step):
    """Let float32 data finish in float64 products when the convergence test needs it.

    The statistics' passes multiply float32 data in float32, and the bound
    they return is resolved to about FLOAT32_BOUND_RESOLUTION of its
    magnitude. When ``tol`` is finer than eight times that (always, for a
    variational bound summed over the rows), the first change of the bound
    below eight times that resolution turns float32 products off until the
    next restart: the remaining iterations, and the test, run in float64.
    With tol = 0 there is no test, and nothing changes.
    """
    if source.dtype != np.float32 or not tol > 0:
        return initialize, step
    previous = [None]

    def start():
        source.single_products = True
        previous[0] = None
        return initialize()

    def refined(state):
        new, bound = step(state)
        resolution = 8.0 * FLOAT32_BOUND_RESOLUTION * abs(bound)
        if previous[0] is not None and tol < resolution and abs(bound - previous[0]) < resolution:
            source.single_products = False
        previous[0] = bound
        return new, bound

    return start, refined


class _VerboseMonitor(Monitor):
    """Prints scikit-learn's progress messages."""

    def __init__(self, verbose, verbose_interval):
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.init_start = self.iter_start = time()

    def init_begin(self, init):
        if self.verbose >= 1:
            print("Initialization %d" % init)
        self.init_start = self.iter_start = time()

    def iteration_end(self, n_iter, change, lower_bound=None):
        if n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            print("  Iteration %d" % n_iter)
        elif self.verbose >= 2:
            now = time()
            print("  Iteration %d\t time lapse %.5fs\t ll change %.5f" % (n_iter, now - self.iter_start, change))
            self.iter_start = now

    def init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            lapse = time() - self.init_start
            print(f"Initialization {message}. time lapse {lapse:.5f}s\t lower bound {lower_bound:.5f}.")


class _OnlineState(NamedTuple):
    """What partial_fit carries from one batch to the next."""

    reference: np.ndarray
    average: Any  # Stats per unit weight, about ``reference``
    steps: int
    seen: float
    resolved: Any


class BaseMixture(DensityMixin, BaseEstimator):
    """Shared machinery of fastem's mixture estimators, for any component family."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
        "convergence": [StrOptions(set(CONVERGENCE_RULES))],
    }

    #: The pass also sums r log r (variational Bayes's bound needs it).
    _needs_entropy = False

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters from X.

        Fits ``n_init`` times and keeps the initialization with the largest
        final lower bound. A ``ConvergenceWarning`` is raised when that one
        did not converge within ``max_iter`` iterations.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            A dask array is persisted on the cluster of the current client
            (or the local scheduler), and each pass runs per block there.
        y : array-like of shape (n_samples,) or (n_samples, n_components), default=None
            Known components (semi-supervised EM): y[i] in 0 .. n_components - 1
            for a row whose component is known, -1 where it is not. A labelled
            row's responsibilities stay one-hot at its label, the
            initialization starts from the labels, and the bound is the
            semi-supervised log-likelihood. An (n_samples, n_components)
            array gives soft labels: each row's prior probabilities of the
            components (nonnegative, summing to one). None: no row is labelled.
        sample_weight : array-like of shape (n_samples,), default=None
            Nonnegative finite weights with a positive sum; an integer weight
            w counts the row w times. Not with a dask array.

        Returns
        -------
        self : object
        """
        self._fit(X, sample_weight, y)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of every row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_components), default=None
            Known components, as for :meth:`fit`; a labelled row is given its label.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        source = self._fit(X, sample_weight, y)
        if is_dask_array(X):
            return self.predict(X)
        _, _, labels = source.evaluate(self._kernel_params(), label=True, labelled=True)
        return labels

    def fit_chunks(self, chunks, y=None):
        """Estimate the parameters from data read piece by piece.

        Exact EM (or variational Bayes) over all chunks: each iteration is
        one pass over ``chunks()``, and the result equals ``fit`` on the
        concatenated data up to rounding (summation order). Initialization
        (``init_params``) runs over all the chunks with ``fit``'s random
        draws (k-means: two passes per seeded centre and one per Lloyd
        step), so it starts where ``fit`` on the concatenated data starts.
        The data's mean and covariance, where a prior needs them, come from
        one extra pass.

        Parameters
        ----------
        chunks : callable
            ``chunks()`` returns a fresh iterator of arrays of shape
            (n_rows_i, n_features), the same data on every call (for
            example, reading an HDF5, Zarr, Parquet or CSV file piecewise).
        y : array-like of shape (n_samples,) or (n_samples, n_components), default=None
            Known components of the rows of all the chunks in order, as for :meth:`fit`.

        Returns
        -------
        self : object
        """
        self._validate_params()
        with single_threaded_blas():
            source = ChunkSource(self._pass_chunks(chunks), n_threads=self.n_threads, allow_nan=self._allow_nan)
            source.missing_of = self._missing_of()
            if source.n_samples < max(self.n_components, 2):
                raise ValueError(
                    "Expected n_samples >= n_components (and at least 2) "
                    f"but got n_components = {self.n_components}, n_samples = {source.n_samples}"
                )
            source.attach_labels(check_labels(y, source.n_samples, self.n_components))
            self.n_features_in_ = self._features_in(source.n_features)
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self._fit_source(source)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one batch: stepwise (online) EM.

        Cappe and Moulines (2009): a running average of the expected
        sufficient statistics per unit weight, s <- (1 - rho_t) s + rho_t s(batch),
        rho_t = (t + learning_offset)^(-learning_decay), then the usual update
        (ML, MAP or variational) from s scaled to the total weight seen so
        far. The first call initializes from its batch (``init_params``), or
        from the fitted parameters when ``fit`` ran before. Statistics are
        kept about a fixed reference point, the first batch's mean. A call
        that fails (bad batch, singular covariance) leaves the model as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch.
        y : array-like of shape (n_samples,) or (n_samples, n_components), default=None
            Known components of the batch's rows, as for :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        self._validate_params()
        first = not hasattr(self, "_online")
        X = self._data(X, reset=first and not hasattr(self, "converged_"))
        sample_weight = check_sample_weight(sample_weight, X)
        labels = check_labels(y, X.shape[0], self.n_components)
        with single_threaded_blas():
            online, state, bound = self._online_step(X, sample_weight, first, labels)
        self._set_state(state, X.dtype)
        self._online = online
        self._set_run(False, online.steps, bound, [])
        return self

    def _online_step(self, X, sample_weight, first, labels=None):
        """The next online state, model state and bound; assigns nothing."""
        source = self._array_source(X, sample_weight, labels)
        batch_weight = source.total_weight
        if first:
            if X.shape[0] < self.n_components and not hasattr(self, "converged_"):
                raise ValueError(
                    "Expected n_samples >= n_components in the first partial_fit batch "
                    f"but got n_components = {self.n_components}, n_samples = {X.shape[0]}"
                )
            resolved = self._resolve(source)
            update = self._update_rule(resolved, X.dtype)
            if hasattr(self, "converged_"):
                state = self._continued_state()
            else:
                state = self._initial_state(source, check_random_state(self.random_state), update)
            online = _OnlineState(source.mean(), None, 0, 0.0, resolved)
        else:
            online = self._online
            update = self._update_rule(online.resolved, X.dtype)
            state = self._continued_state()
        kparams = self._kernel_params_of(state, online.reference)
        batch = combine_stats(self._statistics_of(source)(kparams), scale_a=1.0 / batch_weight)
        if online.average is None:
            average = batch
        else:
            rho = (online.steps + self.learning_offset) ** (-self.learning_decay)
            average = combine_stats(online.average, batch, 1.0 - rho, rho)
        seen = online.seen + batch_weight
        scaled = combine_stats(average, scale_a=seen)
        new = self._next_state(update, scaled, state)
        bound = self._bound(scaled, state, new, online.resolved, seen)
        return online._replace(average=average, steps=online.steps + 1, seen=seen), new, bound

    def _fit(self, X, sample_weight, y=None):
        if is_dask_array(X):
            with single_threaded_blas():
                return self._fit_dask(X, sample_weight, y)
        return self._fit_em(X, sample_weight, y)

    def _fit_dask(self, X, sample_weight, y=None):
        """Exact EM on a dask array: the pass runs per block on the cluster."""
        self._validate_params()
        if sample_weight is not None:
            raise TypeError("sample_weight is not supported with a dask array X; pass a NumPy array to weight rows")
        source = DaskSource(self._pass_dask(X), n_threads=self.n_threads, allow_nan=self._allow_nan)
        source.missing_of = self._missing_of()
        if source.n_samples < max(self.n_components, 2):
            raise ValueError(
                "Expected n_samples >= n_components (and at least 2) "
                f"but got n_components = {self.n_components}, n_samples = {source.n_samples}"
            )
        source.attach_labels(check_labels(y, source.n_samples, self.n_components))
        self.n_features_in_ = self._features_in(source.n_features)
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self._fit_source(source)

    def _map_dask(self, X, method, dtype, n_columns=None):
        """Apply a prediction method block by block; returns a dask array."""
        check_is_fitted(self)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}, but {type(self).__name__} is expecting {self.n_features_in_} features")
        X = X.rechunk({1: -1})
        function = getattr(self, method)
        if n_columns is None:
            return X.map_blocks(function, drop_axis=1, dtype=dtype)
        return X.map_blocks(function, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)

    def _output_dtype(self, X):
        return np.result_type(X.dtype if X.dtype in FLOAT_DTYPES else np.float64, self.means_.dtype)

    def _fit_em(self, X, sample_weight, y=None):
        self._validate_params()
        X = self._data(X, reset=True, ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {X.shape[0]}"
            )
        sample_weight = check_sample_weight(sample_weight, X)
        labels = check_labels(y, X.shape[0], self.n_components)
        source = self._array_source(X, sample_weight, labels)
        if labels is not None or source.missing is not None or not self._fit_whole(source):
            with single_threaded_blas():
                self._fit_source(source)
        return source

    def _fits_whole_in_compiled_code(self):
        """Whether the settings allow the compiled whole fit of small problems (fastem._small)."""
        return False

    def _fit_whole(self, source):
        """Fit a small problem entirely in compiled code when the settings allow; False if they do not."""
        return False

    def _fit_source(self, source):
        """Fit on any data source (in memory, chunks); returns the source."""
        if hasattr(self, "_online"):
            del self._online
        self._check_initial_parameters(source.n_features)
        resolved = self._resolve(source)
        update = self._update_rule(resolved, source.dtype)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        random_state = check_random_state(self.random_state)
        if do_init:
            lower_bound = -np.inf

            def initialize():
                return self._initial_state(source, random_state, update)

        else:
            lower_bound = self.lower_bound_
            previous = self._continued_state()

            def initialize():
                return previous

        step = self._step_rule(source, resolved, update)
        initialize, step = _float32_refinement(source, self.tol, initialize, step)
        monitor = Monitors(_VerboseMonitor(self.verbose, self.verbose_interval) if self.verbose else None,
                           fit_monitor(self, source.n_samples))
        result = fit_restarts(
            initialize,
            step,
            n_init=self.n_init if do_init else 1,
            tol=self.tol,
            max_iter=self.max_iter,
            lower_bound=lower_bound,
            monitor=monitor,
            convergence=self.convergence,
            measure=self._relative_measure(resolved, source.total_weight),
        )
        if not result.converged and self.max_iter > 0:
            warnings.warn(_NOT_CONVERGED, ConvergenceWarning)
        self._set_state(result.params, source.dtype)
        self._set_resolved(resolved)
        self._set_run(result.converged, result.n_iter, result.lower_bound, result.lower_bounds)
        return source

    def _relative_measure(self, resolved, total_weight):
        """``measure(state, bound)``: the total that convergence='relative' compares, the
        mean bound times the rows' total weight."""
        return lambda state, bound: bound * total_weight

    def _step_rule(self, source, resolved, update):
        """The driver's ``step(state) -> (new_state, bound)``: one pass over ``source``, one update."""
        statistics = self._statistics_of(source)

        def step(state):
            kparams = self._kernel_params_of(state)
            stats = statistics(kparams)
            new = self._next_state(update, stats, state)
            return new, self._bound(stats, state, new, resolved, source.total_weight)

        return step

    def _next_state(self, update, stats, state):
        """The update of an iteration from ``state`` whose pass gave ``stats``, its
        fixed parameters (``fixed``) held at ``state``'s values."""
        return self._hold(update(stats, **self._update_options(state)), state)

    def _update_options(self, state):
        """Keyword arguments of the update that depend on the state it starts from (none by default)."""
        return {}

    # ------------------------------------------------------ fixed parameters

    #: What ``fixed`` may name: each name's state fields, and the ``*_init`` parameter holding its value.
    _FIXABLE: dict = {}

    def _fixed(self):
        """The validated names of ``fixed``, a tuple; raises a ValueError for a name the
        estimator cannot hold or whose ``*_init`` value is missing."""
        fixed = getattr(self, "fixed", None)
        if fixed is None:
            return ()
        names = (fixed,) if isinstance(fixed, str) else tuple(fixed)
        for name in names:
            if name not in self._FIXABLE:
                allowed = ", ".join(repr(n) for n in self._FIXABLE) or "nothing"
                raise ValueError(f"fixed may name {allowed} for {type(self).__name__}, got {name!r}")
            init = self._FIXABLE[name][1]
            if getattr(self, init) is None:
                raise ValueError(f"fixed names {name!r}, which is held at {init}: set {init}")
        return names

    def _hold(self, new, state):
        """``new`` with the fields of the fixed parameters taken from ``state`` (a constrained M-step)."""
        fields = [field for name in self._fixed() for field in self._FIXABLE[name][0]]
        return new._replace(**{field: getattr(state, field) for field in fields}) if fields else new

    def _n_parameters(self):
        """Free parameters of the fitted model: those of ``_parameter_counts()`` that are not fixed."""
        fixed = self._fixed()
        return int(sum(count for name, count in self._parameter_counts().items() if name not in fixed))

    def _set_run(self, converged, n_iter, lower_bound, lower_bounds):
        """The fitted attributes that describe the run (any fit route)."""
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds

    def _check_initial_parameters(self, n_features):
        """Validate user-supplied initial parameters, and ``fixed``."""
        self._fixed()

    def _set_resolved(self, resolved):
        """Store the resolved settings as fitted attributes (if any)."""

    def _initial_state(self, source, random_state, update):
        """Draw initial responsibilities and apply one update to them."""
        resp = source.initial_responsibilities(self.init_params, self.n_components, random_state, self.n_threads)
        return update(self._stats_from_resp(source, resp), source.total_weight)

    def _stats_from_resp(self, source, resp):
        """Statistics of given responsibilities (from ``source.initial_responsibilities``), about the data's mean."""
        return source.statistics_given_resp(self._placeholder_kernel_params(source.n_features, source.mean()), resp)

    def _statistics_of(self, source):
        """``statistics(kparams) -> Stats``: the E-step statistics of a pass over ``source``."""
        return lambda kparams: source.statistics(kparams, entropy=self._needs_entropy)

    def _features_in(self, n_columns):
        """n_features_in_ of data whose pass reads ``n_columns`` columns."""
        return n_columns

    # ----------------------------------------------------------------- data

    #: Whether NaN in X marks missing entries (fastem.missing); otherwise it is an error.
    _allow_nan = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        return tags

    def _data(self, X, *, reset, ensure_min_samples=1):
        """Validated X as the pass reads it; ``reset`` at the start of a fit."""
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=reset, ensure_min_samples=ensure_min_samples,
                          ensure_all_finite=not self._allow_nan)
        if self._allow_nan:  # NaN marks a missing entry; an infinity is named by row and column
            check_no_infinity(X)
            if reset and not all_finite(X):
                check_observed((~np.isnan(X)).sum(axis=0))
        return self._pass_data(X, fitting=reset)

    def _array_source(self, X, sample_weight=None, labels=None):
        """The in-memory source of validated X, its incomplete rows set apart where X has NaN."""
        missing = self._missing_of()(X, sample_weight, labels)
        return ArraySource(X, sample_weight, n_threads=self.n_threads, labels=labels, missing=missing)

    def _missing_of(self):
        """``missing(X, sample_weight=None, labels=None)``: the incomplete rows of data as the pass
        reads it (fastem.missing.MissingRows), or None; the data sources call it per block,
        where the blocks are."""
        return missing_rows if self._allow_nan else no_missing_rows

    def _pass_data(self, X, fitting):
        """The family's checks of validated float X, and the columns the pass reads (X itself by default)."""
        return X

    def _pass_chunks(self, chunks):
        """``fit_chunks``'s callable, its chunks as the pass reads them (checked by ChunkSource by default)."""
        return chunks

    def _pass_dask(self, X):
        """A dask array as the pass reads it (checked by DaskSource by default)."""
        return X

    def _kernel_params(self):
        return self._kernel_params_of(self._state())

    def _continued_state(self):
        """The state a warm start or a further ``partial_fit`` starts from: the fitted one,
        with whatever the current parameters hold fixed."""
        return self._state()

    # -------------------------------------------------------------- predict

    def _evaluate(self, X, **wanted):
        check_is_fitted(self)
        X = self._data(X, reset=False)
        source = self._array_source(X)
        outputs = source.evaluate(self._kernel_params(), **wanted)
        log_base = self._log_base_rows(X) if wanted.get("log_norm") else None
        if log_base is not None:
            outputs[0][:] += log_base
        return outputs, np.result_type(X.dtype, self.means_.dtype)

    def _log_base_rows(self, data):
        """log h(x) of each row of the pass's data, or None where the family's h is 1."""
        return None

    def score_samples(self, X):
        """Log-likelihood of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        if is_dask_array(X):
            return self._map_dask(X, "score_samples", self._output_dtype(X))
        (log_norm, _, _), dtype = self._evaluate(X, log_norm=True)
        return log_norm.astype(dtype, copy=False)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        scores = self.score_samples(X)
        return float(scores.mean().compute() if is_dask_array(X) else np.mean(scores))

    def predict(self, X):
        """Most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        if is_dask_array(X):
            return self._map_dask(X, "predict", np.int64)
        (_, _, labels), _ = self._evaluate(X, label=True)
        return labels

    def predict_proba(self, X):
        """Posterior probability of each component for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to one.
        """
        if is_dask_array(X):
            return self._map_dask(X, "predict_proba", self._output_dtype(X), self.n_components)
        (_, resp, _), dtype = self._evaluate(X, resp=True)
        return resp.astype(dtype, copy=False)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Uses ``random_state`` as scikit-learn does, so the same model and
        seed give scikit-learn's samples.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each sample.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        labels = np.repeat(np.arange(self.n_components), counts)
        return self._sample_rows(counts, rng), labels


class CriteriaMixin:
    """bic, aic and icl, for an estimator that supplies ``_parameter_counts()`` (the fitted
    model's free parameters by name, as ``fixed`` names them; ``_n_parameters()`` counts
    those not fixed) and ``_free_per_component()`` (those a component holds
    of its own, its weight apart: ``select`` marks a fit 'degenerate' when a
    component has fewer effective points)."""

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        X = np.asarray(X) if not hasattr(X, "shape") else X
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        X = np.asarray(X) if not hasattr(X, "shape") else X
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def icl(self, X):
        """Integrated completed likelihood criterion of the model on X (lower is better): bic
        plus twice the entropy of the hard classification, -2 sum_i log r_i,z_i with z_i the
        most probable component (Biernacki, Celeux and Govaert 2000; mclust's icl with
        scikit-learn's sign).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        icl : float
        """
        resp = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            classification = float(np.sum(np.log(resp.max(axis=1))))
        return self.bic(X) - 2.0 * classification


class BaseGaussianMixture(BaseMixture):
    """Shared machinery of GaussianMixture and BayesianGaussianMixture: the Gaussian family's hooks."""

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        # mclust's names are accepted but not listed, so that a bad name gets scikit-learn's message.
        "covariance_type": [StrOptions(set(SKLEARN_MODELS)), Hidden(StrOptions(set(MCLUST_MODELS)))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        # 'hc' is hidden for the same reason: a bad name gets scikit-learn's message.
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"}), Hidden(StrOptions({"hc"}))],
    }

    #: NaN marks a missing entry: exact EM (and variational Bayes) for incomplete data (fastem.missing).
    _allow_nan = True

    def _placeholder_kernel_params(self, n_features, reference):
        k = self.n_components
        family = COVARIANCE_MODELS[self.covariance_type].layout
        return (family, reference, np.zeros((k, n_stats(family, n_features))), np.zeros((k, n_features)),
                np.zeros((k, 1, n_features)), np.zeros(k))

    def _stats_from_resp(self, source, resp):
        """Statistics of given responsibilities (from ``source.initial_responsibilities``), about the data's mean."""
        stats = super()._stats_from_resp(source, resp)
        one_hot_start = self.init_params in ("k-means++", "random_from_data")
        if COVARIANCE_MODELS[self.covariance_type].shared and one_hot_start and self._reproduces_tied_init_quirk():
            # scikit-learn's initial tied covariance also holds the second moment
            # of the rows no component starts from (fastem._init.unassigned_moment);
            # added to one component's scatter, it is added to the tied scatter.
            s2 = stats.s2.copy()
            s2[0] += source.unassigned_moment(resp)
            stats = stats._replace(s2=s2)
        return stats

    def _reproduces_tied_init_quirk(self):
        """Whether to reproduce scikit-learn's tied initialization (see fastem._init.unassigned_moment)."""
        return True

    def _free_per_component(self):
        return COVARIANCE_MODELS[self.covariance_type].free_per_component(self.means_.shape[1])

    def _sample_rows(self, counts, rng):
        parts = COVARIANCE_MODELS[self.covariance_type].sample(rng, self.means_, self.covariances_, counts)
        return np.vstack(parts).astype(np.float64)
