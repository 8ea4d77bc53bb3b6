"""Figure helpers: one style for every figure, written as PNG and PDF with reproducible bytes.

Every figure of the project goes through this module: ``use_style`` (fonts readable at a
paper's column width, TrueType fonts in the PDFs), ``display_name`` and ``color`` (one name and
one colour per objective in every figure: InfoNCE-anchor red, the true MI black), and
``save_figure``. Quantities keep one unit everywhere: MI in nats, as in the tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .names import TRUTH_COLOR, color, display_name, estimator_colors
from .paths import find_root

COLUMN_WIDTH = 3.4
"""Inches: one column of a two-column paper. Figures are drawn at their printed width, so the
font sizes of ``STYLE`` are the sizes on the page."""
PAGE_WIDTH = 7.0
"""Inches: the full text width of a two-column paper."""

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    "lines.linewidth": 1.2,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # TrueType, not Type 3: accepted by every venue
    "ps.fonttype": 42,
    "svg.hashsalt": "anchor",
}


def use_style() -> None:
    """The project's matplotlib style (call once at the top of a notebook)."""
    mpl.rcParams.update(STYLE)


def default_figure_dir() -> Path:
    """``results/figures`` of the repository checkout (``anchor.paths.find_root``), whatever the
    working directory: where a notebook run by hand writes its figures."""
    return find_root() / "results" / "figures"


def notebook_setup(figure_dir: str = "") -> Path:
    """The preamble of every figure notebook: the figure style and the folder its figures go to,
    ``figure_dir`` when given, else ``default_figure_dir()``. Returns that folder. (Seeding torch
    and pandas display options are the notebook's own calls.)"""
    use_style()
    return Path(figure_dir) if figure_dir else default_figure_dir()


def save_figure(fig: plt.Figure, name: str, directory: str | Path, *, profile: str, stamp: bool = True) -> list[Path]:
    """Write ``fig`` as ``<directory>/<name>.png`` and ``.pdf`` with no timestamps in the files.

    Unless ``stamp`` is False (a notebook passes its ``stamp`` parameter), the profile that produced the
    figure ("smoke", "quick", "paper") is printed small in its lower right corner, so a committed
    figure says how it was made. Returns the written paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if stamp:
        # below the figure's lower edge, so it never covers an axis label (the saved bounding box grows to it)
        fig.text(0.995, 0.0, f"anchor · profile: {profile}", ha="right", va="top", fontsize=5, color="0.5")
    paths = [directory / f"{name}.png", directory / f"{name}.pdf"]
    with mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
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


def mark_off_scale(ax: plt.Axes, x: Sequence[float], y: Sequence[float], *, color: str) -> None:
    """Draw a triangle on the upper or lower edge of ``ax`` (at its current y limits) for each point
    outside them, so an estimator far off the scale is seen to leave the panel, not to vanish."""
    low, high = ax.get_ylim()
    x, y = np.asarray(x, float), np.asarray(y, float)
    for mask, edge, marker in ((y > high, high, "^"), (y < low, low, "v")):
        if mask.any():
            ax.plot(x[mask], np.full(mask.sum(), edge), ls="none", marker=marker, ms=5, color=color, clip_on=False)


def _run_panels(history: pd.DataFrame, row: str, order: list[str]) -> list[tuple[object, list[str]]]:
    groups = list(dict.fromkeys(history[row])) if row in history else [None]
    panels = []
    for value in groups:
        part = history if value is None else history[history[row] == value]
        panels.append((value, [name for name in order if (part.objective == name).any()]))
    return panels


def plot_staircase(
    history: pd.DataFrame,
    *,
    batch_size: int | None = None,
    smooth: int = 200,
    max_points: int = 4000,
    order: Sequence[str] | None = None,
    row: str = "critic",
    ncols: int = 4,
    width: float = PAGE_WIDTH,
) -> plt.Figure:
    """Estimate against step per estimator, in nats, in the style of the MI-staircase papers.

    ``history`` holds per-step rows (step, mi_true, estimate, objective and the ``row`` column, in
    nats). One block of panels per value of ``row`` (e.g. the critic), ``ncols`` panels wide, one
    panel per objective that was run (in ``order``): the raw per-batch estimate faint (thinned to
    at most ``max_points`` points and rasterised), its exponential moving average (span
    ``smooth`` steps) bold, the true staircase black and, with ``batch_size``, InfoNCE's ceiling
    log B dashed grey. The y range is the staircase plus a margin, so a diverging estimator
    leaves the panel instead of squashing it.
    """
    order = list(order) if order is not None else list(dict.fromkeys(history.objective))
    blocks = [(value, names) for value, names in _run_panels(history, row, order) if names]
    if not blocks:
        raise ValueError("plot_staircase: history has no rows of the objectives in `order`")
    top = float(history.mi_true.max())
    heights = [math.ceil(len(names) / ncols) for _, names in blocks]
    panel = width / ncols
    fig = plt.figure(figsize=(width, 0.95 * panel * sum(heights) + 0.45 * len(blocks) + 0.3), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(blocks), 1, height_ratios=heights, hspace=0.02))
    for subfig, (value, names), nrows in zip(subfigs, blocks, heights, strict=True):
        part = history if value is None else history[history[row] == value]
        axes = subfig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for k, ax in enumerate(axes):
            if k >= len(names):
                ax.set_visible(False)
                continue
            name = names[k]
            run = part[part.objective == name].sort_values("step")
            every = max(1, math.ceil(len(run) / max_points))
            faint = ax.plot(
                run.step.to_numpy()[::every], run.estimate.to_numpy()[::every], color=color(name), alpha=0.25, lw=0.4
            )
            faint[0].set_rasterized(True)
            ax.plot(run.step, run.estimate.ewm(span=smooth).mean(), color=color(name), lw=1.3)
            ax.plot(run.step, run.mi_true, color=TRUTH_COLOR, lw=0.9)
            if batch_size is not None:
                ax.axhline(math.log(batch_size), color="0.45", ls="--", lw=0.7)
            if run.get("diverged", pd.Series([False])).iloc[-1]:
                ax.text(0.5, 0.88, "diverged", transform=ax.transAxes, ha="center", color="0.2", fontsize=7)
            ax.set_title(display_name(name))
            ax.set_ylim(-0.5, top + 2.5)
            ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v else "0"))
            if k % ncols == 0:
                ax.set_ylabel("MI (nats)")
            if k >= len(names) - ncols:
                ax.set_xlabel("step")
                ax.xaxis.set_tick_params(labelbottom=True)
        missing = [display_name(n) for n in order if n not in names]
        label = f"{value} critic" if value is not None else ""
        if missing:
            label += (
                f"  (not run: {', '.join(missing)})" if len(missing) <= 3 else f"  ({len(names)} of {len(order)} run)"
            )
        if label:
            subfig.suptitle(label, fontsize=8, x=0.01, ha="left")
    handles = [
        mpl.lines.Line2D([], [], color=TRUTH_COLOR, lw=0.9, label="true MI"),
        mpl.lines.Line2D([], [], color="0.3", lw=1.3, label=f"moving average ({smooth} steps)"),
        mpl.lines.Line2D([], [], color="0.3", alpha=0.35, lw=0.6, label="per batch"),
    ]
    if batch_size is not None:
        handles.append(mpl.lines.Line2D([], [], color="0.45", ls="--", lw=0.7, label=f"log B (B = {batch_size})"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    return fig


def plot_level_summary(
    summary: pd.DataFrame, *, order: Sequence[str] | None = None, col: str = "critic", width: float | None = None
) -> plt.Figure:
    """The per-level table as a figure, in nats: the mean estimate ± its per-step sd against the
    truth (top) and the MSE (bottom), one column of panels per value of ``col``.

    ``summary`` is ``level_summary``'s output (nats). Levels where an estimator diverged are left
    out of its line. The axes stop at the staircase plus 2 nats and at an MSE of 50 nats²; a point
    beyond is drawn as a triangle on the panel's edge (the table has its numbers).
    """
    order = list(order) if order is not None else list(dict.fromkeys(summary.objective))
    cols = list(dict.fromkeys(summary[col])) if col in summary else [None]
    width = width if width is not None else (COLUMN_WIDTH if len(cols) == 1 else PAGE_WIDTH)
    height = 0.8 * width / len(cols) * 2 + 0.8
    fig, axes = plt.subplots(2, len(cols), figsize=(width, height), squeeze=False, sharex=True, layout="constrained")
    for j, value in enumerate(cols):
        part = summary if value is None else summary[summary[col] == value]
        ax, ax_mse = axes[0, j], axes[1, j]
        truth = np.sort(part.mi_true.unique())
        ax.set_ylim(-0.5, truth.max() + 2.0)
        ax_mse.set_yscale("log")
        finite = part.mse[(part.mse > 0) & np.isfinite(part.mse)]
        ax_mse.set_ylim(max(1e-3, 0.5 * float(finite.min())) if len(finite) else 1e-3, 50.0)
        ax.plot(truth, truth, color=TRUTH_COLOR, lw=2.0, label="true MI", zorder=0)
        for name in order:
            rows = part[(part.objective == name) & part["mean"].notna()].sort_values("mi_true")
            if not len(rows):
                continue
            style = dict(color=color(name), marker="o", ms=2.5, lw=1.6 if name in ("anchor", "log") else 0.9)
            low, high = ax.get_ylim()
            mean = rows["mean"].clip(low, high)
            ax.errorbar(
                rows.mi_true,
                mean,
                yerr=[
                    (mean - (rows["mean"] - rows.sd).clip(low, high)).clip(0),
                    ((rows["mean"] + rows.sd).clip(low, high) - mean).clip(0),
                ],
                capsize=1.5,
                elinewidth=0.6,
                label=display_name(name),
                **style,
            )
            mark_off_scale(ax, rows.mi_true, rows["mean"], color=color(name))
            ax_mse.plot(rows.mi_true, rows.mse.clip(*ax_mse.get_ylim()), **style)
            mark_off_scale(ax_mse, rows.mi_true, rows.mse, color=color(name))
        ax.set(ylabel="mean estimate ± sd (nats)", title=f"{value} critic" if value is not None else None)
        ax_mse.set(xlabel="true MI (nats)", ylabel="MSE (nats²)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4 if len(cols) > 1 else 2))
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
        .groupby(["task", "estimator"])
        .ratio.mean()
        .unstack()
        .reindex(index=tasks.task, columns=order)
    )
    labels = [f"{t} ({m:.2f})" for t, m in zip(tasks.task, tasks.truth, strict=True)]
    ratio.columns = [display_name(c) for c in ratio.columns]
    fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH, 1.6 + 0.55 * len(order)), 0.9 + 0.2 * len(labels)))
    ax.set_facecolor("0.85")
    sns.heatmap(
        ratio.set_axis(labels),
        ax=ax,
        cmap="RdBu_r",
        vmin=0.0,
        vmax=2.0,
        center=1.0,
        annot=True,
        fmt=".2f",
        annot_kws={"fontsize": 6},
        cbar_kws={"label": "estimate / true MI", "shrink": 0.6},
        linewidths=0.3,
    )
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
    fig, axes = plt.subplots(1, len(tasks), figsize=(PAGE_WIDTH, 2.4), sharey=True, squeeze=False, layout="constrained")
    for ax, task in zip(axes[0], tasks, strict=True):
        part = results[results.task == task].assign(ratio=lambda r: r.estimate / r.truth)
        for name in order:
            rows = part[part.estimator == name].groupby("n").ratio.agg(["mean", "min", "max"]).reset_index()
            if not len(rows):
                continue
            lw = 1.8 if name.startswith("anchor") else 1.0
            ax.plot(rows.n, rows["mean"], marker="o", ms=3, lw=lw, color=colors[name], label=display_name(name))
            ax.fill_between(rows.n, rows["min"], rows["max"], color=colors[name], alpha=0.15, lw=0)
        ax.axhline(1.0, color=TRUTH_COLOR, lw=1.0)
        ax.axhspan(1 / 1.5, 1.5, color="0.5", alpha=0.08, lw=0)
        ax.set(xscale="log", xlabel="samples n", title=f"{task}\n(MI {part.truth.iloc[0]:.2f} nats)")
        sizes = sorted(part.n.unique())
        ax.set_xticks(sizes, [f"{n / 1000:g}k" for n in sizes])
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.title.set_fontsize(8)
    axes[0, 0].set(ylabel="estimate / true MI", ylim=(0.0, 1.8))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center")
    return fig


def plot_pmi_calibration(
    curves: dict[str, tuple[pd.DataFrame, dict[str, float]]], *, unit: str = "nats", ncols: int = 3
) -> plt.Figure:
    """Binned predicted PMI against the true PMI (``anchor.interactions.calibration`` outputs), one
    panel per entry of ``curves`` (title: its key; several estimators of one task share a panel
    when the key is "task | estimator"), ``ncols`` panels per row. The dashed diagonal is perfect
    calibration; each panel lists every estimator's correlation and RMSE in its colour."""
    panels = list(dict.fromkeys(key.split(" | ")[0] for key in curves))
    names = list(dict.fromkeys(key.split(" | ")[1] if " | " in key else "" for key in curves))
    colors = estimator_colors([n for n in names if n])
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH, 2.1 * nrows + 0.4), squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.ravel()):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        panel, low, high, lines = panels[k], math.inf, -math.inf, []
        for key, (table, stats) in curves.items():
            if key.split(" | ")[0] != panel:
                continue
            name = key.split(" | ")[1] if " | " in key else ""
            shade = colors.get(name, TRUTH_COLOR)
            ax.plot(table.true, table.predicted, marker="o", ms=2, lw=1.1, color=shade)
            lines.append((f"r {stats['correlation']:.2f}, RMSE {stats['rmse']:.2f}", shade))
            low = min(low, table.true.min(), table.predicted.min())
            high = max(high, table.true.max(), table.predicted.max())
        ax.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
        for row, (text, shade) in enumerate(lines):
            ax.text(
                0.97,
                0.04 + 0.09 * (len(lines) - 1 - row),
                text,
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=6,
                color=shade,
            )
        ax.set_title(panel)
        if k % ncols == 0:
            ax.set_ylabel(f"predicted PMI ({unit})")
        if k + ncols >= len(panels):
            ax.set_xlabel(f"true PMI ({unit})")
    handles = [
        mpl.lines.Line2D([], [], color=colors[n], marker="o", ms=2, lw=1.1, label=display_name(n)) for n in names if n
    ]
    handles.append(mpl.lines.Line2D([], [], color="0.5", ls="--", lw=0.8, label="perfect calibration (bin means)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
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
    fig, axes = plt.subplots(1, len(sources) + 1, figsize=(PAGE_WIDTH, 2.6), squeeze=False, layout="constrained")
    for ax, source in zip(axes[0], sources, strict=False):
        part = scored[scored.source == source]
        for name in order:
            rows = part[part.objective == name]
            if rows.label.nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(rows.label, rows.score)
            ax.plot(fpr, tpr, lw=1.8 if name == "anchor" else 1.0, color=colors[name], label=display_name(name))
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
        ax.bar(
            xs,
            rows["mean"],
            width,
            yerr=rows["sd"].fillna(0),
            color=[colors[n] for n in order],
            alpha=0.85,
            hatch=None if s == 0 else "///",
            edgecolor="white",
            capsize=2,
        )
        if rows.ceiling.notna().any():
            ax.hlines(rows.ceiling, xs - width / 2, xs + width / 2, color="0.3", lw=1.0, ls=":")
    ax.set_xticks(np.arange(len(order)), [display_name(n) for n in order], rotation=45, ha="right")
    ax.set(ylim=(0.5, 1.0), ylabel="AUROC (mean ± sd over trials)\ndotted: the true PMI's")
    patches = [
        mpl.patches.Patch(facecolor="0.6", hatch=None if s == 0 else "///", edgecolor="white", label=source)
        for s, source in enumerate(sources)
    ]
    ax.legend(handles=patches, fontsize=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(sources))
    return fig
