"""``mi_matrix``: pairs of columns or groups, the square matrix, the known-MI table, ``anchor matrix``."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import anchor
from anchor.cli import main
from anchor.estimate_result import interval_of
from anchor.tasks import STUDENT_T_PAIRS, known_mi_table, student_t_mi, student_t_pairs_table

FAST = {"max_steps": 300, "progress": False}


@pytest.fixture(scope="module")
def table():
    return known_mi_table(1000, columns=10, seed=0)


@pytest.fixture(scope="module")
def shared(table):
    return anchor.mi_matrix(table[0], **FAST)


def test_known_mi_table_truth_is_the_normal_scores_mi():
    frame, truth = known_mi_table(20_000, columns=10, seed=1)
    scores = stats.norm.ppf((frame.rank() - 0.5) / len(frame))  # undoes the monotone maps
    r = np.corrcoef(scores, rowvar=False)
    iu = np.triu_indices(10, 1)
    assert np.allclose(-0.5 * np.log1p(-(r[iu] ** 2)), truth.to_numpy()[iu], atol=0.01)
    assert np.isnan(np.diag(truth)).all() and truth.to_numpy()[iu].max() == pytest.approx(0.83, abs=0.01)


def test_the_matrix_is_symmetric_with_a_nan_diagonal_and_one_frame_row_per_pair(shared, table):
    names = list(table[0].columns)
    assert shared.names == names and shared.method == "shared" and len(shared.frame) == 45
    for value in ("mi", "ci_low", "ci_high"):
        m = shared.matrix(value)
        assert list(m.index) == names and list(m.columns) == names
        assert np.isnan(np.diag(m)).all()
        assert np.allclose(m.to_numpy(), m.to_numpy().T, equal_nan=True)
    assert (shared.frame.ci_low <= shared.frame.mi).all() and (shared.frame.mi <= shared.frame.ci_high).all()
    with pytest.raises(KeyError, match="value"):
        shared.matrix("warnings")
    assert str(shared).startswith("MI matrix of 10 variables (45 pairs, nats; shared, 5 folds, n=1000")


def test_shared_entries_track_the_truth(shared, table):
    truth = table[1]
    m = shared.matrix()
    assert m.loc["c00", "c05"] == pytest.approx(truth.loc["c00", "c05"], abs=0.12)  # 0.83 nats
    assert m.loc["c01", "c06"] == pytest.approx(truth.loc["c01", "c06"], abs=0.1)  # 0.38 nats
    iu = np.triu_indices(10, 1)
    assert np.abs(m.to_numpy()[iu] - truth.to_numpy()[iu]).mean() < 0.03


def test_student_t_pairs_table_truth_and_independence():
    frame, truth = student_t_pairs_table(3000, seed=2)
    assert frame.shape == (3000, 12) and list(truth.columns) == list(frame.columns)
    for k, (dof, r) in enumerate(STUDENT_T_PAIRS):
        cov = np.array([[1.0, r], [r, 1.0]])
        assert truth.iloc[2 * k, 2 * k + 1] == truth.iloc[2 * k + 1, 2 * k] == student_t_mi(cov, 1, dof)
    assert truth.iloc[0, 1] > 0.2 and truth.iloc[0, 2] == 0.0 and np.isnan(np.diag(truth)).all()
    rho = stats.spearmanr(frame).statistic  # pairs with correlation 0.8 vs independent pairs
    assert rho[10, 11] > 0.6 and np.abs(rho[0, 2:]).max() < 0.08
    assert frame.equals(student_t_pairs_table(3000, seed=2)[0]) and not frame.equals(student_t_pairs_table(3000)[0])


def test_heavy_tailed_pairs_read_the_truth_with_narrow_intervals():
    """A Cauchy pair (1 degree of freedom): test rows far beyond the training rows would put the
    quadratic critic far out (a fold's plug-in off by a nat, intervals from 0 to 3 nats) unless
    their normal scores stay within the training range."""
    frame, truth = student_t_pairs_table(2000, seed=0)
    result = anchor.mi_matrix(frame[["t3a", "t3b", "t5a", "t5b"]], max_steps=4000, progress=False)
    f = result.frame.set_index(["a", "b"])
    for a, b in (("t3a", "t3b"), ("t5a", "t5b")):  # 0.368 and 0.594 nats
        assert f.loc[(a, b), "ci_low"] <= truth.loc[a, b] <= f.loc[(a, b), "ci_high"]
        assert f.loc[(a, b), "ci_high"] - f.loc[(a, b), "ci_low"] < 0.3
    assert f.drop([("t3a", "t3b"), ("t5a", "t5b")]).mi.max() < 0.02


def test_the_floor_keeps_the_standard_error_at_least_that_of_the_test_rows():
    folds = pd.DataFrame({"mi": [0.010, 0.0101, 0.0099], "stderr": [0.003] * 3, "plug_in_train": [0.01] * 3})
    spread, floored = interval_of(folds, 3, True), interval_of(folds, 3, True, floor=True)
    assert spread.stderr == pytest.approx(0.0001 / np.sqrt(3))
    assert floored.stderr == pytest.approx(np.sqrt(3 * 0.003**2) / 3) and floored.mi == spread.mi
    wide = folds.assign(mi=[0.0, 0.02, 0.01])  # the folds spread more than the rows: no change
    assert interval_of(wide, 3, True, floor=True) == interval_of(wide, 3, True)


def test_groups_are_paired_as_variables_with_separate_critics(table):
    frame = table[0]
    groups = {"g1": ["c00", "c01"], "g2": ["c05"], "g3": ["c06", "c02"]}
    result = anchor.mi_matrix(frame, groups=groups, folds=2, max_steps=100, progress=False)
    assert result.method == "separate" and result.names == ["g1", "g2", "g3"]
    assert [(r.a, r.b) for r in result.frame.itertuples()] == [("g1", "g2"), ("g1", "g3"), ("g2", "g3")]
    m = result.matrix()
    assert m.loc["g1", "g2"] > 0.5 and m.loc["g2", "g1"] == m.loc["g1", "g2"]  # c00 and c05 share 0.83 nats
    assert set(result.estimates) == {("g1", "g2"), ("g1", "g3"), ("g2", "g3")}
    assert result.estimates[("g1", "g3")].x_columns == ["c00", "c01"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"groups": {"a": ["c00", "c01"], "b": ["c01"]}}, "column 'c01' is in groups 'a' and 'b'"),
        ({"groups": {"a": ["c00"]}}, "groups must be a dict of at least 2"),
        ({"columns": ["c00", "zz"]}, r"table has no column\(s\) \['zz'\]"),
        ({"columns": ["c00"]}, "at least 2 variables"),
        ({"columns": ["c00", "c01"], "groups": {"a": ["c00"], "b": ["c01"]}}, "give columns or groups, not both"),
        ({"groups": {"a": ["c00", "c01"], "b": ["c02"]}, "method": "shared"}, "method='shared' needs one numeric"),
        ({"method": "both"}, "unknown method 'both'"),
        ({"columns": ["c00", "c01"], "features": 0}, "features"),
    ],
)
def test_bad_arguments_are_named(table, kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        anchor.mi_matrix(table[0], **kwargs)


def test_an_array_gets_numbered_columns_and_a_duplicate_column_warns():
    x = np.random.default_rng(0).normal(size=(400, 2))
    result = anchor.mi_matrix(np.column_stack([x, x[:, 0] ** 3]), **FAST)
    assert result.names == ["0", "1", "2"]
    row = result.frame[(result.frame.a == "0") & (result.frame.b == "2")].iloc[0]
    assert not row.trusted and "same variable" in row.warnings


def test_matrix_command_writes_csv_json_and_a_heatmap(tmp_path, table, capsys):
    path = tmp_path / "t.csv"
    table[0].iloc[:300, :4].to_csv(path, index=False)
    args = ["--quiet", "--max-steps", "400", "--out", str(tmp_path / "m.csv"), "--heatmap", str(tmp_path / "m.png")]
    assert main(["matrix", str(path), *args]) == 0
    assert capsys.readouterr().out.startswith("MI matrix of 4 variables (6 pairs")
    assert len(pd.read_csv(tmp_path / "m.csv")) == 6 and (tmp_path / "m.png").stat().st_size > 1000
    assert main(["matrix", str(path), "--columns", "c00,c01", "--max-steps", "400", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["a"], row["b"]) == ("c00", "c01")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--groups", "g1=c00;g2"], r"anchor matrix: --groups: 'g2' is not NAME=COLUMN"),
        (["--groups", "a=c00,c01;b=c01"], "anchor matrix: column 'c01' is in groups"),
        (["--out", "m.txt"], r"anchor matrix: --out 'm.txt': write a .csv or .json file"),
        (["--columns", "c00,nope"], r"anchor matrix: table file .* has no column\(s\) \['nope'\]"),
        (["--columns", "c00", "--groups", "a=c00;b=c01"], "anchor matrix: give --columns or --groups, not both"),
        (["--max-steps", "0"], "anchor matrix: max_steps must be"),
    ],
)
def test_matrix_command_refuses_bad_input_in_one_line_with_status_2(tmp_path, table, capsys, args, message):
    path = tmp_path / "t.csv"
    table[0].iloc[:100, :3].to_csv(path, index=False)
    assert main(["matrix", str(path), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(message, err[0]), err
