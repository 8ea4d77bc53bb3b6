"""The training runs of every figure notebook, as package functions.

A figure notebook trains through ``plan(notebook, params)``: its parameters in, the sweeps it
runs out, each a ``Sweep`` (the run function, its configurations and the options that key the
cache). ``anchor sweep JOB --profile paper`` calls the same function with the job's profile
parameters, so a cache filled on a GPU machine or a cluster serves the notebook as it is::

    anchor sweep staircase_gaussian_joint --profile paper --device cuda --workers 8
    anchor sweep scoring_rules_joint --profile paper --dry      # list the runs and their keys

In a notebook (``globals()`` holds the parameters cell, with papermill's values)::

    sweeps = anchor.jobs.plan("staircase", globals())
    history = anchor.jobs.run(sweeps["main"], cache=cache_dir, device=device, workers=workers)
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .benchmark import benchmark_configs, sweep_benchmark
from .bit_channels import IMDB_HELP, find_imdb_embeddings
from .cache import config_key
from .cmi_benchmark import cmi_configs, sweep_cmi
from .cmi_tasks import CMI_SUITE
from .interactions import run_interactions
from .ssl import ssl_configs, sweep_ssl
from .staircase import staircase_configs, sweep_staircase
from .sweep import notebook_sweep
from .tasks import SUITE

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Sweep:
    """One sweep of a notebook: ``function(configs, **options, cache=..., device=..., ...)``.

    ``options`` are the arguments besides the run settings (the IMDB file, labels, the neural
    protocol of the benchmark); with ``configs`` they decide the cache keys."""

    name: str
    function: Callable[..., pd.DataFrame]
    configs: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)

    def keys(self) -> list[str]:
        """The configurations' hashes (the cache's file names, apart from the run context)."""
        return [config_key(c) for c in self.configs]


def run(
    sweep: Sweep,
    *,
    cache: str | None = None,
    device: str = "cpu",
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    checkpoint_dir: str | None = None,
) -> pd.DataFrame:
    """Train (or load from ``cache``) every configuration of ``sweep``; one tidy frame.

    Self-supervised runs keep per-epoch checkpoints in ``checkpoint_dir`` (default:
    ``ssl_checkpoints(cache)``), so an interrupted run resumes."""
    options = dict(sweep.options)
    if sweep.function is sweep_ssl:
        options["checkpoint_dir"] = checkpoint_dir or ssl_checkpoints(cache)
        cache = cache or None
    elif checkpoint_dir is not None:
        raise ValueError(f"checkpoint_dir applies to self-supervised sweeps, not to sweep {sweep.name!r}")
    return sweep.function(
        sweep.configs,
        cache=cache,
        device=device,
        workers=workers,
        scheduler=scheduler or None,
        progress=progress,
        **options,
    )


def ssl_checkpoints(cache: str | None) -> str:
    """Where self-supervised runs keep their checkpoints: beside the cache, else a new temporary folder
    that is removed when the process exits (without a cache there is nothing to resume from later)."""
    if cache:
        return str(Path(cache) / "ssl-checkpoints")
    root = tempfile.mkdtemp(prefix="anchor-ssl-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return str(Path(root) / "ssl-checkpoints")


# ---------------------------------------------------------------------------------------------
# One planner per notebook source


def _imdb_path(p: Params) -> str | None:
    if p["domain"] != "imdb":
        return None
    found = p["data_path"] or find_imdb_embeddings()
    if not found:
        raise FileNotFoundError(f"the imdb domain needs the embeddings file. {IMDB_HELP}")
    return str(found)


def _staircase(p: Params) -> list[Sweep]:
    def configs_for(names: list[str], critic: str, steps: int) -> list[dict[str, Any]]:
        return staircase_configs(
            p["domain"],
            names,
            critic,
            steps_per_level=steps,
            bits=p["bits"],
            batch_size=p["batch_size"],
            lr=p["lr"],
            seeds=[p["seed"]],
            dim=p["dim"],
            image_size=p["image_size"],
        )

    data = {"data_path": _imdb_path(p)}
    configs = []
    for critic, steps in p["critics"].items():
        names = p["estimators"] if critic == "separable" or p["joint_estimators"] is None else p["joint_estimators"]
        configs += configs_for(names, critic, steps)
    sweeps = [Sweep("main", sweep_staircase, configs, data)]
    if p["variants"]:
        critic, steps = next(iter(p["critics"].items()))
        base = configs_for(["anchor"], critic, steps)[0]
        variants = [{**base, **changes} for changes in p["variants"].values()]
        labels = [{"objective": label} for label in p["variants"]]
        sweeps.append(Sweep("variants", sweep_staircase, variants, {**data, "labels": labels}))
    return sweeps


SCORING_RULE_RUNS: dict[str, tuple[str, dict[str, float]]] = {
    "log": ("anchor", {}),
    "brier": ("anchor-brier", {}),
    "spherical": ("anchor-spherical", {}),
    "pseudo-spherical 1.5": ("anchor-pseudo-spherical", {"alpha": 1.5}),
    "pseudo-spherical 3": ("anchor-pseudo-spherical", {"alpha": 3.0}),
    "chi2": ("chi2", {}),
    "nce": ("nce", {}),
}
"""The scoring_rules notebook's rules: label -> (objective name, objective parameters)."""


def _scoring_rules(p: Params) -> list[Sweep]:
    unknown = [label for label in p["rules"] if label not in SCORING_RULE_RUNS]
    if unknown:
        raise KeyError(f"unknown rules {unknown}; valid rules are: {list(SCORING_RULE_RUNS)}")
    configs, labels = [], []
    for critic, steps in p["critics"].items():
        seeds = p["seeds"] if critic != "joint" or p["joint_seeds"] is None else p["joint_seeds"]
        for label in p["rules"]:
            objective, params = SCORING_RULE_RUNS[label]
            for config in staircase_configs(
                "gaussian",
                [objective],
                critic,
                steps_per_level=steps,
                bits=p["bits"],
                batch_size=p["batch_size"],
                lr=p["lr"],
                seeds=seeds,
                dim=p["dim"],
            ):
                configs.append({**config, **({"objective_params": params} if params else {})})
                labels.append({"objective": label})
    return [Sweep("main", sweep_staircase, configs, {"labels": labels})]


def _anchor_nu_k(p: Params) -> list[Sweep]:
    if len(p["initial_offsets"]) < len(p["seeds"]):
        raise ValueError(
            f"initial_offsets needs one value per seed: {len(p['seeds'])} seeds, got {p['initial_offsets']}"
        )
    full_k = p["batch_size"] - 1
    settings = [(nu, full_k) for nu in p["nus"]] + [(1.0, k) for k in p["ks"] if k != full_k]

    def sweep(name: str, critic: str, steps: int, lr: float, seeds: list[int], offsets=None) -> Sweep:
        configs, labels = [], []
        for config in staircase_configs(
            "gaussian",
            ["anchor"],
            critic,
            steps_per_level=steps,
            bits=p["bits"],
            batch_size=p["batch_size"],
            lr=lr,
            seeds=seeds,
            dim=p["dim"],
        ):
            for nu, k in settings:
                extra: dict[str, Any] = {"objective_params": {"nu": float(nu), "K": int(k)}}
                if offsets is not None:
                    extra["critic_params"] = {"offset": float(offsets[seeds.index(config["seed"])])}
                configs.append({**config, **extra})
                labels.append({"nu": float(nu), "K": int(k)})
        return Sweep(name, sweep_staircase, configs, {"labels": labels})

    sweeps = [sweep("quadratic", "quadratic", p["steps_per_level"], p["lr"], p["seeds"], p["initial_offsets"])]
    if p["mlp_steps_per_level"]:
        sweeps.append(sweep("mlp", "separable", p["mlp_steps_per_level"], p["mlp_lr"], p["mlp_seeds"]))
    return sweeps


def _infonce_bound(p: Params) -> list[Sweep]:
    configs = []
    for name, other in (("infonce", "anchor"), ("anchor", "infonce")):
        for config in staircase_configs(
            "gaussian",
            [name],
            p["critic"],
            steps_per_level=p["offset_steps"],
            bits=[p["offset_bits"]],
            batch_size=p["batch_size"],
            lr=p["lr"],
            seeds=p["offset_seeds"],
        ):
            configs.append({**config, "track": [other]})
    return [Sweep("offset", sweep_staircase, configs)]


SSL_SETTINGS = (
    "dataset",
    "encoder",
    "width",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_epochs",
    "temperature",
    "proj_dim",
    "train_size",
    "knn_every",
)
"""The ssl notebook's parameters that are ``ssl_configs`` settings."""


def _ssl(p: Params) -> list[Sweep]:
    settings = {k: p[k] for k in SSL_SETTINGS}
    configs = ssl_configs(p["objectives"], p["seeds"], **settings)
    baselines = ssl_configs([None], p["seeds"], **{**settings, "epochs": 0})
    return [Sweep("main", sweep_ssl, configs + baselines, {"data_root": p["data_root"] or None})]


def _mi_suite(p: Params) -> list[Sweep]:
    tasks = list(SUITE) if p["tasks"] is None else p["tasks"]
    size_tasks = tasks if p["size_tasks"] is None else p["size_tasks"]
    neural = {"estimator_params": p["estimator_params"]}
    return [
        Sweep("main", sweep_benchmark, benchmark_configs(tasks, p["estimators"], [p["n"]], p["seeds"]), neural),
        Sweep(
            "sizes",
            sweep_benchmark,
            benchmark_configs(size_tasks, p["size_estimators"], p["sizes"], p["seeds"]),
            neural,
        ),
        Sweep(
            "coverage",
            sweep_benchmark,
            benchmark_configs(p["coverage_tasks"], ["anchor"], [p["coverage_n"]], range(p["coverage_seeds"])),
            {"estimator_params": p["coverage_params"]},
        ),
    ]


def _cmi_matrix(p: Params) -> list[Sweep]:
    tasks = list(CMI_SUITE) if p["cmi_tasks"] is None else p["cmi_tasks"]
    configs = cmi_configs(tasks, p["cmi_estimators"], p["cmi_sizes"], range(p["cmi_seeds"]))
    return [Sweep("cmi", sweep_cmi, configs, {"estimator_params": p["cmi_params"]})]


def _pmi_interactions(p: Params) -> list[Sweep]:
    def source(s: str) -> dict[str, Any]:
        if s == "files":
            return {"embeddings": p["embeddings"] or None, "pairs": p["pairs"] or None}
        return {"world_params": p["world_params"]}

    configs = [
        {
            "source": s,
            "objective": o,
            "trial": t,
            "held_out": p["held_out"],
            "estimate_params": p["estimate_params"],
            **source(s),
        }
        for s in p["sources"]
        for o in p["objectives"]
        for t in range(p["trials"])
    ]
    return [Sweep("trials", notebook_sweep, configs, {"run": run_interactions})]


PLANNERS: dict[str, Callable[[Params], list[Sweep]]] = {
    "staircase": _staircase,
    "scoring_rules": _scoring_rules,
    "anchor_nu_k": _anchor_nu_k,
    "infonce_bound": _infonce_bound,
    "ssl": _ssl,
    "mi_suite": _mi_suite,
    "pmi_interactions": _pmi_interactions,
    "cmi_matrix": _cmi_matrix,
    "oracle": lambda p: [],
}
"""Notebook source name -> its planner (``oracle`` trains nothing)."""


def plan(notebook: str, params: Params) -> dict[str, Sweep]:
    """The sweeps notebook source ``notebook`` trains with these parameters, by name.

    ``params`` holds at least the notebook's parameters (a notebook passes ``globals()``)."""
    if notebook not in PLANNERS:
        raise ValueError(f"notebook must be one of {sorted(PLANNERS)}, got {notebook!r}")
    return {sweep.name: sweep for sweep in PLANNERS[notebook](params)}
