"""Initial responsibilities, drawn exactly as scikit-learn draws them.

Each method returns a function ``resp_chunk(start, stop)`` giving the float64
responsibilities of rows ``start:stop``, so that no n x k array is held. For
the same ``random_state`` the responsibilities are those of scikit-learn's
``GaussianMixture`` and the random state ends in the same place.
"""

import numpy as np

from fastem._kmeans import kmeans_labels


def _one_hot(labels, n_components):
    """Chunks of one-hot rows; a label of -1 gives a row of zeros."""

    def resp_chunk(start, stop):
        chunk = labels[start:stop]
        resp = np.zeros((stop - start, n_components))
        rows = np.flatnonzero(chunk >= 0)
        resp[rows, chunk[rows]] = 1.0
        return resp

    return resp_chunk


def _random(random_state, n_components, dtype):
    """Uniform draws normalized per row, in the data's dtype.

    The draws are taken chunk by chunk; the legacy RandomState produces the
    same stream whether it is drawn whole or in consecutive pieces. The
    function restarts the stream each time it is asked for row 0, so several
    passes see the same responsibilities; the state is left after the draws.
    """
    initial_state = random_state.get_state()

    def resp_chunk(start, stop):
        if start == 0:
            random_state.set_state(initial_state)
        resp = np.asarray(random_state.uniform(size=(stop - start, n_components)), dtype=dtype)
        resp /= resp.sum(axis=1)[:, np.newaxis]
        return resp

    return resp_chunk


def initial_responsibilities(method, X, n_components, random_state, sample_weight=None, n_threads=None):
    """Return ``resp_chunk(start, stop)`` for an ``init_params`` method.

    Parameters
    ----------
    method : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    random_state : numpy.random.RandomState
    sample_weight : ndarray of shape (n_samples,) or None
        Used by 'kmeans' and 'k-means++'; 'random_from_data' draws among the
        rows of positive weight.
    n_threads : int or None
        Threads for the compiled k-means.
    """
    n_samples = X.shape[0]
    if method == "kmeans":
        labels = kmeans_labels(X, n_components, random_state, sample_weight, n_threads)
        return _one_hot(labels, n_components)
    if method == "random":
        return _random(random_state, n_components, X.dtype)
    labels = np.full(n_samples, -1, dtype=np.int64)
    if method == "random_from_data":
        if sample_weight is None:
            indices = random_state.choice(n_samples, size=n_components, replace=False)
        else:
            candidates = np.flatnonzero(sample_weight > 0)
            if candidates.shape[0] < n_components:
                raise ValueError(
                    "init_params='random_from_data' needs at least n_components rows of positive "
                    f"sample_weight, got {candidates.shape[0]} for n_components = {n_components}"
                )
            indices = candidates[random_state.choice(candidates.shape[0], size=n_components, replace=False)]
    else:  # 'k-means++'
        from sklearn.cluster import kmeans_plusplus  # imported here: sklearn.cluster adds ~0.16 s to importing fastem

        _, indices = kmeans_plusplus(X, n_components, random_state=random_state, sample_weight=sample_weight)
    labels[indices] = np.arange(n_components)
    return _one_hot(labels, n_components)
