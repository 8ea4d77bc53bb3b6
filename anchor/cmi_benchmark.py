"""The conditional-MI benchmark: every estimator on the same samples of ``anchor.cmi_tasks``.

    python -m anchor.cmi_benchmark --n 1000 5000 10000 --seeds 0 1 2 --out results/cmi_benchmark.csv
    python -m anchor.cmi_benchmark --list

Estimators (``CMI_ESTIMATORS``):

* "anchor": ``anchor.estimate_cmi`` (the chain rule I(X; Y, Z) - I(X; Z) on shared folds, its
  defaults); "anchor-both": the same averaged with the chain through Y (``chain="both"``, twice
  the training);
* "partial-corr": the conditional MI of the Gaussian with the sample covariance,
  1/2 (log det S_xz + log det S_yz - log det S_z - log det S_xyz), i.e. -1/2 sum log(1 - r_i^2)
  over the partial canonical correlations: exact for normal data, blind to non-linear
  dependence and to non-linear confounding;
* "ksg": the Frenzel-Pompe (2007) conditional KSG estimator with k = 3 neighbours in the max
  norm, computed by ``ennemi`` on standardised columns.

One run (``run_cmi_task``) is one estimator on one data set (task, n, seed): a one-row table
with the truth, the estimate, the 95% interval where the estimator gives one, the seconds and
the estimate's warnings. Runs are cached (``anchor.sweep``), so an interrupted benchmark resumes.
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

from ._checks import check_choice, check_int, check_seed
from .benchmark import _standardised, benchmark_configs
from .cmi_tasks import CMI_SUITE, get_cmi_task
from .conditional import estimate_cmi
from .estimate_result import EstimateError

CMI_ESTIMATORS = ("anchor", "anchor-both", "partial-corr", "ksg")

__all__ = ["CMI_ESTIMATORS", "cmi_summary", "ksg_cmi", "partial_correlation_cmi", "run_cmi_task"]


def partial_correlation_cmi(x: Any, y: Any, z: Any) -> float:
    """I(X; Y | Z) in nats of the Gaussian with the sample covariance of (x, y, z)."""
    xs, ys, zs = _standardised(x), _standardised(y), _standardised(z)
    data = np.concatenate([xs, ys, zs], axis=1)
    cov = np.cov(data, rowvar=False) + 1e-9 * np.eye(data.shape[1])
    dx, dy = xs.shape[1], ys.shape[1]
    ix, iy, iz = np.r_[0:dx], np.r_[dx : dx + dy], np.r_[dx + dy : data.shape[1]]

    def logdet(idx: np.ndarray) -> float:
        return float(np.linalg.slogdet(cov[np.ix_(idx, idx)])[1])

    return 0.5 * (logdet(np.r_[ix, iz]) + logdet(np.r_[iy, iz]) - logdet(iz) - logdet(np.r_[ix, iy, iz]))


def ksg_cmi(x: Any, y: Any, z: Any, *, k: int = 3) -> float:
    """The Frenzel-Pompe conditional KSG estimate of I(X; Y | Z) in nats (``k`` neighbours, max
    norm), by ``ennemi`` on standardised columns."""
    from ennemi._entropy_estimators import _estimate_conditional_mi

    k = check_int("k", k, low=1)
    xs, ys, zs = _standardised(x), _standardised(y), _standardised(z)
    if not xs.shape[0] == ys.shape[0] == zs.shape[0] or xs.shape[0] <= k:
        raise ValueError(f"x, y and z need the same number of rows, more than k={k}")
    return float(_estimate_conditional_mi(xs, ys, zs, k))


def run_cmi_task(
    *,
    task: str,
    estimator: str,
    n: int,
    seed: int,
    estimator_params: dict[str, Any] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """One estimator on one data set: ``n`` triples of ``task`` drawn with ``seed`` (one row).
    ``estimator_params`` go to ``estimate_cmi`` (the anchor estimators only)."""
    check_choice("estimator", estimator, CMI_ESTIMATORS)
    sampler = get_cmi_task(task)
    n, seed = check_int("n", n, low=10), check_seed(seed)
    x, y, z = sampler.sample(n, seed=seed)
    estimate = low = high = math.nan
    error = warnings = ""
    start = time.perf_counter()
    if estimator == "ksg":
        estimate = ksg_cmi(x, y, z)
    elif estimator == "partial-corr":
        estimate = partial_correlation_cmi(x, y, z)
    else:
        try:
            chain = "both" if estimator == "anchor-both" else "x"
            est = estimate_cmi(
                x,
                y,
                z,
                chain=chain,
                seed=seed,
                device=device,
                progress=progress,
                warn=False,
                **(estimator_params or {}),
            )
            estimate, low, high = est.mi, est.ci_low, est.ci_high
            warnings = " | ".join(est.warnings)
        except EstimateError as err:
            error = str(err)
    return pd.DataFrame(
        [
            {
                "task": task,
                "kind": sampler.kind,
                "n": n,
                "seed": seed,
                "estimator": estimator,
                "truth": sampler.cmi,
                "mi_xy": sampler.mi,
                "estimate": estimate,
                "ci_low": low,
                "ci_high": high,
                "seconds": time.perf_counter() - start,
                "error": error,
                "warnings": warnings,
            }
        ]
    )


def cmi_summary(results: pd.DataFrame, *, by: Sequence[str] = ("n", "estimator")) -> pd.DataFrame:
    """Per group: mae (nats), coverage of the 95% intervals (NaN without one), warned (share of
    runs with a warning), median_seconds, runs."""
    has_ci = results.ci_low.notna() & results.ci_high.notna()
    r = results.assign(
        abs_error=(results.estimate - results.truth).abs(),
        covered=((results.ci_low <= results.truth) & (results.truth <= results.ci_high)).astype(float).where(has_ci),
        warned=(results.warnings.fillna("").astype(str) != "").astype(float).where(has_ci),
    )
    table = r.groupby(list(by), sort=True).agg(
        mae=("abs_error", "mean"),
        coverage=("covered", "mean"),
        warned=("warned", "mean"),
        median_seconds=("seconds", "median"),
        runs=("estimate", "size"),
    )
    return table.reset_index()


def cmi_configs(
    tasks: Sequence[str], estimators: Sequence[str], ns: Sequence[int], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """One configuration per (task, n, seed, estimator), checked against the conditional family."""
    return benchmark_configs(tasks, estimators, ns, seeds, suite=CMI_SUITE, allowed=CMI_ESTIMATORS)


def sweep_cmi(
    configs: Sequence[dict[str, Any]],
    *,
    estimator_params: dict[str, Any] | None = None,
    cache: str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """``run_cmi_task`` over ``configs`` through ``anchor.sweep.notebook_sweep`` (cached, resumable);
    ``estimator_params`` join the anchor runs' configurations (so a change reruns only those)."""
    from .sweep import notebook_sweep

    params = dict(estimator_params or {})
    full = [{**c, "estimator_params": params} if c["estimator"].startswith("anchor") and params else c for c in configs]
    out = notebook_sweep(full, run_cmi_task, cache=cache, **options).drop(columns="run")
    return out.drop(columns="estimator_params", errors="ignore")


def main(argv: Sequence[str] | None = None) -> int:
    """Score conditional-MI estimators on tasks with known I(X; Y | Z); write one CSV row per run."""
    from .cache import atomic_write

    parser = argparse.ArgumentParser(prog="python -m anchor.cmi_benchmark", description=main.__doc__)
    parser.add_argument("--estimators", default=",".join(CMI_ESTIMATORS), help="comma-separated; default: all")
    parser.add_argument("--tasks", default="all", help="comma-separated task names or 'all'")
    parser.add_argument("--n", nargs="+", type=int, default=[5000], help="sample sizes (default: 5000)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="data seeds (default: 0)")
    parser.add_argument("--out", default="results/cmi_benchmark.csv", help="CSV of all runs (default: %(default)s)")
    parser.add_argument("--cache", default="results/cache", help="result cache folder; '' stores nothing")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--list", action="store_true", help="list the tasks and estimators, then exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.list:
        for name in CMI_SUITE:
            print(f"{name:26s} {CMI_SUITE[name]()!r}")
        print("estimators:", ", ".join(CMI_ESTIMATORS))
        return 0
    try:
        tasks = list(CMI_SUITE) if args.tasks == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
        estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
        configs = cmi_configs(tasks, estimators, args.n, args.seeds)
    except (ValueError, KeyError) as err:
        parser.error(str(err.args[0]))
    results = sweep_cmi(
        configs, cache=args.cache or None, device=args.device, workers=args.workers, progress=not args.quiet
    )
    buffer = io.StringIO()
    results.to_csv(buffer, index=False, lineterminator="\n")
    out = Path(args.out)
    atomic_write(out, lambda f: f.write(buffer.getvalue().encode()))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(cmi_summary(results).round(3).to_string(index=False))
    print(f"{len(results)} runs written to {out}")
    return 0


if __name__ == "__main__":
    from ._console import run_command

    raise SystemExit(run_command(main, "python -m anchor.cmi_benchmark"))
