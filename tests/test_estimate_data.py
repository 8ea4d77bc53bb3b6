"""``estimate_mi`` on the data people have: tables and names, categories, discrete and mixed data,
few rows, repeated rows and shared columns; its interval and its never-negative headline."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import anchor
from anchor.cli import main
from anchor.tasks import ClassMixture, SymmetricChannel, get_task

FAST = dict(folds=2, max_steps=200, eval_every=50, progress=False, warn=False)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    a = rng.normal(size=600)
    return pd.DataFrame(
        {
            "a": a,
            "b": a + rng.normal(size=600),
            "noise": rng.normal(size=600),
            "group": pd.Categorical(rng.choice(["p", "q", "r"], size=600)),
        }
    )


def test_dataframes_and_series_keep_their_names_through_the_estimate_and_pmi(frame):
    est = anchor.estimate_mi(frame[["a", "group"]], frame["b"], **FAST)
    assert est.x_columns == ["a", "group=p", "group=q", "group=r"] and est.y_columns == ["b"]
    assert est.encoding == {"x": {"a": "number", "group": "one-hot (3 levels)"}, "y": {"b": "number"}}
    pmi = est.pmi(frame[["a", "group"]].iloc[10:20], frame["b"].iloc[10:20])
    assert isinstance(pmi, pd.Series) and list(pmi.index) == list(range(10, 20)) and pmi.name == "pmi"
    as_arrays = est.pmi(frame[["a", "group"]].iloc[10:20], frame[["b"]].to_numpy()[10:20])
    assert np.allclose(np.asarray(pmi), np.asarray(as_arrays))
    with pytest.raises(ValueError, match=r"x must have the columns the estimate was fitted on"):
        est.pmi(frame[["noise", "group"]], frame["b"])
    assert len(est.pmi(frame[["a", "group"]].iloc[:2], frame["b"].iloc[:2])) == 2  # levels beyond the slice


def test_the_command_line_names_the_columns_and_encodes_text(tmp_path, frame, capsys):
    frame.assign(group=frame.group.astype(str)).to_csv(tmp_path / "t.csv", index=False)
    args = ["estimate", str(tmp_path / "t.csv"), str(tmp_path / "t.csv"), "--x-columns", "a,group", "--y-columns", "b"]
    assert main([*args, "--json", "--folds", "2", "--max-steps", "100", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["x_columns"] == ["a", "group=p", "group=q", "group=r"] and report["y_columns"] == ["b"]
    assert report["settings"] == {"nu": 16.0}  # a number, not a string
    assert report["mi"] >= 0 and report["mi"] == pytest.approx(max(report["mi_raw"], 0.0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_headline_is_never_negative_and_the_raw_value_is_kept(seed):
    x, y = torch.randn(300, 2, generator=torch.Generator().manual_seed(seed)).chunk(2, dim=1)
    est = anchor.estimate_mi(x, y, folds=5, progress=False, warn=False, copula=False, seed=seed)
    assert est.mi == max(est.mi_raw, 0.0) and est.mi >= 0.0
    assert 0.0 <= est.ci_low <= est.mi <= est.ci_high


def test_a_shared_continuous_column_is_named_as_infinite_mi(frame):
    x = frame[["a", "noise"]]
    y = pd.DataFrame({"a_again": np.exp(frame.a), "b": frame.b})
    est = anchor.estimate_mi(x, y, **FAST)
    assert any("x 'a' and y 'a_again' hold the same continuous variable" in w and "infinite" in w for w in est.warnings)


def test_repeated_continuous_rows_are_named_but_discrete_data_is_not():
    rng = np.random.default_rng(0)
    x, y = anchor.GaussianSampler(1, mi=1.0).sample(100, seed=0)
    rows = rng.permutation(np.repeat(np.arange(100), 20))
    est = anchor.estimate_mi(x[rows], y[rows], **FAST)
    assert any("95% of the rows repeat an earlier row" in w and "log 100 = 4.61 nats" in w for w in est.warnings)
    sx, sy = SymmetricChannel().sample(2000, seed=0)
    assert not any("repeat" in w for w in anchor.estimate_mi(sx, sy, **FAST).warnings)


def test_forty_rows_choose_a_batch_that_fits_and_warnings_speak_the_unit():
    x, y = anchor.GaussianSampler(1, mi=0.5).sample(40, seed=0)
    est = anchor.estimate_mi(x, y, unit="bits", progress=False, warn=False)
    assert est.n_train < 64 and est.mi >= 0
    wide = [w for w in est.warnings if "interval" in w]
    assert wide and "bits" in wide[0] and "nats" not in wide[0]
    with pytest.raises(ValueError, match=r"batch_size must be at most .* leave batch_size=None"):
        anchor.estimate_mi(x, y, batch_size=64, progress=False)


def test_discrete_and_mixed_data_against_their_exact_mi():
    """The 4-symbol channel (0.799 nats) and a 3-class Gaussian mixture (class against value,
    0.619 nats) at n = 2,000: each interval holds the exact MI."""
    for sampler in (SymmetricChannel(4, error=0.15), ClassMixture((-2.0, 0.0, 2.0))):
        x, y = sampler.sample(2000, seed=0)
        est = anchor.estimate_mi(x, y, progress=False, warn=False)
        assert est.ci_low <= sampler.mi <= est.ci_high, (sampler.name, str(est))
        assert est.mi == pytest.approx(sampler.mi, rel=0.1), (sampler.name, str(est))


@pytest.mark.parametrize("name", ["dense-3x3", "student-dof3-2x2", "sparse-10x10"])
def test_small_samples_cover_the_truth(name):
    """n = 500, four data sets per task: the 95% interval holds the truth in at least three (a
    coverage of 90% misses four of four with probability 1e-4 and two or more with 0.05)."""
    task = get_task(name)
    covered = []
    for seed in range(4):
        x, y = task.sample(500, seed=seed)
        est = anchor.estimate_mi(x, y, seed=seed, progress=False, warn=False)
        covered.append(est.ci_low <= task.mi <= est.ci_high)
    assert sum(covered) >= 3, (name, covered)


def test_the_gaussian_copula_start_is_said_when_every_fold_keeps_it():
    x, y = get_task("dense-5x5").sample(300, seed=0)
    est = anchor.estimate_mi(x, y, progress=False, warn=False)
    assert est.model == "gaussian copula" and "Gaussian-copula estimate" in str(est)
    assert est.mi == pytest.approx(get_task("dense-5x5").mi, rel=0.2)
    assert math.isfinite(est.plug_in) and est.mi_raw == pytest.approx(est.plug_in + est.fit_gap / 2)
