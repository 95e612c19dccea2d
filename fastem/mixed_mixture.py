"""fastem.MixedMixture: one mixture over continuous, count, binary and categorical columns.

Each component is a product of families over column groups (fastem.product),
given in the spirit of scikit-learn's ColumnTransformer: a list of
``(family, columns)`` pairs, the columns by index or, for a pandas
DataFrame, by name.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from fastem._family import FamilyParams, FamilyPosterior
from fastem._validation import FLOAT_DTYPES
from fastem.categorical import MAX_CATEGORIES
from fastem.family_mixture import FamilyMixture, _block_pass_data
from fastem.product import GROUP_FAMILIES, ProductFamily, make_group


class MixedMixture(FamilyMixture):
    """Mixture whose components are products of families over column groups.

    For data with continuous, count, binary and categorical columns together
    (latent profile and latent class models with mixed indicators): within a
    component the groups are independent, each with its own family. Fitted
    by EM (maximum likelihood) or MAP-EM (``prior='default'``: each group
    takes its family's default prior, Gaussian groups mclust's) on the same
    compiled pass as every fastem mixture; or by mean-field variational Bayes.

    Parameters
    ----------
    n_components : int, default=1
    groups : list of (family, columns), default=None
        ``family`` one of 'gaussian' (full covariance), 'gaussian_diag',
        'poisson', 'bernoulli', 'categorical'; ``columns`` a list of column
        indices, or of names when X is a pandas DataFrame. Every column is
        in exactly one group. None: one 'gaussian' group of every column.
    reg_covar : float, default=1e-6
        Added to the diagonal of every Gaussian group's covariance.
    tol, max_iter, n_init, init_params, weights_init, random_state, warm_start, verbose, verbose_interval, n_threads
        As for :class:`fastem.PoissonMixture`.
    means_init : array-like of shape (n_components, n_means), default=None
        Every group's means side by side, as ``means_``; a Gaussian group's
        covariances still come from ``init_params``.
    prior : None or 'default', default=None
    variational : bool, default=False
        Fit by mean-field variational Bayes: Dirichlet weights, each group's
        conjugate posterior (normal-Wishart for a full Gaussian group,
        normal-gamma per feature for a diagonal one, under the prior MAP
        uses). ``lower_bound_`` is then the evidence lower bound per unit
        weight, and ``weights_``, ``means_``, ``group_params_`` hold posterior
        means (a Gaussian group's ``covariances`` the posterior's (nu W)^-1,
        as BayesianGaussianMixture reports them).
    learning_decay, learning_offset : float
        :meth:`partial_fit`'s step size.
    convergence : {'bound', 'parameters'}, default='bound'
        As for :class:`fastem.PoissonMixture`.
    fixed : 'weights' or None, default=None
        Hold the weights at ``weights_init`` (maximum likelihood or MAP).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_means)
        Every group's means side by side, in the order of ``groups``: a
        Gaussian group's means, a Poisson group's rates, a Bernoulli group's
        probabilities of a 1, a categorical group's category probabilities
        (each column's categories one after another).
    group_params_ : list
        Per group: a GaussianParams (``means``, ``covariances``,
        ``precisions_cholesky``; its ``weights`` are not the mixture's) for
        a Gaussian group, the (n_components, ...) means array otherwise.
    groups_ : list of (str, ndarray of int)
        Each group's family and X's column indices.
    centers_ : dict
        Per Gaussian group (by index in ``groups_``), the point its features
        are taken about (the fitted data's column means; the first batch's
        for ``partial_fit``).
    n_categories_ : dict
        Per categorical group (by index in ``groups_``), each column's number
        of categories: 1 + its largest code in the fitted data (the first
        batch for ``partial_fit``); a larger code is an error at predict time.
    weight_concentration_ : ndarray of shape (n_components,)
        Variational only: the Dirichlet posterior of the weights.
    group_posteriors_ : list
        Variational only, per group: a GaussianPosterior (``mean_precision``,
        ``means``, ``degrees_of_freedom``, ``covariances``,
        ``precisions_cholesky``) for a Gaussian group, the family's posterior
        arrays (``first``, ``second``: Gamma shape and rate, Beta alpha and
        beta, Dirichlet concentration) otherwise.
    converged_, n_iter_, lower_bound_, lower_bounds_, prior_, n_features_in_, feature_names_in_
        As for :class:`fastem.PoissonMixture`.
    """

    #: Missing values need each group's own treatment (a Gaussian group's conditional moments): not yet.
    _allow_nan = False

    # A group's means alone are not its parameters (a Gaussian group's covariances): the weights only.
    _FIXABLE = {"weights": (("weights",), "weights_init")}

    _parameter_constraints: dict = {
        **FamilyMixture._parameter_constraints,
        "groups": [list, None],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "prior": [None, StrOptions({"default"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components=1, *, groups=None, reg_covar=1e-6, tol=1e-3, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, n_threads=None, prior=None, variational=False, learning_decay=0.7,
                 learning_offset=10.0, convergence="bound", fixed=None):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         weights_init=weights_init, means_init=means_init, random_state=random_state,
                         warm_start=warm_start, verbose=verbose, verbose_interval=verbose_interval,
                         n_threads=n_threads, prior=prior, variational=variational,
                         learning_decay=learning_decay, learning_offset=learning_offset, convergence=convergence,
                         fixed=fixed)
        self.groups = groups
        self.reg_covar = reg_covar

    # ------------------------------------------------------------- groups

    def _resolve_groups(self, n_features):
        """(family name, column indices) per group, checked: known families, known columns, each once."""
        groups = [("gaussian", list(range(n_features)))] if self.groups is None else self.groups
        if not groups:
            raise ValueError("groups must be a non-empty list of (family, columns) pairs")
        names = getattr(self, "feature_names_in_", None)
        resolved, seen = [], {}
        for index, entry in enumerate(groups):
            if not (isinstance(entry, tuple) and len(entry) == 2):
                raise ValueError(f"groups[{index}] must be a (family, columns) pair, got {entry!r}")
            family, columns = entry
            if family not in GROUP_FAMILIES:
                raise ValueError(f"groups[{index}]: unknown family {family!r}; expected one of {GROUP_FAMILIES}")
            columns = [columns] if isinstance(columns, (str, Integral)) else list(columns)
            if not columns:
                raise ValueError(f"groups[{index}] ({family}) has no columns")
            indices = []
            for column in columns:
                if isinstance(column, str):
                    if names is None or column not in list(names):
                        raise ValueError(f"groups[{index}]: column {column!r} is not a column name of X")
                    column = int(np.flatnonzero(np.asarray(names) == column)[0])
                elif not isinstance(column, Integral) or not 0 <= column < n_features:
                    raise ValueError(f"groups[{index}]: column {column!r} is not a column of X "
                                     f"(X has {n_features} columns)")
                if int(column) in seen:
                    raise ValueError(f"column {int(column)} is in groups[{seen[int(column)]}] and groups[{index}]; "
                                     "each column belongs to one group")
                seen[int(column)] = index
                indices.append(int(column))
            resolved.append((family, np.asarray(indices, dtype=np.int64)))
        missing = sorted(set(range(n_features)) - set(seen))
        if missing:
            raise ValueError(f"columns {missing} are in no group; every column belongs to one group")
        return resolved

    def _learn_groups(self, mean, largest):
        """groups_, centers_ and n_categories_ from the fitted data's column means and largest values."""
        groups = self._resolve_groups(mean.shape[0])
        centers, categories = {}, {}
        for index, (family, columns) in enumerate(groups):
            if family in ("gaussian", "gaussian_diag"):
                centers[index] = np.asarray(mean[columns], dtype=np.float64)
            elif family == "categorical":
                # The family checks every code when it reads the data; the count of
                # categories is bounded here so that a wild code cannot size its tables.
                top = np.clip(np.floor(np.asarray(largest[columns], dtype=np.float64)), 0, MAX_CATEGORIES)
                categories[index] = top.astype(np.int64) + 1
        self.groups_, self.centers_, self.n_categories_ = groups, centers, categories
        self._remember_family()

    def _make_family(self):
        parts = []
        for index, (family, columns) in enumerate(self.groups_):
            group = make_group(family, len(columns), self.reg_covar, center=self.centers_.get(index),
                               n_categories=self.n_categories_.get(index))
            parts.append((group, columns))
        return ProductFamily(parts)

    def _pass_data(self, X, fitting):
        if fitting and not (self.warm_start and hasattr(self, "converged_")) and not hasattr(self, "_online"):
            self._learn_groups(np.mean(X, axis=0, dtype=np.float64), np.max(X, axis=0))
        return self._family().pass_data(X, type(self).__name__)

    def _pass_chunks(self, chunks):
        if not callable(chunks):
            return chunks  # ChunkSource names the problem
        name = type(self).__name__
        # One pass to learn the groups: the column means centre the Gaussian
        # groups, the largest codes count the categories.
        total, count, largest = None, 0, None
        for index, chunk in enumerate(chunks()):
            chunk = check_array(chunk, dtype=FLOAT_DTYPES, input_name=f"chunk {index}")
            if total is not None and chunk.shape[1] != total.shape[0]:
                return chunks  # ChunkSource names the problem
            sums, top = chunk.sum(axis=0, dtype=np.float64), np.max(chunk, axis=0)
            total = sums if total is None else total + sums
            largest = top if largest is None else np.maximum(largest, top)
            count += chunk.shape[0]
        if total is None:
            return chunks  # ChunkSource names the problem
        self.n_features_in_ = total.shape[0]
        self._learn_groups(total / count, largest)
        family = self._family()

        def checked():
            for index, chunk in enumerate(chunks()):
                yield family.pass_data(check_array(chunk, dtype=FLOAT_DTYPES, input_name=f"chunk {index}"), name)

        return checked

    def _pass_dask(self, X):
        if X.ndim != 2:
            return X  # DaskSource names the problem
        import dask

        X = X.rechunk({1: -1})
        self.n_features_in_ = X.shape[1]
        mean, largest = dask.compute(X.mean(axis=0), X.max(axis=0))
        self._learn_groups(np.asarray(mean, dtype=np.float64), largest)
        family = self._family()
        return X.map_blocks(_block_pass_data, family, type(self).__name__, chunks=(X.chunks[0], (family.n_columns,)),
                            dtype=np.float64)

    def _features_in(self, n_columns):
        return self.n_features_in_

    # ------------------------------------------------------------- state

    def _state(self):
        if self.variational:
            parts = self.group_posteriors_
            return FamilyPosterior(np.asarray(self.weight_concentration_, dtype=np.float64),
                                   tuple(p.first if isinstance(p, FamilyPosterior) else p for p in parts),
                                   tuple(p.second if isinstance(p, FamilyPosterior) else None for p in parts),
                                   **self._held(np.asarray(self.weights_, dtype=np.float64), None))
        return FamilyParams(np.asarray(self.weights_, dtype=np.float64), tuple(self.group_params_))

    def _sample_rows(self, counts, rng):
        return self._family().sample(tuple(self.group_params_), counts, rng)

    def _set_state(self, state, dtype):
        family = self._family()
        if isinstance(state, FamilyPosterior):
            alpha = state.weight_concentration
            self.weight_concentration_ = alpha
            self.group_posteriors_ = [first if second is None else FamilyPosterior(None, first, second)
                                      for first, second in zip(state.first, state.second)]
            weights, params = alpha / alpha.sum(), family.posterior_means(state.first, state.second)
            weights = weights if state.held_weights is None else state.held_weights
        else:
            weights, params = state
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.group_params_ = list(params)
        self.means_ = family.linear_means(params)

