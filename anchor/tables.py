"""Tables in: pandas DataFrames, Series and array-likes as the numeric matrices ``estimate_mi`` needs.

``as_table(name, data)`` turns one side of the pairs (x or y) into a float64 (n, d) array with a
name per column and a note of how each column was encoded. The treatment of column kinds:

* floating columns: as given;
* integer and boolean columns: their values as numbers. The per-column normal scores
  (``anchor.marginals``) give tied values their mid-rank score, so a column with a few distinct
  values reaches the critic as that many distinct inputs;
* unordered categorical columns (pandas ``category``, strings, Python objects): one indicator
  column per level (``name=level``; a column with two levels becomes a single 0/1 column). A
  pandas categorical contributes every declared level, so a slice of a table (for ``est.pmi``)
  is encoded like the whole; text columns contribute the levels present.
  Encoding a variable by a one-to-one map leaves the MI unchanged, so a categorical column
  contributes exactly its information, whatever order its levels are listed in;
* ordered categoricals: their level codes 0, 1, 2, ...

A DataFrame keeps its column names, a Series its name; numpy arrays and torch tensors get
``x0, x1, ...`` (or ``y0, ...``). Anything else with ``__array__`` goes through ``numpy.asarray``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_pairs

MAX_LEVELS = 100
"""Most levels of a categorical column (each becomes an indicator column)."""
DISCRETE_LEVELS = 20
"""A numeric column with at most this many distinct values counts as discrete for the checks
that need to know (duplicated columns, repeated rows)."""


@dataclass(frozen=True)
class Table:
    """One side of the pairs as the critic sees it: ``values`` (n, d) float64, one entry of
    ``columns`` per column of ``values``, and per original column how it was encoded."""

    values: np.ndarray
    columns: list[str]
    encoding: dict[str, str]


def _is_categorical(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
    )


def _encode(name: str, label: str, series: pd.Series) -> tuple[np.ndarray, list[str], str]:
    """One original column as (n, k) float64 values, their k names and the encoding used."""
    if series.isna().any():
        row = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise ValueError(
            f"{name} column {label!r} has {int(series.isna().sum())} missing value(s) (first in row {row}); "
            "drop or impute those rows first"
        )
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        return series.cat.codes.to_numpy(np.float64)[:, None], [label], "ordered codes"
    if _is_categorical(series):
        if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
            return series.astype("int64").to_numpy(np.float64)[:, None], [label], "time as a number"
        if isinstance(series.dtype, pd.CategoricalDtype):  # every declared level, present in these rows or not
            levels = pd.Index(series.cat.categories.astype(str)).sort_values()
        else:
            levels = pd.Index(pd.unique(series.astype(str))).sort_values()
        if len(levels) > MAX_LEVELS:
            raise ValueError(
                f"{name} column {label!r} holds {len(levels)} distinct text values (categories); at most "
                f"{MAX_LEVELS} can be encoded as indicator columns. Convert it to numbers, or leave it out"
            )
        codes = pd.Categorical(series.astype(str), categories=levels).codes
        if len(levels) <= 2:
            return (codes == len(levels) - 1).astype(np.float64)[:, None], [f"{label}={levels[-1]}"], "indicator"
        onehot = (codes[:, None] == np.arange(len(levels))[None, :]).astype(np.float64)
        return onehot, [f"{label}={level}" for level in levels], f"one-hot ({len(levels)} levels)"
    values = series.to_numpy(np.float64)
    kind = (
        "boolean"
        if pd.api.types.is_bool_dtype(series)
        else ("integer" if pd.api.types.is_integer_dtype(series) else "number")
    )
    return values[:, None], [label], kind


def as_table(name: str, data: Any) -> Table:
    """``data`` (one side of the pairs) as a ``Table``; see the module docstring for the encodings.

    Raises ValueError naming ``name`` for input that is not a table of numbers, categories or
    booleans, or that has missing values, no rows or no columns."""
    if isinstance(data, pd.Series):
        data = data.to_frame(name=str(data.name) if data.name is not None else name)
    if isinstance(data, pd.DataFrame):
        if data.shape[1] == 0:
            raise ValueError(f"{name} has no columns; it needs at least one feature")
        parts, columns, encoding = [], [], {}
        for label, series in data.items():
            values, names, how = _encode(name, str(label), series)
            parts.append(values)
            columns += names
            encoding[str(label)] = how
        return Table(np.concatenate(parts, axis=1), columns, encoding)
    if isinstance(data, torch.Tensor):
        array = data.detach().cpu().numpy() if data.dtype != torch.bfloat16 else data.detach().float().cpu().numpy()
    elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        array = np.asarray(data)
    else:
        raise ValueError(
            f"{name} must be a pandas DataFrame or Series, a numpy array, a torch tensor or another array "
            f"(anything with __array__), got {type(data).__name__}"
        )
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (n, d) or 1-D, got shape {array.shape}")
    if array.dtype.kind in "OUS":  # strings or objects: categorical columns
        return as_table(name, pd.DataFrame(array, columns=[f"{name}{j}" for j in range(array.shape[1])]))
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, categories or booleans, got dtype {array.dtype}")
    kind = {"b": "boolean", "i": "integer", "u": "integer"}.get(array.dtype.kind, "number")
    columns = [f"{name}{j}" for j in range(array.shape[1])]
    return Table(array.astype(np.float64), columns, dict.fromkeys(columns, kind))


def looks_discrete(column: np.ndarray) -> bool:
    """A column of at most ``DISCRETE_LEVELS`` distinct values, or of integers only."""
    distinct = np.unique(column)
    return distinct.size <= DISCRETE_LEVELS or bool(np.all(distinct == np.round(distinct)))


def identical_columns(x: Table, y: Table) -> list[tuple[str, str]]:
    """Pairs (x column, y column) that hold the same continuous-looking variable up to a strictly
    monotone map (equal ranks): for those the continuous MI is infinite."""
    out = []
    rx = [None if looks_discrete(c) else pd.Series(c).rank().to_numpy() for c in x.values.T]
    ry = [None if looks_discrete(c) else pd.Series(c).rank().to_numpy() for c in y.values.T]
    for i, a in enumerate(rx):
        for j, b in enumerate(ry):
            if a is not None and b is not None and (np.array_equal(a, b) or np.array_equal(a, a.size + 1 - b)):
                out.append((x.columns[i], y.columns[j]))
    return out


def repeated_rows(x: Table, y: Table) -> float:
    """The share of rows that repeat an earlier (x, y) row exactly, counted only when every column
    looks continuous (0.0 otherwise: discrete data repeats rows by nature)."""
    if any(looks_discrete(c) for c in x.values.T) or any(looks_discrete(c) for c in y.values.T):
        return 0.0
    rows = np.concatenate([x.values, y.values], axis=1)
    distinct = np.unique(rows, axis=0).shape[0]
    return 1.0 - distinct / rows.shape[0]


def paired_tables(x: Any, y: Any) -> tuple[Table, Table, torch.Tensor, torch.Tensor]:
    """x and y as ``Table``s and as finite float64 tensors (n, dx) and (n, dy) with the same n."""
    tx, ty = as_table("x", x), as_table("y", y)
    xt, yt = check_pairs(tx.values, ty.values)
    return tx, ty, xt, yt
