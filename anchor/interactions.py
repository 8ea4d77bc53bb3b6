"""Pointwise MI as an interaction score: pairs of entities (proteins) with embeddings, some pairs
annotated as interacting; a critic trained on annotated pairs ranks unseen pairs by c(x, y).

The protocol follows Gowri et al. (2024, "Approximating mutual information of high-dimensional
variables using learned representations"), as used by Ryu et al. (2025, section 7, item 4): in
each trial ``held_out`` entities are set aside, a critic is trained on the annotated pairs that
involve none of them (negatives: the product of the marginals, i.e. in-batch shuffles), and every
held-out x-entity x held-out y-entity pair is scored; the AUROC against the annotations is
reported.

Two sources of data with one layout (``InteractionData``):

* ``load_interactions(embeddings, pairs)``: real files. ``embeddings`` is an ``.npz`` holding
  either arrays ``ids`` (n strings) and ``embeddings`` (n, d), or one (d,) array per entity ID;
  ``pairs`` is a CSV with columns ``x_id`` and ``y_id`` (one annotated pair per row; other
  columns are ignored). For the paper's experiment: per-protein ProtT5 embeddings (1,024-d) and
  the kinase-target or ligand-receptor annotations of Gowri et al. (2024). Nothing is downloaded.
* ``InteractionWorld``: a synthetic world whose true PMI of every pair is known. Entities have
  latent types; a sparse type-by-type table says which types interact; annotated pairs are drawn
  from p(i, j) proportional to p(i) p(j) W[type i, type j]; each entity's embedding is a fixed
  random nonlinear map of its type's prototype plus entity noise, plus observation noise. The
  true PMI of a pair is that of its types, log p(a, b) / (p(a) p(b)).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_choice, check_float, check_int, check_seed

INTERACTIONS_ENV = "ANCHOR_INTERACTIONS_DIR"
"""Environment variable naming a folder with ``embeddings.npz`` and ``pairs.csv``."""

FILES_HELP = (
    "The protein-interaction experiment needs two files: per-protein embeddings (an .npz with arrays "
    "'ids' and 'embeddings', or one array per protein ID; the paper used 1,024-d ProtT5 per-protein "
    "embeddings, which UniProt distributes) and a CSV of annotated pairs with columns x_id and y_id "
    "(the kinase-target and ligand-receptor annotations of Gowri et al. 2024, from that paper's data "
    f"release). Pass their paths, or put them as embeddings.npz and pairs.csv in a folder named by "
    f"${INTERACTIONS_ENV}. Nothing is downloaded; without them the notebook uses the synthetic world."
)


@dataclass
class InteractionData:
    """Entities with embeddings and annotated pairs. ``x`` (n_x, d) and ``y`` (n_y, d') are the
    embeddings of the entities that can take the x role and the y role, ``pairs`` (m, 2) the
    annotated pairs as (row of x, row of y); ``true_pmi`` (n_x, n_y), when known, the true PMI of
    every pair (nats)."""

    name: str
    x_ids: list[str]
    y_ids: list[str]
    x: np.ndarray
    y: np.ndarray
    pairs: np.ndarray
    true_pmi: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"InteractionData({self.name!r}: {len(self.x_ids)} x-entities, {len(self.y_ids)} y-entities, "
            f"{len(self.pairs)} annotated pairs, embeddings {self.x.shape[1]}-d and {self.y.shape[1]}-d)"
        )


# ---------------------------------------------------------------------------------------------
# Real files


def _read_embeddings(path: Path) -> tuple[list[str], np.ndarray]:
    if path.suffix != ".npz":
        raise ValueError(f"embeddings must be an .npz file, got {str(path)!r}. {FILES_HELP}")
    with np.load(path, allow_pickle=False) as data:
        names = list(data.files)
        if "ids" in names and "embeddings" in names:
            ids = [str(i) for i in data["ids"].tolist()]
            values = np.asarray(data["embeddings"], dtype=np.float64)
            if values.ndim != 2 or values.shape[0] != len(ids):
                raise ValueError(
                    f"{path}: 'embeddings' must be (n, d) with one row per entry of 'ids' ({len(ids)}), "
                    f"got shape {values.shape}"
                )
        else:
            ids = names
            rows = [np.asarray(data[k], dtype=np.float64).ravel() for k in ids]
            dims = {r.size for r in rows}
            if len(dims) > 1:
                raise ValueError(f"{path}: every embedding must have the same length, got lengths {sorted(dims)}")
            values = np.stack(rows) if rows else np.zeros((0, 0))
    if not ids:
        raise ValueError(f"{path} holds no embeddings. {FILES_HELP}")
    seen: set[str] = set()
    repeated = [i for i in ids if i in seen or seen.add(i)]
    if repeated:
        raise ValueError(f"{path}: {len(repeated)} duplicate ID(s), first {repeated[0]!r}; each ID needs one embedding")
    bad = ~np.isfinite(values).all(1)
    if bad.any():
        raise ValueError(
            f"{path}: {int(bad.sum())} embedding(s) with NaN or infinite values, first {ids[bad.argmax()]!r}"
        )
    return ids, values


def load_interactions(
    embeddings: str | os.PathLike | None = None, pairs: str | os.PathLike | None = None, *, name: str = "files"
) -> InteractionData:
    """Load and validate real interaction files (see the module docstring for the layout).

    Without arguments, the folder named by ``$ANCHOR_INTERACTIONS_DIR`` (``embeddings.npz`` and
    ``pairs.csv``) is used. Raises ``FileNotFoundError`` saying what the files are and where they
    come from when they are missing, and ``ValueError`` for duplicate IDs or pairs, annotated IDs
    without an embedding, unequal embedding lengths or non-finite values.
    """
    if embeddings is None or pairs is None:
        folder = os.environ.get(INTERACTIONS_ENV)
        if not folder:
            raise FileNotFoundError(f"no interaction files given and ${INTERACTIONS_ENV} is not set. {FILES_HELP}")
        embeddings = embeddings or Path(folder) / "embeddings.npz"
        pairs = pairs or Path(folder) / "pairs.csv"
    embeddings, pairs = Path(embeddings), Path(pairs)
    for path, what in ((embeddings, "embeddings"), (pairs, "pairs")):
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {str(path)!r} does not exist. {FILES_HELP}")
    ids, values = _read_embeddings(embeddings)
    table = pd.read_csv(pairs, dtype=str)
    missing_columns = {"x_id", "y_id"} - set(table.columns)
    if missing_columns:
        raise ValueError(
            f"{pairs}: needs columns x_id and y_id, missing {sorted(missing_columns)} (has {list(table.columns)})"
        )
    table = table[["x_id", "y_id"]]
    if table.isna().any().any():
        raise ValueError(f"{pairs}: {int(table.isna().any(axis=1).sum())} row(s) with an empty x_id or y_id")
    duplicated = table.duplicated()
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise ValueError(
            f"{pairs}: {int(duplicated.sum())} duplicate pair row(s), first ({first.x_id}, {first.y_id}); "
            "list each annotated pair once"
        )
    known = set(ids)
    unknown = sorted(set(table.x_id).union(table.y_id) - known)
    if unknown:
        raise ValueError(
            f"{pairs}: {len(unknown)} ID(s) have no embedding in {embeddings.name}, first {unknown[:3]}; "
            "every annotated protein needs an embedding"
        )
    row = {i: k for k, i in enumerate(ids)}
    x_ids, y_ids = sorted(set(table.x_id)), sorted(set(table.y_id))
    x_row, y_row = {i: k for k, i in enumerate(x_ids)}, {i: k for k, i in enumerate(y_ids)}
    return InteractionData(
        name=name,
        x_ids=x_ids,
        y_ids=y_ids,
        x=values[[row[i] for i in x_ids]],
        y=values[[row[i] for i in y_ids]],
        pairs=np.stack([table.x_id.map(x_row).to_numpy(), table.y_id.map(y_row).to_numpy()], 1).astype(np.int64),
    )


# ---------------------------------------------------------------------------------------------
# The synthetic world


@dataclass
class InteractionWorld:
    """A synthetic interaction world with known pointwise MI (see the module docstring).

    ``n_x`` and ``n_y`` entities, each of one of ``types`` latent types (equal shares, assigned
    at random); every x-type interacts with ``partners`` y-types and every y-type with
    ``partners`` x-types (a regular table, so no type is more popular than another and the PMI
    of a pair is a function of whether its types interact: a world in which PMI is the right
    ranking), with weight e^``strength`` against 1 for the other type pairs; embeddings of
    ``dim`` dimensions: a fixed random two-layer map (tanh) of the type prototype (``latent``
    dimensions, standard normal) plus entity noise of scale ``entity_noise`` in the latent
    space, then observation noise of scale ``noise``; ``draws`` annotated pairs drawn with
    replacement from p(i, j) (the annotation set is the distinct pairs drawn).
    """

    name: str = "synthetic"
    n_x: int = 400
    n_y: int = 400
    types: int = 16
    partners: int = 3
    strength: float = 5.0
    dim: int = 128
    latent: int = 8
    entity_noise: float = 0.5
    noise: float = 0.5
    draws: int = 20_000

    def __post_init__(self) -> None:
        for arg in ("n_x", "n_y", "types", "dim", "latent", "draws"):
            setattr(self, arg, check_int(arg, getattr(self, arg), low=1))
        self.partners = check_int("partners", self.partners, low=1, high=self.types)
        for arg in ("strength", "entity_noise", "noise"):
            setattr(self, arg, check_float(arg, getattr(self, arg), low=0.0))

    def type_table(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entity types of x and y and the joint distribution p(a, b) of the types of a pair."""
        tx = rng.permutation(np.arange(self.n_x) % self.types)
        ty = rng.permutation(np.arange(self.n_y) % self.types)
        shuffle = rng.permutation(self.types)
        interacts = np.zeros((self.types, self.types), dtype=bool)
        for shift in range(self.partners):  # x-type a interacts with y-types shuffle[(a + shift) % T]
            interacts[np.arange(self.types), shuffle[(np.arange(self.types) + shift) % self.types]] = True
        weight = np.where(interacts, math.exp(self.strength), 1.0)
        share_x = np.bincount(tx, minlength=self.types) / self.n_x
        share_y = np.bincount(ty, minlength=self.types) / self.n_y
        joint = share_x[:, None] * share_y[None, :] * weight
        return tx, ty, joint / joint.sum()

    @staticmethod
    def pair_probabilities(tx: np.ndarray, ty: np.ndarray, joint: np.ndarray) -> np.ndarray:
        """p(i, j) of every entity pair: p(a, b) / (N_a N_b) with a, b the types of i and j and
        N the number of entities of a type (uniform within a type)."""
        size_x = np.bincount(tx, minlength=joint.shape[0])[tx]
        size_y = np.bincount(ty, minlength=joint.shape[1])[ty]
        return joint[tx][:, ty] / (size_x[:, None] * size_y[None, :])

    def _embed(self, types: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        prototypes = rng.standard_normal((count, self.latent))
        z = prototypes[types] + self.entity_noise * rng.standard_normal((len(types), self.latent))
        hidden = 2 * self.latent
        w1 = rng.standard_normal((self.latent, hidden)) / math.sqrt(self.latent)
        w2 = rng.standard_normal((hidden, self.dim)) / math.sqrt(hidden)
        return np.tanh(2.0 * z @ w1) @ w2 + self.noise * rng.standard_normal((len(types), self.dim))

    def sample(self, seed: int = 0) -> InteractionData:
        """One world: types, embeddings, annotated pairs and the true PMI of every pair."""
        seed = check_seed(seed)
        rng = np.random.default_rng(seed)
        tx, ty, joint = self.type_table(rng)
        x, y = self._embed(tx, self.types, rng), self._embed(ty, self.types, rng)
        px, py = joint.sum(1), joint.sum(0)
        with np.errstate(divide="ignore"):
            type_pmi = np.log(joint) - np.log(px)[:, None] - np.log(py)[None, :]
        p_pair = self.pair_probabilities(tx, ty, joint)
        flat = rng.choice(p_pair.size, size=self.draws, p=(p_pair / p_pair.sum()).ravel())
        pairs = np.unique(np.stack(np.unravel_index(flat, p_pair.shape), 1), axis=0).astype(np.int64)
        return InteractionData(
            name=self.name,
            x_ids=[f"x{i}" for i in range(self.n_x)],
            y_ids=[f"y{j}" for j in range(self.n_y)],
            x=x,
            y=y,
            pairs=pairs,
            true_pmi=type_pmi[tx][:, ty],
        )


WORLDS = {
    "kinase-like": dict(types=24, partners=4, strength=4.0, entity_noise=0.6, noise=0.6, draws=20_000),
    "ligand-like": dict(types=12, partners=2, strength=6.0, entity_noise=0.4, noise=0.4, draws=20_000),
}
"""Two synthetic worlds, a harder and an easier one (as the kinase and ligand tasks of the paper):
README, "Pointwise MI", says how their settings were chosen."""


def get_world(name: str, **overrides: Any) -> InteractionWorld:
    """A world from ``WORLDS`` by name, with any field overridden."""
    check_choice("world", name, WORLDS)
    return InteractionWorld(name=name, **{**WORLDS[name], **overrides})


# ---------------------------------------------------------------------------------------------
# Trials


def split_trial(data: InteractionData, held_out: int, trial: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trial ``trial``: hold out ``held_out`` entities (x- and y-entities in proportion to their
    numbers, at least one of each). Returns the held-out x rows, the held-out y rows and the
    annotated pairs (rows of ``data.pairs``) that involve no held-out entity."""
    n_x, n_y = len(data.x_ids), len(data.y_ids)
    held_out = check_int("held_out", held_out, low=2, high=n_x + n_y - 2)
    rng = np.random.default_rng([check_seed(trial), 7919])
    hx = min(max(1, round(held_out * n_x / (n_x + n_y))), n_x - 1)
    hy = min(max(1, held_out - hx), n_y - 1)
    out_x, out_y = np.sort(rng.choice(n_x, hx, replace=False)), np.sort(rng.choice(n_y, hy, replace=False))
    keep = ~np.isin(data.pairs[:, 0], out_x) & ~np.isin(data.pairs[:, 1], out_y)
    return out_x, out_y, np.flatnonzero(keep)


def score_trial(
    data: InteractionData,
    objective: str,
    trial: int,
    *,
    held_out: int = 170,
    device: str = "cpu",
    progress: bool = False,
    **estimate_params: Any,
) -> pd.DataFrame:
    """One trial for one objective: train ``estimate_mi`` (its defaults, or ``estimate_params``)
    on the annotated pairs that involve no held-out entity, then score every held-out pair.

    Every objective's critic is trained from scratch (``copula=False``), as in the paper and as
    InfoNCE's must be, so the objectives differ only in their loss. (``estimate_mi``'s Gaussian-copula
    start hurts here: on the ligand-like world, trial 0, the anchor's AUROC is 0.80 with it and 0.94
    without, on 128 + 128 embedding columns and 8,762 pairs; RESULTS.md, Pointwise MI.)

    Returns one row per held-out pair: x and y rows, ``score`` (the critic's c(x, y), nats,
    averaged over the fold critics), ``label`` (annotated or not) and ``true_pmi`` (NaN when
    unknown), with the trial, objective and the training estimate (``mi``) as columns.
    """
    from .estimate import estimate_mi

    out_x, out_y, train = split_trial(data, held_out, trial)
    px, py = data.pairs[train, 0], data.pairs[train, 1]
    params = {"progress": progress, "warn": False, "seed": trial, "copula": False, **estimate_params}
    est = estimate_mi(data.x[px], data.y[py], objective=objective, device=device, **params)
    gx, gy = np.meshgrid(out_x, out_y, indexing="ij")
    gx, gy = gx.ravel(), gy.ravel()
    score = est.pmi(data.x[gx], data.y[gy])
    annotated = set(map(tuple, data.pairs.tolist()))
    label = np.fromiter(((i, j) in annotated for i, j in zip(gx.tolist(), gy.tolist(), strict=True)), bool, len(gx))
    true = data.true_pmi[gx, gy] if data.true_pmi is not None else np.full(len(gx), np.nan)
    return pd.DataFrame(
        {
            "trial": trial,
            "objective": objective,
            "x_row": gx,
            "y_row": gy,
            "score": score,
            "label": label,
            "true_pmi": true,
            "mi": est.mi,
            "n_train_pairs": len(train),
        }
    )


def auroc_table(scored: pd.DataFrame, *, by: tuple[str, ...] = ("objective", "trial")) -> pd.DataFrame:
    """AUROC of ``score`` (and, where known, of the true PMI) against ``label`` per group; groups
    without both classes get NaN."""
    from sklearn.metrics import roc_auc_score

    def one(group: pd.DataFrame) -> pd.Series:
        both = group.label.nunique() == 2
        known = both and group.true_pmi.notna().all()
        return pd.Series(
            {
                "auroc": roc_auc_score(group.label, group.score) if both else math.nan,
                "ceiling": roc_auc_score(group.label, group.true_pmi) if known else math.nan,
                "positives": int(group.label.sum()),
                "pairs": len(group),
            }
        )

    return scored.groupby(list(by), sort=False)[["label", "score", "true_pmi"]].apply(one).reset_index()


def calibration(predicted: Any, true: Any, *, bins: int = 20) -> tuple[pd.DataFrame, dict[str, float]]:
    """Predicted against true PMI: per bin of the predicted value (equal counts), the mean
    predicted and mean true PMI and the count; and the Pearson correlation, RMSE and mean
    difference (predicted - true) over all pairs."""
    p = np.asarray(predicted, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"predicted and true must have the same number of values, got {p.size} and {t.size}")
    bins = check_int("bins", bins, low=1, high=max(1, p.size))
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    table = pd.DataFrame(
        {
            "predicted": [p[g].mean() for g in groups],
            "true": [t[g].mean() for g in groups],
            "count": [len(g) for g in groups],
        }
    )
    stats = {
        "correlation": float(np.corrcoef(p, t)[0, 1]),
        "rmse": float(np.sqrt(np.mean((p - t) ** 2))),
        "bias": float(np.mean(p - t)),
    }
    return table, stats


def run_interactions(
    source: str,
    objective: str,
    trial: int,
    *,
    held_out: int = 170,
    world_seed: int = 0,
    world_params: dict[str, Any] | None = None,
    estimate_params: dict[str, Any] | None = None,
    embeddings: str | None = None,
    pairs: str | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """One sweep run (``anchor.sweep.notebook_sweep``): ``source`` is a name in ``WORLDS`` (the
    world drawn with ``world_seed`` and ``world_params``) or "files" (``load_interactions`` of
    ``embeddings`` and ``pairs``); then ``score_trial``."""
    if source == "files":
        data = load_interactions(embeddings, pairs)
    else:
        data = get_world(source, **(world_params or {})).sample(world_seed)
    scored = score_trial(
        data, objective, trial, held_out=held_out, device=device, progress=progress, **(estimate_params or {})
    )
    return scored.assign(source=source)
