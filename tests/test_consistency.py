"""Anchor consistency: a critic family that contains log r recovers it, offset included, iff nu > 0."""

import math

import pytest
import torch

import anchor

RHO = 0.8  # 1-D Gaussian, I = 0.51 nats; true log r has offset -1/2 log(1 - rho^2)
TRUE_OFFSET = -0.5 * math.log(1 - RHO**2)
STEPS = 1500


def _fit_quadratic(nu, init_offset=0.3, seed=0):
    sampler = anchor.GaussianSampler(1, rho=RHO)
    critic = anchor.QuadraticCritic(1, 1)
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


@pytest.mark.parametrize("init_offset", [-1.0, 0.3, 2.0])
def test_offset_unidentified_for_nu_zero(init_offset):
    """InfoNCE's loss is invariant to c -> c + b(y): the offset (and the y^2 term) get no gradient."""
    critic, _ = _fit_quadratic(0.0, init_offset=init_offset)
    assert critic.offset.item() == init_offset
    assert critic.quad_y.abs().max().item() == 0.0
    assert critic.weight.item() > 1.0  # the x-y interaction is still learned
