"""The result cache: data-only files, keyed by everything a result depends on, never stale or blocking."""

import ast
import functools
import importlib
import math
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

import anchor
from anchor.cache import (
    CacheFileError,
    ResultCache,
    atomic_write,
    check_writable,
    clean_temporaries,
    code_fingerprint,
    config_key,
    data_fingerprint,
    run_context,
)
from anchor.sweep import run_sweep

CONFIGS = [{"objective": name, "seed": 0} for name in ("anchor", "infonce")]


def _counting_run(calls):
    def run(objective, seed):
        calls.append(objective)
        return pd.DataFrame({"step": [0, 1], "estimate": [1.5, 2.5], "objective": objective, "ok": [True, False]})

    return run


def test_results_are_parquet_files_holding_their_key(tmp_path):
    calls = []
    run = _counting_run(calls)
    first = run_sweep(CONFIGS, run, cache=tmp_path, progress=False)
    files = sorted(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".parquet", ".parquet"]
    meta = pq.read_schema(files[0]).metadata[b"anchor"]
    assert b'"config"' in meta and b'"context"' in meta and b"test_cache" in meta
    again = run_sweep(CONFIGS, run, cache=tmp_path, progress=False)
    assert calls == ["anchor", "infonce"]
    pd.testing.assert_frame_equal(first, again)  # dtypes survive: int, float, str, bool


def test_the_crafted_payload_runs_code_when_unpickled(crafted_payload):
    """The check the next tests rely on: plain pickle.load of the payload does create the marker."""
    payload, marker = crafted_payload
    pickle.loads(pickle.dumps(payload))
    assert marker.exists()


def test_a_crafted_pickle_in_the_cache_runs_nothing(tmp_path, crafted_payload):
    """A pickle whose loading would create a file, put where the cache looks: refused, then recomputed."""
    payload, marker = crafted_payload
    calls = []
    run = _counting_run(calls)
    context = run_context(run, threads=torch.get_num_threads())
    cache = ResultCache(tmp_path / "cache")
    for config in CONFIGS:
        path = cache.path(config, context)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(pickle.dumps({"config": config, "result": payload}))
        (cache.root / f"{config_key(config)}.pkl").write_bytes(pickle.dumps(payload))  # the former name
    with pytest.raises(CacheFileError, match=r"\.parquet: not a readable result file"):
        cache.get(CONFIGS[0], context)
    with pytest.warns(UserWarning, match=r"cache file .*\.parquet cannot be used .*; recomputing it"):
        run_sweep(CONFIGS, run, cache=cache, progress=False)
    assert calls == ["anchor", "infonce"] and not marker.exists()
    assert cache.get(CONFIGS[0], context) is not None  # replaced by a real result


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "foreign parquet"])
def test_a_damaged_cache_file_is_reported_and_recomputed(tmp_path, damage):
    calls = []
    run = _counting_run(calls)
    run_sweep(CONFIGS, run, cache=tmp_path, progress=False)
    path = sorted(tmp_path.glob("*.parquet"))[0]
    whole = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(whole)))
    else:  # a valid Parquet file that is not one of ours
        pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.warns(UserWarning, match=rf"{path.name} cannot be used"):
        result = run_sweep(CONFIGS, run, cache=tmp_path, progress=False)
    assert len(calls) == 3 and len(result) == 4
    assert path.read_bytes() != b"" and len(pd.read_parquet(path)) == 2


def test_nan_in_a_configuration_is_not_a_collision(tmp_path):
    calls = []
    configs = [{"objective": "anchor", "seed": 0, "lr": math.nan}]

    def run(objective, seed, lr):
        calls.append(objective)
        return pd.DataFrame({"estimate": [1.0]})

    run_sweep(configs, run, cache=tmp_path, progress=False)
    run_sweep(configs, run, cache=tmp_path, progress=False)
    assert calls == ["anchor"]


MODULE = textwrap.dedent(
    """
    import pandas as pd

    def run(objective, seed):
        {docstring}
        return pd.DataFrame({{"estimate": [{value}]}})  # {comment}
    """
)


def test_editing_the_code_of_a_run_recomputes_it(tmp_path, monkeypatch):
    module = tmp_path / "toy_run_module.py"

    def write(value, docstring='"""A run."""', comment="one"):
        module.write_text(MODULE.format(value=value, docstring=docstring, comment=comment))
        stat = module.stat()
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    write(1.0)
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = importlib.import_module("toy_run_module")
    first = run_sweep(CONFIGS, toy.run, cache=tmp_path / "cache", progress=False)
    same = code_fingerprint(toy.run)
    write(1.0, docstring='"""Another docstring."""', comment="another comment")
    toy = importlib.reload(toy)
    assert code_fingerprint(toy.run) == same  # words are not code
    write(2.0)
    toy = importlib.reload(toy)
    assert code_fingerprint(toy.run) != same
    second = run_sweep(CONFIGS, toy.run, cache=tmp_path / "cache", progress=False)
    assert first.estimate.tolist() == [1.0, 1.0] and second.estimate.tolist() == [2.0, 2.0]
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 4


def test_package_code_is_part_of_the_key_through_imports():
    """run_staircase's fingerprint covers the modules it imports (training, objectives, ...) and
    not the ones it does not (plotting, the notebook runner)."""
    from anchor import cache, staircase

    seen = set()
    todo = [cache.PACKAGE / "staircase.py"]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += cache._imported_package_modules(ast.parse(path.read_text()), path)
    names = {p.name for p in seen}
    assert {"staircase.py", "train.py", "objectives.py", "scoring.py", "critics.py", "bit_channels.py"} <= names
    assert not {"plotting.py", "reproduce.py", "__init__.py"} & names
    assert not {"cache.py", "sweep.py"} & names  # the machinery that stores results leaves them unchanged
    assert code_fingerprint(staircase.run_staircase).isalnum()


def test_the_code_hash_reads_the_same_tree_the_same_under_every_python_version():
    """Trees as Python 3.12 builds them (``type_params`` on functions; on 3.12.0-3.12.1 empty string
    parts in f-strings) and as 3.13 prints them give the same canonical text, so a cache filled under
    one version serves another; a change of code still changes it."""
    from anchor.cache import _canonical

    source = 'def f(x, name):\n    return f"{name!r}: {x:.3g}" + str(x)\n'
    plain = ast.parse(source)
    as_312 = ast.parse(source)
    function = as_312.body[0]
    function.type_params = []
    function._fields = (*function._fields, "type_params")
    joined = function.body[0].value.left
    joined.values = [*joined.values, ast.Constant(value="")]
    assert _canonical(plain) == _canonical(as_312)
    assert ast.dump(plain) != ast.dump(as_312)  # what the hash used to read
    assert _canonical(plain) != _canonical(ast.parse(source.replace(".3g", ".4g")))
    assert _canonical(plain) != _canonical(ast.parse(source.replace("+ str(x)", "- str(x)")))


def test_the_data_file_and_the_thread_count_are_part_of_the_key(tmp_path):
    calls = []
    data = tmp_path / "data.npy"

    def run(objective, seed, path):
        calls.append(float(np.load(path)[0]))
        return pd.DataFrame({"estimate": [calls[-1]]})

    def sweep():
        options = {"path": str(data)}
        return run_sweep(CONFIGS[:1], run, cache=tmp_path / "cache", options=options, data={"x": data}, progress=False)

    np.save(data, np.array([1.0]))
    assert sweep().estimate.tolist() == [1.0]
    np.save(data, np.array([2.0]))  # the file is fixed: same path, new content
    assert sweep().estimate.tolist() == [2.0]
    np.save(data, np.array([1.0]))  # back to the first content: served from the cache
    assert sweep().estimate.tolist() == [1.0] and calls == [1.0, 2.0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if threads != 1 else 2)
    try:
        sweep()
    finally:
        torch.set_num_threads(threads)
    assert calls == [1.0, 2.0, 1.0]
    assert data_fingerprint(tmp_path / "nothing") == "missing" and data_fingerprint(None) is None
    folder = data_fingerprint(tmp_path)
    (tmp_path / "new.txt").write_text("x")
    assert data_fingerprint(tmp_path) != folder


def _imdb_file(path, seed):
    rng = np.random.default_rng(seed)
    embeddings = rng.uniform(-1, 1, size=(40, 768)).astype(np.float32)
    np.savez(path, embeddings=embeddings, labels=np.repeat([0, 1], 20).astype(np.int8))


def test_a_corrected_imdb_file_is_not_served_from_the_cache(tmp_path):
    """A staircase run on a wrong embeddings file is recomputed once the file at that path is fixed."""
    path = tmp_path / "imdb.npz"
    configs = anchor.staircase_configs("imdb", ["anchor"], "separable", steps_per_level=2, bits=[2.0])
    sweep = lambda: anchor.staircase.sweep_staircase(configs, cache=str(tmp_path / "cache"), data_path=str(path))  # noqa: E731
    _imdb_file(path, seed=0)
    wrong = sweep()
    anchor.bit_channels._imdb_pools.cache_clear()
    _imdb_file(path, seed=1)
    fixed = sweep()
    assert not np.allclose(wrong.estimate, fixed.estimate)
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2


def test_leftover_temporaries_of_dead_processes_are_removed(tmp_path):
    calls = []
    atomic_write(tmp_path / "a.parquet", lambda f: f.write(b"x"))
    assert [p.name for p in tmp_path.iterdir()] == ["a.parquet"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = anchor.cache._host()
    stale = tmp_path / f".x.parquet.{host}-{int(dead.stdout)}.abc123.tmp"
    live = tmp_path / f".y.parquet.{host}-{os.getpid()}.abc123.tmp"
    other = tmp_path / ".z.parquet.elsewhere-1.abc123.tmp"  # another machine's: too recent to judge
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    run_sweep(CONFIGS, _counting_run(calls), cache=tmp_path, progress=False)
    assert not stale.exists() and live.exists() and other.exists()
    os.utime(other, (0, 0))
    assert clean_temporaries(tmp_path) == [other]


def test_an_unwritable_cache_is_reported_before_any_run(tmp_path, monkeypatch):
    calls = []
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(PermissionError, match=r"cache folder .*not-a-folder/cache is not writable.*nothing was run"):
        run_sweep(CONFIGS, _counting_run(calls), cache=blocker / "cache", progress=False)
    assert calls == []
    if os.geteuid() != 0:  # root writes anywhere
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="is not writable"):
            check_writable(readonly)
    # a read-only cache that already holds every result is fine: nothing needs writing
    run = _counting_run(calls)
    run_sweep(CONFIGS, run, cache=tmp_path / "full", progress=False)

    def unwritable(folder, **_):
        raise PermissionError(f"{folder} is read-only")

    monkeypatch.setattr(anchor.sweep, "check_writable", unwritable)
    assert len(run_sweep(CONFIGS, run, cache=tmp_path / "full", progress=False)) == 4
    assert len(calls) == 2


def _scaled_run(objective, seed, scale):
    return pd.DataFrame({"estimate": [scale * seed]})


def test_a_partial_run_is_named_by_its_function_and_bound_arguments(tmp_path):
    """functools.partial: the same function and arguments give the same key in every process."""
    twice, thrice = functools.partial(_scaled_run, scale=2.0), functools.partial(_scaled_run, scale=3.0)
    context = run_context(twice, threads=1)
    assert context["run"] == "test_cache._scaled_run" and context["bound"] == {"args": [], "keywords": {"scale": 2.0}}
    assert run_context(functools.partial(_scaled_run, scale=2.0), threads=1) == context
    assert run_context(thrice, threads=1) != context
    configs = [{"objective": "anchor", "seed": 1}]
    assert run_sweep(configs, twice, cache=tmp_path, progress=False).estimate.tolist() == [2.0]
    assert run_sweep(configs, thrice, cache=tmp_path, progress=False).estimate.tolist() == [3.0]


def test_a_result_parquet_cannot_hold_is_kept_and_reported(tmp_path):
    def run(objective, seed):
        return pd.DataFrame({"mixed": [1, "two"]}, dtype=object)

    message = r"the result of \{'objective': 'anchor', 'seed': 0\} cannot be stored.*not cached"
    with pytest.warns(UserWarning, match=message):
        result = run_sweep(CONFIGS[:1], run, cache=tmp_path, progress=False)
    assert result.mixed.tolist() == [1, "two"] and not list(tmp_path.glob("*.parquet"))


def test_the_cache_needs_the_context():
    cache = ResultCache("nowhere")
    with pytest.raises(TypeError):
        cache.get(CONFIGS[0])  # a lookup without the context would never find a sweep's result
