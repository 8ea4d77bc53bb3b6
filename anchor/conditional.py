"""``estimate_cmi``: the conditional MI I(X; Y | Z) as a difference of two plug-in MIs on shared folds."""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_choice
from ._random import keeps_global_rng
from .estimate_checks import SPREAD_PREFIX, spread_check
from .estimate_result import UNITS, Estimate, EstimateError, EstimateWarning, Interval, interval_of
from .fitting import Pair, fit_estimates, options_from
from .objectives import get_objective
from .tables import Table, as_table, check_pairs

__all__ = ["CHAINS", "estimate_cmi"]

CHAINS = {
    "x": "I(X; Y, Z) - I(X; Z)",
    "y": "I(Y; X, Z) - I(Y; Z)",
    "both": "the mean of I(X; Y, Z) - I(X; Z) and I(Y; X, Z) - I(Y; Z)",
}
"""The chain-rule constructions ``estimate_cmi`` offers: name -> what it computes."""


def _joined(a: Table, b: Table) -> Table:
    """Two tables side by side (the columns of ``a``, then those of ``b``)."""
    return Table(np.concatenate([a.values, b.values], 1), a.columns + b.columns, {**a.encoding, **b.encoding})


def _pair(a: Table, b: Table) -> Pair:
    at, bt = check_pairs(a.values, b.values)
    return Pair(a, b, at, bt)


@keeps_global_rng
def estimate_cmi(
    x: Any,
    y: Any,
    z: Any,
    objective: str = "anchor",
    critic: str = "separable",
    *,
    chain: str = "x",
    unit: str = "nats",
    seed: int = 0,
    device: Any = "cpu",
    progress: bool = True,
    warn: bool = True,
    **settings: Any,
) -> Estimate:
    """Estimate the conditional mutual information I(X; Y | Z) from rows of x, y and z.

    The chain rule I(X; Y | Z) = I(X; (Y, Z)) - I(X; Z) (``chain="x"``; ``"y"`` swaps the roles
    of x and y, ``"both"`` averages the two) turns it into two MIs, each estimated as
    ``estimate_mi`` does (a plug-in of a consistent critic, cross-fitted). Both terms use the
    same folds: fold k of every term trains on the same rows and is tested on the same rows, so
    the per-fold differences d_k carry the terms' shared errors only once. The estimate and its
    95% interval come from the d_k exactly as ``estimate_mi``'s come from its fold estimates
    (``Estimate``: the midpoint of the held-out and the training plug-in differences, the
    interval spanning both, widened by Student's t over the folds), clipped at 0.

    x, y and z take whatever ``estimate_mi`` takes (DataFrames, arrays, tensors; categorical
    columns become indicators; a discrete z is a column of integers or categories). Every
    keyword argument of ``estimate_mi`` not named here (``folds``, ``max_steps``, ``lr``,
    ``copula``, ``critic_params``, ...) is passed to both terms.

    The result is an ``Estimate`` whose ``quantity`` says what was estimated and how, whose
    ``parts`` are the MI estimates of the terms (each with its own self-checks, ``pmi`` and
    folds), whose ``folds`` table has the per-fold differences, and whose ``warnings`` hold the
    terms' self-check warnings (prefixed with the term) and the conditional interval's own
    width check. Fields that belong to one critic (``log_norm``, ``dv``, ``nwj``) are NaN here;
    read them on ``parts``.

    Raises:
        ValueError: a bad argument (named), or x, y and z with different numbers of rows.
        EstimateError: a term's critic failed (as in ``estimate_mi``); the message names the term.
    """
    start = time.perf_counter()
    check_choice("chain", chain, CHAINS)
    tables = {name: as_table(name, data) for name, data in (("x", x), ("y", y), ("z", z))}
    rows = {name: t.values.shape[0] for name, t in tables.items()}
    if len(set(rows.values())) != 1:
        raise ValueError(f"x, y and z must have the same number of rows, got {rows}")
    options = options_from(
        "estimate_cmi",
        settings,
        objective=objective,
        critic=critic,
        unit=unit,
        seed=seed,
        device=device,
        progress=progress,
    )
    terms = _terms(tables["x"], tables["y"], tables["z"], chain)
    fitted = fit_estimates([t[1] for t in terms], options, desc=f"estimate_cmi ({CHAINS[chain]})")
    for (name, _, _), part in zip(terms, fitted, strict=True):
        if isinstance(part, EstimateError):
            raise EstimateError(
                f"estimate_cmi, term {name}: {part}", fold=part.fold, folds=part.folds, history=part.history
            )
    parts = [replace(part, quantity=name) for (name, _, _), part in zip(terms, fitted, strict=True)]  # type: ignore[arg-type]
    est = _combined(parts, [sign / (2 if chain == "both" else 1) for _, _, sign in terms], options, tables, chain)
    est = replace(est, seconds=time.perf_counter() - start)
    found = est.warnings
    if warn:
        for message in found:
            warnings.warn(f"estimate_cmi: {message}", EstimateWarning, stacklevel=3)  # past keeps_global_rng
    return est


def _terms(tx: Table, ty: Table, tz: Table, chain: str) -> list[tuple[str, Pair, float]]:
    """The MIs the chain rule ``chain`` adds (+1) and subtracts (-1), each as a pair of sides."""
    terms: list[tuple[str, Pair, float]] = []
    if chain in ("x", "both"):
        terms += [("I(X; Y, Z)", _pair(tx, _joined(ty, tz)), 1.0), ("I(X; Z)", _pair(tx, tz), -1.0)]
    if chain in ("y", "both"):
        terms += [("I(Y; X, Z)", _pair(ty, _joined(tx, tz)), 1.0), ("I(Y; Z)", _pair(ty, tz), -1.0)]
    return terms


def _combined(parts: list[Estimate], weights: list[float], options: Any, tables: dict, chain: str) -> Estimate:
    """The conditional estimate from its terms' estimates (weights: +-1, halved for two chains)."""
    unit = options.unit
    table = _difference_table([(p.quantity, p, w) for p, w in zip(parts, weights, strict=True)])
    plug_in = get_objective(options.objective, **options.objective_params).kind == "plug-in"
    interval = interval_of(table, options.folds, plug_in)
    scale = UNITS[unit]
    found = [f"{p.quantity}: {w}" for p in parts for w in p.warnings if not w.startswith(SPREAD_PREFIX)]
    nats = Interval(*(v / scale for v in (interval.plug_in, interval.mi, interval.stderr, interval.low, interval.high)))
    found += spread_check(nats, scale=scale, unit=unit, what="conditional MI")
    tx, ty, tz = tables["x"], tables["y"], tables["z"]
    return Estimate(
        mi=max(interval.mi, 0.0),
        stderr=interval.stderr,
        ci_low=max(interval.low, 0.0),
        ci_high=max(interval.high, 0.0),
        mi_raw=interval.mi,
        plug_in=interval.plug_in,
        fit_gap=float((table.plug_in_train - table.plug_in).mean()),
        n_train=parts[0].n_train,
        n_val=parts[0].n_val,
        n_test=parts[0].n_test,
        unit=unit,
        objective=parts[0].objective,
        critic=options.critic,
        folds=table,
        history=pd.concat([p.history.assign(term=p.quantity) for p in parts]),
        model="; ".join(f"{p.quantity}: {p.model}" for p in parts),
        warnings=tuple(found),
        settings=dict(parts[0].settings),
        x_columns=tx.columns,
        y_columns=ty.columns,
        encoding={"x": tx.encoding, "y": ty.encoding, "z": tz.encoding},
        quantity=f"I(X; Y | Z) = {CHAINS[chain]}" if chain != "both" else "I(X; Y | Z) by both chains",
        parts=tuple(parts),
    )


def _difference_table(terms: list[tuple[str, Estimate, float]]) -> pd.DataFrame:
    """Per fold, the weighted sum of the terms' fold values (held-out estimate, plug-ins), their
    combined standard error, and each term's own held-out estimate (a column named by the term)."""
    folds = [set(part.folds.fold) for _, part, _ in terms]
    shared = sorted(set.intersection(*folds))
    out = pd.DataFrame({"fold": shared})
    for column in ("mi", "plug_in", "plug_in_train"):
        out[column] = sum(w * part.folds.set_index("fold").loc[shared, column].to_numpy() for _, part, w in terms)
    out["stderr"] = np.sqrt(
        sum((w * part.folds.set_index("fold").loc[shared, "stderr"].to_numpy()) ** 2 for _, part, w in terms)
    )
    out["n_test"] = terms[0][1].folds.set_index("fold").loc[shared, "n_test"].to_numpy()
    for name, part, _ in terms:
        out[name] = part.folds.set_index("fold").loc[shared, "mi"].to_numpy()
    return out
