"""Notebook pipeline wiring: profiles match parameters, sources and executed notebooks are paired."""

import ast
from pathlib import Path

import jupytext
import pytest

from anchor.reproduce import NOTEBOOKS, PROFILES, load_profiles

PROFILE_TABLE = load_profiles()


def _parameters(name):
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}.py needs exactly one cell tagged 'parameters'"
    tree = ast.parse(cells[0].source)
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}


@pytest.mark.parametrize("name", list(PROFILE_TABLE))
def test_every_profile_key_is_a_notebook_parameter(name):
    params = _parameters(name)
    assert {"profile", "figure_dir"} <= params
    assert set(PROFILE_TABLE[name]) == set(PROFILES), f"{name} needs exactly the profiles {PROFILES}"
    for profile, values in PROFILE_TABLE[name].items():
        unknown = set(values) - params
        assert not unknown, f"profile {profile!r} of {name} sets unknown parameters {sorted(unknown)}"


def test_every_source_is_listed_and_paired():
    sources = {p.stem for p in NOTEBOOKS.glob("*.py")}
    assert sources == set(PROFILE_TABLE)
    for name in sources:
        assert (NOTEBOOKS / f"{name}.ipynb").exists(), f"run `make notebooks` to pair {name}.py"


@pytest.mark.parametrize("name", list(PROFILE_TABLE))
def test_committed_notebook_matches_its_source(name):
    """The executed .ipynb was made from the current .py source (cell sources agree)."""
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    executed = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert [c.source for c in source.cells] == [
        c.source for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])
    ]


def test_committed_figures_exist():
    figures = Path(__file__).resolve().parents[1] / "figures"
    assert (figures / "oracle_objectives.png").exists() and (figures / "oracle_objectives.pdf").exists()
