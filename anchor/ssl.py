"""Self-supervised (SimCLR-style) training with any objective of the registry, and its evaluation.

One step::

    x = images[batch]                              # (B, C, H, W)
    v1, v2 = augment(x, g), augment(x, g)          # two random views of every image
    logits = critic(v1, v2)                        # (B, B) cosine / temperature + offset
    loss = (objective.loss(logits) + objective.loss(logits.T)) / 2   # both views as contexts

``run_ssl`` takes only JSON-serialisable arguments and returns a tidy long table (epoch, metric,
value), so it is a ``run_sweep`` task keyed by its configuration. With ``checkpoint_dir`` it
saves its state after every epoch (atomically) and resumes from there; the finished checkpoint
keeps the encoder and its test-set features, which ``checkpoint_features`` reads for CKA.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ._checks import check_choice, check_device, check_float, check_int, check_seed
from ._console import progress_bar
from ._random import keeps_global_rng
from .cache import CacheFileError, atomic_write, clean_temporaries, config_key, run_context
from .encoders import ENCODERS, ContrastiveCritic
from .images import Augment, dataset_files, load_images
from .objectives import OBJECTIVES, get_objective
from .representation import alignment, knn_accuracy, linear_probe, uniformity
from .sweep import notebook_sweep
from .train import DivergenceMonitor

SSL_OBJECTIVES: tuple[str, ...] = ("infonce", "anchor", "chi2", "nce", "anchor-spherical", "anchor-brier")
"""The objectives of the paper's self-supervised comparison (nce = binary JS with K = 1)."""

CHECKPOINT_VERSION = 2
COLUMNS = ["epoch", "metric", "value"]

RANDOM_INIT = "random-init"
"""How ``sweep_ssl`` labels the runs with objective None (the encoder at initialisation)."""


SSL_DEFAULTS: dict[str, Any] = {
    "dataset": "mnist",
    "encoder": "small-cnn",
    "width": None,
    "epochs": 30,
    "batch_size": 256,
    "lr": 2e-3,
    "weight_decay": 1e-6,
    "warmup_epochs": 2,
    "temperature": 0.2,
    "proj_dim": 64,
    "train_size": None,
    "knn_every": 1,
}
"""Every configuration entry of ``run_ssl`` besides objective and seed, with its default."""


def ssl_configs(objectives: list[str | None], seeds: list[int], **settings: Any) -> list[dict[str, Any]]:
    """Full configurations (objective x seed, defaults filled in) for ``run_sweep(run=run_ssl)``.

    ``None`` as an objective is the encoder at its (seeded) initialisation: evaluated, not trained.
    """
    unknown = sorted(set(settings) - set(SSL_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown ssl setting(s) {unknown}; allowed: {sorted(SSL_DEFAULTS)}")
    for name in objectives:
        if name is not None:
            check_choice("objective", name, OBJECTIVES)
    return [{"objective": o, "seed": s, **SSL_DEFAULTS, **settings} for o in objectives for s in seeds]


def _save(state: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda f: torch.save(state, f))


def data_files(datasets: Any, data_root: str | None = None) -> dict[str, Path | None]:
    """The files the runs of these datasets read, by name; a missing CIFAR folder maps to None
    (the run itself then fails with ``find_cifar``'s message)."""
    files: dict[str, Path | None] = {}
    for dataset in sorted(set(datasets)):
        try:
            files.update({f"{dataset}/{path.name}": path for path in dataset_files(dataset, data_root)})
        except FileNotFoundError:
            files[dataset] = None
    return files


def checkpoint_path(checkpoint_dir: str | Path, config: dict[str, Any]) -> Path:
    """Where ``run_ssl`` keeps the state of ``config`` (a full configuration, see ``ssl_configs``)."""
    return Path(checkpoint_dir) / f"ssl-{config_key(config)}.pt"


def _context(config: dict[str, Any], data_root: str | None) -> dict[str, Any]:
    """What a run depends on besides its configuration, except the thread count (which the
    checkpoint records itself): the code, the package version, the dataset files' content."""
    context = run_context(run_ssl, threads=None, data=data_files([config["dataset"]], data_root))
    del context["threads"]
    return context


def _load_checkpoint(
    path: Path,
    config: dict[str, Any],
    precision: str | None,
    threads: int | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The state in ``path``, on the CPU, after checking it belongs to ``config`` and, if given,
    ``context`` (the code and data it was made with) and, for a run to resume, to this precision
    and thread count. Loads tensors and plain containers only (``weights_only=True``): a file that
    holds anything else is refused, never executed.

    Raises:
        CacheFileError: the file is empty, truncated, not a checkpoint or not of this format, or
            was made by other code or from other data files (stale).
        ValueError: it belongs to another configuration, precision or thread count.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CacheFileError(path, f"not a readable checkpoint ({type(err).__name__}: {reason})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise CacheFileError(path, f"a checkpoint of format {found!r}, not {CHECKPOINT_VERSION}")
    if context is not None and state.get("context") != context:
        stale = sorted(k for k in context if context[k] != (state.get("context") or {}).get(k))
        raise CacheFileError(path, f"made by other code or from other data files (differs in {stale})")
    differ = sorted(k for k in set(config) | set(state["config"]) if config.get(k) != state["config"].get(k))
    if differ:
        raise ValueError(f"checkpoint {path} belongs to another configuration (differs in {differ}); delete it")
    if precision is not None and not state["finished"] and state["precision"] != precision:
        raise ValueError(
            f"checkpoint {path} was trained in {state['precision']}; resuming it in {precision} (another device) "
            "would mix the two; resume it on the same kind of device or delete it"
        )
    if threads is not None and not state["finished"] and state.get("threads") not in (None, threads):
        raise ValueError(
            f"checkpoint {path} was trained with {state['threads']} torch thread(s); resuming it with {threads} "
            "would mix the two (CPU sums depend on the thread count); resume it with the same number of workers "
            "(threads) or delete it"
        )
    return state


def checkpoint_features(checkpoint_dir: str | Path, config: dict[str, Any]) -> torch.Tensor:
    """The finished run's encoder features of the test images, (N_test, F): those of the last run
    of ``config`` (``run_ssl`` replaces a checkpoint made by other code or from other data)."""
    path = checkpoint_path(checkpoint_dir, config)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint for {config} at {path}: run it with checkpoint_dir={checkpoint_dir!r}")
    state = _load_checkpoint(path, config, None)
    if not state["finished"]:
        raise RuntimeError(f"the run in {path} has not finished (epoch {state['epoch']} of {config['epochs']})")
    if "test_features" not in state:
        raise RuntimeError(f"the run in {path} diverged in epoch {state['epoch']}; it has no features")
    return state["test_features"]


@torch.no_grad()
def encode(
    critic: ContrastiveCritic, images: torch.Tensor, *, batch_size: int = 500, projections: bool = False
) -> torch.Tensor:
    """Encoder features (N, F) of ``images`` (N, C, H, W) in eval mode, float32 on the CPU; with
    ``projections`` the unit-norm projections (N, P) that the critic compares instead."""
    was_training = critic.training
    critic.eval()
    fn = critic.project if projections else critic.features
    out = [fn(images[k : k + batch_size]).float().cpu() for k in range(0, len(images), batch_size)]
    critic.train(was_training)
    return torch.cat(out)


def _resume(
    path: Path, config: dict[str, Any], precision: str, threads: int | None, context: dict[str, Any]
) -> dict[str, Any] | None:
    """The checkpoint to continue from, or None: a file that cannot be read, or that was made by
    other code or from other data, is reported (a warning naming it) and the run starts over,
    overwriting it."""
    try:
        return _load_checkpoint(path, config, precision, threads, context)
    except CacheFileError as err:
        warnings.warn(f"checkpoint {err.path} cannot be used ({err.reason}); training from the start", stacklevel=3)
        return None


def _schedule(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@keeps_global_rng
def run_ssl(
    *,
    objective: str | None,
    seed: int,
    dataset: str = SSL_DEFAULTS["dataset"],
    encoder: str = SSL_DEFAULTS["encoder"],
    width: int | None = SSL_DEFAULTS["width"],
    epochs: int = SSL_DEFAULTS["epochs"],
    batch_size: int = SSL_DEFAULTS["batch_size"],
    lr: float = SSL_DEFAULTS["lr"],
    weight_decay: float = SSL_DEFAULTS["weight_decay"],
    warmup_epochs: int = SSL_DEFAULTS["warmup_epochs"],
    temperature: float = SSL_DEFAULTS["temperature"],
    proj_dim: int = SSL_DEFAULTS["proj_dim"],
    train_size: int | None = SSL_DEFAULTS["train_size"],
    knn_every: int = SSL_DEFAULTS["knn_every"],
    data_root: str | None = None,
    device: str = "cpu",
    progress: bool = True,
    checkpoint_dir: str | None = None,
) -> pd.DataFrame:
    """Train an encoder with ``objective`` on two views per image, then evaluate its features.

    Adam with decoupled weight decay, linear warm-up then cosine decay, the same for every
    objective; on CUDA the encoder runs in bfloat16 autocast (the loss in float32).

    Args:
        objective: a name in ``anchor.OBJECTIVES`` (default parameters: the anchor has nu = 1 and
            K = B - 1, "nce" is K = 1), or None to evaluate the initialised encoder (epochs = 0).
        seed: seeds the initial weights, the batch order and the views.
        dataset, encoder, width: see ``anchor.images.load_images`` and ``anchor.encoders.ENCODERS``.
        train_size: use only the first ``train_size`` training images (for quick checks).
        checkpoint_dir: save the state after every epoch (atomically) and resume from it; the
            finished file keeps the test-set features (``checkpoint_features``) and answers a
            rerun without training (whatever the thread count). An unfinished run resumes only
            with the precision and torch thread count that wrote it; a file that cannot be read
            (empty, truncated, foreign) is reported and the run starts over.
        knn_every: k-NN accuracy on the test split every this many epochs (0: at the end only).
        data_root, progress: do not change the result (the data files' content keys the
            checkpoint and the sweep's cache).
        device: where to train. On CUDA the encoder runs in bfloat16 autocast and cuDNN is not
            bitwise deterministic, so results differ slightly from the CPU's (the cache key does
            not include the device, as elsewhere in the package); a checkpoint only resumes on
            the kind of device that wrote it.

    Returns:
        Long table with columns epoch, metric, value: per epoch ``loss`` and ``estimate`` (the
        objective's MI value, nats, mean over the epoch's batches), ``lr``, ``seconds`` and
        ``knn_top1``; at the last epoch ``probe_top1``, ``probe_top5``, ``knn_top1`` (fractions),
        ``alignment`` and ``uniformity`` (Wang & Isola, on the projections of the test images),
        and ``diverged`` (1, at the epoch where the loss became non-finite, which ends the run
        with no evaluation; else 0).
    """
    config = {
        "objective": objective,
        "seed": seed,
        "dataset": dataset,
        "encoder": encoder,
        "width": width,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup_epochs": warmup_epochs,
        "temperature": temperature,
        "proj_dim": proj_dim,
        "train_size": train_size,
        "knn_every": knn_every,
    }
    run = _Training(config, data_root=data_root, device=check_device(device))
    checkpoint = _Checkpoint(checkpoint_dir, config, data_root, run.device) if checkpoint_dir else None
    rows: list[tuple[int, str, float]] = []
    start_epoch = 0
    state = checkpoint.resume() if checkpoint is not None else None
    if state is not None:
        if state["finished"]:
            return pd.DataFrame(state["rows"], columns=COLUMNS)
        run.load(state)
        rows, start_epoch = [tuple(row) for row in state["rows"]], state["epoch"]
    if run.knn_every and start_epoch == 0:
        rows.append((0, "knn_top1", run.knn()))
    diverged = _train_epochs(run, rows, start_epoch, checkpoint, progress)
    if not diverged:
        rows += run.evaluate(rows)
        if checkpoint is not None:
            checkpoint.save(run, rows, run.epochs, True, test_features=run.test_features, test_labels=run.data.test_y)
    return pd.DataFrame(rows, columns=COLUMNS)


class _Training:
    """One run's validated settings, data, critic, optimiser and random state, and its steps."""

    def __init__(self, config: dict[str, Any], *, data_root: str | None, device: torch.device) -> None:
        self.config, self.device = config, device
        self.seed = check_seed(config["seed"])
        self.epochs = check_int("epochs", config["epochs"], low=0)
        if config["objective"] is None and self.epochs != 0:
            raise ValueError(
                f"objective=None evaluates the initialised encoder and needs epochs=0, got epochs={self.epochs}"
            )
        check_choice("encoder", config["encoder"], ENCODERS)
        self.lr = check_float("lr", config["lr"], low=0.0, low_open=True)
        weight_decay = check_float("weight_decay", config["weight_decay"], low=0.0)
        warmup_epochs = check_int("warmup_epochs", config["warmup_epochs"], low=0)
        self.knn_every = check_int("knn_every", config["knn_every"], low=0)
        self.data = data = load_images(config["dataset"], root=data_root)
        train_size = config["train_size"]
        if train_size is not None:
            high = len(data.train_x)
            train_size = check_int("train_size (at most the training split)", train_size, low=2, high=high)
        train_x = data.train_x if train_size is None else data.train_x[:train_size]
        self.train_y = data.train_y[: len(train_x)]
        self.batch_size = check_int(
            "batch_size (at most the training images)", config["batch_size"], low=2, high=len(train_x)
        )
        self.objective = get_objective(config["objective"]) if config["objective"] is not None else None

        torch.manual_seed(self.seed)  # initial weights
        mean, std = data.channel_stats()
        self.critic = ContrastiveCritic(
            config["encoder"],
            in_channels=data.shape[0],
            width=config["width"],
            proj_dim=config["proj_dim"],
            temperature=config["temperature"],
            mean=mean,
            std=std,
        ).to(device)
        self.optimizer = torch.optim.AdamW(self.critic.parameters(), lr=self.lr, weight_decay=weight_decay)
        self.augment = Augment.for_dataset(config["dataset"])
        self.generator = torch.Generator().manual_seed(self.seed)
        self.steps_per_epoch = len(train_x) // self.batch_size  # drop the last partial batch
        self.total, self.warmup = self.epochs * self.steps_per_epoch, warmup_epochs * self.steps_per_epoch
        self.images, self.test_x = train_x.to(device), data.test_x.to(device)
        self.k_nn = min(20, len(train_x))
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
        self.monitor = DivergenceMonitor(limit=math.inf)  # a run ends at its first non-finite loss
        self.test_features: torch.Tensor | None = None

    def load(self, state: dict[str, Any]) -> None:
        """Continue from an unfinished checkpoint's weights, optimiser and random state."""
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
        self.generator.set_state(state["generator"])

    def knn(self) -> float:
        images, test_x = encode(self.critic, self.images), encode(self.critic, self.test_x)
        return knn_accuracy(images, self.train_y, test_x, self.data.test_y, k=self.k_nn)

    def step(self, epoch: int, k: int, order: torch.Tensor) -> tuple[float, float] | None:
        """One optimiser step on the k-th batch of ``order``; (loss, estimate), or None when the
        loss is not finite (the step is not taken)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * _schedule(epoch * self.steps_per_epoch + k, self.total, self.warmup)
        x = self.images[order[k * self.batch_size : (k + 1) * self.batch_size]]
        v1, v2 = self.augment(x, self.generator), self.augment(x, self.generator)
        with self.autocast:
            logits = self.critic(v1, v2).float()
        loss = 0.5 * (self.objective.loss(logits) + self.objective.loss(logits.T))
        value = loss.item()
        if self.monitor.check(value, 0.0) is not None:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            estimate = 0.5 * (self.objective.estimate(logits) + self.objective.estimate(logits.T)).item()
        return value, estimate

    def evaluate(self, rows: list[tuple[int, str, float]]) -> list[tuple[int, str, float]]:
        """The frozen encoder on the held-out images: linear probe, k-NN (unless this epoch has
        one), alignment and uniformity; keeps the test features for the checkpoint."""
        train_features, self.test_features = encode(self.critic, self.images), encode(self.critic, self.test_x)
        test_y, epochs = self.data.test_y, self.epochs
        probe = linear_probe(train_features, self.train_y, self.test_features, test_y)
        final = []
        if not any(e == epochs and m == "knn_top1" for e, m, _ in rows):
            knn = knn_accuracy(train_features, self.train_y, self.test_features, test_y, k=self.k_nn)
            final.append((epochs, "knn_top1", knn))
        view_gen = torch.Generator().manual_seed(10_000 + self.seed)  # the same test views for every objective
        z1 = encode(self.critic, self.augment(self.test_x, view_gen), projections=True)
        z2 = encode(self.critic, self.augment(self.test_x, view_gen), projections=True)
        z = encode(self.critic, self.test_x[:2000], projections=True)
        return [
            *final,
            (epochs, "probe_top1", probe["top1"]),
            (epochs, "probe_top5", probe["top5"]),
            (epochs, "alignment", alignment(z1, z2)),
            (epochs, "uniformity", uniformity(z)),
            (epochs, "diverged", 0.0),
        ]


class _Checkpoint:
    """The per-epoch state file of one run: what it must match to resume, and its atomic writes."""

    def __init__(
        self, checkpoint_dir: str, config: dict[str, Any], data_root: str | None, device: torch.device
    ) -> None:
        self.path, self.config = checkpoint_path(checkpoint_dir, config), config
        self.precision = "bfloat16-autocast" if device.type == "cuda" else "float32"
        self.threads = torch.get_num_threads() if device.type == "cpu" else None  # CUDA sums do not depend on it
        self.context = _context(config, data_root)
        clean_temporaries(self.path.parent)

    def resume(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        return _resume(self.path, self.config, self.precision, self.threads, self.context)

    def save(self, run: _Training, rows: list, epoch: int, finished: bool, **extra: Any) -> None:
        _save(
            {
                "version": CHECKPOINT_VERSION,
                "config": self.config,
                "context": self.context,
                "precision": self.precision,
                "threads": self.threads,
                "epoch": epoch,
                "finished": finished,
                "rows": rows,
                "critic": run.critic.state_dict(),
                **extra,
            },
            self.path,
        )


def _train_epochs(
    run: _Training, rows: list[tuple[int, str, float]], start_epoch: int, checkpoint: _Checkpoint | None, progress: bool
) -> bool:
    """Train from ``start_epoch`` to the last epoch, appending each epoch's rows and saving the
    checkpoint after it. Returns True when the loss became non-finite: the run then ends with a
    ``diverged`` row in that epoch, saved as finished."""
    name = run.config["objective"]
    bar = progress_bar(range(start_epoch, run.epochs), desc=f"{name} seed {run.seed}", enabled=progress)
    for epoch in bar:
        run.critic.train()
        tic = time.perf_counter()
        order = torch.randperm(len(run.images), generator=run.generator).to(run.device)
        losses, estimates = [], []
        for k in range(run.steps_per_epoch):
            result = run.step(epoch, k, order)
            if result is None:  # stop here; the run is reported as diverged in this epoch
                bar.close()
                rows.append((epoch + 1, "diverged", 1.0))
                if checkpoint is not None:
                    checkpoint.save(run, rows, epoch + 1, True)
                return True
            losses.append(result[0])
            estimates.append(result[1])
        done = epoch + 1
        rows += [
            (done, "loss", sum(losses) / len(losses)),
            (done, "estimate", sum(estimates) / len(estimates)),
            (done, "lr", run.optimizer.param_groups[0]["lr"]),
            (done, "seconds", time.perf_counter() - tic),
        ]
        postfix = {"loss": f"{sum(losses) / len(losses):.3f}"}
        if run.knn_every and (done % run.knn_every == 0 or done == run.epochs):
            rows.append((done, "knn_top1", run.knn()))
            postfix["knn"] = f"{rows[-1][2]:.3f}"
        bar.set_postfix(postfix)
        if checkpoint is not None:
            checkpoint.save(
                run, rows, done, False, optimizer=run.optimizer.state_dict(), generator=run.generator.get_state()
            )
    bar.close()
    return False


def sweep_ssl(
    configs: list[dict[str, Any]],
    *,
    cache: str | None = None,
    checkpoint_dir: str | None = None,
    device: str = "cpu",
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    data_root: str | None = None,
) -> pd.DataFrame:
    """``run_sweep`` of ``run_ssl`` over ``configs`` (from ``ssl_configs``), as the notebook runs it
    (``anchor.sweep.notebook_sweep``: cache, local workers or a Dask ``scheduler``, a ``run`` column).

    ``checkpoint_dir`` keeps per-epoch checkpoints (an interrupted run resumes from its last epoch)
    and the finished encoders' test features. Runs with objective None are labelled RANDOM_INIT.
    """
    results = notebook_sweep(
        configs,
        run_ssl,
        cache=cache,
        device=device,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        data=lambda c: data_files([c.get("dataset", SSL_DEFAULTS["dataset"])], data_root),
        checkpoint_dir=checkpoint_dir,
        data_root=data_root,
    )
    results["objective"] = results["objective"].fillna(RANDOM_INIT) if "objective" in results else RANDOM_INIT
    return results


FINAL_METRICS = ("probe_top1", "probe_top5", "knn_top1", "alignment", "uniformity", "diverged")


def ssl_summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run (objective, seed) with its final metrics as columns, from ``sweep_ssl``'s table.

    A run that diverged has only ``diverged`` = 1 (its other metrics are NaN).
    """
    last = results.groupby(["objective", "seed"])["epoch"].transform("max")
    final = results[(results["epoch"] == last) & results["metric"].isin(FINAL_METRICS)]
    wide = final.pivot_table(index=["objective", "seed"], columns="metric", values="value", aggfunc="last")
    return wide.reindex(columns=list(FINAL_METRICS)).reset_index().rename_axis(columns=None)
