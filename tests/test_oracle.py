"""With the true log-ratio critic every plug-in reads the true MI; InfoNCE stays below log B and I."""

import math

import pytest
import torch

import anchor

B, N_BATCHES, DIM = 64, 500, 10  # 32,000 joint pairs: standard error of the plug-in <= 0.016 nats
PLUG_IN = [name for name in anchor.OBJECTIVES if anchor.get_objective(name).kind == "plug-in"]


def _oracle_values(bits, objective):
    sampler = anchor.GaussianSampler(DIM, mi=anchor.bits_to_nats(bits))
    critic = anchor.OracleCritic(sampler)
    x, y = sampler.sample(B * N_BATCHES, seed=int(bits), dtype=torch.float64)
    batches = zip(x.split(B), y.split(B), strict=True)
    return sampler.mi, torch.stack([objective.estimate(critic(xb, yb)) for xb, yb in batches])


@pytest.mark.parametrize("bits", anchor.data.STAIRCASE_BITS)
@pytest.mark.parametrize("name", PLUG_IN)
def test_plug_in_reads_true_mi(bits, name):
    mi, values = _oracle_values(bits, anchor.get_objective(name))
    assert values.mean().item() == pytest.approx(mi, abs=0.05)


@pytest.mark.parametrize("bits", anchor.data.STAIRCASE_BITS)
def test_infonce_below_log_b_and_truth(bits):
    mi, values = _oracle_values(bits, anchor.get_objective("infonce"))
    assert (values <= math.log(B) + 1e-9).all()
    assert values.mean().item() < mi
    assert values.mean().item() < math.log(B)


@pytest.mark.parametrize("bits", [2.0, 4.0])
def test_js_bound_is_tight_at_oracle(bits):
    """JS reports NWJ at s + 1, which equals I at s = log r (E_q r = 1): unbiased with the oracle."""
    mi, values = _oracle_values(bits, anchor.get_objective("js"))
    se = values.std().item() / math.sqrt(values.numel())
    assert values.mean().item() == pytest.approx(mi, abs=max(0.05, 4 * se))
