import math

import numpy as np
import pytest
import torch
from scipy import stats

import anchor


@pytest.mark.parametrize("dim,mi", [(1, 0.5), (5, 2.0), (10, anchor.bits_to_nats(10))])
def test_mi_rho_round_trip(dim, mi):
    rho = anchor.mi_to_rho(dim=dim, mi=mi)
    assert anchor.rho_to_mi(dim=dim, rho=rho) == pytest.approx(mi, rel=1e-12)


def test_bits_nats():
    assert anchor.bits_to_nats(1.0) == pytest.approx(math.log(2))
    assert anchor.nats_to_bits(anchor.bits_to_nats(3.7)) == pytest.approx(3.7)


@pytest.mark.parametrize("cls", [anchor.GaussianSampler, anchor.CubicSampler])
def test_sample_is_reproducible(cls):
    s = cls(4, mi=1.0)
    a, b = s.sample(100, seed=7), s.sample(100, seed=7)
    c = s.sample(100, seed=8)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == (100, 4) and a[1].shape == (100, 4)


def test_gaussian_log_ratio_matches_scipy_densities():
    """log p(x,y) - log p(x) - log p(y) from scipy's multivariate normal, an independent formula."""
    d, rho = 2, 0.6
    s = anchor.GaussianSampler(d, rho=rho)
    x, y = s.sample(50, seed=1, dtype=torch.float64)
    cov = np.block([[np.eye(d), rho * np.eye(d)], [rho * np.eye(d), np.eye(d)]])
    joint = stats.multivariate_normal(np.zeros(2 * d), cov).logpdf(np.hstack([x.numpy(), y.numpy()]))
    marg = stats.multivariate_normal(np.zeros(d), np.eye(d))
    expected = joint - marg.logpdf(x.numpy()) - marg.logpdf(y.numpy())
    np.testing.assert_allclose(s.log_ratio(x, y).numpy(), expected, rtol=1e-10, atol=1e-10)


def test_cubic_log_ratio_is_gaussian_ratio_at_cube_root():
    g, c = anchor.GaussianSampler(3, mi=1.5), anchor.CubicSampler(3, mi=1.5)
    x, y = g.sample(20, seed=3, dtype=torch.float64)
    xc, yc = c.sample(20, seed=3, dtype=torch.float64)
    torch.testing.assert_close(yc, y**3)
    torch.testing.assert_close(c.log_ratio(xc, yc), g.log_ratio(x, y))


@pytest.mark.parametrize("cls", [anchor.GaussianSampler, anchor.CubicSampler])
def test_sampler_mi_is_mean_log_ratio(cls):
    """E_p[log r] = I: the sampler's closed-form MI agrees with its own log ratio."""
    s = cls(3, mi=1.2)
    x, y = s.sample(200_000, seed=5, dtype=torch.float64)
    values = s.log_ratio(x, y)
    se = values.std().item() / math.sqrt(values.numel())
    assert values.mean().item() == pytest.approx(s.mi, abs=4 * se)


def test_staircase_schedule():
    st = anchor.gaussian_staircase(10, steps_per_level=3)
    assert st.steps == 15
    assert [st.level(k) for k in range(15)] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    assert st.mi_at(14) == pytest.approx(anchor.bits_to_nats(10))
    assert st.mi_at(0) == pytest.approx(anchor.bits_to_nats(2))
    assert isinstance(anchor.gaussian_staircase(2, cubic=True).sampler_at(0), anchor.CubicSampler)


def test_a_sampler_without_a_seed_leaves_the_global_generator_alone():
    """Seeding belongs to the caller: an unseeded draw uses fresh entropy in its own generator."""
    from anchor import GaussianSampler

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = GaussianSampler(2, mi=1.0).sample(50)
    second = GaussianSampler(2, mi=1.0).sample(50)
    assert torch.equal(torch.rand(3), expected)
    assert not torch.equal(first[0], second[0])
