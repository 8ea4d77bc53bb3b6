"""``estimate_mi``: the plug-in MI estimate for a user's own paired samples, with its self-checks."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice, check_device, check_float, check_int, check_seed
from ._random import keeps_global_rng
from .copula import CopulaCritic, fit_copula
from .critics import CRITICS, Critic, get_critic
from .estimate_checks import data_checks, fit_checks
from .estimate_result import MI_FIELDS, UNITS, Estimate, EstimateError, EstimateWarning, Interval, interval_of
from .folds import MI_COLUMNS, TrainSettings, fold_indices, held_out_select, test_folds, train_folds, val_blocks
from .marginals import MARGINALS, fit_marginals
from .objectives import ANCHOR_FAMILY, OBJECTIVES, Objective, get_objective
from .tables import paired_tables

__all__ = ["Estimate", "EstimateError", "EstimateWarning", "estimate_mi"]  # the first three live in estimate_result

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


def _model_kept(table: pd.DataFrame) -> str:
    """What the folds kept: "none", "gaussian copula", "network", or the mix (e.g. "3 network, 2 gaussian copula")."""
    names = {"zero": "none", "start": "gaussian copula", "trained": "network"}
    counts = table.kept.map(names).value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{n} {name}" for name, n in counts.items())


@keeps_global_rng
def estimate_mi(
    x: Any,
    y: Any,
    objective: str = "anchor",
    critic: str = "separable",
    *,
    folds: int = 5,
    batch_size: int | None = None,
    lr: float = 1e-3,
    max_steps: int = 4000,
    eval_every: int = 100,
    patience: int = 5,
    val_fraction: float = 0.2,
    ema_decay: float | None = 0.99,
    ema_warmup: int = 10,
    marginals: str = "normal-scores",
    unit: str = "nats",
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    warn: bool = True,
    keep_critics: bool = True,
    copula: bool | None = None,
    critic_params: dict[str, Any] | None = None,
    objective_params: dict[str, Any] | None = None,
) -> Estimate:
    """Estimate I(X; Y) from paired samples x (n, dx) and y (n, dy).

    x and y may be pandas DataFrames or Series (their column names are kept: ``est.x_columns``),
    numpy arrays, torch tensors or anything with ``__array__``; integer and boolean columns are
    used as numbers (ties get their mid-rank normal score), categorical and text columns become
    one indicator column per level (``anchor.tables``). A 1-D array is one column.

    Cross-fitting: the rows are shuffled and cut into ``folds`` test parts. For each, a critic is
    trained on the other rows (``val_fraction`` of them, at most ``MAX_VAL``, held out for early
    stopping) and the objective's estimate is computed on the test part, which it never saw.
    ``folds=1`` trains one critic and tests it on 20% of the rows. The fold critics train
    together as one batched ensemble, so five folds cost little more than one.

    Each column of x and y first goes through a strictly increasing map fitted on the fold's
    training rows (``marginals``: "normal-scores", "standardize" or "none"; ``anchor.marginals``),
    which leaves the MI unchanged.

    The Gaussian-copula start (``copula``; by default for plug-in objectives): each fold's critic
    begins as the closed-form log ratio of the Gaussian copula of its training rows (leading
    canonical pairs, their number and a ridge chosen on the validation pairs; ``anchor.copula``),
    and the network learns a correction on top of it. The untrained start is the first
    candidate every checkpoint must beat on the validation pairs, so with few rows, or when the
    dependence is a Gaussian copula, the estimate is the copula's; ``est.model`` says what the
    folds kept. The estimate is the midpoint of the held-out and the training plug-in, its
    interval spans both (``Estimate``).

    Training: Adam, a fresh minibatch of ``batch_size`` distinct training rows per step, an
    exponential moving average of the weights (``ema_decay``, warmed up as
    min(ema_decay, (1 + t) / (ema_warmup + t)) so the average forgets the random start);
    every ``eval_every`` steps the averaged critic is scored on the validation rows by the
    objective's selection criterion (its loss: for the anchor family the proper-scoring-rule
    risk; MINE uses minus DV), a fold stops after ``patience`` evaluations without improvement
    (or at ``max_steps``), and the weights with the lowest validation score are kept.

    The defaults were chosen by measurement on the benchmark suite (``anchor.tasks``; README,
    "Estimating MI on your data", has the tables and the commands that make them): B = 64 with
    K = B - 1 candidates, two 128-wide hidden layers per encoder, lr 1e-3, patience 5
    evaluations of 100 steps, a weight average of 0.99 (without it the mean absolute error on
    ten tasks doubled), normal scores (standardising instead failed on Cauchy data: -3.2 times
    the truth). The anchor family's weight defaults to nu = 16 here (the paper's default is 1,
    which read 30% high at n = 10,000; larger nu reads lower, best at n = 10,000 near 32, at
    n = 1,000 near 8); ``str(est)`` shows it, and ``objective_params={"nu": 1.0}`` gives the
    paper's setting. A run takes about 10 s for 10,000 rows on 2 CPU cores; tasks that need
    more steps (spirals, 8 nats) stop at ``max_steps`` and say so in ``warnings``. The README's
    "How many rows do I need" has the accuracy and coverage from 500 to 10,000 rows.

    Independent data: for plug-in objectives the constant critic c = 0 (the log ratio of
    independent variables, estimate 0) is the first candidate every fold must beat on its
    validation pairs; a fold where no checkpoint does reports 0 (``folds.no_dependence``,
    ``best_step`` -1) and ``str(est)`` says so. Without it the test plug-in of a critic fitted
    to noise is E_p[c] = -KL(p || p e^c) < 0 for a normalised critic: it reads slightly negative
    (-0.01 to -0.04 nats at n = 2,000), and the interval of the fold spread can exclude 0.
    A fold that beats c = 0 can still read slightly below 0 for the same reason.

    Args:
        objective: a name in ``anchor.OBJECTIVES``; plug-in objectives report the mean critic value
            on test pairs, bound objectives their bound averaged over test batches.
        critic: "joint" or "separable" (or another name in ``anchor.CRITICS``).
        folds: number of cross-fitting folds (>= 2 gives the between-fold interval), or 1.
        batch_size: pairs per step B; the anchor uses K = B - 1 candidates per tuple. None: 64,
            or every training pair of a fold when it has fewer.
        marginals: the per-column map, see above.
        unit: "nats" or "bits" (every MI-valued field and ``folds`` column; ``history`` is nats).
        device: e.g. "cuda"; the data is moved there.
        warn: also issue an ``EstimateWarning`` when a self-check fails (it is in ``.warnings``
            either way).
        copula: start each critic from the Gaussian-copula critic (see above); None: True for
            plug-in objectives, False for bounds (whose critics carry a free offset).
        keep_critics: keep the trained fold critics and marginal maps on the ``Estimate`` for
            ``est.pmi`` (the networks and at most 2,048 knots per column; not the data).
        critic_params, objective_params: passed to ``get_critic`` / ``get_objective``;
            ``critic_params`` starts from ``DEFAULT_CRITIC_PARAMS`` (width 128, depth 2) for
            critics that take them.

    Raises:
        EstimateError: a fold's critic diverged (a NaN or infinite loss or estimate, or an
            estimate beyond +-``anchor.train.DIVERGENCE_NATS`` for ``anchor.train.DIVERGENCE_STEPS`` steps in a
            row), never had a finite validation loss, or read a test estimate beyond that range; it
            names the fold and keeps the folds that finished.

    Returns:
        ``Estimate`` with mi, stderr, ci_low, ci_high, n_train, n_val (per fold), n_test (all
        folds), unit, the diagnostics, a per-fold table ``folds`` and the training ``history``.
    """
    import time

    start = time.perf_counter()
    tx, ty, xt, yt = paired_tables(x, y)
    check_choice("objective", objective, OBJECTIVES)
    check_choice("critic", critic, CRITICS)
    check_choice("unit", unit, UNITS)
    check_choice("marginals", marginals, MARGINALS)
    folds = check_int("folds", folds, low=1)
    val_fraction = check_float("val_fraction", val_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    eval_every = check_int("eval_every", eval_every, low=1)
    max_steps = check_int("max_steps", max_steps, low=1)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    patience = check_int("patience", patience, low=1)
    ema_warmup = check_int("ema_warmup", ema_warmup, low=0)
    if ema_decay is not None:
        ema_decay = check_float("ema_decay", ema_decay, low=0.0, high=1.0, high_open=True)
    seed = check_seed(seed)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=2)
    objective_params, critic_params, settings = _model_params(objective, critic, objective_params, critic_params)
    name = get_objective(objective, **objective_params).name  # fails on bad parameters before training
    get_critic(critic, xt.shape[1], yt.shape[1], **critic_params)  # likewise

    parts = fold_indices(xt.shape[0], folds, val_fraction, torch.Generator().manual_seed(seed))
    n_train = min(len(p[0]) for p in parts)
    if batch_size is None:  # B = 64, or every training pair when a fold has fewer
        batch_size = min(DEFAULT_BATCH, n_train)
    if batch_size > n_train:
        raise ValueError(
            f"batch_size must be at most the number of training pairs ({n_train} of {xt.shape[0]} rows), "
            f"got {batch_size}; leave batch_size=None to use min(64, training pairs)"
        )
    device = check_device(device)
    xt, yt = xt.cpu(), yt.cpu()  # the maps are fitted in numpy; the mapped data moves to the device
    data, maps = _mapped_folds(xt, yt, parts, marginals, device)
    train = [(data[k][0][p[0].to(device)], data[k][1][p[0].to(device)]) for k, p in enumerate(parts)]
    val = [(data[k][0][p[1].to(device)], data[k][1][p[1].to(device)]) for k, p in enumerate(parts)]
    objs = [get_objective(objective, **objective_params) for _ in range(folds)]
    use_copula = objs[0].kind == "plug-in" if copula is None else bool(copula)
    nets = _fold_critics(critic, critic_params, train, val, objs, seed, batch_size, use_copula, device)
    settings_ = TrainSettings(batch_size, lr, max_steps, eval_every, patience, ema_decay, ema_warmup, seed, device)
    trained = train_folds(
        train,
        val,
        nets,
        objs,
        settings_,
        progress=progress,
        desc=f"estimate_mi ({name}, {critic} critic, {folds} fold(s))",
        start_candidate=use_copula,
    )
    failed = {k: t.failure for k, t in enumerate(trained) if t.failure is not None}
    history = pd.concat([t.history.assign(fold=k) for k, t in enumerate(trained)], ignore_index=True)
    table = test_folds(trained, failed, parts, nets, objs, data, batch_size, torch.Generator().manual_seed(seed))
    if failed:
        raise _failure(
            failed,
            table,
            history,
            folds=folds,
            name=name,
            critic=critic,
            lr=lr,
            objective=objective,
            marginals=marginals,
        )

    interval = interval_of(table, folds, objs[0].kind == "plug-in")
    scale = UNITS[unit]
    found = fit_checks(table, interval, objs[0], max_steps, scale=scale, unit=unit)
    found += data_checks(tx, ty, xt.shape[0])
    critics, test_fold = _pmi_parts(table, nets, parts, xt.shape[0]) if keep_critics else ((), None)
    est = Estimate(
        **{key: value * scale for key, value in _mi_values(table, interval).items()},
        n_train=n_train,
        n_val=min(len(p[1]) for p in parts),
        n_test=sum(len(p[2]) for p in parts),
        unit=unit,
        objective=name,
        critic=critic,
        folds=table.assign(**{c: table[c] * scale for c in MI_COLUMNS}),
        history=history,
        model=_model_kept(table),
        warnings=tuple(found),
        settings=settings,
        seconds=time.perf_counter() - start,
        x_columns=tx.columns,
        y_columns=ty.columns,
        encoding={"x": tx.encoding, "y": ty.encoding},
        critics=critics,
        maps=tuple(maps) if keep_critics else (),
        test_fold=test_fold,
    )
    if warn:
        for message in found:
            warnings.warn(f"estimate_mi: {message}", EstimateWarning, stacklevel=3)  # past keeps_global_rng
    return est


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
    batch_size: int,
    use_copula: bool,
    device: torch.device,
) -> list[Critic]:
    """One untrained critic per fold (initial weights seeded by ``seed + fold``); with the copula
    start, wrapped around each fold's Gaussian-copula critic (``anchor.copula``)."""
    dim_x, dim_y = train[0][0].shape[1], train[0][1].shape[1]
    nets = []
    for k in range(len(train)):
        torch.manual_seed(seed + k)  # the critic's initial weights
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
