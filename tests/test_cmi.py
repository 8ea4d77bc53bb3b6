"""Conditional MI: the task family's closed forms, ``estimate_cmi``, its peers and ``anchor cmi``."""

import inspect
import json
import math

import numpy as np
import pytest

import anchor
from anchor.cli import main
from anchor.cmi_benchmark import cmi_summary, ksg_cmi, partial_correlation_cmi, run_cmi_task
from anchor.cmi_tasks import CMI_KINDS, CMI_SUITE, get_cmi_task
from anchor.estimate import ESTIMATE_DEFAULTS

FAST = {"folds": 3, "max_steps": 300, "progress": False}


@pytest.mark.parametrize("name", list(CMI_SUITE))
def test_each_closed_form_is_the_monte_carlo_mean_of_the_pointwise_conditional_mi(name):
    task = get_cmi_task(name)
    x, y, z = task.sample(100_000, seed=1)
    values = task.log_ratio(x, y, z)
    se = values.std() / math.sqrt(len(values))
    assert abs(values.mean() - task.cmi) < 4 * se + 1e-9, (values.mean(), task.cmi, se)
    assert task.kind in CMI_KINDS
    assert [a.shape for a in (x, y, z)] == [(100_000, d) for d in task.dims]


def test_the_family_has_each_kind_and_the_two_textbook_cases():
    tasks = {name: get_cmi_task(name) for name in CMI_SUITE}
    assert {t.kind for t in tasks.values()} == set(CMI_KINDS)
    away, cause = tasks["explaining-away"], tasks["common-cause-linear"]
    assert away.mi == pytest.approx(0.0, abs=1e-12) and away.cmi > 0.4  # I(X;Y) = 0 < I(X;Y|Z)
    assert cause.cmi == pytest.approx(0.0, abs=1e-12) and cause.mi > 0.2  # I(X;Y) > 0 = I(X;Y|Z)
    *_, z = tasks["discrete-z-3class"].sample(1000, seed=0)
    assert set(np.unique(z)) == {0.0, 1.0, 2.0}


def test_the_peers_read_the_gaussian_truth_and_partial_correlation_misses_non_linear_confounding():
    task = get_cmi_task("gaussian-2x2x2")
    x, y, z = task.sample(20_000, seed=0)
    assert partial_correlation_cmi(x, y, z) == pytest.approx(task.cmi, abs=0.03)
    assert ksg_cmi(x, y, z) == pytest.approx(task.cmi, abs=0.08)
    x, y, z = get_cmi_task("common-cause-nonlinear").sample(5000, seed=0)
    assert partial_correlation_cmi(x, y, z) > 0.05  # linear conditioning leaves a dependence that is not there
    assert abs(ksg_cmi(x, y, z)) < 0.05


def test_a_common_cause_reads_near_zero_with_an_interval_holding_zero():
    x, y, z = get_cmi_task("common-cause-linear").sample(1000, seed=0)
    est = anchor.estimate_cmi(x, y, z, **FAST)
    assert est.mi < 0.05 and est.ci_low == 0.0 <= est.ci_high
    assert est.parts[0].mi > 0.3  # I(X; Y, Z) itself is far from 0: the difference cancels it


def test_explaining_away_is_found_and_the_folds_are_the_parts_differences():
    task = get_cmi_task("explaining-away")
    x, y, z = task.sample(1000, seed=0)
    est = anchor.estimate_cmi(x, y, z, **FAST)
    assert 0.2 < est.ci_low and est.ci_low <= task.cmi <= est.ci_high
    first, second = est.parts
    assert (first.quantity, second.quantity) == ("I(X; Y, Z)", "I(X; Z)")
    assert np.allclose(est.folds.mi, first.folds.mi.to_numpy() - second.folds.mi.to_numpy())
    assert est.quantity.startswith("I(X; Y | Z)") and str(est).startswith("I(X; Y | Z) = I(X; Y, Z) - I(X; Z) = ")
    both = anchor.estimate_cmi(x, y, z, chain="both", unit="bits", **FAST)
    assert len(both.parts) == 4 and both.unit == "bits"
    assert both.mi == pytest.approx(est.mi / math.log(2), rel=0.3)
    with pytest.raises(ValueError, match=r"est.parts\[k\].pmi"):
        est.pmi(x, np.hstack([y, z]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"chain": "z"}, "unknown chain 'z'; valid chains are: 'both', 'x', 'y'"),
        ({"epochs": 3}, r"unknown keyword argument\(s\) \['epochs'\]"),
        ({"folds": 0}, "folds"),
        ({"unit": "hartley"}, "unknown unit 'hartley'"),
    ],
)
def test_estimate_cmi_names_a_bad_argument(kwargs, message):
    x, y, z = get_cmi_task("gaussian-1x1x1").sample(100, seed=0)
    with pytest.raises((ValueError, KeyError), match=message):  # a bad name is a KeyError, as in estimate_mi
        anchor.estimate_cmi(x, y, z, **kwargs)
    with pytest.raises(ValueError, match=r"same number of rows"):
        anchor.estimate_cmi(x, y, z[:50])


def test_estimate_defaults_are_estimate_mis_signature():
    signature = inspect.signature(anchor.estimate_mi).parameters
    given = {k: p.default for k, p in signature.items() if p.default is not inspect.Parameter.empty}
    assert {k: v for k, v in given.items() if k != "warn"} == ESTIMATE_DEFAULTS


def test_a_benchmark_run_is_one_row_with_truth_estimate_and_interval():
    row = run_cmi_task(task="explaining-away", estimator="partial-corr", n=2000, seed=0)
    assert row.truth.iloc[0] == pytest.approx(get_cmi_task("explaining-away").cmi)
    assert row.estimate.iloc[0] == pytest.approx(row.truth.iloc[0], abs=0.06)
    summary = cmi_summary(row)
    assert summary.runs.iloc[0] == 1 and np.isnan(summary.coverage.iloc[0])


@pytest.fixture()
def triples(tmp_path):
    x, y, z = get_cmi_task("explaining-away").sample(300, seed=0)
    for name, a in (("x", x), ("y", y), ("z", z)):
        np.save(tmp_path / f"{name}.npy", a)
    np.save(tmp_path / "short.npy", z[:100])
    return tmp_path


def test_cmi_command_prints_the_estimate_its_terms_and_json(triples, capsys):
    files = [str(triples / f"{n}.npy") for n in "xyz"]
    assert main(["cmi", *files, "--folds", "2", "--max-steps", "60", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("I(X; Y | Z) = ") and out[1].startswith("  I(X; Y, Z) = ")
    assert main(["cmi", *files, "--folds", "2", "--max-steps", "60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quantity"].startswith("I(X; Y | Z)") and [p["quantity"] for p in report["parts"]] == [
        "I(X; Y, Z)",
        "I(X; Z)",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["x.npy", "y.npy", "nothere.npy"], "anchor cmi: z file '.*nothere.npy' does not exist"),
        (["x.npy", "y.npy", "short.npy"], r"anchor cmi: x, y and z have 300, 300 and 100 rows"),
        (["x.npy", "y.npy", "z.npy", "--folds", "0"], "anchor cmi: folds must be"),
    ],
)
def test_cmi_command_refuses_bad_input_in_one_line_with_status_2(triples, capsys, args, message):
    args = [str(triples / a) if a.endswith(".npy") else a for a in args]
    assert main(["cmi", *args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert __import__("re").match(message, err[0]), err
