"""fastem as servers run it: forked workers after a fit, and many Python threads at once."""

import os
import pickle
import select
import threading

import numpy as np
import pytest

import fastem

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

#: Long enough for a fit on a loaded machine; a child that hangs fails the test instead of the suite.
CHILD_SECONDS = 120


def _data(seed=0, n=60_000, d=6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, d))
    return centres[rng.integers(0, 3, size=n)] + rng.normal(size=(n, d))


def _summary(model, X):
    return model.means_, model.precisions_cholesky_, model.lower_bound_, model.predict_proba(X)


def _in_forked_child(function):
    """Run ``function()`` in a forked child; its pickled result, or AssertionError if the child dies or hangs."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            payload = pickle.dumps(function())
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as incoming:
        while True:
            ready, _, _ = select.select([incoming], [], [], CHILD_SECONDS)
            if not ready:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError(f"the forked child gave no result within {CHILD_SECONDS} s")
            chunk = os.read(incoming.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the forked child died (exit code {os.waitstatus_to_exitcode(status)})"
    return pickle.loads(b"".join(chunks))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_fit_and_predict_in_forked_child_and_grandchild(covariance_type):
    X = _data()
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    expected = _summary(model.fit(X), X)  # the parent has run the pass on its worker threads

    def fit_here():
        return _summary(fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X), X)

    def child():
        # The child fits, then forks a child of its own that fits again.
        return fit_here(), _in_forked_child(fit_here)

    in_child, in_grandchild = _in_forked_child(child)
    for got in (in_child, in_grandchild):
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)


def test_predict_in_forked_child_of_fitted_model():
    X = _data(seed=1)
    model = fastem.GaussianMixture(3, random_state=0).fit(X)
    expected = model.score_samples(X)
    np.testing.assert_array_equal(_in_forked_child(lambda: model.score_samples(X)), expected)


def test_eight_threads_fitting_at_once_agree_with_serial_fits():
    datasets = [_data(seed, n=40_000) for seed in range(8)]
    settings = [dict(covariance_type=("full", "diag")[i % 2], n_threads=(None, 1)[(i // 2) % 2]) for i in range(8)]

    def fit(i):
        return fastem.GaussianMixture(3, random_state=0, **settings[i]).fit(datasets[i])

    serial = [_summary(fit(i), datasets[i]) for i in range(8)]
    results = [None] * 8
    errors = []
    start = threading.Barrier(8)

    def worker(i):
        try:
            start.wait()
            results[i] = _summary(fit(i), datasets[i])
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for expected, got in zip(serial, results):
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer", ["default", "omp", "workqueue"])
def test_no_numba_threading_layer_starts_whatever_the_user_chose(layer):
    # A fresh process: the passes (with missing values too, and k-means) run
    # on fastem's threads, so no layer of Numba's starts, which keeps a fork
    # safe wherever GNU OpenMP's layer would be the one found.
    import subprocess
    import sys

    code = (
        "import numpy as np, numba, fastem\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(200_000, 8))\n"
        "fastem.GaussianMixture(3, covariance_type='diag', random_state=0).fit(X)\n"
        "X[rng.random(X.shape) < 0.05] = np.nan\n"
        "fastem.GaussianMixture(3, random_state=0, max_iter=3).fit(X)\n"
        "try:\n"
        "    print(numba.threading_layer())\n"
        "except ValueError:\n"
        "    print('none')\n"
    )
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "none"
