"""fastem.plot: each picture rendered to PNG, checked as a non-empty image of the expected size."""

import warnings

import matplotlib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import plot

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def blobs():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(150, 3)) @ rng.normal(size=(3, 3)) + c
                      for c in ([0, 0, 0], [6, 1, 0], [0, 6, 3])])


def rendered(ax, path):
    """The image the Axes' figure saves at 100 dpi (6 x 4.5 inches: 600 x 450 pixels)."""
    ax.figure.savefig(path, dpi=100)
    plt.close(ax.figure)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (450, 600)
    ink = np.mean(image[:, :, :3] < 0.9)  # pixels that are not (near) white
    assert 0.01 < ink < 0.9, ink
    return image


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEV"])
def test_components_with_ellipses(covariance_type, tmp_path):
    X = blobs()
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    ax = plot.components(model, X, features=(0, 2))
    assert len(ax.patches) == 3  # an ellipse per component
    rendered(ax, tmp_path / "components.png")
    projected = plot.components(model, X, projection=np.linalg.svd(X - X.mean(0))[2][:2].T)
    assert projected.get_xlabel() == "projection 1"
    rendered(projected, tmp_path / "projected.png")


def test_components_of_a_family_and_the_bound(tmp_path):
    counts = np.random.default_rng(1).poisson(np.repeat([[1.0, 6.0], [7.0, 1.0]], 100, axis=0)).astype(float)
    model = fastem.PoissonMixture(2, random_state=0).fit(counts)
    ax = plot.components(model, counts)
    assert len(ax.patches) == 0  # no covariances to draw
    rendered(ax, tmp_path / "poisson.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fastem.GaussianMixture(3, random_state=0, tol=0.0, max_iter=15).fit(blobs())
    ax = plot.bound(fitted)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), fitted.lower_bounds_)
    rendered(ax, tmp_path / "bound.png")


def test_selection_draws_a_line_per_model(tmp_path):
    _, table = fastem.select(blobs(), n_components=range(1, 5), covariance_types=("full", "diag", "EEI"),
                             random_state=0)
    ax = plot.selection(table)
    assert [line.get_label() for line in ax.lines] == ["full", "diag", "EEI"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [r["bic"] for r in table[:4]])
    rendered(ax, tmp_path / "selection.png")


def test_the_command_writes_the_selection_plot(tmp_path):
    from test_cli import fastem_command

    np.save(tmp_path / "x.npy", blobs())
    status, _, err = fastem_command("select", "x.npy", "-k", "1..3", "--covariance", "full,diag", "--plot",
                                    "bic.png", cwd=tmp_path)
    assert status == 0, err
    image = matplotlib.image.imread(tmp_path / "bic.png")
    assert image.shape[:2] == (450, 600)
