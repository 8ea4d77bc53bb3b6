"""Heatmaps of MI matrices (``anchor.MiMatrix.matrix()``), for ``anchor matrix --heatmap`` and the
``cmi_matrix`` notebook."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_mi_matrices"]


def plot_mi_matrices(matrices: dict[str, pd.DataFrame], *, unit: str = "nats", vmax: float | None = None) -> plt.Figure:
    """Side-by-side heatmaps of square MI matrices (title -> matrix with the same index and
    columns; ``MiMatrix.matrix()``), on one colour scale from 0 to ``vmax`` (default: the
    largest entry); the NaN diagonal is left blank."""
    import seaborn as sns

    if not matrices:
        raise ValueError("matrices must hold at least one matrix")
    top = vmax if vmax is not None else max(float(np.nanmax(m.to_numpy())) for m in matrices.values())
    size = max(len(m) for m in matrices.values())
    cell = 0.22 if size > 12 else 0.35
    side = size * cell
    fig, axes = plt.subplots(
        1,
        len(matrices) + 1,
        figsize=(len(matrices) * (side + 0.6) + 0.8, side + 0.8),
        gridspec_kw={"width_ratios": [1.0] * len(matrices) + [0.05]},
    )
    for k, (ax, (title, m)) in enumerate(zip(axes[:-1], matrices.items(), strict=True)):
        sns.heatmap(
            m.astype(float),
            ax=ax,
            vmin=0.0,
            vmax=top,
            cmap="viridis",
            square=True,
            cbar=k == 0,
            cbar_ax=axes[-1] if k == 0 else None,
            cbar_kws={"label": f"MI ({unit})"},
            xticklabels=True,
            yticklabels=k == 0,
        )
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=6)
    axes[-1].tick_params(labelsize=7)
    fig.tight_layout()
    return fig
