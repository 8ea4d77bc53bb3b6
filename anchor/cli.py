"""The ``anchor`` command: estimate the MI of data files, and run the repository's pipelines.

    anchor estimate x.npy y.npy                          # one estimate, its interval and self-checks
    anchor estimate data.csv data.csv --x-columns a,b --y-columns c --unit bits --json
    anchor estimate pairs.npz pairs.npz --x-key x --y-key y --device cuda
    anchor reproduce --profile quick                     # = python -m anchor.reproduce
    anchor sweep JOB --profile paper --device cuda       # train a figure job's runs into the cache
    anchor benchmark ...                                 # = python -m anchor.benchmark

Files: ``.npy`` (a 1-D or 2-D array), ``.npz`` (``--x-key``/``--y-key`` name the array; a file
with one array needs none), ``.csv`` and ``.parquet`` (``--x-columns``/``--y-columns``, comma
separated; default: every column; text and boolean columns are categories, encoded as
``anchor.tables`` says, and the JSON output names every column). A bad file (missing, a folder,
unreadable, empty, wrong shape, rows that do not match, NaN or missing values) prints one line and
exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

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


def _estimate(argv: list[str]) -> int:
    from .critics import CRITICS
    from .estimate_result import UNITS
    from .objectives import OBJECTIVES

    parser = argparse.ArgumentParser(
        prog="anchor estimate", description="Estimate I(X; Y) from paired rows of two files."
    )
    parser.add_argument("x", help="file of X (.npy, .npz, .csv, .parquet): one row per sample")
    parser.add_argument("y", help="file of Y, the same number of rows (may be the same file as x)")
    parser.add_argument("--x-key", help=".npz: the array holding X")
    parser.add_argument("--y-key", help=".npz: the array holding Y")
    parser.add_argument("--x-columns", help=".csv/.parquet: comma-separated columns of X (default: all)")
    parser.add_argument("--y-columns", help=".csv/.parquet: comma-separated columns of Y (default: all)")
    parser.add_argument("--unit", choices=sorted(UNITS), default="nats")
    parser.add_argument("--objective", choices=sorted(OBJECTIVES), default="anchor")
    parser.add_argument("--critic", choices=sorted(CRITICS), default="separable")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--json", action="store_true", help="print one JSON object (estimate, interval, diagnostics)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from .estimate import estimate_mi

    try:
        x = read_table(args.x, key=args.x_key, columns=args.x_columns, name="x")
        y = read_table(args.y, key=args.y_key, columns=args.y_columns, name="y")
        if x.shape[0] != y.shape[0]:
            raise InputError(f"x has {x.shape[0]} rows and y has {y.shape[0]}: the rows must be paired")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warnings are printed with the estimate
            est = estimate_mi(
                x,
                y,
                objective=args.objective,
                critic=args.critic,
                unit=args.unit,
                folds=args.folds,
                max_steps=args.max_steps,
                seed=args.seed,
                device=args.device,
                progress=not (args.quiet or args.json),
            )
    except (InputError, ValueError, KeyError) as err:
        message = err.args[0] if err.args else str(err)
        print(f"anchor estimate: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(estimate_report(est, x.shape[0])))
        return 0
    print(est.headline())
    print(
        f"rows {x.shape[0]}, x {len(est.x_columns)}-d, y {len(est.y_columns)}-d; "
        f"normalisation log E_q[e^c] {est.log_norm_capped:+.3f}, "
        f"fit gap {est.fit_gap:+.3f}, DV {est.dv:.3f}, NWJ {est.nwj:.3f} ({est.unit}); "
        f"folds converged {int(est.folds.converged.sum())}/{len(est.folds)}; {est.seconds:.1f} s"
    )
    for line in est.warnings:
        print(f"warning: {line}")
    return 0


COMMANDS = {
    "estimate": "estimate the MI of two data files",
    "reproduce": "regenerate the figures (python -m anchor.reproduce)",
    "sweep": "train a figure job's runs into the result cache, without Jupyter",
    "benchmark": "score estimators on tasks with known MI (python -m anchor.benchmark)",
}


def main(argv: list[str] | None = None) -> int:
    """The ``anchor`` command; Ctrl-C ends it with one line and exit status 130."""
    from ._console import run_command

    return run_command(lambda _: _main(sys.argv[1:] if argv is None else list(argv)), "anchor")


def _main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
        usage = "usage: anchor COMMAND [ARGS]  (anchor COMMAND --help for each)\n\ncommands:\n" + "\n".join(lines)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"anchor: unknown command {argv[0]!r}\n{usage}", file=sys.stderr)
            return 2
        print(usage)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "estimate":
        try:
            return _estimate(rest)
        except BrokenPipeError:  # the reader stopped early (anchor estimate ... | head): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if command == "reproduce":
        from .reproduce import main as run
    elif command == "sweep":
        from .sweep_cli import main as run
    else:
        from .benchmark import main as run
    return int(run(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
