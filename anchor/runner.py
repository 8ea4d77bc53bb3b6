"""Executing one figure notebook: papermill on its source, a first cell that says how it was run,
file names that carry changed parameters, and the copy kept with the repository.

``run_notebook`` writes ``results/notebooks/<job>.<profile>[.<tag>].ipynb`` (ignored by git);
``publish`` copies a profile's run to ``notebooks/executed/`` (committed, linked from the README);
``refresh_committed`` re-executes the smoke notebooks ``notebooks/<name>.ipynb`` that CI checks.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

from .paths import Checkout


def run_notebook(
    name: str,
    source_name: str,
    profile: str,
    params: dict,
    *,
    progress: bool = True,
    stream: bool = True,
    tag: str = "",
    checkout: Checkout | None = None,
) -> Path:
    """Execute ``notebooks/<source_name>.py`` with ``params`` as job ``name``; returns the executed
    notebook, ``results/notebooks/<name>.<profile>[.<tag>].ipynb``, whose first cell says how it
    was run (``banner``).

    ``stream``: the kernel's printed output (tables, claims, progress bars of long cells) goes to
    this process's stdout and stderr as the notebook runs; otherwise only a bar of executed cells
    (``progress``) is shown."""
    import jupytext
    import papermill as pm

    checkout = Checkout.given(checkout)
    start = time.perf_counter()
    source = checkout.notebooks / f"{source_name}.py"
    if not source.exists():
        raise FileNotFoundError(f"notebook source {source} does not exist (listed in notebooks/profiles.yaml)")
    out_dir = checkout.executed
    out_dir.mkdir(parents=True, exist_ok=True)
    unexecuted = out_dir / f"{name}.input.ipynb"
    jupytext.write(jupytext.read(source), unexecuted)
    output = out_dir / f"{name}.{profile}{'.' + tag if tag else ''}.ipynb"
    streams = {"log_output": True, "stdout_file": sys.stdout, "stderr_file": sys.stderr} if stream else {}
    pm.execute_notebook(
        unexecuted,
        output,
        parameters=params,
        cwd=str(checkout.notebooks),
        progress_bar=progress and not stream,
        kernel_name="python3",
        **streams,
    )
    unexecuted.unlink()
    seconds = time.perf_counter() - start
    record = {"job": name, "profile": profile, "tag": tag, "seconds": round(seconds, 1)}
    _add_banner(output, banner(name, source_name, profile, params, seconds, tag, checkout.root), record)
    return output


def override_tag(settings: dict[str, Any]) -> str:
    """A file-name-safe label of the ``--set`` values, e.g. "dim=5" or "bits=2.0,4.0+seed=3": the
    outputs of a run with changed parameters carry it, so they never replace the profile's."""
    parts = []
    for key, value in sorted(settings.items()):
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}={re.sub(r'[^A-Za-z0-9.,_-]+', '_', text)}")
    return "+".join(parts)


def machine(device: str = "cpu") -> str:
    """The machine a run used, in words: the CPU model and core count, and the GPU if ``device`` is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"CPU: {cpu}, {os.cpu_count()} cores"
    if str(device).startswith("cuda"):
        import torch

        text += f"; GPU: {torch.cuda.get_device_name(torch.device(device))}" if torch.cuda.is_available() else ""
    return text


def banner(
    name: str, source_name: str, profile: str, params: dict, seconds: float, tag: str = "", root: Path | None = None
) -> str:
    """The first cell of a runner-executed notebook: job, profile, date, machine and run time."""
    lines = [
        f"**Executed run of job `{name}`, profile `{profile}`**"
        + (f" with changed parameters (`{tag}`)" if tag else "")
        + f", on {time.strftime('%Y-%m-%d')}.",
        "",
        f"- machine: {machine(params.get('device', 'cpu'))}",
        f"- run time: {seconds / 60:.1f} min (runs already in the results cache are read, not retrained; "
        "each sweep's last line says how many it read and how long its runs trained)",
        f"- source: `notebooks/{source_name}.py`; run with `python -m anchor.reproduce --profile {profile} "
        f"--only {name}`",
    ]
    if "figure_dir" in params:
        folder = Path(params["figure_dir"])
        if root is not None and folder.is_relative_to(root):
            folder = folder.relative_to(root)
        lines.append(f"- figures: `{folder.as_posix()}/` (README, Figures)")
    return "\n".join(lines)


def _add_banner(path: Path, text: str, record: dict[str, Any]) -> None:
    """Put ``text`` first in the notebook at ``path`` and ``record`` in its metadata (``anchor``)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["run-banner"]
    notebook.cells.insert(0, cell)
    notebook.metadata["anchor"] = record
    nbformat.write(notebook, path)


def publish(name: str, profile: str, *, checkout: Checkout | None = None) -> Path:
    """Copy the executed notebook of job ``name`` at ``profile`` (``results/notebooks``) to
    ``notebooks/executed/<name>.<profile>.ipynb``, where the README links it; cell ids numbered,
    papermill's per-cell timestamps dropped and links to the other runs made relative to it."""
    checkout = Checkout.given(checkout)
    source = checkout.executed / f"{name}.{profile}.ipynb"
    if not source.is_file():
        raise FileNotFoundError(
            f"{source} does not exist: run the job first (python -m anchor.reproduce --only {name})"
        )
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:  # links to the other runs, written from notebooks/, now point next door
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("](executed/", "](")
        elif cell.cell_type == "code":
            cell.outputs = _settled_streams(cell.outputs)
    target = checkout.published / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    _strip_run_metadata(target)
    return target


_TERMINAL_CONTROL = re.compile(r"(\r|\n|\x1b\[A)")


def _settle(text: str) -> str:
    """What a terminal shows after printing ``text``: progress bars redraw their line after a
    carriage return, and nested bars move up a line (``ESC [A``), so only each bar's last state stays."""
    lines, row, col = [""], 0, 0
    for token in _TERMINAL_CONTROL.split(text):
        if token == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif token == "\r":
            col = 0
        elif token == "\x1b[A":
            row = max(row - 1, 0)
        elif token:
            lines[row] = lines[row][:col] + token + lines[row][col + len(token) :]
            col += len(token)
    settled = "\n".join(line.rstrip() for line in lines).strip("\n")
    return settled + "\n" if settled else ""


def _settled_streams(outputs: list) -> list:
    """A cell's outputs with each run of consecutive stderr writes merged into one and settled as
    a terminal shows it: a long run's progress bars leave thousands of redraws, which a reader of
    the kept notebook does not need. Every other output is kept as it is."""

    def is_stderr(output: Any) -> bool:
        return output.output_type == "stream" and output.name == "stderr"

    settled: list = []
    for output in outputs:
        if is_stderr(output) and settled and is_stderr(settled[-1]):
            settled[-1].text += output.text
        else:
            settled.append(output)
    for output in filter(is_stderr, settled):
        output.text = _settle(output.text)
    return [o for o in settled if not is_stderr(o) or o.text]


def refresh_committed(name: str, *, checkout: Checkout | None = None) -> Path:
    """Execute ``notebooks/<name>.py`` with its default (smoke) parameters into ``notebooks/<name>.ipynb``."""
    import jupytext
    import papermill as pm

    notebooks = Checkout.given(checkout).notebooks
    target = notebooks / f"{name}.ipynb"
    jupytext.write(jupytext.read(notebooks / f"{name}.py"), target)
    pm.execute_notebook(target, target, cwd=str(notebooks), progress_bar=False, kernel_name="python3")
    _strip_run_metadata(target)
    return target


def _strip_run_metadata(path: Path) -> None:
    """Drop timestamps and durations and number the cell ids, so a re-run changes only outputs."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("papermill", None)
    for k, cell in enumerate(notebook.cells):
        cell.id = f"cell-{k}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)
