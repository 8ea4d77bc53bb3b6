"""What the figure notebooks share: parameters converted to their declared types, claims checked
or skipped by name; and both at work in real notebooks run by plain papermill."""

import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from anchor.notebook import Claims, check_parameters

ROOT = Path(__file__).resolve().parents[1]


def _namespace(**values):
    annotations = {
        "levels_bits": list[float],
        "profile": str,
        "stamp": bool,
        "dim": int,
        "lr": float,
        "tasks": Optional[list[str]],  # noqa: UP045 (what papermill reads)
        "critics": dict[str, int],
    }
    defaults = dict(levels_bits=[2.0], profile="smoke", stamp=True, dim=10, lr=0.1, tasks=None, critics={"joint": 8})
    return {"__annotations__": annotations, **defaults, **values}


def test_text_from_papermill_becomes_the_declared_type():
    ns = _namespace(levels_bits="[1.0, 3.0, 5]", tasks="[normal-1x1, spiral-3x3]", critics="{joint: 20}", lr="1e-3")
    converted = check_parameters(ns)
    assert ns["levels_bits"] == [1.0, 3.0, 5] and ns["tasks"] == ["normal-1x1", "spiral-3x3"]
    assert ns["critics"] == {"joint": 20} and ns["lr"] == 0.001
    assert set(converted) == {"levels_bits", "tasks", "critics", "lr"}
    assert check_parameters(_namespace()) == {}  # the defaults fit
    assert check_parameters(_namespace(tasks="null", profile="quick"))["tasks"] is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("levels_bits", "[1.0, two]", r"parameter levels_bits must be list\[float\], got '\[1.0, two\]' \(str\)"),
        ("levels_bits", "[1.0, 3.0", r"parameter levels_bits must be list\[float\]"),  # not YAML at all
        ("dim", 2.5, r"parameter dim must be int, got 2.5 \(float\)"),
        ("stamp", "yes please", r"parameter stamp must be bool"),
        ("profile", 3, r"parameter profile must be str, got 3 \(int\)"),
        ("critics", "{joint: fast}", r"parameter critics must be dict\[str, int\]"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_by_name(name, value, message):
    with pytest.raises(ValueError, match=message):
        check_parameters(_namespace(**{name: value}))


def test_claims_are_asserted_skipped_or_printed_and_failures_named(capsys):
    claims = Claims(check=True)
    claims.test("a holds", True, "measured 1")
    claims.skip("b", "its level was not run")
    claims.test("c fails", False, "measured 2")
    claims.test("d fails too", False)
    with pytest.raises(AssertionError, match=r"claims that failed: c fails \(measured 2\); d fails too"):
        claims.report()
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[holds] a holds: measured 1",
        "[skipped] b: its level was not run",
        "[FAILED] c fails: measured 2",
        "[FAILED] d fails too",
    ]


def test_without_check_claims_only_the_always_claims_are_asserted(capsys):
    claims = Claims(check=False)
    claims.test("needs a full run", False, "measured 2")
    claims.test("holds at any length", True, always=True)
    claims.report()  # no failure: the first is printed, not asserted
    out = capsys.readouterr().out
    assert "[not asserted] needs a full run: does not hold; measured 2" in out
    assert "[holds] holds at any length" in out
    claims.test("must hold", False, always=True)
    with pytest.raises(AssertionError, match="must hold"):
        claims.report()


def _papermill(tmp_path, notebook, *params):
    """Plain papermill (no runner) on a notebook source, as a user would run a copy of it."""
    source = tmp_path / f"{notebook}.ipynb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupytext",
            "--to",
            "ipynb",
            "-o",
            str(source),
            str(ROOT / "notebooks" / f"{notebook}.py"),
        ],
        check=True,
        capture_output=True,
    )
    out = tmp_path / f"{notebook}.out.ipynb"
    command = [sys.executable, "-m", "papermill", str(source), str(out), "-p", "figure_dir", str(tmp_path / "fig")]
    return subprocess.run([*command, *params], cwd=tmp_path, capture_output=True, text=True), out


@pytest.mark.slow
def test_plain_papermill_with_a_list_given_as_text(tmp_path):
    done, out = _papermill(tmp_path, "oracle", "-p", "levels_bits", "[1.0, 3.0, 5.0]", "-p", "n_batches", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "[holds] every plug-in objective reads I" in text and "[1.0, 3.0, 5.0]" in text
    done, _ = _papermill(tmp_path, "oracle", "-p", "levels_bits", "[1.0, three]")
    assert done.returncode != 0 and "parameter levels_bits must be list[float]" in done.stderr


@pytest.mark.slow
def test_the_staircase_claims_cell_with_other_levels(tmp_path):
    """Levels without 8 and 10 bits: the cell runs, and says what it could not check."""
    done, out = _papermill(tmp_path, "staircase", "-p", "bits", "[2.0, 4.0, 6.0]")
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "8 bits: not run" in text and "[skipped] separable: the anchor within 10% at every level" in text
    assert "[holds] InfoNCE never exceeds log B" in text
