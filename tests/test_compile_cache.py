"""Compiled-code caching never breaks an import.

Each case copies the package into a temporary directory where the in-tree
``__pycache__`` cannot be created (a file of that name stands in every
package directory; permissions would not stop root), then imports fastem
and fits a model in a fresh process.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import fastem

SCRIPT = """
import sys
import numpy as np, fastem
assert fastem.__file__.startswith(sys.argv[1]), fastem.__file__
X = np.random.default_rng(0).normal(size=(200, 2))
model = fastem.GaussianMixture(2, covariance_type="diag", init_params="random", random_state=0).fit(X)
print("fitted", round(float(model.lower_bound_), 6))
"""


def _unwritable_package_copy(tmp_path):
    source = pathlib.Path(fastem.__file__).parent
    target = tmp_path / "site" / "fastem"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for directory in [target, *[p for p in target.rglob("*") if p.is_dir()]]:
        (directory / "__pycache__").write_text("not a directory")
    return target.parent


def _run(site, env_updates):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(env_updates, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(site)], env=env, cwd=site.parent, capture_output=True, text=True, timeout=600
    )


def test_unwritable_package_falls_back_to_user_cache_directory(tmp_path):
    site = _unwritable_package_copy(tmp_path)
    cache_home = tmp_path / "cache-home"
    env = {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(cache_home)}
    first = _run(site, env)
    assert first.returncode == 0, first.stderr
    assert "fitted" in first.stdout
    cached = list(cache_home.rglob("*.nbi"))
    assert cached, "no index files in the user cache directory"
    second = _run(site, env)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_no_writable_cache_location_still_works(tmp_path):
    site = _unwritable_package_copy(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"HOME": str(blocker / "home"), "XDG_CACHE_HOME": str(blocker / "cache"),
           "NUMBA_CACHE_DIR": str(blocker / "numba")}
    result = _run(site, env)
    assert result.returncode == 0, result.stderr
    assert "fitted" in result.stdout
