"""Sweeps: cached runs, local worker processes and Dask; killed or interrupted sweeps keep what finished."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch

from anchor.cache import ResultCache, config_key, run_context
from anchor.sweep import run_sweep

CONFIGS = [{"objective": name, "seed": seed, "lr": 5e-4} for name in ("anchor", "infonce", "nwj") for seed in (0, 1)]


def _toy_run(calls):
    def run(objective, seed, lr):
        calls.append((objective, seed))
        return pd.DataFrame({"step": [0, 1], "estimate": [len(objective) + seed, lr]})

    return run


def test_config_key_is_order_independent_and_specific():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 1.5})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        config_key({"a": object()})


def test_second_run_recomputes_nothing(tmp_path):
    calls = []
    first = run_sweep(CONFIGS, _toy_run(calls), cache=tmp_path, progress=False)
    assert len(calls) == 6
    second = run_sweep(CONFIGS, _toy_run(calls), cache=tmp_path, progress=False)
    assert len(calls) == 6
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == ["step", "estimate", "objective", "seed", "lr"]
    assert len(first) == 12


def test_the_progress_bar_says_how_many_runs_came_from_the_cache(tmp_path, capsys):
    calls = []
    run_sweep(CONFIGS[:2], _toy_run(calls), cache=tmp_path, progress=True)
    first = capsys.readouterr().err
    assert "sweep:" in first and "from the cache" not in first
    run_sweep(CONFIGS, _toy_run(calls), cache=tmp_path, progress=True)
    assert "sweep (2 from the cache):" in capsys.readouterr().err and len(calls) == 6


SUMMED = "times are summed over runs"


def _sleepy_run(objective, seed, lr):
    time.sleep(0.05)
    return pd.DataFrame({"step": [0], "estimate": [float(seed)]})


def test_the_cache_keeps_each_runs_time_and_the_sweep_reports_it(tmp_path, capsys):
    run_sweep(CONFIGS[:2], _sleepy_run, cache=tmp_path, progress=True)
    assert re.search(r"sweep: 2 runs: 2 trained now \(\d+ s\); " + SUMMED, capsys.readouterr().err)
    cache, context = ResultCache(tmp_path), run_context(_sleepy_run, threads=torch.get_num_threads())
    stored = [cache.get(config, context).attrs["seconds"] for config in CONFIGS[:2]]
    assert all(0.04 < seconds < 5 for seconds in stored)
    run_sweep(CONFIGS, _sleepy_run, cache=tmp_path, progress=True)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"sweep: 6 runs: 4 trained now \(\d+ s\), 2 read from the cache \(trained earlier in \d+ s\); " + SUMMED, line
    )
    one = run_sweep(CONFIGS[:1], _sleepy_run, cache=tmp_path, progress=False)
    assert one.attrs == {}  # the time read from the cache stays out of the returned table


def test_cached_runs_without_a_recorded_time_are_counted(tmp_path, capsys):
    cache, context = ResultCache(tmp_path), run_context(_sleepy_run, threads=torch.get_num_threads())
    cache.put(CONFIGS[0], _sleepy_run(**CONFIGS[0]), context)  # a file stored without a time
    assert "seconds" not in cache.get(CONFIGS[0], context).attrs
    run_sweep(CONFIGS[:1], _sleepy_run, cache=tmp_path, progress=True)
    assert "sweep: 1 run: 1 read from the cache (no training time recorded)" in capsys.readouterr().err
    run_sweep(CONFIGS[:2], _sleepy_run, cache=tmp_path, progress=True)
    run_sweep(CONFIGS[:2], _sleepy_run, cache=tmp_path, progress=True)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(r"2 read from the cache \(trained earlier in \d+ s; 1 of them with no time recorded\)", last)
    run_sweep(CONFIGS[:2], _sleepy_run, cache=tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_a_stopped_sweep_says_what_it_kept(tmp_path, capsys):
    def failing_nwj(objective, seed, lr):
        if objective == "nwj":
            raise FloatingPointError("loss became nan")
        return _sleepy_run(objective, seed, lr)

    with pytest.raises(RuntimeError, match="sweep run failed"):
        run_sweep(CONFIGS, failing_nwj, cache=tmp_path, progress=True)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"sweep stopped after 4 of 6 runs: 4 trained now \(\d+ s\); " + SUMMED, last)


def test_failure_names_the_configuration_and_keeps_finished_results(tmp_path):
    calls, failing = [], {"nwj"}

    def flaky(objective, seed, lr):
        if objective in failing:
            raise FloatingPointError("loss became nan")
        calls.append((objective, seed))
        return pd.DataFrame({"step": [0], "estimate": [float(seed)]})

    with pytest.raises(RuntimeError, match=r"sweep run failed for configuration \{'objective': 'nwj'.*loss became nan"):
        run_sweep(CONFIGS, flaky, cache=tmp_path, progress=False)
    assert len(calls) == 4
    failing.clear()  # the same run, now working: only the missing configurations run
    run_sweep(CONFIGS, flaky, cache=tmp_path, progress=False)
    assert calls[4:] == [("nwj", 0), ("nwj", 1)]


def slow_run(objective, seed, lr, marks, slow=(), seconds=30.0):
    """A run for worker processes: leaves a mark (with its process id), sleeps if it is slow."""
    Path(marks, f"{objective}-{seed}-{os.getpid()}").touch()
    time.sleep(seconds if objective in slow else 0.05)
    return pd.DataFrame({"step": list(range(1000)), "estimate": [float(seed)] * 1000})


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from anchor.sweep import run_sweep
    from test_sweep import CONFIGS, slow_run

    run_sweep(CONFIGS, slow_run, cache={cache!r}, options={options!r}, workers={workers}, progress=False)
    """
)


def _sweep_process(tmp_path, *, workers, slow, seconds=30.0, **popen):
    """A sweep of ``slow_run`` in its own Python process; returns the process, cache and marks folders."""
    cache, marks = tmp_path / "cache", tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    options = {"marks": str(marks), "slow": list(slow), "seconds": seconds}
    code = SCRIPT.format(tests=os.path.dirname(__file__), cache=str(cache), options=options, workers=workers)
    return subprocess.Popen([sys.executable, "-c", code], **popen), cache, marks


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def _gone(pids, timeout):
    """Whether every process in ``pids`` has exited (zombies count as exited) within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _kill(pids):
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass


def _results(cache):
    return [f for f in cache.glob("*") if not f.name.startswith(".")] if cache.exists() else []


def _marked(marks):
    return {(m.name.split("-")[0], int(m.name.split("-")[1])) for m in marks.iterdir()}


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    """SIGKILL a sweep partway; every cached file is whole, and a rerun computes only the rest."""
    proc, cache, marks = _sweep_process(tmp_path, workers=1, slow=["infonce"], seconds=0.5)
    _wait_for(lambda: len(list(marks.iterdir())) >= 4 or proc.poll() is not None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    files = sorted(cache.glob("*.parquet"))
    assert 2 <= len(files) < len(CONFIGS)
    for file in files:  # whole, readable results only
        assert len(pd.read_parquet(file)) == 1000
    for mark in marks.iterdir():
        mark.unlink()
    proc, _, _ = _sweep_process(tmp_path, workers=1, slow=[], seconds=0.0)
    assert proc.wait() == 0
    assert len(_marked(marks)) == len(CONFIGS) - len(files)
    assert len(list(cache.glob("*.parquet"))) == len(CONFIGS)


def test_workers_exit_when_the_sweep_is_killed(tmp_path):
    """SIGKILL of the parent: its worker processes and the resource tracker end within seconds."""
    proc, _, marks = _sweep_process(tmp_path, workers=2, slow=["anchor", "infonce", "nwj"])
    _wait_for(lambda: len(list(marks.iterdir())) >= 2)
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    workers = {int(m.name.rsplit("-", 1)[1]) for m in marks.iterdir()}
    assert workers <= set(children) and len(children) >= 3  # two workers and the resource tracker
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        assert _gone(children, timeout=10.0), "worker processes outlived the killed sweep"
    finally:
        _kill(children)


def test_ctrl_c_keeps_finished_runs_and_stops_promptly(tmp_path):
    """SIGINT to the process group (Ctrl-C): finished runs are cached, running and queued ones stop."""
    proc, cache, marks = _sweep_process(tmp_path, workers=2, slow=["infonce", "nwj"], start_new_session=True)
    _wait_for(lambda: len(_results(cache)) == 2 and ("infonce", 1) in _marked(marks))
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _kill(children)
        raise AssertionError("the interrupted sweep did not exit") from None
    try:
        assert time.monotonic() - start < 10, "the interrupted sweep waited for its running runs"
        assert proc.returncode != 0
        assert len(_results(cache)) == 2  # the two fast runs that finished before Ctrl-C
        assert not any(name == "nwj" for name, _ in _marked(marks)), "a queued run started after Ctrl-C"
        assert _gone(children, timeout=10.0)
    finally:
        _kill(children)


def test_options_are_passed_but_not_part_of_the_key(tmp_path):
    seen = []

    def run(objective, seed, lr, device, progress):
        seen.append(device)
        return pd.DataFrame({"step": [0], "estimate": [1.0]})

    run_sweep(CONFIGS[:2], run, cache=tmp_path, options={"device": "cpu", "progress": True}, progress=False)
    run_sweep(CONFIGS[:2], run, cache=tmp_path, options={"device": "cpu", "progress": False}, progress=False)
    assert seen == ["cpu", "cpu"]
    # a GPU's results (the thread count does not matter there) serve a CPU request that has none
    run_sweep(CONFIGS[2:4], run, cache=tmp_path, options={"device": "cuda", "progress": False}, progress=False)
    run_sweep(CONFIGS[2:4], run, cache=tmp_path, options={"device": "cpu", "progress": False}, progress=False)
    assert seen == ["cpu", "cpu", "cuda", "cuda"]
    with pytest.raises(ValueError, match=r"options \['seed'\] are also configuration keys"):
        run_sweep(CONFIGS, run, options={"seed": 3}, progress=False)
    with pytest.raises(ValueError, match="workers"):
        run_sweep(CONFIGS, run, workers=0, progress=False)


STAIRCASE_CONFIGS = [
    {"domain": "gaussian", "objective": name, "critic": "separable", "steps_per_level": 4, "seed": 1}
    for name in ("anchor", "infonce", "smile-5")
]


def _serial_one_thread(configs):
    """The reference: the sweep run here, one after another, with one torch thread as each worker has."""
    import torch

    from anchor.staircase import run_staircase

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_sweep(configs, run_staircase, progress=False)
    finally:
        torch.set_num_threads(threads)


def test_worker_processes_give_the_serial_results(tmp_path):
    """Two worker processes (one torch thread each) reproduce a serial one-thread sweep exactly."""
    from anchor.staircase import run_staircase

    serial = _serial_one_thread(STAIRCASE_CONFIGS)
    parallel = run_sweep(STAIRCASE_CONFIGS, run_staircase, cache=tmp_path, workers=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)
    assert len(list(tmp_path.glob("*.parquet"))) == 3


def test_a_failing_worker_names_its_configuration(tmp_path):
    from anchor.staircase import run_staircase

    configs = [
        {"domain": "gaussian", "objective": "anchor", "critic": "separable", "steps_per_level": 2},
        {"domain": "gaussian", "objective": "no-such-objective", "critic": "separable", "steps_per_level": 2},
    ]
    with pytest.raises(RuntimeError, match=r"sweep run failed for configuration .*no-such-objective.*KeyError"):
        run_sweep(configs, run_staircase, cache=tmp_path, workers=2, progress=False)


def _threads_run(objective, seed, lr):
    import torch

    return pd.DataFrame({"threads": [torch.get_num_threads()]})


def test_a_lone_missing_run_of_a_parallel_sweep_uses_a_workers_threads(tmp_path):
    """With one run left, it runs here, but with the threads it is keyed by (a worker's)."""
    import pyarrow.parquet as pq
    import torch

    torch.set_num_threads(2)  # not the worker's count (one), whatever the suite's
    result = run_sweep(CONFIGS[:1], _threads_run, cache=tmp_path, workers=2, threads_per_worker=1, progress=False)
    assert result.threads.tolist() == [1] and torch.get_num_threads() == 2
    (file,) = tmp_path.glob("*.parquet")
    assert b'"threads":1' in pq.read_schema(file).metadata[b"anchor"]


SUBNORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


def _subnormal_run(objective, seed, lr):
    import torch

    return pd.DataFrame({"flushed": [(torch.tensor([SUBNORMAL]) * 2).item() == 0.0]})


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU cannot flush subnormals")
@pytest.mark.parametrize("workers", [1, 2])
def test_runs_flush_subnormals_to_zero_and_the_caller_keeps_its_setting(tmp_path, workers):
    """A run in a sweep, here or in a worker process, computes with subnormals flushed to zero (a
    collapsing chi^2 critic trains several times faster: benchmarks/subnormals.py); afterwards
    this process computes with them again."""
    result = run_sweep(CONFIGS[:2], _subnormal_run, cache=tmp_path, workers=workers, progress=False)
    assert result.flushed.tolist() == [True, True]
    assert (torch.tensor([SUBNORMAL]) * 2).item() == pytest.approx(2e-39)


def test_flushing_subnormals_leaves_a_run_without_them_bit_for_bit(tmp_path):
    """The staircase runs of the smoke sweep meet no subnormal number: the same bits as a direct call."""
    from anchor.staircase import run_staircase

    config = {"domain": "gaussian", "objective": "chi2", "critic": "joint", "steps_per_level": 20, "bits": [2.0, 10.0]}
    direct = run_staircase(**config)  # with this process's threads, as a one-worker sweep runs it
    swept = run_sweep([config], run_staircase, progress=False)
    pd.testing.assert_frame_equal(direct, swept[direct.columns])


def test_a_failing_worker_cancels_the_queue_and_keeps_the_running_results(tmp_path):
    """With more runs than workers, one failure: the queued runs are cancelled (not reported as
    failures), the one already running finishes and is cached."""
    from anchor.staircase import run_staircase

    good = {"domain": "gaussian", "objective": "anchor", "critic": "separable", "steps_per_level": 2}
    configs = [{**good, "objective": "no-such-objective"}, *({**good, "seed": s} for s in range(6))]
    with pytest.raises(RuntimeError) as err:
        run_sweep(configs, run_staircase, cache=tmp_path, workers=2, progress=False)
    assert str(err.value).startswith("sweep run failed for configuration") and "Cancelled" not in str(err.value)
    assert 1 <= len(list(tmp_path.glob("*.parquet"))) < 6


def test_dask_local_cluster_gives_the_local_results(tmp_path):
    """A real LocalCluster with two worker processes: same results as a local run, same cache."""
    distributed = pytest.importorskip("distributed")
    from anchor.staircase import run_staircase

    local = _serial_one_thread(STAIRCASE_CONFIGS)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = run_sweep(STAIRCASE_CONFIGS, run_staircase, cache=tmp_path, client=client, progress=False)
        pd.testing.assert_frame_equal(local, remote)
        assert len(list(tmp_path.glob("*.parquet"))) == 3
        # a scheduler address works too; everything is cached, so nothing is submitted
        again = run_sweep(STAIRCASE_CONFIGS, run_staircase, cache=tmp_path, client=cluster.scheduler_address)
        pd.testing.assert_frame_equal(local, again)
        # a failing configuration is retried, then reported by name; the others finish and are cached
        bad = {**STAIRCASE_CONFIGS[0], "objective": "anchor", "objective_params": {"nu": -1.0}}
        more = [bad, {**STAIRCASE_CONFIGS[1], "seed": 2}]
        with pytest.raises(RuntimeError, match=r"configuration \{.*'nu': -1.0.*nu"):
            run_sweep(more, run_staircase, cache=tmp_path, client=client, retries=1, progress=False)
        store, context = ResultCache(tmp_path), run_context(run_staircase, threads=1)
        assert store.contains(more[1], context) and not store.contains(bad, context)


def test_client_must_be_a_client_or_an_address():
    with pytest.raises(ValueError, match="client must be"):
        run_sweep(CONFIGS, _toy_run([]), client=42, progress=False)


def test_index_column_gives_each_row_its_configuration_position(tmp_path):
    frame = run_sweep(CONFIGS, _toy_run([]), cache=tmp_path, progress=False, index="run")
    assert frame.run.tolist() == [k for k in range(len(CONFIGS)) for _ in range(2)]
