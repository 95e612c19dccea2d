"""fastem: Expectation-Maximization for mixture models on compiled parallel kernels."""

from fastem._progress import progress
from fastem.batch import fit_many, select
from fastem.bayesian_mixture import BayesianGaussianMixture
from fastem.bernoulli import BernoulliPrior
from fastem.categorical import CategoricalPrior
from fastem.family_mixture import BernoulliMixture, CategoricalMixture, PoissonMixture
from fastem.files import load, save
from fastem.mixed_mixture import MixedMixture
from fastem.mixture import GaussianMixture
from fastem.poisson import PoissonPrior
from fastem.prior import GaussianPrior
from fastem.student_mixture import StudentTMixture

__version__ = "0.1.0"

__all__ = [
    "BayesianGaussianMixture",
    "BernoulliMixture",
    "BernoulliPrior",
    "CategoricalMixture",
    "CategoricalPrior",
    "GaussianMixture",
    "GaussianPrior",
    "MixedMixture",
    "PoissonMixture",
    "PoissonPrior",
    "StudentTMixture",
    "fit_many",
    "load",
    "progress",
    "save",
    "select",
    "__version__",
]
