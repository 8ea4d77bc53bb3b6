"""The MI benchmark: every estimator on the same samples of the tasks of ``anchor.tasks``.

    python -m anchor.benchmark --estimators anchor,ksg --tasks dense-5x5,student-dof1-2x2 \
        --n 10000 --seeds 0 1 2 --out results/benchmark.csv
    python -m anchor.benchmark --list

Estimators (``BENCH_ESTIMATORS``):

* the package's neural objectives through ``anchor.estimate_mi`` with one protocol for all (its
  defaults, or the same ``estimator_params`` for every neural estimator): "anchor" (the plug-in
  of the InfoNCE-anchor critic), "infonce", "nwj", "mine", "smile-5" (bounds or their
  estimates), "nce" (the plug-in of the NCE critic);
* "ksg": Kraskov, Stögbauer, Grassberger (2004), algorithm 1 with k = 3 neighbours in the max
  norm, computed by ``ennemi`` (the multivariate routine behind ``ennemi.estimate_mi``, which
  applies it to one pair of columns at a time) on standardised columns;
* "cca": the MI of the Gaussian with the sample covariance, -1/2 sum log(1 - r_i^2) over the
  canonical correlations r_i: exact for normal data, blind to any non-linear dependence.

One run (``run_task``) is one estimator on one data set (task, n, seed); it returns a one-row
table with the truth, the estimate, the 95% interval where the estimator gives one, the
seconds it took and, if it failed (a diverged critic), the error. ``score`` and
``family_scores`` summarise runs: mean absolute error (nats), the share of tasks solved
(|log(estimate / truth)| < log 1.5, the criterion of the Beyond Normal paper's figure 1),
the median seconds per estimate, and ``coverage`` the share of 95% intervals holding the truth.
"""

from __future__ import annotations

import argparse
import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice, check_int, check_seed
from .estimate import EstimateError, estimate_mi
from .tasks import SUITE, get_task

NEURAL = ("anchor", "infonce", "nwj", "mine", "smile-5", "nce")
PEERS = ("ksg", "cca")
BENCH_ESTIMATORS = NEURAL + PEERS
DIAGNOSTICS = ("log_norm", "log_norm_capped", "fit_gap", "dv", "nwj", "converged", "half_width")
"""The self-checks of a neural run recorded beside its estimate (NaN for the peers); also a
``warnings`` column ("" when the estimate raised none)."""
SOLVED = math.log(1.5)  # |log(estimate / truth)| below this: the task counts as solved

__all__ = [
    "BENCH_ESTIMATORS",
    "NEURAL",
    "PEERS",
    "cca_mi",
    "coverage",
    "family_scores",
    "ksg_mi",
    "run_task",
    "score",
    "size_summary",
]


def _standardised(a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    return (a - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1.0)


def ksg_mi(x: Any, y: Any, *, k: int = 3) -> float:
    """KSG estimate (algorithm 1, max norm, ``k`` neighbours) of I(X; Y) in nats, by ``ennemi``.

    Columns are standardised first (ennemi's own preprocessing rescales the same way). The cost
    grows with n log n in low dimension and approaches n^2 in many dimensions (25 + 25 columns,
    n = 10,000: about half a minute on one core).
    """
    from ennemi._entropy_estimators import _estimate_single_mi

    k = check_int("k", k, low=1)
    xs, ys = _standardised(x), _standardised(y)
    if xs.shape[0] != ys.shape[0] or xs.shape[0] <= k:
        raise ValueError(f"x and y need the same number of rows, more than k={k}; got {xs.shape[0]} and {ys.shape[0]}")
    return float(_estimate_single_mi(xs, ys, k))


def cca_mi(x: Any, y: Any) -> float:
    """MI in nats of the Gaussian with the sample covariance of (x, y): -1/2 sum_i log(1 - r_i^2)
    over the canonical correlations r_i (singular values of the whitened cross-covariance)."""
    xs, ys = _standardised(x), _standardised(y)
    n = xs.shape[0]

    def whiten(a: np.ndarray) -> np.ndarray:
        vals, vecs = np.linalg.eigh(a.T @ a / (n - 1))
        keep = vals > 1e-12 * vals.max()
        return a @ vecs[:, keep] / np.sqrt(vals[keep])

    r = np.linalg.svd(whiten(xs).T @ whiten(ys) / (n - 1), compute_uv=False)
    return float(-0.5 * np.log1p(-(np.minimum(r, 1 - 1e-12) ** 2)).sum())


def run_task(
    *,
    task: str,
    estimator: str,
    n: int,
    seed: int,
    estimator_params: dict[str, Any] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """One estimator on one data set: ``n`` pairs of ``task`` drawn with ``seed``.

    Neural estimators run ``estimate_mi(x, y, objective=estimator, seed=seed, **estimator_params)``.
    Returns one row: task, family, dim_x, dim_y, n, seed, estimator, truth, estimate, ci_low,
    ci_high (NaN for the peers, which give no interval), seconds, error ("" if it finished; a
    critic that diverged is recorded with a NaN estimate and its error message, not raised), the
    self-checks of ``DIAGNOSTICS`` and the estimate's ``warnings`` joined by " | ".
    """
    check_choice("estimator", estimator, BENCH_ESTIMATORS)
    sampler = get_task(task)
    n, seed = check_int("n", n, low=10), check_seed(seed)
    params = dict(estimator_params or {})
    if params and estimator in PEERS:
        params = {}  # the neural protocol's settings do not apply to the peers
    x, y = sampler.sample(n, seed=seed, dtype=torch.float64)
    estimate = low = high = math.nan
    error = ""
    checks: dict[str, Any] = {key: math.nan for key in DIAGNOSTICS}
    checks["warnings"] = ""
    start = time.perf_counter()
    if estimator == "ksg":
        estimate = ksg_mi(x.numpy(), y.numpy())
    elif estimator == "cca":
        estimate = cca_mi(x.numpy(), y.numpy())
    else:
        try:
            est = estimate_mi(
                x,
                y,
                objective=estimator,
                **{"seed": seed, "device": device, "progress": progress, "warn": False, **params},
            )
            estimate, low, high = est.mi, est.ci_low, est.ci_high
            checks = {key: getattr(est, key) for key in DIAGNOSTICS if hasattr(est, key)}
            checks["converged"] = float(est.folds.converged.all())
            checks["half_width"] = (est.ci_high - est.ci_low) / 2
            checks["warnings"] = " | ".join(est.warnings)
        except EstimateError as err:
            error = str(err)
    seconds = time.perf_counter() - start
    return pd.DataFrame(
        [
            {
                "task": task,
                "family": sampler.family,
                "dim_x": sampler.dim_x,
                "dim_y": sampler.dim_y,
                "n": n,
                "seed": seed,
                "estimator": estimator,
                "truth": sampler.mi,
                "estimate": estimate,
                "ci_low": low,
                "ci_high": high,
                "seconds": seconds,
                "error": error,
                **checks,
            }
        ]
    )


def _solved(results: pd.DataFrame) -> pd.Series:
    ratio = results.estimate / results.truth
    return (ratio > 0) & (np.log(ratio.where(ratio > 0, 1.0)).abs() < SOLVED)


def score(results: pd.DataFrame, *, by: Sequence[str] = ("estimator",)) -> pd.DataFrame:
    """Per group (default: per estimator): mae (nats, over finished runs), solved (share of all
    runs with |log(estimate / truth)| < log 1.5; a failed run is not solved), within_10pct,
    failed (runs without an estimate), median_seconds and runs."""
    r = results.assign(
        abs_error=(results.estimate - results.truth).abs(),
        solved=_solved(results),
        within_10pct=(results.estimate / results.truth - 1).abs() < 0.1,
        failed=results.estimate.isna(),
    )
    table = r.groupby(list(by), sort=False).agg(
        mae=("abs_error", "mean"),
        solved=("solved", "mean"),
        within_10pct=("within_10pct", "mean"),
        failed=("failed", "sum"),
        median_seconds=("seconds", "median"),
        runs=("estimate", "size"),
    )
    return table.reset_index().sort_values([*list(by)[:-1], "mae"], kind="stable").reset_index(drop=True)


def family_scores(results: pd.DataFrame) -> pd.DataFrame:
    """MAE (nats) per task family (rows) and estimator (columns), with each estimator's rank in
    its family (1 = lowest MAE) as ``rank_<estimator>`` columns."""
    mae = score(results, by=("family", "estimator")).pivot(index="family", columns="estimator", values="mae")
    ranks = mae.rank(axis=1, method="min").astype("Int64").add_prefix("rank_")
    return pd.concat([mae, ranks], axis=1)


def coverage(results: pd.DataFrame, *, by: Sequence[str] = ("estimator", "task", "n")) -> pd.DataFrame:
    """Share of runs whose 95% interval holds the truth, per group (runs with an interval only),
    with the number of data sets, the mean interval width (nats), the mean estimate, the share
    within 20% of the truth, and, where the runs record the estimate's self-checks (a
    ``warnings`` column), the share of runs that warned and the coverage of those that did not
    (NaN when every run warned)."""
    r = results.dropna(subset=["ci_low", "ci_high"])
    r = r.assign(
        covered=(r.ci_low <= r.truth) & (r.truth <= r.ci_high),
        width=r.ci_high - r.ci_low,
        within_20pct=(r.estimate / r.truth - 1).abs() < 0.2,
    )
    aggregations = dict(
        coverage=("covered", "mean"),
        data_sets=("covered", "size"),
        mean_width=("width", "mean"),
        mean_estimate=("estimate", "mean"),
        truth=("truth", "first"),
        within_20pct=("within_20pct", "mean"),
    )
    if "warnings" in r:
        warned = r.warnings.fillna("").astype(str) != ""
        r = r.assign(warned=warned, covered_unwarned=r.covered.where(~warned))
        aggregations.update(warned=("warned", "mean"), coverage_unwarned=("covered_unwarned", "mean"))
    return r.groupby(list(by), sort=False).agg(**aggregations).reset_index()


LOW_MI = 2.0
"""Tasks whose true MI is at most this many nats (the range of the public Beyond Normal tasks)
get their own MAE column in ``size_summary``."""


def size_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per sample size and estimator, over all runs: mae, mae_low_mi (tasks with MI <= ``LOW_MI``),
    mae_high_mi, within_10pct, coverage (share of runs whose 95% interval holds the truth, NaN for
    estimators without one; warned or not), warned (share of runs with a warning),
    warned_within_10pct (share of the runs within 10% of the truth that warned), median_seconds, runs."""
    has_ci = results.ci_low.notna() & results.ci_high.notna()
    warned = results.warnings.fillna("").astype(str) != "" if "warnings" in results else False
    close = (results.estimate / results.truth - 1).abs() < 0.1
    r = results.assign(
        abs_error=(results.estimate - results.truth).abs(),
        low=(results.estimate - results.truth).abs().where(results.truth <= LOW_MI),
        high=(results.estimate - results.truth).abs().where(results.truth > LOW_MI),
        within_10pct=close,
        covered=((results.ci_low <= results.truth) & (results.truth <= results.ci_high)).astype(float).where(has_ci),
        warned=pd.Series(warned, index=results.index).astype(float).where(has_ci),
        warned_close=pd.Series(warned, index=results.index).astype(float).where(has_ci & close),
    )
    table = r.groupby(["n", "estimator"], sort=True).agg(
        mae=("abs_error", "mean"),
        mae_low_mi=("low", "mean"),
        mae_high_mi=("high", "mean"),
        within_10pct=("within_10pct", "mean"),
        coverage=("covered", "mean"),
        warned=("warned", "mean"),
        warned_within_10pct=("warned_close", "mean"),
        median_seconds=("seconds", "median"),
        runs=("estimate", "size"),
    )
    return table.reset_index().sort_values(["n", "mae"], kind="stable").reset_index(drop=True)


def benchmark_configs(
    tasks: Sequence[str],
    estimators: Sequence[str],
    ns: Sequence[int],
    seeds: Sequence[int],
    *,
    suite: Any = SUITE,
    allowed: Sequence[str] = BENCH_ESTIMATORS,
) -> list[dict[str, Any]]:
    """One configuration per (task, n, seed, estimator), checked against ``suite`` (a dict of
    task names) and the ``allowed`` estimators (``anchor.cmi_benchmark`` passes its own)."""
    for name in tasks:
        check_choice("tasks", name, suite, what="task")
    for name in estimators:
        check_choice("estimators", name, allowed, what="estimator")
    ns = [check_int("n", n, low=10) for n in ns]
    seeds = [check_seed(s) for s in seeds]
    return [
        {"task": t, "estimator": e, "n": n, "seed": s} for t in tasks for n in ns for s in seeds for e in estimators
    ]


def sweep_benchmark(
    configs: Sequence[dict[str, Any]],
    *,
    estimator_params: dict[str, Any] | None = None,
    cache: str | None = None,
    device: str = "cpu",
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """``run_sweep`` of ``run_task`` over ``configs`` (``anchor.sweep.notebook_sweep``: cache,
    local workers or a Dask ``scheduler``). ``estimator_params`` (the neural protocol) is part of
    each neural run's configuration, so a change recomputes only those runs."""
    from .sweep import notebook_sweep

    params = dict(estimator_params or {})
    full = [{**c, "estimator_params": params} if c["estimator"] in NEURAL and params else c for c in configs]
    return notebook_sweep(
        full, run_task, cache=cache, device=device, workers=workers, scheduler=scheduler, progress=progress
    ).drop(columns="run")


def _expand_tasks(names: str) -> list[str]:
    """Task names, families (all tasks of that family) or "all", comma-separated."""
    from .tasks import FAMILIES

    out: list[str] = []
    for name in (s.strip() for s in names.split(",") if s.strip()):
        if name == "all":
            out += list(SUITE)
        elif name in FAMILIES:
            out += [t for t in SUITE if SUITE[t]().family == name]
        else:
            check_choice("tasks", name, [*SUITE, *FAMILIES, "all"], what="task")
            out.append(name)
    return list(dict.fromkeys(out))


def main(argv: Sequence[str] | None = None) -> int:
    """Score MI estimators on tasks with known MI; write one tidy CSV row per run."""
    from .cache import atomic_write
    from .notebook import parse_value
    from .tasks import FAMILIES

    parser = argparse.ArgumentParser(prog="python -m anchor.benchmark", description=main.__doc__)
    parser.add_argument("--estimators", default=",".join(BENCH_ESTIMATORS), help="comma-separated; default: all")
    parser.add_argument(
        "--tasks", default="all", help=f"comma-separated task names, families ({', '.join(FAMILIES)}) or 'all'"
    )
    parser.add_argument("--n", nargs="+", type=int, default=[10000], help="sample sizes (default: 10000)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="data seeds (default: 0)")
    parser.add_argument("--out", default="results/benchmark.csv", help="CSV of all runs (default: %(default)s)")
    parser.add_argument("--cache", default="results/cache", help="result cache folder; '' stores nothing")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786): run there")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an estimate_mi argument for every neural estimator, e.g. --set max_steps=2000 (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the tasks and estimators, then exit")
    parser.add_argument(
        "--summarize", metavar="CSV", help="print the per-size summary of a CSV this command wrote, then exit"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    if args.summarize:
        _print_summary(pd.read_csv(args.summarize))
        return 0
    if args.list:
        for name in SUITE:
            print(f"{name:28s} {SUITE[name]()!r}")
        print("estimators:", ", ".join(BENCH_ESTIMATORS))
        return 0
    try:
        tasks = _expand_tasks(args.tasks)
        estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
        params = {}
        for item in args.set:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"--set takes NAME=VALUE, got {item!r}")
            params[name.strip()] = parse_value(value)
        configs = benchmark_configs(tasks, estimators, args.n, args.seeds)
    except (ValueError, KeyError) as err:
        parser.error(str(err.args[0]))
    results = sweep_benchmark(
        configs,
        estimator_params=params,
        cache=args.cache or None,
        device=args.device,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.quiet,
    )
    if "estimator_params" in results:
        results = results.drop(columns="estimator_params")
    buffer = io.StringIO()
    results.to_csv(buffer, index=False, lineterminator="\n")
    out = Path(args.out)
    atomic_write(out, lambda f: f.write(buffer.getvalue().encode()))
    _print_summary(results)
    print(f"{len(results)} runs written to {out}")
    return 0


def _print_summary(results: pd.DataFrame) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(size_summary(results).round(3).to_string(index=False))


if __name__ == "__main__":
    from ._console import run_command

    raise SystemExit(run_command(main, "python -m anchor.benchmark"))
