"""fastem's estimators as scikit-learn's estimator checks see unsupervised models.

The checks pass arbitrary targets as ``y`` (real numbers, classes beyond
n_components - 1) on the assumption that a density model ignores it. fastem
reads ``y`` as known components (fastem._labels), so those targets would be
refused as labels. These subclasses drop ``y`` in fit, fit_predict and
partial_fit; everything else the checks test is the estimator's own.
Labels themselves are tested in tests/test_labels.py.
"""

import fastem


class Unsupervised:
    """Mixin: the estimator with ``y`` ignored, as scikit-learn's checks expect of a density model."""

    def fit(self, X, y=None, sample_weight=None):
        return super().fit(X, sample_weight=sample_weight)

    def fit_predict(self, X, y=None, sample_weight=None):
        return super().fit_predict(X, sample_weight=sample_weight)

    def partial_fit(self, X, y=None, sample_weight=None):
        return super().partial_fit(X, sample_weight=sample_weight)


class GaussianMixture(Unsupervised, fastem.GaussianMixture):
    pass


class BayesianGaussianMixture(Unsupervised, fastem.BayesianGaussianMixture):
    pass


class StudentTMixture(Unsupervised, fastem.StudentTMixture):
    pass


class MixedMixture(Unsupervised, fastem.MixedMixture):
    pass
