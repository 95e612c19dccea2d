"""The fastem command."""

import subprocess
import sys

import numpy as np

from fastem.cli import main, make_workload


def test_demo_prints_the_fit_and_the_speed_up(capsys):
    assert main(["demo", "--n-samples", "20000", "--n-components", "4"]) == 0
    out = capsys.readouterr().out
    assert "fastem:" in out and "scikit-learn:" in out and "speed-up:" in out
    fastem_line = next(line for line in out.splitlines() if line.startswith("fastem:"))
    sklearn_line = next(line for line in out.splitlines() if line.startswith("scikit-learn:"))
    # Same iterations, same bound.
    assert fastem_line.split("mean log-likelihood")[1].strip(" )") == sklearn_line.split("mean log-likelihood")[1].strip(" )")


def test_workload_is_deterministic():
    a, labels = make_workload(1000, 3, 2, seed=5)
    b, _ = make_workload(1000, 3, 2, seed=5)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(labels)) <= {0, 1}


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "fastem.cli", "demo", "--n-samples", "5000", "--no-sklearn"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "fastem:" in result.stdout and "scikit-learn:" not in result.stdout
