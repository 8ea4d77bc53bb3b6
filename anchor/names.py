"""What figures and tables call each objective and estimator, and its colour (no matplotlib here).

One name and one colour per objective in every figure and table: InfoNCE-anchor red, the true MI
black. ``anchor.plotting`` draws with them; ``anchor.results`` writes tables with them.
"""

from __future__ import annotations

from collections.abc import Sequence

DISPLAY_NAMES = {
    "anchor": "InfoNCE-anchor",
    "infonce": "InfoNCE",
    "nwj": "NWJ",
    "dv": "DV",
    "mine": "MINE",
    "js": "JS",
    "smile-1": "SMILE (τ = 1)",
    "smile-5": "SMILE (τ = 5)",
    "smile-inf": "SMILE (τ = ∞)",
    "nce": "NCE",
    "chi2": "χ²",
    "anchor-brier": "Brier",
    "anchor-spherical": "spherical",
    "anchor-pseudo-spherical": "pseudo-spherical",
    "ksg": "KSG",
    "cca": "CCA",
    "random-init": "random init",
    # the scoring-rule family on the anchor problem (notebooks/scoring_rules.py)
    "log": "log (InfoNCE-anchor)",
    "brier": "Brier",
    "spherical": "spherical",
    "pseudo-spherical 1.5": "pseudo-spherical (α = 1.5)",
    "pseudo-spherical 3": "pseudo-spherical (α = 3)",
}
"""The name printed in figures for each objective or estimator code name."""

TRUTH_COLOR = "black"
COLORS = {
    "anchor": "#d62728",
    "log": "#d62728",
    "infonce": "#1f77b4",
    "nwj": "#ff7f0e",
    "dv": "#2ca02c",
    "mine": "#9467bd",
    "js": "#8c564b",
    "smile-1": "#f7b6d2",
    "smile-5": "#e377c2",
    "smile-inf": "#7b4173",
    "nce": "#17becf",
    "chi2": "#bcbd22",
    "anchor-brier": "#ff9896",
    "brier": "#ff9896",
    "anchor-spherical": "#843c39",
    "spherical": "#843c39",
    "anchor-pseudo-spherical": "#ad494a",
    "pseudo-spherical 1.5": "#e7969c",
    "pseudo-spherical 3": "#ad494a",
    "ksg": "#393b79",
    "cca": "#637939",
    "random-init": "#7f7f7f",
}
"""A fixed colour per objective or estimator, the same in every figure: InfoNCE-anchor red, no
objective black (black is the true MI)."""
_SPARE = ("#6b6ecf", "#b5cf6b", "#e7ba52", "#d6616b", "#ce6dbd", "#9c9ede", "#8ca252", "#bd9e39")


def display_name(name: str) -> str:
    """The printed name of an objective or estimator code name: ``"smile-5"`` -> ``"SMILE (τ = 5)"``;
    a labelled variant keeps its label (``"anchor nu=8"`` -> ``"InfoNCE-anchor nu=8"``)."""
    if name in DISPLAY_NAMES:
        return DISPLAY_NAMES[name]
    base, _, rest = name.partition(" ")
    return f"{DISPLAY_NAMES[base]} {rest}" if rest and base in DISPLAY_NAMES else name


def color(name: str) -> str:
    """The fixed colour of an objective or estimator (a variant such as ``"anchor nu=8"`` gets a
    colour of its own, derived from its name, so it stays the same from figure to figure)."""
    if name in COLORS:
        return COLORS[name]
    return _SPARE[sum(map(ord, name)) % len(_SPARE)]


def estimator_colors(names: Sequence[str]) -> dict[str, str]:
    """``{name: color(name)}``; names without a fixed colour that would share one get distinct spares."""
    colors, taken = {}, set()
    for name in names:
        value = color(name)
        if name not in COLORS and value in taken:
            value = next((c for c in _SPARE if c not in taken), value)
        colors[name] = value
        taken.add(value)
    return colors
