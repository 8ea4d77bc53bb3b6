"""Every bad input raises one clear error naming the argument and what is allowed."""

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


def test_one_dimensional_array():
    x, y = _xy()
    with pytest.raises(ValueError, match=r"x must be 2-D with shape \(n, d\), got 1-D.*reshape"):
        anchor.estimate_mi(x[:, 0], y, progress=False)


def test_three_dimensional_array():
    x, y = _xy()
    with pytest.raises(ValueError, match=r"y must be 2-D with shape \(n, d\), got 3-D shape \(200, 2, 1\)"):
        anchor.estimate_mi(x, y[:, :, None], progress=False)


def test_not_an_array():
    _, y = _xy()
    with pytest.raises(ValueError, match="x must be a numpy array or torch tensor"):
        anchor.estimate_mi([[1.0, 2.0]] * 200, y, progress=False)


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
        anchor.fit(critic, anchor.get_objective("anchor"), anchor.ArraySampler(x, y), steps=1, batch_size=64)


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
        anchor.anchor_objective("hinge")


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
        anchor.anchor_loss(torch.zeros(4, 4), nu=-1.0)


@pytest.mark.parametrize("K", [0, -3])
def test_k_below_one(K):
    with pytest.raises(ValueError, match=rf"K must be None \(B - 1\) or an integer >= 1, got {K}"):
        anchor.get_objective("anchor", K=K)


def test_k_above_batch():
    obj = anchor.get_objective("anchor", K=8)
    with pytest.raises(ValueError, match=r"K \(with nu > 0, at most B - 1\) must be an integer in \[1, 7\], got 8"):
        obj.loss(torch.zeros(8, 8))
    with pytest.raises(ValueError, match=r"K must be an integer in \[1, 8\], got 9"):
        anchor.anchor_loss(torch.zeros(8, 8), K=9, nu=0.0)


def test_pseudo_spherical_needs_alpha_above_one():
    with pytest.raises(ValueError, match="pseudo-spherical scoring rule needs alpha > 1"):
        anchor.anchor_objective("pseudo-spherical")
    with pytest.raises(ValueError, match=r"alpha must be a finite number in \(1, inf\], got 1.0"):
        anchor.anchor_objective("pseudo-spherical", alpha=1.0)


def test_non_square_logits():
    with pytest.raises(ValueError, match=r"logits must be a square \(B, B\) matrix, got shape \(3, 4\)"):
        anchor.anchor_loss(torch.zeros(3, 4))


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
        anchor.NonFiniteLossError, match=r"nwj: the training loss became (nan|inf) at step 3.*Lower lr"
    ) as err:
        anchor.fit(
            critic, anchor.get_objective("nwj"), sampler, steps=10, progress=False, callback=blow_up, callback_every=3
        )
    assert list(err.value.history["step"]) == [0, 1, 2]
    assert np.isfinite(err.value.history["estimate"]).all()
