"""``mi_matrix`` on tables with known pairwise MI: accuracy, and time against its peers.

    python benchmarks/mi_matrix.py                         # 20 columns x 5,000 rows, every pair
    python benchmarks/mi_matrix.py --loop-pairs 20         # time the estimate_mi loop on 20 pairs only
    python benchmarks/mi_matrix.py --seeds 0 1 2           # three data sets: coverage over 570 pairs
    python benchmarks/mi_matrix.py --table student-t --loop-pairs 12   # heavy-tailed pairs
    python benchmarks/mi_matrix.py --columns 6 --n 500 --loop-pairs 3  # a quick look

Tables (``--table``):

* ``gaussian``: ``anchor.tasks.known_mi_table``: jointly normal columns behind strictly
  increasing maps (exp, cube, normal CDF, a wiggly map), so each pair's MI is -1/2 log(1 - r^2)
  of the normal correlation while the marginals are far from normal (``--columns`` of them).
* ``student-t``: ``anchor.tasks.student_t_pairs_table``: six bivariate Student-t pairs (1 to 5
  degrees of freedom; 12 columns, 66 pairs, 60 of them independent). Their dependence is not a
  Gaussian copula (two pairs have correlation 0 and positive MI), so only learned features find it.

On the same rows it runs:

* ``mi_matrix`` with its default (``method="shared"``, one model for every pair);
* the loop a user would otherwise write, ``estimate_mi`` on each pair in turn (its defaults; with
  ``--loop-pairs N`` on N pairs spread over the levels of true MI, up to N / levels from each,
  and its total time extrapolated to every pair);
* KSG (k = 3, ``anchor.benchmark.ksg_mi``) on each pair;
* the linear correlation, -1/2 log(1 - r^2) of the Pearson r of the raw columns.

Printed: per method the seconds (measured, or extrapolated and marked so; the median over
``--seeds``), the mean and largest absolute error (nats), the share of 95% intervals holding the
truth, the share of pairs with a warning, and the time ratios against ``mi_matrix``; the accuracy
of ``mi_matrix`` and of the loop on the pairs both ran; the coverage by level of true MI. The
target: every pair of 20 columns x 5,000 rows in at most 120 s on 2 CPU cores, each entry as
accurate as ``estimate_mi`` on that pair alone.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd

TARGET_SECONDS = 120.0


TABLES = ("gaussian", "student-t")


def make_table(kind: str, columns: int, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table and its true pairwise MI (nats)."""
    from anchor.tasks import known_mi_table, student_t_pairs_table

    if kind == "gaussian":
        return known_mi_table(n, columns=columns, seed=seed)
    return student_t_pairs_table(n, seed=seed)


def spread_pairs(pairs: list[tuple[str, str]], truth: pd.DataFrame, count: int) -> list[tuple[str, str]]:
    """Up to ``count`` pairs, as many from each level of true MI (rounded to 1e-3 nats) as fit."""
    levels: dict[float, list[tuple[str, str]]] = {}
    for a, b in pairs:
        levels.setdefault(round(float(truth.loc[a, b]), 3), []).append((a, b))
    each = max(1, -(-count // len(levels)))
    chosen = [p for level in sorted(levels, reverse=True) for p in levels[level][:each]]
    return chosen[:count]


def run(kind: str, columns: int, n: int, seed: int, loop_pairs: int | None, progress: bool) -> pd.DataFrame:
    """One row per (method, pair): the estimate, its interval where it has one, whether it warned."""
    import anchor
    from anchor.benchmark import ksg_mi

    table, truth = make_table(kind, columns, n, seed)
    pairs = list(itertools.combinations(table.columns, 2))
    rows = []

    def add(method: str, a: str, b: str, mi: float, low: float = np.nan, high: float = np.nan, warned=False):
        rows.append({"seed": seed, "method": method, "a": a, "b": b, "truth": truth.loc[a, b], "mi": mi,
                     "ci_low": low, "ci_high": high, "warned": warned})  # fmt: skip

    start = time.perf_counter()
    result = anchor.mi_matrix(table, seed=seed, progress=progress)
    seconds = {"mi_matrix": time.perf_counter() - start}
    for r in result.frame.itertuples():
        add("mi_matrix", r.a, r.b, r.mi, r.ci_low, r.ci_high, not r.trusted)

    looped = pairs if loop_pairs is None else spread_pairs(pairs, truth, loop_pairs)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in looped:
            est = anchor.estimate_mi(table[a], table[b], seed=seed, progress=False, keep_critics=False)
            add("estimate_mi loop", a, b, est.mi, est.ci_low, est.ci_high, not est.trusted)
    seconds["estimate_mi loop"] = (time.perf_counter() - start) * len(pairs) / len(looped)

    start = time.perf_counter()
    for a, b in pairs:
        add("ksg", a, b, ksg_mi(table[a].to_numpy(), table[b].to_numpy()))
    seconds["ksg"] = time.perf_counter() - start

    start = time.perf_counter()
    r = np.corrcoef(table.to_numpy(), rowvar=False)
    for (i, a), (j, b) in itertools.combinations(enumerate(table.columns), 2):
        add("linear correlation", a, b, float(-0.5 * np.log1p(-(r[i, j] ** 2))))
    seconds["linear correlation"] = time.perf_counter() - start
    out = pd.DataFrame(rows)
    out["seconds"] = out.method.map(seconds)
    out["extrapolated"] = (out.method == "estimate_mi loop") & (len(looped) < len(pairs))
    return out


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    r = rows.assign(
        error=(rows.mi - rows.truth).abs(),
        covered=((rows.ci_low <= rows.truth) & (rows.truth <= rows.ci_high)).where(rows.ci_low.notna()),
    )
    table = r.groupby("method", sort=False).agg(
        seconds=("seconds", "median"),
        extrapolated=("extrapolated", "first"),
        pairs=("mi", "size"),
        mae=("error", "mean"),
        max_error=("error", "max"),
        coverage=("covered", "mean"),
        warned=("warned", "mean"),
    )
    table["x mi_matrix time"] = table.seconds / table.loc["mi_matrix", "seconds"]
    return table


def coverage_by_level(rows: pd.DataFrame) -> pd.DataFrame:
    """Per level of true MI: the pairs and the share of ``mi_matrix``'s intervals holding it."""
    m = rows[rows.method == "mi_matrix"]
    covered = (m.ci_low <= m.truth) & (m.truth <= m.ci_high)
    return covered.groupby(m.truth.round(3)).agg(["size", "mean"]).rename(columns={"size": "pairs", "mean": "coverage"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", choices=TABLES, default="gaussian")
    parser.add_argument("--columns", type=int, default=20, help="columns of the gaussian table")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="data sets (and training seeds)")
    parser.add_argument("--loop-pairs", type=int, default=None, help="time the estimate_mi loop on this many pairs")
    parser.add_argument("--out", default=None, help="write every pair's estimates to this CSV")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.loop_pairs is not None and args.loop_pairs < 1:
        parser.error(f"--loop-pairs must be at least 1, got {args.loop_pairs}")
    rows = pd.concat([run(args.table, args.columns, args.n, s, args.loop_pairs, not args.quiet) for s in args.seeds])
    if args.out:
        rows.to_csv(args.out, index=False)
    table = summary(rows)
    keys = ["seed", "a", "b", "truth"]
    shared = rows[rows.method == "mi_matrix"].merge(rows[rows.method == "estimate_mi loop"], on=keys)
    pairs = len(rows[rows.method == "mi_matrix"]) // len(args.seeds)
    columns = rows.a.nunique() + 1
    print(f"{args.table} table: {columns} columns ({pairs} pairs) x {args.n} rows, seeds {args.seeds}")
    with pd.option_context("display.width", 160, "display.max_columns", 12):
        print(table.round(4).to_string())
        print("mi_matrix's 95% intervals by true MI (nats):")
        print(coverage_by_level(rows).round(3).to_string())
    print(
        f"on the {len(shared)} pairs both ran: mi_matrix MAE {(shared.mi_x - shared.truth).abs().mean():.4f}, "
        f"estimate_mi MAE {(shared.mi_y - shared.truth).abs().mean():.4f} nats; 95% intervals holding the truth: "
        f"mi_matrix {_covered(shared, 'x'):.2f}, estimate_mi {_covered(shared, 'y'):.2f}"
    )
    t = table.loc["mi_matrix", "seconds"]
    print(f"mi_matrix: {t:.1f} s = {t / TARGET_SECONDS:.2f} x the {TARGET_SECONDS:.0f} s target")
    return 0


def _covered(rows: pd.DataFrame, side: str) -> float:
    return float(((rows[f"ci_low_{side}"] <= rows.truth) & (rows.truth <= rows[f"ci_high_{side}"])).mean())


if __name__ == "__main__":
    raise SystemExit(main())
