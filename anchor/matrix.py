"""``mi_matrix``: the MI between every pair of columns (or of named column groups) of a table.

Two ways to train, chosen by ``method``:

* ``"shared"`` (the default when every variable is one numeric column): one model per fold for
  all pairs at once. Each column j gets features phi_j(u) = [1, u, u^2, h_j(u)] of its normal
  score u (h_j a small network of that column), and the critic of a pair is bilinear in them,
  c_ij(a, b) = phi_i(a)^T W_ij phi_j(b), with a matrix W_ij of its own. [1, u, u^2] make the
  Gaussian-copula log ratio exact, so every pair starts from the closed-form critic of its fold's
  correlation (as ``estimate_mi``'s copula start) and the learned features add what it misses;
  a column's network is shared by its pairs, so d columns cost d small networks, not d(d-1)/2
  critics. Every pair is trained by the anchor's loss on the same minibatch rows, and each
  (fold, pair) has its own early stopping: it keeps, of the copula start, the constant c = 0
  and the checkpoints, the one with the lowest validation loss (a later candidate must beat the
  best by 1e-3 nats), and reports that candidate's test plug-ins (computed when it was scored;
  the test rows take no part in training or selection). Normal scores are clamped to the range
  of the fold's training rows, so the quadratic critic is never evaluated beyond its data.
* ``"separate"``: ``estimate_mi`` of each pair with its own critic, all pairs (times folds)
  trained as one batched ensemble where their widths agree (``anchor.estimate.fit_estimates``).
  Used for column groups and for categorical columns (several indicator columns); each entry is
  what ``estimate_mi`` would give for that pair alone, up to the minibatch order.

Both use ``estimate_mi``'s folds, marginal maps and interval (``Estimate``: the midpoint of the
held-out and the training plug-in, the interval spanning both widened by Student's t over the
folds); the shared model's standard error is at least that of the test rows alone
(``anchor.estimate_result.interval_of`` with ``floor``). The diagonal of the square matrix is
NaN: a continuous variable's MI with itself is infinite, and a variable with itself is not a pair.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice, check_device, check_float, check_int, check_seed
from ._random import keeps_global_rng
from .estimate_result import UNITS, Estimate, EstimateError
from .fitting import Pair, fit_estimates, options_from
from .shared_pairs import FRAME_COLUMNS, SharedSettings, fit_shared
from .tables import Table, as_table, identical_columns

__all__ = ["METHODS", "MiMatrix", "mi_matrix"]

METHODS = ("shared", "separate")


@dataclass(frozen=True)
class MiMatrix:
    """The pairwise MIs of a table: ``frame`` (tidy, one row per pair a < b in the order of
    ``names``: the estimate, its 95% interval, the self-checks and their warnings), the square
    ``matrix()``, and how it was made. ``estimates`` holds each pair's ``Estimate`` for
    ``method="separate"`` (keyed by (a, b)); the shared model has no per-pair critic to keep."""

    frame: pd.DataFrame
    names: list[str]
    unit: str
    method: str
    folds: int
    n: int
    seconds: float
    steps: int = 0
    """Steps the shared model trained (0 for ``method="separate"``; each pair's folds in ``estimates``)."""
    estimates: dict[tuple[str, str], Estimate] = field(default_factory=dict, repr=False)

    def matrix(self, value: str = "mi") -> pd.DataFrame:
        """The square, symmetric matrix of ``value`` (a column of ``frame``: "mi", "ci_low",
        "ci_high", ...) with ``names`` as index and columns; the diagonal is NaN."""
        check_choice("value", value, [c for c in self.frame.columns if c not in ("a", "b", "warnings")])
        out = pd.DataFrame(np.nan, index=self.names, columns=self.names, dtype=float)
        for row in self.frame.itertuples(index=False):
            v = float(getattr(row, value))
            out.loc[row.a, row.b] = out.loc[row.b, row.a] = v
        return out

    @property
    def trusted(self) -> bool:
        """True when no pair raised a warning."""
        return bool(self.frame.trusted.all())

    def __str__(self) -> str:
        top = self.frame.sort_values("mi", ascending=False).head(5)
        pairs = ", ".join(f"{r.a}-{r.b} {r.mi:.3f}" for r in top.itertuples())
        flagged = int((~self.frame.trusted).sum())
        return (
            f"MI matrix of {len(self.names)} variables ({len(self.frame)} pairs, {self.unit}; {self.method}, "
            f"{self.folds} folds, n={self.n}, {self.seconds:.1f} s); largest: {pairs}"
            + (f"\n{flagged} pair(s) with warnings (frame.warnings)" if flagged else "")
        )


def _variables(table: Any, columns: Any, groups: Any) -> tuple[dict[str, Table], int]:
    """The variables to pair (name -> Table), from columns or groups of ``table``."""
    if isinstance(table, pd.DataFrame):
        frame = table
    else:
        array = table.detach().cpu().numpy() if isinstance(table, torch.Tensor) else np.asarray(table)
        if array.ndim != 2:
            raise ValueError(f"table must be a DataFrame or a 2-D array (rows, columns), got shape {array.shape}")
        frame = pd.DataFrame(array, columns=[str(j) for j in range(array.shape[1])])
    available = [str(c) for c in frame.columns]
    frame = frame.set_axis(available, axis=1)
    if groups is not None and columns is not None:
        raise ValueError("give columns or groups, not both (groups name their own columns)")
    if groups is not None:
        if not isinstance(groups, dict) or len(groups) < 2:
            raise ValueError(f"groups must be a dict of at least 2 named lists of columns, got {groups!r}")
        seen: dict[str, str] = {}
        for name, cols in groups.items():
            cols = [cols] if isinstance(cols, str | int) else list(cols)
            if not cols:
                raise ValueError(f"group {name!r} has no columns")
            for c in map(str, cols):
                if c not in available:
                    raise ValueError(f"group {name!r}: table has no column {c!r}; it has {available}")
                if c in seen:
                    raise ValueError(
                        f"column {c!r} is in groups {seen[c]!r} and {name!r}: groups must not overlap (a variable "
                        "shares infinite MI with itself)"
                    )
                seen[c] = str(name)
        chosen = {
            str(name): [str(c) for c in ([cols] if isinstance(cols, str | int) else cols)]
            for name, cols in groups.items()
        }
    else:
        names = available if columns is None else [str(c) for c in columns]
        unknown = [c for c in names if c not in available]
        if unknown:
            raise ValueError(f"columns: table has no column(s) {unknown}; it has {available}")
        if len(set(names)) != len(names):
            raise ValueError(f"columns lists a column twice: {names}")
        chosen = {c: [c] for c in names}
    if len(chosen) < 2:
        raise ValueError(f"mi_matrix needs at least 2 variables, got {list(chosen)}")
    if frame.shape[0] < 10:
        raise ValueError(f"table needs at least 10 rows, got {frame.shape[0]}")
    return {name: as_table(name, frame[cols]) for name, cols in chosen.items()}, frame.shape[0]


SHARED_PATIENCE = 20
"""The default ``patience`` of ``mi_matrix``'s shared model (``estimate_mi``'s is 5)."""
SHARED_MAX_STEPS = 12_000
"""The default ``max_steps`` of ``mi_matrix``'s shared model (``estimate_mi``'s is 4,000)."""


@keeps_global_rng
def mi_matrix(
    table: Any,
    columns: list[Any] | None = None,
    groups: dict[str, list[Any]] | None = None,
    *,
    method: str | None = None,
    unit: str = "nats",
    folds: int = 5,
    seed: int = 0,
    device: Any = "cpu",
    progress: bool = True,
    max_steps: int | None = None,
    eval_every: int = 100,
    patience: int | None = None,
    lr: float = 1e-3,
    batch_size: int = 16,
    features: int = 8,
    width: int = 32,
    **settings: Any,
) -> MiMatrix:
    """The MI between every pair of ``columns`` (default: all) of ``table``, or between every
    pair of named ``groups`` of columns ({"name": [columns], ...}; groups must not overlap).

    ``table``: a DataFrame (columns by name), or a 2-D array or tensor (columns "0", "1", ...).
    Categorical columns are encoded as ``estimate_mi`` does. ``method`` (module docstring):
    "shared" trains one model for all pairs (the default when every variable is one numeric
    column), "separate" runs ``estimate_mi`` per pair as one batched ensemble (the default for
    groups and categorical columns; ``settings`` are its keyword arguments).

    The shared model's settings: minibatches of ``batch_size`` rows (K = batch_size - 1), a
    network of two hidden layers of ``width`` giving ``features`` learned features per column
    (``max_steps``, ``eval_every``, ``patience`` and ``lr`` apply to both methods),
    Adam at ``lr``, the weight average of ``estimate_mi``. ``patience`` (evaluations without
    improvement before a (fold, pair) stops) defaults to 20 for the shared model, whose 16-row
    minibatches give noisy steps (at 5, pairs with heavy-tailed dependence stopped before their
    learned features had grown), and ``max_steps`` to 12,000 (heavy-tailed pairs took 9,600
    steps; training ends when every (fold, pair) has stopped, so tables that converge sooner do
    not pay for it); ``"separate"`` takes ``estimate_mi``'s defaults (5 and 4,000). An evaluation
    counts as an improvement when it lowers a pair's validation loss by more than 1e-3 nats:
    with one model for hundreds of (fold, pair) members, smaller changes are drift of the shared
    networks, and a pair that took them drifted away from its copula start (on the known-MI
    table, pairs with 0.004 nats read 0.001 low with 1e-4, and their intervals held the truth
    less often).

    Returns a ``MiMatrix``: ``.frame`` (tidy), ``.matrix()`` (square, NaN diagonal).
    """
    start = time.perf_counter()
    variables, n = _variables(table, columns, groups)
    check_choice("unit", unit, UNITS)
    folds = check_int("folds", folds, low=2)
    single = groups is None and all(t.values.shape[1] == 1 for t in variables.values())
    if method is None:
        method = "shared" if single else "separate"
    check_choice("method", method, METHODS)
    if method == "shared" and not single:
        raise ValueError(
            "method='shared' needs one numeric column per variable; groups and categorical columns with more than "
            "two levels need method='separate'"
        )
    names = list(variables)
    pairs = list(itertools.combinations(range(len(names)), 2))
    steps = 0
    if method == "separate":
        training = {"eval_every": eval_every, "lr": lr}
        if max_steps is not None:
            training["max_steps"] = max_steps
        if patience is not None:
            training["patience"] = patience
        frame, estimates = _separate(
            variables, names, pairs, unit, seed, device, progress, settings, folds=folds, **training
        )
    else:
        if settings:
            raise ValueError(f"unknown keyword argument(s) {sorted(settings)} for method='shared'")
        shared = SharedSettings(
            folds=folds,
            max_steps=check_int("max_steps", SHARED_MAX_STEPS if max_steps is None else max_steps, low=1),
            eval_every=check_int("eval_every", eval_every, low=1),
            patience=check_int("patience", SHARED_PATIENCE if patience is None else patience, low=1),
            lr=check_float("lr", lr, low=0.0, low_open=True),
            batch_size=check_int("batch_size", batch_size, low=2),
            features=check_int("features", features, low=1),
            width=check_int("width", width, low=1),
            seed=check_seed(seed),
            device=check_device(device),
        )
        values = np.concatenate([variables[v].values for v in names], axis=1)
        frame, steps = fit_shared(values, names, pairs, shared, unit, progress)
        for i, j in pairs:  # a column that is another up to a monotone map: infinite MI
            same = identical_columns(variables[names[i]], variables[names[j]])
            if same:
                k = frame.index[(frame.a == names[i]) & (frame.b == names[j])][0]
                frame.at[k, "warnings"] = "; ".join(
                    filter(None, [frame.at[k, "warnings"], "the two columns hold the same variable: infinite MI"])
                )
                frame.at[k, "trusted"] = False
        estimates = {}
    return MiMatrix(frame, names, unit, method, folds, n, time.perf_counter() - start, steps, estimates)


def _separate(variables, names, pairs, unit, seed, device, progress, settings, **fixed):
    options = options_from(
        "mi_matrix (method='separate')",
        settings,
        {"keep_critics": False},
        **fixed,
        unit=unit,
        seed=seed,
        device=device,
        progress=progress,
    )
    tables = [variables[v] for v in names]
    tensors = [torch.from_numpy(t.values) for t in tables]
    todo = [Pair(tables[i], tables[j], tensors[i], tensors[j]) for i, j in pairs]
    results = fit_estimates(todo, options, desc=f"mi_matrix ({len(pairs)} pairs)")
    rows, estimates = [], {}
    for (i, j), est in zip(pairs, results, strict=True):
        a, b = names[i], names[j]
        if isinstance(est, EstimateError):
            rows.append({"a": a, "b": b, "mi": math.nan, "trusted": False, "warnings": f"failed: {est}"})
            continue
        estimates[(a, b)] = est
        rows.append(
            {
                "a": a,
                "b": b,
                "mi": est.mi,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "stderr": est.stderr,
                "mi_raw": est.mi_raw,
                "plug_in": est.plug_in,
                "fit_gap": est.fit_gap,
                "log_norm_capped": est.log_norm_capped,
                "converged": bool(est.folds.converged.all()),
                "trusted": est.trusted,
                "warnings": "; ".join(est.warnings),
            }
        )
    return pd.DataFrame(rows, columns=FRAME_COLUMNS), estimates
