"""The Gaussian-copula critic (``anchor.copula``) and the discrete and mixed samplers."""

import math

import numpy as np
import pytest
import torch

import anchor
from anchor.copula import CopulaCritic, CopulaFit, canonical_pairs, component_grid, fit_copula, quadratic_form
from anchor.tasks import ClassMixture, SymmetricChannel, get_task, pairs_covariance


@pytest.mark.parametrize("name", ["dense-3x3", "sparse-5x5", "highmi-5pairs-4nat"])
def test_the_canonical_quadratic_is_the_gaussian_log_ratio(name):
    """Two routes to one quantity: the quadratic built from sample canonical correlations of
    many draws against the task's exact log ratio (scipy densities) on fresh pairs."""
    task = get_task(name)
    x, y = task.sample(200_000, seed=0, dtype=torch.float64)
    form = quadratic_form(*canonical_pairs(x - x.mean(0), y - y.mean(0)))
    fx, fy = task.sample(500, seed=1, dtype=torch.float64)
    q = ((fx @ form[0]) * fy).sum(1) + ((fx @ form[1]) * fx).sum(1) + ((fy @ form[2]) * fy).sum(1) + form[3]
    exact = task.log_ratio(fx, fy)
    assert float((q - exact).abs().median()) < 0.02
    assert float(form[3]) == pytest.approx(task.mi, abs=0.02)  # the offset is the Gaussian MI


def test_no_components_is_the_constant_critic_and_the_grid_ends_at_all():
    a, b, r = canonical_pairs(torch.randn(50, 3, dtype=torch.float64), torch.randn(50, 2, dtype=torch.float64))
    form = quadratic_form(a[:, :0], b[:, :0], r[:0])
    assert all(float(t.abs().max()) == 0.0 for t in form[:3]) and float(form[3]) == 0.0
    assert component_grid(2) == [0, 1, 2] and component_grid(25) == [0, 1, 2, 3, 4, 6, 9, 13, 19, 25]


def test_the_fit_keeps_the_components_that_carry_the_dependence():
    """Sparse 10x10 (2 correlated pairs) on 1,000 rows: the validation criterion keeps 2 pairs, not
    all 10 (the extra sample canonical correlations are noise)."""
    task = anchor.tasks.Task("sparse", "normal", pairs_covariance(10, 10, rho=0.8, pairs=2), 10)
    x, y = task.sample(1_000, seed=0)
    vx, vy = task.sample(256, seed=1)
    objective = anchor.get_objective("anchor", nu=16.0)
    fit = fit_copula(x, y, vx.reshape(4, 64, 10), vy.reshape(4, 64, 10), lambda s: float(objective.select(s).mean()))
    assert fit.components == 2
    assert float(fit.offset) == pytest.approx(task.mi, rel=0.15)


def test_the_untrained_copula_critic_is_the_quadratic_and_keeps_the_logits_convention():
    torch.manual_seed(0)
    x, y = torch.randn(6, 3), torch.randn(6, 2)
    fit = CopulaFit(torch.randn(3, 2), -torch.eye(3) * 0.1, -torch.eye(2) * 0.2, torch.tensor(0.3), 1, 0.0, 0.0)
    critic = CopulaCritic(anchor.get_critic("separable", 3, 2, width=8, depth=1), fit)
    with torch.no_grad():
        logits = critic(x, y)
    quad = anchor.QuadraticCritic(3, 2)
    with torch.no_grad():
        quad.weight.copy_(fit.weight), quad.quad_x.copy_(fit.quad_x), quad.quad_y.copy_(fit.quad_y)
        quad.offset.copy_(fit.offset)
        assert torch.allclose(logits, quad(x, y), atol=1e-6)
        critic.gate.fill_(0.7)
        logits = critic(x, y)
        for i in range(6):
            for j in range(6):
                assert logits[i, j] == pytest.approx(float(critic.pairs(x[i : i + 1], y[j : j + 1])[0]), abs=1e-5)


def test_the_symmetric_channel_has_its_exact_mi():
    channel = SymmetricChannel(4, error=0.15)
    assert channel.mi == pytest.approx(0.7988, abs=1e-4)
    x, y = channel.sample(400_000, seed=0)
    joint = np.histogram2d(x[:, 0].numpy(), y[:, 0].numpy(), bins=[np.arange(5) - 0.5] * 2)[0] / 400_000
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    assert float((joint * np.log(joint / outer)).sum()) == pytest.approx(channel.mi, abs=0.005)


def test_the_class_mixture_mi_matches_monte_carlo():
    mixture = ClassMixture((-2.0, 0.0, 2.0), sd=1.0)
    x, c = mixture.sample(400_000, seed=0, dtype=torch.float64)
    from scipy import special, stats

    log_parts = stats.norm.logpdf(x.numpy(), mixture.means[None, :], 1.0)
    log_ratio = log_parts[np.arange(len(c)), c[:, 0].long().numpy()] - special.logsumexp(log_parts, axis=1)
    assert float(np.mean(log_ratio + math.log(3))) == pytest.approx(mixture.mi, abs=0.005)
