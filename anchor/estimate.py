"""``estimate_mi``: the plug-in MI estimate for a user's own paired samples, with its self-checks."""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ._checks import check_choice, check_device, check_float, check_int, check_seed
from ._console import progress_bar
from ._random import keeps_global_rng
from .copula import CopulaCritic, fit_copula
from .critics import CRITICS, Critic, get_critic
from .data import LN2
from .marginals import MARGINALS, MarginalMap, fit_marginals
from .objectives import OBJECTIVES, Objective, get_objective
from .tables import Table, identical_columns, paired_tables, repeated_rows
from .train import DIVERGENCE_NATS, DIVERGENCE_STEPS, divergence, evaluate

UNITS = {"nats": 1.0, "bits": 1.0 / LN2}
MAX_VAL = 4096
"""Most validation rows per fold: early stopping needs a stable loss, not all of a large data set."""
PRODUCT_PAIRS = {"separable": 1_000_000, "other": 65_536}
"""Product pairs per fold for the normalisation check: a separable critic scores them by dot
products of embeddings computed once, any other critic runs its network on every pair."""

# warning thresholds; README, "Estimating MI on your data", has the measurements behind them
NORM_TOLERANCE = 3.0
"""|log E_q[e^min(c, max joint c)]| above this many nats: the critic is far from normalised."""
SPREAD_TOLERANCE = 1.0
"""Half-width of the 95% interval above this share of the estimate: the MI is pinned down only roughly."""
REPEATED_ROWS = 0.1
"""Share of exactly repeated rows in continuous-looking data above which ``estimate_mi`` says so."""

PAPER_DEFAULTS = {"nu": 1.0}
DEFAULT_NU = 16.0
"""The anchor family's weight in ``estimate_mi`` (the paper's default is 1; README, "Estimating MI
on your data", has the measurements)."""
DEFAULT_BATCH = 64
"""Pairs per step B unless a fold has fewer training pairs (then all of them)."""
DEFAULT_CRITIC_PARAMS = {"width": 128, "depth": 2}
"""The default network of each encoder (separable) or of the joint critic in ``estimate_mi``."""


@dataclass
class Estimate:
    """An MI estimate from held-out pairs, in ``unit``, with its 95% interval and self-checks.

    Cross-fitting: every row is a test pair exactly once (``folds`` > 1), for a critic that never
    saw it. Three numbers describe the estimate:

    * ``plug_in``: the held-out plug-in, the mean critic value on test pairs averaged over folds
      (the paper's estimator). A critic fitted on finitely many rows reads low there: for a
      normalised critic E_p[c] = I - KL(p || q e^c).
    * ``mi_raw``: for plug-in objectives, the midpoint of ``plug_in`` and the same plug-in on as
      many of each critic's own training rows (``plug_in + fit_gap / 2``). To first order the
      training rows read high by as much as the test rows read low (as training and test risks
      of a model fitted by a proper scoring rule do; Takeuchi 1976), so the midpoint cancels the
      first-order term of the shared bias that no spread between folds can show. For bound
      objectives ``mi_raw`` is ``plug_in`` (the held-out bound).
    * ``mi``: ``max(mi_raw, 0)``. MI is never negative; the clipping changes nothing when
      ``mi_raw`` >= 0 and otherwise adds -mi_raw, so near MI = 0 it reads slightly high on average
      (by E[max(-mi_raw, 0)], a few hundredths of a nat at n = 1,000).

    The 95% interval (``ci_low``, ``ci_high``, clipped at 0) spans from the held-out plug-in to
    the training plug-in, each end widened by the statistical half-width: Student's t over the
    fold estimates with folds - 1 degrees of freedom (``stderr`` is their standard deviation over
    sqrt(folds), critic-to-critic variation included; with ``folds=1``, the i.i.d. interval of
    the test average). An estimate its rows cannot pin down therefore gets a wide interval. The
    README ("Estimating MI on your data") has its coverage on the benchmark suite.

    ``model`` says what the folds kept: each critic starts as the Gaussian-copula critic of its
    training rows (``anchor.copula``) and a network learns a correction; a fold keeps whichever
    of the constant critic c = 0, the copula critic and the network's checkpoints scores best
    on its validation pairs (by the objective's own held-out criterion, for the anchor a proper
    scoring rule): "gaussian copula" (every fold kept it: the rows do not support more than a
    Gaussian copula), "network", "none" (no dependence found) or a mix.

    Diagnostics, computed on each fold's test rows and averaged over folds (in ``unit``):

    * ``log_norm``: log E_q[e^c] over product pairs (x_i, y_j), i != j. The anchor's critic
      estimates the log density ratio, whose normalisation is exactly 0. A few product pairs far
      from the data, where the critic extrapolates, can dominate this average, so the check
      uses ``log_norm_capped``, the same with c capped at its largest value on the joint test
      pairs: above 0 the critic is shifted up and the plug-in reads high, below 0 it reads low.
    * ``dv`` and ``nwj``: the Donsker-Varadhan and NWJ lower bounds of the same critic,
      E_p[c] - log E_q[e^c] and E_p[c] + 1 - E_q[e^c]; for a self-normalised critic both equal
      the plug-in.
    * per fold in ``folds``: ``converged`` (stopped by patience, not by ``max_steps``),
      ``best_step`` (the step of the kept weights; -1 for c = 0 or the untrained copula
      critic), ``kept`` ("zero", "start" or "trained"), ``copula_components`` (canonical pairs
      in the copula critic), ``steps`` and ``no_dependence`` (the fold reports 0).
    * ``fit_gap``: the training plug-in minus the held-out plug-in.

    ``warnings`` lists what the checks found, only what the interval cannot show: a fold that
    stopped at ``max_steps``, a critic far from normalised (capped normalisation beyond +-3
    nats), an interval wider than the estimate itself, continuous-looking columns with many
    repeated rows, and a column of x that is a column of y (then the continuous MI is
    infinite). ``trusted`` is True when it is empty; ``str(est)`` prints the estimate and the
    first warning. ``x_columns`` and ``y_columns`` name the columns the critic saw
    (``anchor.tables``: DataFrame names, ``name=level`` for categories, ``x0, x1, ...`` for
    arrays); ``encoding`` says how each input column was encoded. ``settings`` holds the
    settings that differ from the paper's (shown by ``str``).
    """

    mi: float
    stderr: float
    ci_low: float
    ci_high: float
    n_train: int
    n_val: int
    n_test: int
    unit: str
    objective: str
    critic: str
    folds: pd.DataFrame = field(repr=False)
    history: pd.DataFrame = field(repr=False)
    mi_raw: float = math.nan
    plug_in: float = math.nan
    model: str = ""
    log_norm: float = math.nan
    log_norm_capped: float = math.nan
    fit_gap: float = math.nan
    dv: float = math.nan
    nwj: float = math.nan
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = math.nan
    x_columns: list[str] = field(default_factory=list)
    y_columns: list[str] = field(default_factory=list)
    encoding: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    critics: list[Critic | None] = field(default_factory=list, repr=False, compare=False)
    """The trained fold critics (eval mode, on the training device; None: the fold kept c = 0);
    empty when made with ``keep_critics=False``."""
    maps: list[tuple[MarginalMap, MarginalMap]] = field(default_factory=list, repr=False, compare=False)
    """Each fold's marginal maps of x and y (fitted on its training rows)."""
    test_fold: Any = field(default=None, repr=False, compare=False)
    """Per row of the data: the fold whose test part it is (-1: none, possible with folds=1)."""

    @property
    def trusted(self) -> bool:
        """True when no check raised a warning."""
        return not self.warnings

    def headline(self) -> str:
        """The estimate, its interval and settings, and what the folds kept (no warnings)."""
        extra = "".join(f", {k}={v:g}" if isinstance(v, float) else f", {k}={v}" for k, v in self.settings.items())
        line = (
            f"{self.mi:.3f} {self.unit} (95% CI {self.ci_low:.3f} to {self.ci_high:.3f}; "
            f"{self.objective}{extra}, {self.critic} critic, {len(self.folds)} fold(s), n_test={self.n_test})"
        )
        zero = int(self.folds["no_dependence"].sum()) if "no_dependence" in self.folds else 0
        if zero == len(self.folds):
            line += (
                "\nno dependence found: no fold's critic beat c = 0 on its validation pairs; the MI is below what "
                "these rows can detect (the interval is not an upper bound)"
            )
        elif zero:
            line += (
                f"\nno dependence found in {zero} of {len(self.folds)} fold(s): no critic beat c = 0 on its "
                "validation pairs"
            )
        elif self.model == "gaussian copula":
            line += (
                "\nGaussian-copula estimate: in every fold the network's refinements did not beat the Gaussian "
                "copula of the normal scores on held-out pairs, so these rows support no more than it; dependence "
                "of another shape, if any, would need more rows to show"
            )
        return line

    def __str__(self) -> str:
        line = self.headline()
        if self.warnings:
            more = len(self.warnings) - 1
            line += f"\nwarning: {self.warnings[0]}"
            if more:
                line += f"\n({more} more warning{'s' if more > 1 else ''} in est.warnings)"
        return line

    @torch.no_grad()
    def pmi(self, x: Any, y: Any, *, out_of_fold: bool = False, chunk: int = 65_536) -> np.ndarray | pd.Series:
        """Pointwise mutual information c(x_i, y_i) of each pair (row i of x with row i of y), in
        the estimate's unit, as a float64 numpy array of length n; a pandas Series named "pmi"
        with x's index when x is a DataFrame or Series. x and y are encoded as in ``estimate_mi``
        (``anchor.tables``) and must have the estimate's columns.

        Each fold's critic scores the pairs after its own marginal maps (the ones fitted on its
        training rows), and the fold critics are averaged. For a plug-in objective (the anchor
        family, NCE, chi2) the critic estimates the log density ratio log p(x, y) / (p(x) p(y))
        itself, so its values are PMIs that can be compared across different y; a bound
        objective's critic (InfoNCE, NWJ, ...) carries an unknown offset C(y) and ranks pairs
        with different y unreliably. A fold that kept the constant critic (no dependence found)
        contributes 0.

        ``out_of_fold=True`` is for the rows the estimate was fitted on, in their original
        order: each row is scored only by the critic of the fold whose test part it was, which
        never saw it (the PMIs then average to ``plug_in``). With ``folds=1`` the rows outside the
        test part have no such critic and get NaN.
        """
        if not self.critics:
            raise ValueError(
                "est.pmi needs the trained critics, but this estimate was made with keep_critics=False; "
                "rerun estimate_mi with keep_critics=True"
            )
        tx, ty, xt, yt = paired_tables(x, y)
        mx, my = self.maps[0]
        if xt.shape[1] != mx.dim or yt.shape[1] != my.dim:
            raise ValueError(
                f"x and y must have the estimate's dimensions ({mx.dim} and {my.dim} columns), "
                f"got {xt.shape[1]} and {yt.shape[1]}"
            )
        for name, given, fitted, data in (("x", tx, self.x_columns, x), ("y", ty, self.y_columns, y)):
            if isinstance(data, pd.DataFrame | pd.Series) and fitted and given.columns != fitted:
                raise ValueError(
                    f"{name} must have the columns the estimate was fitted on, {fitted}, got {given.columns} "
                    "(categorical columns need the same levels)"
                )
        chunk = check_int("chunk", chunk, low=1)
        n = xt.shape[0]
        xt, yt = xt.cpu(), yt.cpu()

        def score(k: int, rows: torch.Tensor) -> torch.Tensor:
            critic = self.critics[k]
            out = torch.zeros(len(rows), dtype=torch.float64)
            if critic is None:
                return out
            device = next(critic.parameters()).device
            fx, fy = self.maps[k]
            for i in range(0, len(rows), chunk):
                r = rows[i : i + chunk]
                out[i : i + chunk] = critic.pairs(fx(xt[r]).to(device), fy(yt[r]).to(device)).double().cpu()
            return out

        if out_of_fold:
            if self.test_fold is None or len(self.test_fold) != n:
                size = "unknown" if self.test_fold is None else len(self.test_fold)
                raise ValueError(
                    f"out_of_fold=True scores the rows the estimate was fitted on ({size} rows), got {n} rows"
                )
            values = torch.full((n,), math.nan, dtype=torch.float64)
            fold_of = torch.as_tensor(self.test_fold)
            for k in range(len(self.critics)):
                rows = torch.nonzero(fold_of == k).flatten()
                values[rows] = score(k, rows)
        else:
            every = torch.arange(n)
            values = torch.stack([score(k, every) for k in range(len(self.critics))]).mean(0)
        out = (values * UNITS[self.unit]).numpy()
        for data in (x, y):
            if isinstance(data, pd.DataFrame | pd.Series):
                return pd.Series(out, index=data.index, name="pmi")
        return out


class EstimateWarning(UserWarning):
    """``estimate_mi`` finished but its self-checks say the estimate may be off."""


class EstimateError(RuntimeError):
    """``estimate_mi`` could not train or evaluate the critic of one fold.

    ``fold`` is the failed fold (0-based), ``folds`` the per-fold table of the folds that did
    finish (as ``Estimate.folds``, nats), ``history`` the training history up to the failure (nats).
    """

    def __init__(self, message: str, *, fold: int, folds: pd.DataFrame, history: pd.DataFrame) -> None:
        super().__init__(message)
        self.fold = fold
        self.folds = folds
        self.history = history


def _fold_indices(
    n: int, folds: int, val_fraction: float, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(train, val, test) row indices per fold; with folds > 1 the test parts partition the rows.
    Validation takes ``val_fraction`` of the non-test rows, at most ``MAX_VAL``."""
    perm = torch.randperm(n, generator=generator)
    parts = [perm[: round(n * 0.2)]] if folds == 1 else list(perm.tensor_split(folds))
    out = []
    for k, test in enumerate(parts):
        rest = perm[len(test) :] if folds == 1 else torch.cat([p for i, p in enumerate(parts) if i != k])
        n_val = min(round(len(rest) * val_fraction), MAX_VAL)
        out.append((rest[n_val:], rest[:n_val], test))
    if min(len(idx) for fold in out for idx in fold) < 2:
        raise ValueError(
            f"x and y need more rows: {n} rows with folds={folds} and val_fraction={val_fraction} leave a "
            "train, validation or test part with fewer than 2 pairs"
        )
    return out


class _FoldBatches:
    """Per fold, minibatches of distinct training rows: each fold's rows in a fresh random order
    every epoch, so no row appears twice in a batch (a repeated row would put a joint pair among
    the product pairs). Returns (folds, B) row positions into the padded (folds, rows, d) data."""

    def __init__(self, sizes: list[int], batch_size: int, generator: torch.Generator, device: torch.device) -> None:
        self.sizes = torch.tensor(sizes, device=device)
        self.batch_size, self.generator, self.device = batch_size, generator, device
        self.per_epoch = min(sizes) // batch_size
        self.cursor = self.per_epoch

    def __call__(self) -> torch.Tensor:
        if self.cursor == self.per_epoch:
            keys = torch.rand(len(self.sizes), int(self.sizes.max()), generator=self.generator, device=self.device)
            keys[torch.arange(keys.shape[1], device=self.device)[None, :] >= self.sizes[:, None]] = 2.0
            self.order, self.cursor = keys.argsort(dim=1), 0
        start = self.cursor * self.batch_size
        self.cursor += 1
        return self.order[:, start : start + self.batch_size]


def _padded(parts: list[torch.Tensor]) -> torch.Tensor:
    """Stack (n_k, d) tensors into (folds, max n_k, d), padding with zeros."""
    out = parts[0].new_zeros(len(parts), max(p.shape[0] for p in parts), parts[0].shape[1])
    for k, p in enumerate(parts):
        out[k, : p.shape[0]] = p
    return out


def _val_blocks(val: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each fold's validation rows as (folds, nb, vb, d) blocks of vb = min(B, n_val) rows (the same
    number for every fold; rows beyond nb * vb are left out)."""
    n_val = min(v[0].shape[0] for v in val)
    vb = min(batch_size, n_val)
    nb = n_val // vb
    vx = torch.stack([v[0][: nb * vb].reshape(nb, vb, -1) for v in val])
    vy = torch.stack([v[1][: nb * vb].reshape(nb, vb, -1) for v in val])
    return vx, vy


def _held_out_select(obj: Objective, logits: torch.Tensor) -> float:
    """The objective's selection criterion (lower is better) averaged over a (nb, vb, vb) stack."""
    if obj.batched:
        return float(obj.select(logits).mean())
    return float(torch.stack([obj.select(logits[b]) for b in range(logits.shape[0])]).mean())


def _train_folds(
    train: list[tuple[torch.Tensor, torch.Tensor]],
    val: list[tuple[torch.Tensor, torch.Tensor]],
    nets: list[Critic],
    objs: list[Objective],
    *,
    batch_size: int,
    lr: float,
    max_steps: int,
    eval_every: int,
    patience: int,
    ema_decay: float | None,
    ema_warmup: int,
    seed: int,
    device: torch.device,
    progress: bool,
    desc: str,
    start_candidate: bool = False,
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Train one critic per fold, all folds at once as one batched ensemble (``torch.func``).

    Each fold draws its own minibatches from its own training rows; the fold critics share no
    weights, and their losses are summed only so that one backward pass serves them all (Adam
    acts on each weight separately). Every ``eval_every`` steps the averaged weights are scored
    on each fold's validation rows with the objective's selection criterion (``select``); a fold
    stops improving after ``patience`` evaluations, and the run ends when every fold has
    stopped or at ``max_steps``. With ``start_candidate`` the untrained critics are scored first
    (step -1), so a fold keeps them when no trained checkpoint beats them. Returns per fold:
    best weights, best step, steps trained,
    whether it converged and its history; and the folds that diverged, with the reason.
    """
    F = len(nets)
    params, buffers = torch.func.stack_module_state(nets)
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    base = copy.deepcopy(nets[0]).to("meta")

    def one(p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(base, (p, b), (x, y))

    forward = torch.vmap(one)  # (F, B, dx), (F, B, dy) -> (F, B, B)
    forward_blocks = torch.vmap(torch.vmap(one, in_dims=(None, None, 0, 0)))  # (F, nb, vb, d) -> (F, nb, vb, vb)
    optimizer = torch.optim.Adam(list(params.values()), lr=lr)
    average = None if ema_decay is None else {k: v.detach().clone() for k, v in params.items()}

    tx, ty = _padded([t[0] for t in train]), _padded([t[1] for t in train])
    vx, vy = _val_blocks(val, batch_size)
    nb, vb = vx.shape[1], vx.shape[2]
    generator = torch.Generator(device=device).manual_seed(seed)
    batches = _FoldBatches([t[0].shape[0] for t in train], batch_size, generator, device)
    rows = torch.arange(F, device=device)[:, None]
    plug_in = all(o.kind == "plug-in" for o in objs)

    best = [{"loss": math.inf, "step": -1, "state": None, "since": 0, "done": False} for _ in range(F)]
    if plug_in:  # the constant critic c = 0 (independence, estimate 0) is the first candidate to beat
        zeros = torch.zeros(nb, vb, vb, device=device)
        for f in range(F):
            best[f].update(loss=_held_out_select(objs[f], zeros), state="zero")
    failed: dict[int, str] = {}
    streak = [0] * F
    finite = [0] * F  # finite validation losses seen per fold
    steps_log: list[list[float]] = [[] for _ in range(F)]
    evals: list[list[dict[str, float]]] = [[] for _ in range(F)]
    active = torch.ones(F, dtype=torch.bool, device=device)

    def validate(step: int) -> None:
        weights = params if average is None else average
        with torch.no_grad():
            logits = forward_blocks({k: v.detach() for k, v in weights.items()}, buffers, vx, vy)
        for f in range(F):
            if f in failed:
                continue
            loss = _held_out_select(objs[f], logits[f])
            if objs[f].batched:
                value = float(objs[f].estimate(logits[f]).mean())
            else:
                value = float(torch.stack([objs[f].estimate(logits[f, b]) for b in range(nb)]).mean())
            evals[f].append({"step": step, "val_loss": loss, "val_estimate": value})
            finite[f] += math.isfinite(loss)
            state = best[f]
            if state["done"]:
                continue
            if loss < state["loss"]:
                state.update(
                    loss=loss, step=step, since=0, state={k: v[f].detach().clone() for k, v in weights.items()}
                )
            else:
                state["since"] += 1
            state["done"] = state["since"] >= patience

    if start_candidate:  # the untrained critic (the Gaussian-copula start) is the next candidate
        validate(-1)
    bar = progress_bar(total=max_steps, desc=desc, enabled=progress)
    step = -1
    for step in range(max_steps):
        idx = batches()
        logits = forward(params, buffers, tx[rows, idx], ty[rows, idx])
        if objs[0].batched:
            losses = objs[0].loss(logits)
        else:
            losses = torch.stack([objs[f].loss(logits[f]) for f in range(F)])
        with torch.no_grad():
            flat = logits.detach()
            if plug_in:
                values = flat.diagonal(dim1=1, dim2=2).mean(1)
            else:
                values = torch.stack([objs[f].estimate(flat[f]) for f in range(F)])
        loss_list, value_list = losses.tolist(), values.tolist()
        for f in range(F):
            if f in failed:
                continue
            steps_log[f].append((step, value_list[f], loss_list[f]))
            streak[f] = streak[f] + 1 if abs(value_list[f]) > DIVERGENCE_NATS else 0
            reason = divergence(loss_list[f], value_list[f], streak[f], DIVERGENCE_NATS, DIVERGENCE_STEPS)
            if reason is not None:
                failed[f] = f"diverged at step {step}: {reason}"
                active[f] = False
                best[f]["done"] = True
        if len(failed) == F:
            break
        optimizer.zero_grad(set_to_none=True)
        torch.where(active, losses, torch.zeros_like(losses)).sum().backward()
        optimizer.step()
        if average is not None:
            decay = min(ema_decay, (1.0 + step) / (ema_warmup + step)) if ema_warmup else ema_decay
            with torch.no_grad():
                torch._foreach_lerp_(list(average.values()), [p.detach() for p in params.values()], 1.0 - decay)
        if (step + 1) % eval_every == 0 or step == max_steps - 1:
            validate(step)
            if all(b["done"] for b in best):
                break
        if progress and step % 50 == 0:
            bar.set_postfix(estimate=f"{sum(value_list) / F:.3f}", folds_left=sum(not b["done"] for b in best))
        bar.update(1)
    bar.close()

    out = []
    for f in range(F):
        history = pd.DataFrame(steps_log[f], columns=["step", "estimate", "loss"])
        history = history.merge(
            pd.DataFrame(evals[f], columns=["step", "val_loss", "val_estimate"]), on="step", how="left"
        )
        history["best_step"] = best[f]["step"]
        if f not in failed and (best[f]["state"] is None or not finite[f]):
            failed[f] = f"every validation loss was NaN or infinite ({len(evals[f])} evaluations)"
        out.append(
            {
                "state": best[f]["state"],
                "best_step": best[f]["step"],
                "steps": step + 1,
                "converged": best[f]["since"] >= patience,
                "kept": "zero" if best[f]["state"] == "zero" else "start" if best[f]["step"] == -1 else "trained",
                "history": history,
            }
        )
    return out, failed


@torch.no_grad()
def _product_pairs(critic: Critic, x: torch.Tensor, y: torch.Tensor, budget: int, generator: torch.Generator):
    """Critic values on up to ``budget`` product pairs (x_i, y_j), i != j, of the test rows: all
    off-diagonal pairs within blocks of rows (as many blocks as the budget allows)."""
    n = x.shape[0]
    block = min(n, 256 if critic.separable else 64)
    blocks = max(1, min(n // block, budget // (block * (block - 1))))
    order = torch.randperm(n, generator=generator)[: blocks * block].to(x.device)
    off = ~torch.eye(block, dtype=torch.bool, device=x.device)
    values = [critic(x[idx], y[idx])[off] for idx in order.reshape(blocks, block)]
    return torch.cat(values).double()


@torch.no_grad()
def _test_fold(critic: Critic, obj: Objective, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator) -> dict:
    """The fold's estimate on its test rows and the critic's self-checks there (nats)."""
    held = evaluate(critic, obj, x, y, batch_size=min(batch_size, x.shape[0]))
    chunk = 65_536
    joint = torch.cat([critic.pairs(x[i : i + chunk], y[i : i + chunk]) for i in range(0, x.shape[0], chunk)]).double()
    budget = PRODUCT_PAIRS["separable" if critic.separable else "other"]
    product = _product_pairs(critic, x, y, budget, generator)
    plug = float(joint.mean())
    log_norm = float(torch.logsumexp(product, 0) - math.log(product.numel()))
    capped = product.clamp(max=float(joint.max()))
    log_norm_capped = float(torch.logsumexp(capped, 0) - math.log(capped.numel()))
    return {
        "mi": held.mi,
        "stderr": held.stderr,
        "plug_in": plug,
        "log_norm": log_norm,
        "log_norm_capped": log_norm_capped,
        "dv": plug - log_norm,
        "nwj": plug + 1.0 - math.exp(min(log_norm, 700.0)),
        "n_test": x.shape[0],
    }


def _checks(
    table: pd.DataFrame, interval: Interval, objective: Objective, max_steps: int, *, scale: float, unit: str
) -> list[str]:
    """What the critic's self-checks found that the interval does not show (see ``Estimate``);
    thresholds: the module's ``*_TOLERANCE``. Values are given in ``unit`` (nats times ``scale``)."""
    found = []
    if objective.kind == "plug-in":
        norm = float(table.log_norm_capped.mean())
        if abs(norm) > NORM_TOLERANCE:
            found.append(
                f"the critic is far from normalised on new pairs (log E_q[e^c] = {norm * scale:+.2f} {unit} with c "
                f"capped at its largest value on joint pairs, beyond +-{NORM_TOLERANCE * scale:g}): it is not the log "
                "density ratio and the plug-in may be off either way; heavy tails do this"
            )
    stuck = table.index[~table.converged].tolist()
    if stuck:
        found.append(
            f"fold(s) {', '.join(str(k + 1) for k in stuck)} stopped at max_steps={max_steps} before the validation "
            "loss stopped improving: raise max_steps"
        )
    half = (interval.high - interval.low) / 2
    if math.isfinite(half) and half > SPREAD_TOLERANCE * max(interval.mi, 0.1):
        found.append(
            f"the 95% interval ({max(interval.low, 0) * scale:.3f} to {max(interval.high, 0) * scale:.3f} {unit}) is "
            "wider than the estimate itself: these rows pin the MI down only roughly; more rows would narrow it"
        )
    return found


def _data_checks(tx: Table, ty: Table, rows: int) -> list[str]:
    """Warnings about the data itself: a continuous-looking column shared by x and y (infinite
    MI), and continuous-looking columns with many exactly repeated rows."""
    found = []
    same = identical_columns(tx, ty)
    if same:
        pairs = ", ".join(f"x {a!r} and y {b!r}" for a, b in same[:3])
        found.append(
            f"{pairs} hold the same continuous variable (equal ranks): its MI with itself is infinite, so the "
            "estimate grows without bound with the rows and training; drop the shared column from one side"
        )
    repeated = repeated_rows(tx, ty)
    if repeated > REPEATED_ROWS:
        distinct = round(rows * (1 - repeated))
        found.append(
            f"{repeated:.0%} of the rows repeat an earlier row exactly although every column looks continuous: the "
            f"estimate measures the MI of these {distinct} distinct rows as drawn with their repeats (the critics "
            f"see the same rows in training and test, up to log {distinct} = {math.log(distinct):.2f} nats), not of "
            "a continuous source they may come from; if the repeats are an accident (oversampling, concatenated "
            "copies), drop them first (DataFrame.drop_duplicates or numpy.unique(..., axis=0))"
        )
    return found


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
            estimate beyond +-``anchor.DIVERGENCE_NATS`` for ``anchor.DIVERGENCE_STEPS`` steps in a
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

    parts = _fold_indices(xt.shape[0], folds, val_fraction, torch.Generator().manual_seed(seed))
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
    nets = []
    for k in range(folds):
        torch.manual_seed(seed + k)  # the critic's initial weights
        nets.append(get_critic(critic, xt.shape[1], yt.shape[1], **critic_params).to(device))
    objs = [get_objective(objective, **objective_params) for _ in range(folds)]
    train = [(data[k][0][p[0].to(device)], data[k][1][p[0].to(device)]) for k, p in enumerate(parts)]
    val = [(data[k][0][p[1].to(device)], data[k][1][p[1].to(device)]) for k, p in enumerate(parts)]
    use_copula = objs[0].kind == "plug-in" if copula is None else bool(copula)
    if use_copula:
        vx, vy = _val_blocks(val, batch_size)
        for k in range(folds):
            fit = fit_copula(*train[k], vx[k], vy[k], partial(_held_out_select, objs[k]))
            nets[k] = CopulaCritic(nets[k], fit).to(device)
    trained, failed = _train_folds(
        train,
        val,
        nets,
        objs,
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        eval_every=eval_every,
        patience=patience,
        ema_decay=ema_decay,
        ema_warmup=ema_warmup,
        seed=seed,
        device=device,
        progress=progress,
        desc=f"estimate_mi ({name}, {critic} critic, {folds} fold(s))",
        start_candidate=use_copula,
    )
    history = pd.concat([t["history"].assign(fold=k) for k, t in enumerate(trained)], ignore_index=True)
    table = _test_folds(trained, failed, parts, nets, objs, data, batch_size, torch.Generator().manual_seed(seed))
    if failed:
        raise _failure(failed, table, history, folds=folds, name=name, critic=critic, lr=lr,
                       objective=objective, marginals=marginals)  # fmt: skip

    plug_in_objective = objs[0].kind == "plug-in"
    interval = _interval(table, folds, plug_in_objective)
    scale = UNITS[unit]
    found = _checks(table, interval, objs[0], max_steps, scale=scale, unit=unit)
    found += _data_checks(tx, ty, xt.shape[0])
    shown = table.copy()
    for column in ("mi", "stderr", "plug_in", "plug_in_train", "log_norm", "log_norm_capped", "dv", "nwj"):
        shown[column] = shown[column] * scale
    est = Estimate(
        mi=max(interval.mi, 0.0) * scale,
        stderr=interval.stderr * scale,
        ci_low=max(interval.low, 0.0) * scale,
        ci_high=max(interval.high, 0.0) * scale,
        n_train=n_train,
        n_val=min(len(p[1]) for p in parts),
        n_test=sum(len(p[2]) for p in parts),
        unit=unit,
        objective=name,
        critic=critic,
        folds=shown,
        history=history,
        mi_raw=interval.mi * scale,
        plug_in=interval.plug_in * scale,
        model=_model_kept(table),
        log_norm=float(table.log_norm.mean()) * scale,
        log_norm_capped=float(table.log_norm_capped.mean()) * scale,
        fit_gap=float((table.plug_in_train - table.plug_in).mean()) * scale,
        dv=float(table.dv.mean()) * scale,
        nwj=float(table.nwj.mean()) * scale,
        warnings=found,
        settings=settings,
        seconds=time.perf_counter() - start,
        x_columns=tx.columns,
        y_columns=ty.columns,
        encoding={"x": tx.encoding, "y": ty.encoding},
    )
    if keep_critics:
        _keep_critics(est, table, nets, maps, parts, xt.shape[0])
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
    if "nu" in inspect.signature(OBJECTIVES[objective]).parameters and "nu" not in objective_params:
        objective_params["nu"] = DEFAULT_NU  # the anchor family's weight; see estimate_mi's docstring
    if objective_params.get("nu", PAPER_DEFAULTS["nu"]) != PAPER_DEFAULTS["nu"]:
        settings["nu"] = float(objective_params["nu"])
    accepted = inspect.signature(CRITICS[critic]).parameters
    defaults = {k: v for k, v in DEFAULT_CRITIC_PARAMS.items() if k in accepted}
    return objective_params, {**defaults, **(critic_params or {})}, settings


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


FOLD_COLUMNS = ["fold", "mi", "stderr", "plug_in", "plug_in_train", "log_norm", "log_norm_capped", "dv", "nwj",
                "n_test", "best_step", "steps", "converged", "no_dependence", "kept", "copula_components"]  # fmt: skip


def _test_folds(
    trained: list[dict], failed: dict[int, str], parts: list, nets: list, objs: list, data: dict, batch_size: int,
    generator: torch.Generator,
) -> pd.DataFrame:  # fmt: skip
    """Each trained fold's critic on its test rows (and its plug-in on as many of its training
    rows, for the fit gap): one row per fold that did not fail. A fold whose test estimate is
    not finite or beyond ``DIVERGENCE_NATS`` is added to ``failed``."""
    rows = []
    for k, (result, (train_idx, _, test_idx)) in enumerate(zip(trained, parts, strict=True)):
        if k in failed:
            continue
        device = data[k][0].device
        if result["state"] == "zero":  # no checkpoint beat c = 0 on the validation pairs
            test = {key: 0.0 for key in ("mi", "stderr", "plug_in", "plug_in_train", "log_norm", "log_norm_capped",
                                         "dv", "nwj")}  # fmt: skip
            test["n_test"] = len(test_idx)
        else:
            nets[k].load_state_dict({**dict(nets[k].named_buffers()), **result["state"]})  # buffers: fixed per fold
            nets[k].eval()
            test = _test_fold(nets[k], objs[k], data[k][0][test_idx.to(device)], data[k][1][test_idx.to(device)],
                              batch_size, generator)  # fmt: skip
            seen = train_idx[: len(test_idx)].to(device)  # as many training rows as test rows
            with torch.no_grad():
                test["plug_in_train"] = float(nets[k].pairs(data[k][0][seen], data[k][1][seen]).double().mean())
        if not math.isfinite(test["mi"]) or abs(test["mi"]) > DIVERGENCE_NATS:
            failed[k] = f"read {test['mi']:.3g} nats on its test rows"
            continue
        rows.append({"fold": k, **test, "best_step": result["best_step"], "steps": result["steps"],
                     "converged": result["converged"], "no_dependence": result["state"] == "zero",
                     "kept": result["kept"], "copula_components": getattr(nets[k], "components", -1)})  # fmt: skip
    return pd.DataFrame(rows, columns=FOLD_COLUMNS)


def _failure(
    failed: dict[int, str], table: pd.DataFrame, history: pd.DataFrame, *, folds: int, name: str, critic: str,
    lr: float, objective: str, marginals: str,
) -> EstimateError:  # fmt: skip
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


@dataclass(frozen=True)
class Interval:
    """The estimate and its 95% interval in nats, before clipping at 0 (see ``Estimate``)."""

    plug_in: float
    mi: float
    stderr: float
    low: float
    high: float


def _interval(table: pd.DataFrame, folds: int, plug_in_objective: bool) -> Interval:
    """The estimate and its 95% interval (nats).

    The statistical part is Student's t over the fold estimates (or, with one fold, the normal
    interval of its test pairs). For a plug-in objective the estimate is the midpoint of the
    held-out plug-in and the plug-in on as many of each critic's own training rows, and the
    interval spans from the held-out value to the training value, each widened by the
    statistical half-width: to first order the two err by the same amount in opposite
    directions (``Estimate``)."""
    if folds == 1:
        stderr = float(table.stderr.iloc[0])
        t = float(stats.norm.ppf(0.975))
    else:
        stderr = float(table.mi.std()) / math.sqrt(folds)
        t = float(stats.t.ppf(0.975, folds - 1))
    held_out = float(table.mi.mean())
    if not plug_in_objective:
        return Interval(held_out, held_out, stderr, held_out - t * stderr, held_out + t * stderr)
    seen = float(table.plug_in_train.mean())
    return Interval(
        held_out, (held_out + seen) / 2, stderr, min(held_out, seen) - t * stderr, max(held_out, seen) + t * stderr
    )


def _keep_critics(est: Estimate, table: pd.DataFrame, nets: list, maps: list, parts: list, n: int) -> None:
    """Attach what ``Estimate.pmi`` needs: the fold critics (None for a fold that kept c = 0), the
    marginal maps and each row's test fold."""
    kept = {int(k) for k in table.fold[~table.no_dependence]}
    est.critics = [nets[k] if k in kept else None for k in range(len(nets))]
    est.maps = maps
    test_fold = np.full(n, -1, dtype=np.int16)
    for k, (_, _, test_idx) in enumerate(parts):
        test_fold[test_idx.numpy()] = k
    est.test_fold = test_fold
