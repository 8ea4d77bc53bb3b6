"""The reproduction command: job listing, skipping jobs whose data is missing, naming a failed cell."""

import textwrap

import pytest

import anchor.unstructured
from anchor import reproduce

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
    profile = "smoke"
    figure_dir = "figures"
    cache_dir = ""
    fail = False

    # %%
    print("profile", profile, "cache", bool(cache_dir))

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
    )
    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    monkeypatch.setattr(reproduce, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(reproduce, "CACHE", tmp_path / "results" / "cache")
    return tmp_path


def test_list_and_unknown_job(project, capsys):
    assert reproduce.main(["--list"]) == 0
    assert capsys.readouterr().out.split() == ["good", "bad", "needs_imdb"]
    with pytest.raises(SystemExit):
        reproduce.main(["--only", "nope"])
    assert "unknown notebook(s) nope; valid: good, bad, needs_imdb" in capsys.readouterr().err


def test_a_job_runs_with_the_pipeline_parameters(project):
    assert reproduce.main(["--profile", "smoke", "--only", "good"]) == 0
    executed = (project / "results" / "notebooks" / "good.smoke.ipynb").read_text()
    assert "profile smoke cache True" in executed


def test_a_failing_cell_is_named(project, capsys):
    assert reproduce.main(["--profile", "smoke", "--only", "bad"]) == 1
    err = capsys.readouterr().err
    assert "notebook 'bad' failed in cell" in err and "the claim does not hold" in err
    assert "results/notebooks/bad.smoke.ipynb" in err


def test_a_job_without_its_data_is_skipped(project, capsys, monkeypatch):
    monkeypatch.setattr(anchor.unstructured, "find_imdb_embeddings", lambda: None)
    assert reproduce.main(["--profile", "smoke", "--only", "needs_imdb"]) == 0
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
    assert reproduce.data_root() == str(reproduce.ROOT / "data")


def test_bad_workers(project, capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--workers", "0"])
    assert "--workers must be at least 1" in capsys.readouterr().err
