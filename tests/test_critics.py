"""The index convention logits[i, j] = c(x_i, y_j), pinned for every critic."""

import pytest
import torch

import anchor

DX, DY, B = 3, 4, 5


def _critics():
    sampler = anchor.GaussianSampler(DX, mi=1.0)
    quadratic = anchor.QuadraticCritic(DX, DY)
    with torch.no_grad():  # non-zero parameters, so a transposed matrix would show
        for p in quadratic.parameters():
            p.normal_()
    bilinear = anchor.BilinearCritic(DX, DY)
    with torch.no_grad():
        bilinear.weight.normal_()
    return {
        "joint": (anchor.JointCritic(DX, DY, width=16, depth=2), DX, DY),
        "separable": (anchor.SeparableCritic(DX, DY, width=16, embed_dim=6), DX, DY),
        "separable-cosine": (anchor.SeparableCritic(DX, DY, width=16, cosine=True, temperature=0.2), DX, DY),
        "bilinear": (bilinear, DX, DY),
        "quadratic": (quadratic, DX, DY),
        "inner": (anchor.InnerProductCritic(temperature=0.5), DX, DX),
        "oracle": (anchor.OracleCritic(sampler), DX, DX),
    }


@pytest.mark.parametrize("name", list(_critics()))
def test_index_convention(name):
    critic, dx, dy = _critics()[name]
    x, y = torch.randn(B, dx), torch.randn(B, dy)
    logits = critic(x, y)
    assert logits.shape == (B, B)
    for i in range(B):
        for j in range(B):
            single = critic(x[i : i + 1], y[j : j + 1])[0, 0]
            assert logits[i, j].item() == pytest.approx(single.item(), abs=1e-5), (i, j)


@pytest.mark.parametrize("name", list(_critics()))
def test_pairs_are_the_diagonal(name):
    critic, dx, dy = _critics()[name]
    x, y = torch.randn(B, dx), torch.randn(B, dy)
    torch.testing.assert_close(critic.pairs(x, y), critic(x, y).diagonal(), atol=1e-5, rtol=1e-5)


def test_joint_critic_matches_concatenated_mlp():
    """The split first layer is the same function as the MLP on [x_i; y_j]."""
    critic = anchor.JointCritic(DX, DY)
    x, y = torch.randn(B, DX), torch.randn(B, DY)
    tiled = torch.cat([x[:, None, :].expand(B, B, DX), y[None, :, :].expand(B, B, DY)], dim=-1)
    torch.testing.assert_close(critic(x, y), critic.net(tiled).squeeze(-1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("dx", "dy"), [(10, 10), (300, 200)])
def test_joint_critic_forward_and_gradients_match_the_tiled_reference(dx, dy):
    """Same weights, same loss: the split first layer and the tiled B^2-row evaluation agree to 1e-5."""
    torch.manual_seed(0)
    critic = anchor.JointCritic(dx, dy)
    x, y = torch.randn(32, dx), torch.randn(32, dy)
    objective = anchor.get_objective("anchor")
    grads = []
    for evaluate in (critic, critic.tiled):
        critic.zero_grad()
        logits = evaluate(x, y)
        objective.loss(logits).backward()
        grads.append((logits.detach(), [p.grad.clone() for p in critic.parameters()]))
    (fast, fast_grads), (ref, ref_grads) = grads
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    for g_fast, g_ref in zip(fast_grads, ref_grads, strict=True):
        torch.testing.assert_close(g_fast, g_ref, atol=1e-5, rtol=1e-5)


def test_default_joint_critic_is_lee_rhee_network():
    critic = anchor.JointCritic(10, 10)
    shapes = [tuple(m.weight.shape) for m in critic.net if isinstance(m, torch.nn.Linear)]
    assert shapes == [(256, 20), (256, 256), (256, 256), (1, 256)]


def test_get_critic_builds_by_name():
    critic = anchor.get_critic("separable", 3, 4, embed_dim=8, width=32, depth=1)
    assert critic(torch.randn(6, 3), torch.randn(6, 4)).shape == (6, 6)


def test_unknown_critic_name_lists_valid_ones():
    with pytest.raises(KeyError, match=r"unknown critic 'mlp'.*'joint'.*'separable'"):
        anchor.get_critic("mlp", 3, 3)


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(KeyError, match=r"unknown activation 'swish'.*'relu'"):
        anchor.JointCritic(3, 3, activation="swish")


def test_oracle_needs_log_ratio():
    with pytest.raises(ValueError, match="log_ratio"):
        anchor.OracleCritic(object())
