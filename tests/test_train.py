import math

import pandas as pd
import pytest
import torch

import anchor


def test_fit_history_is_tidy_with_true_mi():
    staircase = anchor.gaussian_staircase(3, bits=(1.0, 2.0), steps_per_level=5)
    critic = anchor.SeparableCritic(3, 3, width=16, embed_dim=4)
    fit = anchor.fit(critic, anchor.get_objective("anchor"), staircase, batch_size=16, progress=False)
    h = fit.history
    assert isinstance(h, pd.DataFrame)
    assert list(h.columns) == ["step", "mi_true", "estimate", "loss", "objective"]
    assert list(h.step) == list(range(10))
    assert h.mi_true.iloc[0] == pytest.approx(math.log(2))
    assert h.mi_true.iloc[-1] == pytest.approx(2 * math.log(2))
    assert (h.objective == "anchor").all()
    assert h[["estimate", "loss"]].notna().all().all()


def test_fit_is_reproducible():
    sampler = anchor.GaussianSampler(2, mi=1.0)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        critic = anchor.JointCritic(2, 2, width=16, depth=2)
        runs.append(
            anchor.fit(critic, anchor.get_objective("nwj"), sampler, steps=20, batch_size=8, seed=5, progress=False)
        )
    pd.testing.assert_frame_equal(runs[0].history, runs[1].history)


def test_fit_learns_a_simple_gaussian():
    """A small trained critic's plug-in on fresh data lands near the truth (1 nat, d = 2)."""
    sampler = anchor.GaussianSampler(2, mi=1.0)
    critic = anchor.JointCritic(2, 2, width=64, depth=2)
    fit = anchor.fit(
        critic,
        anchor.get_objective("anchor"),
        sampler,
        steps=1500,
        batch_size=64,
        lr=1e-3,
        progress=False,
        ema_decay=0.99,
    )
    x, y = sampler.sample(20_000, seed=11)
    held = anchor.evaluate(fit.critic, fit.objective, x, y)
    assert held.mi == pytest.approx(1.0, abs=0.1)
    assert held.ci_low < held.mi < held.ci_high


def test_evaluate_standard_error_is_iid_formula():
    sampler = anchor.GaussianSampler(2, mi=1.0)
    x, y = sampler.sample(1000, seed=2)
    held = anchor.evaluate(anchor.OracleCritic(sampler), anchor.get_objective("anchor"), x, y)
    values = sampler.log_ratio(x, y).double()
    assert held.n == 1000
    assert held.mi == pytest.approx(values.mean().item(), rel=1e-6)
    assert held.stderr == pytest.approx(values.std().item() / math.sqrt(1000), rel=1e-6)
    assert held.ci_high - held.mi == pytest.approx(1.959964 * held.stderr, rel=1e-5)


def test_evaluate_bound_objective_averages_batches():
    sampler = anchor.GaussianSampler(2, mi=1.0)
    x, y = sampler.sample(640, seed=2)
    held = anchor.evaluate(anchor.OracleCritic(sampler), anchor.get_objective("infonce"), x, y, batch_size=64)
    assert held.n == 10
    assert held.mi < math.log(64)


def test_oracle_has_no_parameters_and_fit_still_records():
    sampler = anchor.GaussianSampler(2, mi=1.0)
    fit = anchor.fit(anchor.OracleCritic(sampler), anchor.get_objective("anchor"), sampler, steps=3, progress=False)
    assert len(fit.history) == 3


def test_fit_needs_steps_for_a_plain_sampler():
    with pytest.raises(ValueError, match="steps is required"):
        anchor.fit(anchor.BilinearCritic(2, 2), anchor.get_objective("anchor"), anchor.GaussianSampler(2, mi=1.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_and_estimate_on_cuda():
    sampler = anchor.GaussianSampler(2, mi=1.0)
    critic = anchor.JointCritic(2, 2, width=16, depth=2)
    fit = anchor.fit(critic, anchor.get_objective("anchor"), sampler, steps=5, device="cuda", progress=False)
    assert next(fit.critic.parameters()).is_cuda
    x, y = sampler.sample(300, seed=0)
    est = anchor.estimate_mi(x, y, folds=2, max_steps=20, eval_every=10, device="cuda", progress=False)
    assert est.n_test == 300


def test_the_divergence_monitor_counts_steps_out_of_range_in_a_row():
    from anchor.train import DivergenceMonitor

    monitor = DivergenceMonitor(limit=10.0, steps=3)
    assert [monitor.check(1.0, v) for v in (11.0, -12.0, 0.0, 11.0, 11.0)] == [None] * 5
    assert "3 steps in a row" in monitor.check(1.0, 11.0)
    assert "loss became nan" in DivergenceMonitor().check(float("nan"), 0.0)
    assert "estimate became inf" in DivergenceMonitor().check(0.0, float("inf"))


def test_early_stopping_keeps_the_best_candidate_and_stops_after_patience():
    from anchor.train import EarlyStopping

    stop, copies = EarlyStopping(patience=2), []

    def weights(tag):
        return lambda: copies.append(tag) or tag

    stop.offer(1.0, -1, "zero", weights("zero"))
    stop.offer(0.5, 10, "trained", weights("a"))
    stop.offer(0.7, 20, "trained", weights("b"))
    assert not stop.done and (stop.step, stop.kind, stop.weights) == (10, "trained", "a")
    stop.offer(0.6, 30, "trained", weights("c"))
    assert stop.done and stop.converged
    stop.offer(0.1, 40, "trained", weights("d"))  # after stopping nothing is taken
    assert stop.weights == "a" and copies == ["zero", "a"]  # weights copied only when they are the best


def test_the_weight_average_warms_up_then_decays_at_its_rate():
    from anchor.train import WeightAverage

    w = {"a": torch.zeros(2)}
    average = WeightAverage(w, decay=0.9, warmup=10)
    w["a"] += 1.0
    average.update(w, step=0)  # decay min(0.9, 1 / 10) = 0.1: mostly the new weights
    torch.testing.assert_close(average.weights["a"], torch.full((2,), 0.9))
    plain = WeightAverage({"a": torch.zeros(2)}, decay=0.9)
    plain.update({"a": torch.ones(2)}, step=0)
    torch.testing.assert_close(plain.weights["a"], torch.full((2,), 0.1))
