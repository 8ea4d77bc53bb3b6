"""The repository's own wiring: environment files agree, the README's commands are the real ones."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirements():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_requirements_are_exact_pins_with_cpu_torch():
    pins = _requirements()
    assert pins["torch"] == "2.13.0"
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", line), line


def test_environment_yml_points_at_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip_section == ["-r requirements.txt", "-e ."]
    conda_names = sorted(d.split("=")[0] for d in deps if isinstance(d, str))
    assert conda_names == ["pip", "python"], "pins belong in requirements.txt, not environment.yml"
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python.split("=")[1].startswith("3.11")


def test_pyproject_dependencies_are_pinned_in_requirements():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _requirements()
    for dep in project["dependencies"]:
        name = re.split(r"[<>=!~ ]", dep, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is a package dependency but not pinned in requirements.txt"
        if "==" in dep:
            assert dep.split("==")[1] == pins[name]


def test_readme_commands_are_makefile_targets_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    first_two = [b.strip() for b in blocks[:2]]
    assert first_two[0].endswith("make figures"), first_two[0]
    assert first_two[1].endswith("make test"), first_two[1]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^figures:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_package_never_moves_to_cuda_by_itself():
    """Devices come from a `device` argument; no hard-coded .cuda() anywhere in the package."""
    offenders = [
        f"{path.relative_to(ROOT)}:{k}"
        for path in sorted((ROOT / "anchor").glob("*.py"))
        for k, line in enumerate(path.read_text().splitlines(), 1)
        if ".cuda(" in line
    ]
    assert not offenders, offenders
