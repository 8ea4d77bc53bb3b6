"""``anchor cmi`` and ``anchor matrix``: conditional MI of three files, the MI matrix of a table.

    anchor cmi x.npy y.npy z.npy --json
    anchor matrix table.csv --columns a,b,c --out mi.csv --heatmap mi.png
    anchor matrix table.csv --groups "g1=a,b;g2=c;g3=d,e"

Files are read as ``anchor estimate`` reads them (``anchor.data_files.read_table``); bad input prints one
line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .data_files import InputError, estimate_report, read_table

__all__ = ["cmi_command", "matrix_command"]


def _fail(command: str, err: BaseException) -> int:
    message = err.args[0] if err.args else str(err)
    print(f"anchor {command}: {message}", file=sys.stderr)
    return 2


def _cmi_parser() -> argparse.ArgumentParser:
    from .conditional import CHAINS
    from .critics import CRITICS
    from .estimate_result import UNITS

    parser = argparse.ArgumentParser(
        prog="anchor cmi", description="Estimate the conditional MI I(X; Y | Z) from paired rows of three files."
    )
    for name, what in (("x", "X"), ("y", "Y, the same rows"), ("z", "Z, the variables to condition on")):
        parser.add_argument(name, help=f"file of {what} (.npy, .npz, .csv, .parquet)")
    for name in "xyz":
        parser.add_argument(f"--{name}-key", help=f".npz: the array holding {name.upper()}")
        parser.add_argument(f"--{name}-columns", help=f".csv/.parquet: comma-separated columns of {name.upper()}")
    parser.add_argument("--chain", choices=sorted(CHAINS), default="x", help="which chain rule (default x)")
    parser.add_argument("--unit", choices=sorted(UNITS), default="nats")
    parser.add_argument("--critic", choices=sorted(CRITICS), default="separable")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def cmi_command(argv: list[str]) -> int:
    args = _cmi_parser().parse_args(argv)

    from .conditional import estimate_cmi

    try:
        data = {
            name: read_table(
                getattr(args, name),
                key=getattr(args, f"{name}_key"),
                columns=getattr(args, f"{name}_columns"),
                name=name,
            )
            for name in "xyz"
        }
        rows = {name: d.shape[0] for name, d in data.items()}
        if len(set(rows.values())) != 1:
            raise InputError(f"x, y and z have {rows['x']}, {rows['y']} and {rows['z']} rows: the rows must be paired")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = estimate_cmi(
                data["x"],
                data["y"],
                data["z"],
                critic=args.critic,
                chain=args.chain,
                unit=args.unit,
                folds=args.folds,
                max_steps=args.max_steps,
                seed=args.seed,
                device=args.device,
                progress=not (args.quiet or args.json),
            )
    except (InputError, ValueError, KeyError) as err:
        return _fail("cmi", err)
    n = data["x"].shape[0]
    if args.json:
        report = estimate_report(est, n)
        report["quantity"] = est.quantity
        report["parts"] = [{"quantity": p.quantity, **estimate_report(p, n)} for p in est.parts]
        print(json.dumps(report))
        return 0
    print(est.headline())
    for part in est.parts:
        print(
            f"  {part.quantity} = {part.mi:.3f} {part.unit} "
            f"(95% CI {part.ci_low:.3f} to {part.ci_high:.3f}; {part.model})"
        )
    print(f"rows {n}; {est.seconds:.1f} s")
    for line in est.warnings:
        print(f"warning: {line}")
    return 0


def _groups(text: str) -> dict[str, list[str]]:
    """ "g1=a,b;g2=c" -> {"g1": ["a", "b"], "g2": ["c"]}."""
    groups: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, eq, cols = part.partition("=")
        columns = [c.strip() for c in cols.split(",") if c.strip()]
        if not eq or not name.strip() or not columns:
            raise InputError(f'--groups: {part!r} is not NAME=COLUMN,COLUMN,...; write e.g. "g1=a,b;g2=c"')
        groups[name.strip()] = columns
    return groups


def _matrix_parser() -> argparse.ArgumentParser:
    from .estimate_result import UNITS
    from .matrix import METHODS

    parser = argparse.ArgumentParser(
        prog="anchor matrix", description="The MI between every pair of columns (or column groups) of a table."
    )
    parser.add_argument("table", help="the table (.csv, .parquet, .npy, .npz): one row per sample")
    parser.add_argument("--key", help=".npz: the array holding the table")
    parser.add_argument("--columns", help="comma-separated columns to pair (default: all)")
    parser.add_argument("--groups", help='named column groups to pair instead of columns: "g1=a,b;g2=c;g3=d,e"')
    parser.add_argument("--method", choices=METHODS, help="shared (one model, single columns) or separate")
    parser.add_argument("--unit", choices=sorted(UNITS), default="nats")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="training steps at most (default: 12,000 shared, 4,000 separate)"
    )
    parser.add_argument("--out", help="write the tidy table of pairs to this .csv or .json file")
    parser.add_argument("--heatmap", help="draw the matrix to this image file (.png, .pdf, .svg)")
    parser.add_argument("--json", action="store_true", help="print the pairs as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def matrix_command(argv: list[str]) -> int:
    args = _matrix_parser().parse_args(argv)

    import pandas as pd

    from .matrix import mi_matrix

    try:
        if args.out is not None and Path(args.out).suffix not in (".csv", ".json"):
            raise InputError(f"--out {args.out!r}: write a .csv or .json file")
        if args.heatmap is not None and Path(args.heatmap).suffix not in (".png", ".pdf", ".svg"):
            raise InputError(f"--heatmap {args.heatmap!r}: draw to a .png, .pdf or .svg file")
        if args.groups is not None and args.columns is not None:
            raise InputError("give --columns or --groups, not both")
        table = read_table(args.table, key=args.key, columns=args.columns, name="table")
        if not isinstance(table, pd.DataFrame):
            table = pd.DataFrame(table, columns=[str(j) for j in range(table.shape[1])])
        groups = _groups(args.groups) if args.groups is not None else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = mi_matrix(
                table,
                groups=groups,
                method=args.method,
                unit=args.unit,
                folds=args.folds,
                max_steps=args.max_steps,
                seed=args.seed,
                device=args.device,
                progress=not (args.quiet or args.json),
            )
    except (InputError, ValueError, KeyError) as err:
        return _fail("matrix", err)
    frame = result.frame
    if args.out is not None:
        out = Path(args.out)
        if out.suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            out.write_text(frame.to_json(orient="records", indent=1))
    if args.heatmap is not None:
        from .heatmaps import plot_mi_matrices

        fig = plot_mi_matrices({f"MI ({result.method})": result.matrix()}, unit=result.unit)
        fig.savefig(
            args.heatmap, bbox_inches="tight", metadata={"Software": None} if args.heatmap.endswith(".png") else {}
        )
    if args.json:
        print(frame.to_json(orient="records"))
        return 0
    print(result)
    with pd.option_context("display.max_rows", 200, "display.width", 120):
        print(frame[["a", "b", "mi", "ci_low", "ci_high", "trusted"]].to_string(index=False, float_format="%.4f"))
    return 0
