"""Initial responsibilities, drawn exactly as scikit-learn draws them.

Each method returns a function ``resp_chunk(start, stop)`` giving the float64
responsibilities of rows ``start:stop``, so that no n x k array is held. For
the same ``random_state`` the responsibilities are those of scikit-learn's
``GaussianMixture`` and the random state ends in the same place.
"""

import numpy as np

from fastem._hc import hc_labels
from fastem._kmeans import kmeans_labels, kmeans_plusplus_rows


def one_hot(labels, n_components):
    """One-hot rows of ``labels``; a label of -1 gives a row of zeros."""
    resp = np.zeros((labels.shape[0], n_components))
    rows = np.flatnonzero(labels >= 0)
    resp[rows, labels[rows]] = 1.0
    return resp


def _one_hot(labels, n_components):
    """Chunks of one-hot rows of ``labels``."""

    def resp_chunk(start, stop):
        return one_hot(labels[start:stop], n_components)

    return resp_chunk


def rows_from_data(random_state, n_samples, n_components, sample_weight=None):
    """The rows 'random_from_data' starts from: distinct, drawn among rows of positive weight."""
    if sample_weight is None:
        return random_state.choice(n_samples, size=n_components, replace=False)
    candidates = np.flatnonzero(sample_weight > 0)
    if candidates.shape[0] < n_components:
        raise ValueError(
            "init_params='random_from_data' needs at least n_components rows of positive "
            f"sample_weight, got {candidates.shape[0]} for n_components = {n_components}"
        )
    return candidates[random_state.choice(candidates.shape[0], size=n_components, replace=False)]


def labels_of_rows(rows, start, n_rows, row_labels=None):
    """Labels of rows ``start:start + n_rows`` when row ``rows[j]`` has label ``row_labels[j]``
    (by default j: component j starts from row ``rows[j]``), the others -1."""
    labels = np.full(n_rows, -1, dtype=np.int64)
    inside = np.flatnonzero((rows >= start) & (rows < start + n_rows))
    labels[rows[inside] - start] = inside if row_labels is None else row_labels[inside]
    return labels


def random_responsibilities(random_state, n_components, dtype):
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


def initial_responsibilities(method, X, n_components, random_state, sample_weight=None, n_threads=None, labels=None):
    """Return ``resp_chunk(start, stop)`` for an ``init_params`` method.

    Parameters
    ----------
    method : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}
        'hc' is mclust's hierarchical start (fastem._hc): one-hot rows of a
        partition of (a sample of) the rows, zero rows outside the sample.
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    random_state : numpy.random.RandomState
    sample_weight : ndarray of shape (n_samples,) or None
        Used by 'kmeans' and 'k-means++'; 'random_from_data' draws among the
        rows of positive weight.
    n_threads : int or None
        Threads for the compiled k-means.
    labels : RowLabels or None
        Known components of some rows: 'kmeans' starts from their classes' means
        (fastem._kmeans.BlockKMeans.labelled_centers).
    """
    if method == "kmeans":
        assigned = kmeans_labels(X, n_components, random_state, sample_weight, n_threads, labels=labels)
        return _one_hot(assigned, n_components)
    if method == "random":
        return random_responsibilities(random_state, n_components, X.dtype)
    if method == "hc":
        return _one_hot(hc_labels(X, n_components, random_state, sample_weight), n_components)
    if method == "random_from_data":
        rows = rows_from_data(random_state, X.shape[0], n_components, sample_weight)
    else:  # 'k-means++'
        rows = kmeans_plusplus_rows(X, n_components, random_state, sample_weight, n_threads)
    return _one_hot(labels_of_rows(rows, 0, X.shape[0]), n_components)


def unassigned_moment(X, sample_weight, resp):
    """Sum over rows of w_i (1 - sum_j r_ij) x_i x_i^T, in float64.

    scikit-learn's tied covariance is (X^T X - sum_j N_j mu_j mu_j^T) / sum_j N_j,
    which assumes every row's responsibilities sum to one. The k-means++ and
    random_from_data initializations give responsibility to k rows only, so
    its initial tied covariance also holds this moment of all the other rows
    (fastem._base adds it to reproduce the same fit).
    """
    unassigned = 1.0 - resp.sum(axis=1)
    if sample_weight is not None:
        unassigned *= sample_weight
    chunk = np.asarray(X, dtype=np.float64)
    return (chunk * unassigned[:, None]).T @ chunk
