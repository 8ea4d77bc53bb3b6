"""Fitting MI estimates on shared folds: ``estimate_mi``'s settings (``Options``) and its engine,
``fit_estimates``, which estimates one pair or many on the same rows and folds (``estimate_cmi``'s
terms, ``mi_matrix``'s pairs)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice, check_device, check_float, check_int, check_seed
from .copula import CopulaCritic, fit_copula
from .critics import CRITICS, Critic, get_critic
from .estimate_checks import data_checks, fit_checks
from .estimate_result import MI_FIELDS, UNITS, Estimate, EstimateError, Interval, interval_of
from .folds import MI_COLUMNS, TrainSettings, fold_indices, held_out_select, test_folds, train_folds, val_blocks
from .marginals import MARGINALS, fit_marginals
from .objectives import ANCHOR_FAMILY, OBJECTIVES, Objective, get_objective
from .tables import Table

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CRITIC_PARAMS",
    "DEFAULT_NU",
    "ESTIMATE_DEFAULTS",
    "Options",
    "Pair",
    "check_options",
    "fit_estimates",
    "options_from",
]

PAPER_DEFAULTS = {"nu": 1.0}
DEFAULT_NU = 16.0
"""The anchor family's weight in ``estimate_mi`` (the paper's default is 1; README, "Estimating MI
on your data", has the measurements)."""
DEFAULT_BATCH = 64
"""Pairs per step B unless a fold has fewer training pairs (then all of them)."""
DEFAULT_CRITIC_PARAMS: dict[str, dict[str, Any]] = {
    "joint": {"width": 128, "depth": 2},
    "separable": {"width": 128, "depth": 2},
    "bilinear": {},
    "quadratic": {},
}
"""Per critic, ``estimate_mi``'s defaults: the network of the joint critic or of each encoder."""
ESTIMATE_DEFAULTS: dict[str, Any] = {
    "objective": "anchor",
    "critic": "separable",
    "folds": 5,
    "batch_size": None,
    "lr": 1e-3,
    "max_steps": 4000,
    "eval_every": 100,
    "patience": 5,
    "val_fraction": 0.2,
    "ema_decay": 0.99,
    "ema_warmup": 10,
    "marginals": "normal-scores",
    "unit": "nats",
    "seed": 0,
    "device": "cpu",
    "progress": True,
    "keep_critics": True,
    "copula": None,
    "critic_params": None,
    "objective_params": None,
}
"""``estimate_mi``'s settings and their defaults (every keyword but ``warn``); ``estimate_cmi``
and ``mi_matrix`` pass these on, and a test checks ``estimate_mi``'s signature agrees."""


def _model_kept(table: pd.DataFrame) -> str:
    """What the folds kept: "none", "gaussian copula", "network", or the mix (e.g. "3 network, 2 gaussian copula")."""
    names = {"zero": "none", "start": "gaussian copula", "trained": "network"}
    counts = table.kept.map(names).value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{n} {name}" for name, n in counts.items())


@dataclass(frozen=True)
class Options:
    """``estimate_mi``'s settings, checked (``check_options``), with the defaults filled in."""

    objective: str
    critic: str
    folds: int
    batch_size: int | None
    lr: float
    max_steps: int
    eval_every: int
    patience: int
    val_fraction: float
    ema_decay: float | None
    ema_warmup: int
    marginals: str
    unit: str
    seed: int
    device: torch.device
    progress: bool
    keep_critics: bool
    copula: bool | None
    critic_params: dict[str, Any]
    objective_params: dict[str, Any]
    settings: dict[str, Any]


def check_options(**kwargs: Any) -> Options:
    """``estimate_mi``'s keyword arguments (all but x, y and warn) checked one by one, each bad
    one refused with a ValueError naming it; the objective's and critic's parameters get
    ``estimate_mi``'s defaults (``DEFAULT_NU``, ``DEFAULT_CRITIC_PARAMS``)."""
    o = dict(kwargs)
    check_choice("objective", o["objective"], OBJECTIVES)
    check_choice("critic", o["critic"], CRITICS)
    check_choice("unit", o["unit"], UNITS)
    check_choice("marginals", o["marginals"], MARGINALS)
    o["folds"] = check_int("folds", o["folds"], low=1)
    o["val_fraction"] = check_float("val_fraction", o["val_fraction"], low=0.0, high=1.0, low_open=True, high_open=True)
    o["eval_every"] = check_int("eval_every", o["eval_every"], low=1)
    o["max_steps"] = check_int("max_steps", o["max_steps"], low=1)
    o["lr"] = check_float("lr", o["lr"], low=0.0, low_open=True)
    o["patience"] = check_int("patience", o["patience"], low=1)
    o["ema_warmup"] = check_int("ema_warmup", o["ema_warmup"], low=0)
    if o["ema_decay"] is not None:
        o["ema_decay"] = check_float("ema_decay", o["ema_decay"], low=0.0, high=1.0, high_open=True)
    o["seed"] = check_seed(o["seed"])
    if o["batch_size"] is not None:
        o["batch_size"] = check_int("batch_size", o["batch_size"], low=2)
    o["objective_params"], o["critic_params"], o["settings"] = _model_params(
        o["objective"], o["critic"], o["objective_params"], o["critic_params"]
    )
    get_objective(o["objective"], **o["objective_params"])  # fails on bad parameters before training
    o["device"] = check_device(o["device"])
    o["progress"], o["keep_critics"] = bool(o["progress"]), bool(o["keep_critics"])
    return Options(**o)


def options_from(
    caller: str, settings: dict[str, Any], defaults: dict[str, Any] | None = None, **fixed: Any
) -> Options:
    """``check_options`` for a function that passes ``estimate_mi``'s keyword arguments on
    (``estimate_cmi``, ``mi_matrix``): a name in ``settings`` that ``estimate_mi`` does not take is
    refused naming ``caller``; ``fixed`` override ``settings``, which override ``defaults`` and
    then ``ESTIMATE_DEFAULTS``."""
    unknown = sorted(set(settings) - set(ESTIMATE_DEFAULTS))
    if unknown:
        raise ValueError(
            f"{caller} got unknown keyword argument(s) {unknown}; it passes on estimate_mi's: "
            f"{', '.join(sorted(ESTIMATE_DEFAULTS))}"
        )
    return check_options(**{**ESTIMATE_DEFAULTS, **(defaults or {}), **settings, **fixed})


@dataclass(frozen=True)
class Pair:
    """One MI to estimate: the two sides as ``Table``s and as float64 tensors with the same rows."""

    tx: Table
    ty: Table
    xt: torch.Tensor
    yt: torch.Tensor


def fit_estimates(
    pairs: list[Pair], options: Options, *, start: float | None = None, desc: str | None = None
) -> list[Estimate | EstimateError]:
    """``estimate_mi`` of each pair of sides, all on the same rows and the same folds.

    Every pair must have the same number of rows; the folds (``fold_indices``) are drawn once
    from ``options.seed``, so the pairs share their train, validation and test rows, and fold k
    of every pair starts from the same seed. Pairs whose sides have the same widths train
    together as one batched ensemble (pairs x folds critics); each pair's estimate depends on
    the others only through the minibatch order. A pair whose critic failed gets its
    ``EstimateError`` in its place (``estimate_mi`` raises it). ``seconds`` of each estimate is
    its share of its ensemble's time (with one pair: the whole call since ``start``).
    """
    o = options
    start = time.perf_counter() if start is None else start
    n = {p.xt.shape[0] for p in pairs}
    if len(n) != 1:
        raise ValueError(f"every pair must have the same rows, got row counts {sorted(n)}")
    name = get_objective(o.objective, **o.objective_params).name
    parts = fold_indices(n.pop(), o.folds, o.val_fraction, torch.Generator().manual_seed(o.seed))
    n_train = min(len(p[0]) for p in parts)
    batch_size = o.batch_size
    if batch_size is None:  # B = 64, or every training pair when a fold has fewer
        batch_size = min(DEFAULT_BATCH, n_train)
    if batch_size > n_train:
        raise ValueError(
            f"batch_size must be at most the number of training pairs ({n_train} of {pairs[0].xt.shape[0]} "
            f"rows), got {batch_size}; leave batch_size=None to use min(64, training pairs)"
        )
    groups: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault((p.xt.shape[1], p.yt.shape[1]), []).append(i)
    out: list[Estimate | EstimateError | None] = [None] * len(pairs)
    for (dim_x, dim_y), members in groups.items():
        get_critic(o.critic, dim_x, dim_y, **o.critic_params)  # fails on bad parameters before training
        label = desc or f"estimate_mi ({name}, {o.critic} critic, {o.folds} fold(s))"
        if len(pairs) > 1:
            label += f" [{len(members)} pair(s) {dim_x}x{dim_y}]"
        group = [pairs[i] for i in members]
        results = _fit_group(group, parts, batch_size, n_train, name, o, label, start)
        for i, result in zip(members, results, strict=True):
            out[i] = result
        start = time.perf_counter()
    return out  # type: ignore[return-value]


def _fit_group(
    pairs: list[Pair],
    parts: list,
    batch_size: int,
    n_train: int,
    name: str,
    o: Options,
    desc: str,
    start: float,
) -> list[Estimate | EstimateError]:
    """The estimates of pairs of equal widths, their critics (pairs x folds) trained as one ensemble."""
    folds = o.folds
    data, maps, train, val = [], [], [], []
    for p in pairs:
        xt, yt = p.xt.cpu(), p.yt.cpu()  # the maps are fitted in numpy; the mapped data moves to the device
        d, m = _mapped_folds(xt, yt, parts, o.marginals, o.device)
        data.append(d)
        maps.append(m)
        train += [(d[k][0][q[0].to(o.device)], d[k][1][q[0].to(o.device)]) for k, q in enumerate(parts)]
        val += [(d[k][0][q[1].to(o.device)], d[k][1][q[1].to(o.device)]) for k, q in enumerate(parts)]
    objs = [get_objective(o.objective, **o.objective_params) for _ in range(len(pairs) * folds)]
    use_copula = objs[0].kind == "plug-in" if o.copula is None else bool(o.copula)
    nets = _fold_critics(o.critic, o.critic_params, train, val, objs, o.seed, folds, batch_size, use_copula, o.device)
    settings = TrainSettings(
        batch_size, o.lr, o.max_steps, o.eval_every, o.patience, o.ema_decay, o.ema_warmup, o.seed, o.device
    )
    trained = train_folds(train, val, nets, objs, settings, progress=o.progress, desc=desc, start_candidate=use_copula)
    seconds = (time.perf_counter() - start) / len(pairs)
    out: list[Estimate | EstimateError] = []
    for i, p in enumerate(pairs):
        own = slice(i * folds, (i + 1) * folds)
        test_start = time.perf_counter()
        result = _estimate_of(
            p, trained[own], nets[own], objs[own], parts, data[i], maps[i], batch_size, n_train, name, o
        )
        if isinstance(result, Estimate):
            result = replace(result, seconds=seconds + time.perf_counter() - test_start)
        out.append(result)
    return out


def _estimate_of(
    p: Pair,
    trained: list,
    nets: list[Critic],
    objs: list[Objective],
    parts: list,
    data: dict,
    maps: list,
    batch_size: int,
    n_train: int,
    name: str,
    o: Options,
) -> Estimate | EstimateError:
    """One pair's ``Estimate`` from its trained fold critics (or the error of its first failed fold)."""
    folds = o.folds
    failed = {k: t.failure for k, t in enumerate(trained) if t.failure is not None}
    history = pd.concat([t.history.assign(fold=k) for k, t in enumerate(trained)], ignore_index=True)
    table = test_folds(trained, failed, parts, nets, objs, data, batch_size, torch.Generator().manual_seed(o.seed))
    if failed:
        return _failure(
            failed,
            table,
            history,
            folds=folds,
            name=name,
            critic=o.critic,
            lr=o.lr,
            objective=o.objective,
            marginals=o.marginals,
        )
    interval = interval_of(table, folds, objs[0].kind == "plug-in")
    scale = UNITS[o.unit]
    found = fit_checks(table, interval, objs[0], o.max_steps, scale=scale, unit=o.unit)
    found += data_checks(p.tx, p.ty, p.xt.shape[0])
    critics, test_fold = _pmi_parts(table, nets, parts, p.xt.shape[0]) if o.keep_critics else ((), None)
    return Estimate(
        **{key: value * scale for key, value in _mi_values(table, interval).items()},
        n_train=n_train,
        n_val=min(len(q[1]) for q in parts),
        n_test=sum(len(q[2]) for q in parts),
        unit=o.unit,
        objective=name,
        critic=o.critic,
        folds=table.assign(**{c: table[c] * scale for c in MI_COLUMNS}),
        history=history,
        model=_model_kept(table),
        warnings=tuple(found),
        settings=o.settings,
        seconds=math.nan,
        x_columns=p.tx.columns,
        y_columns=p.ty.columns,
        encoding={"x": p.tx.encoding, "y": p.ty.encoding},
        critics=critics,
        maps=tuple(maps) if o.keep_critics else (),
        test_fold=test_fold,
    )


def _model_params(
    objective: str, critic: str, objective_params: dict | None, critic_params: dict | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The objective's and critic's parameters with ``estimate_mi``'s defaults filled in (the
    anchor family's nu = ``DEFAULT_NU``, ``DEFAULT_CRITIC_PARAMS``), and the settings that differ
    from the paper's, for ``str(est)``."""
    objective_params = dict(objective_params or {})
    settings: dict[str, str] = {}
    if objective in ANCHOR_FAMILY and "nu" not in objective_params:
        objective_params["nu"] = DEFAULT_NU  # the anchor family's weight; see estimate_mi's docstring
    if objective_params.get("nu", PAPER_DEFAULTS["nu"]) != PAPER_DEFAULTS["nu"]:
        settings["nu"] = float(objective_params["nu"])
    return objective_params, {**DEFAULT_CRITIC_PARAMS.get(critic, {}), **(critic_params or {})}, settings


def _mapped_folds(
    xt: torch.Tensor, yt: torch.Tensor, parts: list, marginals: str, device: torch.device
) -> tuple[dict[int, tuple[torch.Tensor, torch.Tensor]], list]:
    """Per fold, x and y through the marginal maps fitted on that fold's training rows (on
    ``device``), and the maps."""
    data, maps = {}, []
    for k, (train_idx, _, _) in enumerate(parts):
        mx = fit_marginals(xt, train_idx, marginals, "x")
        my = fit_marginals(yt, train_idx, marginals, "y")
        data[k] = (mx(xt).to(device), my(yt).to(device))
        maps.append((mx, my))
    return data, maps


def _failure(
    failed: dict[int, str],
    table: pd.DataFrame,
    history: pd.DataFrame,
    *,
    folds: int,
    name: str,
    critic: str,
    lr: float,
    objective: str,
    marginals: str,
) -> EstimateError:
    """The error for the first failed fold: what happened, what to try, the folds that finished."""
    k = min(failed)
    tips = [f"a lower lr (now {lr:g})"]
    if OBJECTIVES[objective] is not OBJECTIVES["anchor"]:
        tips.append("a bounded objective such as 'anchor'")
    if marginals == "none":
        tips.append("marginals='normal-scores'")
    others = f" ({len(failed)} of {folds} folds failed)" if len(failed) > 1 else ""
    kept = f"; the {len(table)} fold(s) that finished are in err.folds" if len(table) else ""
    return EstimateError(
        f"estimate_mi: the critic of fold {k + 1} of {folds} ({name}, {critic} critic) {failed[k]}{others}{kept}. "
        f"Try {' or '.join(tips)}.",
        fold=k,
        folds=table,
        history=history,
    )


def _pmi_parts(table: pd.DataFrame, nets: list, parts: list, n: int) -> tuple[tuple, np.ndarray]:
    """What ``Estimate.pmi`` needs besides the maps: the fold critics (None for a fold that kept
    c = 0) and each row's test fold (-1: none)."""
    kept = {int(k) for k in table.fold[~table.no_dependence]}
    critics = tuple(nets[k] if k in kept else None for k in range(len(nets)))
    test_fold = np.full(n, -1, dtype=np.int16)
    for k, (_, _, test_idx) in enumerate(parts):
        test_fold[test_idx.numpy()] = k
    return critics, test_fold


def _fold_critics(
    critic: str,
    critic_params: dict[str, Any],
    train: list,
    val: list,
    objs: list[Objective],
    seed: int,
    folds: int,
    batch_size: int,
    use_copula: bool,
    device: torch.device,
) -> list[Critic]:
    """One untrained critic per member (pair x fold; initial weights seeded by ``seed + fold``);
    with the copula start, wrapped around each member's Gaussian-copula critic (``anchor.copula``)."""
    dim_x, dim_y = train[0][0].shape[1], train[0][1].shape[1]
    nets = []
    for k in range(len(train)):
        torch.manual_seed(seed + k % folds)  # the critic's initial weights
        nets.append(get_critic(critic, dim_x, dim_y, **critic_params).to(device))
    if use_copula:
        vx, vy = val_blocks(val, batch_size)
        for k in range(len(train)):
            fit = fit_copula(*train[k], vx[k], vy[k], partial(held_out_select, objs[k]))
            nets[k] = CopulaCritic(nets[k], fit).to(device)
    return nets


def _mi_values(table: pd.DataFrame, interval: Interval) -> dict[str, float]:
    """The ``Estimate``'s MI-valued fields (``MI_FIELDS``) in nats, from the fold table and the interval."""
    values = {
        "mi": max(interval.mi, 0.0),
        "stderr": interval.stderr,
        "ci_low": max(interval.low, 0.0),
        "ci_high": max(interval.high, 0.0),
        "mi_raw": interval.mi,
        "plug_in": interval.plug_in,
        "log_norm": float(table.log_norm.mean()),
        "log_norm_capped": float(table.log_norm_capped.mean()),
        "fit_gap": float((table.plug_in_train - table.plug_in).mean()),
        "dv": float(table.dv.mean()),
        "nwj": float(table.nwj.mean()),
    }
    assert tuple(values) == MI_FIELDS
    return values
