"""Per-column maps applied to x and y before a critic sees them, fitted on training rows only.

MI is unchanged by any strictly increasing map of each column (I(f(X); g(Y)) = I(X; Y) for
bijections f, g), so a map fitted on the training rows of a fold, and then held fixed, changes
what the critic has to learn but not the quantity it estimates on the test rows.

* ``"normal-scores"`` (the default of ``estimate_mi``): each column through its empirical CDF and
  the standard normal quantile function, z = Phi^-1((rank - 1/2) / n), linear between the
  training values (at most ``KNOTS`` of them per column) and growing like asinh beyond the
  training range, so a test value far outside it stays a moderate input. Heavy tails (a Cauchy
  column has values in the thousands), skew and wiggly monotone maps all reach the critic as
  Gaussian marginals.
* ``"standardize"``: subtract the mean, divide by the standard deviation.
* ``"none"``: the columns as given; refused when their scales are far from 1 (a critic with the
  default initialisation and learning rate cannot fit them: columns on scales 1e8 and 1e-8 once
  read -863,700 nats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

from ._checks import check_choice

MARGINALS = ("normal-scores", "standardize", "none")
KNOTS = 2048
"""Most training values kept per column by the normal-scores map (evenly spaced order statistics)."""
SCALE_LIMITS = (1e-3, 1e3)
"""``marginals="none"`` accepts columns whose standard deviation and mean magnitude lie in this range."""


@dataclass
class MarginalMap:
    """A fitted per-column map: ``how`` with its per-column parameters (data only, no code)."""

    how: str
    dim: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    knots: list[np.ndarray] | None = None  # per column: increasing training values
    scores: list[np.ndarray] | None = None  # per column: their normal scores
    spread: np.ndarray | None = None  # per column: scale of the asinh tails

    def __call__(self, data: torch.Tensor) -> torch.Tensor:
        """``data`` (n, d) mapped column by column, as float32."""
        if self.how == "none":
            return data.float()
        wide = data.double()
        if self.how == "standardize":
            return ((wide - torch.from_numpy(self.mean)) / torch.from_numpy(self.std)).float()
        values = wide.numpy()
        out = np.empty_like(values)
        for j, (knots, scores) in enumerate(zip(self.knots, self.scores, strict=True)):
            col = values[:, j]
            z = np.interp(col, knots, scores)
            low, high = col < knots[0], col > knots[-1]
            z[low] = scores[0] + np.arcsinh((col[low] - knots[0]) / self.spread[j])
            z[high] = scores[-1] + np.arcsinh((col[high] - knots[-1]) / self.spread[j])
            out[:, j] = z
        return torch.from_numpy(out).float()


def _normal_scores(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Increasing distinct values of a training column and their normal scores (mid-ranks for ties)."""
    n = column.size
    ordered = np.sort(column)
    z = special.ndtri((np.arange(1, n + 1) - 0.5) / n)
    values, first, counts = np.unique(ordered, return_index=True, return_counts=True)
    sums = np.add.reduceat(z, first)
    scores = sums / counts
    if values.size > KNOTS:
        keep = np.unique(np.linspace(0, values.size - 1, KNOTS).round().astype(int))
        values, scores = values[keep], scores[keep]
    return values, scores


def fit_marginals(data: torch.Tensor, train_idx: torch.Tensor, how: str, name: str) -> MarginalMap:
    """Fit the map ``how`` (one of ``MARGINALS``) of ``data`` (n, d) on the rows ``train_idx``.

    ``name`` ("x" or "y") is used in error messages.
    """
    check_choice("marginals", how, MARGINALS)
    train = data[train_idx].double().numpy()
    if how == "none":
        std, mean = train.std(0), np.abs(train.mean(0))
        low, high = SCALE_LIMITS
        bad = [j for j in range(train.shape[1]) if not (low <= std[j] <= high) or mean[j] > high]
        if bad:
            j = bad[0]
            raise ValueError(
                f"marginals='none' needs columns on a scale the critic can learn (standard deviation within "
                f"{low:g} to {high:g}, mean within +-{high:g}); column {j} of {name} has standard deviation "
                f"{std[j]:.3g} and mean {train[:, j].mean():.3g} ({len(bad)} such column(s)). "
                "Use marginals='normal-scores' (default) or 'standardize', or rescale it."
            )
        return MarginalMap("none", train.shape[1])
    if how == "standardize":
        std = train.std(0, ddof=1) if train.shape[0] > 1 else np.ones(train.shape[1])
        return MarginalMap("standardize", train.shape[1], mean=train.mean(0), std=np.where(std > 1e-12, std, 1.0))
    knots, scores, spread = [], [], []
    for j in range(train.shape[1]):
        values, z = _normal_scores(train[:, j])
        if values.size == 1:  # a constant column: any fixed value will do
            values, z = np.array([values[0], values[0] + 1.0]), np.array([0.0, 0.0])
        q25, q75 = np.quantile(train[:, j], [0.25, 0.75])
        scale = (q75 - q25) / 1.349
        if not scale > 0:
            scale = max(float(train[:, j].std()), 1e-12)
        knots.append(values)
        scores.append(z)
        spread.append(scale)
    return MarginalMap("normal-scores", train.shape[1], knots=knots, scores=scores, spread=np.asarray(spread))
