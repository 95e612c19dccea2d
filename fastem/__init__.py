"""fastem: Expectation-Maximization for Gaussian mixtures on compiled parallel kernels."""

from fastem.mixture import GaussianMixture

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "__version__"]
