"""The ``anchor`` command: estimate the MI of data files, and run the repository's pipelines.

    anchor estimate x.npy y.npy                          # one estimate, its interval and self-checks
    anchor estimate data.csv data.csv --x-columns a,b --y-columns c --unit bits --json
    anchor estimate pairs.npz pairs.npz --x-key x --y-key y --device cuda
    anchor cmi x.npy y.npy z.npy                         # I(X; Y | Z), its interval and self-checks
    anchor matrix table.csv --columns a,b,c --out mi.csv --heatmap mi.png   # MI of every pair of columns
    anchor matrix table.csv --groups "g1=a,b;g2=c;g3=d,e" --json
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
import os
import sys
import warnings

from .data_files import SUFFIXES, InputError, estimate_report, read_table

__all__ = ["SUFFIXES", "InputError", "estimate_report", "main", "read_table"]


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
    "cmi": "estimate the conditional MI I(X; Y | Z) of three data files",
    "matrix": "the MI of every pair of columns (or column groups) of a table",
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
    if command in ("cmi", "matrix"):
        try:
            from .cli_tables import cmi_command, matrix_command

            return (cmi_command if command == "cmi" else matrix_command)(rest)
        except BrokenPipeError:
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
