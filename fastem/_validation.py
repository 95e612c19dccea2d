"""Checks of user-supplied arrays, with scikit-learn's error messages."""

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight

from fastem.covariance import COVARIANCE_MODELS

FLOAT_DTYPES = [np.float64, np.float32]


def check_shape(array, shape, name):
    if array.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {array.shape}")


def check_weights_init(weights, n_components):
    """Validate ``weights_init``: shape (k,), entries in [0, 1], summing to 1."""
    weights = check_array(weights, dtype=FLOAT_DTYPES, ensure_2d=False)
    check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not abs(1.0 - float(np.sum(weights))) <= atol:
        raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {np.sum(weights):.5f}")
    return weights


def check_means_init(means, n_components, n_features):
    """Validate ``means_init``: shape (k, d)."""
    means = check_array(means, dtype=FLOAT_DTYPES, ensure_2d=False)
    check_shape(means, (n_components, n_features), "means")
    return means


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    """Validate ``precisions_init``: shape by covariance type, positive definite."""
    shape = COVARIANCE_MODELS[covariance_type].shape(n_components, n_features)
    precisions = check_array(precisions, dtype=FLOAT_DTYPES, ensure_2d=False, allow_nd=len(shape) > 2)
    check_shape(precisions, shape, f"{covariance_type} precision")
    check_precision_values(precisions, covariance_type)
    return precisions


def check_precision_values(precisions, covariance_type):
    """Symmetric positive definite matrices ('full', 'tied') or positive values, with scikit-learn's messages."""
    COVARIANCE_MODELS[covariance_type].check_precisions(precisions)


def check_sample_weight(sample_weight, X):
    """Validate sample weights: shape (n_samples,), finite, nonnegative, positive sum.

    Returns None for ``None`` (every weight one), else a float64 array.
    """
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.sum(sample_weight) > 0.0:
        raise ValueError("sample_weight must have a positive sum; got all zeros.")
    return sample_weight
