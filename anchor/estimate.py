"""``estimate_mi``: the plug-in MI estimate for a user's own paired samples, with its self-checks."""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch

from ._random import keeps_global_rng
from .estimate_result import Estimate, EstimateError, EstimateWarning
from .fitting import (
    DEFAULT_BATCH,
    DEFAULT_CRITIC_PARAMS,
    DEFAULT_NU,
    ESTIMATE_DEFAULTS,
    PAPER_DEFAULTS,
    Options,
    Pair,
    check_options,
    fit_estimates,
)
from .tables import paired_tables

__all__ = [  # all but estimate_mi live in estimate_result and fitting
    "DEFAULT_BATCH",
    "DEFAULT_CRITIC_PARAMS",
    "DEFAULT_NU",
    "ESTIMATE_DEFAULTS",
    "PAPER_DEFAULTS",
    "Estimate",
    "EstimateError",
    "EstimateWarning",
    "Options",
    "Pair",
    "check_options",
    "estimate_mi",
    "fit_estimates",
]


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
    start = time.perf_counter()
    tx, ty, xt, yt = paired_tables(x, y)
    options = check_options(
        objective=objective,
        critic=critic,
        folds=folds,
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        eval_every=eval_every,
        patience=patience,
        val_fraction=val_fraction,
        ema_decay=ema_decay,
        ema_warmup=ema_warmup,
        marginals=marginals,
        unit=unit,
        seed=seed,
        device=device,
        progress=progress,
        keep_critics=keep_critics,
        copula=copula,
        critic_params=critic_params,
        objective_params=objective_params,
    )
    (est,) = fit_estimates([Pair(tx, ty, xt, yt)], options, start=start)
    if isinstance(est, EstimateError):
        raise est
    if warn:
        for message in est.warnings:
            warnings.warn(f"estimate_mi: {message}", EstimateWarning, stacklevel=3)  # past keeps_global_rng
    return est
