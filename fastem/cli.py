"""The ``fastem`` command.

``fastem demo`` fits the built-in synthetic workload (1,000,000 x 8,
8 components, full covariance), prints the fitted summary and the time, then
times scikit-learn's GaussianMixture for the same number of iterations on
the same data and prints the speed-up. ``fastem fit``, ``predict``,
``select`` and ``info`` work on data files (fastem._io) and model files
(fastem.files); ``fastem compile`` compiles every kernel ahead of use and
``fastem bench`` times an iteration against scikit-learn. ``fit`` and
``select`` report progress on standard error (fastem._progress: a live line
on a terminal, plain lines otherwise; ``--quiet`` turns it off). A user's
mistake (a missing file, a bad format, a non-numeric column, a model file of
another kind, a bad parameter) is one line on standard error and exit
status 2.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np


def make_workload(n_samples=1_000_000, n_features=8, n_components=8, seed=0):
    """A mixture of ``n_components`` correlated Gaussians, as float64.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    centers = rng.normal(scale=2.0, size=(n_components, n_features))
    factors = rng.normal(scale=0.6, size=(n_components, n_features, n_features))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    noise = rng.standard_normal((n_samples, n_features))
    X = np.empty((n_samples, n_features))
    for j in range(n_components):
        rows = labels == j
        X[rows] = centers[j] + noise[rows] @ (factors[j] + 0.5 * np.eye(n_features))
    return X, labels


def _demo(args):
    from sklearn.exceptions import ConvergenceWarning

    import fastem

    print(f"fastem {fastem.__version__}: synthetic workload {args.n_samples:,} x {args.n_features}, "
          f"{args.n_components} components, full covariance")
    X, _ = make_workload(args.n_samples, args.n_features, args.n_components, args.seed)

    model = fastem.GaussianMixture(args.n_components, random_state=args.seed, n_threads=args.n_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Compile (or load from the on-disk cache) outside the fit's timing: one
        # iteration on enough rows to take the fit's own route (not the small-problem one).
        live = sys.stdout.isatty()  # a line that is overwritten when done, on a terminal only
        if live:
            print("kernels:      compiling for this CPU on first use (then cached on disk) ...", end="", flush=True)
        start = time.perf_counter()
        fastem.GaussianMixture(args.n_components, max_iter=1, n_threads=args.n_threads).fit(X[:50_000])
        print(f"{chr(13) if live else ''}kernels:      {time.perf_counter() - start:8.3f} s  (compiled for this CPU "
              "on first use, then loaded from the on-disk cache; not part of the times below)")
        start = time.perf_counter()
        model.fit(X)
    elapsed = time.perf_counter() - start
    print(f"fastem:       {elapsed:8.3f} s  ({model.n_iter_} iterations, converged={model.converged_}, "
          f"mean log-likelihood {model.lower_bound_:.6f})")
    order = np.argsort(-model.weights_)
    print("  component  weight   |mean|   sqrt(trace cov)")
    for j in order:
        print(f"  {j:9d}  {model.weights_[j]:.4f}  {np.linalg.norm(model.means_[j]):7.3f}  "
              f"{np.sqrt(np.trace(model.covariances_[j])):8.3f}")
    if args.no_sklearn:
        return 0

    from sklearn.mixture import GaussianMixture

    reference = GaussianMixture(args.n_components, random_state=args.seed, max_iter=model.n_iter_, tol=0.0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X)
    sk_elapsed = time.perf_counter() - start
    print(f"scikit-learn: {sk_elapsed:8.3f} s  ({reference.n_iter_} iterations, "
          f"mean log-likelihood {reference.lower_bound_:.6f})")
    print(f"speed-up:     {sk_elapsed / elapsed:8.1f}x")
    return 0


FAMILIES = ("gaussian", "student", "poisson", "bernoulli", "categorical")


def _estimator(args):
    import fastem

    params = dict(n_components=args.k, random_state=args.seed, n_init=args.n_init, max_iter=args.max_iter,
                  tol=args.tol)
    if args.family == "gaussian" and args.variational:
        return fastem.BayesianGaussianMixture(covariance_type=args.covariance, **params)
    if args.family == "gaussian":
        return fastem.GaussianMixture(covariance_type=args.covariance, prior=args.prior, **params)
    if args.variational and args.family == "student":
        raise ValueError("--variational takes the gaussian, poisson, bernoulli and categorical families")
    if args.family == "student":
        return fastem.StudentTMixture(covariance_type=args.covariance, prior=args.prior, **params)
    cls = {"poisson": fastem.PoissonMixture, "bernoulli": fastem.BernoulliMixture,
           "categorical": fastem.CategoricalMixture}[args.family]
    return cls(prior=args.prior, variational=args.variational, **params)


def _columns(text):
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _fit(args):
    import fastem
    from fastem._io import read_table, select_columns, take_column

    X, names = read_table(args.data)
    y = weights = None
    for option in ("labels", "weights"):
        column = getattr(args, option)
        if column is not None:
            X, names, values = take_column(args.data, X, names, column)
            if option == "labels":
                y = np.where(np.isnan(values), -1, values)
                if not np.all(y == np.round(y)):
                    raise ValueError(f"{args.data}: labels column {column!r} holds values that are not integers")
                y = y.astype(np.int64)
            else:
                weights = values
    if args.columns is not None:
        X, names = select_columns(args.data, X, names, _columns(args.columns))
    model = _estimator(args)
    data = X if names is None else _frame(X, names)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, y, sample_weight=weights)
    seconds = time.perf_counter() - start
    for warning in caught:
        print(f"fastem fit: warning: {warning.message}", file=sys.stderr)
    fastem.save(model, args.output)
    print(f"{type(model).__name__}: {X.shape[0]:,} rows x {X.shape[1]} columns, k={args.k}, "
          f"{model.n_iter_} iterations in {seconds:.2f} s, converged={model.converged_}, "
          f"lower bound {model.lower_bound_:.6f}; saved to {args.output}")
    return 0


def _frame(X, names):
    """X with column names where pandas is installed (the fit records feature_names_in_)."""
    try:
        import pandas as pd
    except ImportError:
        return X
    return pd.DataFrame(X, columns=names)


def _predict(args):
    import fastem
    from fastem._io import read_table, write_table

    model = fastem.load(args.model)
    # A model fitted on named columns reads them by name; otherwise --columns, or all.
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    X, _ = read_table(args.data, _columns(args.columns) if names is None else names)
    data = X if names is None else _frame(X, names)
    if args.proba:
        values = model.predict_proba(data)
        header = [f"p{j}" for j in range(values.shape[1])]
    else:
        values = model.predict(data)
        header = ["component"]
    write_table(args.output, values, header)
    return 0


def _select_command(args):
    import fastem
    from fastem._io import read_table

    X, names = read_table(args.data, _columns(args.columns))
    low, _, high = args.k.partition("..")
    try:
        counts = range(int(low), int(high or low) + 1)
    except ValueError:
        raise ValueError(f"-k takes a count or a range such as 1..9, got {args.k!r}") from None
    types = args.covariance
    if types == "all":
        types = ("full", "tied", "diag", "spherical")
    elif types != "mclust":
        types = tuple(t.strip() for t in types.split(","))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best, table = fastem.select(X, n_components=counts, covariance_types=types, criterion=args.criterion,
                                    random_state=args.seed)
    print(f"{'model':>10} {'k':>3} {args.criterion:>14} {'log-lik/row':>12} {'params':>7}  status")
    for record in table:
        print(f"{record['covariance_type']:>10} {record['n_components']:>3} {record[args.criterion]:>14.4f} "
              f"{record['log_likelihood']:>12.6f} {record['n_parameters']:>7}  {record['status']} {record['reason']}")
    print(f"best: {best.covariance_type}, k={best.n_components}")
    if args.output is not None:
        fastem.save(best, args.output)
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        from fastem import plot

        axes = plot.selection(table, args.criterion)
        axes.figure.savefig(args.plot, dpi=100)
    return 0


def _info(args):
    import fastem

    model = fastem.load(args.model)
    print(f"{type(model).__name__} (fastem {fastem.__version__})")
    params = model.get_params(deep=False)
    print("parameters: " + ", ".join(f"{key}={value!r}" for key, value in sorted(params.items())
                                     if not isinstance(value, np.ndarray)))
    print(f"features: {model.n_features_in_}" + (f" ({', '.join(map(str, model.feature_names_in_))})"
                                                  if hasattr(model, "feature_names_in_") else ""))
    print(f"fit: {model.n_iter_} iterations, converged={model.converged_}, lower bound {model.lower_bound_:.6f}")
    print("weights: " + " ".join(f"{w:.4f}" for w in model.weights_))
    return 0


def _compile(args):
    """Compile (or load from the on-disk cache) every kernel family, with a line per step."""
    import fastem

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 4)) + np.repeat(rng.normal(scale=4.0, size=(3, 4)), 20_000, axis=0)
    small = X[::200]
    holes = np.where(rng.random(small.shape) < 0.1, np.nan, small)
    counts = rng.poisson(3.0, size=(2_000, 3)).astype(np.float64)
    steps = [
        ("Gaussian pass and updates, float64 and float32",
         lambda: (fastem.GaussianMixture(3, max_iter=2).fit(X), fastem.GaussianMixture(3, max_iter=2).fit(
             X.astype(np.float32)))),
        ("diagonal covariances and predictions",
         lambda: fastem.GaussianMixture(3, covariance_type="diag", max_iter=2).fit(X).predict_proba(X)),
        ("small problems whole (fit_many)", lambda: fastem.fit_many([small, small[:200]], fastem.GaussianMixture(2))),
        ("missing values", lambda: fastem.GaussianMixture(2, max_iter=2).fit(holes)),
        ("variational Bayes", lambda: fastem.BayesianGaussianMixture(n_components=2, max_iter=2).fit(small)),
        ("Student-t components", lambda: fastem.StudentTMixture(2, max_iter=2).fit(small)),
        ("counts, binary items, categories",
         lambda: (fastem.PoissonMixture(2, max_iter=2).fit(counts), fastem.BernoulliMixture(2, max_iter=2).fit(
             (counts > 2).astype(np.float64)), fastem.CategoricalMixture(2, max_iter=2).fit(counts % 3))),
        ("mixed columns", lambda: fastem.MixedMixture(2, max_iter=2).fit(small)),
        ("mclust's rotating models (EVE, VVE)",
         lambda: fastem.GaussianMixture(2, covariance_type="EVE", max_iter=2).fit(small)),
        ("mclust's hierarchical start", lambda: fastem.GaussianMixture(2, init_params="hc", max_iter=2).fit(small)),
    ]
    total = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, (name, step) in enumerate(steps, start=1):
            print(f"[{index}/{len(steps)}] {name} ...", end="", flush=True)
            start = time.perf_counter()
            step()
            print(f" {time.perf_counter() - start:.1f} s", flush=True)
    print(f"kernels ready in {time.perf_counter() - total:.1f} s (cached on disk for later processes)")
    return 0


def _bench(args):
    """Per-iteration time against scikit-learn on the built-in workload, with the matmul rate."""
    from sklearn.mixture import GaussianMixture as Reference

    import fastem

    n = args.n_samples if args.n_samples else (100_000 if args.quick else 1_000_000)
    X, _ = make_workload(n, 8, 8, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = fastem.GaussianMixture(8, max_iter=2, random_state=0).fit(X)
        init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)

        def per_iteration(cls, iterations):
            times = []
            for max_iter in (1, iterations + 1):
                model = cls(8, tol=0.0, max_iter=max_iter, **init)
                model.fit(X)  # warm-up (and compile)
                begin = time.perf_counter()
                model.fit(X)
                times.append(time.perf_counter() - begin)
            return max(times[1] - times[0], 1e-9) / iterations

        ours = per_iteration(fastem.GaussianMixture, 5 if args.quick else 10)
        theirs = per_iteration(Reference, 2 if args.quick else 5)
    a = np.random.default_rng(0).random((1024, 1024))
    a @ a
    begin = time.perf_counter()
    a @ a
    rate = 2.0 * 1024**3 / (time.perf_counter() - begin)
    flops = 4.0 * n * 8 * (1 + 8 + 36)
    print(f"per iteration, n={n:,} d=8 k=8 full: fastem {ours * 1e3:.1f} ms, scikit-learn {theirs * 1e3:.1f} ms: "
          f"{theirs / ours:.1f}x faster; {flops / ours / rate:.0%} of this machine's matmul rate "
          f"({rate / 1e9:.0f} GFLOP/s)")
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="fastem", description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit the built-in workload and compare with scikit-learn")
    demo.add_argument("--n-samples", type=int, default=1_000_000)
    demo.add_argument("--n-features", type=int, default=8)
    demo.add_argument("--n-components", type=int, default=8)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n-threads", type=int, default=None)
    demo.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn timing")

    fit = commands.add_parser("fit", help="fit a mixture to a data file and save the model")
    fit.add_argument("data", help=".npy, .npz, .csv, .tsv, .parquet, or - for CSV on standard input")
    fit.add_argument("-k", type=int, required=True, help="the number of components")
    fit.add_argument("-o", "--output", required=True, help="the model file to write")
    fit.add_argument("--family", choices=FAMILIES, default="gaussian")
    fit.add_argument("--covariance", default="full", help="full, tied, diag, spherical, or an mclust model name")
    fit.add_argument("--prior", choices=["default"], default=None, help="MAP-EM under the default prior")
    fit.add_argument("--variational", action="store_true", help="mean-field variational Bayes")
    fit.add_argument("--labels", default=None, help="a column of known components (-1 or empty: unknown)")
    fit.add_argument("--weights", default=None, help="a column of sample weights")
    fit.add_argument("--columns", default=None, help="the columns to fit, by name or index, comma-separated")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--n-init", type=int, default=1)
    fit.add_argument("--max-iter", type=int, default=100)
    fit.add_argument("--tol", type=float, default=1e-3)
    fit.add_argument("--quiet", action="store_true", help="no progress on standard error")

    predict = commands.add_parser("predict", help="components (or their probabilities) of a data file's rows")
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument("--proba", action="store_true", help="write every component's probability")
    predict.add_argument("--columns", default=None, help="for a model fitted without column names")
    predict.add_argument("-o", "--output", default="-", help="where to write (default: CSV on standard output)")

    select = commands.add_parser("select", help="fit every model and component count; print the table")
    select.add_argument("data")
    select.add_argument("-k", default="1..9", help="a count or a range, such as 1..9")
    select.add_argument("--covariance", default="all", help="all, mclust, or names separated by commas")
    select.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic")
    select.add_argument("--columns", default=None)
    select.add_argument("--seed", type=int, default=0)
    select.add_argument("-o", "--output", default=None, help="also save the best model")
    select.add_argument("--plot", default=None, help="draw the criterion per model into this image (matplotlib)")
    select.add_argument("--quiet", action="store_true", help="no progress on standard error")

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model")

    commands.add_parser("compile", help="compile every kernel now (for images and servers), with progress")
    bench = commands.add_parser("bench", help="time an iteration against scikit-learn on this machine")
    bench.add_argument("--quick", action="store_true", help="10^5 rows and fewer iterations")
    bench.add_argument("--n-samples", type=int, default=None)
    return parser


def main(argv=None):
    """Entry point of the ``fastem`` command."""
    args = _parser().parse_args(argv)
    run = {"demo": _demo, "fit": _fit, "predict": _predict, "select": _select_command, "info": _info,
           "compile": _compile, "bench": _bench}[args.command]
    from fastem._progress import progress

    try:
        # Progress on standard error for the commands that fit (a live line on a terminal).
        with progress(args.command in ("fit", "select") and not args.quiet):
            return run(args)
    except BrokenPipeError:
        # The reader of standard output stopped (``| head``): not an error of the command.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError) as error:
        # A user's mistake: one line, no traceback (InvalidParameterError is a ValueError).
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"fastem {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
