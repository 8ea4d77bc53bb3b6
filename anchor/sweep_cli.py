"""``anchor sweep JOB``: train a figure job's runs into the cache without Jupyter.

    anchor sweep staircase_gaussian_joint --profile paper --device cuda --workers 8
    anchor sweep scoring_rules_joint --profile paper --scheduler tcp://host:8786
    anchor sweep staircase_mnist --profile paper --dry          # the runs and their cache keys
    anchor sweep mi_suite --profile quick --set n=5000

The runs are the notebook's own: the job's parameters (``notebooks/profiles.yaml``, the notebook's
defaults, ``--set``) go through ``anchor.jobs.plan``, as in the notebook. Copy the cache folder
back and ``python -m anchor.reproduce --profile paper --only JOB`` draws the figures from it.
On a GPU the cache keys do not depend on the device; on the CPU they include the threads per run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from . import jobs, reproduce
from .notebook import parse_value
from .paths import PROFILES, Checkout


def job_params(
    name: str, profile: str, overrides: dict[str, Any] | None = None, *, checkout: Checkout | None = None
) -> dict[str, Any]:
    """Every parameter job ``name``'s notebook gets for ``profile``: its defaults, then what
    ``anchor.reproduce`` passes it (``reproduce.job_parameters``), then ``overrides``."""
    checkout = Checkout.find() if checkout is None else checkout
    profiles = reproduce.load_profiles(checkout=checkout)
    if name not in profiles:
        raise ValueError(f"job must be one of {sorted(profiles)}, got {name!r}")
    job = profiles[name]
    given = reproduce.job_parameters(job, profile, overrides, checkout=checkout)
    reproduce.check_parameters(name, job["notebook"], given, checkout=checkout)
    declared = reproduce.notebook_parameters(job["notebook"], checkout=checkout)
    return {**{k: p.default for k, p in declared.items()}, **given}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anchor sweep", description=__doc__.split("\n")[0].strip("`"))
    parser.add_argument("job", help="a job of notebooks/profiles.yaml (python -m anchor.reproduce --list)")
    parser.add_argument("--profile", choices=PROFILES, default="quick")
    parser.add_argument("--device", help="default: the notebook's (cpu)")
    parser.add_argument("--workers", type=int, help="training processes; default: the profile's")
    parser.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786): run there")
    parser.add_argument("--cache", help="result cache folder (default: results/cache of the checkout)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a notebook parameter (repeatable)"
    )
    parser.add_argument("--dry", action="store_true", help="list the runs and their cache keys, train nothing")
    parser.add_argument("--root", help="the checkout (default: found from here)")
    args = parser.parse_args(argv)
    try:
        checkout = Checkout.find(args.root)
    except FileNotFoundError as err:
        parser.error(str(err))
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes NAME=VALUE, got {item!r}")
        overrides[key] = parse_value(value)
    try:
        params = job_params(args.job, args.profile, overrides, checkout=checkout)
        notebook = reproduce.load_profiles(checkout=checkout)[args.job]["notebook"]
        sweeps = jobs.plan(notebook, params)
    except (ValueError, KeyError, FileNotFoundError) as err:
        parser.error(str(err))
    if not sweeps:
        print(f"{args.job}: its notebook trains nothing to cache")
        return 0
    settings = {
        "cache": args.cache or params.get("cache_dir") or str(checkout.cache),
        "device": args.device or params.get("device", "cpu"),
        "workers": args.workers or params.get("workers", 1),
        "scheduler": args.scheduler or params.get("scheduler") or None,
    }
    for sweep in sweeps.values():
        print(f"{args.job} ({args.profile}), sweep {sweep.name!r}: {len(sweep.configs)} runs -> {settings['cache']}")
        if args.dry:
            for key, config in zip(sweep.keys(), sweep.configs, strict=True):
                print(f"  {key} {config}")
            continue
        start = time.time()
        frame = jobs.run(sweep, progress=True, **settings)
        print(f"  done: {len(frame):,} rows in {time.time() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    from ._console import run_command

    raise SystemExit(run_command(main, "anchor sweep"))
