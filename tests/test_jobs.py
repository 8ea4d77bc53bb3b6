"""Every figure notebook trains what ``anchor.jobs.plan`` gives it, and ``anchor sweep`` trains the same."""

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import papermill as pm
import pytest

from anchor import jobs, reproduce, sweep_cli

ROOT = Path(__file__).resolve().parents[1]
JOBS = reproduce.load_profiles()
RUNS = [(job, profile) for job in JOBS for profile in reproduce.PROFILES if JOBS[job][profile] is not False]
IMDB = {"data_path": "/nowhere/imdb.npz"}  # planning names the file; nothing reads it


def _params(job, profile):
    return sweep_cli.job_params(job, profile, IMDB if "imdb" in job else None)


@pytest.mark.parametrize(("job", "profile"), RUNS, ids=[f"{j}-{p}" for j, p in RUNS])
def test_every_job_and_profile_plans_its_runs(job, profile):
    sweeps = jobs.plan(JOBS[job]["notebook"], _params(job, profile))
    if JOBS[job]["notebook"] == "oracle":
        assert sweeps == {}
        return
    assert sweeps and all(s.configs for s in sweeps.values())
    for sweep in sweeps.values():
        keys = sweep.keys()
        assert len(set(keys)) == len(keys), f"{job}/{profile}: sweep {sweep.name} repeats a configuration"


@pytest.mark.parametrize("notebook", sorted(jobs.PLANNERS))
def test_notebooks_train_only_through_the_plan(notebook):
    """No notebook builds configurations or calls a sweep itself, so what it trains is the plan."""
    source = (ROOT / "notebooks" / f"{notebook}.py").read_text()
    own = re.findall(
        r"\b(staircase_configs|ssl_configs|benchmark_configs|sweep_(?:staircase|benchmark|ssl)|notebook_sweep|run_sweep)\(",
        source,
    )
    assert not own, f"notebooks/{notebook}.py calls {sorted(set(own))} itself; train through anchor.jobs"
    used = set(re.findall(r'jobs\.run\(\s*sweeps\["(\w+)"\]', source))
    if notebook == "oracle":
        assert not used
        return
    assert f'jobs.plan("{notebook}", globals())' in source
    planned = set()
    for job, profile in RUNS:
        if JOBS[job]["notebook"] == notebook:
            planned |= set(jobs.plan(notebook, _params(job, profile)))
    assert used == planned, f"notebooks/{notebook}.py runs {sorted(used)}, its planner gives {sorted(planned)}"


def test_a_plan_needs_a_known_notebook():
    with pytest.raises(ValueError, match="notebook must be one of"):
        jobs.plan("stair", {})


def test_the_imdb_job_without_its_file_says_where_to_get_it(monkeypatch):
    monkeypatch.delenv("ANCHOR_IMDB_EMBEDDINGS", raising=False)
    monkeypatch.setattr(jobs, "find_imdb_embeddings", lambda: None)
    with pytest.raises(FileNotFoundError, match="imdb domain needs the embeddings file"):
        jobs.plan("staircase", {**_params("staircase_imdb", "smoke"), "data_path": ""})


def test_dry_lists_each_run_and_its_key(capsys):
    assert sweep_cli.main(["staircase_gaussian", "--profile", "paper", "--dry", "--cache", "/tmp/unused"]) == 0
    out = capsys.readouterr().out
    params = _params("staircase_gaussian", "paper")
    sweeps = jobs.plan("staircase", params)
    assert "sweep 'main': 11 runs" in out and f"sweep 'variants': {len(params['variants'])} runs" in out
    for sweep in sweeps.values():
        for key in sweep.keys():
            assert key in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nojob"], "job must be one of"),
        (["oracle", "--set", "n_batches"], "--set takes NAME=VALUE"),
        (["oracle", "--set", "n_batches=many"], "parameter n_batches must be int"),
        (["staircase_gaussian_joint", "--profile", "quick"], "not part of the quick profile"),
    ],
)
def test_bad_jobs_and_parameters_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        sweep_cli.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def _files(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.is_file())


@pytest.mark.parametrize("job", ["scoring_rules", "mi_suite"])
def test_a_cache_the_command_fills_serves_the_notebook(job, tmp_path):
    """``anchor sweep`` fills the cache; the notebook, run after it, trains nothing new."""
    cache = tmp_path / "cache"
    # in its own process, as on a cluster machine (the torch threads per run are part of the cache key)
    command = [sys.executable, "-m", "anchor.sweep_cli", job, "--profile", "smoke", "--cache", str(cache)]
    assert subprocess.run(command, capture_output=True, text=True, check=False).returncode == 0
    filled = _files(cache)
    assert filled
    notebook = tmp_path / f"{job}.ipynb"
    jupytext.write(jupytext.read(ROOT / "notebooks" / f"{JOBS[job]['notebook']}.py"), notebook)
    params = {**_params(job, "smoke"), "cache_dir": str(cache), "figure_dir": str(tmp_path / "figures")}
    declared = reproduce.notebook_parameters(JOBS[job]["notebook"])
    pm.execute_notebook(
        notebook,
        notebook,
        parameters={k: v for k, v in params.items() if k in declared},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
        kernel_name="python3",
    )
    assert _files(cache) == filled


def test_ssl_checkpoints_without_a_cache_are_removed_when_the_process_exits(tmp_path):
    assert jobs.ssl_checkpoints(str(tmp_path)) == str(tmp_path / "ssl-checkpoints")
    code = (
        "from pathlib import Path\n"
        "from anchor import jobs\n"
        "folder = Path(jobs.ssl_checkpoints(''))\n"
        "folder.mkdir(parents=True)\n"
        "(folder / 'ssl-x.pt').write_bytes(b'0')\n"
        "print(folder.parent)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    root = Path(done.stdout.strip())
    assert root.name.startswith("anchor-ssl-")
    assert not root.exists(), f"{root} was left behind"
