"""The figure style: names, colours, fonts, deterministic files, output folders."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import anchor
from anchor import names as naming
from anchor import plotting
from anchor.benchmark import BENCH_ESTIMATORS


def test_every_objective_and_estimator_has_a_display_name_and_its_own_colour():
    names = [*anchor.OBJECTIVES, *BENCH_ESTIMATORS]
    assert all(n in naming.DISPLAY_NAMES for n in names), set(names) - set(naming.DISPLAY_NAMES)
    colors = [plotting.color(n) for n in dict.fromkeys(names)]
    assert plotting.TRUTH_COLOR not in colors  # black is the true MI's
    shown = [*anchor.objectives.STAIRCASE_OBJECTIVES, "ksg", "cca"]  # the estimators drawn together in one figure
    assert len({plotting.color(n) for n in shown}) == len(shown)
    assert plotting.display_name("smile-5") == "SMILE (τ = 5)"
    assert plotting.display_name("anchor nu=8") == "InfoNCE-anchor nu=8"
    assert plotting.display_name("mystery") == "mystery"


def test_names_without_a_fixed_colour_get_stable_distinct_ones():
    assert plotting.color("variant a") == plotting.color("variant a")
    colors = plotting.estimator_colors(["anchor", "variant a", "variant b", "variant c"])
    assert colors["anchor"] == naming.COLORS["anchor"]
    assert len(set(colors.values())) == 4


def _history(objectives=("anchor", "infonce"), critics=("separable", "joint")):
    rows = []
    for critic in critics:
        for name in objectives:
            for step in range(40):
                mi = math.log(4) if step < 20 else math.log(16)
                rows.append(
                    {
                        "critic": critic,
                        "objective": name,
                        "step": step,
                        "mi_true": mi,
                        "estimate": mi + 0.1,
                        "diverged": False,
                    }
                )
    return pd.DataFrame(rows)


def test_staircase_figure_has_a_panel_per_run_only_and_is_drawn_at_page_width():
    history = _history()
    history = history[~((history.critic == "joint") & (history.objective == "infonce"))]
    fig = plotting.plot_staircase(history, batch_size=64, order=["anchor", "infonce", "nwj"], smooth=5)
    visible = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["InfoNCE-anchor", "InfoNCE", "InfoNCE-anchor"]
    assert fig.get_size_inches()[0] == pytest.approx(plotting.PAGE_WIDTH)
    assert all(ax.get_ylabel() in ("", "MI (nats)") for ax in visible)
    plt.close(fig)
    with pytest.raises(ValueError, match="no rows of the objectives"):
        plotting.plot_staircase(history, order=["nwj"])


def test_level_summary_figure_marks_points_off_the_scale():
    summary = pd.DataFrame(
        {
            "objective": ["anchor", "anchor", "chi2", "chi2"],
            "mi_true": [1.0, 2.0, 1.0, 2.0],
            "mean": [1.0, 2.0, -30.0, -60.0],
            "sd": [0.1, 0.1, 5.0, 5.0],
            "mse": [0.01, 0.01, 900.0, 3800.0],
        }
    )
    fig = plotting.plot_level_summary(summary)
    top, bottom = fig.get_axes()[:2]
    assert fig.get_size_inches()[0] == pytest.approx(plotting.COLUMN_WIDTH)
    assert top.get_ylabel() == "mean estimate ± sd (nats)" and bottom.get_ylabel() == "MSE (nats²)"
    edge = [line for line in top.get_lines() if line.get_marker() == "v"]
    assert len(edge) == 1 and np.allclose(edge[0].get_ydata(), top.get_ylim()[0])
    assert [line.get_marker() for line in bottom.get_lines()].count("^") == 1
    plt.close(fig)


def test_figures_embed_truetype_fonts_are_byte_identical_and_the_stamp_can_be_left_out(tmp_path):
    def draw(folder, stamp):
        plotting.use_style()
        fig, ax = plt.subplots(figsize=(plotting.COLUMN_WIDTH, 2))
        ax.plot([0, 1], [0, 1], label="χ² and τ")
        ax.legend()
        paths = plotting.save_figure(fig, "f", tmp_path / folder, profile="smoke", stamp=stamp)
        texts = [t.get_text() for t in fig.texts]
        plt.close(fig)
        return paths, texts

    (png, pdf), texts = draw("a", True)
    (png2, pdf2), _ = draw("b", True)
    assert png.read_bytes() == png2.read_bytes() and pdf.read_bytes() == pdf2.read_bytes()
    assert texts == ["anchor · profile: smoke"]
    content = pdf.read_bytes()
    assert b"/Subtype /Type3" not in content  # Type 3 fonts, which some venues reject
    assert b"/CIDFontType2" in content or b"/Subtype /TrueType" in content
    _, texts = draw("c", False)
    assert texts == []


def test_notebook_setup_resolves_the_figure_folder_from_the_checkout(tmp_path, monkeypatch):
    from anchor.paths import Checkout

    monkeypatch.chdir(tmp_path)
    assert plotting.notebook_setup("") == Checkout.find().figures("smoke")
    assert plotting.notebook_setup("out") == plotting.Path("out")
