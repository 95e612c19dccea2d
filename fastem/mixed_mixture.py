"""fastem.MixedMixture: one mixture over continuous, count, binary and categorical columns.

Each component is a product of families over column groups (fastem.product),
given in the spirit of scikit-learn's ColumnTransformer: a list of
``(family, columns)`` pairs, the columns by index or, for a pandas
DataFrame, by name.
"""

import functools
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from fastem import gaussian
from fastem._family import FamilyParams, FamilyPosterior
from fastem._family_missing import WithMissing
from fastem._validation import check_means_init, check_precisions_init
from fastem.categorical import MAX_CATEGORIES
from fastem.family_mixture import FamilyMixture, _block_pass_data, _checked
from fastem.missing import check_observed, observed_means, observed_sums
from fastem.product import GROUP_FAMILIES, GaussianGroup, ProductFamily, make_group


class MixedMixture(FamilyMixture):
    """Mixture whose components are products of families over column groups.

    For data with continuous, count, binary and categorical columns together
    (latent profile and latent class models with mixed indicators): within a
    component the groups are independent, each with its own family. Fitted
    by EM (maximum likelihood) or MAP-EM (``prior='default'``: each group
    takes its family's default prior, Gaussian groups mclust's) on the same
    compiled pass as every fastem mixture; or by mean-field variational Bayes.

    NaN marks a missing entry (missing at random): a Poisson, Bernoulli or
    categorical group drops its term, and the Gaussian groups' incomplete
    rows take the exact EM for incomplete data (the marginal density of
    their observed columns; the conditional moments of the missing ones in
    the statistics), as fastem.GaussianMixture does. A row that observes
    nothing has the weights as its responsibilities and adds nothing else.

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
    convergence : {'bound', 'relative', 'parameters'}, default='bound'
        As for :class:`fastem.PoissonMixture`.
    fixed : str or tuple of str, default=None
        Any of 'weights' (held at ``weights_init``), 'means' (at
        ``means_init``: every group's means side by side; a Poisson,
        Bernoulli or categorical group is then held whole, a Gaussian group's
        covariances are fitted about its held means) and 'covariances' (the
        Gaussian groups', at ``precisions_init``). Maximum likelihood, MAP (a
        constrained M-step) and variational Bayes (held values are point
        masses with no prior: a Gaussian group's q is then that of what is
        not held).
    precisions_init : list of array-like, default=None
        One precision array per Gaussian group, in the order of ``groups``
        ((n_components, g, g) for 'gaussian', (n_components, g) for
        'gaussian_diag'): the values ``fixed='covariances'`` holds (given
        without it, a ValueError).

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

    # The product family holds the means (a Gaussian group's covariances are still fitted),
    # not a replacement of the state's fields.
    _FIXABLE = {"weights": (("weights",), "weights_init"), "means": ((), "means_init"),
                "covariances": ((), "precisions_init")}

    _parameter_constraints: dict = {
        **FamilyMixture._parameter_constraints,
        "groups": [list, None],
        "precisions_init": [list, tuple, None],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "prior": [None, StrOptions({"default"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components=1, *, groups=None, reg_covar=1e-6, tol=1e-3, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, n_threads=None, prior=None, variational=False, learning_decay=0.7,
                 learning_offset=10.0, convergence="bound", fixed=None, precisions_init=None):
        super().__init__(n_components, tol=tol, max_iter=max_iter, n_init=n_init, init_params=init_params,
                         weights_init=weights_init, means_init=means_init, random_state=random_state,
                         warm_start=warm_start, verbose=verbose, verbose_interval=verbose_interval,
                         n_threads=n_threads, prior=prior, variational=variational,
                         learning_decay=learning_decay, learning_offset=learning_offset, convergence=convergence,
                         fixed=fixed)
        self.groups = groups
        self.reg_covar = reg_covar
        self.precisions_init = precisions_init

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

    def _learn_groups(self, mean, largest, missing=False):
        """groups_, centers_ and n_categories_ from the fitted data's column means and largest values
        (of the observed entries); ``missing``: the data have missing entries (NaN)."""
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
        self._fitted_family = self._make_family(missing)

    def _make_family(self, missing=False):
        """The product of the groups' families; with ``missing``, each independent-feature group
        drops a missing entry's term (fastem._family_missing.WithMissing), and the Gaussian groups
        take incomplete rows as they always may."""
        parts = []
        for index, (family, columns) in enumerate(self.groups_):
            group = make_group(family, len(columns), self.reg_covar, center=self.centers_.get(index),
                               n_categories=self.n_categories_.get(index))
            if missing and not group.takes_missing:
                group.columns = np.asarray(columns)  # the inner family's error messages name X's columns
                group = WithMissing(group)
            parts.append((group, columns))
        product = ProductFamily(parts)
        fixed = self._fixed()
        if "means" in fixed or "covariances" in fixed:
            product.held = self._held_groups(product, fixed)
        return product

    def _held_groups(self, product, fixed):
        """Per group what ``fixed`` holds (ProductFamily.held), from means_init and precisions_init."""
        k = self.n_components
        means = None
        if "means" in fixed:
            means = check_means_init(self.means_init, k, product.n_means)
            product.check_means(means, "means_init")
        gaussians = [group for group, _ in product.groups if isinstance(group, GaussianGroup)]
        factors = iter(())
        if "covariances" in fixed:
            given = self.precisions_init
            if not isinstance(given, (list, tuple)) or len(given) != len(gaussians):
                raise ValueError(f"precisions_init must be a list of one array per Gaussian group ({len(gaussians)}), "
                                 f"got {type(given).__name__} of length {len(given) if hasattr(given, '__len__') else 1}")
            factors = iter([gaussian.cholesky_from_precisions(np.asarray(
                check_precisions_init(p, group.covariance_type, k, group.n_features), dtype=np.float64),
                group.covariance_type) for p, group in zip(given, gaussians)])
        held = []
        for (group, _), part in zip(product.groups, product._mean_slices()):
            group_means = None if means is None else np.asarray(means[:, part], dtype=np.float64)
            if not isinstance(group, GaussianGroup):
                held.append(group_means)
                continue
            chol = next(factors, None)
            covariances = None if chol is None else gaussian.covariances_from_cholesky(chol, group.covariance_type)
            held.append(None if group_means is None and chol is None
                        else gaussian.GaussianParams(None, group_means, covariances, chol))
        return tuple(held)

    def _check_initial_parameters(self, n_features):
        if self.precisions_init is not None and "covariances" not in self._fixed():
            raise ValueError("precisions_init is used by MixedMixture only to hold the Gaussian groups' covariances "
                             "(fixed='covariances')")
        return super()._check_initial_parameters(n_features)

    def _held(self, weights, means):
        # Held means live in the product family (see _make_family).
        return {"held_weights": weights if "weights" in self._fixed() else None, "held_means": None}

    def _parameter_counts(self):
        """The means (a Gaussian group's means, every parameter of another group) apart from
        the Gaussian groups' covariances, so that held means leave the covariances counted."""
        family, k = self._family(), self.n_components
        means = sum(group.n_means if isinstance(group, GaussianGroup) else group.n_free() for group, _ in family.groups)
        return {"weights": k - 1, "means": k * means, "covariances": k * (family.n_free() - means)}

    def _missing_family(self, family):
        return self._make_family(missing=True)

    def _pass_data(self, X, fitting):
        missing = bool(np.isnan(X).any())
        if fitting:
            if not (self.warm_start and hasattr(self, "converged_")) and not hasattr(self, "_online"):
                sums, counts, largest, _ = _observed_summary(X)
                self._learn_groups(observed_means(sums, counts), largest, missing)
            elif missing and not self._family().takes_missing:
                self._fitted_family = self._make_family(missing=True)  # the same parameters, read with NaN
        family = self._family()
        if missing and not family.takes_missing:
            family = self._make_family(missing=True)  # rows with NaN for a model fitted on complete rows
        return family.pass_data(X, type(self).__name__)

    def _pass_chunks(self, chunks):
        if not callable(chunks):
            return chunks  # ChunkSource names the problem
        name = type(self).__name__
        # One pass to learn the groups: the column means centre the Gaussian
        # groups, the largest codes count the categories.
        summaries = []
        for index, chunk in enumerate(chunks()):
            chunk = _checked(chunk, True, f"chunk {index}")
            if summaries and chunk.shape[1] != summaries[0][0].shape[0]:
                return chunks  # ChunkSource names the problem
            summaries.append(_observed_summary(chunk))
        if not summaries:
            return chunks  # ChunkSource names the problem
        sums, counts, largest, missing = (functools.reduce(combine, parts) for combine, parts in zip(
            (np.add, np.add, np.maximum, np.logical_or), zip(*summaries)))
        self.n_features_in_ = sums.shape[0]
        check_observed(counts, "the chunks")
        self._learn_groups(observed_means(sums, counts), largest, bool(missing))
        family = self._family()

        def checked():
            for index, chunk in enumerate(chunks()):
                yield family.pass_data(_checked(chunk, family.takes_missing, f"chunk {index}"), name)

        return checked

    def _pass_dask(self, X):
        if X.ndim != 2:
            return X  # DaskSource names the problem
        import dask

        import dask.array as da

        X = X.rechunk({1: -1})
        self.n_features_in_ = X.shape[1]
        nan = da.isnan(X)
        sums, counts, largest, missing = dask.compute(da.where(nan, 0.0, X).sum(axis=0, dtype=np.float64),
                                                      (~nan).sum(axis=0), da.where(nan, -np.inf, X).max(axis=0),
                                                      nan.any())
        check_observed(counts)
        self._learn_groups(observed_means(np.asarray(sums), np.asarray(counts, dtype=np.float64)),
                           np.asarray(largest), bool(missing))
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



def _observed_summary(X):
    """Per column of validated X: the observed entries' sums and counts (fastem.missing.observed_sums),
    their largest value (-inf where none); and whether any entry is missing."""
    nan = np.isnan(X)
    return (*observed_sums(X), np.where(nan, -np.inf, X).max(axis=0), bool(nan.any()))
