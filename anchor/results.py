"""The tables of RESULTS.md, made from the CSVs committed beside the figures.

RESULTS.md marks each generated table with ``<!-- table: NAME -->`` ... ``<!-- end table -->``;
``update`` rewrites every marked block from the CSVs in ``figures/`` (``figures/paper/`` for the
paper-profile ones), so the tables always say what the committed runs say.

    python -m anchor.results            # rewrite the marked tables of RESULTS.md
    python -m anchor.results --check    # exit 1, naming the tables, if any is out of date

``python -m anchor.reproduce --profile quick`` runs ``update`` after its last job. The prose
around the tables is written by hand.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .names import display_name
from .paths import find_root
from .references import LEE_RHEE_GAUSSIAN_JOINT, PAPER_INTERACTIONS_AUROC, PAPER_SSL_CIFAR100, lee_rhee_shift

BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)


def _markdown(table: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def _num(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _read(root: Path, name: str, profile: str = "quick") -> pd.DataFrame:
    path = root / "figures" / ("paper" if profile == "paper" else "") / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the job that writes it (python -m anchor.reproduce)")
    return pd.read_csv(path)


def staircase_levels(root: Path, profile: str = "paper") -> str:
    """Mean (MSE) per level of the anchor and its closest rivals, separable critic, Gaussian and
    cubic, with the true critic's per-batch floor (paper profile: 4,000 steps per level)."""
    rows = []
    for domain in ("gaussian", "cubic"):
        table = _read(root, f"staircase_{domain}_levels", profile)
        part = table[table.critic == "separable"]
        levels = sorted(part.mi_true_bits.unique())
        for name in ("anchor", "infonce", "nce", "smile-5"):
            runs = part[part.objective == name].set_index("mi_true_bits")
            if len(runs):
                cells = [f"{_num(runs.loc[b, 'mean'], 2)} ({_num(runs.loc[b, 'mse'])})" for b in levels]
                rows.append([f"{domain.capitalize()}, {display_name(name)}", *cells])
        floor = part.drop_duplicates("mi_true_bits").set_index("mi_true_bits")
        rows.append(
            [
                f"{domain.capitalize()}, true critic's per-batch floor",
                *[f"({_num(floor.loc[b, 'oracle_mse'])})" for b in levels],
            ]
        )
    columns = ["mean (MSE), nats", *[f"{b:g} bits" for b in levels]]
    return _markdown(pd.DataFrame(rows, columns=columns))


def staircase_domain(
    root: Path, domain: str, profile: str = "paper", critic: str = "separable", name: str | None = None
) -> str:
    """Mean (MSE) per level of every estimator of one domain's staircase, one critic; the lowest
    MSE of each level in bold. ``name``: the job's table if not ``staircase_<domain>``."""
    table = _read(root, f"{name or f'staircase_{domain}'}_levels", profile)
    part = table[table.critic == critic]
    levels = sorted(part.mi_true_bits.unique())
    best = part[~part.diverged.astype(bool)] if "diverged" in part else part
    best = best.groupby("mi_true_bits").mse.min()
    rows = []
    for name in dict.fromkeys(part.objective):
        runs = part[part.objective == name].set_index("mi_true_bits")
        cells = []
        for b in levels:
            if b not in runs.index:
                cells.append("not reached")
                continue
            row = runs.loc[b]
            if "diverged" in row and row.diverged:
                cells.append("diverged")
                continue
            mean, mse = (f"{v:.3g}" if abs(v) >= 1000 else _num(v, d) for v, d in ((row["mean"], 2), (row.mse, 3)))
            cell = f"{mean} ({mse})"
            cells.append(f"**{cell}**" if row.mse == best[b] else cell)
        rows.append([display_name(name), *cells])
    truth = part.drop_duplicates("mi_true_bits").set_index("mi_true_bits")
    if "oracle_mse" in truth:
        cells = [f"{_num(truth.loc[b, 'mi_true'], 2)} ({_num(truth.loc[b, 'oracle_mse'])})" for b in levels]
        rows.append(["truth (true critic's per-batch floor)", *cells])
    else:  # real data: no true critic
        rows.append(["truth", *[_num(truth.loc[b, "mi_true"], 2) for b in levels]])
    if "class_posterior_mi" in truth:  # what is left through a held-out linear classifier's view
        cells = [_num(truth.loc[b, "class_posterior_mi"], 2) for b in levels]
        rows.append(["MI through a linear classifier's class posterior", *cells])
    columns = [f"{critic}: mean (MSE), nats", *[f"{b:g} bits" for b in levels]]
    return _markdown(pd.DataFrame(rows, columns=columns))


def lee_rhee_gaussian_joint(root: Path) -> str:
    """Our joint-critic Gaussian staircase (paper profile) beside Lee & Rhee's published means,
    ours / theirs in nats; our JS shown minus 1/e (theirs is the offset form). Estimators they did
    not publish show ours only."""
    table = _read(root, "staircase_gaussian_joint_levels", "paper")
    part = table[table.critic == "joint"]
    levels = sorted(part.mi_true_bits.unique())
    rows = []
    for name in dict.fromkeys([*LEE_RHEE_GAUSSIAN_JOINT, *part.objective]):
        runs = part[part.objective == name].set_index("mi_true_bits")
        theirs = LEE_RHEE_GAUSSIAN_JOINT.get(name)
        shift = lee_rhee_shift(name) if theirs else 0.0
        cells = []
        for k, b in enumerate(levels):
            if b not in runs.index:
                ours = "not reached" if len(runs) else "not run"
            elif "diverged" in runs and runs.loc[b, "diverged"]:
                ours = "diverged"
            else:
                value = runs.loc[b, "mean"] + shift
                ours = f"{value:.3g}" if abs(value) >= 1000 else _num(value, 2)
            cells.append(ours if theirs is None else f"{ours} / {theirs[k]:.2f}")
        label = display_name(name) + (" (ours minus 1/e)" if shift else "")
        rows.append([label, *cells])
    truth = part.drop_duplicates("mi_true_bits").set_index("mi_true_bits")
    rows.append(["truth", *[_num(truth.loc[b, "mi_true"], 2) for b in levels]])
    columns = ["joint: ours / Lee & Rhee, nats", *[f"{b:g} bits" for b in levels]]
    return _markdown(pd.DataFrame(rows, columns=columns))


def _percent(fraction: float) -> str:
    return f"{100 * fraction:+.1f}%" if abs(fraction) < 10 else f"{100 * fraction:+,.0f}%"


def anchor_nu_k(root: Path, profile: str = "quick") -> str:
    """Per (nu, K): the largest relative error over the levels (mean over seeds, signed, with its
    level) and the per-step sd at the top level ("-" where a run did not reach it), for the
    quadratic critic and the separable MLP."""
    critics = {"quadratic": _read(root, "anchor_nu_k_levels", profile)}
    try:
        critics["separable MLP"] = _read(root, "anchor_nu_k_mlp_levels", profile)
    except FileNotFoundError:
        pass
    rows = []
    settings = critics["quadratic"][["nu", "K"]].drop_duplicates().itertuples(index=False)
    for nu, k in settings:
        row = [f"{nu:g}", f"{int(k)}"]
        for table in critics.values():
            part = table[(table.nu == nu) & (table.K == k)].set_index("mi_true_bits")
            if not len(part):
                row += ["-", "-"]
                continue
            worst = part.relative_error.abs().idxmax()
            row += [
                f"{_percent(part.loc[worst, 'relative_error'])} at {worst:g} bits ({int(part.seeds.iloc[0])})",
                _num(part.sd.get(table.mi_true_bits.max()), 2),
            ]
        rows.append(row)
    columns = ["nu", "K"]
    for name, table in critics.items():
        columns += [f"{name}: largest error (seeds)", f"sd at {table.mi_true_bits.max():g} bits"]
    return _markdown(pd.DataFrame(rows, columns=columns))


def _scoring_rules(root: Path, critic: str, profile: str, name: str = "scoring_rules") -> str:
    table = _read(root, f"{name}_levels", profile)
    part = table[table.critic == critic]
    levels = sorted(part.mi_true_bits.unique())
    rows = []
    for name in dict.fromkeys(part.objective):
        runs = part[part.objective == name].set_index("mi_true_bits")
        cells = []
        for b in levels:
            if b not in runs.index:  # every seed diverged at an earlier level
                cells.append("not reached")
                continue
            row = runs.loc[b]
            if row.diverged:
                cells.append(f"diverged (of {int(row.seeds)})")
            else:
                digits = 3 if row.mse < 10 else 1
                cells.append(f"{row.mse:.{digits}f} ± {row.mse_seed_sd:.{digits}f}")
        rows.append([display_name(name), *cells])
    return _markdown(pd.DataFrame(rows, columns=[f"{critic}: MSE (nats²)", *[f"{b:g} bits" for b in levels]]))


def scoring_rules_separable(root: Path) -> str:
    """MSE per level, mean ± sd over seeds, separable critic, paper profile (4,000 steps per level)."""
    return _scoring_rules(root, "separable", "paper")


def scoring_rules_separable_quick(root: Path) -> str:
    """The same at the quick profile (1,000 steps per level)."""
    return _scoring_rules(root, "separable", "quick")


def scoring_rules_joint(root: Path) -> str:
    """The same with the joint critic, paper profile (the job ``scoring_rules_joint``)."""
    return _scoring_rules(root, "joint", "paper", name="scoring_rules_joint")


def ssl_mnist(root: Path) -> str:
    """Linear probe and k-NN accuracy (%), mean ± sd over seeds, beside the paper's CIFAR-100."""
    table = _read(root, "ssl_mnist_table")
    paper = {display_name(k): v for k, v in PAPER_SSL_CIFAR100.items()}
    rows = [
        [
            row.objective,
            *[
                f"{getattr(row, f'{m}_mean'):.2f} ± {getattr(row, f'{m}_std'):.2f}"
                for m in ("probe_top1", "probe_top5", "knn_top1")
            ],
            "{:.2f} / {:.2f}".format(*paper[row.objective]) if row.objective in paper else "-",
        ]
        for row in table.itertuples()
    ]
    columns = ["objective", "linear probe top-1", "top-5", "20-NN", "the paper, CIFAR-100 top-1 / top-5"]
    return _markdown(pd.DataFrame(rows, columns=columns))


def suite_scores(root: Path) -> str:
    """Every estimator on the suite: MAE, solved share, within 10%, failed runs, median seconds."""
    table = _read(root, "mi_suite_scores")
    rows = [
        [
            display_name(r.estimator),
            _num(r.mae),
            _num(r.solved, 2),
            _num(r.within_10pct, 2),
            int(r.failed),
            _num(r.median_seconds, 2),
        ]
        for r in table.itertuples()
    ]
    columns = ["estimator", "MAE (nats)", "solved", "within 10%", "failed runs", "median s"]
    return _markdown(pd.DataFrame(rows, columns=columns))


def suite_families(root: Path) -> str:
    """MAE per family and estimator, and the anchor's rank."""
    table = _read(root, "mi_suite_families")
    names = [c for c in table.columns if c != "family" and not c.startswith("rank_")]
    rows = [[r["family"], *[_num(r[n]) for n in names], int(r["rank_anchor"])] for _, r in table.iterrows()]
    columns = ["family", *map(display_name, names), f"{display_name('anchor')} rank"]
    return _markdown(pd.DataFrame(rows, columns=columns))


def suite_sizes(root: Path) -> str:
    """MAE over the size tasks against n, per estimator."""
    table = _read(root, "mi_suite_sizes")
    mae = (table.estimate - table.truth).abs().groupby([table.n, table.estimator], sort=False).mean().unstack()
    order = list(dict.fromkeys(table.estimator))
    rows = [[f"{n:,}", *[_num(mae.loc[n, e]) for e in order]] for n in sorted(mae.index)]
    return _markdown(pd.DataFrame(rows, columns=["n", *map(display_name, order)]))


def suite_coverage(root: Path) -> str:
    """Coverage of estimate_mi's 95% interval over independent data sets."""
    table = _read(root, "mi_suite_coverage")
    rows = [
        [
            r.task,
            f"{int(r.n):,}",
            int(r.data_sets),
            _num(r.coverage, 2),
            _num(r.warned, 2),
            _num(r.mean_estimate),
            _num(r.truth),
            _num(r.mean_width),
        ]
        for r in table.itertuples()
    ]
    columns = ["task", "n", "data sets", "coverage", "warned", "mean estimate", "truth", "mean width"]
    return _markdown(pd.DataFrame(rows, columns=columns))


def pmi_calibration(root: Path, profile: str = "quick") -> str:
    """est.pmi on fresh pairs against the exact log ratio: correlation, RMSE, mean error."""
    table = _read(root, "pmi_calibration", profile)
    rows, last = [], None
    for r in table.itertuples():
        rows.append(
            [
                r.task if r.task != last else "",
                display_name(r.objective),
                _num(r.correlation),
                _num(r.rmse),
                _num(r.bias),
            ]
        )
        last = r.task
    columns = ["task", "objective", "Pearson r", "RMSE (nats)", "mean predicted − true"]
    return _markdown(pd.DataFrame(rows, columns=columns))


def pmi_interactions(root: Path, profile: str = "quick") -> str:
    """AUROC of held-out pairs ranked by est.pmi, mean ± sd over trials, beside the paper's."""
    table = _read(root, "pmi_interactions_summary", profile)
    sources = list(dict.fromkeys(table.source))
    rows = []
    for name in dict.fromkeys(table.objective):
        part = table[table.objective == name].set_index("source")
        paper = PAPER_INTERACTIONS_AUROC.get(name, ("-", "-"))
        rows.append(
            [display_name(name), *[f"{part.loc[s, 'mean']:.3f} ± {part.loc[s, 'sd']:.3f}" for s in sources], *paper]
        )
    rows.append(["LMI (latent KSG)", *["not run"] * len(sources), *PAPER_INTERACTIONS_AUROC["lmi"]])
    ceiling = table.drop_duplicates("source").set_index("source").ceiling
    rows.append(["true PMI (ceiling)", *[_num(ceiling[s]) for s in sources], "-", "-"])
    columns = ["objective", *sources, "paper, kinase", "paper, ligand"]
    return _markdown(pd.DataFrame(rows, columns=columns))


TABLES: dict[str, Callable[[Path], str]] = {
    "staircase-levels": staircase_levels,
    "staircase-levels-quick": lambda root: staircase_levels(root, "quick"),
    "staircase-imdb": lambda root: staircase_domain(root, "imdb"),
    "staircase-mnist": lambda root: staircase_domain(root, "mnist"),
    "staircase-mnist-joint": lambda root: staircase_domain(root, "mnist", critic="joint", name="staircase_mnist_joint"),
    "staircase-imdb-joint": lambda root: staircase_domain(root, "imdb", critic="joint", name="staircase_imdb_joint"),
    "staircase-gaussian-joint": lambda root: staircase_domain(
        root, "gaussian", critic="joint", name="staircase_gaussian_joint"
    ),
    "lee-rhee-gaussian-joint": lee_rhee_gaussian_joint,
    "staircase-cubic-joint": lambda root: staircase_domain(root, "cubic", critic="joint", name="staircase_cubic_joint"),
    "scoring-rules-separable": scoring_rules_separable,
    "scoring-rules-separable-quick": scoring_rules_separable_quick,
    "scoring-rules-joint": scoring_rules_joint,
    "ssl-mnist": ssl_mnist,
    "suite-scores": suite_scores,
    "suite-families": suite_families,
    "suite-sizes": suite_sizes,
    "suite-coverage": suite_coverage,
    "pmi-calibration": pmi_calibration,
    "pmi-interactions": pmi_interactions,
    "pmi-calibration-paper": lambda root: pmi_calibration(root, "paper"),
    "pmi-interactions-paper": lambda root: pmi_interactions(root, "paper"),
    "anchor-nu-k": anchor_nu_k,
    "anchor-nu-k-paper": lambda root: anchor_nu_k(root, "paper"),
}
"""Each marked table of RESULTS.md and the function that makes it from ``root``'s CSVs."""


def render(text: str, root: Path, missing: list[str] | None = None) -> str:
    """``text`` with every marked table remade from the CSVs under ``root``; an unknown name is an
    error, and so is a missing CSV unless ``missing`` is a list: then that table is left as it is
    and its name appended to the list."""

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise ValueError(f"RESULTS.md marks an unknown table {name!r}; known: {', '.join(TABLES)}")
        try:
            return match.group(1) + TABLES[name](root) + match.group(4)
        except FileNotFoundError:
            if missing is None:
                raise
            missing.append(name)
            return match.group(0)

    return BLOCK.sub(fill, text)


def stale(root: Path) -> list[str]:
    """The names of RESULTS.md's marked tables that differ from what the CSVs give."""
    text = (root / "RESULTS.md").read_text()
    fresh = {m["name"]: m["body"] for m in BLOCK.finditer(render(text, root))}
    return [m["name"] for m in BLOCK.finditer(text) if m["body"] != fresh[m["name"]]]


def update(root: Path, missing: list[str] | None = None) -> list[str]:
    """Rewrite RESULTS.md's marked tables from the CSVs (atomically); returns the names that changed.
    A missing CSV is an error, or, with a list as ``missing``, leaves its table as it is and is
    named in that list (what a run of only some jobs uses)."""
    path = root / "RESULTS.md"
    text = path.read_text()
    fresh = render(text, root, missing)
    old = {m["name"]: m["body"] for m in BLOCK.finditer(text)}
    changed = [m["name"] for m in BLOCK.finditer(fresh) if m["body"] != old[m["name"]]]
    if changed:
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(fresh)
        tmp.replace(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anchor.results", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which tables are out of date (exit 1 if any)")
    parser.add_argument("--root", help="the repository checkout (default: found from the working directory)")
    args = parser.parse_args(argv)
    try:
        root = find_root(args.root)
    except FileNotFoundError as err:
        parser.error(str(err))
    if args.check:
        changed = stale(root)
        print(f"out of date: {', '.join(changed)}" if changed else "RESULTS.md tables match the committed CSVs")
        return 1 if changed else 0
    changed = update(root)
    print(f"RESULTS.md: remade {', '.join(changed)}" if changed else "RESULTS.md tables already match the CSVs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
