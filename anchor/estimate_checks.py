"""``estimate_mi``'s self-checks: what the critic and the data show that the interval cannot."""

from __future__ import annotations

import math

import pandas as pd

from .estimate_result import Interval
from .objectives import Objective
from .tables import Table, identical_columns, repeated_rows

# warning thresholds; README, "Estimating MI on your data", has the measurements behind them
NORM_TOLERANCE = 3.0
"""|log E_q[e^min(c, max joint c)]| above this many nats: the critic is far from normalised."""
SPREAD_TOLERANCE = 1.0
"""Half-width of the 95% interval above this share of the estimate: the MI is pinned down only roughly."""
REPEATED_ROWS = 0.1
"""Share of exactly repeated rows in continuous-looking data above which ``estimate_mi`` says so."""


def fit_checks(
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
    return found + spread_check(interval, scale=scale, unit=unit)


SPREAD_PREFIX = "the 95% interval ("
"""How the interval-width warning of ``spread_check`` starts."""


def spread_check(interval: Interval, *, scale: float, unit: str, what: str = "MI") -> list[str]:
    """The warning for an interval wider than the estimate itself (half-width above
    ``SPREAD_TOLERANCE`` times the estimate, or than 0.1 nats near 0); ``interval`` in nats,
    the message in ``unit`` (nats times ``scale``)."""
    half = (interval.high - interval.low) / 2
    if math.isfinite(half) and half > SPREAD_TOLERANCE * max(interval.mi, 0.1):
        return [
            f"{SPREAD_PREFIX}{max(interval.low, 0) * scale:.3f} to {max(interval.high, 0) * scale:.3f} {unit}) is "
            f"wider than the estimate itself: these rows pin the {what} down only roughly; more rows would narrow it"
        ]
    return []


def data_checks(tx: Table, ty: Table, rows: int) -> list[str]:
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
