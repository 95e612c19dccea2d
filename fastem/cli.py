"""The ``fastem`` command.

``fastem demo`` fits the built-in synthetic workload (1,000,000 x 8,
8 components, full covariance), prints the fitted summary and the time, then
times scikit-learn's GaussianMixture for the same number of iterations on
the same data and prints the speed-up.
"""

import argparse
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
        # Compile (or load from the on-disk cache) outside the timing.
        fastem.GaussianMixture(2, max_iter=1, n_threads=args.n_threads).fit(X[:1000])
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


def main(argv=None):
    """Entry point of the ``fastem`` command."""
    parser = argparse.ArgumentParser(prog="fastem", description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit the built-in workload and compare with scikit-learn")
    demo.add_argument("--n-samples", type=int, default=1_000_000)
    demo.add_argument("--n-features", type=int, default=8)
    demo.add_argument("--n-components", type=int, default=8)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n-threads", type=int, default=None)
    demo.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn timing")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
