"""Data files for the ``fastem`` command: reading tables of numbers and writing results.

Formats, by the file name's ending: ``.npy``, ``.npz`` (its first array, or
the one named by ``name:array``), ``.csv`` and ``.tsv`` with or without a
header (a first line with any field that is not a number is a header; an
empty field or NaN is a missing entry), ``.parquet`` where pyarrow is
installed, and ``-`` for CSV on standard input or output. Every problem is a
:class:`DataError` whose message names the file, and the column or row
where that helps.
"""

import csv
import io
import os
import sys

import numpy as np


class DataError(ValueError):
    """A data file that cannot be read or written as asked."""


def _kind(path):
    if path == "-":
        return "csv"
    base = str(path).lower()
    for ending, kind in ((".npy", "npy"), (".npz", "npz"), (".csv", "csv"), (".tsv", "tsv"), (".txt", "csv"),
                         (".parquet", "parquet"), (".pq", "parquet")):
        if base.endswith(ending):
            return kind
    raise DataError(f"{path}: unknown format (expected .npy, .npz, .csv, .tsv, .parquet or -)")


def _number(text):
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na"):
        return np.nan
    return float(text)


def _read_delimited(path, delimiter):
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, newline="", encoding="utf-8") as file:
                text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read ({error.strerror if isinstance(error, OSError) else error})") from None
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row and any(f.strip() for f in row)]
    if not rows:
        raise DataError(f"{path}: no rows")
    names = None
    try:
        [_number(field) for field in rows[0]]
    except ValueError:
        names, rows = [field.strip() for field in rows[0]], rows[1:]
    width = len(names) if names is not None else len(rows[0])
    columns = [[] for _ in range(width)]
    for number, row in enumerate(rows, start=2 if names is not None else 1):
        if len(row) != width:
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {width}")
        for c, field in enumerate(row):
            columns[c].append(field)
    return names, columns


def read_table(path, columns=None):
    """(X float64 (n, d), column names or None) of the data at ``path``.

    ``columns``: names or indices to keep (a list of str); None keeps all.
    A column that holds something other than numbers is a DataError naming it.
    """
    kind = _kind(path)
    if path != "-" and not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    names = None
    if kind in ("csv", "tsv"):
        names, raw = _read_delimited(path, "\t" if kind == "tsv" else ",")
        values = []
        for c, column in enumerate(raw):
            try:
                values.append([_number(field) for field in column])
            except ValueError:
                bad = next(field for field in column if _is_not_number(field))
                label = repr(names[c]) if names is not None else f"{c}"
                raise DataError(f"{path}: column {label} is not numeric (it holds {bad!r})") from None
        X = np.array(values, dtype=np.float64).T if values and values[0] else np.empty((0, len(values)))
    elif kind == "parquet":
        try:
            import pyarrow.parquet as parquet
        except ImportError:
            raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        try:
            table = parquet.read_table(path)
        except Exception as error:  # pyarrow's errors have no common base worth naming
            raise DataError(f"{path}: cannot read as Parquet ({error})") from None
        names = list(table.column_names)
        arrays = []
        for name in names:
            try:
                arrays.append(np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64))
            except (TypeError, ValueError):
                raise DataError(f"{path}: column {name!r} is not numeric") from None
        X = np.column_stack(arrays) if arrays else np.empty((0, 0))
    else:
        try:
            loaded = np.load(path, allow_pickle=False)
            if kind == "npz":
                if not loaded.files:
                    raise DataError(f"{path}: holds no array")
                loaded = loaded[loaded.files[0]]
        except DataError:
            raise
        except (OSError, ValueError, EOFError) as error:
            raise DataError(f"{path}: cannot read as {kind} ({error})") from None
        if loaded.dtype.kind not in "biuf":
            raise DataError(f"{path}: holds {loaded.dtype} values, not numbers")
        X = np.asarray(loaded, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise DataError(f"{path}: holds an array of {X.ndim} dimensions, expected 2")
    if columns is not None:
        X, names = select_columns(path, X, names, columns)
    return X, names


def _is_not_number(field):
    try:
        _number(field)
        return False
    except ValueError:
        return True


def _column_index(path, X, names, column):
    """The index of ``column``, a name or an index (negative from the end)."""
    if names is not None and column in names:
        return names.index(column)
    if column.lstrip("-").isdigit() and -X.shape[1] <= int(column) < X.shape[1]:
        return int(column) % X.shape[1]
    known = f" (columns: {', '.join(names)})" if names is not None else f" ({X.shape[1]} columns)"
    raise DataError(f"{path}: no column {column!r}{known}")


def select_columns(path, X, names, columns):
    """(X, names) of ``columns`` alone, each a name or an index."""
    indices = [_column_index(path, X, names, column) for column in columns]
    return X[:, indices], (None if names is None else [names[i] for i in indices])


def take_column(path, X, names, column):
    """(X without ``column``, names without it, the column's values): for labels and weights."""
    index = _column_index(path, X, names, column)
    keep = [c for c in range(X.shape[1]) if c != index]
    return X[:, keep], (None if names is None else [names[c] for c in keep]), X[:, index]


def write_table(path, values, names):
    """Write a 1-D or 2-D array of results to ``path`` (the formats of :func:`read_table`)."""
    values = np.asarray(values)
    kind = _kind(path)
    table = values[:, None] if values.ndim == 1 else values
    try:
        if kind == "npy":
            np.save(path, values)
        elif kind == "npz":
            np.savez(path, values=values)
        elif kind == "parquet":
            try:
                import pyarrow as arrow
                import pyarrow.parquet as parquet
            except ImportError:
                raise DataError(f"{path}: writing Parquet needs pyarrow (pip install pyarrow)") from None
            parquet.write_table(arrow.table({name: table[:, c] for c, name in enumerate(names)}), path)
        else:
            delimiter = "\t" if kind == "tsv" else ","
            file = sys.stdout if path == "-" else open(path, "w", newline="", encoding="utf-8")
            try:
                writer = csv.writer(file, delimiter=delimiter, lineterminator="\n")
                writer.writerow(names)
                for row in table:
                    writer.writerow([repr(v.item()) if isinstance(v, np.floating) else v.item() for v in row])
            finally:
                if file is not sys.stdout:
                    file.close()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise DataError(f"{path}: cannot write ({error.strerror})") from None
