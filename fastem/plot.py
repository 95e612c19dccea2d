"""Pictures of a fit (matplotlib, an optional dependency: ``pip install matplotlib``).

- :func:`components`: the data on two features (or a projection), coloured by
  component, with each Gaussian component's ellipse;
- :func:`bound`: the bound per iteration of a fit;
- :func:`selection`: a selection table (fastem.select) as mclust draws its
  BIC plot, the criterion against the component count with a line per
  covariance model (fastem's sign: lower is better).

Each takes an optional matplotlib Axes and returns the Axes it drew on.
"""

import numpy as np

from fastem.gaussian import full_matrices


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("fastem.plot needs matplotlib: pip install matplotlib") from None
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.5))
    return ax


def _full_covariances(model):
    """(k, d, d) covariances of a Gaussian or Student-t model's components, or None."""
    covariances = getattr(model, "covariances_", None)
    kind = getattr(model, "covariance_type", None)
    if covariances is None or kind is None:
        return None
    return full_matrices(covariances, kind, *model.means_.shape)


def components(model, X, features=(0, 1), projection=None, ax=None, level=2.0):
    """Scatter the rows of X on two features (or ``projection``, a (d, 2) matrix), coloured by
    their most probable component, and draw each Gaussian component's ``level``-sigma ellipse."""
    from matplotlib.patches import Ellipse

    ax = _axes(ax)
    X = np.asarray(X, dtype=np.float64)
    labels = model.predict(X)
    d = X.shape[1]
    if projection is None:
        projection = np.zeros((d, 2))
        projection[features[0], 0] = projection[features[1], 1] = 1.0
        names = getattr(model, "feature_names_in_", None)
        xlabel, ylabel = ((str(names[features[0]]), str(names[features[1]])) if names is not None
                          else (f"feature {features[0]}", f"feature {features[1]}"))
    else:
        projection = np.asarray(projection, dtype=np.float64)
        xlabel, ylabel = "projection 1", "projection 2"
    points = np.where(np.isnan(X), 0.0, X) @ projection
    colours = [f"C{j % 10}" for j in range(model.n_components)]
    ax.scatter(points[:, 0], points[:, 1], s=6, c=[colours[j] for j in labels], alpha=0.6, linewidths=0)
    covariances = _full_covariances(model)
    centres = np.asarray(model.means_, dtype=np.float64) @ projection if model.means_.shape[1] == d else None
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], marker="x", s=60, c="black")
    if covariances is not None and centres is not None:
        for j, covariance in enumerate(covariances):
            values, vectors = np.linalg.eigh(projection.T @ covariance @ projection)
            angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
            width, height = 2.0 * level * np.sqrt(np.maximum(values[::-1], 0.0))
            ax.add_patch(Ellipse(centres[j], width, height, angle=angle, fill=False, color=colours[j], lw=1.5))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{type(model).__name__}, {model.n_components} components")
    return ax


def bound(model, ax=None):
    """The bound (``lower_bounds_``) of each iteration of the last fit."""
    ax = _axes(ax)
    values = np.asarray(model.lower_bounds_, dtype=np.float64)
    ax.plot(np.arange(1, values.shape[0] + 1), values, marker="o", ms=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("lower bound (per row)")
    ax.set_title(f"{type(model).__name__}: {'converged' if model.converged_ else 'not converged'} "
                 f"after {model.n_iter_} iterations")
    return ax


def selection(table, criterion="bic", ax=None):
    """A selection table's ``criterion`` against the component count, a line per covariance model;
    failed fits are left out, degenerate ones drawn hollow."""
    ax = _axes(ax)
    models = list(dict.fromkeys(record["covariance_type"] for record in table))
    markers = "os^vD<>phH*Xd+x"
    for index, name in enumerate(models):
        rows = [r for r in table if r["covariance_type"] == name and r["status"] != "failed"]
        if not rows:
            continue
        counts = [r["n_components"] for r in rows]
        values = [r[criterion] for r in rows]
        line, = ax.plot(counts, values, marker=markers[index % len(markers)], ms=5, label=str(name),
                        linestyle="-" if index < 10 else "--")  # ten colours: the rest dashed
        hollow = [(r["n_components"], r[criterion]) for r in rows if r["status"] == "degenerate"]
        if hollow:
            ax.scatter(*zip(*hollow), s=60, facecolors="white", edgecolors=line.get_color(), zorder=3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.legend(ncol=2 if len(models) > 7 else 1, fontsize="small")
    return ax
