"""Every bad input raises one clear error naming the argument and what is allowed."""

import math

import numpy as np
import pytest
import torch

import anchor


def _xy(n=200, d=2):
    return anchor.GaussianSampler(d, mi=0.5).sample(n, seed=0)


def test_nan_values():
    x, y = _xy()
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite values \(first in row 3\)"):
        anchor.estimate_mi(x, y, progress=False)


def test_infinite_values():
    x, y = _xy()
    y = y.numpy()
    y[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"y contains 1 NaN or infinite values \(first in row 7\)"):
        anchor.estimate_mi(x.numpy(), y, progress=False)


def test_mismatched_sample_counts():
    x, y = _xy()
    with pytest.raises(ValueError, match=r"same number of samples.*x: 200 and y: 199"):
        anchor.estimate_mi(x, y[:-1], progress=False)


def test_one_dimensional_array_is_one_column():
    x, y = _xy()
    kwargs = dict(folds=2, max_steps=20, eval_every=10, progress=False, warn=False)
    assert anchor.estimate_mi(x[:, 0], y, **kwargs).mi == anchor.estimate_mi(x[:, :1], y, **kwargs).mi


def test_three_dimensional_array():
    x, y = _xy()
    with pytest.raises(ValueError, match=r"y must be 2-D with shape \(n, d\) or 1-D, got shape \(200, 2, 1\)"):
        anchor.estimate_mi(x, y[:, :, None], progress=False)


def test_not_an_array():
    _, y = _xy()
    with pytest.raises(ValueError, match="x must be a pandas DataFrame or Series, a numpy array, a torch tensor"):
        anchor.estimate_mi({"a": [1.0] * 200}, y, progress=False)


def test_batch_larger_than_data():
    x, y = _xy()
    with pytest.raises(
        ValueError, match=r"batch_size must be at most the number of training pairs \(128 of 200 rows\), got 500"
    ):
        anchor.estimate_mi(x, y, batch_size=500, progress=False)


def test_batch_larger_than_data_in_fit():
    x, y = _xy(50)
    critic = anchor.SeparableCritic(2, 2, width=8)
    with pytest.raises(ValueError, match=r"batch_size must be at most the number of training pairs \(50\)"):
        anchor.fit(critic, anchor.get_objective("anchor"), anchor.train.ArraySampler(x, y), steps=1, batch_size=64)


def test_unknown_objective():
    with pytest.raises(KeyError, match=r"unknown objective 'infonce-anchor'; valid objectives are: 'anchor'"):
        anchor.get_objective("infonce-anchor")
    x, y = _xy()
    with pytest.raises(KeyError, match="unknown objective 'cpc'"):
        anchor.estimate_mi(x, y, objective="cpc", progress=False)


def test_unknown_critic():
    x, y = _xy()
    with pytest.raises(KeyError, match=r"unknown critic 'concat'; valid critics are: .*'joint'.*'separable'"):
        anchor.estimate_mi(x, y, critic="concat", progress=False)


def test_unknown_scoring_rule():
    with pytest.raises(KeyError, match=r"unknown scoring rule 'hinge'; valid scoring rules are: 'brier', 'log'"):
        anchor.objectives.anchor_objective("hinge")


def test_objective_parameter_not_accepted():
    with pytest.raises(ValueError, match=r"objective 'nwj' does not take parameter\(s\) K; it accepts: none"):
        anchor.get_objective("nwj", K=4)
    with pytest.raises(
        ValueError, match=r"objective 'anchor' does not take parameter\(s\) beta; it accepts: rule, K, nu"
    ):
        anchor.get_objective("anchor", beta=1.0)


def test_negative_nu():
    with pytest.raises(ValueError, match=r"nu must be a finite number in \[0, inf\], got -0.5"):
        anchor.get_objective("anchor", nu=-0.5)
    with pytest.raises(ValueError, match="nu must be"):
        anchor.scoring.anchor_loss(torch.zeros(4, 4), nu=-1.0)


@pytest.mark.parametrize("K", [0, -3])
def test_k_below_one(K):
    with pytest.raises(ValueError, match=rf"K must be None \(B - 1\) or an integer >= 1, got {K}"):
        anchor.get_objective("anchor", K=K)


def test_k_above_batch():
    obj = anchor.get_objective("anchor", K=8)
    with pytest.raises(ValueError, match=r"K \(with nu > 0, at most B - 1\) must be an integer in \[1, 7\], got 8"):
        obj.loss(torch.zeros(8, 8))
    with pytest.raises(ValueError, match=r"K must be an integer in \[1, 8\], got 9"):
        anchor.scoring.anchor_loss(torch.zeros(8, 8), K=9, nu=0.0)


def test_pseudo_spherical_needs_alpha_above_one():
    with pytest.raises(ValueError, match="pseudo-spherical scoring rule needs alpha > 1"):
        anchor.objectives.anchor_objective("pseudo-spherical")
    with pytest.raises(ValueError, match=r"alpha must be a finite number in \(1, inf\], got 1.0"):
        anchor.objectives.anchor_objective("pseudo-spherical", alpha=1.0)


def test_non_square_logits():
    message = r"logits must be a square \(B, B\) matrix or a stack of them, got shape \(3, 4\)"
    with pytest.raises(ValueError, match=message):
        anchor.scoring.anchor_loss(torch.zeros(3, 4))


def test_sampler_needs_exactly_one_of_mi_rho():
    with pytest.raises(ValueError, match="give exactly one of mi"):
        anchor.GaussianSampler(3)
    with pytest.raises(ValueError, match=r"rho must be a finite number in \(-1, 1\), got 1.0"):
        anchor.GaussianSampler(3, rho=1.0)
    with pytest.raises(ValueError, match=r"mi must be a finite number in \[0, inf\], got -1.0"):
        anchor.GaussianSampler(3, mi=-1.0)


def test_unit_folds_and_fractions():
    x, y = _xy()
    with pytest.raises(KeyError, match=r"unknown unit 'bit'; valid units are: 'bits', 'nats'"):
        anchor.estimate_mi(x, y, unit="bit", progress=False)
    with pytest.raises(ValueError, match=r"folds must be an integer in \[1, inf\], got 0"):
        anchor.estimate_mi(x, y, folds=0, progress=False)
    with pytest.raises(ValueError, match=r"val_fraction must be a finite number in \(0, 1\), got 1.0"):
        anchor.estimate_mi(x, y, val_fraction=1.0, progress=False)
    with pytest.raises(ValueError, match=r"x and y need more rows: 6 rows with folds=5"):
        anchor.estimate_mi(x[:6], y[:6], folds=5, batch_size=2, progress=False)


def test_nan_loss_stops_training_and_says_so():
    """A critic that blows up mid-run (here forced after step 2) stops fit with a clear error."""
    sampler = anchor.GaussianSampler(2, mi=3.0)
    critic = anchor.JointCritic(2, 2, width=32)

    def blow_up(step, model):
        with torch.no_grad():
            model.net[-1].bias.fill_(1e3)  # exp(1000) overflows

    with pytest.raises(
        anchor.train.DivergedError,
        match=r"nwj diverged at step 3: the training loss became (nan|inf) \(true MI 3 nats.*Lower lr",
    ) as err:
        anchor.fit(
            critic, anchor.get_objective("nwj"), sampler, steps=10, progress=False, callback=blow_up, callback_every=3
        )
    assert list(err.value.history["step"]) == [0, 1, 2, 3] and err.value.step == 3
    assert np.isfinite(err.value.history["estimate"][:3]).all()
    assert not np.isfinite(err.value.history["loss"].iloc[-1])


def test_a_finite_blow_up_stops_training_too():
    """DV at a learning rate of 1e3 reads -1e34 nats without a NaN: that is divergence as well."""
    sampler = anchor.GaussianSampler(10, mi=2.0)
    critic = anchor.SeparableCritic(10, 10)
    with pytest.raises(
        anchor.train.DivergedError,
        match=r"dv diverged at step \d+: the estimate stayed beyond \+-1000 nats for 10 steps",
    ):
        anchor.fit(critic, anchor.get_objective("dv"), sampler, steps=300, lr=1e3, progress=False)
    history = anchor.run_staircase(domain="gaussian", objective="dv", critic="separable", lr=1e3, steps_per_level=50)
    assert history.diverged.all() and abs(history.estimate.iloc[-1]) > 1e3 and len(history) < 250
    with pytest.raises(ValueError, match="divergence_nats must be"):
        anchor.fit(critic, anchor.get_objective("dv"), sampler, steps=1, divergence_nats=0.0)


def _reporting(values):
    """The anchor's training rule with a report that reads ``values`` in turn, one per step."""
    real, reads = anchor.get_objective("anchor"), iter(values)
    return anchor.Objective("odd", real.loss, lambda logits: logits.new_tensor(next(reads)), "bound")


def test_a_spike_is_kept_and_a_run_that_stays_out_of_range_stops():
    """NWJ-type reports spike by thousands of nats on one batch where a pair scores high, while the
    critic trains normally: kept. Ten steps in a row out of range, or any non-finite value, stop."""
    from anchor.train import divergence

    assert divergence(loss=0.7, estimate=-1500.0, streak=9) is None
    assert "stayed beyond +-1000 nats for 10 steps in a row (now -1.5e+03)" in divergence(0.7, -1500.0, streak=10)
    assert "estimate became -inf" in divergence(loss=0.7, estimate=-math.inf, streak=0)
    assert "training loss became nan" in divergence(loss=math.nan, estimate=1.0, streak=0)
    critic, sampler = anchor.SeparableCritic(2, 2, width=8), anchor.GaussianSampler(2, mi=1.0)
    spiky = [-5000.0 if k % 9 == 8 else 1.0 for k in range(60)] + [-5000.0] * 8 + [1.0] * 12
    result = anchor.fit(critic, _reporting(spiky), sampler, steps=80, progress=False)
    assert result.history.estimate.tolist() == spiky
    with pytest.raises(anchor.train.DivergedError, match="odd diverged at step 12: the estimate stayed") as err:
        anchor.fit(critic, _reporting([1.0] * 3 + [2e4] * 30), sampler, steps=30, progress=False)
    assert len(err.value.history) == 13


def test_estimate_mi_names_the_fold_that_diverged():
    x, y = anchor.GaussianSampler(10, mi=2.0).sample(3000, seed=1)
    with pytest.raises(
        anchor.EstimateError,
        match=r"critic of fold 1 of 2 \(dv, separable critic\) diverged at step \d+: the estimate stayed.*lower lr",
    ) as err:
        anchor.estimate_mi(x, y, objective="dv", lr=1e3, folds=2, max_steps=300, progress=False)
    assert "true MI nan" not in str(err.value) and err.value.fold == 0 and len(err.value.folds) == 0
    assert len(err.value.history) >= 1


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array(["2026-01-01"] * 20, dtype="datetime64[D]"), r"x must hold real numbers, categories or booleans"),
        (np.array([[1.0, None]] * 20, dtype=object), r"x column 'x1' has 20 missing value\(s\) \(first in row 0\)"),
        (np.zeros((20, 0)), r"x has no columns \(shape \(20, 0\)\); it needs at least one feature"),
    ],
)
def test_arrays_that_are_not_numbers(array, message):
    _, y = _xy(20)
    with pytest.raises(ValueError, match=message):
        anchor.estimate_mi(array, y, progress=False)


def test_bad_devices_seeds_steps_and_parameters_are_named():
    x, y = _xy()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda' asks for CUDA, which is not available here"):
            anchor.estimate_mi(x, y, device="cuda", progress=False)
    with pytest.raises(ValueError, match=r"device must be a torch device such as 'cpu' or 'cuda', got 'gpu'"):
        anchor.estimate_mi(x, y, device="gpu", progress=False)
    with pytest.raises(
        ValueError, match=r"seed must be an integer in \[0, 9223372036854775807\], got 18446744073709551616"
    ):
        anchor.estimate_mi(x, y, seed=2**64, progress=False)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 9223372036854775807\]"):
        anchor.GaussianSampler(2, mi=1.0).sample(3, seed=2**64)
    with pytest.raises(ValueError, match=r"max_steps must be an integer in \[1, inf\], got 0"):
        anchor.estimate_mi(x, y, max_steps=0, progress=False)
    with pytest.raises(ValueError, match=r"lr must be a finite number in \(0, inf\]"):
        anchor.estimate_mi(x, y, lr=-1.0, progress=False)
    with pytest.raises(
        ValueError,
        match=r"critic 'separable' does not take parameter\(s\) widht \(critic_params\); it accepts: .*width",
    ):
        anchor.estimate_mi(x, y, critic_params={"widht": 8}, progress=False)
    with pytest.raises(ValueError, match=r"mi = 1e\+06 nats is too large for 2 coordinate pair\(s\)"):
        anchor.GaussianSampler(2, mi=1e6)


def test_values_beyond_float32_are_named_not_blamed_on_divergence():
    x, y = _xy(300)
    big = x.double() * 1e39
    with pytest.raises(ValueError, match=r"marginals='none' needs columns on a scale .* column 0 of x has standard"):
        anchor.estimate_mi(big, y, marginals="none", progress=False)
    est = anchor.estimate_mi(big, y, folds=2, batch_size=32, max_steps=20, eval_every=10, progress=False)
    assert np.isfinite(est.mi)


def test_choices_inside_lists_are_named_in_the_singular():
    with pytest.raises(
        KeyError, match=r"unknown objective 'nwjj' in estimators; valid objectives are: 'anchor'"
    ) as err:
        anchor.staircase_configs("gaussian", ["anchor", "nwjj"], "separable", steps_per_level=4)
    assert "estimatorss" not in str(err.value)
    with pytest.raises(KeyError, match=r"unknown windows 'alll'; valid windows are: 'all', 'one'") as err:
        anchor.get_objective("anchor", windows="alll")
    assert "windowss" not in str(err.value)
