"""Sweeps over configurations with an on-disk result cache keyed by the full configuration.

A configuration is a JSON-serialisable dict of everything that determines a run (objective,
critic, sampler, steps, seed, ...). Its result, a tidy DataFrame, is stored under a hash of the
canonical JSON, together with the configuration itself, written atomically (temporary file, then
``os.replace``), so an interrupted sweep leaves either a whole result or none. Rerunning the sweep
loads what is finished and computes only the rest. Recomputing is a separate decision from
replotting: figures are drawn from ``run_sweep``'s table.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

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
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(config)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump({"config": json.loads(json.dumps(config)), "result": result}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def run_sweep(
    configs: Iterable[Config],
    run: Callable[..., pd.DataFrame],
    *,
    cache: ResultCache | str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run ``run(**config)`` for every configuration not yet in ``cache``; return all results.

    Each result gets the configuration's scalar entries as columns (unless it has a column of
    that name already), and the results are concatenated in the order of ``configs``. A run that
    raises stops the sweep with an error naming its configuration; finished results stay cached.
    """
    configs = list(configs)
    if isinstance(cache, (str, Path)):
        cache = ResultCache(cache)
    frames = []
    bar = tqdm(configs, desc="sweep", disable=not progress, leave=False)
    for config in bar:
        result = cache.get(config) if cache is not None else None
        if result is None:
            try:
                result = run(**config)
            except Exception as err:
                raise RuntimeError(f"sweep run failed for configuration {config}: {type(err).__name__}: {err}") from err
            if not isinstance(result, pd.DataFrame):
                raise TypeError(f"run must return a pandas DataFrame, got {type(result).__name__} for {config}")
            if cache is not None:
                cache.put(config, result)
        scalars = {k: v for k, v in config.items() if isinstance(v, (str, int, float, bool)) and k not in result}
        frames.append(result.assign(**scalars))
    bar.close()
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
