"""Model files (fastem.save, fastem.load): round trips of every estimator, bitwise
predictions, and files that are truncated, corrupted, hostile or from a newer format."""

import io
import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastem
from fastem.files import META


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def blobs(n_samples=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n_samples // 3, 3)) + c for c in ([0, 0, 0], [5, 1, 0], [0, 5, 3])])


def counts(seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(np.repeat([[1.0, 6.0, 0.5], [7.0, 1.0, 4.0]], 150, axis=0)).astype(np.float64)


def binary(seed=0):
    return (counts(seed) > 2).astype(np.float64)


def mixed(seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(blobs(300, seed), columns=["a", "b", "c"])
    frame["n"] = rng.poisson(3.0, 300).astype(float)
    frame["k"] = rng.integers(0, 3, 300).astype(float)
    return frame


CASES = {
    "gaussian-full": (lambda: fastem.GaussianMixture(3, random_state=0), blobs),
    "gaussian-diag-prior": (lambda: fastem.GaussianMixture(3, covariance_type="diag", prior="default",
                                                         random_state=0), blobs),
    "gaussian-VEV": (lambda: fastem.GaussianMixture(3, covariance_type="VEV", random_state=0), blobs),
    "gaussian-nan": (lambda: fastem.GaussianMixture(3, random_state=np.random.RandomState(4)),
                     lambda: np.where(np.random.default_rng(1).random((300, 3)) < 0.1, np.nan, blobs())),
    "gaussian-prior-record": (lambda: fastem.GaussianMixture(3, prior=fastem.GaussianPrior(mean_precision_prior=0.1),
                                                           random_state=0), blobs),
    "bayesian-dp": (lambda: fastem.BayesianGaussianMixture(n_components=4, random_state=0), blobs),
    "bayesian-dirichlet-tied": (lambda: fastem.BayesianGaussianMixture(
        n_components=4, covariance_type="tied", weight_concentration_prior_type="dirichlet_distribution",
        random_state=0), blobs),
    "student": (lambda: fastem.StudentTMixture(3, random_state=0), blobs),
    "poisson-variational": (lambda: fastem.PoissonMixture(2, variational=True, random_state=0), counts),
    "bernoulli-map": (lambda: fastem.BernoulliMixture(2, prior="default", random_state=0), binary),
    "categorical": (lambda: fastem.CategoricalMixture(2, random_state=0), lambda: counts() % 3),
    "mixed-by-name": (lambda: fastem.MixedMixture(3, groups=[("gaussian", ["a", "b", "c"]), ("poisson", "n"),
                                                            ("categorical", "k")], random_state=0), mixed),
    "mixed-variational": (lambda: fastem.MixedMixture(3, variational=True, random_state=0), blobs),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_round_trip_predicts_bitwise_the_same(case, tmp_path):
    make, data = CASES[case]
    X = data()
    model = quiet(make().fit, X)
    path = tmp_path / "model.fastem"
    fastem.save(model, path)
    loaded = fastem.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    for method in ("predict", "predict_proba", "score_samples"):
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    assert loaded.score(X) == model.score(X)
    if hasattr(model, "bic"):
        assert loaded.bic(X) == model.bic(X)
    for name, value in vars(model).items():
        if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(loaded, name), value)
            assert getattr(loaded, name).dtype == value.dtype
    # A loaded model fits again like the original would, and partial_fit continues from it.
    if case == "gaussian-full":
        refit, again = quiet(loaded.fit, X), quiet(make().fit, X)
        np.testing.assert_array_equal(refit.means_, again.means_)
        online = fastem.load(path).partial_fit(X[:100])
        assert np.all(np.isfinite(online.means_)) and np.isfinite(online.score(X))


def test_file_objects_and_float32_keep_everything(tmp_path):
    model = fastem.GaussianMixture(3, random_state=0).fit(blobs().astype(np.float32))
    buffer = io.BytesIO()
    fastem.save(model, buffer)
    loaded = fastem.load(io.BytesIO(buffer.getvalue()))
    assert loaded.means_.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict_proba(blobs()), model.predict_proba(blobs()))
    np.testing.assert_array_equal(loaded.sample(50)[0], model.sample(50)[0])


def _rewrite(source, target, edit_meta=None, extra=None):
    """Copy a model file, changing its description or adding members."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if edit_meta is not None:
        meta = json.loads(np.load(io.BytesIO(members[META + ".npy"])).tobytes().decode())
        edit_meta(meta)
        buffer = io.BytesIO()
        np.save(buffer, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        members[META + ".npy"] = buffer.getvalue()
    members.update(extra or {})
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_bad_files_are_refused_with_a_clear_error(tmp_path):
    model = fastem.GaussianMixture(2, random_state=0).fit(blobs())
    good = tmp_path / "good.fastem"
    fastem.save(model, good)
    content = good.read_bytes()

    truncated = tmp_path / "truncated.fastem"
    truncated.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(truncated)

    garbage = tmp_path / "garbage.fastem"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(garbage)
    with pytest.raises(ValueError, match="cannot read"):
        fastem.load(tmp_path / "absent.fastem")

    newer = tmp_path / "newer.fastem"
    _rewrite(good, newer, lambda meta: meta.update(format_version=99, fastem_version="9.0"))
    with pytest.raises(ValueError, match="format 99, written by fastem 9.0; this fastem reads format 1"):
        fastem.load(newer)

    foreign = tmp_path / "foreign.fastem"
    _rewrite(good, foreign, lambda meta: meta.update({"class": "os.system"}))
    with pytest.raises(ValueError, match="unknown estimator 'os.system'"):
        fastem.load(foreign)

    record = tmp_path / "record.fastem"
    _rewrite(good, record, lambda meta: meta["attributes"]["dict"].append(
        ["evil_", {"record": "Popen", "fields": {"args": "touch pwned"}}]))
    with pytest.raises(ValueError, match="unknown type 'Popen'"):
        fastem.load(record)

    # A pickled member (an object array) is never unpickled.
    pickled = tmp_path / "pickled.fastem"
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    _rewrite(good, pickled, lambda meta: meta["attributes"]["dict"].append(["evil_", {"array": "a999"}]),
             extra={"a999.npy": buffer.getvalue()})
    with pytest.raises(ValueError, match="pickle"):
        fastem.load(pickled)
    assert not (tmp_path / "pwned").exists()

    with pytest.raises(NotFittedError):
        fastem.save(fastem.GaussianMixture(2), tmp_path / "unfitted.fastem")
    with pytest.raises(TypeError, match="writes fastem's estimators"):
        fastem.save(object(), tmp_path / "object.fastem")
