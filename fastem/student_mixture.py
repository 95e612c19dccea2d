"""fastem.StudentTMixture: mixtures of multivariate t distributions fitted by ECM."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import StrOptions

from fastem import student
from fastem._base import BaseMixture
from fastem.covariance import SKLEARN_MODELS
from fastem.mixture import GaussianMixture


def _check_dof(value, name, n_components):
    """``value`` as a float64 array of shape (n_components,), every entry positive and finite."""
    try:
        dof = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number or an array of shape ({n_components},), got {value!r}")
    if dof.ndim == 0:
        dof = np.full(n_components, float(dof))
    if dof.shape != (n_components,):
        raise ValueError(f"{name} must be a number or have shape ({n_components},), got shape {dof.shape}")
    bad = ~(np.isfinite(dof) & (dof > 0.0))
    if np.any(bad):
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be positive and finite, got {float(dof[j])} for component {j}")
    return dof


class StudentTMixture(GaussianMixture):
    """Mixture of multivariate Student-t distributions, fitted by ECM.

    Heavy-tailed components that are not pulled about by outliers: each row
    is down-weighted by u = (nu + d) / (nu + delta), delta its squared
    Mahalanobis distance from the component (Peel and McLachlan 2000; Liu
    and Rubin 1995). Each iteration is one pass over the data, then the
    weights, locations and scale matrices, then (unless ``dof`` is given)
    each component's degrees of freedom; the log-likelihood never
    decreases. Every parameter, method and attribute of
    :class:`fastem.GaussianMixture` is here too, with the same meaning,
    NaN as a missing entry included (fastem.missing).

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The model of the scale matrices, as GaussianMixture's covariances.
    dof : float, array-like of shape (n_components,) or None, default=None
        None estimates each component's degrees of freedom nu_j (within
        [0.01, 1000]: on Gaussian data the estimate stops at 1000); a
        positive number, or one per component, holds them fixed.
    dof_init : float or array-like of shape (n_components,), default=10.0
        The degrees of freedom the estimation starts from.
    tol, reg_covar, max_iter, n_init, init_params, weights_init, means_init, precisions_init, random_state, warm_start, verbose, verbose_interval, n_threads, learning_decay, learning_offset, convergence, fixed
        As for :class:`fastem.GaussianMixture`; ``precisions_init`` are
        inverse scale matrices, and the initial locations and scales are
        the Gaussian ones of the initial responsibilities.
    prior : None, 'default' or GaussianPrior, default=None
        MAP-ECM: the locations and scale matrices take the posterior mode
        under the Gaussian conjugate prior (normal-inverse-Wishart, mclust's
        defaults), the weights under the Dirichlet; the degrees of freedom
        keep their maximum-likelihood step. ``lower_bound_`` is then the
        log-posterior per sample.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        The locations (a t component's mean when nu > 1).
    covariances_ : ndarray
        The scale matrices Sigma_j, shaped as GaussianMixture's covariances.
        A t component's covariance is nu / (nu - 2) Sigma_j for nu > 2 (and
        infinite otherwise).
    precisions_ : ndarray
        Inverses of the scale matrices.
    precisions_cholesky_ : ndarray
    dof_ : ndarray of shape (n_components,)
        The degrees of freedom.
    converged_, n_iter_, lower_bound_, lower_bounds_, prior_, n_features_in_, feature_names_in_
        As for :class:`fastem.GaussianMixture`; the bound is the t mixture's
        log-likelihood (log-posterior with a prior) per sample.
    """

    _parameter_constraints: dict = {
        **GaussianMixture._parameter_constraints,
        "covariance_type": [StrOptions(set(SKLEARN_MODELS))],
        "dof": [Real, "array-like", None],
        "dof_init": [Real, "array-like"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        dof=None,
        dof_init=10.0,
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
        super().__init__(
            n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            means_init=means_init,
            precisions_init=precisions_init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
            n_threads=n_threads,
            prior=prior,
            learning_decay=learning_decay,
            learning_offset=learning_offset,
            convergence=convergence,
            fixed=fixed,
        )
        self.dof = dof
        self.dof_init = dof_init

    # ---------------------------------------------------------------- hooks

    def _starting_dof(self):
        """The degrees of freedom of an initial state: ``dof`` when fixed, else ``dof_init``."""
        if self.dof is not None:
            return _check_dof(self.dof, "dof", self.n_components)
        return _check_dof(self.dof_init, "dof_init", self.n_components)

    def _check_initial_parameters(self, n_features):
        self._starting_dof()
        return super()._check_initial_parameters(n_features)

    def _kernel_params_of(self, params, reference=None):
        return student.kernel_params(params, self.covariance_type, reference)

    def _update_rule(self, prior, dtype):
        """``update(stats, total_weight=None, dof=..., held_means=None) -> params``: one ECM M-step (ML or MAP)."""
        ctype, reg_covar, estimate = self.covariance_type, self.reg_covar, self.dof is None
        start = self._starting_dof()

        def update(stats, total_weight=None, dof=start, held_means=None):
            return student.ecm_update(stats, ctype, reg_covar, dtype, dof, estimate_dof=estimate, prior=prior,
                                      total_weight=total_weight, held_means=held_means)

        return update

    def _step_rule(self, source, prior, update):
        """One pass and one ECM update (GaussianMixture's compiled ML steps are Gaussian)."""
        return BaseMixture._step_rule(self, source, prior, update)

    def _update_options(self, state):
        """nu's search starts from the state's own nu, a step or two from the root near convergence."""
        return {**super()._update_options(state), "dof": state.dof}

    def _initial_state(self, source, random_state, update):
        params = super()._initial_state(source, random_state, update)
        return student.StudentTParams(*params[:4], self._starting_dof())

    def _state(self):
        return student.StudentTParams(*super()._state(), np.asarray(self.dof_, dtype=np.float64))

    def _continued_state(self):
        """The fitted state, its degrees of freedom replaced by ``dof`` when that holds them fixed
        (``set_params(dof=...)`` between a fit and a warm start)."""
        state = self._state()
        return state if self.dof is None else state._replace(dof=self._starting_dof())

    def _set_state(self, params, dtype):
        super()._set_state(params, dtype)
        self.dof_ = np.array(params.dof, dtype=np.float64)

    def _parameter_counts(self):
        counts = super()._parameter_counts()
        return {**counts, "dof": self.n_components} if self.dof is None else counts

    def _sample_rows(self, counts, rng):
        return np.vstack(student.sample(rng, self._state(), self.covariance_type, counts))

    def _free_per_component(self):
        return super()._free_per_component() + (1 if self.dof is None else 0)
