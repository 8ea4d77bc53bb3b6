"""Anchor consistency: a critic family that contains log r recovers it, offset included, iff nu > 0."""

import math

import pytest
import torch

import anchor

RHO = 0.8  # 1-D Gaussian, I = 0.51 nats; true log r has offset -1/2 log(1 - rho^2)
TRUE_OFFSET = -0.5 * math.log(1 - RHO**2)
STEPS = 1500


def _fit_quadratic(nu, init_offset=0.3, seed=0, dtype=torch.float32):
    sampler = anchor.GaussianSampler(1, rho=RHO)
    critic = anchor.QuadraticCritic(1, 1).to(dtype)
    with torch.no_grad():
        critic.offset.fill_(init_offset)
    objective = anchor.get_objective("anchor", nu=nu)
    fit = anchor.fit(critic, objective, sampler, steps=STEPS, batch_size=64, lr=1e-2, seed=seed, progress=False)
    return critic, fit


@pytest.mark.parametrize("nu", [0.5, 1.0, 8.0])
def test_offset_recovered_for_positive_nu(nu):
    critic, _ = _fit_quadratic(nu)
    one_minus = 1 - RHO**2
    assert critic.offset.item() == pytest.approx(TRUE_OFFSET, abs=0.05)
    assert critic.weight.item() == pytest.approx(RHO / one_minus, abs=0.15 * RHO / one_minus)
    x, y = anchor.GaussianSampler(1, rho=RHO).sample(20_000, seed=99)
    held = anchor.evaluate(critic, anchor.get_objective("anchor", nu=nu), x, y)
    assert held.mi == pytest.approx(anchor.rho_to_mi(dim=1, rho=RHO), abs=0.05)


@pytest.mark.parametrize("seed", range(3))
def test_nu_zero_gives_the_offset_no_gradient(seed):
    """InfoNCE's loss is invariant to c -> c + b(y): the offset and the y^2 term get zero gradient."""
    critic = anchor.QuadraticCritic(1, 1).double()
    with torch.no_grad():
        for p in critic.parameters():
            p.normal_()
    x, y = anchor.GaussianSampler(1, rho=RHO).sample(64, seed=seed, dtype=torch.float64)
    anchor.get_objective("anchor", nu=0.0).loss(critic(x, y)).backward()
    assert abs(critic.offset.grad.item()) < 1e-12
    assert critic.quad_y.grad.abs().max().item() < 1e-12
    assert critic.weight.grad.abs().item() > 1e-3


@pytest.mark.parametrize("init_offset", [-1.0, 0.3, 2.0])
def test_offset_unidentified_for_nu_zero(init_offset):
    """Trained with nu = 0 the offset stays where it started while the x-y interaction is learned.

    In float64, because Adam divides by the gradient's RMS: in float32 the round-off left in an
    exactly-zero gradient (~1e-8) becomes steps of size lr, and the offset random-walks.
    """
    critic, _ = _fit_quadratic(0.0, init_offset=init_offset, dtype=torch.float64)
    assert critic.offset.item() == pytest.approx(init_offset, abs=1e-6)
    assert critic.quad_y.abs().max().item() < 1e-6
    assert critic.weight.item() > 1.0
