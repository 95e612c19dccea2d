"""Product families: components that are products of families over column groups.

A row's columns are split into groups, each with its own family (Gaussian
with full or diagonal covariance, Poisson, Bernoulli, categorical); a
component's density is the product of its groups' densities, so its
log-density is the sum of theirs. The pass reads every group's features
side by side in the LINEAR layout: a Poisson, Bernoulli or categorical
group contributes its columns as the families do alone; a Gaussian group
contributes its columns about a fixed centre c and their products (all
pairs a <= b for a full covariance, squares for a diagonal one), the
features of fastem._kernels._features's FULL and DIAG layouts, computed
once when the data are read. The Gaussian group's natural parameters,
updates and prior are fastem.gaussian's, about c.

A component's parameters are a tuple with one entry per group: a
GaussianParams (its weights unused) for a Gaussian group, the means array
of the family otherwise.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import digamma, multigammaln

from fastem import gaussian
from fastem._family import Family, FamilyPosterior, gamma_kl, resolve_prior
from fastem._family_missing import GaussianColumns, MissingLayout
from fastem._kernels import FULL
from fastem._stats import about_held_means, stats_from_sums
from fastem.bernoulli import BernoulliFamily
from fastem.categorical import CategoricalFamily
from fastem.covariance import COVARIANCE_MODELS
from fastem.poisson import PoissonFamily
from fastem.prior import resolve_prior as resolve_gaussian_prior

#: The families a column group may have, by name.
GROUP_FAMILIES = ("gaussian", "gaussian_diag", "poisson", "bernoulli", "categorical")


class GaussianGroup(Family):
    """A Gaussian over ``n_features`` columns, its features taken about ``center``."""

    FIELDS = ()
    MODE_FIELDS = ()
    takes_missing = True

    def __init__(self, center, covariance_type, reg_covar):
        self.center = np.asarray(center, dtype=np.float64)
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_features = self.n_means = self.center.shape[0]
        g = self.n_features
        self.model = COVARIANCE_MODELS[covariance_type]
        self.upper = np.triu_indices(g) if self.model.layout == FULL else (np.arange(g), np.arange(g))
        self.n_columns = g + self.upper[0].shape[0]

    def _features(self, rows):
        """The layout's features of rows about the centre, the leading 1 apart."""
        centred = np.asarray(rows, dtype=np.float64) - self.center
        return np.hstack([centred, centred[:, self.upper[0]] * centred[:, self.upper[1]]])

    def pass_data(self, X, estimator_name):
        return self._features(X)  # a missing entry's features are NaN (fastem._family_missing)

    def missing_layout(self):
        return MissingLayout(np.empty(0, dtype=np.int64),
                             (GaussianColumns(np.arange(self.n_features), np.arange(self.n_features, self.n_columns),
                                              *self.upper),))

    def _stats(self, n, s):
        """The group's sums as the Gaussian updates take them (first and second order about the centre)."""
        return stats_from_sums(np.column_stack([n, s]), self.center, 0.0, self.model.layout)

    def natural(self, params):
        unit = params._replace(weights=np.ones(params.means.shape[0]))
        theta = gaussian.kernel_params(unit, self.covariance_type, reference=self.center)[2]
        return theta[:, 1:], theta[:, 0]

    def expected_natural(self, posterior):
        """E_q[log N(x; mu, Lambda)]: the plug-in form at the mean m and precision nu W,
        with the constant 1/2 E[log|Lambda|] - d/(2 beta) - d/2 log(2 pi)."""
        g = self.n_features
        log_det_chol = self.model.log_det(posterior.precisions_cholesky, g)
        unit = gaussian.GaussianParams(None, posterior.means, posterior.covariances, posterior.precisions_cholesky)
        log_weights = 0.5 * self._expected_log_det(posterior) - 0.5 * g / posterior.mean_precision - log_det_chol
        theta = gaussian.kernel_params(unit, self.covariance_type, reference=self.center, log_weights=log_weights)[2]
        return theta[:, 1:], theta[:, 0]

    def _expected_log_det(self, posterior):
        """E_q[log |Lambda|] per component."""
        g, nu = self.n_features, posterior.degrees_of_freedom
        log_det_precision = 2.0 * self.model.log_det(posterior.precisions_cholesky, g)  # log |nu W|
        if np.all(np.isinf(nu)):  # held covariances: the precision is a point
            return log_det_precision
        if self.model.layout == FULL:
            return (digamma(0.5 * (nu[:, None] - np.arange(g))).sum(axis=1) + g * np.log(2.0) - g * np.log(nu)
                    + log_det_precision)
        # Per feature a Gamma(nu / 2, nu C_a / 2) precision: E[log lambda_a] = psi(nu / 2) - log(nu C_a / 2).
        return g * (digamma(0.5 * nu) + np.log(2.0) - np.log(nu)) + log_det_precision

    def check_means(self, means, name):
        if not np.all(np.isfinite(means)):
            raise ValueError(f"'{name}' must be finite")

    def expand(self, value, name):
        raise NotImplementedError

    # The mixture pads the counts before a family's update; gaussian.ml_update
    # and map_update pad them again, a further 10 eps: far below the rounding
    # of any count a component can hold.

    def ml(self, n, s, held=None):
        """With ``held`` (GaussianParams whose means, covariances or both are given) the update
        given them: the covariances about held means, held covariances kept (a constrained M-step)."""
        params = gaussian.ml_update(self._stats(n, s), self.covariance_type, self.reg_covar, np.float64,
                                    held_means=None if held is None else held.means)
        return _with_held_covariances(params, held)

    def map(self, n, s, prior, held=None):
        """The conditional mode given ``held`` (the means' mode does not depend on the covariances)."""
        params = gaussian.map_update(self._stats(n, s), self.covariance_type, self.reg_covar, np.float64, prior,
                                     None if held is None else held.means)
        return _with_held_covariances(params, held)

    def log_prior(self, params, prior):
        # The components' terms alone: the mixture adds the weights' own.
        return float(self.model.log_prior_terms(params, prior, 0.0))

    def posterior(self, n, s, prior, held=None):
        """The normal-Wishart (full) or normal-gamma (diag) posterior under the prior the
        MAP step uses: beta = kappa0 + N, m = (kappa0 m0 + N xbar) / beta, nu = nu0 + N,
        and C = (Psi0 + B) / nu with B the scatter plus kappa0 N / beta (xbar - m0)(xbar - m0)^T;
        the precision's expectation is C^-1 (its Cholesky factor kept). Held values (``held``)
        are points with no prior. Held means: q(Lambda) alone, B the scatter about them, and
        beta infinite. Held covariances P^-1: q(mu) = N(m, (beta P)^-1) alone, nu infinite."""
        stats = self._stats(n, s)
        kappa, m0 = prior.mean_precision_prior, prior.mean_prior
        if held is not None and held.covariances is not None:
            k = n.shape[0]
            if held.means is not None:
                beta, means = np.full(k, np.inf), np.asarray(held.means, dtype=np.float64)
            else:
                xbar = (stats.s1 + n[:, None] * stats.reference) / n[:, None]
                beta = kappa + n
                means = (kappa * m0 + n[:, None] * xbar) / beta[:, None]
            return GaussianPosterior(beta, means, np.full(k, np.inf), held.covariances, held.precisions_cholesky), None
        held_means = None if held is None else held.means
        if held_means is not None:
            stats = about_held_means(stats, held_means)
            b = self.model.scatter_about_mean(stats)
            nu = prior.degrees_of_freedom_prior + n
            scale = prior.covariance_prior + b
            covariances = scale / (nu[:, None, None] if self.model.layout == FULL else nu[:, None])
            return GaussianPosterior(np.full(n.shape[0], np.inf), np.asarray(held_means, dtype=np.float64), nu,
                                     covariances, self.model.precision_cholesky(covariances)), None
        xbar = (stats.s1 + n[:, None] * stats.reference) / n[:, None]
        beta = kappa + n
        b = self.model.map_scatter(self.model.scatter_about_mean(stats), kappa * n / beta, xbar - m0)
        nu = prior.degrees_of_freedom_prior + n
        scale = prior.covariance_prior + b
        covariances = scale / (nu[:, None, None] if self.model.layout == FULL else nu[:, None])
        chol = self.model.precision_cholesky(covariances)
        return GaussianPosterior(beta, (kappa * m0 + n[:, None] * xbar) / beta[:, None], nu, covariances, chol), None

    def posterior_means(self, first, second):
        return gaussian.GaussianParams(None, first.means, first.covariances, first.precisions_cholesky)

    def kl(self, first, second, prior):
        """KL(q || prior) = KL of the precisions + E_q of the means' KL given the precision;
        a held part (infinite beta or nu: a point with no prior) has none."""
        g = self.n_features
        beta, nu, chol = first.mean_precision, first.degrees_of_freedom, first.precisions_cholesky
        kappa, m0, nu0, psi = prior.mean_precision_prior, prior.mean_prior, prior.degrees_of_freedom_prior, prior.covariance_prior
        offset = first.means - m0
        if np.all(np.isinf(nu)):  # held covariances P: the means' KL at precision P
            if np.all(np.isinf(beta)):
                return 0.0
            if self.model.layout == FULL:
                quadratic = (np.einsum("kc,kca->ka", offset, chol) ** 2).sum(axis=1)
            else:
                quadratic = (offset**2 * chol**2).sum(axis=1)
            return float(np.sum(0.5 * (g * np.log(beta / kappa) + g * kappa / beta - g + kappa * quadratic)))
        if self.model.layout == FULL:
            quadratic = (np.einsum("kc,kca->ka", offset, chol) ** 2).sum(axis=1)  # (m - m0)^T nu W (m - m0)
            log_det_w = 2.0 * self.model.log_det(chol, g) - g * np.log(nu)  # log |W|
            _, log_det_psi = np.linalg.slogdet(psi)
            trace = np.einsum("ab,kba->k", psi, chol @ np.swapaxes(chol, 1, 2)) / nu  # tr(Psi0 W)
            expected = self._expected_log_det(first)
            wishart = (-0.5 * nu0 * (log_det_psi + log_det_w) + 0.5 * nu * (trace - g) + multigammaln(0.5 * nu0, g)
                       - np.array([multigammaln(0.5 * v, g) for v in nu])
                       + 0.5 * (nu - nu0) * (expected - g * np.log(2.0) - log_det_w))
        else:
            precision = chol**2  # E[lambda_a] = 1 / C_a
            quadratic = (offset**2 * precision).sum(axis=1)
            shape = 0.5 * nu[:, None]
            wishart = gamma_kl(shape, shape * first.covariances, 0.5 * nu0, 0.5 * psi).sum(axis=1)
        if np.all(np.isinf(beta)):  # held means: points, no prior, no KL
            return float(np.sum(wishart))
        means = 0.5 * (g * np.log(beta / kappa) + g * kappa / beta - g + kappa * quadratic)
        return float(np.sum(wishart + means))

    def default_prior(self, column_means):
        raise NotImplementedError

    def resolve(self, prior, moments, n_components, variational):
        """mclust's default conjugate prior over the group's columns (fastem.prior); variational
        Bayes needs a proper prior on the means (kappa0 > 0), as the default is."""
        resolved = resolve_gaussian_prior(prior, _Moments(self.n_features, moments), n_components, self.covariance_type)
        if variational and not resolved.mean_precision_prior > 0:
            raise ValueError("variational Bayes needs mean_precision_prior > 0 for a Gaussian group")
        return resolved

    def n_free(self):
        g = self.n_features
        return self.model.free_per_component(g)

    def sample(self, params, counts, rng):
        return np.vstack(self.model.sample(rng, params.means, params.covariances, counts))

    means_define_components = False

    def with_means(self, params, means):
        return params._replace(means=np.asarray(means, dtype=np.float64))

    def rounding_point(self, params):
        return self._features(params.means)

    def linear_means(self, params):
        return params.means


def _with_held_covariances(params, held):
    """``params`` with the held covariances (and their factors) in place of the update's."""
    if held is None or held.covariances is None:
        return params
    return params._replace(covariances=held.covariances, precisions_cholesky=held.precisions_cholesky)


class GaussianPosterior(NamedTuple):
    """q of a Gaussian group's components: mu | Lambda ~ N(m, (beta Lambda)^-1) and
    Lambda ~ Wishart(W, nu) (full) or each lambda_a ~ Gamma(nu / 2, nu C_a / 2) (diag),
    with C = (nu W)^-1 the ``covariances`` (scikit-learn's BayesianGaussianMixture
    reports the same) and ``precisions_cholesky`` the factor of C^-1."""

    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class _Moments(NamedTuple):
    """A data source's view for fastem.prior.resolve_prior: a group's mean and covariance."""

    n_features: int
    moments: object


class ProductPrior(NamedTuple):
    """The resolved priors of a product: the weights' Dirichlet and one prior per group."""

    weight_concentration: np.ndarray
    parts: tuple


class ProductFamily(Family):
    """Families over column groups; ``groups`` is a list of (family, columns of X).

    The pass reads every group's first-order columns (its means' columns)
    first, in group order, then the Gaussian groups' second-order features:
    the leading ``n_means`` columns are the data as the initialization
    clusters them. ``positions[g]`` holds where group g's own columns (in
    the order its ``pass_data`` makes them) sit among the pass's.
    """

    def __init__(self, groups, held=None):
        self.groups = groups
        #: Per group, what is held at given values (``fixed``) or None: a Poisson, Bernoulli or
        #: categorical group's parameters; a Gaussian group's GaussianParams with its held means,
        #: covariances (and their precision factors) or both, None for what is fitted.
        self.held = tuple(held) if held is not None else (None,) * len(groups)
        for family, columns in groups:
            family.columns = np.asarray(columns)  # X's columns, for the families' error messages
        self.n_means = sum(family.n_means for family, _ in groups)
        linear_at, second_at, self.positions = 0, self.n_means, []
        for family, _ in groups:
            n_second = family.n_columns - family.n_means
            self.positions.append(np.concatenate([np.arange(linear_at, linear_at + family.n_means),
                                                  np.arange(second_at, second_at + n_second)]))
            linear_at += family.n_means
            second_at += n_second
        self.n_columns = second_at
        self.has_log_base = any(family.has_log_base for family, _ in groups)
        self.means_define_components = all(family.means_define_components for family, _ in groups)
        self.init_columns = self.n_means if self.n_means < self.n_columns else None
        self.takes_missing = all(family.takes_missing for family, _ in groups)

    def _parts(self):
        return zip((family for family, _ in self.groups), self.positions)

    def pass_data(self, X, estimator_name):
        data = np.empty((X.shape[0], self.n_columns))
        for (family, columns), position in zip(self.groups, self.positions):
            data[:, position] = family.pass_data(X[:, columns], estimator_name)
        return data

    def missing_layout(self):
        """Every group's layout at its positions; None when no group takes missing entries."""
        layouts = [(family.missing_layout(), position) for family, position in self._parts()]
        if all(layout is None for layout, _ in layouts):
            return None
        return MissingLayout(
            np.concatenate([position[layout.indicators] for layout, position in layouts if layout is not None]),
            tuple(group._replace(first=position[group.first], second=position[group.second])
                  for layout, position in layouts if layout is not None for group in layout.gaussian))

    def log_base(self, data):
        total = np.zeros(data.shape[0])
        for family, position in self._parts():
            if family.has_log_base:
                total += family.log_base(data[:, position])
        return total

    def natural(self, params):
        theta = np.empty((_n_components(params), self.n_columns))
        constant = 0.0
        for (family, position), group_params in zip(self._parts(), params):
            theta[:, position], group_constant = family.natural(group_params)
            constant = constant + group_constant
        return theta, constant

    def expected_natural(self, posterior):
        theta = np.empty((_n_components(posterior.first), self.n_columns))
        constant = 0.0
        for (family, position), first, second, held in zip(self._parts(), posterior.first, posterior.second,
                                                            self.held):
            if held is not None and not isinstance(family, GaussianGroup):
                theta[:, position], group_constant = family.natural(held)  # a point mass
            else:
                group = first if isinstance(family, GaussianGroup) else FamilyPosterior(None, first, second)
                theta[:, position], group_constant = family.expected_natural(group)
            constant = constant + group_constant
        return theta, constant

    def _mean_slices(self):
        widths = [family.n_means for family, _ in self.groups]
        return [slice(int(a), int(b)) for a, b in zip(np.cumsum([0] + widths[:-1]), np.cumsum(widths))]

    def check_means(self, means, name):
        for (family, _), part in zip(self.groups, self._mean_slices()):
            family.check_means(means[:, part], name)

    def with_means(self, params, means):
        return tuple(family.with_means(group_params, means[:, part])
                     for (family, _), group_params, part in zip(self.groups, params, self._mean_slices()))

    def expand(self, value, name):
        raise NotImplementedError

    def ml(self, n, s):
        return tuple(self._held_update(family, held, family.ml, n, s[:, position])
                     for (family, position), held in zip(self._parts(), self.held))

    def map(self, n, s, prior):
        return tuple(self._held_update(family, held, family.map, n, s[:, position], group_prior)
                     for (family, position), group_prior, held in zip(self._parts(), prior.parts, self.held))

    @staticmethod
    def _held_update(family, held, update, *args):
        """A group's update given its held means: the held values themselves, or a Gaussian
        group's covariances about them."""
        if held is None:
            return update(*args)
        if isinstance(family, GaussianGroup):
            return update(*args, held=held)
        return held

    def log_prior(self, params, prior):
        return float(sum(family.log_prior(group_params, group_prior)
                         for (family, _), group_params, group_prior in zip(self.groups, params, prior.parts)))

    def posterior(self, n, s, prior):
        parts = [self._held_update(family, held, family.posterior, n, s[:, position], group_prior)
                 if held is None or isinstance(family, GaussianGroup) else (held, None)
                 for (family, position), group_prior, held in zip(self._parts(), prior.parts, self.held)]
        return tuple(first for first, _ in parts), tuple(second for _, second in parts)

    def posterior_means(self, first, second):
        return tuple(held if held is not None and not isinstance(family, GaussianGroup)
                     else family.posterior_means(f, s)
                     for (family, _), f, s, held in zip(self.groups, first, second, self.held))

    def kl(self, first, second, prior):
        """KL(q || prior) summed over the groups; a held group's points have none (a Gaussian
        group's held means leave its q(Lambda)'s)."""
        return float(sum(family.kl(f, s, group_prior)
                         for (family, _), f, s, group_prior, held in zip(self.groups, first, second, prior.parts,
                                                                          self.held)
                         if held is None or isinstance(family, GaussianGroup)))

    def default_prior(self, column_means):
        raise NotImplementedError

    def resolve(self, prior, source, n_components, variational):
        column_means = source.mean()
        moments = _LazyMoments(source)
        parts = []
        for family, position in self._parts():
            if isinstance(family, GaussianGroup):
                parts.append(family.resolve("default", moments.group(position, family), n_components, variational))
            else:
                parts.append(resolve_prior(family, "default", column_means[position], n_components, variational))
        return ProductPrior(np.ones(n_components), tuple(parts))

    def n_free(self):
        return sum(family.n_free() for family, _ in self.groups)

    def sample(self, params, counts, rng):
        n_features = sum(len(columns) for _, columns in self.groups)
        rows = np.empty((int(np.sum(counts)), n_features))
        for (family, columns), group_params in zip(self.groups, params):
            rows[:, columns] = family.sample(group_params, counts, rng)
        return rows

    def rounding_point(self, params):
        point = np.empty((_n_components(params), self.n_columns))
        for (family, position), group_params in zip(self._parts(), params):
            point[:, position] = family.rounding_point(group_params)
        return point

    def linear_means(self, params):
        """Every group's means side by side (the estimator's ``means_``): Gaussian means,
        rates, probabilities of a 1, category probabilities."""
        return np.hstack([family.linear_means(group_params) if isinstance(family, GaussianGroup) else group_params
                          for (family, _), group_params in zip(self.groups, params)])


class _LazyMoments:
    """The source's mean and covariance over the pass's columns, computed once when first asked."""

    def __init__(self, source):
        self.source = source
        self.value = None

    def group(self, position, family):
        def moments():
            if self.value is None:
                self.value = self.source.moments()
            mean, covariance = self.value
            block = position[: family.n_features]  # the group's columns about its centre
            return mean[block] + family.center, covariance[np.ix_(block, block)]

        return moments


def _n_components(params):
    """Components of a product's parameters (a GaussianParams or a means array per group)."""
    first = params[0]
    return getattr(first, "means", first).shape[0]


def make_group(name, n_features, reg_covar, center=None, n_categories=None):
    """The family of a column group named ``name`` (one of GROUP_FAMILIES) over ``n_features`` columns;
    a Gaussian group's features are taken about ``center``, a categorical group has ``n_categories``."""
    if name in ("gaussian", "gaussian_diag"):
        return GaussianGroup(center, "full" if name == "gaussian" else "diag", reg_covar)
    if name == "poisson":
        return PoissonFamily(n_features)
    if name == "bernoulli":
        return BernoulliFamily(n_features)
    return CategoricalFamily(n_categories)
