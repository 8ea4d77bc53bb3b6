"""Data files for the ``anchor`` commands: .npy, .npz, .csv and .parquet read with every problem
named in one line (``InputError``), and an estimate as plain JSON-ready values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SUFFIXES", "InputError", "estimate_report", "read_table"]

SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


class InputError(ValueError):
    """A data file that cannot be used; the message is the one line the command prints."""


def read_table(path: str, *, key: str | None = None, columns: str | None = None, name: str = "x") -> Any:
    """The data in ``path``: a (n, d) float64 array (.npy, .npz) or a pandas DataFrame (.csv,
    .parquet, whose text and categorical columns ``estimate_mi`` encodes; ``anchor.tables``)."""
    file = Path(path)
    if file.suffix not in SUFFIXES:
        raise InputError(f"{name} file {path!r}: unsupported type {file.suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    if file.is_dir():
        raise InputError(f"{name} file {path!r} is a folder, not a file")
    if not file.exists():
        raise InputError(f"{name} file {path!r} does not exist")
    if key is not None and file.suffix != ".npz":
        raise InputError(f"--{name}-key applies to .npz files only, {path!r} is {file.suffix}")
    if columns is not None and file.suffix not in (".csv", ".parquet"):
        raise InputError(f"--{name}-columns applies to .csv and .parquet files only, {path!r} is {file.suffix}")
    try:
        if file.suffix == ".npy":
            values = np.load(file, allow_pickle=False)
        elif file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as data:
                keys = list(data.files)
                if key is None and len(keys) != 1:
                    raise InputError(f"{name} file {path!r} holds arrays {keys}: choose one with --{name}-key")
                if key is not None and key not in keys:
                    raise InputError(f"{name} file {path!r} has no array {key!r}; it holds {keys}")
                values = data[key if key is not None else keys[0]]
        else:
            return _read_frame(file, path, columns, name)
    except InputError:
        raise
    except (OSError, ValueError) as err:
        raise InputError(f"{name} file {path!r} could not be read: {err}") from None
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise InputError(f"{name} file {path!r}: expected real numbers, got dtype {values.dtype}")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise InputError(f"{name} file {path!r}: expected a (rows, columns) array, got shape {values.shape}")
    bad = ~np.isfinite(values.astype(np.float64))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{name} file {path!r}: {int(bad.sum())} NaN or infinite value(s), first at row {row}, column {col}"
        )
    return values.astype(np.float64)


def _read_frame(file: Path, path: str, columns: str | None, name: str) -> Any:
    """A .csv or .parquet file as a DataFrame of the chosen columns, with its emptiness and
    missing values named."""
    import pandas as pd

    try:
        table = pd.read_csv(file) if file.suffix == ".csv" else pd.read_parquet(file)
    except pd.errors.EmptyDataError:
        raise InputError(f"{name} file {path!r} is empty") from None
    if columns is not None:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in table.columns]
        if unknown:
            raise InputError(f"{name} file {path!r} has no column(s) {unknown}; it has {list(table.columns)}")
        table = table[wanted]
    if table.shape[1] == 0:
        raise InputError(f"{name} file {path!r} has no columns")
    if table.shape[0] == 0:
        raise InputError(f"{name} file {path!r} has a header ({', '.join(map(str, table.columns))}) but no rows")
    missing = table.isna().to_numpy()
    if missing.any():
        row, col = np.argwhere(missing)[0]
        raise InputError(
            f"{name} file {path!r}: {int(missing.sum())} missing value(s), first at row {row}, "
            f"column {table.columns[col]!r}"
        )
    numeric = table.select_dtypes("number")
    if not np.isfinite(numeric.to_numpy(np.float64)).all():
        raise InputError(
            f"{name} file {path!r}: infinite value(s) in column(s) "
            f"{[c for c in numeric if not np.isfinite(numeric[c]).all()]}"
        )
    return table


def estimate_report(est: Any, n: int) -> dict[str, Any]:
    """The estimate as plain JSON-ready values."""

    def clean(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return None if not math.isfinite(float(v)) else float(v)
        if isinstance(v, np.integer | np.bool_):
            return v.item()
        return v

    folds = [{k: clean(v) for k, v in row.items()} for row in est.folds.to_dict("records")]
    return {
        "mi": clean(est.mi),
        "stderr": clean(est.stderr),
        "ci_low": clean(est.ci_low),
        "ci_high": clean(est.ci_high),
        "mi_raw": clean(est.mi_raw),
        "plug_in": clean(est.plug_in),
        "model": est.model,
        "x_columns": list(est.x_columns),
        "y_columns": list(est.y_columns),
        "encoding": est.encoding,
        "unit": est.unit,
        "objective": est.objective,
        "critic": est.critic,
        "rows": n,
        "trusted": est.trusted,
        "warnings": list(est.warnings),
        "settings": dict(est.settings),
        "log_norm": clean(est.log_norm),
        "log_norm_capped": clean(est.log_norm_capped),
        "fit_gap": clean(est.fit_gap),
        "dv": clean(est.dv),
        "nwj": clean(est.nwj),
        "seconds": clean(est.seconds),
        "folds": folds,
    }
