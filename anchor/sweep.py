"""Sweeps over configurations with an on-disk result cache keyed by the full configuration.

A configuration is a JSON-serialisable dict of everything that determines a run (objective,
critic, sampler, steps, seed, ...). Its result, a tidy DataFrame, is stored under a hash of the
canonical JSON, together with the configuration itself, written atomically (temporary file, then
``os.replace``), so an interrupted sweep leaves either a whole result or none. Rerunning the sweep
loads what is finished and computes only the rest. Recomputing is a separate decision from
replotting: figures are drawn from ``run_sweep``'s table.

Runs happen here (one after another), in local worker processes (``workers``), or on a Dask
``distributed`` cluster (``client``: a ``distributed.Client`` or a scheduler address), one task
per configuration; results always come back to this process and go into the same cache.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import tempfile
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ._checks import check_int

Config = dict[str, Any]


def config_key(config: Config) -> str:
    """A stable hash of the configuration's canonical JSON (sorted keys)."""
    try:
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    except TypeError as err:
        raise ValueError(f"config must be JSON-serialisable (numbers, strings, lists, dicts): {err}") from None
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


class ResultCache:
    """A folder of results, one file per configuration: ``<root>/<key>.pkl``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, config: Config) -> Path:
        return self.root / f"{config_key(config)}.pkl"

    def __contains__(self, config: Config) -> bool:
        return self.path(config).exists()

    def get(self, config: Config) -> pd.DataFrame | None:
        """The stored result of ``config``, or None if it has not been computed."""
        path = self.path(config)
        if not path.exists():
            return None
        with open(path, "rb") as f:
            stored = pickle.load(f)
        if stored["config"] != json.loads(json.dumps(config)):
            raise RuntimeError(f"cache file {path} holds another configuration (hash collision); delete it")
        return stored["result"]

    def put(self, config: Config, result: pd.DataFrame) -> Path:
        """Store ``result`` atomically: readers see the old state or the whole new file."""
        path = self.path(config)
        stored = {"config": json.loads(json.dumps(config)), "result": result}
        atomic_write(path, lambda f: pickle.dump(stored, f))
        return path


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then move it into place.

    Readers see the old file or the whole new one, never a partial write (``os.replace`` is
    atomic on one file system); on any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _call(
    run: Callable[..., pd.DataFrame], config: Config, options: dict[str, Any], threads: int | None = None
) -> pd.DataFrame:
    if threads is not None:  # a Dask worker: set the torch threads of this task's process
        _init_worker(threads)
    result = run(**config, **options)
    if not isinstance(result, pd.DataFrame):
        raise TypeError(f"run must return a pandas DataFrame, got {type(result).__name__}")
    return result


def _run_on_dask(
    client: Any,
    run: Callable[..., pd.DataFrame],
    configs: list[Config],
    todo: list[int],
    options: dict[str, Any],
    threads: int,
    retries: int,
    finish: Callable[[int, pd.DataFrame], None],
    failed: Callable[[int, BaseException], RuntimeError],
) -> None:
    """One Dask task per missing configuration; store each result as it arrives, report failures."""
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - distributed is a listed dependency
        raise ImportError("client= needs the 'distributed' package (pip install 'dask[distributed]')") from err
    own = isinstance(client, str)
    if own:
        client = distributed.Client(client)
    elif not isinstance(client, distributed.Client):
        raise ValueError(f"client must be a distributed.Client or a scheduler address string, got {client!r}")
    prefix = f"{getattr(run, '__name__', 'run')}-{uuid.uuid4().hex[:8]}"
    futures = {
        client.submit(
            _call, run, configs[k], options, threads, key=f"{prefix}-{config_key(configs[k])}", pure=False,
            retries=retries,
        ): k
        for k in todo
    }  # fmt: skip
    errors = []
    try:
        for future in distributed.as_completed(futures):
            k = futures[future]
            try:
                result = future.result()
            except Exception as err:
                errors.append(failed(k, err))
                continue
            finish(k, result)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        if own:
            client.close()
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuntimeError(f"{len(errors)} sweep runs failed:\n" + "\n".join(str(e) for e in errors))


def run_sweep(
    configs: Iterable[Config],
    run: Callable[..., pd.DataFrame],
    *,
    cache: ResultCache | str | Path | None = None,
    options: dict[str, Any] | None = None,
    workers: int = 1,
    threads_per_worker: int = 1,
    progress: bool = True,
    client: Any = None,
    retries: int = 1,
    index: str | None = None,
) -> pd.DataFrame:
    """Run ``run(**config, **options)`` for every configuration not yet in ``cache``; return all results.

    Args:
        configs: JSON-serialisable dicts; each is one run and its cache key.
        run: returns a DataFrame. With ``workers > 1`` it must be importable by name (a module-level
            function such as ``anchor.run_staircase``), since it runs in worker processes.
        cache: a ``ResultCache`` or its folder; None computes everything and stores nothing.
        options: arguments passed to every run that do not change its result and so are not part
            of the key (``device``, ``progress``).
        workers: worker processes for the runs still missing (1: run here, one after another).
            Each result is stored as soon as it arrives, so an interrupted sweep keeps it.
        threads_per_worker: torch threads in each worker process (and in each Dask task).
        client: run the missing configurations on a Dask ``distributed`` cluster instead: a
            ``distributed.Client``, or the scheduler's address (e.g. "tcp://10.0.0.5:8786"; a
            client is opened and closed here). One task per configuration; ``workers`` is then
            ignored. Results are stored in ``cache`` by this process as they arrive.
        retries: with ``client``, how many times Dask reruns a task whose run raised or whose
            worker died, before the configuration is reported as failed.
        index: if given, the name of a column holding each row's position in ``configs`` (to
            attach labels to runs whose configurations differ only in nested entries).

    Each result gets the configuration's scalar entries as columns (unless it has a column of
    that name already), and the results are concatenated in the order of ``configs``. A run that
    raises stops the sweep with an error naming its configuration; finished results stay cached.
    On a Dask cluster the other tasks finish first (and are cached), then one error lists every
    configuration that failed.
    """
    configs = list(configs)
    options = dict(options or {})
    workers = check_int("workers", workers, low=1)
    threads_per_worker = check_int("threads_per_worker", threads_per_worker, low=1)
    retries = check_int("retries", retries, low=0)
    clash = sorted({k for c in configs for k in c} & set(options))
    if clash:
        raise ValueError(f"options {clash} are also configuration keys; give each argument in one place")
    if isinstance(cache, (str, Path)):
        cache = ResultCache(cache)
    results: dict[int, pd.DataFrame] = {}
    if cache is not None:
        for k, config in enumerate(configs):
            found = cache.get(config)
            if found is not None:
                results[k] = found
    todo = [k for k in range(len(configs)) if k not in results]
    bar = tqdm(total=len(configs), initial=len(results), desc="sweep", disable=not progress, leave=False)

    def finish(k: int, result: pd.DataFrame) -> None:
        if cache is not None:
            cache.put(configs[k], result)
        results[k] = result
        bar.update()

    def failed(k: int, err: BaseException) -> RuntimeError:
        return RuntimeError(f"sweep run failed for configuration {configs[k]}: {type(err).__name__}: {err}")

    try:
        if client is not None and todo:
            _run_on_dask(client, run, configs, todo, options, threads_per_worker, retries, finish, failed)
        elif workers == 1 or len(todo) <= 1:
            for k in todo:
                try:
                    result = _call(run, configs[k], options)
                except Exception as err:
                    raise failed(k, err) from err
                finish(k, result)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                min(workers, len(todo)), mp_context=context, initializer=_init_worker, initargs=(threads_per_worker,)
            ) as pool:
                futures = {pool.submit(_call, run, configs[k], options): k for k in todo}
                try:
                    for future in as_completed(futures):
                        k = futures[future]
                        try:
                            result = future.result()
                        except Exception as err:
                            raise failed(k, err) from err
                        finish(k, result)
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    frames = []
    for k, config in enumerate(configs):
        result = results[k]
        scalars = {key: v for key, v in config.items() if isinstance(v, (str, int, float, bool)) and key not in result}
        if index is not None:
            scalars[index] = k
        frames.append(result.assign(**scalars))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def notebook_sweep(
    configs: Iterable[Config],
    run: Callable[..., pd.DataFrame],
    *,
    cache: str | Path | None = None,
    device: str = "cpu",
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """``run_sweep`` as the notebooks call it (``anchor.sweep_staircase``, ``anchor.sweep_ssl``).

    ``workers`` local processes share this machine's two threads (one each when there are two or
    more); ``scheduler`` (a Dask address; empty: none) sends the runs to a cluster instead; the
    runs' own progress bars only for in-process runs; an empty ``cache`` stores nothing. Extra
    ``options`` go to every run. The result has a ``run`` column: each row's position in ``configs``.
    """
    options = {"device": device, "progress": progress and workers == 1 and not scheduler, **options}
    return run_sweep(
        configs, run, cache=cache or None, options=options, workers=workers,
        threads_per_worker=max(1, 2 // workers), client=scheduler or None, progress=progress, index="run",
    )  # fmt: skip
