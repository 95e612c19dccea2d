"""Model files: :func:`save` and :func:`load`, without pickle.

A model file is a NumPy ``.npz`` archive: every array of the model is one
member, and the member ``fastem.json`` (UTF-8 JSON, stored as bytes) holds
the rest: the format's name and version, fastem's version, the estimator's
class, its parameters and its fitted attributes, with arrays referred to by
member name. Reading takes the archive with ``allow_pickle=False`` and
rebuilds only what the JSON describes from a fixed list of fastem's own
types (estimators, parameter records such as priors, tuples of arrays), so
a file can neither run code nor name a type from elsewhere. A truncated,
corrupted or foreign file is a ValueError, as is a file from a newer format.

A fitted estimator's state is its public fitted attributes (names ending in
an underscore) and its parameters; what a ``partial_fit`` run carries
between calls (its running averages) is not saved, so ``partial_fit`` on a
loaded model starts a new run from the loaded parameters.
"""

import dataclasses
import io
import json
import re
import zipfile

import numpy as np
from sklearn.utils.validation import check_is_fitted

#: The format's name, in every file.
FORMAT = "fastem-model"
#: The format this fastem writes; it reads this version and older ones.
FORMAT_VERSION = 1
#: The archive member holding the description.
META = "fastem.json"
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*_$")
_MEMBER = re.compile(r"^a[0-9]+$")


def _estimators():
    import fastem

    return {name: getattr(fastem, name) for name in fastem.__all__
            if isinstance(getattr(fastem, name), type) and name.endswith("Mixture")}


def _records():
    """The record types a file may name: fastem's NamedTuples and dataclasses that hold parameters."""
    from fastem import _family, bernoulli, categorical, gaussian, poisson, prior, product, student, variational

    types = (gaussian.GaussianParams, student.StudentTParams, variational.VBPrior, variational.VBState,
             _family.FamilyParams, _family.FamilyPosterior, _family.ResolvedPrior, product.GaussianPosterior,
             product.ProductPrior, prior.GaussianPrior, poisson.PoissonPrior, bernoulli.BernoulliPrior,
             categorical.CategoricalPrior)
    return {t.__name__: t for t in types}


class _Writer:
    def __init__(self):
        self.arrays = {}

    def encode(self, value):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if np.isfinite(value) else {"float": repr(value)}
        if isinstance(value, np.generic) and value.dtype != object:
            return {"scalar": self._array(np.asarray(value))["array"]}
        if isinstance(value, np.ndarray):
            array = np.asarray(value)
            if array.dtype == object:
                if not all(isinstance(item, str) for item in array.ravel()):
                    raise TypeError("an object array other than strings cannot be saved")
                return {"strings": array.tolist(), "shape": list(array.shape)}
            return self._array(array)
        if isinstance(value, np.random.RandomState):
            kind, keys, position, has_gauss, gauss = value.get_state()
            return {"random_state": [kind, self._array(keys), int(position), int(has_gauss), float(gauss)]}
        name = type(value).__name__
        if hasattr(value, "_fields") and name in _records():
            return {"record": name, "fields": {f: self.encode(getattr(value, f)) for f in value._fields}}
        if dataclasses.is_dataclass(value) and name in _records():
            return {"record": name, "fields": {f.name: self.encode(getattr(value, f.name))
                                               for f in dataclasses.fields(value)}}
        if isinstance(value, tuple):
            return {"tuple": [self.encode(item) for item in value]}
        if isinstance(value, list):
            return {"list": [self.encode(item) for item in value]}
        if isinstance(value, dict):
            return {"dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        raise TypeError(f"a {name} cannot be saved in a model file")

    def _array(self, array):
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return {"array": key}


class _Reader:
    def __init__(self, archive):
        self.archive = archive
        self.records = _records()

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, dict) and len(node) >= 1:
            kind = next(iter(node))
            if kind == "array" and len(node) == 1:
                key = node["array"]
                if not (isinstance(key, str) and _MEMBER.match(key) and key in self.archive.files):
                    raise ValueError(f"refers to a missing array {key!r}")
                return self.archive[key]
            if kind == "scalar" and len(node) == 1:
                return self.decode({"array": node["scalar"]})[()]
            if kind == "float" and len(node) == 1 and node["float"] in ("nan", "inf", "-inf"):
                return float(node["float"])
            if kind == "strings":
                return np.array(node["strings"], dtype=object).reshape(node["shape"])
            if kind == "random_state" and len(node) == 1:
                state = np.random.RandomState()
                kind_name, keys, position, has_gauss, gauss = node["random_state"]
                state.set_state((str(kind_name), self.decode(keys), int(position), int(has_gauss), float(gauss)))
                return state
            if kind == "record" and set(node) == {"record", "fields"}:
                record = self.records.get(node["record"])
                if record is None:
                    raise ValueError(f"names an unknown type {node['record']!r}")
                return record(**{str(f): self.decode(v) for f, v in node["fields"].items()})
            if kind == "tuple" and len(node) == 1:
                return tuple(self.decode(item) for item in node["tuple"])
            if kind == "list" and len(node) == 1:
                return [self.decode(item) for item in node["list"]]
            if kind == "dict" and len(node) == 1:
                return {self._key(k): self.decode(v) for k, v in node["dict"]}
        raise ValueError(f"holds an entry fastem does not write: {str(node)[:80]}")

    def _key(self, node):
        key = self.decode(node)
        if isinstance(key, np.ndarray) and key.ndim == 0:
            key = key.item()
        if not isinstance(key, (str, int, float, bool, type(None))):
            raise ValueError("holds a dictionary key that is not a plain value")
        return key


def save(model, path):
    """Write a fitted fastem estimator to ``path`` (a file name or a binary file object).

    Parameters
    ----------
    model : fitted fastem estimator
    path : str, path-like or file object

    Raises
    ------
    NotFittedError
        For an estimator that is not fitted.
    TypeError
        For something other than a fastem estimator, or a parameter that a
        model file cannot hold.
    """
    name = type(model).__name__
    if _estimators().get(name) is not type(model):
        raise TypeError(f"fastem.save writes fastem's estimators, not a {name}")
    check_is_fitted(model)
    from fastem import __version__

    writer = _Writer()
    attributes = {key: value for key, value in vars(model).items() if _ATTRIBUTE.match(key)}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastem_version": __version__,
        "class": name,
        "params": writer.encode(model.get_params(deep=False)),
        "attributes": writer.encode(attributes),
    }
    text = json.dumps(meta, allow_nan=False).encode("utf-8")
    members = {key: np.ascontiguousarray(value) for key, value in writer.arrays.items()}
    if hasattr(path, "write"):
        np.savez(path, **members, **{META: np.frombuffer(text, dtype=np.uint8)})
    else:
        with open(path, "wb") as file:
            np.savez(file, **members, **{META: np.frombuffer(text, dtype=np.uint8)})


def load(path):
    """Read a model file written by :func:`save`; returns the fitted estimator.

    Parameters
    ----------
    path : str, path-like or file object

    Raises
    ------
    ValueError
        For a file that is not a readable fastem model file (missing members,
        truncated, corrupted, pickled content, an unknown type) or that a
        newer fastem wrote.
    """
    try:
        if hasattr(path, "read"):
            data = path.read()
        else:
            with open(path, "rb") as file:
                data = file.read()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    where = getattr(path, "name", path)
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        if not hasattr(archive, "files") or META not in archive.files:
            raise ValueError("it has no fastem.json")
        meta = json.loads(bytes(archive[META]).decode("utf-8"))
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, KeyError) as error:
        raise ValueError(f"{where} is not a fastem model file ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{where} is not a fastem model file")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{where} has no valid format version")
    if version > FORMAT_VERSION:
        raise ValueError(f"{where} is in model-file format {version}, written by fastem "
                         f"{meta.get('fastem_version')}; this fastem reads format {FORMAT_VERSION} and older: "
                         "upgrade fastem")
    cls = _estimators().get(meta.get("class"))
    if cls is None:
        raise ValueError(f"{where} holds an unknown estimator {meta.get('class')!r}")
    reader = _Reader(archive)
    try:
        params = reader.decode(meta["params"])
        attributes = reader.decode(meta["attributes"])
        if not (isinstance(params, dict) and isinstance(attributes, dict)):
            raise ValueError("its parameters or attributes are not a mapping")
        model = cls()
        known = model.get_params(deep=False)
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"it sets parameters {cls.__name__} does not have: {unknown}")
        model.set_params(**params)
        for key, value in attributes.items():
            if not (isinstance(key, str) and _ATTRIBUTE.match(key)):
                raise ValueError(f"it sets an attribute {key!r} that is not a fitted attribute")
            setattr(model, key, value)
    except (ValueError, TypeError, KeyError, zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{where} is not a valid fastem model file: {error}") from None
    check_is_fitted(model)
    return model
