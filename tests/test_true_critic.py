"""Monte Carlo theory helpers: InfoNCE with the true critic, and the anchor's DV <-> NWJ interpolation."""

import itertools
import math

import numpy as np
import pytest
import torch

import anchor
from anchor.true_critic import anchor_interpolation, oracle_infonce, tuple_log_ratios


def gaussian(dim, bits):
    return anchor.GaussianSampler(dim, mi=anchor.bits_to_nats(bits))


def test_tuple_log_ratios_shapes_and_reproducibility():
    s = gaussian(3, 2.0)
    chunks = list(tuple_log_ratios(s, 5, 11, seed=3, chunk=4))
    assert [p.shape[0] for p, _ in chunks] == [4, 4, 3]
    assert all(n.shape[1] == 5 and n.dtype == torch.float64 for _, n in chunks)
    again = list(tuple_log_ratios(s, 5, 11, seed=3, chunk=4))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(chunks, again, strict=True))
    positive = torch.cat([p for p, _ in tuple_log_ratios(s, 1, 20000, seed=0)])
    assert abs(positive.mean().item() - s.mi) < 4 * positive.std().item() / math.sqrt(positive.numel())


def test_oracle_infonce_below_mi_and_log_k_and_increasing():
    s = gaussian(1, 2.0)
    points = [oracle_infonce(s, K, n_tuples=20000, seed=1) for K in (2, 8, 64, 512)]
    for p in points:
        assert p["max_tuple"] <= math.log(p["K"]) + 1e-12
        assert p["value"] + 4 * p["stderr"] < s.mi
    values = [p["value"] for p in points]
    assert all(b > a for a, b in itertools.pairwise(values))
    # the control variates only remove noise: the plain mean agrees
    assert all(abs(p["plain"] - p["value"]) < 0.05 for p in points)
    assert points[-1]["stderr"] < 0.2 * abs(points[-1]["plain"] - s.mi) + 0.01


def test_oracle_infonce_matches_the_infonce_objective_on_batches():
    """D_KJS(K) by tuples equals the batch InfoNCE of the true critic with B = K."""
    s = gaussian(2, 3.0)
    B = 16
    x, y = s.sample(B * 4000, seed=5, dtype=torch.float64)
    held = anchor.evaluate(anchor.OracleCritic(s), anchor.get_objective("infonce"), x, y, batch_size=B)
    point = oracle_infonce(s, B, n_tuples=40000, seed=6)
    assert abs(held.mi - point["value"]) < 4 * math.hypot(held.stderr, point["stderr"])


def test_oracle_infonce_paper_example():
    """I = 2 bits on a 1-D Gaussian: about 1.19 bits at K = 4 and 1.93 bits at K = 64 (Ryu et al. 2025)."""
    s = gaussian(1, 2.0)
    at4 = anchor.nats_to_bits(oracle_infonce(s, 4, n_tuples=40000, seed=2)["value"])
    at64 = anchor.nats_to_bits(oracle_infonce(s, 64, n_tuples=40000, seed=3)["value"])
    assert abs(at4 - 1.19) < 0.05 and abs(at64 - 1.93) < 0.05


def test_anchor_interpolation_true_critic_reads_mi():
    s = gaussian(1, 1.0)
    table = anchor_interpolation(s, K=512, betas=[0.01, 1.0, 100.0], n_tuples=4000, seed=0)
    assert ((table.value - s.mi).abs() <= 4 * table.stderr).all()
    assert np.allclose(table.limit, table.dv, atol=0.02) and np.allclose(table.dv, table.nwj, atol=0.02)


def test_anchor_interpolation_runs_from_dv_to_nwj():
    s = gaussian(1, 1.0)
    betas = [1e-3, 0.1, 1.0, 10.0, 1e3]
    table = anchor_interpolation(s, K=2048, betas=betas, critics=[(1.0, 0.7), (0.7, -0.2)], n_tuples=1000, seed=1)
    for _, group in table.groupby(["scale", "offset"]):
        group = group.sort_values("beta")
        assert (group.dv.iloc[0] - group.nwj.iloc[0]) > 0.05  # the perturbation separates the bounds
        assert (np.diff(group.limit) < 0).all()
        assert (group.limit <= group.dv + 1e-12).all() and (group.limit >= group.nwj - 1e-12).all()
        assert abs(group.value.iloc[0] - group.dv.iloc[0]) < 0.01
        assert abs(group.value.iloc[-1] - group.nwj.iloc[-1]) < 0.01


def test_anchor_interpolation_loss_is_the_library_anchor_loss():
    """The Monte Carlo loss inside anchor_interpolation is anchor_loss's, on tuples instead of batches."""
    s = gaussian(2, 2.0)
    B, beta, offset = 32, 0.5, 0.3
    K = B - 1
    x, y = s.sample(B * 2000, seed=9, dtype=torch.float64)
    critic = anchor.OracleCritic(s)
    losses = torch.stack(
        [
            anchor.scoring.anchor_loss(
                critic(x[k * B : (k + 1) * B], y[k * B : (k + 1) * B]) + offset, K=K, nu=beta * K
            )
            for k in range(2000)
        ]
    )
    constant = math.log(K) + (1 + beta) * math.log1p(beta) - beta * math.log(beta)
    batch_value = -(1 + beta) * losses.mean().item() + constant
    batch_se = (1 + beta) * losses.std().item() / math.sqrt(len(losses))
    row = anchor_interpolation(s, K=K, betas=[beta], critics=[(1.0, offset)], n_tuples=60000, seed=10).iloc[0]
    assert abs(row.value - batch_value) < 4 * math.hypot(row.stderr, batch_se)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"K": 0, "betas": [1.0]}, "K"),
        ({"K": 8, "betas": []}, "betas"),
        ({"K": 8, "betas": [0.0]}, "betas"),
        ({"K": 8, "betas": [1.0], "critics": []}, "critics"),
    ],
)
def test_anchor_interpolation_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        anchor_interpolation(gaussian(1, 1.0), n_tuples=10, **kwargs)


def test_theory_rejects_samplers_without_log_ratio():
    with pytest.raises(ValueError, match="log_ratio"):
        oracle_infonce(object(), 4, n_tuples=10)
    with pytest.raises(ValueError, match="K"):
        oracle_infonce(gaussian(1, 1.0), 1, n_tuples=10)
