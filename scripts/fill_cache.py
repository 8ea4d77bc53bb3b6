"""Fill results/cache with the paper-profile runs of some jobs on a machine without Jupyter.

Each job's notebook source (a jupytext py:percent file, plain Python) is executed with the job's
paper parameters up to its sweep, which only collects the configurations, so they are exactly the
notebook's; one sweep then trains them all, in job order. Copy ``results/cache`` back and draw the
figures with ``python -m anchor.reproduce --profile paper --only JOB ...`` wherever the notebooks
run (the cache key does not depend on the device or the Python version).

    python scripts/fill_cache.py --device cuda --workers 14   # the three joint-critic jobs
    python scripts/fill_cache.py --jobs scoring_rules_joint --dry   # list the runs and their keys
    python scripts/fill_cache.py --device cpu --workers 2 --steps 2 --cache /tmp/c   # plumbing check

Only jobs whose notebooks train through ``anchor.sweep_staircase`` (the staircase and scoring-rule
jobs) can be collected this way.
"""

import argparse
import re
import sys
import time
from pathlib import Path

import anchor
from anchor import reproduce

ROOT = Path(__file__).resolve().parents[1]


class Collected(Exception):
    pass


def collect(job_name, overrides):
    job = reproduce.load_profiles()[job_name]
    # the order of anchor.reproduce.job_parameters (shared params, the profile's, overrides), without
    # its check of the names against the notebook, which needs jupytext (absent where this runs)
    params = {"profile": "paper", **job["params"], **job["paper"], **overrides}
    source = (ROOT / "notebooks" / f"{job['notebook']}.py").read_text()
    head, tail = re.split(r'^# %% tags=\["parameters"\]\n', source, maxsplit=1, flags=re.M)
    cell, rest = tail.split("\n# %%", 1)
    inject = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    code = head + cell + "\n" + inject + "\n\n# %%" + rest
    seen = {}

    def fake_sweep(configs, **kwargs):
        seen["configs"], seen["kwargs"] = list(configs), kwargs
        raise Collected

    if "sweep_staircase" not in source:
        raise ValueError(f"job {job_name!r}: its notebook does not train through anchor.sweep_staircase")
    real = anchor.sweep_staircase
    anchor.sweep_staircase = fake_sweep
    try:
        exec(compile(code, f"{job_name}.py", "exec"), {"__name__": "__main__"})
    except Collected:
        pass
    finally:
        anchor.sweep_staircase = real
    return seen["configs"], seen["kwargs"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument(
        "--jobs", nargs="+", default=["staircase_mnist_joint", "scoring_rules_joint", "staircase_imdb_joint"]
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=14)
    p.add_argument("--steps", type=int, default=0, help="override steps per level (plumbing checks)")
    p.add_argument("--cache", default=str(ROOT / "results" / "cache"))
    p.add_argument("--dry", action="store_true", help="print the configurations' keys and stop")
    args = p.parse_args()
    configs, data_path = [], None
    for job in args.jobs:
        overrides = {"figure_dir": "/tmp/unused_figures"}
        if args.steps:
            overrides["critics"] = {"joint": args.steps}
        found, kwargs = collect(job, overrides)
        data_path = kwargs.get("data_path") or data_path
        print(f"{job}: {len(found)} runs, cache in the notebook: {kwargs.get('cache')}", flush=True)
        configs += found
    if args.dry:
        for c in configs:
            print(anchor.config_key(c), c)
        return 0
    start = time.time()
    out = anchor.sweep_staircase(
        configs, cache=args.cache, device=args.device, workers=args.workers, progress=True, data_path=data_path
    )
    print(f"trained {len(configs)} runs, {len(out):,} steps in {time.time() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
