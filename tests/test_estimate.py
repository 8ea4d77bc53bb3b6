"""estimate_mi end to end on data with a known answer."""

import numpy as np
import pandas as pd
import pytest
import torch

import anchor


@pytest.mark.slow
def test_estimate_mi_gaussian_5d_two_nats():
    """The documented example: a 5-d Gaussian with I = 2 nats and n = 10,000 pairs, default settings."""
    sampler = anchor.GaussianSampler(5, mi=2.0)
    x, y = sampler.sample(10_000, seed=123)
    est = anchor.estimate_mi(x.numpy(), y.numpy(), progress=False)
    print(est)
    assert est.ci_low <= 2.0 <= est.ci_high, str(est)
    assert est.mi == pytest.approx(2.0, abs=0.15)
    assert est.unit == "nats" and est.n_test == 10_000 and len(est.folds) == 5
    assert est.ci_low < est.mi < est.ci_high


def test_estimate_mi_small_run_fields_and_units():
    sampler = anchor.GaussianSampler(2, mi=0.5)
    x, y = sampler.sample(600, seed=1)
    kwargs = dict(folds=2, batch_size=32, max_steps=60, eval_every=20, progress=False, critic_params={"width": 32})
    nats = anchor.estimate_mi(x, y, **kwargs)
    bits = anchor.estimate_mi(x.numpy().astype(np.float64), y.numpy(), unit="bits", **kwargs)
    assert bits.mi == pytest.approx(anchor.nats_to_bits(nats.mi), rel=1e-4)
    assert bits.unit == "bits"
    assert nats.n_test == 600 and nats.n_train + nats.n_val == 300
    assert set(nats.history.columns) >= {"step", "estimate", "loss", "val_loss", "val_estimate", "fold"}
    assert list(nats.folds.columns) == ["fold", "mi", "stderr", "n_test", "best_step"]
    assert nats.objective == "anchor"
    assert "nats" in str(nats)


def test_estimate_mi_single_split_uses_iid_interval():
    sampler = anchor.GaussianSampler(2, mi=0.5)
    x, y = sampler.sample(500, seed=1)
    est = anchor.estimate_mi(x, y, folds=1, batch_size=32, max_steps=40, eval_every=20, progress=False)
    assert est.n_test == 100
    assert est.ci_high - est.mi == pytest.approx(1.959964 * est.stderr, rel=1e-5)


def test_estimate_mi_bound_objective_and_joint_critic():
    sampler = anchor.GaussianSampler(2, mi=0.5)
    x, y = sampler.sample(600, seed=2)
    est = anchor.estimate_mi(
        x, y, objective="infonce", critic="joint", folds=2, batch_size=32, max_steps=40, eval_every=20,
        progress=False, critic_params={"width": 32, "depth": 2},
    )  # fmt: skip
    assert est.objective == "infonce"
    assert est.mi < np.log(32)


def test_estimate_mi_independent_data_is_near_zero():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2000, 3, generator=g), torch.randn(2000, 3, generator=g)
    est = anchor.estimate_mi(x, y, folds=2, max_steps=600, progress=False)
    assert abs(est.mi) < 0.1


def test_a_failing_fold_is_named_and_the_finished_folds_are_kept(monkeypatch):
    from anchor import estimate

    x, y = anchor.GaussianSampler(2, mi=0.5).sample(600, seed=1)
    kwargs = dict(folds=3, batch_size=32, max_steps=40, eval_every=20, progress=False)
    real, calls = estimate._fit_fold, []

    def third_fails(splits, *args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise anchor.DivergedError("boom", pd.DataFrame({"step": [0]}), step=7, reason="the estimate reached 2e+03")
        return real(splits, *args, **kw)

    monkeypatch.setattr(estimate, "_fit_fold", third_fails)
    with pytest.raises(
        anchor.EstimateError,
        match=r"fold 3 of 3 .* diverged at step 7: the estimate reached 2e\+03; "
        r"the 2 fold\(s\) before it are in err.folds",
    ) as err:
        anchor.estimate_mi(x, y, **kwargs)
    assert err.value.fold == 2 and err.value.folds.fold.tolist() == [0, 1]
    assert np.isfinite(err.value.folds.mi).all() and set(err.value.history.fold) == {0, 1, 2}


def test_a_fold_whose_validation_loss_is_never_finite_is_named(monkeypatch):
    from anchor import estimate

    x, y = anchor.GaussianSampler(2, mi=0.5).sample(400, seed=1)
    monkeypatch.setattr(estimate, "held_out_loss", lambda *args, **kwargs: float("nan"))
    with pytest.raises(anchor.EstimateError, match=r"fold 1 of 2 .*every validation loss was NaN or infinite"):
        anchor.estimate_mi(x, y, folds=2, batch_size=32, max_steps=40, eval_every=20, progress=False)
