"""estimate_mi end to end on data with a known answer."""

import numpy as np
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
    columns = "fold mi stderr plug_in plug_in_train log_norm log_norm_capped dv nwj n_test best_step steps converged"
    assert list(nats.folds.columns) == [*columns.split(), "no_dependence", "kept", "copula_components"]
    assert nats.objective == "anchor"
    assert "nats" in str(nats)


def test_estimate_mi_single_split_uses_iid_interval():
    sampler = anchor.GaussianSampler(2, mi=0.5)
    x, y = sampler.sample(500, seed=1)
    est = anchor.estimate_mi(x, y, folds=1, batch_size=32, max_steps=40, eval_every=20, progress=False)
    assert est.n_test == 100
    # from the held-out plug-in to the training plug-in, each end widened by the normal half-width
    assert est.ci_high - est.ci_low == pytest.approx(abs(est.fit_gap) + 2 * 1.959964 * est.stderr, rel=1e-5)


def test_estimate_mi_bound_objective_and_joint_critic():
    sampler = anchor.GaussianSampler(2, mi=0.5)
    x, y = sampler.sample(600, seed=2)
    est = anchor.estimate_mi(
        x,
        y,
        objective="infonce",
        critic="joint",
        folds=2,
        batch_size=32,
        max_steps=40,
        eval_every=20,
        progress=False,
        critic_params={"width": 32, "depth": 2},
    )
    assert est.objective == "infonce"
    assert est.mi < np.log(32)


@pytest.mark.parametrize("seed", [0, 1])
def test_estimate_mi_independent_data_is_near_zero_and_the_interval_holds_it(seed):
    """A critic fitted to noise reads below 0 on new pairs (-0.024 [-0.044, -0.005] for seed 0
    before folds had to beat c = 0); folds that find nothing report exactly 0 and say so."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(2000, 3, generator=g), torch.randn(2000, 3, generator=g)
    est = anchor.estimate_mi(x, y, progress=False, warn=False)
    assert abs(est.mi) < 0.02
    assert est.ci_low <= 0.0 <= est.ci_high, str(est)
    assert est.folds.no_dependence.any(), est.folds
    zero = est.folds[est.folds.no_dependence]
    assert (zero[["mi", "plug_in", "log_norm", "dv", "nwj"]] == 0).all().all() and (zero.best_step == -1).all()
    assert "no dependence found" in str(est)


def test_dependent_data_beats_the_constant_critic_in_every_fold():
    x, y = anchor.GaussianSampler(2, mi=0.3).sample(2000, seed=0)
    est = anchor.estimate_mi(x, y, progress=False, warn=False)
    assert not est.folds.no_dependence.any() and "no dependence" not in str(est)
    assert est.mi == pytest.approx(0.3, rel=0.25), str(est)


def test_folds_and_diagnostics_follow_the_unit():
    """Every MI-valued field and folds column is in the estimate's unit (the folds were nats)."""
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(600, seed=1)
    kwargs = dict(folds=2, batch_size=32, max_steps=60, eval_every=20, progress=False, warn=False)
    nats = anchor.estimate_mi(x, y, **kwargs)
    bits = anchor.estimate_mi(x, y, unit="bits", **kwargs)
    assert bits.plug_in == pytest.approx(bits.folds.mi.mean(), rel=1e-9)
    for column in ("mi", "stderr", "plug_in", "plug_in_train", "log_norm", "log_norm_capped", "dv", "nwj"):
        assert bits.folds[column].tolist() == pytest.approx((nats.folds[column] / np.log(2)).tolist(), rel=1e-6)
    for name in "mi mi_raw plug_in log_norm log_norm_capped fit_gap dv nwj ci_low ci_high stderr".split():
        assert getattr(bits, name) == pytest.approx(getattr(nats, name) / np.log(2), rel=1e-6)


def test_diagnostics_of_the_true_log_ratio_are_self_consistent():
    """With the exact log density ratio as critic: E_q[e^c] = 1, so log_norm is about 0 and the
    plug-in, DV and NWJ values agree with the truth within sampling error."""
    from anchor.folds import test_fold

    sampler = anchor.GaussianSampler(2, mi=1.0)
    x, y = sampler.sample(20_000, seed=3)
    oracle = anchor.OracleCritic(sampler)
    out = test_fold(oracle, anchor.get_objective("anchor"), x, y, 64, torch.Generator().manual_seed(0))
    assert abs(out["log_norm"]) < 0.05, out
    for key in ("mi", "plug_in", "dv", "nwj"):
        assert out[key] == pytest.approx(1.0, abs=0.06), (key, out)
    # a critic that reads 0.5 nats too high everywhere: the plug-in is high, the bounds are not
    same_pairs = torch.Generator().manual_seed(0)
    shifted = test_fold(_Shifted(oracle, 0.5), anchor.get_objective("anchor"), x, y, 64, same_pairs)
    assert shifted["log_norm"] == pytest.approx(out["log_norm"] + 0.5, abs=1e-6)
    assert shifted["dv"] == pytest.approx(out["dv"], abs=1e-6)
    assert shifted["plug_in"] == pytest.approx(out["plug_in"] + 0.5, abs=1e-6)


class _Shifted(anchor.Critic):
    def __init__(self, critic, offset):
        super().__init__()
        self.critic, self.offset = critic, offset

    def forward(self, x, y):
        return self.critic(x, y) + self.offset

    def pairs(self, x, y):
        return self.critic.pairs(x, y) + self.offset


def test_str_shows_settings_that_are_not_the_papers_and_the_first_warning():
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(600, seed=1)
    kwargs = dict(folds=2, batch_size=32, max_steps=40, eval_every=20, progress=False)
    with pytest.warns(anchor.EstimateWarning, match="stopped at max_steps=40"):
        est = anchor.estimate_mi(x, y, **kwargs)
    assert "anchor, nu=16, separable critic" in str(est)
    assert not est.trusted and "\nwarning: " in str(est)
    assert any("raise max_steps" in w for w in est.warnings)
    paper = anchor.estimate_mi(x, y, objective_params={"nu": 1.0}, warn=False, **kwargs)
    assert "anchor, separable critic" in str(paper) and paper.settings == {}


def test_a_failing_fold_is_named_and_the_finished_folds_are_kept(monkeypatch):
    from anchor import folds

    x, y = anchor.GaussianSampler(2, mi=0.5).sample(600, seed=1)
    real, calls = folds.test_fold, []

    def third_fails(*args, **kw):
        calls.append(1)
        out = real(*args, **kw)
        return {**out, "mi": float("nan")} if len(calls) == 3 else out

    monkeypatch.setattr(folds, "test_fold", third_fails)
    with pytest.raises(
        anchor.EstimateError,
        match=r"fold 3 of 3 \(anchor, separable critic\) read nan nats on its test rows; "
        r"the 2 fold\(s\) that finished are in err.folds. Try a lower lr",
    ) as err:
        anchor.estimate_mi(x, y, folds=3, batch_size=32, max_steps=40, eval_every=20, progress=False, warn=False)
    assert err.value.fold == 2 and err.value.folds.fold.tolist() == [0, 1]
    assert np.isfinite(err.value.folds.mi).all() and set(err.value.history.fold) == {0, 1, 2}
    assert "true MI" not in str(err.value)


def test_a_fold_whose_validation_loss_is_never_finite_is_named(monkeypatch):
    """An objective registered by the user whose held-out criterion is NaN: every fold fails, named."""

    def nan_selection(**params):
        obj = anchor.get_objective("anchor", **params)
        obj.select = lambda logits: torch.full(logits.shape[:-2], float("nan"))
        return obj

    monkeypatch.setitem(anchor.OBJECTIVES, "nan-selection", nan_selection)
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(400, seed=1)
    with pytest.raises(
        anchor.EstimateError, match=r"fold 1 of 2 .*every validation loss was NaN or infinite \(3 evaluations\)"
    ):
        anchor.estimate_mi(
            x, y, objective="nan-selection", folds=2, batch_size=32, max_steps=40, eval_every=20, progress=False
        )


@pytest.mark.parametrize("name", sorted(anchor.OBJECTIVES))
def test_every_objective_selects_checkpoints_by_its_own_held_out_criterion(name):
    """Early stopping ranks checkpoints by ``select``: the training loss, except for MINE, whose
    loss keeps a moving average; its criterion is minus DV and leaves that average alone."""
    obj = anchor.get_objective(name)
    logits = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    value = obj.select(logits)
    assert value.shape == () and torch.isfinite(value)
    if name == "mine":
        assert value.item() == pytest.approx(-anchor.objectives.dv(logits).item())
        obj.select(logits + 5.0)
        assert obj.loss.log_ema is None  # selection did not touch the training state
    else:
        assert value.item() == pytest.approx(obj.loss(logits).item())
    if name in ("js", "smile-5"):
        assert value.item() == pytest.approx(-anchor.objectives.js_fgan(logits).item())


def test_stacked_logits_give_one_anchor_loss_per_matrix():
    logits = torch.randn(3, 4, 9, 9, generator=torch.Generator().manual_seed(1))
    for kwargs in ({}, {"nu": 8.0}, {"K": 4, "rule": "brier"}, {"windows": "one", "rule": "spherical"}):
        stacked = anchor.scoring.anchor_loss(logits, **kwargs)
        single = torch.stack([torch.stack([anchor.scoring.anchor_loss(m, **kwargs) for m in row]) for row in logits])
        torch.testing.assert_close(stacked, single)


def test_fold_batches_hold_distinct_rows_and_cover_every_row():
    from anchor.folds import FoldBatches

    batches = FoldBatches([50, 51, 50], 10, torch.Generator().manual_seed(0), torch.device("cpu"))
    seen = [set(), set(), set()]
    for _ in range(batches.per_epoch * 20):
        idx = batches()
        assert idx.shape == (3, 10)
        for f in range(3):
            assert len(set(idx[f].tolist())) == 10
            assert max(idx[f].tolist()) < (51 if f == 1 else 50)
            seen[f] |= set(idx[f].tolist())
    assert [len(s) for s in seen] == [50, 51, 50]


def test_marginal_maps_are_increasing_and_leave_mi_unchanged():
    from anchor.marginals import fit_marginals

    heavy = torch.distributions.StudentT(1.0).sample((3000, 2))  # Cauchy columns
    heavy[:, 1] = heavy[:, 1].round()  # ties
    train = torch.arange(2000)
    for how in ("normal-scores", "standardize"):
        fitted = fit_marginals(heavy, train, how, "x")
        z = fitted(heavy)
        assert z.dtype == torch.float32 and torch.isfinite(z).all()
        for j in range(2):
            order = heavy[:, j].argsort()
            assert (z[order, j].diff() >= 0).all()  # increasing (equal only on ties)
    z = fit_marginals(heavy, train, "normal-scores", "x")(heavy)
    assert z[train].abs().max() < 4.0 and z.abs().max() < 15.0  # Cauchy values in the thousands stay moderate
    assert z[train, 0].mean().abs() < 0.01 and z[train, 0].std() == pytest.approx(1.0, abs=0.02)
    far = fit_marginals(heavy, train, "normal-scores", "x")(torch.tensor([[1e30, 0.0], [-1e30, 0.0]]))
    assert far[0, 0] > z[:, 0].max() and far[1, 0] < z[:, 0].min() and torch.isfinite(far).all()
    # MI is invariant to increasing maps of each column, and so (up to how test rows fall between
    # training values) is the estimate on normal scores: the same rows with one column cubed and y
    # exponentiated read the same MI, and both intervals hold the truth
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(2000, seed=2, dtype=torch.float64)
    plain = anchor.estimate_mi(x, y, folds=3, progress=False, warn=False)
    mapped = anchor.estimate_mi(
        torch.stack([x[:, 0] ** 3, x[:, 1]], 1), torch.exp(y), folds=3, progress=False, warn=False
    )
    assert mapped.mi == pytest.approx(plain.mi, abs=0.03)
    assert plain.ci_low <= 0.5 <= plain.ci_high and mapped.ci_low <= 0.5 <= mapped.ci_high


@pytest.mark.parametrize("scale", [1e8, 1e-8])
def test_unstandardised_columns_on_bad_scales_are_refused(scale):
    x, y = anchor.GaussianSampler(2, mi=0.5).sample(300, seed=0)
    x = x.double() * torch.tensor([scale, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"marginals='none' needs columns on a scale .* column 0 of x .*normal-scores"):
        anchor.estimate_mi(x, y, marginals="none", progress=False)


def test_a_small_sample_that_once_read_a_quarter_of_the_truth_now_covers_it():
    """n = 500, a 5-d Gaussian with I = 1 nat (the case that once read 0.245 with a confident
    interval): the interval holds the truth."""
    x, y = anchor.GaussianSampler(5, mi=1.0).sample(500, seed=0)
    est = anchor.estimate_mi(x, y, progress=False, warn=False)
    print(est)
    assert est.ci_low <= 1.0 <= est.ci_high, str(est)


def test_library_calls_leave_the_callers_random_state_alone():
    """estimate_mi seeds its critics' initial weights on a fork of torch's global generator: the
    caller's next random numbers are unchanged, and the estimate does not depend on them."""
    import inspect

    from anchor.ssl import run_ssl
    from anchor.staircase import run_staircase

    x, y = anchor.GaussianSampler(2, mi=0.5).sample(300, seed=0)
    kwargs = dict(folds=2, batch_size=32, max_steps=20, eval_every=10, progress=False, warn=False)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = anchor.estimate_mi(x, y, **kwargs)
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(7)
    assert anchor.estimate_mi(x, y, **kwargs).mi == first.mi
    for func in (anchor.estimate_mi, run_staircase, run_ssl):  # the wrappers keep the signatures
        assert "seed" in inspect.signature(func).parameters and func.__module__.startswith("anchor.")
