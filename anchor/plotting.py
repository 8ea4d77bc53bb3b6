"""Figure helpers: one function writes every figure, as PNG and PDF with reproducible bytes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "svg.hashsalt": "anchor",
}


def use_style() -> None:
    """The project's matplotlib style (call once at the top of a notebook)."""
    mpl.rcParams.update(STYLE)


def save_figure(fig: plt.Figure, name: str, directory: str | Path, *, profile: str) -> list[Path]:
    """Write ``fig`` as ``<directory>/<name>.png`` and ``.pdf`` with no timestamps in the files.

    The profile that produced the figure ("smoke", "quick", "paper") is printed in its lower right
    corner, so a committed figure says how it was made. Returns the written paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fig.text(0.995, 0.005, f"anchor · profile: {profile}", ha="right", va="bottom", fontsize=6, color="0.5")
    paths = [directory / f"{name}.png", directory / f"{name}.pdf"]
    fig.savefig(paths[0], metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(
        paths[1],
        metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
        bbox_inches="tight",
    )
    return paths


def save_table(table: pd.DataFrame, name: str, directory: str | Path, *, decimals: int = 4) -> Path:
    """Write ``table`` as ``<directory>/<name>.csv`` with floats rounded, so reruns give the same bytes."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.csv"
    table.round(decimals).to_csv(path, index=False, lineterminator="\n")
    return path


def estimator_colors(names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A fixed colour per estimator, the anchor family in black and dark grey so it stands out."""
    import seaborn as sns

    others = [n for n in names if not n.startswith("anchor")]
    colors = dict(zip(others, sns.color_palette("tab10" if len(others) <= 10 else "tab20", len(others)), strict=True))
    family = [n for n in names if n.startswith("anchor")]
    greys = [(0.0, 0.0, 0.0), *sns.color_palette("Greys_r", len(family) + 1)[1:]]
    colors.update(dict(zip(family, greys, strict=False)))
    return colors


def plot_staircase(
    history: pd.DataFrame,
    *,
    batch_size: int | None = None,
    smooth: int = 200,
    max_points: int = 4000,
    order: Sequence[str] | None = None,
    row: str = "critic",
) -> plt.Figure:
    """Estimate against step per estimator, in bits, in the style of the MI-staircase papers.

    ``history`` holds per-step rows (step, mi_true, estimate, objective and the ``row`` column, in
    nats). One panel per objective (columns, in ``order``) and per value of ``row`` (rows): the raw
    per-batch estimate faint (thinned to at most ``max_points`` points and rasterised), its
    exponential moving average (span ``smooth`` steps) bold, the true staircase in black and, with
    ``batch_size``, the log B ceiling of InfoNCE dashed. The y range is clipped to the staircase
    plus a margin, so a diverging estimator leaves the panel instead of squashing it.
    """
    order = list(order) if order is not None else list(dict.fromkeys(history.objective))
    rows = list(dict.fromkeys(history[row])) if row in history else [None]
    colors = estimator_colors(order)
    top = float(history.mi_true.max()) / math.log(2)
    size = (1.9 * len(order), 2.0 * len(rows) + 0.4)
    fig, axes = plt.subplots(len(rows), len(order), figsize=size, sharex="row", sharey=True, squeeze=False)
    for i, value in enumerate(rows):
        part = history if value is None else history[history[row] == value]
        for j, name in enumerate(order):
            ax = axes[i, j]
            run = part[part.objective == name].sort_values("step")
            if len(run):
                truth = run.mi_true.to_numpy() / math.log(2)
                estimate = run.estimate.to_numpy() / math.log(2)
                every = max(1, math.ceil(len(run) / max_points))
                ax.plot(run.step.to_numpy()[::every], estimate[::every], color=colors[name], alpha=0.25, lw=0.5)
                ax.lines[-1].set_rasterized(True)
                smoothed = pd.Series(estimate).ewm(span=smooth).mean().to_numpy()
                ax.plot(run.step, smoothed, color=colors[name], lw=1.6)
                ax.plot(run.step, truth, color="black", lw=1.0)
                if run.get("diverged", pd.Series([False])).iloc[-1]:
                    ax.text(0.5, 0.9, "diverged", transform=ax.transAxes, ha="center", color="tab:red", fontsize=7)
            else:
                ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", color="0.5", fontsize=7)
            if batch_size is not None:
                ax.axhline(math.log2(batch_size), color="0.4", ls="--", lw=0.8)
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{value} critic\nMI (bits)" if value is not None else "MI (bits)")
            if i == len(rows) - 1:
                ax.set_xlabel("step")
    axes[0, 0].set_ylim(-1.0, top + 4.0)
    fig.tight_layout()
    return fig


def plot_level_summary(summary: pd.DataFrame, *, order: Sequence[str] | None = None, col: str = "critic") -> plt.Figure:
    """The per-level table as a figure: mean +- sd against the truth (top) and MSE (bottom), in bits.

    ``summary`` is ``level_summary``'s output (nats) with a ``col`` column (one panel column per
    value). Levels where an estimator diverged are left out of its line; the axes stop at the
    staircase plus 3 bits and at an MSE of 100 bits², so a failing estimator leaves the panel
    rather than squashing the others (the table has its numbers).
    """
    order = list(order) if order is not None else list(dict.fromkeys(summary.objective))
    cols = list(dict.fromkeys(summary[col])) if col in summary else [None]
    colors = estimator_colors(order)
    fig, axes = plt.subplots(2, len(cols), figsize=(4.6 * len(cols), 6.4), squeeze=False, sharex=True)
    ln2 = math.log(2)
    for j, value in enumerate(cols):
        part = summary if value is None else summary[summary[col] == value]
        ax, ax_mse = axes[0, j], axes[1, j]
        truth = np.sort(part.mi_true.unique()) / ln2
        ax.plot(truth, truth, color="black", lw=2.5, label="true MI", zorder=0)
        for name in order:
            rows = part[(part.objective == name) & part["mean"].notna()].sort_values("mi_true")
            if not len(rows):
                continue
            style = dict(color=colors[name], marker="o", ms=3, lw=1.8 if name.startswith("anchor") else 1.0)
            ax.errorbar(rows.mi_true / ln2, rows["mean"] / ln2, yerr=rows.sd / ln2, capsize=2, label=name, **style)
            ax_mse.plot(rows.mi_true / ln2, rows.mse / ln2**2, **style)
        ax.set(ylabel="mean estimate +- sd (bits)", title=f"{value} critic" if value is not None else None)
        ax.set_ylim(-1.0, truth.max() + 3.0)  # estimators far off the staircase leave the panel
        ax_mse.set(xlabel="true MI (bits)", ylabel="MSE (bits²)", yscale="log")
        low = max(1e-3, 0.5 * float(np.nanmin(part.mse / ln2**2))) if part.mse.notna().any() else 1e-3
        ax_mse.set_ylim(low, 1e2)
    axes[0, 0].legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    return fig


def plot_suite_heatmap(results: pd.DataFrame, *, order: Sequence[str] | None = None) -> plt.Figure:
    """Tasks (rows, grouped by family) by estimators (columns): the mean estimate over data seeds
    divided by the true MI, written in each cell, coloured from 0 to 2 (1 = the truth, a diverging
    colour map; failed runs grey). Rows are labelled with the task and its true MI in nats, in
    the style of the Beyond Normal paper's figure 1."""
    import seaborn as sns

    order = list(order) if order is not None else list(dict.fromkeys(results.estimator))
    tasks = results.drop_duplicates("task").sort_values(["family", "truth"], kind="stable")
    ratio = (
        results.assign(ratio=results.estimate / results.truth)
        .groupby(["task", "estimator"]).ratio.mean().unstack().reindex(index=tasks.task, columns=order)
    )  # fmt: skip
    labels = [f"{t} ({m:.2f})" for t, m in zip(tasks.task, tasks.truth, strict=True)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(order), 0.9 + 0.24 * len(labels)))
    ax.set_facecolor("0.85")
    sns.heatmap(
        ratio.set_axis(labels), ax=ax, cmap="RdBu_r", vmin=0.0, vmax=2.0, center=1.0, annot=True, fmt=".2f",
        annot_kws={"fontsize": 6}, cbar_kws={"label": "estimate / true MI", "shrink": 0.6}, linewidths=0.3,
    )  # fmt: skip
    ax.set(xlabel="", ylabel="task (true MI, nats)")
    ax.tick_params(axis="both", labelsize=7)
    ax.grid(False)
    fig.tight_layout()
    return fig


def plot_sample_sizes(results: pd.DataFrame, *, order: Sequence[str] | None = None) -> plt.Figure:
    """Estimate / truth against the sample size, one panel per task, one line per estimator (mean
    over data seeds; the band is the range over seeds when there are several)."""
    order = list(order) if order is not None else list(dict.fromkeys(results.estimator))
    tasks = list(dict.fromkeys(results.task))
    colors = estimator_colors(order)
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.7 * len(tasks), 2.8), sharey=True, squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        part = results[results.task == task].assign(ratio=lambda r: r.estimate / r.truth)
        for name in order:
            rows = part[part.estimator == name].groupby("n").ratio.agg(["mean", "min", "max"]).reset_index()
            if not len(rows):
                continue
            lw = 1.8 if name.startswith("anchor") else 1.0
            ax.plot(rows.n, rows["mean"], marker="o", ms=3, lw=lw, color=colors[name], label=name)
            ax.fill_between(rows.n, rows["min"], rows["max"], color=colors[name], alpha=0.15, lw=0)
        ax.axhline(1.0, color="black", lw=1.0)
        ax.axhspan(1 / 1.5, 1.5, color="0.5", alpha=0.08, lw=0)
        ax.set(xscale="log", xlabel="samples n", title=f"{task}\n(MI {part.truth.iloc[0]:.2f} nats)")
        sizes = sorted(part.n.unique())
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes], fontsize=7)
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.title.set_fontsize(8)
    axes[0, 0].set(ylabel="estimate / true MI", ylim=(0.0, 1.8))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    fig.legend(handles, labels, fontsize=7, loc="center right")
    return fig


def plot_pmi_calibration(curves: dict[str, tuple[pd.DataFrame, dict[str, float]]], *, unit: str = "nats") -> plt.Figure:
    """Binned predicted PMI against the true PMI (``anchor.interactions.calibration`` outputs), one
    panel per entry of ``curves`` (title: its key; several estimators of one task share a panel
    when the key is "task | estimator"); the diagonal is perfect calibration."""
    panels = list(dict.fromkeys(key.split(" | ")[0] for key in curves))
    names = list(dict.fromkeys(key.split(" | ")[1] if " | " in key else "" for key in curves))
    colors = estimator_colors([n for n in names if n])
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.7), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        low, high = math.inf, -math.inf
        for key, (table, stats) in curves.items():
            if key.split(" | ")[0] != panel:
                continue
            name = key.split(" | ")[1] if " | " in key else ""
            label = f"{name} (r {stats['correlation']:.2f}, RMSE {stats['rmse']:.2f})".strip()
            ax.plot(table.true, table.predicted, marker="o", ms=3, lw=1.2, color=colors.get(name, "black"), label=label)
            low = min(low, table.true.min(), table.predicted.min())
            high = max(high, table.true.max(), table.predicted.max())
        ax.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
        ax.set(xlabel=f"true PMI ({unit}), bin mean", title=panel)
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6, loc="upper left")
    axes[0, 0].set(ylabel=f"predicted PMI ({unit}), bin mean")
    fig.tight_layout()
    return fig


def plot_interaction_roc(
    scored: pd.DataFrame, aurocs: pd.DataFrame, *, order: Sequence[str] | None = None
) -> plt.Figure:
    """Left panels: ROC curves of one trial per source (one line per objective, dashed: the true
    PMI where known). Right: AUROC mean +- sd over trials per objective and source, with the
    true-PMI ceiling as a grey mark. ``scored``: ``score_trial`` rows of the trial to draw;
    ``aurocs``: ``auroc_table`` by source, objective and trial."""
    from sklearn.metrics import roc_curve

    order = list(order) if order is not None else list(dict.fromkeys(aurocs.objective))
    sources = list(dict.fromkeys(aurocs.source))
    colors = estimator_colors(order)
    fig, axes = plt.subplots(1, len(sources) + 1, figsize=(2.8 * (len(sources) + 1), 2.8), squeeze=False)
    for ax, source in zip(axes[0], sources, strict=False):
        part = scored[scored.source == source]
        for name in order:
            rows = part[part.objective == name]
            if rows.label.nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(rows.label, rows.score)
            ax.plot(fpr, tpr, lw=1.8 if name.startswith("anchor") else 1.0, color=colors[name], label=name)
        truth = part.drop_duplicates(["x_row", "y_row"])
        if truth.true_pmi.notna().all() and truth.label.nunique() == 2:
            fpr, tpr, _ = roc_curve(truth.label, truth.true_pmi)
            ax.plot(fpr, tpr, color="0.4", ls="--", lw=1.0, label="true PMI")
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.6)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{source}: trial {part.trial.min()}")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6, loc="lower right")
    ax = axes[0, -1]
    width = 0.8 / max(1, len(sources))
    for s, source in enumerate(sources):
        part = (
            aurocs[aurocs.source == source]
            .groupby("objective")
            .agg(mean=("auroc", "mean"), sd=("auroc", "std"), ceiling=("ceiling", "mean"))
        )
        xs = np.arange(len(order)) + (s - (len(sources) - 1) / 2) * width
        rows = part.reindex(order)
        ax.bar(xs, rows["mean"], width, yerr=rows["sd"].fillna(0), color=[colors[n] for n in order],
               alpha=0.85, hatch=None if s == 0 else "///", edgecolor="white", capsize=2)  # fmt: skip
        if rows.ceiling.notna().any():
            ax.hlines(rows.ceiling, xs - width / 2, xs + width / 2, color="0.3", lw=1.0, ls=":")
    ax.set_xticks(np.arange(len(order)), order, rotation=45, ha="right", fontsize=7)
    ax.set(ylim=(0.5, 1.0), ylabel="AUROC (mean ± sd over trials)\ndotted: the true PMI's")
    patches = [mpl.patches.Patch(facecolor="0.6", hatch=None if s == 0 else "///", edgecolor="white", label=source)
               for s, source in enumerate(sources)]  # fmt: skip
    ax.legend(handles=patches, fontsize=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(sources))
    ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig
