"""The reproduction command: job listing, skipping jobs whose data is missing, naming a failed cell."""

import textwrap

import pytest

import anchor.bit_channels
from anchor import paths, reproduce
from anchor.notebook import parse_value
from anchor.paths import Checkout, find_root

NOTEBOOK = textwrap.dedent(
    """\
    # ---
    # jupyter:
    #   kernelspec:
    #     display_name: Python 3
    #     language: python
    #     name: python3
    # ---

    # %% tags=["parameters"]
    from typing import Optional

    profile: str = "smoke"
    figure_dir: str = "figures"
    cache_dir: str = ""
    fail: bool = False
    workers: int = 1
    n_batches: int = 40
    lr: float = 0.1
    width: Optional[int] = None

    # %%
    print("profile", profile, "cache", bool(cache_dir), "workers", workers, "n_batches", n_batches, "lr", lr)

    # %%
    import sys

    for k in range(3):  # a progress bar with a nested one below it, redrawn as tqdm does
        sys.stderr.write(f"\\rbar {k}/3")
        sys.stderr.write(f"\\n\\rinner {k}\\x1b[A")
        sys.stderr.flush()
    sys.stderr.write("\\rbar 3/3\\n")

    # %%
    assert not fail, "the claim does not hold"
    """
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "toy.py").write_text(NOTEBOOK)
    (notebooks / "profiles.yaml").write_text(
        "good:\n  notebook: toy\n  smoke: {}\n  quick: {}\n  paper: {}\n"
        "bad:\n  notebook: toy\n  params: {fail: true}\n  smoke: {}\n  quick: {}\n  paper: {}\n"
        "needs_imdb:\n  notebook: toy\n  needs: [imdb_embeddings]\n  smoke: {}\n  quick: {}\n  paper: {}\n"
        "busy:\n  notebook: toy\n  smoke: {workers: 2}\n  quick: {workers: 2}\n  paper: {workers: 2}\n"
        "paper_only:\n  notebook: toy\n  smoke: {}\n  quick: false\n  paper: {}\n"
    )
    return tmp_path


def test_list_and_unknown_job(project, capsys):
    assert reproduce.main(["--root", str(project), "--list"]) == 0
    assert capsys.readouterr().out.split() == ["good", "bad", "needs_imdb", "busy", "paper_only"]
    with pytest.raises(SystemExit):
        reproduce.main(["--root", str(project), "--only", "nope"])
    assert "unknown notebook(s) nope; valid: good, bad, needs_imdb, busy, paper_only" in capsys.readouterr().err


def test_a_job_runs_with_the_pipeline_parameters(project):
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "good"]) == 0
    executed = (project / "results" / "notebooks" / "good.smoke.ipynb").read_text()
    assert "profile smoke cache True" in executed


def test_the_notebooks_output_is_streamed_and_each_job_timed(project, capsys, monkeypatch):
    monkeypatch.setattr(anchor.bit_channels, "find_imdb_embeddings", lambda: None)
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "good", "needs_imdb"]) == 0
    out = capsys.readouterr().out
    assert "profile smoke cache True workers 1" in out  # printed by the notebook, as it ran
    table = out[out.index("job ") :].splitlines()
    assert table[0].split() == ["job", "minutes", "status"]
    assert table[1].split()[0] == "good" and table[1].split()[2] == "done"
    assert table[2].split() == ["needs_imdb", "skipped:", "missing", "data"]
    assert table[3].split()[0] == "total"
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "good", "--quiet"]) == 0
    assert "profile smoke cache" not in capsys.readouterr().out


def test_a_failing_cell_is_named_and_the_other_jobs_still_run(project, capsys):
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "bad", "good"]) == 1
    captured = capsys.readouterr()
    assert "notebook 'bad' failed in cell" in captured.err and "the claim does not hold" in captured.err
    assert "results/notebooks/bad.smoke.ipynb" in captured.err
    table = captured.out[captured.out.index("job ") :].splitlines()
    assert [row.split()[0] for row in table[1:3]] == ["good", "bad"]
    assert table[1].split()[2] == "done" and table[2].split()[2] == "failed"
    assert (project / "results" / "notebooks" / "good.smoke.ipynb").exists()


def test_a_job_can_be_left_out_of_a_profile(project, capsys):
    assert reproduce.main(["--root", str(project), "--profile", "quick", "--only", "good", "paper_only"]) == 0
    out = capsys.readouterr().out
    assert "not in the quick profile: paper_only" in out
    assert not (project / "results" / "notebooks" / "paper_only.quick.ipynb").exists()
    assert (project / "results" / "notebooks" / "good.quick.ipynb").exists()
    with pytest.raises(ValueError, match="not part of the quick profile"):
        reproduce.job_parameters(
            reproduce.load_profiles(checkout=Checkout(project))["paper_only"], "quick", checkout=Checkout(project)
        )


def test_a_job_without_its_data_is_skipped(project, capsys, monkeypatch):
    monkeypatch.setattr(anchor.bit_channels, "find_imdb_embeddings", lambda: None)
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "needs_imdb"]) == 0
    out = capsys.readouterr().out
    assert "skipped: the IMDB embeddings file was not found (set ANCHOR_IMDB_EMBEDDINGS" in out
    assert "skipped for missing data: needs_imdb" in out
    assert not (project / "results" / "notebooks" / "needs_imdb.smoke.ipynb").exists()


def test_a_cifar_job_runs_only_where_the_data_is(tmp_path, monkeypatch):
    job = {"notebook": "ssl", "params": {}, "needs": ["cifar100"], "smoke": {}, "quick": {}, "paper": {}}
    monkeypatch.setenv("ANCHOR_CIFAR_ROOT", str(tmp_path))
    reason = reproduce.missing_data(job)
    assert reason is not None and "cifar100 not found" in reason and str(tmp_path / "cifar-100-python") in reason
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        (folder / name).write_bytes(b"")
    assert reproduce.missing_data(job) is None
    assert reproduce.job_parameters(job, "paper")["data_root"] == str(tmp_path)
    monkeypatch.delenv("ANCHOR_CIFAR_ROOT")
    assert reproduce.data_root(Checkout(tmp_path)) == str(tmp_path / "data")


def test_bad_workers(project, capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--root", str(project), "--workers", "0"])
    assert "--workers must be at least 1" in capsys.readouterr().err


def _executed(project, name, profile="smoke"):
    return (project / "results" / "notebooks" / f"{name}.{profile}.ipynb").read_text()


def test_command_line_flags_win_over_the_profile(project):
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "busy", "--workers", "8"]) == 0
    assert "workers 8" in _executed(project, "busy")
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "busy"]) == 0
    assert "workers 2" in _executed(project, "busy")


def test_set_gives_any_parameter_and_is_checked(project, capsys):
    assert (
        reproduce.main(
            [
                "--root",
                str(project),
                "--profile",
                "smoke",
                "--only",
                "good",
                "--set",
                "n_batches=100",
                "--set",
                "lr=1e-3",
            ]
        )
        == 0
    )
    changed = project / "results" / "notebooks" / "good.smoke.lr=0.001+n_batches=100.ipynb"
    assert "n_batches 100 lr 0.001" in changed.read_text()  # a changed run has its own notebook ...
    assert "results/figures/smoke.lr=0.001+n_batches=100" in changed.read_text()  # ... and figure folder
    assert "with changed parameters (`lr=0.001+n_batches=100`)" in changed.read_text()  # said in its first cell
    assert not (project / "results" / "notebooks" / "good.smoke.ipynb").exists()
    for bad, message in [
        ("n_batch=100", "--set n_batch: no selected notebook has a parameter 'n_batch'"),
        ("n_batches=forty", "job 'good': parameter n_batches must be int, got 'forty' (str)"),
        ("n_batches", "--set takes NAME=VALUE, got 'n_batches'"),
        ("width=wide", "job 'good': parameter width must be Optional[int], got 'wide' (str)"),
    ]:
        with pytest.raises(SystemExit):
            reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "good", "--set", bad])
        assert message in capsys.readouterr().err
    assert reproduce.main(["--root", str(project), "--profile", "smoke", "--only", "good", "--set", "width=null"]) == 0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{n_batchs: 100}", "job 'typo': notebooks/toy.py has no parameter(s) n_batchs; its parameters are: profile,"),
        ('{n_batches: "forty"}', "job 'typo': parameter n_batches must be int, got 'forty' (str)"),
        ("{lr: true}", "job 'typo': parameter lr must be float, got True (bool)"),
        (
            "{lr: 2e-4}",
            "parameter lr must be float, got '2e-4' (str); YAML reads 2e-4 as text, write it with a decimal",
        ),
    ],
)
def test_a_bad_profile_entry_stops_the_run_before_any_job(project, capsys, entry, message):
    with open(project / "notebooks" / "profiles.yaml", "a") as f:
        f.write(f"typo:\n  notebook: toy\n  smoke: {entry}\n  quick: {{}}\n  paper: {{}}\n")
    with pytest.raises(SystemExit) as exit_:
        reproduce.main(["--root", str(project), "--profile", "smoke"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (project / "results" / "notebooks").exists(), "a job ran before the bad entry was reported"


def test_command_line_values_are_read_as_yaml_with_decimal_numbers():
    assert parse_value("1e-3") == 0.001 and parse_value("100") == 100
    assert parse_value("[1, 2]") == [1, 2] and parse_value("null") is None
    assert parse_value("nan") == "nan" and parse_value("cuda") == "cuda"


def test_parameters_cells_that_cannot_be_checked_say_why(project):
    source = project / "notebooks" / "toy.py"
    text = source.read_text()
    source.write_text(text.replace("lr: float = 0.1", "lr: float = 2 ** -3"))
    with pytest.raises(ValueError, match=r"default of lr in the parameters cell must be a literal.*'2 \*\* \(-3\)'"):
        reproduce.notebook_parameters("toy", checkout=Checkout(project))
    source.write_text(text.replace("lr: float = 0.1", "lr: Decimal = 0.1"))
    with pytest.raises(ValueError, match=r"unsupported parameter annotation 'Decimal'"):
        reproduce.check_parameters("good", "toy", {"lr": 0.5}, checkout=Checkout(project))


def test_the_runner_finds_the_checkout_or_says_it_needs_one(tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    (clone / "notebooks" / "profiles.yaml").write_text("{}\n")
    (clone / "sub").mkdir()
    assert find_root(clone) == clone.resolve()
    # installed from a wheel (the package's folder holds no notebooks): the working directory's clone
    monkeypatch.setattr(paths, "PACKAGE_PARENT", tmp_path / "site-packages")
    monkeypatch.chdir(clone / "sub")
    assert find_root() == clone.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"runs the figure notebooks of a checkout.*--root"):
        find_root()
    with pytest.raises(FileNotFoundError, match=r"is not a checkout of the repository"):
        find_root(tmp_path)
    with pytest.raises(SystemExit):
        reproduce.main(["--list"])


def test_an_executed_notebook_says_how_it_ran_and_publish_keeps_it(project, capsys):
    assert reproduce.main(["--root", str(project), "--profile", "quick", "--only", "good", "--publish"]) == 0
    import nbformat

    kept = nbformat.read(project / "notebooks" / "executed" / "good.quick.ipynb", as_version=4)
    first = kept.cells[0]
    assert first.cell_type == "markdown" and "run-banner" in first.metadata.tags
    assert "Executed run of job `good`, profile `quick`" in first.source
    assert "- machine: CPU: " in first.source and "- run time: " in first.source
    assert kept.metadata.anchor.profile == "quick" and kept.metadata.anchor.seconds >= 0
    assert [c.id for c in kept.cells] == [f"cell-{k}" for k in range(len(kept.cells))]
    assert "papermill" not in kept.metadata
    # the progress bars' redraws are settled to what a terminal shows at the end; the run's own copy keeps them
    streams = [o for c in kept.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]
    assert [o.text for o in streams if o.name == "stderr"] == ["bar 3/3\ninner 2\n"]
    assert any(o.name == "stdout" and o.text.startswith("profile quick") for o in streams)
    raw = (project / "results" / "notebooks" / "good.quick.ipynb").read_text()
    assert "bar 0/3" in raw and "inner 1" in raw
    for bad in (["--set", "lr=0.5"], ["--profile", "smoke"]):
        with pytest.raises(SystemExit):
            reproduce.main(["--root", str(project), "--only", "good", "--publish", *bad])
        assert "--publish keeps the quick or paper profile's own runs" in capsys.readouterr().err
