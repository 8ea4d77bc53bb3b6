"""The on-disk result cache: data-only files keyed by a run's configuration and everything else it
depends on, written atomically.

A configuration is a JSON-serialisable dict of the arguments that determine a run (objective,
critic, steps, seed, ...). The same configuration gives other numbers under other code, with
another data file, or with another number of CPU threads (CPU kernels split their sums by
thread), so the key is a hash of the configuration *and* a context::

    {"run": "anchor.staircase.run_staircase",     # the function that made the result
     "code": <hash of its module and of every package module it imports>,
     "version": "0.1.0",                          # the package's
     "threads": 2,                                # torch threads per run on the CPU; None on a GPU
     "data": {"data_path": <hash of the file's bytes>}}

Not in the key, by design: where the run happened (the device, the CPU's instruction set, the
torch build). Results from another machine are used as they are: they agree with this machine's
within the claims' tolerances, not bit for bit, and that is what lets a cache filled on a GPU
draw the figures on a laptop (``run_sweep`` serves a GPU's result to a CPU request with no result
of its own thread count).

A result is a tidy DataFrame stored as one Parquet file whose metadata holds the configuration and
the context: reading it never executes code (unlike pickle), and a file that is empty, truncated or
not ours is reported with its path (``CacheFileError``), so the sweep recomputes it. Files are
written to a temporary name and moved into place (``atomic_write``): a reader sees the old file or
the whole new one. Temporaries left by a killed process are removed by ``clean_temporaries``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

Config = dict[str, Any]

CACHE_FORMAT = 2
SUFFIX = ".parquet"
PACKAGE = Path(__file__).resolve().parent


class CacheFileError(RuntimeError):
    """A cache file or checkpoint exists but cannot be read as one (empty, truncated, foreign)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def canonical_json(value: Any, *, name: str = "config") -> str:
    """Sorted-key, compact JSON: the same text for equal dicts, whatever their key order."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be JSON-serialisable (numbers, strings, lists, dicts): {err}") from None


def config_key(config: Config, context: Mapping[str, Any] | None = None) -> str:
    """A stable hash of the configuration (and, if given, the context it was computed in)."""
    payload = canonical_json(config) if context is None else canonical_json({"config": config, "context": context})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# What a result depends on besides its configuration


SWEEP_MACHINERY = frozenset({"cache.py", "sweep.py"})
"""Modules that call runs and store their results without changing them: left out of code hashes."""


def _imported_package_modules(tree: ast.Module, path: Path) -> set[Path]:
    """The files of this package that the module at ``path`` (parsed: ``tree``) imports directly."""
    inside = path.resolve().parent == PACKAGE
    found: set[Path] = set()

    def add(dotted: str) -> None:
        parts = dotted.split(".")
        if not parts[0]:
            return
        candidate = PACKAGE.joinpath(*parts)
        for file in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if file.is_file():
                found.add(file.resolve())

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level and inside:  # from .train import fit / from . import data
                base = node.module or ""
            elif node.level == 0 and node.module and node.module.split(".")[0] == PACKAGE.name:
                base = node.module.partition(".")[2]
                found.add(PACKAGE / "__init__.py")
            else:
                continue
            add(base)
            for alias in node.names:
                add(f"{base}.{alias.name}" if base else alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE.name:
                    found.add(PACKAGE / "__init__.py")
                    add(alias.name.partition(".")[2])
    return {f for f in found if not (f.parent == PACKAGE and f.name in SWEEP_MACHINERY)}


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """The tree with every module, class and function docstring removed (in place)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


_VERSIONED_FIELDS = frozenset({"type_params", "type_comment", "kind"})
"""Syntax-tree fields that some Python versions have and others lack (or fill differently)."""


def _canonical(node: Any) -> str:
    """A text form of a syntax tree that is the same under every supported Python version.

    ``ast.dump`` is not: 3.12 adds ``type_params``, 3.13 leaves out empty fields, and 3.12.0-3.12.1
    put empty string parts into f-strings. So the fields are written out by name, without the
    version-dependent ones, and the empty parts of f-strings are dropped.
    """
    if isinstance(node, ast.AST):
        fields = []
        for field in node._fields:
            if field in _VERSIONED_FIELDS:
                continue
            value = getattr(node, field, None)
            if isinstance(node, ast.JoinedStr) and field == "values":
                value = [v for v in value if not (isinstance(v, ast.Constant) and v.value == "")]
            fields.append(f"{field}={_canonical(value)}")
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(item) for item in node) + "]"
    return repr(node)


@functools.lru_cache(maxsize=64)
def _code_hash(module_file: str, mtimes: tuple[tuple[str, int], ...]) -> str:
    del mtimes  # part of the lru key only: an edited file is hashed again
    todo, seen, digest = [Path(module_file)], set(), hashlib.sha256()
    trees = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        trees[path] = ast.parse(path.read_text(), filename=str(path))
        todo += _imported_package_modules(trees[path], path)
    for path in sorted(seen):
        name = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
        digest.update(name.encode() + b"\0" + _canonical(_without_docstrings(trees[path])).encode() + b"\0")
    return digest.hexdigest()[:16]


def code_fingerprint(run: Callable[..., Any]) -> str:
    """A hash of the code of the module defining ``run`` and of every package module it imports,
    directly or not (but not the sweep machinery, ``SWEEP_MACHINERY``). It is taken over the
    syntax tree without docstrings, so comments, docstrings and formatting do not change it; any
    change to the code does. Without a source file: the function's name."""
    run = _unwrap(run)[0]
    module = sys.modules.get(getattr(run, "__module__", ""), None)
    file = getattr(module, "__file__", None)
    if not file or not Path(file).is_file():
        return f"nosource:{_qualified_name(run)}"
    mtimes = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in PACKAGE.glob("*.py")))
    return _code_hash(str(Path(file).resolve()), (*mtimes, (file, Path(file).stat().st_mtime_ns)))


def _unwrap(run: Callable[..., Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The function behind ``functools.partial`` layers, and the arguments they bind (which
    change the result, so they belong in the key)."""
    bound: dict[str, Any] = {}
    while isinstance(run, functools.partial):
        bound = {"args": [*run.args, *bound.get("args", [])], "keywords": {**run.keywords, **bound.get("keywords", {})}}
        run = run.func
    return run, bound


def _qualified_name(run: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, or of a callable object's class; an error for anything
    whose name would not be the same in the next process (it would never hit the cache)."""
    target = run if hasattr(run, "__qualname__") else type(run)
    module, name = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    if not module or not name:
        raise ValueError(f"run must be a named function or a callable object, got {run!r}")
    return f"{module}.{name}"


@functools.lru_cache(maxsize=256)
def _file_hash(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    del size, mtime_ns, ctime_ns, inode  # part of the lru key only
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def data_fingerprint(path: str | Path | None) -> str | None:
    """A hash of the bytes of a data file, or of every file in a folder (with their relative
    names); "missing" when nothing is there; None for None. Hashes are remembered per file
    size, times and inode, so a large file is read once per process."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_file():
        stat = path.stat()
        return _file_hash(str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(data_fingerprint(file).encode() + b"\0")
        return digest.hexdigest()[:24]
    return "missing"


def run_context(
    run: Callable[..., Any], *, threads: int | None, data: Mapping[str, str | Path | None] | None = None
) -> dict[str, Any]:
    """What a result of ``run`` depends on besides its configuration (module docstring).

    ``threads``: torch threads per run on the CPU, None for a run on an accelerator (whose sums do
    not depend on it). ``data``: files or folders the run reads, by name. For a
    ``functools.partial``, the function behind it names the run and its bound arguments are part
    of the context.
    """
    from . import __version__

    function, bound = _unwrap(run)
    context = {
        "run": _qualified_name(function),
        "code": code_fingerprint(function),
        "version": __version__,
        "threads": None if threads is None else int(threads),
        "data": {name: data_fingerprint(path) for name, path in sorted((data or {}).items())},
    }
    if bound:
        canonical_json(bound, name="the arguments a functools.partial run binds")
        context["bound"] = bound
    return context


# ---------------------------------------------------------------------------------------------
# Atomic writes and their leftovers


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"


_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[^.]*\.tmp$")
STALE_AFTER = 24 * 3600  # seconds; a temporary of another machine older than this is abandoned


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then move it into place.

    Readers see the old file or the whole new one, never a partial write (``os.replace`` is
    atomic on one file system); on any error the temporary file is removed. The temporary's name
    carries this machine's name and process id, so ``clean_temporaries`` can tell a write in
    progress from one whose process was killed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files that ``atomic_write`` left in ``folder`` when its process died
    (killed mid-write); returns them. A temporary of a live process on this machine stays, and so
    does another machine's unless it is older than a day."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.glob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match is None:
            continue
        if match["host"] == _host():
            stale = not _alive(int(match["pid"]))
        else:
            try:
                stale = time.time() - path.stat().st_mtime > STALE_AFTER
            except FileNotFoundError:
                continue
        if stale:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def check_writable(folder: str | Path, *, what: str = "cache folder") -> Path:
    """Create ``folder`` if needed and make sure files can be written in it; else one clear error."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(
            f"the {what} {folder} is not writable ({err.strerror or err}); nothing was run. Choose another "
            "folder (e.g. cache_dir=...) or fix its permissions"
        ) from None
    return folder


# ---------------------------------------------------------------------------------------------
# The cache


class ResultCache:
    """A folder of results, one Parquet file per (configuration, context): ``<root>/<key>.parquet``.

    ``context`` (``run_context(run, threads=..., data=...)``) is everything the result depends on
    besides the configuration; every method takes it, and ``run_sweep`` passes it. Files of the
    former pickle format (``*.pkl``) are never read.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, config: Config, context: Mapping[str, Any]) -> Path:
        return self.root / f"{config_key(config, context)}{SUFFIX}"

    def contains(self, config: Config, context: Mapping[str, Any]) -> bool:
        """Whether a file for ``config`` in ``context`` exists (readable or not)."""
        return self.path(config, context).exists()

    def get(self, config: Config, context: Mapping[str, Any]) -> pd.DataFrame | None:
        """The stored result of ``config`` in ``context``, or None if it has not been computed.
        Where the file records how long the run took, ``result.attrs["seconds"]`` holds it.

        Raises:
            CacheFileError: the file exists but is not a whole result of this cache (empty,
                truncated, another format); it names the path.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path(config, context)
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {}).get(b"anchor", b"null"))
        except (OSError, ValueError, pa.ArrowException) as err:
            raise CacheFileError(path, f"not a readable result file ({type(err).__name__}: {err})") from None
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
            raise CacheFileError(path, "not a result file of this cache (no anchor metadata of this format)")
        expected = {"config": config, "context": dict(context)}
        if canonical_json(meta.get("key")) != canonical_json(expected):
            raise CacheFileError(path, "holds another configuration (a hash collision, or a renamed file)")
        frame = table.to_pandas()
        seconds = meta.get("seconds")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            frame.attrs["seconds"] = float(seconds)
        return frame

    def put(
        self, config: Config, result: pd.DataFrame, context: Mapping[str, Any], *, seconds: float | None = None
    ) -> Path:
        """Store ``result`` atomically: readers see the old state or the whole new file.

        ``seconds``, the time the run took, is kept beside the result (not in its key); ``get``
        returns it as ``result.attrs["seconds"]``, absent for files stored without one.

        Raises:
            ValueError: a column Parquet cannot hold (e.g. mixed Python objects); it names the
                configuration. Nothing is written.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path(config, context)
        meta: dict[str, Any] = {"format": CACHE_FORMAT, "key": {"config": config, "context": dict(context)}}
        if seconds is not None:
            meta["seconds"] = round(float(seconds), 3)
        try:
            table = pa.Table.from_pandas(result, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as err:
            raise ValueError(
                f"the result of {config} cannot be stored as Parquet ({type(err).__name__}: {err}); give each "
                "column one type (numbers, strings or booleans)"
            ) from None
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"anchor": canonical_json(meta)})
        atomic_write(path, lambda f: pq.write_table(table, f))
        return path
