"""The package as another project gets it: `pip install .` into an empty virtual environment.

Builds a fresh environment in a temporary folder (no system packages), installs the package with
the repository's lock as constraints, and checks that the core install estimates MI and that each
extra brings what the modules it names import. Slow (a minute or two: it installs torch).
"""

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(python: Path, *args: str, cwd: Path) -> str:
    done = subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def versions_only(folder: Path) -> Path:
    """requirements.txt without its hashes, as constraints: hashes would put pip in hash-checking
    mode for the whole install, which a local project folder cannot satisfy."""
    lines = []
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#")[0].strip().rstrip("\\").strip()
        if line and not line.startswith("--hash="):
            lines.append(line)
    path = folder / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("empty-venv")
    venv.create(folder, with_pip=True, system_site_packages=False)
    python = folder / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    quiet = ["--quiet", "--disable-pip-version-check"]
    _run(python, "-m", "pip", "install", *quiet, str(ROOT), "-c", str(versions_only(folder)), cwd=folder)
    return python, folder


CORE_CHECK = """
import json, anchor, importlib.util
x, y = anchor.GaussianSampler(2, mi=0.5).sample(2000, seed=0)
result = anchor.estimate_mi(x, y, max_steps=200, folds=2, eval_every=50, progress=False)
missing = [m for m in ("matplotlib", "seaborn", "papermill", "mlxtend", "dask") if importlib.util.find_spec(m)]
print(json.dumps({"estimate": result.mi, "truth": 0.5, "extras_present": missing}))
"""


def test_the_core_install_estimates_mi_without_the_extras(environment):
    python, folder = environment
    out = json.loads(_run(python, "-c", CORE_CHECK, cwd=folder).strip().splitlines()[-1])
    assert abs(out["estimate"] - out["truth"]) < 0.2, out
    assert out["extras_present"] == [], "the core install pulled in an extra's packages"
    help_text = _run(python.parent / "anchor", "estimate", "--help", cwd=folder)
    assert "--json" in help_text


EXTRA_MODULES = {
    "figures": ["anchor.plotting", "anchor.reproduce", "anchor.results"],
    "ssl": ["anchor.images", "anchor.bit_channels"],
    "cluster": ["dask.distributed"],
}


def test_each_extra_brings_what_its_modules_import(environment):
    python, folder = environment
    for extra, modules in EXTRA_MODULES.items():
        quiet = ["--quiet", "--disable-pip-version-check"]
        target = f"{ROOT}[{extra}]"
        _run(python, "-m", "pip", "install", *quiet, target, "-c", str(versions_only(folder)), cwd=folder)
        code = "import importlib; " + "; ".join(f"importlib.import_module({m!r})" for m in modules)
        _run(python, "-c", code, cwd=folder)
