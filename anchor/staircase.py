"""The MI staircase benchmark (Lee & Rhee 2024): one training run and its per-level summary.

``run_staircase(...)`` takes only JSON-serialisable arguments, so it can be a ``run_sweep`` task
whose configuration is its cache key; it returns the tidy per-step history. ``level_summary``
turns histories into bias, standard deviation and MSE per level over the end of each level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice, check_int, check_seed
from ._random import keeps_global_rng
from .bit_channels import ImdbBitsSampler, MnistBitsSampler
from .critics import CRITICS, get_critic
from .data import STAIRCASE_BITS, CubicSampler, GaussianSampler, Staircase
from .objectives import OBJECTIVES, get_objective
from .sweep import notebook_sweep
from .train import DivergedError, fit

DOMAINS = ("gaussian", "cubic", "mnist", "imdb")
CRITIC_KINDS = ("joint", "separable")  # the paper's critics; any name in anchor.CRITICS trains


def make_staircase(
    domain: str,
    *,
    bits: Sequence[float] = STAIRCASE_BITS,
    steps_per_level: int = 4000,
    dim: int = 10,
    image_size: int = 32,
    data_path: str | None = None,
) -> Staircase:
    """The staircase of one domain: "gaussian" / "cubic" (``dim``), "mnist" (``image_size`` px) or
    "imdb" (embeddings file at ``data_path``)."""
    check_choice("domain", domain, DOMAINS)
    if domain == "gaussian":
        make = lambda mi: GaussianSampler(dim, mi=mi)  # noqa: E731
    elif domain == "cubic":
        make = lambda mi: CubicSampler(dim, mi=mi)  # noqa: E731
    elif domain == "mnist":
        make = lambda mi: MnistBitsSampler(mi=mi, size=image_size)  # noqa: E731
    else:
        if data_path is None:
            raise ValueError("the imdb domain needs data_path, the imdb_bert_finetuned.npz embeddings file")
        make = lambda mi: ImdbBitsSampler(mi=mi, path=data_path)  # noqa: E731
    return Staircase(make=make, bits=bits, steps_per_level=steps_per_level)


def staircase_configs(
    domain: str,
    estimators: Sequence[str],
    critic: str,
    *,
    steps_per_level: int,
    bits: Sequence[float] = STAIRCASE_BITS,
    batch_size: int = 64,
    lr: float = 5e-4,
    seeds: Sequence[int] = (0,),
    dim: int = 10,
    image_size: int = 32,
) -> list[dict[str, Any]]:
    """One ``run_staircase`` configuration per estimator and seed: the sweep's cache keys.

    Only the arguments that determine the run are included (``dim`` for gaussian / cubic,
    ``image_size`` for mnist); where the run happens (``device``) and the IMDB file's location
    are ``run_sweep`` options.
    """
    check_choice("domain", domain, DOMAINS)
    check_choice("critic", critic, tuple(CRITICS))
    for name in estimators:
        check_choice("estimators", name, tuple(OBJECTIVES), what="objective")
    extra: dict[str, Any] = {"dim": dim} if domain in ("gaussian", "cubic") else {}
    if domain == "mnist":
        extra = {"image_size": image_size}
    base = {
        "domain": domain,
        "critic": critic,
        "bits": [float(b) for b in bits],
        "steps_per_level": check_int("steps_per_level", steps_per_level, low=1),
        "batch_size": check_int("batch_size", batch_size, low=2),
        "lr": float(lr),
        **extra,
    }
    return [{**base, "objective": name, "seed": int(seed)} for seed in seeds for name in estimators]


@keeps_global_rng
def run_staircase(
    *,
    domain: str,
    objective: str,
    critic: str,
    bits: Sequence[float] = STAIRCASE_BITS,
    steps_per_level: int = 4000,
    batch_size: int = 64,
    lr: float = 5e-4,
    seed: int = 0,
    dim: int = 10,
    image_size: int = 32,
    data_path: str | None = None,
    critic_params: dict[str, Any] | None = None,
    objective_params: dict[str, Any] | None = None,
    track: Sequence[str] = (),
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """Train one critic on one objective through a staircase; return the per-step history.

    Columns: step, level, mi_true, estimate, loss, objective, diverged (a run whose loss became
    NaN or infinite, or whose estimate stayed beyond +-``anchor.train.DIVERGENCE_NATS`` for
    ``anchor.train.DIVERGENCE_STEPS`` steps in a row, keeps its history up to and including that step and
    is marked diverged), and ``estimate_<name>`` for
    each objective named in ``track``, whose estimate is recorded on the same batches (e.g.
    ``track=["anchor"]`` records the plug-in of a critic trained with InfoNCE). All in nats.
    """
    staircase = make_staircase(
        domain, bits=bits, steps_per_level=steps_per_level, dim=dim, image_size=image_size, data_path=data_path
    )
    first = staircase.samplers[0]
    torch.manual_seed(check_seed(seed))
    net = get_critic(critic, first.dim_x, first.dim_y, **(critic_params or {}))
    obj = get_objective(objective, **(objective_params or {}))
    if isinstance(track, str):
        raise ValueError(f"track must be a list of objective names, got the string {track!r}")
    extras = [get_objective(name) for name in track]
    desc = f"{domain} {objective} {critic}"
    try:
        history = fit(
            net,
            obj,
            staircase,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=device,
            progress=progress,
            desc=desc,
            track=extras,
        ).history
        diverged = False
    except DivergedError as err:
        history, diverged = err.history, True
    history = history.assign(level=history.step // staircase.steps_per_level, diverged=diverged)
    columns = ["step", "level", "mi_true", "estimate", "loss", "objective", "diverged"]
    return history[columns + [c for c in history.columns if c.startswith("estimate_")]]


def sweep_staircase(
    configs: Sequence[dict[str, Any]],
    *,
    cache: str | None = None,
    device: str = "cpu",
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    data_path: str | None = None,
    labels: Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """``run_sweep`` of ``run_staircase`` over ``configs``, as the notebooks run it
    (``anchor.sweep.notebook_sweep``: cache, local workers or a Dask ``scheduler``, a ``run`` column).
    The IMDB embeddings file at ``data_path`` is part of the cache key by its content.

    ``labels``: one mapping per configuration whose entries become columns of that run's rows,
    e.g. ``{"objective": "log"}`` to name a run by its place in a figure rather than by its
    objective, or ``{"nu": 8.0, "K": 63}`` to group runs by a setting. Labels are not part of
    the cache key."""
    if labels is not None:
        labels = [dict(label) for label in labels]
        if len(labels) != len(configs):
            raise ValueError(f"labels: one mapping per configuration, got {len(labels)} for {len(configs)}")
        keys = {tuple(label) for label in labels}
        if len(keys) > 1:
            raise ValueError(f"labels: every mapping needs the same keys, got {sorted(map(list, keys))}")
    extra = {} if data_path is None else {"data_path": data_path}
    history = notebook_sweep(
        configs,
        run_staircase,
        cache=cache,
        device=device,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        data=lambda c: {"data_path": data_path} if c.get("domain") == "imdb" else None,
        **extra,
    )
    for key in labels[0] if labels else ():
        history[key] = [labels[k][key] for k in history.run]
    return history


def oracle_batch_noise(
    domain: str,
    *,
    bits: Sequence[float] = STAIRCASE_BITS,
    batch_size: int = 64,
    dim: int = 10,
    n_batches: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The floor under any per-step plug-in estimate: the true critic's batch-mean spread.

    For each level, the plug-in mean of the true log ratio over ``n_batches`` fresh batches of
    ``batch_size`` joint pairs (gaussian or cubic, float64). A trained critic's per-step estimate
    has at least this standard deviation. Returns level, mi_true, sd, mse (nats).
    """
    check_choice("domain", domain, ("gaussian", "cubic"))
    rows = []
    for level, b in enumerate(bits):
        sampler = make_staircase(domain, bits=[b], steps_per_level=1, dim=dim).samplers[0]
        x, y = sampler.sample(batch_size * n_batches, seed=seed + level, dtype=torch.float64)
        means = sampler.log_ratio(x, y).reshape(n_batches, batch_size).mean(1)
        error = means - sampler.mi
        rows.append({"level": level, "mi_true": sampler.mi, "sd": float(means.std()), "mse": float((error**2).mean())})
    return pd.DataFrame(rows)


def level_summary(history: pd.DataFrame, *, last: int = 1000, by: Sequence[str] = ("objective",)) -> pd.DataFrame:
    """Bias, standard deviation and MSE of the estimate per level over the last ``last`` steps.

    ``history`` has columns step, level, mi_true, estimate (and the ``by`` columns). If a level
    is shorter than ``4 * last`` steps, its last quarter is used instead. Returns one row per
    group and level: mi_true, mean, bias, sd, mse, n (steps used), all in the history's unit, and
    ``diverged``: if the history has a ``diverged`` column, the level in which a diverged run
    stopped is marked and its mean, bias, sd and MSE are NaN (levels after it have no rows).
    """
    last = check_int("last", last, low=1)
    missing = {"step", "level", "mi_true", "estimate", *by} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks the columns {sorted(missing)}")
    last_step = {k: g.step.max() for k, g in history.groupby(list(by), sort=False)} if by else {(): history.step.max()}
    rows = []
    for keys, group in history.groupby([*by, "level"], sort=False):
        steps_in_level = group.step.max() - group.step.min() + 1
        window = last if steps_in_level >= 4 * last else max(1, math.ceil(steps_in_level / 4))
        tail = group[group.step > group.step.max() - window]
        error = tail.estimate.to_numpy() - tail.mi_true.to_numpy()
        stopped = bool("diverged" in group and group.diverged.iloc[-1] and group.step.max() == last_step[keys[:-1]])
        if stopped:
            error = np.full_like(error, np.nan)
        rows.append(
            {
                **dict(zip([*by, "level"], keys if isinstance(keys, tuple) else (keys,), strict=True)),
                "mi_true": float(tail.mi_true.iloc[0]),
                "mean": math.nan if stopped else float(tail.estimate.mean()),
                "bias": float(np.mean(error)),
                "sd": float(np.std(tail.estimate.to_numpy(), ddof=1)) if len(tail) > 1 and not stopped else math.nan,
                "mse": float(np.mean(error**2)),
                "n": len(tail),
                "diverged": stopped,
            }
        )
    return pd.DataFrame(rows)


def seed_summary(per_run: pd.DataFrame, *, by: Sequence[str] = ("objective",), seed: str = "seed") -> pd.DataFrame:
    """``level_summary`` rows of several seeds (a ``seed`` column) reduced to one row per ``by``
    group and level: the means over seeds of mean, bias, sd (per step) and MSE, their standard
    deviations across seeds (``mean_seed_sd``, ``bias_seed_sd``, ``mse_seed_sd``; NaN for one
    seed), ``relative_error`` (bias / truth), ``seeds`` (how many) and ``diverged`` (any seed).
    Rows keep the order of their first appearance."""
    missing = {seed, "level", "mi_true", "mean", "bias", "sd", "mse", *by} - set(per_run.columns)
    if missing:
        raise ValueError(f"per_run lacks the columns {sorted(missing)}; pass level_summary(..., by=(..., {seed!r}))")
    if "diverged" not in per_run:
        per_run = per_run.assign(diverged=False)
    summary = (
        per_run.groupby([*by, "level"], sort=False)
        .agg(
            mi_true=("mi_true", "first"),
            mean=("mean", "mean"),
            bias=("bias", "mean"),
            sd=("sd", "mean"),
            mse=("mse", "mean"),
            mean_seed_sd=("mean", "std"),
            bias_seed_sd=("bias", "std"),
            mse_seed_sd=("mse", "std"),
            seeds=(seed, "nunique"),
            diverged=("diverged", "any"),
        )
        .reset_index()
    )
    summary.insert(summary.columns.get_loc("bias") + 1, "relative_error", summary.bias / summary.mi_true)
    return summary
