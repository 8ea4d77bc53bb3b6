"""Regenerate the figures: run every figure notebook through papermill for a parameter profile.

    python -m anchor.reproduce --profile quick            # the default main job
    python -m anchor.reproduce --profile smoke --only oracle
    python -m anchor.reproduce --only oracle --set n_batches=100  # any notebook parameter
    python -m anchor.reproduce --profile paper --device cuda --workers 8
    python -m anchor.reproduce --profile paper --scheduler tcp://host:8786   # on a Dask cluster
    python -m anchor.reproduce --list
    python -m anchor.reproduce --profile quick --publish   # keep the executed runs in notebooks/executed
    python -m anchor.reproduce --refresh-committed        # re-execute notebooks/*.ipynb (smoke)

``notebooks/profiles.yaml`` lists the figure jobs. A job runs one notebook source (``notebook``,
by default the job's own name) with its shared ``params`` and one profile's parameters. Sources
are jupytext ``py:percent`` files in ``notebooks/``; each job's executed notebook is written to
``results/notebooks/<job>.<profile>.ipynb`` (``--publish``: also ``notebooks/executed/``, the copy
the README links). Figures go to ``figures/`` (quick), ``figures/paper/`` (paper) or
``results/figures/`` (smoke, so a test run never overwrites the committed figures). A run with
``--set`` carries the changed values in its file names (``anchor.runner.override_tag``), so it
never replaces the profile's own notebook or figures. Training results are cached in
``results/cache/``, keyed by each run's configuration: an interrupted reproduction, rerun,
recomputes only what did not finish.
A job that ``needs`` data this machine lacks (the IMDB embeddings) is skipped with a message.

The committed ``notebooks/<name>.ipynb`` are the sources executed with their own defaults (the
smoke parameters), which is what ``pytest --nbval`` re-runs and compares in CI.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from . import bit_channels
from .images import CIFAR_ENV, find_cifar
from .notebook import TYPES, matches, number, parse_value
from .paths import PROFILES, Checkout
from .results import update
from .runner import override_tag, publish, refresh_committed, run_notebook

JOB_KEYS = {"notebook", "params", "needs", *PROFILES}
NEEDS = ("imdb_embeddings", "cifar100")


def load_profiles(path: Path | None = None, *, checkout: Checkout | None = None) -> dict[str, dict]:
    """``{job: {"notebook": source name, "params": {...}, "needs": [...], profile: {...}}}``.

    Checks the file's shape and fills in the defaults (``notebook`` = the job name, no shared
    ``params``, no ``needs``).
    """
    path = Checkout.given(checkout).profiles if path is None else path
    with open(path) as f:
        jobs = yaml.safe_load(f)
    for name, job in jobs.items():
        unknown = set(job) - JOB_KEYS
        if unknown:
            raise ValueError(f"{path}: job {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(JOB_KEYS)}")
        missing = set(PROFILES) - set(job)
        if missing:
            raise ValueError(f"{path}: job {name!r} lacks the profiles {sorted(missing)}")
        job.setdefault("notebook", name)
        job["params"] = job.get("params") or {}
        job["needs"] = job.get("needs") or []
        for profile in PROFILES:
            if job[profile] is False and profile == "smoke":
                raise ValueError(f"{path}: job {name!r}: every job runs in the smoke profile (CI)")
            if job[profile] is not False:  # false: the job is not part of this profile
                job[profile] = job[profile] or {}
        bad = set(job["needs"]) - set(NEEDS)
        if bad:
            raise ValueError(f"{path}: job {name!r} needs unknown data {sorted(bad)}; known: {list(NEEDS)}")
    return jobs


class Parameter(NamedTuple):
    """One assignment of a notebook's parameters cell: ``name: annotation = default``."""

    annotation: ast.expr | None
    default: Any


def notebook_parameters(source_name: str, *, checkout: Checkout | None = None) -> dict[str, Parameter]:
    """The names assigned in the notebook source's cell tagged ``parameters``, with their type
    annotations (None where a parameter has none) and default values."""
    import jupytext

    notebook = jupytext.read(Checkout.given(checkout).notebooks / f"{source_name}.py")
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"notebooks/{source_name}.py needs exactly one cell tagged 'parameters', has {len(cells)}")
    found = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names, annotation = [node.target.id], node.annotation
        elif isinstance(node, ast.Assign):
            names, annotation = [t.id for t in node.targets if isinstance(t, ast.Name)], None
        else:
            continue
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(
                f"notebooks/{source_name}.py: the default of {', '.join(names)} in the parameters cell must be a "
                f"literal (numbers, strings, lists, dicts, None), got {ast.unparse(node.value)!r}"
            ) from None
        found.update({name: Parameter(annotation, default) for name in names})
    return found


def check_parameters(name: str, source_name: str, params: dict[str, Any], *, checkout: Checkout | None = None) -> None:
    """Raise ValueError if job ``name`` gives its notebook a parameter it does not declare (listing
    those it does) or a value of the wrong type (naming the parameter and its type)."""
    declared = notebook_parameters(source_name, checkout=checkout)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"job {name!r}: notebooks/{source_name}.py has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(declared)}"
        )
    for key, value in params.items():
        annotation = declared[key].annotation
        if annotation is None:  # unannotated: the default's type, any for a None default
            default = declared[key].default
            annotation = ast.Name(type(default).__name__) if type(default).__name__ in TYPES else ast.Name("Any")
        if not matches(value, annotation):
            hint = ""
            if isinstance(value, str) and number(value) is not None:
                hint = f"; YAML reads {value} as text, write it with a decimal point (e.g. {float(value)!r})"
            raise ValueError(
                f"job {name!r}: parameter {key} must be {ast.unparse(annotation)}, got {value!r} "
                f"({type(value).__name__}){hint}"
            )


def job_parameters(
    job: dict, profile: str, overrides: dict | None = None, *, tag: str = "", checkout: Checkout | None = None
) -> dict:
    """The parameters a job's notebook gets for ``profile``: the pipeline's own (profile, figure
    and cache folders), the job's shared ``params``, the profile's, then ``overrides`` (the
    command line's), each later one winning; pipeline values and overrides go only to notebooks
    that declare them. Progress bars are on unless the profile turns them off. A ``tag`` (see
    ``override_tag``) sends the figures to their own folder."""
    if job[profile] is False:
        raise ValueError(f"job {job['notebook']!r} is not part of the {profile} profile (false in profiles.yaml)")
    checkout = Checkout.given(checkout)
    declared = notebook_parameters(job["notebook"], checkout=checkout)
    pipeline = {
        "profile": profile,
        "progress": True,
        "figure_dir": str(checkout.figures(profile, tag)),
        "cache_dir": str(checkout.cache),
        "data_root": data_root(checkout),
    }
    given = {k: v for k, v in (overrides or {}).items() if k in declared}
    return {**{k: v for k, v in pipeline.items() if k in declared}, **job["params"], **job[profile], **given}


def data_root(checkout: Checkout | None = None) -> str:
    """Where the CIFAR pickle folders are looked for: ANCHOR_CIFAR_ROOT, else ``<repository>/data``."""
    return os.environ.get(CIFAR_ENV) or str(Checkout.given(checkout).root / "data")


def missing_data(job: dict, *, checkout: Checkout | None = None) -> str | None:
    """Why the job cannot run on this machine, or None."""
    if "cifar100" in job["needs"]:
        try:
            find_cifar("cifar100", data_root(checkout))
        except FileNotFoundError as err:
            return str(err)
    if "imdb_embeddings" in job["needs"]:
        if bit_channels.find_imdb_embeddings() is None:
            return (
                f"the IMDB embeddings file was not found (set {bit_channels.IMDB_ENV}=/path/to/imdb_bert_finetuned.npz)"
            )
    return None


def print_timings(timings: list[tuple[str, float, str]]) -> None:
    """The wall time of each job run so far and in all, as a table."""
    width = max([len("total"), *(len(name) for name, _, _ in timings)])
    print(f"\n{'job':<{width}}  {'minutes':>7}  status")
    for name, seconds, status in timings:
        minutes = "" if math.isnan(seconds) else f"{seconds / 60:.1f}"
        print(f"{name:<{width}}  {minutes:>7}  {status}")
    total = sum(seconds for _, seconds, _ in timings if not math.isnan(seconds))
    print(f"{'total':<{width}}  {total / 60:>7.1f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anchor.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="parameter profile (default: quick)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks")
    parser.add_argument("--list", action="store_true", help="list the notebooks and exit")
    parser.add_argument("--device", help="torch device for training, e.g. cuda (default: the profile's, cpu)")
    parser.add_argument("--workers", type=int, help="parallel training processes (default: the profile's)")
    parser.add_argument(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://host:8786: train on that cluster (default: this machine)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a notebook parameter (VALUE is read as YAML: 100, 0.5, true, [1, 2]) in every job whose "
        "notebook declares it; repeatable; wins over the profile",
    )
    parser.add_argument(
        "--refresh-committed", action="store_true", help="re-execute the committed smoke notebooks in notebooks/"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="copy each finished job's executed notebook to notebooks/executed/<job>.<profile>.ipynb (committed, "
        "linked from the README); not with --set",
    )
    parser.add_argument("--root", help="the repository checkout to run (default: found from the working directory)")
    parser.add_argument(
        "--quiet", action="store_true", help="show a bar of executed cells instead of the notebooks' own output"
    )
    args = parser.parse_args(argv)

    try:
        checkout = Checkout.find(args.root)
    except FileNotFoundError as err:
        parser.error(str(err))
    root = checkout.root
    profiles = load_profiles(checkout=checkout)
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
    if args.refresh_committed:  # one committed notebook per source, executed with its defaults
        names = list(dict.fromkeys(profiles[name]["notebook"] for name in names))
    else:
        left_out = [name for name in names if profiles[name][profile] is False]
        if left_out:
            print(f"not in the {profile} profile: {', '.join(left_out)}")
        names = [name for name in names if profiles[name][profile] is not False]
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    given = (("device", args.device), ("workers", args.workers), ("scheduler", args.scheduler))
    overrides = {k: v for k, v in given if v is not None}
    settings = {}
    if args.set and args.refresh_committed:
        parser.error("--set does not apply to --refresh-committed, which runs the notebooks' own defaults")
    if args.publish and (args.set or args.refresh_committed or profile == "smoke"):
        parser.error(
            "--publish keeps the quick or paper profile's own runs: not with --set, smoke or --refresh-committed"
        )
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--set takes NAME=VALUE, got {item!r}")
        settings[key.strip()] = parse_value(value)
    if not args.refresh_committed:  # every job's parameters are checked before the first one runs
        try:
            for name in names:
                job = profiles[name]
                given = job_parameters(job, profile, {**overrides, **settings}, checkout=checkout)
                check_parameters(name, job["notebook"], given, checkout=checkout)
            for key in settings:
                if not any(key in notebook_parameters(profiles[n]["notebook"], checkout=checkout) for n in names):
                    raise ValueError(f"--set {key}: no selected notebook has a parameter {key!r}")
        except ValueError as err:
            parser.error(str(err))
    overrides.update(settings)
    tag = override_tag(settings)  # a changed run writes its own notebook and figures
    skipped, failed, timings = [], [], []
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name} (profile {profile})", flush=True)
        start = time.perf_counter()
        try:
            if args.refresh_committed:
                output = refresh_committed(name, checkout=checkout)
            else:
                job = profiles[name]
                reason = missing_data(job, checkout=checkout)
                if reason:
                    print(f"    skipped: {reason}", flush=True)
                    skipped.append(name)
                    timings.append((name, math.nan, "skipped: missing data"))
                    continue
                params = job_parameters(job, profile, overrides, tag=tag, checkout=checkout)
                output = run_notebook(
                    name, job["notebook"], profile, params, stream=not args.quiet, tag=tag, checkout=checkout
                )
                if args.publish:
                    output = publish(name, profile, checkout=checkout)
        except PapermillExecutionError as err:  # reported now and at the end; the other jobs still run
            timings.append((name, time.perf_counter() - start, "failed"))
            suffix = f".{tag}" if tag else ""
            where = (
                f"notebooks/{name}.ipynb"
                if args.refresh_committed
                else f"results/notebooks/{name}.{profile}{suffix}.ipynb"
            )
            failed.append(
                f"notebook {name!r} failed in cell {err.exec_count} ({err.ename}: {err.evalue}).\n"
                f"The executed notebook with the traceback is {where}"
            )
            print(f"    {failed[-1]}", file=sys.stderr, flush=True)
            continue
        seconds = time.perf_counter() - start
        timings.append((name, seconds, "done"))
        print(f"    done in {seconds:.0f} s -> {output.relative_to(root)}", flush=True)
    print_timings(timings)
    print(f"figures in {checkout.figures(profile, tag).relative_to(root)}/")
    if profile == "quick" and not tag and not args.refresh_committed and (root / "RESULTS.md").is_file():
        missing: list[str] = []  # tables whose CSVs no run has written yet keep their text
        changed = update(root, missing)
        print(f"RESULTS.md: remade the tables {', '.join(changed)}" if changed else "RESULTS.md tables up to date")
        if missing:
            print(f"RESULTS.md tables left as they were (their CSVs are not there yet): {', '.join(missing)}")
    if skipped:
        print(f"skipped for missing data: {', '.join(skipped)}")
    if failed:
        print("\n" + "\n".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from ._console import run_command

    raise SystemExit(run_command(main, "python -m anchor.reproduce"))
