"""Where a checkout of the repository keeps its notebooks, caches and figures.

Everything that reads or writes the repository's files takes a ``Checkout``; none keeps a
module-level path, so one process can serve two checkouts (a test's and the real one).

    checkout = Checkout.find()              # the package's own checkout, or one above the working directory
    checkout.figures("quick")               # <root>/figures
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("smoke", "quick", "paper")
"""The parameter profiles of the figure jobs, fastest first."""

FIGURE_FOLDERS = {"smoke": "results/figures", "quick": "figures", "paper": "figures/paper"}
"""Per profile, where its figures go, relative to the checkout (smoke never overwrites committed figures)."""

MARKER = Path("notebooks") / "profiles.yaml"
PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def find_root(explicit: str | os.PathLike | None = None) -> Path:
    """The repository checkout: ``explicit`` (``--root``), else the checkout the package lives in,
    else the working directory or its nearest parent holding ``notebooks/profiles.yaml`` (a
    package installed from a wheel, run inside a clone).
    Raises ``FileNotFoundError`` saying that a checkout is needed when there is none."""
    if explicit is not None:
        root = Path(explicit).expanduser().resolve()
        if not (root / MARKER).is_file():
            raise FileNotFoundError(f"--root {str(root)!r} is not a checkout of the repository: it has no {MARKER}")
        return root
    here = Path.cwd().resolve()
    for folder in (PACKAGE_PARENT, here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    raise FileNotFoundError(
        "it runs the figure notebooks of a checkout of the repository (its notebooks/ and "
        f"notebooks/profiles.yaml), and found none in {here} or its parents, nor beside the installed "
        "package. Run it from a clone, or pass --root PATH_TO_CLONE."
    )


@dataclass(frozen=True)
class Checkout:
    """A checkout of the repository at ``root``."""

    root: Path

    @classmethod
    def find(cls, explicit: str | os.PathLike | None = None) -> Checkout:
        """The checkout ``find_root`` finds."""
        return cls(find_root(explicit))

    @classmethod
    def given(cls, checkout: Checkout | None) -> Checkout:
        """``checkout``, or when None the one ``find`` finds (the ``checkout=`` argument of the pipeline)."""
        return cls.find() if checkout is None else checkout

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def profiles(self) -> Path:
        return self.root / MARKER

    @property
    def cache(self) -> Path:
        """The result cache of training runs (ignored by git)."""
        return self.root / "results" / "cache"

    @property
    def executed(self) -> Path:
        """Where the runner writes executed notebooks (ignored by git)."""
        return self.root / "results" / "notebooks"

    @property
    def published(self) -> Path:
        """Where the executed notebooks that made the committed figures are kept (committed)."""
        return self.root / "notebooks" / "executed"

    def figures(self, profile: str, tag: str = "") -> Path:
        """The figure folder of ``profile``; a run with changed parameters (``tag``, e.g. "dim=5")
        writes to ``results/figures/<profile>.<tag>`` instead, never over the profile's figures."""
        if profile not in FIGURE_FOLDERS:
            raise ValueError(f"profile must be one of {list(FIGURE_FOLDERS)}, got {profile!r}")
        if tag:
            return self.root / "results" / "figures" / f"{profile}.{tag}"
        return self.root / FIGURE_FOLDERS[profile]
