"""The shared model of ``mi_matrix`` (``method="shared"``): one model per fold for every pair of
columns. ``anchor.matrix`` describes it; ``fit_shared`` trains it and returns the tidy frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ._console import progress_bar
from .estimate_checks import NORM_TOLERANCE, spread_check
from .estimate_result import UNITS, interval_of
from .folds import MAX_VAL, fold_indices
from .marginals import fit_marginals
from .objectives import get_objective
from .train import WeightAverage

__all__ = ["FRAME_COLUMNS", "SharedSettings", "fit_shared"]

FRAME_COLUMNS = [
    "a",
    "b",
    "mi",
    "ci_low",
    "ci_high",
    "stderr",
    "mi_raw",
    "plug_in",
    "fit_gap",
    "log_norm_capped",
    "converged",
    "trusted",
    "warnings",
]
"""The columns of ``MiMatrix.frame``: one row per pair."""


@dataclass(frozen=True)
class SharedSettings:
    folds: int
    max_steps: int
    eval_every: int
    patience: int
    lr: float
    batch_size: int
    features: int
    width: int
    seed: int
    device: torch.device
    nu: float = 16.0
    ema_decay: float = 0.99
    ema_warmup: int = 10
    val_fraction: float = 0.2
    min_delta: float = 1e-3


class _SharedModel(torch.nn.Module):
    """Per fold: a network per column (1 -> width -> width -> features) and a bilinear matrix per pair."""

    def __init__(self, folds: int, d: int, pairs: list[tuple[int, int]], s: SharedSettings, start: torch.Tensor):
        super().__init__()
        w, k = s.width, s.features

        def init(*shape: int, fan_in: int) -> torch.nn.Parameter:
            bound = 1.0 / math.sqrt(fan_in)
            return torch.nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

        self.w1, self.b1 = init(folds, d, 1, w, fan_in=1), init(folds, d, 1, w, fan_in=1)
        self.w2, self.b2 = init(folds, d, w, w, fan_in=w), init(folds, d, 1, w, fan_in=w)
        self.w3, self.b3 = init(folds, d, w, k, fan_in=w), init(folds, d, 1, k, fan_in=w)
        self.weight = torch.nn.Parameter(start.clone())  # (folds, pairs, 3 + k, 3 + k)
        self.register_buffer("left", torch.tensor([i for i, _ in pairs]))
        self.register_buffer("right", torch.tensor([j for _, j in pairs]))

    def features(self, params: dict[str, torch.Tensor], u: torch.Tensor) -> torch.Tensor:
        """u (folds, d, rows) normal scores -> (folds, d, rows, 3 + features)."""
        h = u[..., None]
        h = torch.nn.functional.silu(h @ params["w1"] + params["b1"])
        h = torch.nn.functional.silu(h @ params["w2"] + params["b2"])
        h = h @ params["w3"] + params["b3"]
        return torch.cat([torch.ones_like(u)[..., None], u[..., None], u[..., None] ** 2, h], -1)

    def logits(self, params: dict[str, torch.Tensor], fa: torch.Tensor, fb: torch.Tensor | None = None) -> torch.Tensor:
        """Features of rows a and b (folds, d, ra, m), (folds, d, rb, m) -> (folds, pairs, ra, rb)."""
        fb = fa if fb is None else fb
        left = fa[:, self.left] @ params["weight"]
        return left @ fb[:, self.right].transpose(-1, -2)

    def diagonal(self, params: dict[str, torch.Tensor], f: torch.Tensor) -> torch.Tensor:
        """c_ij(a_r, b_r) of each row r: (folds, d, rows, m) -> (folds, pairs, rows)."""
        return ((f[:, self.left] @ params["weight"]) * f[:, self.right]).sum(-1)


def _copula_start(u_train: torch.Tensor, pairs: list[tuple[int, int]], k: int) -> torch.Tensor:
    """(folds, pairs, 3 + k, 3 + k): the Gaussian-copula log ratio of each pair's training
    correlation r, -1/2 log(1 - r^2) - (r^2 (u^2 + v^2) - 2 r u v) / (2 (1 - r^2)), in the basis
    [1, u, u^2] (the learned features start with weight 0)."""
    folds = u_train.shape[0]
    out = torch.zeros(folds, len(pairs), 3 + k, 3 + k)
    for f in range(folds):
        u = u_train[f]
        u = (u - u.mean(1, keepdim=True)) / u.std(1, keepdim=True)
        corr = (u @ u.T) / (u.shape[1] - 1)
        for p, (i, j) in enumerate(pairs):
            r = float(corr[i, j].clamp(-0.999, 0.999))
            q = 1.0 - r * r
            out[f, p, 0, 0] = -0.5 * math.log(q)
            out[f, p, 2, 0] = out[f, p, 0, 2] = -(r * r) / (2 * q)
            out[f, p, 1, 1] = r / q
    return out


@torch.no_grad()
def _test_stats(model, params, u_test, u_seen, block: int) -> dict[str, torch.Tensor]:
    """Per (fold, pair): the plug-in on the test rows and its standard error, the plug-in on as
    many training rows, and log E_q[e^c] over product pairs of a block of test rows, c capped at
    its largest value on the joint test pairs."""
    diag = model.diagonal(params, model.features(params, u_test)).double()
    seen = model.diagonal(params, model.features(params, u_seen)).double().mean(-1)
    fb = model.features(params, u_test[..., :block])
    product = model.logits(params, fb).double()
    off = ~torch.eye(product.shape[-1], dtype=torch.bool)
    values = product[..., off].clamp(max=diag.max(-1).values[..., None])
    log_norm = torch.logsumexp(values, -1) - math.log(values.shape[-1])
    n = diag.shape[-1]
    return {
        "plug_in": diag.mean(-1),
        "stderr": diag.std(-1) / math.sqrt(n),
        "plug_in_train": seen,
        "log_norm": log_norm,
    }


class _Selection:
    """Per (fold, pair) early stopping on a validation loss, keeping the test statistics of the
    best candidate (computed when it was scored: the test rows take no part in the choice)."""

    KEYS = ("plug_in", "stderr", "plug_in_train", "log_norm")

    def __init__(self, folds: int, pairs: int, patience: int, min_delta: float, device: torch.device) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.loss = torch.full((folds, pairs), math.inf, dtype=torch.float64, device=device)
        self.since = torch.zeros(folds, pairs, dtype=torch.long, device=device)
        self.done = torch.zeros(folds, pairs, dtype=torch.bool, device=device)
        self.stats = {k: torch.zeros(folds, pairs, dtype=torch.float64, device=device) for k in self.KEYS}

    def improved(self, loss: torch.Tensor) -> torch.Tensor:
        """Where ``loss`` beats the best by more than ``min_delta`` (and training goes on)."""
        return (loss.double() < self.loss - self.min_delta) & ~self.done

    def offer(self, loss: torch.Tensor, stats: dict[str, torch.Tensor] | None, *, count: bool = True) -> None:
        """Offer a candidate scored ``loss`` (folds, pairs) with its test ``stats`` (None: c = 0,
        whose statistics are 0). ``count=False`` for the untrained candidates (no patience used)."""
        better = self.improved(loss)
        self.loss[better] = loss.double()[better]
        for k in self.KEYS:
            self.stats[k][better] = 0.0 if stats is None else stats[k][better]
        self.since[better] = 0
        if count:
            self.since[~better & ~self.done] += 1
            self.done |= self.since >= self.patience


def _within_training(u: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """Normal scores clamped to the range of the fold's training rows, per column. The critic is
    a quadratic form in [1, u, u^2, h(u)], so beyond that range it grows like u^4: one test row of
    a heavy-tailed column scored far out would otherwise move a fold's plug-in by a nat."""
    seen = u[train]
    return torch.minimum(torch.maximum(u, seen.min(0).values), seen.max(0).values)


def _shared_rows(values: np.ndarray, s: SharedSettings) -> dict[str, torch.Tensor]:
    """Per fold, the normal scores (fitted on the fold's training rows) of its training,
    validation and test rows and of as many training rows as test rows: (folds, columns, rows)."""
    parts = fold_indices(values.shape[0], s.folds, s.val_fraction, torch.Generator().manual_seed(s.seed))
    data = torch.from_numpy(values)
    sizes = [min(len(p[k]) for p in parts) for k in range(3)]
    if s.batch_size > sizes[0]:
        raise ValueError(f"batch_size must be at most the training rows of a fold ({sizes[0]}), got {s.batch_size}")
    mapped = [_within_training(fit_marginals(data, p[0], "normal-scores", "table")(data), p[0]) for p in parts]
    rows = {
        name: torch.stack([m[p[k][: sizes[k]]].T for m, p in zip(mapped, parts, strict=True)]).to(s.device)
        for k, name in enumerate(("train", "val", "test"))
    }
    rows["seen"] = rows["train"][..., : sizes[2]]
    return rows


def fit_shared(
    values: np.ndarray, names: list[str], pairs: list[tuple[int, int]], s: SharedSettings, unit: str, progress: bool
) -> pd.DataFrame:
    d, F, P = values.shape[1], s.folds, len(pairs)
    rows = _shared_rows(values, s)
    n_train, n_val, n_test = (rows[k].shape[-1] for k in ("train", "val", "test"))
    torch.manual_seed(s.seed)
    model = _SharedModel(F, d, pairs, s, _copula_start(rows["train"].cpu(), pairs, s.features)).to(s.device)
    params = dict(model.named_parameters())
    obj = get_objective("anchor", nu=s.nu)
    optimizer = torch.optim.Adam(list(params.values()), lr=s.lr)
    average = WeightAverage(params, s.ema_decay, s.ema_warmup)
    vb = min(s.batch_size, n_val)
    nb = min(n_val // vb, max(1, MAX_VAL // vb))

    def val_loss(weights: dict[str, torch.Tensor]) -> torch.Tensor:
        f = model.features(weights, rows["val"][..., : nb * vb]).reshape(F, d, nb, vb, -1).transpose(1, 2)
        logits = torch.stack([model.logits(weights, f[:, b]) for b in range(nb)], 2)  # (F, P, nb, vb, vb)
        return obj.select(logits).mean(-1)

    def test_stats(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return _test_stats(model, weights, rows["test"], rows["seen"], min(n_test, 128))

    chosen = _Selection(F, P, s.patience, s.min_delta, s.device)
    with torch.no_grad():  # the candidates before training: the copula start, then c = 0, which must beat it
        chosen.offer(val_loss(params), test_stats(params), count=False)
        chosen.offer(obj.select(torch.zeros(F, P, nb, vb, vb, device=s.device)).mean(-1), None, count=False)
    gen = torch.Generator(device=s.device).manual_seed(s.seed)
    bar = progress_bar(total=s.max_steps, desc=f"mi_matrix ({P} pairs, shared model, {F} folds)", enabled=progress)
    for step in range(s.max_steps):
        idx = torch.rand(F, n_train, generator=gen, device=s.device).argsort(1)[:, : s.batch_size]
        batch = torch.gather(rows["train"], 2, idx[:, None, :].expand(F, d, s.batch_size))
        losses = obj.loss(model.logits(params, model.features(params, batch)))  # (F, P)
        if not torch.isfinite(losses).all():
            raise ValueError(
                f"mi_matrix: the shared model diverged at step {step} (a NaN or infinite loss); try a lower lr "
                f"(now {s.lr:g}) or method='separate'"
            )
        optimizer.zero_grad(set_to_none=True)
        torch.where(chosen.done, torch.zeros_like(losses), losses).sum().backward()
        optimizer.step()
        average.update(params, step)
        if (step + 1) % s.eval_every == 0 or step == s.max_steps - 1:
            with torch.no_grad():
                loss = val_loss(average.weights)
                chosen.offer(loss, test_stats(average.weights) if chosen.improved(loss).any() else None)
            bar.set_postfix(pairs_left=int((~chosen.done).any(0).sum()))
            if chosen.done.all():
                break
        bar.update(1)
    bar.close()
    return _shared_frame(names, pairs, chosen.stats, chosen.done, F, unit, s.max_steps), step + 1


def _shared_frame(names, pairs, stats, done, folds, unit, max_steps) -> pd.DataFrame:
    scale = UNITS[unit]
    rows = []
    stats = {k: v.cpu() for k, v in stats.items()}
    for p, (i, j) in enumerate(pairs):
        table = pd.DataFrame(
            {
                "fold": range(folds),
                "mi": stats["plug_in"][:, p].numpy(),
                "stderr": stats["stderr"][:, p].numpy(),
                "plug_in_train": stats["plug_in_train"][:, p].numpy(),
            }
        )
        interval = interval_of(table, folds, True, floor=True)
        norm = float(stats["log_norm"][:, p].mean())
        found = []
        if abs(norm) > NORM_TOLERANCE:
            found.append(f"the critic is far from normalised on new pairs (log E_q[e^c] = {norm * scale:+.2f} {unit})")
        stuck = [f + 1 for f in range(folds) if not bool(done[f, p])]
        if stuck:
            found.append(f"fold(s) {', '.join(map(str, stuck))} stopped at max_steps={max_steps}: raise max_steps")
        found += spread_check(interval, scale=scale, unit=unit)
        rows.append(
            {
                "a": names[i],
                "b": names[j],
                "mi": max(interval.mi, 0.0) * scale,
                "ci_low": max(interval.low, 0.0) * scale,
                "ci_high": max(interval.high, 0.0) * scale,
                "stderr": interval.stderr * scale,
                "mi_raw": interval.mi * scale,
                "plug_in": interval.plug_in * scale,
                "fit_gap": float((table.plug_in_train - table.mi).mean()) * scale,
                "log_norm_capped": norm * scale,
                "converged": not stuck,
                "trusted": not found,
                "warnings": "; ".join(found),
            }
        )
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)
