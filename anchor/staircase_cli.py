"""Command line: fill a result cache with staircase runs, e.g. on a GPU machine, without notebooks.

    python -m anchor.staircase_cli --domains gaussian cubic --critics joint separable \
        --steps-per-level 4000 --device cuda --workers 8 --cache results/cache

The configurations are the staircase notebook's, so its figures then draw from this cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .objectives import ESTIMATORS
from .staircase import CRITIC_KINDS, DOMAINS, level_summary, run_staircase, staircase_configs
from .sweep import run_sweep
from .unstructured import IMDB_HELP, find_imdb_embeddings


def main(argv: Sequence[str] | None = None) -> int:
    """Fill a result cache with staircase runs from the command line (no notebook needed).

    For example, on a GPU machine, the paper protocol for two domains::

        python -m anchor.staircase_cli --domains gaussian cubic --critics joint separable \\
            --steps-per-level 4000 --device cuda --workers 8 --cache results/cache

    then render the figures from that cache with the staircase notebook's paper profile.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m anchor.staircase_cli", description=main.__doc__.split("\n")[0])
    parser.add_argument("--domains", nargs="+", choices=DOMAINS, default=["gaussian"])
    parser.add_argument("--critics", nargs="+", choices=CRITIC_KINDS, default=list(CRITIC_KINDS))
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), help="default: the paper's eleven")
    parser.add_argument("--steps-per-level", type=int, default=4000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--image-size", type=int, default=32, help="mnist image size in px (the paper: 64)")
    parser.add_argument("--data-path", help="imdb embeddings file (default: anchor.find_imdb_embeddings())")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--workers", type=int, default=1, help="training processes; on the CPU the threads per run key the cache"
    )
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786): run there")
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--cache", default="results/cache", help="result cache folder (default: results/cache)")
    args = parser.parse_args(argv)

    for domain in args.domains:
        configs = [
            config
            for critic in args.critics
            for config in staircase_configs(
                domain,
                args.estimators,
                critic,
                steps_per_level=args.steps_per_level,
                seeds=args.seeds,
                image_size=args.image_size,
            )
        ]
        options: dict[str, Any] = {"device": args.device}
        data = None
        if domain == "imdb":
            path = args.data_path or find_imdb_embeddings()
            if path is None:
                parser.error(f"the imdb domain needs --data-path. {IMDB_HELP}")
            options["data_path"] = str(path)
            data = {"data_path": str(path)}  # its content keys the cache, as in sweep_staircase
        print(f"{domain}: {len(configs)} runs -> {args.cache}", flush=True)
        history = run_sweep(
            configs,
            run_staircase,
            cache=args.cache,
            options=options,
            workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            client=args.scheduler,
            data=data,
        )
        summary = level_summary(history, by=("critic", "objective"))
        print(summary.pivot_table(index=["critic", "objective"], columns="level", values="mean").round(2), flush=True)
    return 0


if __name__ == "__main__":
    from ._console import run_command

    raise SystemExit(run_command(main, "python -m anchor.staircase_cli"))
