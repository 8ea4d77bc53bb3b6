"""The MI staircase benchmark (Lee & Rhee 2024): one training run and its per-level summary.

``run_staircase(...)`` takes only JSON-serialisable arguments, so it can be a ``run_sweep`` task
whose configuration is its cache key; it returns the tidy per-step history. ``level_summary``
turns histories into bias, standard deviation and MSE per level over the end of each level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice, check_int
from .critics import get_critic
from .data import STAIRCASE_BITS, CubicSampler, GaussianSampler, Staircase
from .objectives import get_objective
from .train import NonFiniteLossError, fit
from .unstructured import ImdbBitsSampler, MnistBitsSampler

DOMAINS = ("gaussian", "cubic", "mnist", "imdb")


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
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """Train one critic on one objective through a staircase; return the per-step history.

    Columns: step, level, mi_true, estimate, loss, objective, diverged (a run whose loss became
    NaN keeps its history up to that step and is marked diverged). All in nats.
    """
    staircase = make_staircase(
        domain, bits=bits, steps_per_level=steps_per_level, dim=dim, image_size=image_size, data_path=data_path
    )
    first = staircase.samplers[0]
    torch.manual_seed(check_int("seed", seed, low=0))
    net = get_critic(critic, first.dim_x, first.dim_y, **(critic_params or {}))
    obj = get_objective(objective, **(objective_params or {}))
    desc = f"{domain} {objective} {critic}"
    try:
        history = fit(
            net, obj, staircase, batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress, desc=desc
        ).history
        diverged = False
    except NonFiniteLossError as err:
        history, diverged = err.history, True
    history = history.assign(level=history.step // staircase.steps_per_level, diverged=diverged)
    return history[["step", "level", "mi_true", "estimate", "loss", "objective", "diverged"]]


def level_summary(history: pd.DataFrame, *, last: int = 1000, by: Sequence[str] = ("objective",)) -> pd.DataFrame:
    """Bias, standard deviation and MSE of the estimate per level over the last ``last`` steps.

    ``history`` has columns step, level, mi_true, estimate (and the ``by`` columns). If a level
    is shorter than ``4 * last`` steps, its last quarter is used instead. Returns one row per
    group and level: mi_true, mean, bias, sd, mse, n (steps used), all in the history's unit.
    """
    last = check_int("last", last, low=1)
    missing = {"step", "level", "mi_true", "estimate", *by} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks the columns {sorted(missing)}")
    rows = []
    for keys, group in history.groupby([*by, "level"], sort=False):
        steps_in_level = group.step.max() - group.step.min() + 1
        window = last if steps_in_level >= 4 * last else max(1, math.ceil(steps_in_level / 4))
        tail = group[group.step > group.step.max() - window]
        error = tail.estimate.to_numpy() - tail.mi_true.to_numpy()
        rows.append(
            {
                **dict(zip([*by, "level"], keys if isinstance(keys, tuple) else (keys,), strict=True)),
                "mi_true": float(tail.mi_true.iloc[0]),
                "mean": float(tail.estimate.mean()),
                "bias": float(np.mean(error)),
                "sd": float(np.std(tail.estimate.to_numpy(), ddof=1)) if len(tail) > 1 else math.nan,
                "mse": float(np.mean(error**2)),
                "n": len(tail),
            }
        )
    return pd.DataFrame(rows)
