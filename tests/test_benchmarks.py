"""The benchmark scripts run end to end on tiny inputs (their timings are not checked here)."""

import importlib.util
import itertools
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_joint_critic_benchmark_runs_and_reports_the_ratio(capsys):
    bench = load("joint_critic")
    assert bench.main(["--dims", "3", "--batch", "8", "--repeats", "1", "--seconds", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "matmul peak" in out and "tiled / fast" in out and "speed-up" in out


def test_flop_counts_follow_the_layer_shapes():
    bench = load("joint_critic")
    B, d, H = 64, 4096, 256
    first_tiled = 2 * 2 * B * B * 2 * d * H  # forward and weight gradient on B^2 rows of 2d inputs
    first_fast = 2 * 2 * 2 * B * d * H  # the same on B rows, once for x and once for y
    assert bench.step_flops("tiled", B, d) - bench.step_flops("fast", B, d) == first_tiled - first_fast


def test_ssl_epoch_benchmark_runs_and_projects_the_profile(capsys):
    bench = load("ssl_epoch")
    assert bench.main(["--epochs", "1", "--train-size", "256", "--batch-size", "64", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "s per epoch" in out and "projected sweep: 2 runs x 10 epochs" in out


def test_synthetic_cifar_has_the_pickle_layout(tmp_path):
    import anchor

    bench = load("ssl_epoch")
    root = bench.write_synthetic_cifar100(tmp_path, n_train=20, n_test=10)
    data = anchor.images.load_images("cifar100", root=root)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (10, 3, 32, 32) and data.n_classes == 100


def test_estimate_speed_benchmark_runs_and_reports_against_the_target(capsys):
    bench = load("estimate_speed")
    assert bench.main(["--n", "300", "--dim", "2", "--inline"]) == 0
    out = capsys.readouterr().out
    assert "x the 20 s target" in out and "peak +" in out and "ratio" in out


def test_mi_matrix_benchmark_runs_and_reports_the_target(capsys):
    bench = load("mi_matrix")
    assert bench.main(["--columns", "3", "--n", "200", "--loop-pairs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "x the 120 s target" in out and "estimate_mi loop" in out and "linear correlation" in out


def test_mi_matrix_benchmark_spreads_the_loop_over_the_levels_of_true_mi(capsys):
    bench = load("mi_matrix")
    table, truth = bench.make_table("student-t", 0, 50, 0)
    pairs = list(itertools.combinations(table.columns, 2))
    chosen = bench.spread_pairs(pairs, truth, 12)  # 7 levels (0 and six pairs): up to 2 from each
    assert len(chosen) == 8 and sum(truth.loc[a, b] > 0 for a, b in chosen) == 6
    assert bench.spread_pairs(pairs, truth, 3) == [("t5a", "t5b"), ("t3a", "t3b"), ("t0a", "t0b")]
    with pytest.raises(SystemExit):
        bench.main(["--loop-pairs", "0"])
    assert "--loop-pairs must be at least 1" in capsys.readouterr().err
