"""One training loop for any critic, objective and sampler, and held-out evaluation.

``fit`` draws a fresh batch every step (from a sampler, a ``Staircase`` or arrays), minimises
``objective.loss(critic(x, y))`` with Adam and records a tidy per-step history. ``evaluate`` gives
a held-out estimate with a standard error and a 95% interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ._checks import check_device, check_float, check_int, check_seed
from ._console import progress_bar
from .critics import Critic
from .data import Staircase
from .objectives import Objective

Z95 = 1.959963984540054  # standard normal 97.5% quantile


DIVERGENCE_NATS = 1e3
DIVERGENCE_STEPS = 10
"""A run has diverged when its estimate stays beyond +-``DIVERGENCE_NATS`` (a log density ratio of
e^1000, which no data set that fits in memory supports) for ``DIVERGENCE_STEPS`` steps in a row:
DV or MINE at a high learning rate read -1e34 nats from the first steps on, without a NaN. One
batch alone can read far outside and is kept: NWJ and JS's report have an e^c term that spikes
when a single product pair scores high, while the critic trains normally."""


class DivergedError(RuntimeError):
    """Training diverged: the loss or the estimate became NaN or infinite, or the estimate stayed
    beyond +-``DIVERGENCE_NATS`` for ``DIVERGENCE_STEPS`` steps in a row.

    ``history`` holds every step up to and including the one that diverged (``step``), so even a
    run that diverges at step 0 has a row; ``reason`` says what happened.
    """

    def __init__(self, message: str, history: pd.DataFrame, *, step: int = -1, reason: str = "") -> None:
        super().__init__(message)
        self.history = history
        self.step = step
        self.reason = reason


def divergence(
    loss: float, estimate: float, streak: int, limit: float = DIVERGENCE_NATS, steps: int = DIVERGENCE_STEPS
) -> str | None:
    """Why a training step counts as diverged, or None: a loss or estimate that is not finite, or
    an estimate beyond +-``limit`` nats on ``steps`` steps in a row (``streak``: how many steps in
    a row, this one included, it has been out so far)."""
    if not math.isfinite(loss):
        return f"the training loss became {loss}"
    if not math.isfinite(estimate):
        return f"the estimate became {estimate}"
    if streak >= steps:
        return f"the estimate stayed beyond +-{limit:g} nats for {steps} steps in a row (now {estimate:.3g})"
    return None


class DivergenceMonitor:
    """Watches one training run step by step: ``check(loss, estimate)`` says why the step counts as
    diverged (``divergence``), keeping the count of steps in a row beyond +-``limit`` nats."""

    def __init__(self, limit: float = DIVERGENCE_NATS, steps: int = DIVERGENCE_STEPS) -> None:
        self.limit, self.steps, self.streak = limit, steps, 0

    def check(self, loss: float, estimate: float) -> str | None:
        self.streak = self.streak + 1 if abs(estimate) > self.limit else 0
        return divergence(loss, estimate, self.streak, self.limit, self.steps)


class EarlyStopping:
    """Keeps the best candidate by a held-out loss (lower is better) and stops after ``patience``
    evaluations without improvement. A candidate is offered with its ``step``, a ``kind`` naming
    what it is, and a function that copies its weights (called only when it is the new best)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.loss, self.step, self.kind, self.weights = math.inf, -1, "", None
        self.since, self.done = 0, False

    def offer(self, loss: float, step: int, kind: str, weights: Callable[[], Any]) -> None:
        if self.done:
            return
        if loss < self.loss:
            self.loss, self.step, self.kind, self.weights, self.since = loss, step, kind, weights(), 0
        else:
            self.since += 1
        self.done = self.since >= self.patience

    @property
    def converged(self) -> bool:
        """Stopped by patience (not by running out of steps or by a failure)."""
        return self.since >= self.patience


class WeightAverage:
    """An exponential moving average of a set of weights (``{name: tensor}``, e.g. a batched
    ensemble's stacked parameters), started at their current values. With ``warmup`` > 0 the
    decay at step t is min(decay, (1 + t) / (warmup + t)), so early steps are not held back by the
    random initial weights."""

    def __init__(self, weights: dict[str, torch.Tensor], decay: float, warmup: int = 0) -> None:
        self.decay, self.warmup = decay, warmup
        self.weights = {k: v.detach().clone() for k, v in weights.items()}

    def module(self, module: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``module`` (buffers included) holding the averaged weights."""
        copy = deepcopy(module)
        with torch.no_grad():
            for name, param in copy.named_parameters():
                if name in self.weights:
                    param.copy_(self.weights[name])
        return copy

    @torch.no_grad()
    def update(self, weights: dict[str, torch.Tensor], step: int) -> None:
        decay = min(self.decay, (1.0 + step) / (self.warmup + step)) if self.warmup else self.decay
        torch._foreach_lerp_(list(self.weights.values()), [w.detach() for w in weights.values()], 1.0 - decay)


class ArraySampler:
    """Random minibatches of aligned rows from arrays x (n, dx), y (n, dy); true MI unknown (NaN).

    Each batch is drawn without replacement, so no joint pair appears off the diagonal.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
        self.x, self.y = x, y
        self.dim_x, self.dim_y = x.shape[1], y.shape[1]
        self.mi = math.nan

    def __len__(self) -> int:
        return self.x.shape[0]

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype | None = None, **_: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(len(self), generator=generator)[:n].to(self.x.device)
        return self.x[idx].to(dtype or self.x.dtype), self.y[idx].to(dtype or self.y.dtype)


def _parameter_device(module: torch.nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


@dataclass
class Fit:
    """The trained critic and its per-step history (one row per step, true MI as a column)."""

    critic: Critic
    objective: Objective
    history: pd.DataFrame


def fit(
    critic: Critic,
    objective: Objective,
    data: Any,
    *,
    steps: int | None = None,
    batch_size: int = 64,
    lr: float = 5e-4,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    callback: Callable[[int, Critic], bool | None] | None = None,
    callback_every: int = 100,
    ema_decay: float | None = None,
    ema_warmup: int = 0,
    desc: str | None = None,
    track: Sequence[Objective] = (),
    divergence_nats: float = DIVERGENCE_NATS,
) -> Fit:
    """Train ``critic`` on ``objective`` with Adam, a fresh batch of ``batch_size`` pairs per step.

    Args:
        data: a sampler (``sample(n, generator=..., device=...)`` and ``mi``), a ``Staircase``
            (then ``steps`` defaults to its length and the true MI follows the schedule), or an
            ``ArraySampler``.
        seed: seeds the batch generator; the critic's initial weights are the caller's.
        device: where to train; defaults to the critic's device. Batches are drawn there, in the
            dtype of the critic's parameters (``critic.double()`` trains in float64).
        callback: called as ``callback(step, critic)`` every ``callback_every`` steps and after
            the last; returning True stops training (used for early stopping).
        ema_decay: if set (e.g. 0.99), keep an exponential moving average of the weights
            (Polyak averaging) and hand that averaged critic to ``callback`` and back in ``Fit``.
            It damps the step-to-step jitter of the critic's offset, which a plug-in estimate
            reads one-for-one. The history's per-step estimates are the raw critic's.
        ema_warmup: with ``ema_decay``, the average's warm-up (``WeightAverage``; 0: none), as
            ``estimate_mi`` uses it (its default 100).
        track: other objectives whose estimate is recorded on every batch as well, in columns
            ``estimate_<name>`` (e.g. the plug-in of a critic trained with InfoNCE); they do not
            affect training.
        divergence_nats: training stops as diverged when the estimate's magnitude stays above this
            (``DIVERGENCE_NATS``) for ``DIVERGENCE_STEPS`` steps in a row, as it does at once when
            the loss or the estimate is NaN or infinite.

    Returns:
        ``Fit`` whose ``history`` has columns step, mi_true, estimate, loss, objective (nats), and
        one ``estimate_<name>`` column per tracked objective.

    Raises:
        DivergedError: the loss or the estimate became NaN or infinite, or the estimate stayed
            beyond +-divergence_nats; its ``history`` keeps every step up to the one that diverged.
    """
    sampler_at, steps = _schedule(data, steps)
    batch_size = check_int("batch_size", batch_size, low=2)
    if isinstance(data, ArraySampler) and batch_size > len(data):
        raise ValueError(f"batch_size must be at most the number of training pairs ({len(data)}), got {batch_size}")
    lr = check_float("lr", lr, low=0.0, low_open=True)
    divergence_nats = check_float("divergence_nats", divergence_nats, low=0.0, low_open=True)
    callback_every = check_int("callback_every", callback_every, low=1)

    device = _parameter_device(critic) if device is None else check_device(device)
    critic.to(device)
    generator = torch.Generator(device="cpu" if isinstance(data, ArraySampler) else device)
    generator.manual_seed(check_seed(seed))
    params = [p for p in critic.parameters() if p.requires_grad]
    dtype = params[0].dtype if params else torch.float32  # batches are drawn in the critic's dtype
    optimizer = torch.optim.Adam(params, lr=lr, fused=True) if params else None
    objective.reset()
    average = None
    if ema_decay is not None:
        ema_decay = check_float("ema_decay", ema_decay, low=0.0, high=1.0, high_open=True)
        average = WeightAverage(dict(critic.named_parameters()), ema_decay, check_int("ema_warmup", ema_warmup, low=0))
    history = _History(objective.name, _tracked(track))

    critic.train()
    monitor = DivergenceMonitor(divergence_nats)
    bar = progress_bar(range(steps), desc=desc or objective.name, enabled=progress)
    for step in bar:
        sampler = sampler_at(step)
        x, y = sampler.sample(batch_size, generator=generator, device=device, dtype=dtype)
        logits = critic(x, y)  # (B, B)
        loss = objective.loss(logits)
        value = history.record(step, sampler.mi, objective, logits, loss)
        reason = monitor.check(loss.item(), value)
        if reason is not None:
            bar.close()
            truth = "" if math.isnan(sampler.mi) else f"true MI {sampler.mi:.3g} nats, "
            raise DivergedError(
                f"{objective.name} diverged at step {step}: {reason} ({truth}lr {lr:g}). "
                "Lower lr, use a smaller MI, or use a bounded objective such as 'anchor'.",
                history.frame(),
                step=step,
                reason=reason,
            )
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update(dict(critic.named_parameters()), step)
        if progress and step % 50 == 0:
            bar.set_postfix(estimate=f"{value:.3f}", true=f"{sampler.mi:.3f}")
        if callback is not None and ((step + 1) % callback_every == 0 or step == steps - 1):
            current = critic if average is None else average.module(critic)
            current.eval()
            stop = callback(step, current)
            critic.train()
            if stop:
                break
    bar.close()
    result = critic if average is None else average.module(critic)
    result.eval()
    return Fit(critic=result, objective=objective, history=history.frame())


def _schedule(data: Any, steps: int | None) -> tuple[Callable[[int], Any], int]:
    """The sampler to draw from at each step, and the number of steps (a Staircase's length by
    default)."""
    if isinstance(data, Staircase):
        steps = data.steps if steps is None else steps
        sampler_at = data.sampler_at
    else:
        if not callable(getattr(data, "sample", None)):
            raise ValueError(
                f"data must be a sampler with sample(n, ...), a Staircase or an ArraySampler, got {data!r}"
            )
        sampler_at = lambda step: data  # noqa: E731
    if steps is None:
        raise ValueError("steps is required unless data is a Staircase")
    return sampler_at, check_int("steps", steps, low=1)


def _tracked(track: Sequence[Objective]) -> dict[str, Objective]:
    """``{"estimate_<name>": objective}`` for the objectives ``fit`` records beside its own."""
    track = list(track)
    for extra in track:
        if not isinstance(extra, Objective):
            raise ValueError(f"track must hold Objective instances (anchor.get_objective(name)), got {extra!r}")
    tracked = {f"estimate_{extra.name}": extra for extra in track}
    if len(tracked) != len(track):
        raise ValueError(f"track has two objectives of the same name: {[extra.name for extra in track]}")
    return tracked


class _History:
    """``fit``'s per-step record: step, true MI, the objective's estimate and loss, and the
    tracked objectives' estimates on the same logits."""

    def __init__(self, name: str, tracked: dict[str, Objective]) -> None:
        self.name, self.tracked = name, tracked
        self.rows: dict[str, list[float]] = {"step": [], "mi_true": [], "estimate": [], "loss": []}
        self.rows.update({column: [] for column in tracked})

    def record(
        self, step: int, mi_true: float, objective: Objective, logits: torch.Tensor, loss: torch.Tensor
    ) -> float:
        """Append one step; returns the objective's estimate on ``logits``."""
        with torch.no_grad():
            value = objective.estimate(logits.detach()).item()
            for column, extra in self.tracked.items():
                self.rows[column].append(extra.estimate(logits.detach()).item())
        self.rows["step"].append(step)
        self.rows["mi_true"].append(mi_true)
        self.rows["estimate"].append(value)
        self.rows["loss"].append(loss.item())
        return value

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows)
        frame["objective"] = self.name
        return frame


@dataclass
class HeldOut:
    """A held-out estimate in nats: value, standard error, 95% normal interval, and sample size.

    For a plug-in objective ``n`` counts pairs (the mean of c over i.i.d. joint pairs); for a
    bound it counts batches (the bound is averaged over disjoint batches of ``batch_size``).
    """

    mi: float
    stderr: float
    n: int

    @property
    def ci_low(self) -> float:
        return self.mi - Z95 * self.stderr

    @property
    def ci_high(self) -> float:
        return self.mi + Z95 * self.stderr


@torch.no_grad()
def evaluate(
    critic: Critic,
    objective: Objective,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 64,
    chunk: int = 8192,
) -> HeldOut:
    """Held-out estimate of ``objective`` for paired samples x (n, dx), y (n, dy).

    Plug-in objectives average c(x_i, y_i) over all n pairs (standard error = sd / sqrt(n));
    bound objectives average the bound over the n // batch_size disjoint batches.
    """
    was_training = critic.training
    critic.eval()
    try:
        if objective.kind == "plug-in":
            values = torch.cat([critic.pairs(x[i : i + chunk], y[i : i + chunk]) for i in range(0, x.shape[0], chunk)])
        else:
            batch_size = check_int("batch_size", batch_size, low=2, high=x.shape[0])
            n_batches = x.shape[0] // batch_size
            values = torch.stack(
                [
                    objective.estimate(
                        critic(x[k * batch_size : (k + 1) * batch_size], y[k * batch_size : (k + 1) * batch_size])
                    )
                    for k in range(n_batches)
                ]
            )
    finally:
        critic.train(was_training)
    values = values.double()
    n = values.numel()
    stderr = values.std().item() / math.sqrt(n) if n > 1 else math.nan
    return HeldOut(mi=values.mean().item(), stderr=stderr, n=n)


@torch.no_grad()
def held_out_loss(
    critic: Critic, objective: Objective, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 64
) -> float:
    """Mean of the objective's selection criterion (``objective.select``) over disjoint held-out
    batches: lower is better.

    For the anchor family it is the proper-scoring-rule risk, whose excess is a Bregman divergence
    to the true ratio, so it ranks critics by fit; for the bounds it is the training loss (minus
    the bound; for JS and SMILE the f-GAN JS loss they train with; for MINE minus DV, since its
    loss keeps a moving average that must not move on held-out data).
    """
    batch_size = check_int("batch_size", batch_size, low=2, high=x.shape[0])
    was_training = critic.training
    critic.eval()
    try:
        fn = objective.select
        n_batches = x.shape[0] // batch_size
        values = [
            fn(critic(x[k * batch_size : (k + 1) * batch_size], y[k * batch_size : (k + 1) * batch_size])).item()
            for k in range(n_batches)
        ]
    finally:
        critic.train(was_training)
    return sum(values) / len(values)
