"""Figure helpers: one function writes every figure, as PNG and PDF with reproducible bytes."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt

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
