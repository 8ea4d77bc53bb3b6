"""What ``estimate_mi`` returns (``Estimate``, immutable), its errors, and the interval it reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ._checks import check_int
from .critics import Critic
from .data import LN2
from .marginals import MarginalMap
from .tables import paired_tables

UNITS = {"nats": 1.0, "bits": 1.0 / LN2}
"""Each unit's size per nat: an MI in nats times this is the MI in that unit."""

MI_FIELDS = (
    "mi",
    "stderr",
    "ci_low",
    "ci_high",
    "mi_raw",
    "plug_in",
    "log_norm",
    "log_norm_capped",
    "fit_gap",
    "dv",
    "nwj",
)
"""The ``Estimate`` fields that hold an MI-valued quantity (in the estimate's ``unit``)."""


@dataclass(frozen=True)
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
    warnings: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = math.nan
    x_columns: list[str] = field(default_factory=list)
    y_columns: list[str] = field(default_factory=list)
    encoding: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    critics: tuple[Critic | None, ...] = field(default=(), repr=False, compare=False)
    """The trained fold critics (eval mode, on the training device; None: the fold kept c = 0);
    empty when made with ``keep_critics=False``."""
    maps: tuple[tuple[MarginalMap, MarginalMap], ...] = field(default=(), repr=False, compare=False)
    """Each fold's marginal maps of x and y (fitted on its training rows)."""
    test_fold: Any = field(default=None, repr=False, compare=False)
    """Per row of the data: the fold whose test part it is (-1: none, possible with folds=1)."""
    quantity: str = "I(X; Y)"
    """What was estimated: "I(X; Y)", or for ``anchor.estimate_cmi`` the conditional MI and how."""
    parts: tuple[Estimate, ...] = field(default=(), repr=False, compare=False)
    """For a conditional MI, the MI estimates it is made of (``anchor.estimate_cmi``), else empty."""

    @property
    def trusted(self) -> bool:
        """True when no check raised a warning."""
        return not self.warnings

    def headline(self) -> str:
        """The estimate, its interval and settings, and what the folds kept (no warnings)."""
        extra = "".join(f", {k}={v:g}" if isinstance(v, float) else f", {k}={v}" for k, v in self.settings.items())
        if self.parts:
            return (
                f"{self.quantity} = {self.mi:.3f} {self.unit} (95% CI {self.ci_low:.3f} to {self.ci_high:.3f}; "
                f"{self.objective}{extra}, {self.critic} critic, {len(self.folds)} shared fold(s), "
                f"n_test={self.n_test})"
            )
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
        if self.parts:
            raise ValueError(
                f"est.pmi is the pointwise I(X; Y); this estimate is {self.quantity}. Each MI it is made of has "
                "its own: est.parts[k].pmi"
            )
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


@dataclass(frozen=True)
class Interval:
    """The estimate and its 95% interval in nats, before clipping at 0 (see ``Estimate``)."""

    plug_in: float
    mi: float
    stderr: float
    low: float
    high: float


def interval_of(table: pd.DataFrame, folds: int, plug_in_objective: bool, *, floor: bool = False) -> Interval:
    """The estimate and its 95% interval (nats).

    The statistical part is Student's t over the fold estimates (or, with one fold, the normal
    interval of its test pairs). With ``floor``, the standard error of the fold mean is at least
    that of its test rows alone, sqrt(sum of the folds' squared standard errors) / folds: the
    test rows of the folds are disjoint, so by the law of total variance the mean varies at least
    that much given the critics, while five fold values can spread less by chance. For a plug-in
    objective the estimate is the midpoint of the held-out plug-in and the plug-in on as many of
    each critic's own training rows, and the interval spans from the held-out value to the
    training value, each widened by the statistical half-width: to first order the two err by the
    same amount in opposite directions (``Estimate``)."""
    if folds == 1:
        stderr = float(table.stderr.iloc[0])
        t = float(stats.norm.ppf(0.975))
    else:
        stderr = float(table.mi.std()) / math.sqrt(folds)
        if floor:
            stderr = max(stderr, math.sqrt(float((table.stderr**2).sum())) / folds)
        t = float(stats.t.ppf(0.975, folds - 1))
    held_out = float(table.mi.mean())
    if not plug_in_objective:
        return Interval(held_out, held_out, stderr, held_out - t * stderr, held_out + t * stderr)
    seen = float(table.plug_in_train.mean())
    return Interval(
        held_out, (held_out + seen) / 2, stderr, min(held_out, seen) - t * stderr, max(held_out, seen) + t * stderr
    )
