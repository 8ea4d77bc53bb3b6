"""The ``anchor`` command and the Beyond Normal adapter."""

import json

import numpy as np
import pandas as pd
import pytest

import anchor
from anchor.adapters import BeyondNormalEstimator
from anchor.cli import InputError, main, read_table

FAST = ["--folds", "2", "--max-steps", "60", "--quiet"]


@pytest.fixture()
def files(tmp_path):
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(400, seed=0)
    x, y = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    table = pd.DataFrame(np.hstack([x, y]), columns=["a", "b", "c", "d"]).assign(label="s")
    table.to_csv(tmp_path / "xy.csv", index=False)
    table.to_parquet(tmp_path / "xy.parquet")
    return tmp_path, x, y


def test_read_table_reads_every_format(files):
    path, x, y = files
    assert np.array_equal(read_table(str(path / "x.npy")), x)
    assert np.array_equal(read_table(str(path / "xy.npz"), key="y"), y)
    assert np.allclose(read_table(str(path / "xy.csv"), columns="c, d"), y)
    assert np.allclose(read_table(str(path / "xy.parquet"), columns="a,b"), x)
    np.save(path / "v.npy", np.arange(5.0))
    assert read_table(str(path / "v.npy")).shape == (5, 1)  # a vector is one column


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("nothere.npy", {}, r"x file '.*nothere.npy' does not exist"),
        ("x.txt", {}, r"unsupported type \.txt; use \.npy, \.npz, \.csv, \.parquet"),
        ("xy.npz", {}, r"holds arrays \['x', 'y'\]: choose one with --x-key"),
        ("xy.npz", {"key": "z"}, r"has no array 'z'; it holds \['x', 'y'\]"),
        ("x.npy", {"key": "x"}, r"--x-key applies to .npz files only"),
        ("folder.npy", {}, r"x file '.*folder.npy' is a folder, not a file"),
        ("header.csv", {}, r"x file '.*header.csv' has a header \(a, b\) but no rows"),
        ("blank.csv", {}, r"x file '.*blank.csv' is empty"),
        ("gap.csv", {}, r"1 missing value\(s\), first at row 1, column 'b'"),
        ("xy.csv", {"columns": "a,z"}, r"has no column\(s\) \['z'\]"),
        ("cube.npy", {}, r"expected a \(rows, columns\) array, got shape \(2, 2, 2\)"),
        ("nan.npy", {}, r"1 NaN or infinite value\(s\), first at row 1, column 0"),
    ],
)
def test_read_table_names_what_is_wrong(files, name, kwargs, message):
    path, _, _ = files
    (path / "x.txt").write_text("1 2\n")
    np.save(path / "cube.npy", np.zeros((2, 2, 2)))
    np.save(path / "nan.npy", np.array([[1.0], [np.nan]]))
    (path / "folder.npy").mkdir()
    (path / "header.csv").write_text("a,b\n")
    (path / "blank.csv").write_text("")
    (path / "gap.csv").write_text("a,b\n1,2\n3,\n")
    with pytest.raises(InputError, match=message):
        read_table(str(path / name), **kwargs)


def test_estimate_command_prints_the_estimate_and_json(files, capsys):
    path, x, y = files
    assert main(["estimate", str(path / "x.npy"), str(path / "y.npy"), *FAST]) == 0
    out = capsys.readouterr().out
    assert "nats (95% CI" in out and "rows 400, x 2-d, y 2-d" in out and "folds converged" in out
    args = ["estimate", str(path / "xy.csv"), str(path / "xy.csv"), "--x-columns", "a,b", "--y-columns", "c,d"]
    assert main([*args, "--unit", "bits", "--json", *FAST]) == 0
    report = json.loads(capsys.readouterr().out)
    direct = anchor.estimate_mi(x, y, unit="bits", folds=2, max_steps=60, progress=False, warn=False)
    assert report["unit"] == "bits" and report["rows"] == 400 and len(report["folds"]) == 2
    assert report["mi"] == pytest.approx(direct.mi, rel=1e-4)
    assert set(report) >= {"ci_low", "ci_high", "trusted", "warnings", "log_norm_capped", "fit_gap", "dv", "nwj"}


def test_bad_files_give_one_line_and_status_2(files, capsys):
    path, _, _ = files
    np.save(path / "short.npy", np.zeros((10, 2)))
    assert main(["estimate", str(path / "x.npy"), str(path / "short.npy"), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "anchor estimate: x has 400 rows and y has 10: the rows must be paired"
    assert main(["estimate", str(path / "x.npy"), str(path / "missing.npy"), *FAST]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert main(["estimate", str(path / "x.npy"), str(path / "y.npy"), "--objective", "anchor", "--folds", "0"]) == 2
    assert "folds" in capsys.readouterr().err


def test_the_command_lists_its_subcommands_and_delegates(capsys):
    assert main([]) == 2
    assert "estimate" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main(["reproduce", "--list"]) == 0
    assert "pmi_interactions" in capsys.readouterr().out


def test_console_script_points_at_the_command():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"anchor": "anchor.cli:main"}


def test_beyond_normal_adapter_returns_estimate_mi_in_nats():
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(400, seed=0)
    estimator = BeyondNormalEstimator(folds=2, max_steps=60)
    value = estimator.estimate(x, y)
    assert isinstance(value, float)
    assert value == pytest.approx(anchor.estimate_mi(x, y, folds=2, max_steps=60, progress=False, warn=False).mi)
    assert estimator.estimate_with_info(x, y).unit == "nats"
    assert estimator.parameters() == {"folds": 2, "max_steps": 60}
    with pytest.raises(ValueError, match="fixes 'unit'"):
        BeyondNormalEstimator(unit="bits")


def test_a_reader_that_stops_early_ends_the_command_quietly(files):
    """``anchor estimate ... --json | head -c 0``: the pipe is closed before the estimate is
    written; the command ends without a traceback."""
    import subprocess
    import sys

    path, _, _ = files
    command = [sys.executable, "-m", "anchor.cli", "estimate", str(path / "x.npy"), str(path / "y.npy"), "--json"]
    with subprocess.Popen([*command, *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.close()  # the reader is gone long before the estimate is done
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert "Traceback" not in err and code == 0, err


def test_ctrl_c_ends_a_command_with_one_line_and_status_130(files, capsys):
    """A real SIGINT to ``anchor estimate`` in the middle of training, and ``run_command`` directly."""
    import os
    import signal
    import subprocess
    import sys

    from anchor._console import run_command

    def interrupted(argv=None):
        raise KeyboardInterrupt

    assert run_command(interrupted, "python -m anchor.reproduce") == 130
    assert capsys.readouterr().err.strip() == "python -m anchor.reproduce: interrupted"

    path, _, _ = files
    command = [sys.executable, "-m", "anchor.cli", "estimate", str(path / "x.npy"), str(path / "y.npy")]
    long_run = ["--folds", "2", "--max-steps", "1000000"]

    def ctrl_c_acts():  # a job started in the background of a shell inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    with subprocess.Popen([*command, *long_run], stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_acts) as proc:
        first = proc.stderr.readline()  # the progress bar: training has started
        os.kill(proc.pid, signal.SIGINT)
        rest = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert code == 130, first + rest
    assert "Traceback" not in rest and rest.strip().splitlines()[-1] == "anchor: interrupted"


def test_progress_bars_redraw_rarely_when_the_output_is_not_a_terminal(tmp_path):
    import io

    from anchor._console import LOG_INTERVAL, TERMINAL_INTERVAL, progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log = io.StringIO()
    with progress_bar(total=10, file=log) as bar:
        assert bar.mininterval == LOG_INTERVAL
    with progress_bar(total=10, file=Terminal()) as bar:
        assert bar.mininterval == TERMINAL_INTERVAL
    with progress_bar(total=10, file=log, enabled=False) as bar:
        assert bar.disable
    quiet = io.StringIO()
    with progress_bar(total=1000, file=quiet) as bar:
        for _ in range(1000):
            bar.update(1)
    assert quiet.getvalue().count("\r") <= 3  # start and close, not one line per update


def test_estimate_prints_every_warning_in_the_estimates_unit(files, capsys):
    path, _, _ = files
    args = ["estimate", str(path / "x.npy"), str(path / "y.npy"), "--unit", "bits", "--folds", "2", "--quiet"]
    assert main([*args, "--max-steps", "30"]) == 0
    out = capsys.readouterr().out
    assert "more in .warnings" not in out and "est.warnings" not in out
    assert "warning: fold(s) 1, 2 stopped at max_steps=30" in out
