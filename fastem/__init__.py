"""fastem: Expectation-Maximization for Gaussian mixtures on compiled parallel kernels."""

from fastem.batch import fit_many, select
from fastem.bayesian_mixture import BayesianGaussianMixture
from fastem.mixture import GaussianMixture
from fastem.prior import GaussianPrior

__version__ = "0.1.0"

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "GaussianPrior", "fit_many", "select", "__version__"]
