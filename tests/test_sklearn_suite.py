"""scikit-learn's own mixture tests, run against fastem's estimators.

The test files that ship with the installed scikit-learn
(``sklearn/mixture/tests/test_*.py``) are read, their imports of
``GaussianMixture`` and ``BayesianGaussianMixture`` from ``sklearn.mixture``
swapped for fastem's, and their tests collected here under the names
``test_<file>__<test>``. Everything else they import (data helpers,
scikit-learn's private functions, which some tests check on their own)
stays scikit-learn's.

``DIFFERENCES`` below is the one list of where fastem deliberately
differs: each entry names an upstream test (or one of its parametrized
cases) and says why. Those tests are marked as expected failures, strictly:
one that starts passing fails the suite, so the list stays true.
"""

import collections.abc
import importlib.util
import pathlib
import re

import numpy as np
import pytest
import sklearn

UPSTREAM = ("test_gaussian_mixture", "test_bayesian_mixture", "test_mixture")

#: Upstream test, by its name here -> why fastem differs.
DIFFERENCES = {
    "test_gaussian_mixture__check_weights": (
        "scikit-learn's weights_init range error names the minimum as the maximum and the "
        "maximum as the minimum, and this test pins that message; fastem names them the right way round"
    ),
    "test_gaussian_mixture__gaussian_mixture_precisions_init": (
        "calls scikit-learn's private GaussianMixture._initialize(X, resp); fastem's estimators do not "
        "have scikit-learn's private methods (initial precisions from precisions_init are checked "
        "against scikit-learn's fits in tests/test_sklearn_parity.py)"
    ),
    "test_gaussian_mixture__gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
        "counts the calls of scikit-learn's private _estimate_gaussian_parameters, which fastem never calls: "
        "its M-step is its own (fastem.gaussian.ml_update, compiled in fastem._kernels._update)"
    ),
    "test_bayesian_mixture__compare_covar_type": (
        "calls scikit-learn's private BayesianGaussianMixture._check_parameters and "
        "_initialize_parameters, which fastem's estimator does not have"
    ),
    "test_gaussian_mixture__gaussian_mixture_raises_where_array_api_not_implemented": (
        "fastem computes on NumPy arrays with compiled kernels whatever scikit-learn's array_api_dispatch "
        "says, so it fits where scikit-learn raises NotImplementedError for init_params under dispatch"
    ),
}

#: scikit-learn runs these tests with ConvergenceWarning not raised (a max_iter=1 fit warns
#: in both libraries); fastem's suite turns other warnings into errors.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _swap_imports(source):
    """The test file's source with sklearn.mixture's estimators imported from fastem."""
    swapped, count = re.subn(r"^from sklearn\.mixture import ", "from fastem import ", source, flags=re.M)
    if count != 1:
        raise AssertionError(f"expected one 'from sklearn.mixture import' line, found {count}")
    return swapped


def _load(stem):
    path = pathlib.Path(sklearn.__file__).parent / "mixture" / "tests" / f"{stem}.py"
    spec = importlib.util.spec_from_loader(f"fastem_upstream_{stem}", loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    exec(compile(_swap_imports(path.read_text()), str(path), "exec"), module.__dict__)
    return module


def _listed_parameters(function):
    """Parametrize marks given an iterator (which pytest deprecates) take the same values as a list."""
    for index, mark in enumerate(getattr(function, "pytestmark", ())):
        if mark.name == "parametrize" and not isinstance(mark.args[1], collections.abc.Collection):
            function.pytestmark[index] = pytest.mark.parametrize(mark.args[0], list(mark.args[1]), **mark.kwargs).mark
    return function


def _collect():
    tests = {}
    for stem in UPSTREAM:
        module = _load(stem)
        short = stem[len("test_"):]
        for name, function in vars(module).items():
            if name.startswith("test_") and callable(function):
                here = f"test_{short}__{name[len('test_'):]}"
                function = _listed_parameters(function)
                if here in DIFFERENCES:
                    function = pytest.mark.xfail(strict=True, reason=DIFFERENCES[here])(function)
                tests[here] = function
    unknown = set(DIFFERENCES) - set(tests)
    if unknown:
        raise AssertionError(f"DIFFERENCES names tests that scikit-learn no longer has: {sorted(unknown)}")
    return tests


globals().update(_collect())


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def global_dtype(request):
    """scikit-learn's dtype fixture: float64, and float32 (which fastem keeps)."""
    return request.param


@pytest.fixture
def global_random_seed():
    """scikit-learn's seed fixture at its default."""
    return 42
