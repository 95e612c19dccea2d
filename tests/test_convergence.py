"""convergence='parameters' for every estimator: the fit stops at the first iteration
whose parameters moved by less than tol relative to their size, and nowhere earlier."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem._driver import parameter_change, run_em


def _gaussian_data(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0.0, 1.0, (500, 2)), rng.normal(2.5, 0.7, (400, 2))])


def _heavy_tails(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.standard_t(3.0, (500, 2)), 4.0 + rng.standard_t(5.0, (400, 2))])


def _counts(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.poisson([1.0, 5.0, 2.0], (500, 3)), rng.poisson([4.0, 1.0, 3.0], (400, 3))]).astype(float)


def _binary(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.random((500, 4)) < [0.8, 0.3, 0.6, 0.2], rng.random((400, 4)) < [0.3, 0.7, 0.4, 0.9]]).astype(float)


CASES = {
    "gaussian": (lambda **p: fastem.GaussianMixture(2, **p), _gaussian_data),
    "gaussian-map": (lambda **p: fastem.GaussianMixture(2, prior="default", covariance_type="diag", **p), _gaussian_data),
    "bayesian": (lambda **p: fastem.BayesianGaussianMixture(n_components=2, **p), _gaussian_data),
    "student": (lambda **p: fastem.StudentTMixture(2, **p), _heavy_tails),
    "poisson": (lambda **p: fastem.PoissonMixture(2, **p), _counts),
    "bernoulli": (lambda **p: fastem.BernoulliMixture(2, variational=True, **p), _binary),
    "categorical": (lambda **p: fastem.CategoricalMixture(2, **p), _binary),
    "mixed": (lambda **p: fastem.MixedMixture(2, groups=[("gaussian", [0]), ("gaussian", [1])], **p), _gaussian_data),
}


def _fit(make, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make(random_state=0, convergence="parameters", **params).fit(X)


@pytest.mark.parametrize("case", CASES)
def test_stops_at_the_first_small_parameter_change(case):
    make, data = CASES[case]
    X = data()
    tol = 1e-3
    model = _fit(make, X, tol=tol, max_iter=500)
    assert model.converged_ and model.n_iter_ >= 2
    states = [_fit(make, X, tol=0.0, max_iter=m)._state() for m in range(model.n_iter_ - 2, model.n_iter_ + 1)]
    before_last, last, final = (parameter_change(a, b) for a, b in zip(states, states[1:] + [model._state()]))
    assert before_last >= tol and last < tol
    assert final == 0.0  # the fit's parameters are the iterate it stopped at


def test_parameter_rule_differs_from_the_bound_rule_and_defaults_to_the_bound():
    X = _gaussian_data()
    by_bound = fastem.GaussianMixture(2, random_state=0, tol=1e-3).fit(X)
    assert by_bound.get_params()["convergence"] == "bound"
    by_parameters = fastem.GaussianMixture(2, random_state=0, tol=1e-3, convergence="parameters").fit(X)
    assert by_parameters.n_iter_ > by_bound.n_iter_
    with pytest.raises(ValueError, match="convergence"):
        fastem.GaussianMixture(2, convergence="likelihood").fit(X)


def test_parameter_change_is_relative_per_array_and_handles_nesting():
    old = ([1.0, 2.0], {"a": np.array([100.0, -200.0])}, None)
    new = ([1.0, 2.2], {"a": np.array([100.0, -201.0])}, None)
    assert parameter_change(old, new) == pytest.approx(0.2 / 2.2)
    assert parameter_change(([0.0],), ([0.0],)) == 0.0
    assert parameter_change(([1.0],), ([np.nan],)) == np.inf


def test_generalized_em_steps_run_and_the_loop_reports_their_bound():
    """The loop asks nothing of a step but a new state and the old state's bound: a step
    that only moves part of the way (a generalized M-step) converges on either rule."""
    target = np.array([3.0, -1.0])

    def step(state):
        return state + 0.5 * (target - state), -float(np.sum((state - target) ** 2))

    by_bound = run_em(np.zeros(2), step, tol=1e-8, max_iter=100)
    by_parameters = run_em(np.zeros(2), step, tol=1e-8, max_iter=100, convergence="parameters")
    assert by_bound.converged and by_parameters.converged
    assert np.all(np.diff(by_bound.lower_bounds) >= 0)
    np.testing.assert_allclose(by_parameters.params, target, atol=1e-7)
