"""The cross-fitted folds of ``estimate_mi``: split the rows, train one critic per fold as one
batched ensemble, and score each fold's critic on its own test rows."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import pandas as pd
import torch

from ._console import progress_bar
from .critics import Critic
from .objectives import Objective
from .train import DIVERGENCE_NATS, DivergenceMonitor, EarlyStopping, WeightAverage, evaluate

MAX_VAL = 4096
"""Most validation rows per fold: early stopping needs a stable loss, not all of a large data set."""
PRODUCT_PAIRS = {"separable": 1_000_000, "other": 65_536}
"""Product pairs per fold for the normalisation check: a separable critic scores them by dot
products of embeddings computed once, any other critic runs its network on every pair."""


def fold_indices(
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


class FoldBatches:
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


def padded(parts: list[torch.Tensor]) -> torch.Tensor:
    """Stack (n_k, d) tensors into (folds, max n_k, d), padding with zeros."""
    out = parts[0].new_zeros(len(parts), max(p.shape[0] for p in parts), parts[0].shape[1])
    for k, p in enumerate(parts):
        out[k, : p.shape[0]] = p
    return out


def val_blocks(val: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each fold's validation rows as (folds, nb, vb, d) blocks of vb = min(B, n_val) rows (the same
    number for every fold; rows beyond nb * vb are left out)."""
    n_val = min(v[0].shape[0] for v in val)
    vb = min(batch_size, n_val)
    nb = n_val // vb
    vx = torch.stack([v[0][: nb * vb].reshape(nb, vb, -1) for v in val])
    vy = torch.stack([v[1][: nb * vb].reshape(nb, vb, -1) for v in val])
    return vx, vy


def held_out_select(obj: Objective, logits: torch.Tensor) -> float:
    """The objective's selection criterion (lower is better) averaged over a (nb, vb, vb) stack."""
    if obj.batched:
        return float(obj.select(logits).mean())
    return float(torch.stack([obj.select(logits[b]) for b in range(logits.shape[0])]).mean())


@dataclass
class FoldResult:
    """What training left in one fold: the weights it kept (None for c = 0), what they are
    (``kept``: "zero" for c = 0, "start" for the untrained critic, "trained" for a checkpoint),
    the step they come from (-1 for the first two), the steps trained, whether early stopping
    ended the fold (``converged``), its per-step history and, if it failed, why."""

    weights: dict[str, torch.Tensor] | None
    kept: str
    best_step: int
    steps: int
    converged: bool
    history: pd.DataFrame
    failure: str | None = None


@dataclass(frozen=True)
class TrainSettings:
    """How ``train_folds`` trains (``estimate_mi``'s arguments of the same names)."""

    batch_size: int
    lr: float
    max_steps: int
    eval_every: int
    patience: int
    ema_decay: float | None
    ema_warmup: int
    seed: int
    device: torch.device


class _Ensemble:
    """One critic per fold, trained at once as a batched ensemble (``torch.func``), each fold
    watched by its own early stopping and divergence monitor."""

    def __init__(self, train: list, val: list, nets: list[Critic], objs: list[Objective], s: TrainSettings) -> None:
        self.objs, self.s, self.folds = objs, s, len(nets)
        params, self.buffers = torch.func.stack_module_state(nets)
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        base = copy.deepcopy(nets[0]).to("meta")

        def one(p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(base, (p, b), (x, y))

        self.forward = torch.vmap(one)  # (F, B, dx), (F, B, dy) -> (F, B, B)
        # (F, nb, vb, d) validation blocks -> (F, nb, vb, vb) logits
        self.forward_blocks = torch.vmap(torch.vmap(one, in_dims=(None, None, 0, 0)))
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=s.lr)
        self.average = None if s.ema_decay is None else WeightAverage(self.params, s.ema_decay, s.ema_warmup)
        self.tx, self.ty = padded([t[0] for t in train]), padded([t[1] for t in train])
        self.vx, self.vy = val_blocks(val, s.batch_size)
        generator = torch.Generator(device=s.device).manual_seed(s.seed)
        self.batches = FoldBatches([t[0].shape[0] for t in train], s.batch_size, generator, s.device)
        self.rows = torch.arange(self.folds, device=s.device)[:, None]
        self.plug_in = all(o.kind == "plug-in" for o in objs)
        self.stops = [EarlyStopping(s.patience) for _ in range(self.folds)]
        self.monitors = [DivergenceMonitor() for _ in range(self.folds)]
        self.failed: dict[int, str] = {}
        self.finite = [0] * self.folds  # finite validation losses seen per fold
        self.steps: list[list[tuple[int, float, float]]] = [[] for _ in range(self.folds)]
        self.evals: list[list[dict[str, float]]] = [[] for _ in range(self.folds)]
        self._live_list: list[int] = []
        self._live = torch.arange(0)

    def offer_zero(self) -> None:
        """The constant critic c = 0 (independence, estimate 0): the first candidate to beat."""
        nb, vb = self.vx.shape[1], self.vx.shape[2]
        zeros = torch.zeros(nb, vb, vb, device=self.s.device)
        for f in range(self.folds):
            self.stops[f].offer(held_out_select(self.objs[f], zeros), -1, "zero", lambda: None)

    def validate(self, step: int) -> None:
        """Score the (averaged) weights on every fold's validation blocks; offer them to its early
        stopping (step -1: the untrained critics, kept as "start")."""
        weights = self.params if self.average is None else self.average.weights
        with torch.no_grad():
            logits = self.forward_blocks({k: v.detach() for k, v in weights.items()}, self.buffers, self.vx, self.vy)
        kind = "start" if step == -1 else "trained"
        for f in range(self.folds):
            if f in self.failed:
                continue
            obj = self.objs[f]
            loss = held_out_select(obj, logits[f])
            if obj.batched:
                value = float(obj.estimate(logits[f]).mean())
            else:
                value = float(torch.stack([obj.estimate(logits[f, b]) for b in range(logits.shape[1])]).mean())
            self.evals[f].append({"step": step, "val_loss": loss, "val_estimate": value})
            self.finite[f] += math.isfinite(loss)
            self.stops[f].offer(loss, step, kind, lambda f=f: {k: v[f].detach().clone() for k, v in weights.items()})

    def live(self) -> torch.Tensor:
        """The members still training (neither failed nor stopped by patience), as indices."""
        alive = [f for f in range(self.folds) if f not in self.failed and not self.stops[f].done]
        if alive != self._live_list:
            self._live_list = alive
            self._live = torch.tensor(alive, dtype=torch.long, device=self.s.device)
        return self._live

    def train_step(self, step: int) -> list[float]:
        """One optimiser step of every member still training; returns each live member's batch
        estimate. Stopped and failed members are left out of the computation (their kept
        weights are already copied), so an ensemble gets cheaper as its members stop."""
        idx = self.batches()
        live = self.live()
        members = self._live_list
        if not members:
            return []
        if len(members) == self.folds:
            params, buffers, rows = self.params, self.buffers, self.rows
        else:
            params = {k: v[live] for k, v in self.params.items()}
            buffers = {k: v[live] for k, v in self.buffers.items()}
            rows, idx = live[:, None], idx[live]
        logits = self.forward(params, buffers, self.tx[rows, idx], self.ty[rows, idx])
        objs = [self.objs[f] for f in members]
        if objs[0].batched:
            losses = objs[0].loss(logits)
        else:
            losses = torch.stack([objs[i].loss(logits[i]) for i in range(len(members))])
        with torch.no_grad():
            flat = logits.detach()
            if self.plug_in:
                values = flat.diagonal(dim1=1, dim2=2).mean(1)
            else:
                values = torch.stack([objs[i].estimate(flat[i]) for i in range(len(members))])
        loss_list, value_list = losses.tolist(), values.tolist()
        ok = []
        for i, f in enumerate(members):
            self.steps[f].append((step, value_list[i], loss_list[i]))
            reason = self.monitors[f].check(loss_list[i], value_list[i])
            if reason is not None:
                self.failed[f] = f"diverged at step {step}: {reason}"
                self.stops[f].done = True
            ok.append(reason is None)
        if not any(ok):
            return value_list
        self.optimizer.zero_grad(set_to_none=True)
        mask = torch.tensor(ok, device=losses.device)
        torch.where(mask, losses, torch.zeros_like(losses)).sum().backward()
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.params, step)
        return value_list

    def results(self, steps: int) -> list[FoldResult]:
        out = []
        for f, stop in enumerate(self.stops):
            history = pd.DataFrame(self.steps[f], columns=["step", "estimate", "loss"])
            history = history.merge(
                pd.DataFrame(self.evals[f], columns=["step", "val_loss", "val_estimate"]), on="step", how="left"
            )
            history["best_step"] = stop.step
            failure = self.failed.get(f)
            if failure is None and (not stop.kind or not self.finite[f]):
                failure = f"every validation loss was NaN or infinite ({len(self.evals[f])} evaluations)"
            weights = stop.weights if stop.kind != "zero" else None
            out.append(FoldResult(weights, stop.kind or "start", stop.step, steps, stop.converged, history, failure))
        return out


def train_folds(
    train: list[tuple[torch.Tensor, torch.Tensor]],
    val: list[tuple[torch.Tensor, torch.Tensor]],
    nets: list[Critic],
    objs: list[Objective],
    settings: TrainSettings,
    *,
    progress: bool,
    desc: str,
    start_candidate: bool = False,
) -> list[FoldResult]:
    """Train one critic per fold, all folds at once as one batched ensemble (``torch.func``).

    Each fold draws its own minibatches from its own training rows; the fold critics share no
    weights, and their losses are summed only so that one backward pass serves them all (Adam
    acts on each weight separately). Every ``eval_every`` steps the averaged weights are scored
    on each fold's validation rows with the objective's selection criterion (``select``); a fold
    stops improving after ``patience`` evaluations, and the run ends when every fold has
    stopped or at ``max_steps``. For plug-in objectives c = 0 is the first candidate; with
    ``start_candidate`` the untrained critics are scored next (step -1), so a fold keeps them
    when no trained checkpoint beats them.
    """
    s = settings
    ensemble = _Ensemble(train, val, nets, objs, s)
    if ensemble.plug_in:
        ensemble.offer_zero()
    if start_candidate:  # the untrained critic (the Gaussian-copula start) is the next candidate
        ensemble.validate(-1)
    bar = progress_bar(total=s.max_steps, desc=desc, enabled=progress)
    step = -1
    for step in range(s.max_steps):
        values = ensemble.train_step(step)
        if len(ensemble.failed) == ensemble.folds:
            break
        if (step + 1) % s.eval_every == 0 or step == s.max_steps - 1:
            ensemble.validate(step)
            if all(stop.done for stop in ensemble.stops):
                break
        if progress and step % 50 == 0:
            left = sum(not stop.done for stop in ensemble.stops)
            bar.set_postfix(estimate=f"{sum(values) / max(len(values), 1):.3f}", folds_left=left)
        bar.update(1)
    bar.close()
    return ensemble.results(step + 1)


@torch.no_grad()
def product_pairs(critic: Critic, x: torch.Tensor, y: torch.Tensor, budget: int, generator: torch.Generator):
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
def test_fold(critic: Critic, obj: Objective, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator) -> dict:
    """The fold's estimate on its test rows and the critic's self-checks there (nats)."""
    held = evaluate(critic, obj, x, y, batch_size=min(batch_size, x.shape[0]))
    chunk = 65_536
    joint = torch.cat([critic.pairs(x[i : i + chunk], y[i : i + chunk]) for i in range(0, x.shape[0], chunk)]).double()
    budget = PRODUCT_PAIRS["separable" if critic.separable else "other"]
    product = product_pairs(critic, x, y, budget, generator)
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


MI_COLUMNS = ("mi", "stderr", "plug_in", "plug_in_train", "log_norm", "log_norm_capped", "dv", "nwj")
"""The columns of the fold table that hold an MI-valued quantity (nats here; the estimate's unit in
``Estimate.folds``)."""

FOLD_COLUMNS = [
    "fold",
    "mi",
    "stderr",
    "plug_in",
    "plug_in_train",
    "log_norm",
    "log_norm_capped",
    "dv",
    "nwj",
    "n_test",
    "best_step",
    "steps",
    "converged",
    "no_dependence",
    "kept",
    "copula_components",
]


def test_folds(
    trained: list[FoldResult],
    failed: dict[int, str],
    parts: list,
    nets: list,
    objs: list,
    data: dict,
    batch_size: int,
    generator: torch.Generator,
) -> pd.DataFrame:
    """Each trained fold's critic on its test rows (and its plug-in on as many of its training
    rows, for the fit gap): one row per fold that did not fail. A fold whose test estimate is
    not finite or beyond ``DIVERGENCE_NATS`` is added to ``failed``."""
    rows = []
    for k, (result, (train_idx, _, test_idx)) in enumerate(zip(trained, parts, strict=True)):
        if k in failed:
            continue
        device = data[k][0].device
        if result.kept == "zero":  # no checkpoint beat c = 0 on the validation pairs
            test = dict.fromkeys(MI_COLUMNS, 0.0)
            test["n_test"] = len(test_idx)
        else:
            nets[k].load_state_dict({**dict(nets[k].named_buffers()), **result.weights})  # buffers: fixed per fold
            nets[k].eval()
            test = test_fold(
                nets[k],
                objs[k],
                data[k][0][test_idx.to(device)],
                data[k][1][test_idx.to(device)],
                batch_size,
                generator,
            )
            seen = train_idx[: len(test_idx)].to(device)  # as many training rows as test rows
            with torch.no_grad():
                test["plug_in_train"] = float(nets[k].pairs(data[k][0][seen], data[k][1][seen]).double().mean())
        if not math.isfinite(test["mi"]) or abs(test["mi"]) > DIVERGENCE_NATS:
            failed[k] = f"read {test['mi']:.3g} nats on its test rows"
            continue
        rows.append(
            {
                "fold": k,
                **test,
                "best_step": result.best_step,
                "steps": result.steps,
                "converged": result.converged,
                "no_dependence": result.kept == "zero",
                "kept": result.kept,
                "copula_components": getattr(nets[k], "components", -1),
            }
        )
    return pd.DataFrame(rows, columns=FOLD_COLUMNS)
