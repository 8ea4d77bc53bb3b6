"""The result cache: keyed by configuration, atomic, and a killed sweep resumes without recomputing."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from anchor.sweep import ResultCache, config_key, run_sweep

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


def test_failure_names_the_configuration_and_keeps_finished_results(tmp_path):
    calls = []

    def flaky(objective, seed, lr):
        if objective == "nwj":
            raise FloatingPointError("loss became nan")
        return _toy_run(calls)(objective, seed, lr)

    with pytest.raises(RuntimeError, match=r"sweep run failed for configuration \{'objective': 'nwj'.*loss became nan"):
        run_sweep(CONFIGS, flaky, cache=tmp_path, progress=False)
    assert len(calls) == 4
    run_sweep(CONFIGS, _toy_run(calls), cache=tmp_path, progress=False)
    assert calls[4:] == [("nwj", 0), ("nwj", 1)]


WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pandas as pd
    from anchor.sweep import run_sweep
    sys.path.insert(0, {tests!r})
    from test_sweep import CONFIGS
    marks = Path({marks!r})

    def slow(objective, seed, lr):
        marks.joinpath(f"{{objective}}-{{seed}}").touch()
        time.sleep(0.4)
        return pd.DataFrame({{"step": list(range(1000)), "estimate": [float(seed)] * 1000}})

    run_sweep(CONFIGS, slow, cache={cache!r}, progress=False)
    """
)


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    """SIGKILL a sweep in a separate process partway; every cached file is whole, the rest is redone."""
    cache, marks = tmp_path / "cache", tmp_path / "marks"
    marks.mkdir()
    code = WORKER.format(tests=os.path.dirname(__file__), marks=str(marks), cache=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while len(list(marks.iterdir())) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = ResultCache(cache)
    finished = [c for c in CONFIGS if c in store]
    assert 2 <= len(finished) < len(CONFIGS)
    for config in finished:  # whole, readable results only
        assert len(store.get(config)) == 1000
    calls = []
    run_sweep(CONFIGS, _toy_run(calls), cache=cache, progress=False)
    assert sorted(calls) == sorted((c["objective"], c["seed"]) for c in CONFIGS if c not in finished)


def test_options_are_passed_but_not_part_of_the_key(tmp_path):
    seen = []

    def run(objective, seed, lr, device):
        seen.append(device)
        return pd.DataFrame({"step": [0], "estimate": [1.0]})

    run_sweep(CONFIGS[:2], run, cache=tmp_path, options={"device": "cpu"}, progress=False)
    run_sweep(CONFIGS[:2], run, cache=tmp_path, options={"device": "cuda"}, progress=False)
    assert seen == ["cpu", "cpu"]
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
    assert len(list(tmp_path.glob("*.pkl"))) == 3


def test_a_failing_worker_names_its_configuration(tmp_path):
    from anchor.staircase import run_staircase

    configs = [
        {"domain": "gaussian", "objective": "anchor", "critic": "separable", "steps_per_level": 2},
        {"domain": "gaussian", "objective": "no-such-objective", "critic": "separable", "steps_per_level": 2},
    ]
    with pytest.raises(RuntimeError, match=r"sweep run failed for configuration .*no-such-objective.*KeyError"):
        run_sweep(configs, run_staircase, cache=tmp_path, workers=2, progress=False)


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
        assert len(list(tmp_path.glob("*.pkl"))) == 3
        # a scheduler address works too; everything is cached, so nothing is submitted
        again = run_sweep(STAIRCASE_CONFIGS, run_staircase, cache=tmp_path, client=cluster.scheduler_address)
        pd.testing.assert_frame_equal(local, again)
        # a failing configuration is retried, then reported by name; the others finish and are cached
        bad = {**STAIRCASE_CONFIGS[0], "objective": "anchor", "objective_params": {"nu": -1.0}}
        more = [bad, {**STAIRCASE_CONFIGS[1], "seed": 2}]
        with pytest.raises(RuntimeError, match=r"configuration \{.*'nu': -1.0.*nu"):
            run_sweep(more, run_staircase, cache=tmp_path, client=client, retries=1, progress=False)
        assert more[1] in ResultCache(tmp_path) and bad not in ResultCache(tmp_path)


def test_client_must_be_a_client_or_an_address():
    with pytest.raises(ValueError, match="client must be"):
        run_sweep(CONFIGS, _toy_run([]), client=42, progress=False)


def test_index_column_gives_each_row_its_configuration_position(tmp_path):
    frame = run_sweep(CONFIGS, _toy_run([]), cache=tmp_path, progress=False, index="run")
    assert frame.run.tolist() == [k for k in range(len(CONFIGS)) for _ in range(2)]
