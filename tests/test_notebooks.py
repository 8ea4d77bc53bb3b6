"""Notebook pipeline wiring: profiles match parameters, sources and executed notebooks are paired."""

from pathlib import Path

import jupytext
import pytest
import yaml

from anchor.paths import PROFILES, Checkout
from anchor.reproduce import check_parameters, job_parameters, load_profiles, notebook_parameters

NOTEBOOKS = Checkout.find().notebooks

JOBS = load_profiles()
SOURCES = sorted({job["notebook"] for job in JOBS.values()})


@pytest.mark.parametrize("name", list(JOBS))
def test_every_profile_key_is_a_notebook_parameter_of_its_type(name):
    job = JOBS[name]
    params = notebook_parameters(job["notebook"])
    assert {"profile", "figure_dir"} <= set(params)
    for profile in (p for p in PROFILES if job[p] is not False):
        overrides = {"device": "cuda", "workers": 4, "scheduler": "tcp://localhost:8786"}
        check_parameters(name, job["notebook"], job_parameters(job, profile, overrides))


@pytest.mark.parametrize("name", SOURCES)
def test_every_notebook_parameter_is_annotated(name):
    """Types are what the runner checks profile values against and what papermill --help-notebook shows."""
    unannotated = [key for key, parameter in notebook_parameters(name).items() if parameter.annotation is None]
    assert not unannotated, f"notebooks/{name}.py: annotate the parameters {unannotated} (e.g. n: int = 3)"


@pytest.mark.parametrize("name", SOURCES)
def test_papermill_sees_every_parameter_with_its_type(name, tmp_path):
    """What `papermill --help-notebook` shows: every declared parameter, none of "Unknown type"
    (an "=" inside a parameter's comment once hid it from papermill)."""
    import papermill as pm

    path = tmp_path / f"{name}.ipynb"
    jupytext.write(jupytext.read(NOTEBOOKS / f"{name}.py"), path)
    found = pm.inspect_notebook(str(path))
    assert set(found) == set(notebook_parameters(name))
    assert not [k for k, v in found.items() if v["inferred_type_name"] in ("None", "Unknown type")]


def test_profiles_file_shape_is_checked(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"oracle": {"smoke": {}, "quick": {}}}))
    with pytest.raises(ValueError, match=r"lacks the profiles \['paper'\]"):
        load_profiles(path)
    path.write_text(yaml.safe_dump({"oracle": {"smoke": False, "quick": {}, "paper": {}}}))
    with pytest.raises(ValueError, match="every job runs in the smoke profile"):
        load_profiles(path)
    path.write_text(yaml.safe_dump({"oracle": {"smoke": {}, "quick": {}, "paper": {}, "quik": {}}}))
    with pytest.raises(ValueError, match=r"unknown keys \['quik'\]"):
        load_profiles(path)


def test_every_source_is_listed_and_paired():
    sources = {p.stem for p in NOTEBOOKS.glob("*.py")}
    assert sources == set(SOURCES)
    for name in sources:
        assert (NOTEBOOKS / f"{name}.ipynb").exists(), f"run `make notebooks` to pair {name}.py"


@pytest.mark.parametrize("name", SOURCES)
def test_committed_notebook_matches_its_source(name):
    """The executed .ipynb was made from the current .py source (cell sources agree)."""
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    executed = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert [c.source for c in source.cells] == [
        c.source for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])
    ]


def test_committed_figures_exist():
    figures = Path(__file__).resolve().parents[1] / "figures"
    names = ["oracle_objectives", "infonce_bound", "infonce_offset", "anchor_offset", "anchor_nu_k"]
    names += ["anchor_nu_k_mlp", "anchor_interpolation", "scoring_rules", "scoring_rules_levels"]
    names += ["ssl_mnist_curves", "ssl_mnist_alignment"]
    names += [f"staircase_{d}{s}" for d in ("gaussian", "cubic", "mnist", "imdb") for s in ("", "_levels")]
    names += ["mi_suite_heatmap", "mi_suite_sizes", "cmi_tasks", "mi_matrix_known", "mi_matrix_diabetes"]
    for name in names:
        assert (figures / f"{name}.png").exists() and (figures / f"{name}.pdf").exists(), name
    tables = ["ssl_mnist_table", "ssl_mnist_runs", "ssl_mnist_cka"]
    tables += [f"mi_suite_{t}" for t in ("runs", "scores", "families", "sizes", "coverage")]
    tables += ["cmi_runs", "cmi_scores", "mi_matrix_known", "mi_matrix_diabetes"]
    for table in tables:
        assert (figures / f"{table}.csv").exists(), table


PUBLISHED = sorted(Checkout.find().published.glob("*.ipynb"))


def test_every_quick_job_has_its_executed_run_kept():
    """The runs that made the committed quick figures are in notebooks/executed/ (CIFAR-100 has no
    files here, so its job has no run)."""
    expected = {
        f"{name}.quick.ipynb"
        for name, job in JOBS.items()
        if job["quick"] is not False and "cifar100" not in job["needs"]
    }
    assert expected <= {path.name for path in PUBLISHED}


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.name)
def test_an_executed_run_is_linked_from_its_source_notebook_and_the_readme(path):
    """A reader finds each kept run from the notebook they open and from the README's figure table."""
    job = path.name.split(".")[0]
    source = jupytext.read(NOTEBOOKS / f"{JOBS[job]['notebook']}.py")
    first_markdown = next(cell for cell in source.cells if cell.cell_type == "markdown")
    assert f"(executed/{path.name})" in first_markdown.source
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    assert f"(notebooks/executed/{path.name})" in readme


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.name)
def test_an_executed_run_says_how_it_ran_and_shows_each_figure_once(path):
    import hashlib

    import nbformat

    assert path.stat().st_size < 3_000_000, "keep executed notebooks lean"
    notebook = nbformat.read(path, as_version=4)
    first = notebook.cells[0]
    assert "run-banner" in first.metadata.get("tags", []) and "- machine: " in first.source
    assert notebook.metadata["anchor"]["profile"] in path.name
    images = [
        hashlib.sha256(output["data"]["image/png"].encode()).hexdigest()
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, "an executed run shows its figures"
    assert len(images) == len(set(images)), "a figure embedded twice"
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
