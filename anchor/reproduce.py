"""Regenerate the figures: run every figure notebook through papermill for a parameter profile.

    python -m anchor.reproduce --profile quick            # the default main job
    python -m anchor.reproduce --profile smoke --only oracle
    python -m anchor.reproduce --list
    python -m anchor.reproduce --refresh-committed        # re-execute notebooks/*.ipynb (smoke)

Notebook sources are jupytext ``py:percent`` files in ``notebooks/``; each is converted to a
notebook, executed with its profile's parameters from ``notebooks/profiles.yaml`` and written to
``results/notebooks/<name>.<profile>.ipynb``. Figures go to ``figures/`` (``smoke`` writes to
``results/figures/`` so the committed figures are never overwritten by a test run).

The committed ``notebooks/<name>.ipynb`` are the sources executed with their own defaults (the
smoke parameters), which is what ``pytest --nbval`` re-runs and compares in CI.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PROFILES = ("smoke", "quick", "paper")


def load_profiles(path: Path = NOTEBOOKS / "profiles.yaml") -> dict[str, dict[str, dict]]:
    """``{notebook: {profile: {parameter: value}}}`` from the profiles file."""
    with open(path) as f:
        return yaml.safe_load(f)


def figure_dir(profile: str) -> Path:
    return ROOT / ("results/figures" if profile == "smoke" else "figures")


def run_notebook(name: str, profile: str, parameters: dict, *, progress: bool = True) -> Path:
    """Execute ``notebooks/<name>.py`` with ``parameters``; returns the executed notebook's path."""
    import jupytext
    import papermill as pm

    source = NOTEBOOKS / f"{name}.py"
    if not source.exists():
        raise FileNotFoundError(f"notebook source {source} does not exist (listed in notebooks/profiles.yaml)")
    out_dir = ROOT / "results" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    unexecuted = out_dir / f"{name}.input.ipynb"
    jupytext.write(jupytext.read(source), unexecuted)
    output = out_dir / f"{name}.{profile}.ipynb"
    params = {"profile": profile, "figure_dir": str(figure_dir(profile)), **parameters}
    pm.execute_notebook(
        unexecuted, output, parameters=params, cwd=str(NOTEBOOKS), progress_bar=progress, kernel_name="python3"
    )
    unexecuted.unlink()
    return output


def refresh_committed(name: str) -> Path:
    """Execute ``notebooks/<name>.py`` with its default (smoke) parameters into ``notebooks/<name>.ipynb``."""
    import jupytext
    import papermill as pm

    target = NOTEBOOKS / f"{name}.ipynb"
    jupytext.write(jupytext.read(NOTEBOOKS / f"{name}.py"), target)
    pm.execute_notebook(target, target, cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    _strip_run_metadata(target)
    return target


def _strip_run_metadata(path: Path) -> None:
    """Drop timestamps and durations and number the cell ids, so a re-run changes only outputs."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("papermill", None)
    for k, cell in enumerate(notebook.cells):
        cell.id = f"cell-{k}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anchor.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="parameter profile (default: quick)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks")
    parser.add_argument("--list", action="store_true", help="list the notebooks and exit")
    parser.add_argument(
        "--refresh-committed", action="store_true", help="re-execute the committed smoke notebooks in notebooks/"
    )
    args = parser.parse_args(argv)

    profiles = load_profiles()
    names = list(profiles)
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown notebook(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        names = [n for n in names if n in args.only]

    from papermill.exceptions import PapermillExecutionError

    profile = "smoke" if args.refresh_committed else args.profile
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name} (profile {profile})", flush=True)
        start = time.perf_counter()
        try:
            if args.refresh_committed:
                output = refresh_committed(name)
            else:
                output = run_notebook(name, profile, profiles[name][profile])
        except PapermillExecutionError as err:
            where = f"notebooks/{name}.ipynb" if args.refresh_committed else f"results/notebooks/{name}.{profile}.ipynb"
            print(
                f"\nnotebook {name!r} failed in cell {err.exec_count} ({err.ename}: {err.evalue}).\n"
                f"The executed notebook with the traceback is {where}",
                file=sys.stderr,
            )
            return 1
        print(f"    done in {time.perf_counter() - start:.0f} s -> {output.relative_to(ROOT)}", flush=True)
    print(f"figures in {figure_dir(profile).relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
