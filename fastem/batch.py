"""Many fits at once: ``fit_many`` for many data sets, ``select`` for model selection.

Small maximum-likelihood problems from the 'kmeans' initialization (see
:mod:`fastem._small`), weighted or not, are fitted whole in one compiled call, one problem
per thread. The others run on a pool of Python threads; each fit runs its
passes on one Numba thread (the compiled passes release the GIL). A fit's
result does not depend on its thread count, and ``fit`` itself takes the
compiled route for exactly the problems ``fit_many`` does, so every result
is bitwise the one ``clone(estimator).fit(X)`` gives on its own.
"""

import copy
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from fastem import _small, gaussian
from fastem._progress import models_progress
from fastem._threads import resolve_n_threads
from fastem._validation import check_sample_weight
from fastem.decomposed import MCLUST_MODELS


#: Below this many rows per problem (on average) a fit is mostly Python
#: (validation, the loop, the small updates), which threads cannot overlap:
#: problems then run one after another.
PARALLEL_MIN_ROWS = 20_000


def _workers(n_jobs, n_tasks, mean_rows):
    if n_jobs is None:
        if mean_rows < PARALLEL_MIN_ROWS:
            return 1
        n_jobs = resolve_n_threads(None)
    return max(1, min(int(n_jobs), n_tasks, os.cpu_count() or 1))


def _fit_one(estimator, X, sample_weight, y):
    model = clone(estimator).set_params(n_threads=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y, sample_weight=sample_weight)
    model.set_params(n_threads=estimator.get_params()["n_threads"])
    return model, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def _per_problem(values, name, n_problems):
    """``values`` as a list of one entry per problem (None: all None)."""
    if values is None:
        return [None] * n_problems
    values = list(values)
    if len(values) != n_problems:
        raise ValueError(f"{name} has {len(values)} entries for {n_problems} data sets")
    return values


def fit_many(datasets, estimator, *, sample_weights=None, labels=None, errors="raise", n_jobs=None):
    """Fit one clone of ``estimator`` to each data set, in parallel.

    Parameters
    ----------
    datasets : sequence of array-like of shape (n_samples_i, n_features), or ndarray of shape (n_problems, n_samples, n_features)
        The problems; row counts may differ, the feature count may not.
    estimator : fastem mixture estimator
        Unfitted template (GaussianMixture, BayesianGaussianMixture,
        PoissonMixture, ...): its parameters, ``random_state`` included,
        apply to every problem.
    sample_weights : sequence of (array-like of shape (n_samples_i,) or None), default=None
    labels : sequence of (array-like of shape (n_samples_i,) or (n_samples_i, n_components), or None), default=None
        Each problem's known components, as ``fit``'s ``y`` takes them.
    errors : {'raise', 'collect'}, default='raise'
        'raise': the first failing problem (in index order) raises a
        ValueError naming its index and cause. 'collect': its slot holds the
        exception and every other problem is fitted.
    n_jobs : int or None, default=None
        Problems fitted at once. Small maximum-likelihood problems from the
        'kmeans' initialization (n * k * n_stats up to 2^21, float64; see
        :mod:`fastem._small`) are fitted whole in compiled
        code, one per thread, on ``n_jobs`` threads (None: the estimator's
        ``n_threads``). The others run through ``fit``: None means one per
        core when they average at least 20,000 rows, else one at a time
        (their fits are mostly Python, which threads do not overlap).

    Returns
    -------
    models : list
        Fitted estimators (or exceptions with ``errors='collect'``), in the
        order of ``datasets``; each equals ``clone(estimator).fit(X, y, sample_weight=w)``.
        A ConvergenceWarning of any problem is re-issued once, naming it.
        With ``random_state=None`` the problems fitted in compiled code draw
        from NumPy's global state in index order, before the others.

    Raises
    ------
    ValueError
        For a failing problem with ``errors='raise'``, for bad arguments,
        and (InvalidParameterError) for an estimator whose parameters are
        invalid, whatever ``errors`` says: that is no problem's fault.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
    datasets = list(datasets)
    sample_weights = _per_problem(sample_weights, "sample_weights", len(datasets))
    labels = _per_problem(labels, "labels", len(datasets))
    if not datasets:
        return []
    clone(estimator)._validate_params()

    outcomes = [None] * len(datasets)
    with models_progress("fit_many", len(datasets), estimator.get_params().get("verbose", 0)) as done:
        unlabelled = [index for index, y in enumerate(labels) if y is None]
        whole = _fit_whole(estimator, [datasets[i] for i in unlabelled], [sample_weights[i] for i in unlabelled],
                           n_jobs)
        for index, outcome in ((unlabelled[i], outcome) for i, outcome in whole.items()):
            outcomes[index] = outcome
        done(len(whole))
        rest = [index for index, outcome in enumerate(outcomes) if outcome is None]

        def run(index):
            try:
                return _fit_one(estimator, datasets[index], sample_weights[index], labels[index])
            except Exception as error:  # isolated: reported per problem below
                return error, []
            finally:
                done()

        if rest:
            mean_rows = float(np.mean([np.shape(datasets[i])[0] for i in rest]))
            with ThreadPoolExecutor(max_workers=_workers(n_jobs, len(rest), mean_rows)) as pool:
                for index, outcome in zip(rest, pool.map(run, rest)):
                    outcomes[index] = outcome
    results, not_converged = [], []
    for index, (outcome, caught) in enumerate(outcomes):
        if isinstance(outcome, Exception):
            if errors == "raise":
                raise ValueError(f"problem {index} failed: {outcome}") from outcome
        elif caught:
            not_converged.append(index)
        results.append(outcome)
    if not_converged:
        shown = ", ".join(map(str, not_converged[:10])) + (" ..." if len(not_converged) > 10 else "")
        warnings.warn(f"{len(not_converged)} of {len(datasets)} fits did not converge (problems {shown}).",
                      ConvergenceWarning, stacklevel=2)
    return results


def _fit_whole(estimator, datasets, sample_weights, n_jobs):
    """Fit the problems that qualify for the compiled whole fit in one call.

    Returns {index: (model or exception, [caught ConvergenceWarning flags])}
    for the problems it settled; the others (and those whose data need
    ``fit``'s validation to name the fault) are left to single fits.
    """
    template = clone(estimator)
    # Another kind of estimator goes to single fits, which name what is wrong with it.
    if not getattr(template, "_fits_whole_in_compiled_code", lambda: False)():
        return {}
    k, covariance_type = template.n_components, template.covariance_type
    chosen, weights, n_features = [], [], None
    for index, (X, w) in enumerate(zip(datasets, sample_weights)):
        if not (type(X) is np.ndarray and X.ndim == 2 and X.shape[0] >= max(k, 2) and X.shape[1] >= 1):
            continue
        if not _small.data_qualify(X, k, covariance_type) or X.shape[1] != (n_features or X.shape[1]):
            continue
        try:
            w = check_sample_weight(w, X)
        except (TypeError, ValueError):
            continue  # fit's validation names the fault
        n_features = X.shape[1]
        chosen.append(index)
        weights.append(w)
    if not chosen:
        return {}
    params = template.get_params(deep=False)
    random_state = params["random_state"]
    if random_state is None:  # the global state, advanced problem by problem as a loop of fits would
        draws = np.stack([_small.kmeans_draws(check_random_state(None), template.n_init, k) for _ in chosen])
    else:  # clone copies the state: every problem draws the same numbers
        source = copy.deepcopy(random_state) if isinstance(random_state, np.random.RandomState) else random_state
        draws = np.broadcast_to(_small.kmeans_draws(check_random_state(source), template.n_init, k),
                                (len(chosen), template.n_init, _small.draw_count(k)))
    results = _small.fit([datasets[i] for i in chosen], weights, draws, covariance_type, k, template.reg_covar, template.tol,
                         template.max_iter, n_jobs if n_jobs is not None else template.n_threads)
    settled = {}
    per_model = isinstance(random_state, np.random.RandomState)
    for index, outcome in zip(chosen, results):
        if outcome is None:
            continue  # not finite: fit's validation gives the message
        if outcome.error is not None:
            settled[index] = (outcome.error, [])
            continue
        model = type(template)(**(dict(params, random_state=copy.deepcopy(random_state)) if per_model else params))
        model.n_features_in_ = n_features
        model._set_outcome(outcome)
        warned = not outcome.converged or min(outcome.distinct) < k
        settled[index] = (model, [True] if warned else [])
    return settled


_CRITERIA = ("bic", "aic", "icl")

#: Effective points (weight x n) below which select counts a component as empty.
_EMPTY = 1e-9


def select(X, n_components=range(1, 10), covariance_types=("full", "tied", "diag", "spherical"), criterion="bic",
           prior=None, n_jobs=None, estimator=None, **estimator_params):
    """Fit every combination of component count and covariance type; keep the best by a criterion.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : iterable of int, default=range(1, 10)
    covariance_types : iterable of str or str, default=('full', 'tied', 'diag', 'spherical')
        Tried for estimators that have a ``covariance_type``; ignored for the others.
        'mclust' is mclust's 14 models in mclust's order (fastem.decomposed), or
        for one feature its two (E and V: 'EII' and 'VII'); one name alone that
        model.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        Lower is better. 'icl' is BIC plus twice the entropy of the hard
        classification, -2 sum_i log r_i,z_i with z_i the most probable
        component (Biernacki, Celeux and Govaert 2000).
    prior : None, 'default' or the estimator's prior
        Passed to every model (MAP-EM when set); None keeps the template's.
    n_jobs : int or None
        Combinations fitted at once (None: as for :func:`fit_many`).
    estimator : fastem mixture estimator, default=None
        The template of every model (PoissonMixture, BernoulliMixture, ...);
        None is GaussianMixture.
    **estimator_params
        Further parameters of every model (random_state, n_init, ...).

    Returns
    -------
    best : estimator
        The fitted model of lowest criterion among the fits that succeeded.
    table : list of dict
        One record per combination, in the order tried: ``n_components``,
        ``covariance_type`` (None without one), ``status ('ok', 'degenerate' or 'failed'),
        ``reason``, ``bic``, ``aic``, ``icl``, ``log_likelihood`` (mean per
        row), ``n_parameters``, ``converged``. 'degenerate' marks a fit with a
        component of fewer effective points (weight x n) than its
        parameters; it stays eligible, unless a component is empty (less
        than 1e-9 of a row: MAP can empty one): then, as mclust
        reports NA, its criteria are NaN. A failed fit has NaN criteria and
        is never chosen.

    Raises
    ------
    ValueError
        For an unknown criterion, or when every combination failed.
    """
    from fastem.mixture import GaussianMixture

    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    X = np.asarray(X)
    template = GaussianMixture() if estimator is None else clone(estimator)
    template.set_params(**estimator_params, **({} if prior is None and estimator is not None else {"prior": prior}))
    has_covariance = "covariance_type" in template.get_params()
    if isinstance(covariance_types, str):
        if covariance_types == "mclust":  # one feature: mclust's univariate E and V
            covariance_types = MCLUST_MODELS if X.ndim != 2 or X.shape[1] > 1 else ("EII", "VII")
        else:
            covariance_types = (covariance_types,)
    types = [str(t) for t in covariance_types] if has_covariance else [None]
    combinations = [(int(k), t) for t in types for k in n_components]
    templates = [clone(template).set_params(n_components=k, **({} if t is None else {"covariance_type": t}))
                 for k, t in combinations]

    with models_progress("select", len(templates), template.get_params().get("verbose", 0)) as done:
        def run(index):
            try:
                return _fit_one(templates[index], X, None, None)[0]
            except Exception as error:  # recorded in the table
                return error
            finally:
                done()

        with ThreadPoolExecutor(max_workers=_workers(n_jobs, len(templates), X.shape[0])) as pool:
            fitted = list(pool.map(run, range(len(templates))))

    n_samples, n_features = X.shape
    table, best, best_value = [], None, np.inf
    for (k, covariance_type), model in zip(combinations, fitted):
        count = np.nan if covariance_type is None else gaussian.n_parameters(covariance_type, k, n_features)
        record = dict(n_components=k, covariance_type=covariance_type, status="ok", reason="",
                      bic=np.nan, aic=np.nan, icl=np.nan, log_likelihood=np.nan, n_parameters=count, converged=False)
        if isinstance(model, Exception):
            record.update(status="failed", reason=f"{type(model).__name__}: {model}")
            table.append(record)
            continue
        record.update(bic=model.bic(X), aic=model.aic(X), icl=model.icl(X), log_likelihood=model.score(X),
                      n_parameters=model._n_parameters(), converged=bool(model.converged_))
        effective = model.weights_ * n_samples
        needed = model._free_per_component()
        if np.any(effective < _EMPTY):  # MAP can empty a component; mclust reports NA
            record.update(status="degenerate", reason="a component is empty: the fit has fewer components",
                          bic=np.nan, aic=np.nan, icl=np.nan)
        elif np.any(effective < needed):
            record.update(status="degenerate",
                          reason=f"a component has {effective.min():.1f} effective points for {needed} parameters")
        table.append(record)
        if record[criterion] < best_value:
            best, best_value = model, record[criterion]
    if best is None:
        raise ValueError("every combination failed: " + "; ".join(r["reason"] for r in table))
    return best, table
