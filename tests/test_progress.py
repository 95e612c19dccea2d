"""Progress: plain lines off a terminal, a live line on one (a pseudo-terminal), off by
default in the Python API, on in the command; the results do not change."""

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def blobs(n=6000, seed=0):
    """Three overlapping blobs: EM takes many iterations to settle."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) + np.repeat(rng.normal(scale=1.5, size=(3, 3)), n // 3, axis=0)


def test_off_by_default_and_on_with_verbose_or_progress(capsys):
    X = blobs()
    # k-means++: not the compiled whole fit of small problems, which reports once (below).
    params = dict(random_state=0, init_params="k-means++")
    quiet(fastem.GaussianMixture(3, max_iter=25, tol=1e-9, **params).fit, X)
    assert capsys.readouterr().err == ""
    with fastem.progress():
        model = quiet(fastem.GaussianMixture(3, max_iter=25, tol=1e-9, n_init=2, **params).fit, X)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [line for line in lines if "iteration" in line] == [
        line for line in lines if re.fullmatch(r"fastem: GaussianMixture init [12]/2, iteration (10|20): bound "
                                               r"-?[0-9.e+-]+ \(change -?[0-9.e+-]+\), [0-9.e+-]+ rows/s", line)]
    assert sum("iteration" in line for line in lines) == 4  # iterations 10 and 20 of two restarts
    assert sum("stopped without converging: bound" in line for line in lines) == 2
    assert f"{model.lower_bounds_[19]:.8g}" in err
    # verbose turns it on (scikit-learn's messages stay on standard output); progress(False) off.
    quiet(fastem.GaussianMixture(3, max_iter=10, tol=1e-12, verbose=1, **params).fit, X)
    out, err = capsys.readouterr()
    assert out.startswith("Initialization 0\n") and "iteration 10: bound" in err
    with fastem.progress(False):
        quiet(fastem.GaussianMixture(3, max_iter=10, verbose=1, **params).fit, X)
    assert capsys.readouterr().err == ""


def test_results_are_the_same_with_progress(capsys):
    X = blobs()
    for model_of in (lambda: fastem.GaussianMixture(3, random_state=0),
                     lambda: fastem.GaussianMixture(3, random_state=0, covariance_type="diag"),
                     lambda: fastem.PoissonMixture(2, random_state=0)):
        data = X if "Poisson" not in type(model_of()).__name__ else np.abs(X).round()
        for rows in (data, np.tile(data, (30, 1))):  # small ones run whole in compiled code
            plain = quiet(model_of().fit, rows)
            with fastem.progress():
                shown = quiet(model_of().fit, rows)
            np.testing.assert_array_equal(shown.means_, plain.means_)
            np.testing.assert_array_equal(shown.lower_bounds_, plain.lower_bounds_)
    lines = capsys.readouterr().err.splitlines()
    assert sum("(compiled whole fit)" in line for line in lines) == 2  # the small Gaussian fits
    assert sum(line.startswith("fastem: GaussianMixture converged: bound") for line in lines) == 2
    assert sum(line.startswith("fastem: PoissonMixture converged: bound") for line in lines) == 2


def test_fit_many_and_select_report_models_not_fits(capsys):
    X = blobs(3000)
    sets = [X[i::10] for i in range(10)]
    with fastem.progress():
        many = quiet(fastem.fit_many, sets, fastem.GaussianMixture(3, random_state=0))
        quiet(fastem.select, X, n_components=[1, 2, 3], covariance_types=("full", "diag"))
    err = capsys.readouterr().err
    assert "fastem: fit_many: 10/10 models" in err
    assert "fastem: select: 6/6 models" in err
    assert "GaussianMixture" not in err  # the fits inside report nothing
    plain = quiet(fastem.fit_many, sets, fastem.GaussianMixture(3, random_state=0))
    for a, b in zip(many, plain):
        np.testing.assert_array_equal(a.means_, b.means_)


def _command(*args, tty=False, cwd=None):
    """Run ``fastem`` as a user does; standard error on a pseudo-terminal when ``tty``."""
    command = [sys.executable, "-m", "fastem.cli", *args]
    if not tty:
        return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal's size
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, cwd=cwd)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the follower side closed: the process is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=600)
        out = process.stdout.read().decode()
        process.stdout.close()
    finally:
        os.close(leader)
    return process.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "data.npy"
    np.save(path, blobs(90_000, seed=3))  # beyond the compiled whole fit of small problems
    return path


def test_the_command_shows_plain_lines_off_a_terminal_and_quiet_hides_them(data_file, tmp_path):
    model = tmp_path / "model.fastem"
    done = _command("fit", str(data_file), "-k", "3", "-o", str(model), "--tol", "1e-9", "--max-iter", "20")
    assert done.returncode == 0, done.stderr
    assert "fastem: GaussianMixture, iteration 10: bound" in done.stderr
    assert "\r" not in done.stderr
    assert "saved to" in done.stdout
    done = _command("fit", str(data_file), "-k", "3", "-o", str(model), "--quiet")
    assert done.returncode == 0 and "fastem: GaussianMixture" not in done.stderr
    done = _command("select", str(data_file), "-k", "1..2", "--covariance", "full,diag")
    assert done.returncode == 0 and "fastem: select: 4/4 models" in done.stderr


def test_the_command_draws_a_live_line_on_a_terminal(data_file, tmp_path):
    returncode, out, err = _command("fit", str(data_file), "-k", "3", "-o", str(tmp_path / "m.fastem"),
                                    "--tol", "1e-9", "--max-iter", "30", tty=True)
    assert returncode == 0, err
    assert re.search("\r[^\n]", err)  # redrawn in place
    assert "fastem: GaussianMixture" in err and "rows/s" in err and "30/30" in err
    assert "saved to" in out
