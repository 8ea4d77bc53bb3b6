"""The repository's own wiring: environment files agree, the README's commands are the real ones."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.txt as ``{name: (version, hashes)}``."""
    entries: dict[str, tuple[str, list[str]]] = {}
    name = None
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#")[0].strip().rstrip("\\").strip()
        if not line:
            continue
        if line.startswith("--hash="):
            entries[name][1].append(line.removeprefix("--hash="))
            continue
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.+]*", line), f"not an exact pin: {raw}"
        name, version = line.split("==")
        name = re.sub(r"[-_.]+", "-", name).lower()
        entries[name] = (version, [])
    return entries


def _requirements():
    return {name: version for name, (version, _) in _lock().items()}


def test_the_lock_pins_every_package_with_hashes_and_cpu_torch():
    lock = _lock()
    assert lock["torch"][0] == "2.13.0+cpu"
    for name, (version, hashes) in lock.items():
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name}=={version} has no hash"
    for name in ("fonttools", "pillow", "kiwisolver", "contourpy"):  # what matplotlib's PDFs depend on
        assert name in lock


def test_the_set_up_installs_exactly_the_lock():
    """Every distribution in this environment (made by ``make setup``) is in the lock, at its version."""
    from importlib import metadata

    lock = _requirements()
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in metadata.distributions()}
    installed.pop("anchor-mi", None)
    installed.pop("pip", None)  # comes with the virtual environment
    assert {n: v for n, v in installed.items() if lock.get(n) != v} == {}, "run make setup (or make lock)"


def test_environment_yml_points_at_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip_section == ["-r requirements.txt"]  # hashed: the project itself is installed after (README)
    assert "-e . --config-settings editable_mode=compat" in (ROOT / "Makefile").read_text()  # see the clone test
    conda_names = sorted(d.split("=")[0] for d in deps if isinstance(d, str))
    assert conda_names == ["pip", "python"], "pins belong in requirements.txt, not environment.yml"
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python.split("=")[1].startswith("3.11")


def _project():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(deps):
    return {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() for d in deps}


def test_pyproject_dependencies_are_loose_and_pinned_in_requirements():
    """The library states lower bounds (no exact pins that would clash with another project's
    torch); every dependency and extra is in the repository's lock."""
    project = _project()
    pins = _requirements()
    extras = project["optional-dependencies"]
    for dep in project["dependencies"] + [d for group in extras.values() for d in group]:
        name = re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0].lower()
        assert "==" not in dep, f"{dep}: the library's dependencies take lower bounds, not pins"
        if name != project["name"]:
            assert name in pins, f"{name} is a package dependency but not pinned in requirements.txt"
    assert project["requires-python"] == ">=3.11"
    assert (ROOT / "LICENSE").is_file() and project["license"] == {"file": "LICENSE"}


# third-party imports (import name -> distribution) and the extra that must bring them
IMPORTS = {
    "torch": "torch", "numpy": "numpy", "pandas": "pandas", "pyarrow": "pyarrow", "scipy": "scipy",
    "tqdm": "tqdm", "yaml": "pyyaml", "ennemi": "ennemi", "sklearn": "scikit-learn",
    "matplotlib": "matplotlib", "seaborn": "seaborn", "papermill": "papermill", "jupytext": "jupytext",
    "nbformat": "nbformat", "mlxtend": "mlxtend", "distributed": "distributed", "dask": "dask",
}  # fmt: skip
MODULE_EXTRAS = {
    "plotting": "figures", "heatmaps": "figures", "reproduce": "figures", "runner": "figures", "results": "figures",
    "images": "ssl", "bit_channels": "ssl",
    "sweep": "cluster",
}  # fmt: skip


def test_every_import_of_the_package_is_a_dependency_or_its_modules_extra():
    import ast
    import sys

    project = _project()
    core = _names(project["dependencies"])
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    missing = []
    for path in sorted((ROOT / "anchor").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "anchor":
                    continue
                assert top in IMPORTS, f"{path.name} imports {top}: add it to IMPORTS and to pyproject.toml"
                allowed = core | extras.get(MODULE_EXTRAS.get(path.stem, ""), set())
                if IMPORTS[top] not in allowed:
                    missing.append(f"{path.name}: {IMPORTS[top]}")
    assert not missing, f"imports not covered by the core dependencies or the module's extra: {missing}"
    assert set(MODULE_EXTRAS.values()) | {"dev"} == set(extras)


def test_readme_commands_are_makefile_targets_and_ci_runs_the_test_one():
    blocks, language, lines = [], None, []
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```") and language is None:
            language, lines = line[3:].strip(), []
        elif line.startswith("```"):
            blocks.append((language, "\n".join(lines)))
            language = None
        elif language is not None:
            lines.append(line)
    first_two = [text.strip() for lang, text in blocks if lang in ("bash", "sh", "")][:2]
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


LAYERS = {
    "estimator": {"critics", "scoring", "objectives", "data", "train", "marginals", "copula", "tables", "folds",
                  "estimate_result", "estimate_checks", "fitting", "estimate", "conditional", "shared_pairs", "matrix",
                  "_checks", "_random", "_console"},
    "runs": {"sweep", "cache", "_timing"},
    "experiments": {"tasks", "true_critic", "staircase", "bit_channels", "class_posterior", "images", "encoders",
                    "representation", "ssl", "interactions", "benchmark", "cmi_tasks", "cmi_benchmark", "references",
                    "jobs"},
    "pipeline": {"paths", "names", "notebook", "runner", "reproduce", "plotting", "heatmaps", "results", "data_files",
                 "cli", "cli_tables", "sweep_cli", "adapters"},
}  # fmt: skip
"""The package's layers, in order (anchor/__init__.py): a module imports only its own layer and
earlier ones. ``benchmark``'s command line borrows ``notebook``'s reader of --set values."""


def _package_imports(path):
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module in ("anchor", None):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module.startswith("anchor."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("anchor.")}
    return found


def test_the_estimator_experiments_and_pipeline_are_layered():
    modules = {p.stem for p in (ROOT / "anchor").glob("*.py")} - {"__init__", "__main__"}
    assert modules == set().union(*LAYERS.values()), "a module is missing from LAYERS"
    order = list(LAYERS)
    layer = {m: order.index(name) for name, members in LAYERS.items() for m in members}
    allowed = {("benchmark", "notebook")}
    wrong = [
        (m, dep)
        for m in sorted(modules)
        for dep in sorted(_package_imports(ROOT / "anchor" / f"{m}.py"))
        if dep in layer and layer[dep] > layer[m] and (m, dep) not in allowed
    ]
    assert not wrong, f"imports against the layers (module, imported): {wrong}"


def test_no_module_imports_itself_back():
    """No import cycle among the package's modules, imports inside functions included."""
    graph = {p.stem: _package_imports(p) for p in (ROOT / "anchor").glob("*.py")}
    cycles = []

    def visit(node, path):
        for dep in sorted(graph.get(node, ())):
            if dep == path[0]:
                cycles.append(" -> ".join([*path, dep]))
            elif dep not in path and dep in graph and dep > path[0]:  # each cycle once, from its smallest module
                visit(dep, [*path, dep])

    for module in sorted(graph):
        visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


def test_the_readme_and_the_package_docstring_list_the_layers_of_the_test():
    import re

    import anchor

    table = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (estimator|runs|experiments|pipeline)? *\| ([^|]+) \|", table, flags=re.M)
    readme, layer = {}, None
    for name, cell in rows:
        layer = name or layer
        for module in re.findall(r"`(\w+)`", cell):
            readme[module] = layer
    public = {m: name for name, members in LAYERS.items() for m in members if not m.startswith("_")}
    assert readme == public, "README's module table and LAYERS differ"
    doc = anchor.__doc__
    for name, members in LAYERS.items():
        block = doc[doc.index(f"- the {name}" if name != "runs" else "- runs") :].split("\n- ")[0]
        missing = [m for m in members if not m.startswith("_") and f"``{m}``" not in block]
        assert not missing, f"anchor/__init__.py's {name} layer lacks {missing}"


LONG = {
    "reproduce.main": "the runner's command line: options, checks before any job, the job loop and its report",
    "estimate.estimate_mi": "the estimator's one entry point: argument checks, folds, training, the Estimate",
    "benchmark.main": "the benchmark's command line: options, --summarize, the sweep and its table",
}
"""Functions allowed over 60 lines of code, and why."""
LARGE = {"ssl": "self-supervised training: configurations, checkpoints with resume, the epoch loop, evaluation"}
"""Modules allowed over 400 lines of code, and why."""


def _code_lines(lines):
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_functions_and_modules_stay_short():
    """No function over 60 lines of code (its docstring aside) and no module over 400, except
    those named above with their reason."""
    long, large = {}, {}
    for path in sorted((ROOT / "anchor").glob("*.py")):
        lines = path.read_text().splitlines()
        if _code_lines(lines) > 400:
            large[path.stem] = _code_lines(lines)
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1
                start = body[1 if docstring else 0].lineno
                size = _code_lines(lines[start - 1 : node.end_lineno])
                if size > 60:
                    long[f"{path.stem}.{node.name}"] = size
    assert set(long) <= set(LONG), f"functions over 60 lines of code: {long}"
    assert set(large) <= set(LARGE), f"modules over 400 lines of code: {large}"


def test_import_anchor_from_the_folder_that_holds_a_clone_named_anchor(tmp_path):
    """``import anchor`` (what papermill's kernel runs) started next to a checkout folder named
    ``anchor``: the package, not the checkout folder as an empty namespace package. The editable
    install puts the checkout on ``sys.path`` (``editable_mode=compat``, Makefile and
    environment.yml), so the package is found before any folder of the same name."""
    (tmp_path / "anchor").symlink_to(ROOT, target_is_directory=True)
    code = "import anchor; print(anchor.__file__); print(hasattr(anchor, 'GaussianSampler'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    path, has = out.stdout.split()
    assert Path(path).resolve() == (ROOT / "anchor" / "__init__.py").resolve() and has == "True", out.stdout


def test_every_relative_link_of_the_documents_and_notebooks_exists():
    """README, RESULTS, docs/ and the notebook sources' markdown link files that are there: the
    executed runs in notebooks/executed/, figures, docs."""
    documents = [
        ROOT / "README.md",
        ROOT / "RESULTS.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "notebooks").glob("*.py"),
    ]
    broken = []
    for path in documents:
        text = path.read_text()
        if path.suffix == ".py":  # jupytext: markdown lines start with "# "; links may wrap
            text = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text, flags=re.S):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken
