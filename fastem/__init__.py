"""fastem: Expectation-Maximization for Gaussian mixtures on compiled parallel kernels."""

from fastem.bayesian_mixture import BayesianGaussianMixture
from fastem.mixture import GaussianMixture
from fastem.prior import GaussianPrior

__version__ = "0.1.0"

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "GaussianPrior", "__version__"]
