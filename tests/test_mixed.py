"""MixedMixture: products of families over column groups, against direct NumPy/SciPy steps."""

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln, digamma, gammaln, logsumexp, multigammaln
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
import unsupervised
from fastem import MixedMixture

GROUPS = [("gaussian", [0, 1]), ("poisson", [2, 3]), ("bernoulli", [4, 5]), ("categorical", [6, 7])]
N_CATEGORIES = (3, 2)


def make_data(n=2000, seed=0):
    rng = np.random.RandomState(seed)
    z = (rng.random_sample(n) < 0.4).astype(int)
    gauss = rng.normal(size=(n, 2)) @ np.array([[1.0, 0.3], [0.0, 0.8]]) + np.array([[0.0, 0.0], [3.0, 2.0]])[z]
    counts = rng.poisson(np.array([[1.0, 5.0], [6.0, 0.5]])[z])
    binary = (rng.random_sample((n, 2)) < np.array([[0.9, 0.2], [0.1, 0.7]])[z]).astype(float)
    first = np.array([rng.choice(3, p=[[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]][k]) for k in z])
    second = (rng.random_sample(n) < np.array([0.3, 0.8])[z]).astype(int)
    return np.column_stack([gauss, counts, binary, first, second]).astype(np.float64), z


def quiet_fit(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


def direct_log_prob(model, X):
    """log w_j + sum over groups of log p(x_group | component j), by scipy."""
    columns = []
    for j in range(model.n_components):
        total = np.full(X.shape[0], np.log(model.weights_[j]))
        for (family, cols), params in zip(model.groups_, model.group_params_):
            part = X[:, cols]
            if family in ("gaussian", "gaussian_diag"):
                cov = params.covariances[j]
                cov = cov if family == "gaussian" else np.diag(cov)
                total += stats.multivariate_normal(params.means[j], cov).logpdf(part)
            elif family == "poisson":
                total += stats.poisson.logpmf(part, params[j]).sum(axis=1)
            elif family == "bernoulli":
                total += stats.bernoulli.logpmf(part, params[j]).sum(axis=1)
            else:
                offsets = np.concatenate([[0], np.cumsum(N_CATEGORIES)[:-1]])
                for c, start in enumerate(offsets):
                    total += np.log(params[j, start + part[:, c].astype(int)])
        columns.append(total)
    return np.stack(columns, axis=1)


def direct_step(model, X, reg_covar=1e-6):
    """One ML EM step from the model's parameters, written from the formulas."""
    log_prob = direct_log_prob(model, X)
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
    n = resp.sum(axis=0)
    new = []
    for family, cols in model.groups_:
        part = X[:, cols]
        if family == "categorical":
            part = np.hstack([np.eye(L)[part[:, c].astype(int)] for c, L in enumerate(N_CATEGORIES)])
        means = resp.T @ part / n[:, None]
        if family in ("gaussian", "gaussian_diag"):
            dev = part[None, :, :] - means[:, None, :]
            cov = np.einsum("jn,jna,jnb->jab", resp.T, dev, dev) / n[:, None, None] + reg_covar * np.eye(len(cols))
            new.append((means, cov if family == "gaussian" else np.diagonal(cov, axis1=1, axis2=2)))
        else:
            new.append(means)
    return n / n.sum(), new, float(np.mean(logsumexp(log_prob, axis=1)))


@pytest.mark.parametrize("gaussian", ["gaussian", "gaussian_diag"])
def test_each_iteration_is_a_direct_em_step(gaussian):
    X, _ = make_data()
    groups = [(gaussian, [0, 1])] + GROUPS[1:]
    for n_iter in (1, 3):
        before = quiet_fit(MixedMixture(2, groups=groups, max_iter=n_iter, tol=0.0, random_state=0), X)
        after = quiet_fit(MixedMixture(2, groups=groups, max_iter=n_iter + 1, tol=0.0, random_state=0), X)
        weights, params, bound = direct_step(before, X)
        np.testing.assert_allclose(after.weights_, weights, rtol=1e-10)
        assert after.lower_bounds_[-1] == pytest.approx(bound, rel=1e-11)
        np.testing.assert_allclose(after.group_params_[0].means, params[0][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(after.group_params_[0].covariances, params[0][1], rtol=1e-8, atol=1e-12)
        for fitted, expected in zip(after.group_params_[1:], params[1:]):
            np.testing.assert_allclose(fitted, expected, rtol=1e-9, atol=1e-14)


def test_score_samples_is_the_product_density():
    X, z = make_data()
    model = MixedMixture(2, groups=GROUPS, random_state=0).fit(X)
    log_prob = direct_log_prob(model, X)
    np.testing.assert_allclose(model.score_samples(X), logsumexp(log_prob, axis=1), rtol=1e-11)
    np.testing.assert_allclose(model.predict_proba(X), np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None]),
                               atol=1e-10)
    agreement = np.mean(model.predict(X) == z)
    assert max(agreement, 1 - agreement) > 0.97


@pytest.mark.parametrize("prior", [None, "default"])
@pytest.mark.parametrize("init_params", ["kmeans", "random", "k-means++", "random_from_data"])
def test_bound_never_decreases(prior, init_params):
    X, _ = make_data(n=600, seed=2)
    for seed in range(3):
        model = quiet_fit(MixedMixture(3, groups=GROUPS, prior=prior, init_params=init_params, random_state=seed,
                                       tol=1e-10, max_iter=60), X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_one_group_equals_the_family_estimator():
    X, _ = make_data()
    counts = X[:, 2:4]
    mixed = MixedMixture(2, groups=[("poisson", [0, 1])], random_state=0, tol=1e-8).fit(counts)
    alone = fastem.PoissonMixture(2, random_state=0, tol=1e-8).fit(counts)
    np.testing.assert_allclose(mixed.group_params_[0], alone.means_, rtol=1e-10)
    assert mixed.lower_bound_ == pytest.approx(alone.lower_bound_, rel=1e-12)
    gauss = X[:, :2]
    mixed = MixedMixture(2, random_state=0, tol=1e-8).fit(gauss)
    alone = fastem.GaussianMixture(2, random_state=0, tol=1e-8).fit(gauss)
    np.testing.assert_allclose(mixed.group_params_[0].covariances, alone.covariances_, rtol=1e-7)
    assert mixed.lower_bound_ == pytest.approx(alone.lower_bound_, rel=1e-10)


def test_groups_by_name_in_a_data_frame():
    pd = pytest.importorskip("pandas")
    X, _ = make_data(n=500)
    frame = pd.DataFrame(X, columns=["x", "y", "visits", "calls", "a", "b", "colour", "size"])
    groups = [("gaussian", ["x", "y"]), ("poisson", ["visits", "calls"]), ("bernoulli", ["a", "b"]),
              ("categorical", ["colour", "size"])]
    by_name = MixedMixture(2, groups=groups, random_state=0).fit(frame)
    by_index = MixedMixture(2, groups=GROUPS, random_state=0).fit(X)
    np.testing.assert_allclose(by_name.means_, by_index.means_, rtol=1e-10, atol=1e-14)  # a frame converts column-major


@pytest.mark.parametrize(
    "groups, message",
    [
        ([("gaussian", [0, 1]), ("poisson", [1, 2, 3])] + GROUPS[2:], r"column 1 is in groups\[0\] and groups\[1\]"),
        (GROUPS[:3], r"columns \[6, 7\] are in no group"),
        ([("gamma", [0, 1])] + GROUPS[1:], "unknown family 'gamma'"),
        ([("gaussian", [0, 9])] + GROUPS[1:], "column 9 is not a column of X"),
        ([("gaussian", ["x", "y"])] + GROUPS[1:], "column 'x' is not a column name of X"),
        ([("gaussian",)] + GROUPS[1:], r"groups\[0\] must be a \(family, columns\) pair"),
    ],
)
def test_mismatched_groups_are_named(groups, message):
    X, _ = make_data(n=100)
    with pytest.raises(ValueError, match=message):
        MixedMixture(2, groups=groups).fit(X)


def test_bad_values_name_the_column_of_X():
    clean, _ = make_data(n=100)
    X = clean.copy()
    X[5, 3] = 1.5
    before = X.copy()
    with pytest.raises(ValueError, match=r"nonnegative integer counts: column 3 holds 1.5 \(row 5\)"):
        MixedMixture(2, groups=GROUPS).fit(X)
    assert np.array_equal(X, before)
    X = clean.copy()
    X[7, 7] = 2.0  # the second categorical column has codes 0 and 1 when fitted below
    model = MixedMixture(2, groups=GROUPS, random_state=0).fit(clean)
    with pytest.raises(ValueError, match=r"below n_categories \(column 7 has 2\): column 7 holds 2.0"):
        model.predict(X)


def test_chunks_partial_fit_and_weights():
    X, _ = make_data(n=3000, seed=4)
    whole = MixedMixture(2, groups=GROUPS, random_state=0).fit(X)
    chunked = MixedMixture(2, groups=GROUPS, random_state=0).fit_chunks(
        lambda: (X[i : i + 700] for i in range(0, X.shape[0], 700)))
    np.testing.assert_allclose(chunked.means_, whole.means_, rtol=1e-9, atol=1e-12)
    assert chunked.n_features_in_ == X.shape[1]
    online = MixedMixture(2, groups=GROUPS, random_state=0)
    for i in range(0, X.shape[0], 500):
        online.partial_fit(X[i : i + 500])
    assert online.score(X) > whole.score(X) - 0.05
    counts = np.random.RandomState(1).randint(0, 3, size=X.shape[0])
    start = dict(weights_init=whole.weights_, means_init=whole.means_, tol=1e-8, random_state=0)
    weighted = MixedMixture(2, groups=GROUPS, **start).fit(X, sample_weight=counts)
    repeated = MixedMixture(2, groups=GROUPS, **start).fit(np.repeat(X, counts, axis=0))
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-6)


def test_sample_and_select():
    X, _ = make_data(n=3000, seed=5)
    model = MixedMixture(2, groups=GROUPS, random_state=0).fit(X)
    draws, labels = model.sample(5000)
    assert draws.shape == (5000, 8) and np.array_equal(np.bincount(labels, minlength=2) > 0, [True, True])
    assert abs(MixedMixture(2, groups=GROUPS, random_state=0).fit(draws).score(X) - model.score(X)) < 0.1
    best, table = fastem.select(X, n_components=range(1, 4), estimator=MixedMixture(groups=GROUPS, random_state=0))
    assert best.n_components == 2
    per_component = 2 + 3 + 2 + 2 + (2 + 1)
    assert [r["n_parameters"] for r in table] == [k * per_component + k - 1 for k in range(1, 4)]


@parametrize_with_checks([unsupervised.MixedMixture()])  # the checks vary n_features: one Gaussian group of every column
def test_check_estimator(estimator, check):
    check(estimator)


# ---------------------------------------------------------- variational Bayes


def _expected_log_det(nu, W):
    g = W.shape[0]
    return sum(digamma(0.5 * (nu + 1 - i)) for i in range(1, g + 1)) + g * np.log(2.0) + np.linalg.slogdet(W)[1]


def direct_variational_step(model, X, prior, held=None, held_covariances=None):
    """One mean-field VB step from the model's q, and the ELBO of that q after its
    E-step, written from Bishop (2006), 10.2 and B.79, with scipy's Wishart entropy.
    With ``held`` means (every group's, side by side) each group's are a point with no
    prior: the Gaussian group keeps q(Lambda) alone, the others are held whole. With
    ``held_covariances`` (the Gaussian group's, (k, g, g)) its q(mu) = N(m, (beta P)^-1) alone."""
    kappa, m0, nu0, psi0 = prior
    alpha = model.weight_concentration_
    log_rho = np.tile(digamma(alpha) - digamma(alpha.sum()), (X.shape[0], 1))
    kl = -stats.dirichlet.entropy(alpha) - gammaln(alpha.shape[0])  # Dirichlet(1) has density gamma(k)
    offsets = np.concatenate([[0], np.cumsum(N_CATEGORIES)[:-1]])
    at = 0
    for (family, cols), q in zip(model.groups_, model.group_posteriors_):
        part = X[:, cols]
        width = len(cols) if family != "categorical" else sum(N_CATEGORIES)
        point = None if held is None else held[:, at : at + width]
        at += width
        if point is not None and family != "gaussian":
            if family == "poisson":
                log_rho += part @ np.log(point).T - point.sum(axis=1) - gammaln(part + 1).sum(axis=1)[:, None]
            elif family == "bernoulli":
                log_rho += part @ np.log(point).T + (1 - part) @ np.log(1 - point).T
            else:
                for c, (start, L) in enumerate(zip(offsets, N_CATEGORIES)):
                    log_rho += np.log(point[:, start + part[:, c].astype(int)]).T
            continue
        if family == "gaussian" and held_covariances is not None:
            g = len(cols)
            for j in range(model.n_components):
                P = np.linalg.inv(held_covariances[j])
                beta, m = q.mean_precision[j], q.means[j]
                dev = part - m
                log_det = np.linalg.slogdet(P)[1]
                log_rho[:, j] += 0.5 * log_det - 0.5 * g * np.log(2 * np.pi) - 0.5 * (
                    g / beta + np.einsum("na,ab,nb->n", dev, P, dev))
                log_q = 0.5 * g * np.log(beta / (2 * np.pi)) + 0.5 * log_det - 0.5 * g
                log_p = (0.5 * g * np.log(kappa / (2 * np.pi)) + 0.5 * log_det
                         - 0.5 * (g * kappa / beta + kappa * (m - m0) @ P @ (m - m0)))
                kl += log_q - log_p
        elif family == "gaussian" and point is not None:
            g = len(cols)
            W0 = np.linalg.inv(psi0)
            log_b0 = -0.5 * nu0 * np.linalg.slogdet(W0)[1] - 0.5 * nu0 * g * np.log(2.0) - multigammaln(0.5 * nu0, g)
            for j in range(model.n_components):
                W = np.linalg.inv(q.covariances[j]) / q.degrees_of_freedom[j]
                nu = q.degrees_of_freedom[j]
                e_log_det = _expected_log_det(nu, W)
                dev = part - point[j]
                log_rho[:, j] += (0.5 * e_log_det - 0.5 * g * np.log(2 * np.pi)
                                  - 0.5 * nu * np.einsum("na,ab,nb->n", dev, W, dev))
                log_q = -stats.wishart(df=nu, scale=W).entropy()
                log_p = log_b0 + 0.5 * (nu0 - g - 1) * e_log_det - 0.5 * nu * np.trace(psi0 @ W)
                kl += log_q - log_p
        elif family == "gaussian":
            g = len(cols)
            for j in range(model.n_components):
                W = np.linalg.inv(q.covariances[j]) / q.degrees_of_freedom[j]
                nu, beta, m = q.degrees_of_freedom[j], q.mean_precision[j], q.means[j]
                e_log_det = _expected_log_det(nu, W)
                dev = part - m
                log_rho[:, j] += 0.5 * e_log_det - 0.5 * g * np.log(2 * np.pi) - 0.5 * (
                    g / beta + nu * np.einsum("na,ab,nb->n", dev, W, dev))
                # KL(q(mu, Lambda) || p(mu, Lambda)) = E_q[log q] - E_q[log p].
                log_q = (0.5 * g * np.log(beta / (2 * np.pi)) + 0.5 * e_log_det - 0.5 * g
                         - stats.wishart(df=nu, scale=W).entropy())
                W0 = np.linalg.inv(psi0)
                log_b0 = (-0.5 * nu0 * np.linalg.slogdet(W0)[1] - 0.5 * nu0 * g * np.log(2.0)
                          - multigammaln(0.5 * nu0, g))
                log_p = (0.5 * g * np.log(kappa / (2 * np.pi)) + 0.5 * e_log_det
                         - 0.5 * (g * kappa / beta + kappa * nu * (m - m0) @ W @ (m - m0))
                         + log_b0 + 0.5 * (nu0 - g - 1) * e_log_det - 0.5 * nu * np.trace(psi0 @ W))
                kl += log_q - log_p
        elif family == "poisson":
            shape, rate = q.first, q.second
            log_rho += part @ (digamma(shape) - np.log(rate)).T - (shape / rate).sum(axis=1)
            log_rho -= gammaln(part + 1).sum(axis=1)[:, None]
            a0, b0 = 1.0 + part.mean(axis=0), np.ones(part.shape[1])
            kl += np.sum(-stats.gamma.entropy(shape, scale=1 / rate)
                         - (a0 * np.log(b0) - gammaln(a0) + (a0 - 1) * (digamma(shape) - np.log(rate)) - b0 * shape / rate))
        elif family == "bernoulli":
            a, b = q.first, q.second
            log_rho += part @ (digamma(a) - digamma(b)).T + (digamma(b) - digamma(a + b)).sum(axis=1)
            kl += np.sum(-stats.beta.entropy(a, b) - (0.5 * (digamma(a) - digamma(a + b)) + 0.5 * (digamma(b) - digamma(a + b))
                                                      - betaln(1.5, 1.5)))
        else:
            concentration = q.first
            for j in range(model.n_components):
                for c, (start, L) in enumerate(zip(offsets, N_CATEGORIES)):
                    block = concentration[j, start : start + L]
                    e_log = digamma(block) - digamma(block.sum())
                    log_rho[:, j] += e_log[part[:, c].astype(int)]
                    prior_block = np.full(L, 1.0 + 1.0 / L)
                    kl += -stats.dirichlet.entropy(block) - (gammaln(prior_block.sum()) - gammaln(prior_block).sum()
                                                             + (prior_block - 1) @ e_log)
    log_norm = logsumexp(log_rho, axis=1)
    resp = np.exp(log_rho - log_norm[:, None])
    n = resp.sum(axis=0)
    gauss = X[:, model.groups_[0][1]]
    if held_covariances is not None:
        xbar = resp.T @ gauss / n[:, None]
        beta = kappa + n
        return 1.0 + n, (kappa * m0 + n[:, None] * xbar) / beta[:, None], held_covariances, \
            (np.sum(log_norm) - kl) / X.shape[0]
    if held is not None:
        m = held[:, : gauss.shape[1]]
        scale = np.stack([psi0 + (resp[:, j, None] * (gauss - m[j])).T @ (gauss - m[j]) for j in range(len(n))])
        return 1.0 + n, m, scale / (nu0 + n)[:, None, None], (np.sum(log_norm) - kl) / X.shape[0]
    xbar = resp.T @ gauss / n[:, None]
    beta = kappa + n
    means = (kappa * m0 + n[:, None] * xbar) / beta[:, None]
    nu = nu0 + n
    scale = np.stack([psi0 + (resp[:, j, None] * (gauss - xbar[j])).T @ (gauss - xbar[j])
                      + kappa * n[j] / beta[j] * np.outer(xbar[j] - m0, xbar[j] - m0) for j in range(len(n))])
    return 1.0 + n, means, scale / nu[:, None, None], (np.sum(log_norm) - kl) / X.shape[0]


def test_variational_iterations_equal_direct_formulas():
    X, _ = make_data(n=1500, seed=8)
    model_before = quiet_fit(MixedMixture(2, groups=GROUPS, variational=True, max_iter=2, tol=0.0, random_state=0), X)
    model_after = quiet_fit(MixedMixture(2, groups=GROUPS, variational=True, max_iter=3, tol=0.0, random_state=0), X)
    gauss = model_before.prior_.parts[0]
    prior = (gauss.mean_precision_prior, gauss.mean_prior, gauss.degrees_of_freedom_prior, gauss.covariance_prior)
    alpha, means, covariances, bound = direct_variational_step(model_before, X, prior)
    assert model_after.lower_bounds_[-1] == pytest.approx(bound, rel=1e-10)
    np.testing.assert_allclose(model_after.weight_concentration_, alpha, rtol=1e-10)
    np.testing.assert_allclose(model_after.group_posteriors_[0].means, means, rtol=1e-9)
    np.testing.assert_allclose(model_after.group_posteriors_[0].covariances, covariances, rtol=1e-9)


def test_variational_iterations_with_held_means_equal_direct_formulas():
    X, _ = make_data(n=1500, seed=8)
    held = held_means_of(quiet_fit(MixedMixture(2, groups=GROUPS, random_state=0), X))
    params = dict(groups=GROUPS, variational=True, tol=0.0, random_state=0, fixed="means", means_init=held)
    model_before = quiet_fit(MixedMixture(2, max_iter=2, **params), X)
    model_after = quiet_fit(MixedMixture(2, max_iter=3, **params), X)
    gauss = model_before.prior_.parts[0]
    prior = (gauss.mean_precision_prior, gauss.mean_prior, gauss.degrees_of_freedom_prior, gauss.covariance_prior)
    alpha, means, covariances, bound = direct_variational_step(model_before, X, prior, held)
    assert model_after.lower_bounds_[-1] == pytest.approx(bound, rel=1e-10)
    np.testing.assert_allclose(model_after.weight_concentration_, alpha, rtol=1e-10)
    np.testing.assert_array_equal(model_after.means_, held)
    np.testing.assert_allclose(model_after.group_posteriors_[0].covariances, covariances, rtol=1e-9)


@pytest.mark.parametrize("gaussian", ["gaussian", "gaussian_diag"])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_variational_bound_never_decreases(gaussian, init_params):
    X, _ = make_data(n=600, seed=9)
    groups = [(gaussian, [0, 1])] + GROUPS[1:]
    for seed in range(3):
        model = quiet_fit(MixedMixture(3, groups=groups, variational=True, init_params=init_params, random_state=seed,
                                       tol=1e-10, max_iter=60), X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def held_means_of(model):
    """Means to hold, away from the fit's: Gaussian means and rates moved, probabilities kept."""
    held = model.means_.copy()
    held[:, :4] += np.array([0.3, -0.2, 0.5, -0.4])
    return held


@pytest.mark.parametrize("gaussian", ["gaussian", "gaussian_diag"])
def test_held_means_step_is_the_constrained_direct_step(gaussian):
    X, _ = make_data()
    groups = [(gaussian, [0, 1])] + GROUPS[1:]
    held = held_means_of(quiet_fit(MixedMixture(2, groups=groups, random_state=0), X))
    params = dict(groups=groups, tol=0.0, random_state=0, fixed="means", means_init=held)
    before = quiet_fit(MixedMixture(2, max_iter=2, **params), X)
    after = quiet_fit(MixedMixture(2, max_iter=3, **params), X)
    np.testing.assert_array_equal(after.means_, held)
    log_prob = direct_log_prob(before, X)
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
    n = resp.sum(axis=0)
    np.testing.assert_allclose(after.weights_, n / n.sum(), rtol=1e-10)
    assert after.lower_bounds_[-1] == pytest.approx(float(np.mean(logsumexp(log_prob, axis=1))), rel=1e-11)
    dev = X[None, :, :2] - held[:, None, :2]  # the Gaussian group's covariances about its held means
    cov = np.einsum("jn,jna,jnb->jab", resp.T, dev, dev) / n[:, None, None] + 1e-6 * np.eye(2)
    expected = cov if gaussian == "gaussian" else np.diagonal(cov, axis1=1, axis2=2)
    np.testing.assert_allclose(after.group_params_[0].covariances, expected, rtol=1e-9)
    for fitted, part in zip(after.group_params_[1:], (slice(2, 4), slice(4, 6), slice(6, 11))):
        np.testing.assert_array_equal(fitted, held[:, part])
    # The held means are not counted: each component keeps the Gaussian group's covariances.
    free = {"gaussian": 3, "gaussian_diag": 2}[gaussian]
    assert after._n_parameters() == 1 + 2 * free


@pytest.mark.parametrize("algorithm", ["map", "variational"])
def test_held_means_bound_never_decreases(algorithm):
    X, _ = make_data(n=800, seed=4)
    held = held_means_of(quiet_fit(MixedMixture(2, groups=GROUPS, random_state=0), X))
    for fixed in ("means", ("weights", "means")):
        model = quiet_fit(MixedMixture(2, groups=GROUPS, random_state=0, tol=0.0, max_iter=30, fixed=fixed,
                                       means_init=held, weights_init=[0.4, 0.6],
                                       prior="default" if algorithm == "map" else None,
                                       variational=algorithm == "variational"), X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.isfinite(bounds))
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), (fixed, np.diff(bounds).min())
        np.testing.assert_array_equal(model.means_, held)
        if "weights" in fixed:
            np.testing.assert_array_equal(model.weights_, [0.4, 0.6])


def test_variational_iterations_with_held_covariances_equal_direct_formulas():
    X, _ = make_data(n=1500, seed=8)
    fitted = quiet_fit(MixedMixture(2, groups=GROUPS, random_state=0), X)
    covariances = fitted.group_params_[0].covariances * 1.3
    params = dict(groups=GROUPS, variational=True, tol=0.0, random_state=0, fixed="covariances",
                  precisions_init=[np.linalg.inv(covariances)])
    model_before = quiet_fit(MixedMixture(2, max_iter=2, **params), X)
    model_after = quiet_fit(MixedMixture(2, max_iter=3, **params), X)
    gauss = model_before.prior_.parts[0]
    prior = (gauss.mean_precision_prior, gauss.mean_prior, gauss.degrees_of_freedom_prior, gauss.covariance_prior)
    alpha, means, _, bound = direct_variational_step(model_before, X, prior, held_covariances=covariances)
    assert model_after.lower_bounds_[-1] == pytest.approx(bound, rel=1e-10)
    np.testing.assert_allclose(model_after.weight_concentration_, alpha, rtol=1e-10)
    np.testing.assert_allclose(model_after.group_posteriors_[0].means, means, rtol=1e-9)
    np.testing.assert_allclose(model_after.group_params_[0].covariances, covariances, rtol=1e-12)


@pytest.mark.parametrize("gaussian", ["gaussian", "gaussian_diag"])
@pytest.mark.parametrize("fixed", [("covariances",), ("means", "covariances")], ids="+".join)
def test_held_covariances_step_is_the_constrained_direct_step(gaussian, fixed):
    X, _ = make_data()
    groups = [(gaussian, [0, 1])] + GROUPS[1:]
    fitted = quiet_fit(MixedMixture(2, groups=groups, random_state=0), X)
    held, covariances = held_means_of(fitted), fitted.group_params_[0].covariances * 1.3
    precisions = np.linalg.inv(covariances) if gaussian == "gaussian" else 1.0 / covariances
    params = dict(groups=groups, tol=0.0, random_state=0, fixed=fixed, means_init=held, precisions_init=[precisions])
    before = quiet_fit(MixedMixture(2, max_iter=2, **params), X)
    after = quiet_fit(MixedMixture(2, max_iter=3, **params), X)
    np.testing.assert_allclose(after.group_params_[0].covariances, covariances, rtol=1e-12)
    log_prob = direct_log_prob(before, X)
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
    n = resp.sum(axis=0)
    np.testing.assert_allclose(after.weights_, n / n.sum(), rtol=1e-10)
    assert after.lower_bounds_[-1] == pytest.approx(float(np.mean(logsumexp(log_prob, axis=1))), rel=1e-11)
    if "means" in fixed:
        np.testing.assert_array_equal(after.means_, held)
    else:
        np.testing.assert_allclose(after.group_params_[0].means, resp.T @ X[:, :2] / n[:, None], rtol=1e-10)
    # Only the weights and what is not held count (categorical: 2 + 1 free probabilities).
    per_component = 0 if "means" in fixed else 2 + 2 + 2 + 3
    assert after._n_parameters() == 1 + 2 * per_component


def test_held_means_need_their_values():
    X, _ = make_data(n=300)
    with pytest.raises(ValueError, match="fixed names 'means', which is held at means_init: set means_init"):
        MixedMixture(2, groups=GROUPS, fixed="means").fit(X)
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2, 11\)"):
        MixedMixture(2, groups=GROUPS, fixed="means", means_init=np.zeros((2, 3))).fit(X)
    with pytest.raises(ValueError, match=r"precisions_init must be a list of one array per Gaussian group \(1\)"):
        MixedMixture(2, groups=GROUPS, fixed="covariances", precisions_init=[np.eye(2)] * 2).fit(X)
    with pytest.raises(ValueError, match="precisions_init is used by MixedMixture only to hold"):
        MixedMixture(2, groups=GROUPS, precisions_init=[np.stack([np.eye(2)] * 2)]).fit(X)
    with pytest.raises(ValueError, match="precision' should be symmetric, positive-definite"):
        MixedMixture(2, groups=GROUPS, fixed="covariances", precisions_init=[-np.stack([np.eye(2)] * 2)]).fit(X)
