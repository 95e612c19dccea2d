"""The component-family interface, and what the families of the LINEAR layout share.

A family is an exponential family of component densities,

    log p(x | eta) = eta . T(x) - A(eta) + log h(x),

and supplies, in one place, everything the estimators need of it: the
validation of X and the columns the pass reads (:meth:`Family.pass_data`),
log h(x) (:meth:`Family.log_base`), the natural parameters of the pass
from the parameters (:meth:`Family.natural`) or their expectation under a
variational posterior (:meth:`Family.expected_natural`), the ML, MAP and
variational updates from the summed statistics, the log prior and the
Kullback-Leibler term of the bounds, the parameter count, and sampling.

The families here have the LINEAR feature layout, T(x) = (1, x): their
statistics per component are the responsibility mass N_j and the
responsibility-weighted sums S_j of the pass's columns, and their
parameters are the means E[x | j] of those columns (Poisson rates,
Bernoulli probabilities, the probabilities of one-hot categories). Their
conjugate priors hold pseudo-counts; mixture weights have a Dirichlet
prior (MAP) or posterior (variational Bayes) shared by every family.

Log h(x) does not depend on the parameters: it is summed over the data once
per fit and added to the bound, and added per row to ``score_samples``;
the pass never sees it.
"""

from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np
from scipy.special import digamma, gammaln, xlogy

from fastem._kernels import LINEAR

#: Floor of the log-parameters the pass multiplies with the data: a probability
#: or rate of exactly zero counts as the smallest normal float (log ~ -708),
#: so that a zero feature times its coefficient is 0, never 0 * -inf = NaN.
LOG_FLOOR = float(np.log(np.finfo(np.float64).tiny))


class FamilyParams(NamedTuple):
    """Parameters of a mixture of a family, float64.

    ``means`` are the components' parameters as the family holds them: for
    the families here, (k, n_columns) means E[x | component] over the pass's
    columns; for a product (fastem.product), one entry per column group.
    """

    weights: np.ndarray
    means: np.ndarray


class FamilyPosterior(NamedTuple):
    """Mean-field posterior of a mixture of a LINEAR-layout family.

    ``weight_concentration`` (k,) is the Dirichlet posterior of the weights;
    ``first`` and ``second`` (k, n_columns) the family's conjugate posterior
    (Gamma shape and rate, Beta alpha and beta, Dirichlet concentration and
    zeros); for a product (fastem.product), one entry per column group each.
    ``held_weights`` and ``held_means`` are the point values of parameters
    held fixed (``fixed``), whose q is then a point mass: the E-step takes
    log pi and the family's natural parameters at them, and the bound has
    no KL term for them; None where q is fitted.
    """

    weight_concentration: np.ndarray
    first: np.ndarray
    second: np.ndarray
    held_weights: object = None
    held_means: object = None


def column_counts(n):
    """The responsibility mass behind each column's sums: ``n`` (k,) as a (k, 1) column, or
    a (k, n_columns) array as it is (incomplete data: each column's observed mass, WithMissing)."""
    return n if n.ndim == 2 else n[:, None]


class Family(ABC):
    """A component family: the hooks an estimator calls, with their contracts.

    Every array argument named ``n`` is the responsibility mass, (k,) per
    component or (k, n_columns) per component and column (see
    :func:`column_counts`), and ``s`` the (k, n_columns)
    responsibility-weighted column sums, both from one pass.
    """

    #: The pass's feature layout (fastem._kernels).
    layout = LINEAR
    #: Whether the family reads missing entries (NaN) of X (fastem._family_missing).
    takes_missing = False
    #: Whether log h(x) is other than 0 (:meth:`log_base`).
    has_log_base = False
    #: X's column of each of the family's columns, where it holds a group of them
    #: (fastem.product); error messages name these. None: the family has all of X.
    columns = None
    #: The names of the family's prior hyperparameters (fields of ``prior_type``), and
    #: those that must be at least 1 for a posterior mode (MAP).
    FIELDS = ()
    MODE_FIELDS = ()

    @abstractmethod
    def pass_data(self, X, estimator_name):
        """The float array the pass reads, from validated 2-D float X; raises a
        ValueError naming the column and the value X may not hold. X is not changed."""

    def log_base(self, data):
        """log h(x) of each row of ``data`` (the pass's columns), or None where h = 1."""
        return None

    def missing_layout(self):
        """Where the pass's columns say what a row observes (fastem._family_missing.MissingLayout),
        or None: the family takes complete rows alone."""
        return None

    @abstractmethod
    def natural(self, means):
        """``(theta, constant)``: the coefficients (k, n_columns) of x and the per-component
        constant -A (k,) of the log-densities at ``means``."""

    @abstractmethod
    def expected_natural(self, posterior):
        """``(theta, constant)`` of E_q[log p(x | component)] - log h(x) under ``posterior``."""

    @abstractmethod
    def check_means(self, means, name):
        """Raise a ValueError naming ``name`` when ``means`` (k, n_columns) are not
        parameters of the family."""

    @abstractmethod
    def expand(self, value, name):
        """A user's hyperparameter ``name`` (scalar or per column) as an (n_columns,) array."""

    def ml(self, n, s):
        """Maximum-likelihood means (moment matching): s / n."""
        return s / column_counts(n)

    def column_constants(self, means):
        """(k, n_features): each of X's columns' share of ``natural``'s constant, -A (zero where
        the family's coefficients are normalized, as a categorical column's log-probabilities)."""
        return np.zeros((means.shape[0], self.n_features))

    def expected_column_constants(self, posterior):
        """(k, n_features): each column's share of ``expected_natural``'s constant."""
        return np.zeros((posterior.first.shape[0], self.n_features))

    def column_sources(self):
        """The column of X behind each column of the pass."""
        return np.arange(self.n_columns)

    @abstractmethod
    def map(self, n, s, prior):
        """Posterior-mode means under the conjugate ``prior``."""

    @abstractmethod
    def log_prior(self, means, prior):
        """log p(means) under the conjugate ``prior`` (the weights' term apart)."""

    @abstractmethod
    def posterior(self, n, s, prior):
        """``(first, second)``: the conjugate posterior's parameters given the statistics."""

    @abstractmethod
    def posterior_means(self, first, second):
        """E_q[means] under the posterior ``(first, second)``."""

    @abstractmethod
    def kl(self, first, second, prior):
        """KL(q || prior) of the component parameters, summed."""

    @abstractmethod
    def default_prior(self, column_means):
        """The ``prior='default'`` hyperparameters, from the data's column means."""

    def resolve(self, prior, source, n_components, variational):
        """The resolved prior (``prior`` is 'default' or the family's prior type) for data ``source``."""
        return resolve_prior(self, prior, source.mean(), n_components, variational)

    #: Columns of the pass the initialization clusters (the leading ones), or None for all.
    init_columns = None

    #: Whether ``means_init`` alone gives a component's parameters (a Gaussian group's
    #: covariances come from the initial responsibilities).
    means_define_components = True

    #: Columns of the estimator's ``means_`` (and ``means_init``); set by each family.
    n_means = None

    def with_means(self, params, means):
        """Component parameters ``params`` with their means replaced by ``means``."""
        return means

    def rounding_point(self, means):
        """The row at which the float32 products' rounding is judged, per component
        (fastem._kernels._pass.SINGLE_LIMIT): each column at its mean, and at least at
        1, the value of an indicator."""
        return np.maximum(means, 1.0)

    @abstractmethod
    def n_free(self):
        """Free parameters per component."""

    @abstractmethod
    def sample(self, means, counts, rng):
        """``counts[j]`` rows from component j, stacked in component order (original columns)."""


def kernel_params(theta, constant, log_weights, point):
    """The pass's inputs ``(family, ref, theta, means, chol, log_const)`` for the LINEAR layout.

    The reference point is the origin (T(x) = (1, x)); a component's
    log-probability is log_weights[j] + constant[j] + theta[j] . x. The
    pass's ``means`` slot takes ``point``, the row at which the float32
    products' rounding is judged (:meth:`Family.rounding_point`); ``chol`` is unused.
    """
    k, m = theta.shape
    log_const = np.ascontiguousarray(log_weights + constant, dtype=np.float64)
    full = np.ascontiguousarray(np.concatenate([log_const[:, None], theta], axis=1), dtype=np.float64)
    return LINEAR, np.zeros(m), full, np.ascontiguousarray(point, dtype=np.float64), np.zeros((k, 1, m)), log_const


def placeholder_kernel_params(n_components, n_columns):
    """Kernel inputs for a pass that only sums statistics of given responsibilities."""
    zeros = np.zeros((n_components, n_columns))
    return kernel_params(zeros, np.zeros(n_components), np.zeros(n_components), zeros)


def floored_log(values):
    """log(values) with LOG_FLOOR for zero (and below)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(values), LOG_FLOOR)


def log_weights_of(weights):
    with np.errstate(divide="ignore"):
        return np.log(weights)


def dirichlet_log_density(values, alpha, axis=-1):
    """log Dirichlet(values; alpha) along ``axis`` (0 * log 0 = 0)."""
    return (gammaln(alpha.sum(axis=axis)) - gammaln(alpha).sum(axis=axis)
            + xlogy(alpha - 1.0, values).sum(axis=axis))


def gamma_kl(shape, rate, shape0, rate0):
    """KL(Gamma(shape, rate) || Gamma(shape0, rate0)), elementwise."""
    return ((shape - shape0) * digamma(shape) - gammaln(shape) + gammaln(shape0)
            + shape0 * (np.log(rate) - np.log(rate0)) + shape * (rate0 - rate) / rate)


def dirichlet_kl(alpha, alpha0):
    """KL(Dirichlet(alpha) || Dirichlet(alpha0)) along the last axis."""
    total = alpha.sum(axis=-1)
    return (gammaln(total) - gammaln(alpha).sum(axis=-1) - gammaln(alpha0.sum(axis=-1)) + gammaln(alpha0).sum(axis=-1)
            + ((alpha - alpha0) * (digamma(alpha) - digamma(total)[..., None])).sum(axis=-1))


class ResolvedPrior(NamedTuple):
    """A family's conjugate prior with every default filled in, float64.

    ``weight_concentration`` (k,) is the Dirichlet prior of the weights;
    ``first`` and ``second`` (n_columns,) the family's hyperparameters per
    column of the pass (Gamma shape and rate, Beta alpha and beta, Dirichlet
    concentration and zeros).
    """

    weight_concentration: np.ndarray
    first: np.ndarray
    second: np.ndarray


def resolve_prior(family, prior, column_means, n_components, variational):
    """Fill a family prior's ``None`` fields with the family's defaults, and check them.

    Parameters
    ----------
    family : Family
    prior : 'default' or the family's prior (a dataclass with
        ``weight_concentration_prior`` and the family's ``FIELDS``)
    column_means : ndarray of shape (n_columns,)
        The data's (weighted) column means over the pass's columns.
    n_components : int
    variational : bool
        Every hyperparameter must be positive; for a posterior mode (MAP) the
        family's ``MODE_FIELDS`` must be at least 1, where the mode is
        inside the parameter space.

    Returns
    -------
    prior : ResolvedPrior
    """
    hyper = list(family.default_prior(column_means))
    alpha = np.ones(n_components)
    if prior != "default":
        for index, name in enumerate(family.FIELDS):
            if getattr(prior, name) is not None:
                hyper[index] = family.expand(getattr(prior, name), name)
        if prior.weight_concentration_prior is not None:
            alpha = _per_component(prior.weight_concentration_prior, n_components)
    for name, value in [("weight_concentration_prior", alpha)] + list(zip(family.FIELDS, hyper)):
        at_least_one = not variational and name in family.MODE_FIELDS
        bad = ~(value >= 1.0) if at_least_one else ~(value > 0.0)
        bad |= ~np.isfinite(value)
        if np.any(bad):
            rule = "at least 1 for MAP (the posterior mode is then defined)" if at_least_one else "positive"
            raise ValueError(f"prior: {name} must be finite and {rule}, got {value[np.flatnonzero(bad)[0]]!r}")
    first, second = hyper
    return ResolvedPrior(alpha, np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64))


def _per_component(value, n_components):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return np.full(n_components, float(array))
    if array.shape != (n_components,):
        raise ValueError(f"prior: weight_concentration_prior must be a float or of shape ({n_components},), "
                         f"got shape {array.shape}")
    return array.copy()


def expand_per_column(value, name, n_columns):
    """A scalar or (n_columns,) hyperparameter as a float64 (n_columns,) array."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return np.full(n_columns, float(array))
    if array.shape != (n_columns,):
        raise ValueError(f"prior: {name} must be a float or of shape ({n_columns},), got shape {array.shape}")
    return array.copy()


def check_range(means, name, low, high):
    """ValueError unless every entry of ``means`` lies in [low, high]."""
    bad = ~((means >= low) & (means <= high))
    if np.any(bad):
        raise ValueError(f"'{name}' must lie in [{low}, {high}], got {means[bad][0]!r}")


#: Rows checked at a time: a check of X holds no n x d temporary.
CHECK_ROWS = 1 << 16


def check_values(X, is_bad, what, estimator_name, columns=None):
    """Raise a ValueError naming the first column of X holding a value ``is_bad`` marks,
    that value and its first row; X is read CHECK_ROWS rows at a time.

    ``is_bad(rows)`` returns a boolean array of the rows' shape; ``what`` says what
    the family needs, a string or ``what(column)``; ``columns`` maps X's columns to
    those the user knows (a group's, fastem.product).
    """
    first_row = {}
    for start in range(0, X.shape[0], CHECK_ROWS):
        bad = is_bad(X[start : start + CHECK_ROWS])
        if not bad.any():
            continue
        for column in np.flatnonzero(bad.any(axis=0)):
            first_row.setdefault(int(column), start + int(np.argmax(bad[:, column])))
    if first_row:
        column = min(first_row)
        row = first_row[column]
        name = column if columns is None else int(columns[column])
        need = what(column) if callable(what) else what
        raise ValueError(f"{estimator_name} needs {need}: column {name} holds {X[row, column].item()!r} (row {row})")
