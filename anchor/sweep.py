"""Sweeps over configurations, with the result cache of ``anchor.cache``.

``run_sweep(configs, run, cache=...)`` calls ``run(**config, **options)`` for every configuration
whose result is not cached yet, stores each result as soon as it arrives, and returns all of them
in one tidy table. Rerunning the sweep loads what is finished and computes only the rest.
Recomputing is a separate decision from replotting: figures are drawn from ``run_sweep``'s table.

Runs happen here (one after another), in local worker processes (``workers``), or on a Dask
``distributed`` cluster (``client``: a ``distributed.Client`` or a scheduler address), one task
per configuration; results always come back to this process and go into the same cache. Worker
processes exit when this process dies; Ctrl-C keeps every finished run and stops the others.

Every run trains with subnormal floats flushed to zero on the CPU (``torch.set_flush_denormal``):
a critic whose outputs run off to minus infinity, as the chi^2 critic's do, otherwise spends most
of its steps on subnormal arithmetic, several times slower (``benchmarks/subnormals.py``). A run
that never meets a subnormal number computes the same bits either way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ._checks import check_int
from ._console import progress_bar
from ._timing import sweep_time_line
from .cache import CacheFileError, Config, ResultCache, check_writable, clean_temporaries, config_key, run_context

__all__ = ["ResultCache", "notebook_sweep", "run_sweep"]


def _exit_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone (even SIGKILLed)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - only called in spawned workers
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(threads: int) -> None:
    """Set up a local worker process: its torch threads; Ctrl-C is the parent's to handle (it
    stops the workers); the worker dies with its parent."""
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()


@contextlib.contextmanager
def _subnormals_flushed() -> Iterator[None]:
    """Flush subnormal floats to zero on the CPU while the block runs (torch's default, off, after)."""
    flushing = torch.set_flush_denormal(True)  # False where the CPU cannot (then nothing changed)
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(False)


def _call(
    run: Callable[..., pd.DataFrame], config: Config, options: dict[str, Any], threads: int | None = None
) -> tuple[pd.DataFrame, float]:
    """``run(**config, **options)``, with subnormals flushed, and the seconds it took."""
    if threads is not None:  # a Dask worker: set the torch threads of this task's process
        torch.set_num_threads(threads)
    start = time.perf_counter()
    with _subnormals_flushed():
        result = run(**config, **options)
    seconds = time.perf_counter() - start
    if not isinstance(result, pd.DataFrame):
        raise TypeError(f"run must return a pandas DataFrame, got {type(result).__name__}")
    return result, seconds


def _run_on_dask(
    client: Any,
    run: Callable[..., pd.DataFrame],
    configs: list[Config],
    todo: list[int],
    options: dict[str, Any],
    threads: int,
    retries: int,
    finish: Callable[[int, tuple[pd.DataFrame, float]], None],
    failed: Callable[[int, BaseException], RuntimeError],
    key: Callable[[int], str],
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
            _call, run, configs[k], options, threads, key=f"{prefix}-{key(k)}", pure=False, retries=retries
        ): k
        for k in todo
    }
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
    _raise_all(errors)


def _raise_all(errors: list[RuntimeError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuntimeError(f"{len(errors)} sweep runs failed:\n" + "\n".join(str(e) for e in errors))


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued runs and end the running ones at once (Ctrl-C)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:  # pragma: no cover - newer Python
        terminate()
    else:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _run_in_processes(
    run: Callable[..., pd.DataFrame],
    configs: list[Config],
    todo: list[int],
    options: dict[str, Any],
    workers: int,
    threads: int,
    finish: Callable[[int, tuple[pd.DataFrame, float]], None],
    failed: Callable[[int, BaseException], RuntimeError],
) -> None:
    """Local worker processes (spawned, so CUDA works in them); each result is stored on arrival.

    A failing run cancels the queued ones, lets the running ones finish (and stores them), then
    raises. Ctrl-C (or any other interruption) stores what has finished and stops the workers at
    once. Workers exit by themselves if this process is killed.
    """
    pool = ProcessPoolExecutor(
        min(workers, len(todo)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads,),
    )
    futures: dict[Future, int] = {pool.submit(_call, run, configs[k], options): k for k in todo}
    handled: set[Future] = set()
    errors: list[RuntimeError] = []

    def handle(future: Future) -> None:
        handled.add(future)
        if future.cancelled():  # queued behind a failed run
            return
        try:
            result = future.result()
        except Exception as err:
            errors.append(failed(futures[future], err))
            return
        finish(futures[future], result)

    # Ctrl-C only sets a flag that the loop checks between waits: a KeyboardInterrupt raised at an
    # arbitrary point could leave a future's lock held inside the executor, and shutting it down
    # would then hang.
    interrupted = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set()) if main else None
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                handle(future)
            if errors:
                for other in futures:
                    other.cancel()
            if interrupted.is_set():
                raise KeyboardInterrupt
        pool.shutdown(wait=True)
    except BaseException:
        try:
            for future in futures:  # keep what finished while we were interrupted
                if future not in handled and future.done() and not future.cancelled() and future.exception() is None:
                    handle(future)
        finally:
            _stop_workers(pool)
        raise
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)
    _raise_all(errors)


def _on_cpu(options: Mapping[str, Any]) -> bool:
    try:
        return torch.device(options.get("device") or "cpu").type == "cpu"
    except (RuntimeError, TypeError):  # a bad device: the run itself will say so
        return True


def _lookup(cache: ResultCache, config: Config, context: dict[str, Any]) -> pd.DataFrame | None:
    """The cached result for ``config`` in ``context``; a CPU request with none of its own thread
    count takes a GPU's (threads None). An unreadable file is reported and treated as missing."""
    contexts = [context] if context["threads"] is None else [context, {**context, "threads": None}]
    for candidate in contexts:
        try:
            found = cache.get(config, candidate)
        except CacheFileError as err:
            warnings.warn(f"cache file {err.path} cannot be used ({err.reason}); recomputing it", stacklevel=3)
            continue
        if found is not None:
            return found
    return None


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
    data: Mapping[str, str | Path | None] | Callable[[Config], Mapping[str, str | Path | None]] | None = None,
) -> pd.DataFrame:
    """Run ``run(**config, **options)`` for every configuration not yet in ``cache``; return all results.

    Args:
        configs: JSON-serialisable dicts; each is one run.
        run: returns a DataFrame. With ``workers > 1`` it must be importable by name (a module-level
            function such as ``anchor.run_staircase``), since it runs in worker processes.
        cache: a ``ResultCache`` or its folder; None computes everything and stores nothing. A
            result is keyed by its configuration and ``anchor.cache.run_context``: the code of
            ``run``, the package version, the torch threads per run on the CPU and the content of
            the ``data`` files, so a change in any of them recomputes. The device is not part of
            the key: a CPU request with no result of its own thread count takes one made on a
            GPU. A cached file that cannot be read is reported (a warning naming it) and
            recomputed. An unwritable folder is reported before anything runs.
        options: arguments passed to every run that do not change its result and so are not part
            of the key (``device``, ``progress``, where a data file is).
        workers: worker processes for the runs still missing (1: run here, one after another).
            Each result is stored as soon as it arrives, so an interrupted sweep keeps it.
        threads_per_worker: torch threads in each worker process (and in each Dask task).
        progress: a bar of finished runs; it starts at the runs read from the cache, and its label
            says how many ("sweep (10 from the cache)"). The sweep then prints one line to stderr:
            how many runs it trained and read from the cache, each with their training time summed
            over runs ("sweep: 21 runs: 2 trained now (27.4 min), 19 read from the cache (trained
            earlier in 4.1 h); ..."); a stopped sweep prints it too ("sweep stopped after 6 of 21
            runs: ...").
        client: run the missing configurations on a Dask ``distributed`` cluster instead: a
            ``distributed.Client``, or the scheduler's address (e.g. "tcp://10.0.0.5:8786"; a
            client is opened and closed here). One task per configuration; ``workers`` is then
            ignored. Results are stored in ``cache`` by this process as they arrive.
        retries: with ``client``, how many times Dask reruns a task whose run raised or whose
            worker died, before the configuration is reported as failed.
        index: if given, the name of a column holding each row's position in ``configs`` (to
            attach labels to runs whose configurations differ only in nested entries).
        data: files or folders the runs read, by name (e.g. ``{"data_path": path}``), or a
            function of a configuration returning them (for sweeps whose runs read different
            files); their content is part of each run's cache key. Pass the paths themselves to
            the runs in ``options``.

    Each result gets the configuration's scalar entries as columns (unless it has a column of
    that name already), and the results are concatenated in the order of ``configs``. A run that
    raises stops the sweep with an error naming its configuration; finished results stay cached
    (local workers: the runs already under way finish and are cached too). On a Dask cluster the
    other tasks finish first (and are cached), then one error lists every configuration that
    failed. Ctrl-C keeps every finished run in the cache and stops the rest at once.
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
    in_processes = client is not None or workers > 1
    threads = threads_per_worker if in_processes else torch.get_num_threads()
    files = data if callable(data) else (lambda config: data)
    contexts = [run_context(run, threads=threads if _on_cpu(options) else None, data=files(c)) for c in configs]
    results = _cached(cache, configs, contexts)
    earlier = {k: result.attrs.pop("seconds", None) for k, result in results.items()}
    trained: dict[int, float] = {}
    todo = [k for k in range(len(configs)) if k not in results]
    if cache is not None and todo:
        check_writable(cache.root)
        clean_temporaries(cache.root)
    desc = f"sweep ({len(results)} from the cache)" if results else "sweep"
    bar = progress_bar(total=len(configs), initial=len(results), desc=desc, enabled=progress)

    def finish(k: int, outcome: tuple[pd.DataFrame, float]) -> None:
        results[k], trained[k] = outcome
        bar.update()
        if cache is not None:
            try:
                cache.put(configs[k], results[k], contexts[k], seconds=trained[k])
            except ValueError as err:  # the run is kept for this call, just not cached
                warnings.warn(f"{err}; not cached", stacklevel=2)

    def failed(k: int, err: BaseException) -> RuntimeError:
        return RuntimeError(f"sweep run failed for configuration {configs[k]}: {type(err).__name__}: {err}")

    try:
        if client is not None and todo:
            key = lambda k: config_key(configs[k], contexts[k])  # noqa: E731
            _run_on_dask(client, run, configs, todo, options, threads, retries, finish, failed, key)
        elif workers == 1 or len(todo) <= 1:
            _run_here(run, configs, todo, options, threads, finish, failed)
        else:
            _run_in_processes(run, configs, todo, options, workers, threads, finish, failed)
    finally:
        bar.close()
        if progress:  # also when a run failed or Ctrl-C stopped the sweep: what it kept
            print(sweep_time_line(len(configs), trained, earlier), file=sys.stderr)
    return _combine(configs, results, index)


def _cached(cache: ResultCache | None, configs: list[Config], contexts: list[dict]) -> dict[int, pd.DataFrame]:
    """The results already in ``cache``, by position in ``configs``."""
    results: dict[int, pd.DataFrame] = {}
    if cache is not None:
        for k, config in enumerate(configs):
            found = _lookup(cache, config, contexts[k])
            if found is not None:
                results[k] = found
    return results


def _run_here(
    run: Callable[..., pd.DataFrame],
    configs: list[Config],
    todo: list[int],
    options: dict[str, Any],
    threads: int,
    finish: Callable[[int, tuple[pd.DataFrame, float]], None],
    failed: Callable[[int, BaseException], RuntimeError],
) -> None:
    """Run the configurations ``todo`` in this process, one after another, with ``threads`` torch
    threads (a lone run left of a parallel sweep gets a worker's threads, so its key holds)."""
    own = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for k in todo:
            try:
                result = _call(run, configs[k], options)
            except Exception as err:
                raise failed(k, err) from err
            finish(k, result)
    finally:
        torch.set_num_threads(own)


def _combine(configs: list[Config], results: dict[int, pd.DataFrame], index: str | None) -> pd.DataFrame:
    """The results in the order of ``configs``, each with its configuration's scalar entries as
    columns (unless it has one of that name) and, with ``index``, its position."""
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
    data: Mapping[str, str | Path | None] | Callable[[Config], Mapping[str, str | Path | None]] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """``run_sweep`` as the notebooks call it (``anchor.staircase.sweep_staircase``, ``anchor.ssl.sweep_ssl``).

    ``workers`` local processes share the notebooks' two torch threads (one each when there are
    two or more; a single process keeps this process's threads); ``scheduler`` (a Dask address;
    empty: none) sends the runs to a cluster instead; the runs' own progress bars only for
    in-process runs; an empty ``cache`` stores nothing; ``data`` names the files whose content is
    part of the cache key. Extra ``options`` go to every run. The result has a ``run`` column:
    each row's position in ``configs``.
    """
    options = {"device": device, "progress": progress and workers == 1 and not scheduler, **options}
    return run_sweep(
        configs,
        run,
        cache=cache or None,
        options=options,
        workers=workers,
        threads_per_worker=max(1, 2 // workers),
        client=scheduler or None,
        progress=progress,
        index="run",
        data=data,
    )
