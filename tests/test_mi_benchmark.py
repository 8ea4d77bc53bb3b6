"""The MI benchmark: the peers (KSG by ennemi, CCA), one run, the scores and the command line."""

import math

import numpy as np
import pandas as pd
import pytest

from anchor.benchmark import (
    benchmark_configs,
    cca_mi,
    coverage,
    family_scores,
    ksg_mi,
    main,
    run_task,
    score,
    size_summary,
)
from anchor.tasks import SUITE, Task, get_task


def test_ksg_is_ennemis_estimator():
    """On one pair of standardised columns our call gives exactly ennemi's public estimate_mi."""
    import ennemi

    x, y = get_task("normal-1x1").sample(1000, seed=0)
    x, y = x.double().numpy()[:, 0], y.double().numpy()[:, 0]
    x, y = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
    public = float(ennemi.estimate_mi(y, x, k=3, preprocess=False)[0, 0])
    assert ksg_mi(x, y) == pytest.approx(public, rel=1e-12)


@pytest.mark.parametrize("name", ["normal-1x1", "dense-2x2"])
def test_ksg_on_a_gaussian_is_within_its_known_bias(name):
    """Kraskov et al. (2004): on low-dimensional Gaussians with moderate correlation KSG's bias is
    a few hundredths of a nat at n = 5,000; the spread over data sets is about 0.01."""
    task = get_task(name)
    estimates = [ksg_mi(*[a.double().numpy() for a in task.sample(5000, seed=s)]) for s in range(3)]
    assert abs(np.mean(estimates) - task.mi) < 0.03


def test_ksg_falls_short_in_many_dimensions():
    task = get_task("dense-25x25")
    x, y = task.sample(2000, seed=0)
    assert ksg_mi(x.numpy(), y.numpy()) < 0.7 * task.mi


def test_cca_is_exact_for_normal_data_and_blind_to_tails():
    for name in ("dense-5x5", "sparse-10x10"):
        task = get_task(name)
        x, y = task.sample(20_000, seed=1)
        assert cca_mi(x.numpy(), y.numpy()) == pytest.approx(task.mi, abs=0.02)
    tails = Task("t", "student-t", np.eye(4), 2, dof=5)  # uncorrelated; its MI lives in the shared scale
    x, y = tails.sample(20_000, seed=1)
    assert tails.mi > 0.04 and cca_mi(x.numpy(), y.numpy()) < 0.01


def test_run_task_returns_one_row_for_each_kind_of_estimator():
    row = run_task(task="normal-1x1", estimator="cca", n=500, seed=0)
    assert list(row.columns) == [
        "task",
        "family",
        "dim_x",
        "dim_y",
        "n",
        "seed",
        "estimator",
        "truth",
        "estimate",
        "ci_low",
        "ci_high",
        "seconds",
        "error",
        "log_norm",
        "log_norm_capped",
        "fit_gap",
        "dv",
        "nwj",
        "converged",
        "half_width",
        "warnings",
    ]
    assert len(row) == 1 and row.error[0] == "" and math.isnan(row.ci_low[0]) and math.isnan(row.log_norm[0])
    neural = run_task(
        task="normal-1x1",
        estimator="anchor",
        n=400,
        seed=0,
        estimator_params={"folds": 2, "max_steps": 30, "eval_every": 10},
    )
    assert neural.ci_low[0] <= neural.estimate[0] <= neural.ci_high[0]
    assert neural.seconds[0] > 0 and math.isfinite(neural.log_norm[0]) and neural.converged[0] in (0.0, 1.0)
    assert "max_steps" in neural.warnings[0]  # 30 steps: the folds stopped before converging


def test_a_diverged_critic_is_recorded_not_raised():
    row = run_task(
        task="normal-1x1",
        estimator="nwj",
        n=400,
        seed=0,
        estimator_params={"folds": 2, "max_steps": 200, "eval_every": 10, "lr": 1e4},
    )
    assert math.isnan(row.estimate[0]) and "diverged" in row.error[0] and "fold 1 of 2" in row.error[0]


def _frame(rows):
    return pd.DataFrame(
        rows, columns=["task", "family", "estimator", "truth", "estimate", "ci_low", "ci_high", "seconds"]
    )


def test_scores_by_hand():
    results = _frame(
        [
            ("a", "normal", "e1", 1.0, 1.2, 1.1, 1.3, 2.0),  # within 1.5x, not within 10%, interval misses
            ("b", "normal", "e1", 2.0, 3.5, 3.0, 4.0, 4.0),  # 1.75x: not solved
            ("a", "normal", "e2", 1.0, 1.05, 0.9, 1.1, 1.0),  # within 10%, covered
            ("b", "normal", "e2", 2.0, float("nan"), float("nan"), float("nan"), 3.0),  # failed
            ("c", "student-t", "e2", 0.5, -0.1, -0.2, 0.6, 1.0),  # negative: not solved, covered
        ]
    )
    table = score(results).set_index("estimator")
    assert table.loc["e1", "mae"] == pytest.approx((0.2 + 1.5) / 2)
    assert table.loc["e1", "solved"] == pytest.approx(0.5) and table.loc["e1", "within_10pct"] == 0
    assert table.loc["e2", "mae"] == pytest.approx((0.05 + 0.6) / 2)  # over finished runs
    assert table.loc["e2", "solved"] == pytest.approx(1 / 3) and table.loc["e2", "failed"] == 1
    assert table.loc["e1", "median_seconds"] == pytest.approx(3.0)
    fam = family_scores(results)
    assert fam.loc["normal", "rank_e1"] == 2 and fam.loc["normal", "rank_e2"] == 1
    cov = coverage(results, by=("estimator",)).set_index("estimator")
    assert cov.loc["e1", "coverage"] == 0.0 and cov.loc["e2", "coverage"] == 1.0 and cov.loc["e2", "data_sets"] == 2
    assert "warned" not in cov and cov.loc["e2", "within_20pct"] == 0.5


def test_coverage_of_the_runs_that_did_not_warn():
    results = _frame(
        [
            ("a", "normal", "e1", 1.0, 1.2, 1.1, 1.3, 1.0),  # misses, warned
            ("a", "normal", "e1", 1.0, 1.0, 0.9, 1.1, 1.0),  # covers
            ("a", "normal", "e1", 1.0, 0.5, 0.4, 0.6, 1.0),  # misses
            ("a", "normal", "e2", 1.0, 0.5, 0.4, 0.6, 1.0),  # misses, warned
        ]
    ).assign(warnings=["normalisation", "", None, "folds disagree"])
    cov = coverage(results, by=("estimator",)).set_index("estimator")
    assert cov.loc["e1", "coverage"] == pytest.approx(1 / 3) and cov.loc["e1", "warned"] == pytest.approx(1 / 3)
    assert cov.loc["e1", "coverage_unwarned"] == pytest.approx(0.5)
    assert cov.loc["e2", "warned"] == 1.0 and math.isnan(cov.loc["e2", "coverage_unwarned"])


def test_size_summary_by_hand(tmp_path, capsys):
    results = _frame(
        [
            ("a", "normal", "e1", 1.0, 1.05, 0.9, 1.1, 1.0),  # within 10%, covered, warned
            ("b", "normal", "e1", 3.0, 2.0, 1.5, 2.5, 3.0),  # high MI, misses
            ("a", "normal", "e1", 1.0, 0.5, 0.4, 0.6, 2.0),  # misses
            ("a", "normal", "p", 1.0, 1.02, float("nan"), float("nan"), 0.1),  # no interval
        ]
    ).assign(n=[500, 500, 500, 500], warnings=["wide", "", None, ""])
    table = size_summary(results).set_index("estimator")
    assert table.loc["e1", "mae"] == pytest.approx((0.05 + 1.0 + 0.5) / 3)
    assert table.loc["e1", "mae_low_mi"] == pytest.approx(0.275) and table.loc["e1", "mae_high_mi"] == 1.0
    assert table.loc["e1", "coverage"] == pytest.approx(1 / 3) and table.loc["e1", "warned"] == pytest.approx(1 / 3)
    assert table.loc["e1", "warned_within_10pct"] == 1.0 and table.loc["e1", "median_seconds"] == 2.0
    assert math.isnan(table.loc["p", "coverage"]) and table.loc["p", "within_10pct"] == 1.0
    results.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["--summarize", str(tmp_path / "runs.csv")]) == 0
    assert "warned_within_10pct" in capsys.readouterr().out


def test_configs_check_their_names_and_sizes():
    assert len(benchmark_configs(["normal-1x1", "dense-2x2"], ["ksg", "cca"], [500, 1000], [0, 1, 2])) == 24
    with pytest.raises(KeyError, match="unknown estimator 'mien' in estimators"):
        benchmark_configs(["normal-1x1"], ["mien"], [500], [0])
    with pytest.raises(ValueError, match="n must be"):
        benchmark_configs(["normal-1x1"], ["ksg"], [5], [0])


def test_command_line_writes_a_tidy_csv(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    args = ["--estimators", "cca,ksg", "--tasks", "normal-1x1,student-t", "--n", "300", "--seeds", "0", "1"]
    assert main([*args, "--out", str(out), "--cache", str(tmp_path / "cache"), "--quiet"]) == 0
    table = pd.read_csv(out)
    student = [name for name in SUITE if get_task(name).family == "student-t"]
    assert len(table) == 2 * 2 * (1 + len(student))  # estimators x seeds x tasks
    assert set(table.estimator) == {"cca", "ksg"} and set(table.seed) == {0, 1}
    assert "runs written to" in capsys.readouterr().out
    # the second call reads every run from the cache: same numbers
    main([*args, "--out", str(tmp_path / "again.csv"), "--cache", str(tmp_path / "cache"), "--quiet"])
    again = pd.read_csv(tmp_path / "again.csv")
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), again.drop(columns="seconds"))


def test_command_line_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        main(["--tasks", "gausian", "--out", "/dev/null", "--cache", ""])
    assert "unknown task 'gausian' in tasks" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--set", "folds", "--out", "/dev/null", "--cache", ""])
    assert "--set takes NAME=VALUE" in capsys.readouterr().err
    assert main(["--list"]) == 0
    assert "spiral-sparse-3x3" in capsys.readouterr().out


def test_command_line_set_reads_numbers_as_numbers(tmp_path):
    """--set lr=1e-3 reaches estimate_mi as the float 0.001 (YAML alone reads it as text)."""
    out = tmp_path / "b.csv"
    argv = [
        "--estimators",
        "anchor",
        "--tasks",
        "normal-1x1",
        "--n",
        "300",
        "--out",
        str(out),
        "--cache",
        "",
        "--quiet",
    ]
    argv += ["--set", "lr=1e-3", "--set", "max_steps=20", "--set", "eval_every=10", "--set", "folds=2"]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert table.error.isna().all() and table.estimate.notna().all()
