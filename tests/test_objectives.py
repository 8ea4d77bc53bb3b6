"""Exact identities between objectives, and the anchor family against a naive per-tuple loop."""

import inspect
import math

import numpy as np
import pytest
import torch

import anchor
from anchor.objectives import log_mean_exp_off_diagonal

B = 7


def _logits(seed=0, scale=2.0, B=B):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(B, B, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------ naive reference implementation


def _rule_value(rule, eta, z, alpha=None):
    """A scoring rule's loss for posterior eta and label z, straight from its textbook definition."""
    eta = np.asarray(eta)
    if rule == "log":
        return -math.log(eta[z])
    if rule == "brier":
        e = np.zeros_like(eta)
        e[z] = 1.0
        return float(((e - eta) ** 2).sum())
    if rule == "spherical":
        return -eta[z] / math.sqrt((eta**2).sum())
    if rule == "pseudo-spherical":
        return -((eta[z] / (eta**alpha).sum() ** (1 / alpha)) ** (alpha - 1))
    raise AssertionError(rule)


def _naive_anchor_loss(S, K, nu, rule, alpha=None):
    """Loop over contexts j and every cyclic window of K candidates; eta from ratios r = exp(s)."""
    S = S.numpy()
    n = S.shape[0]
    pos, anc = [], []
    for j in range(n):
        for a in range(n):
            members = [(a + k) % n for k in range(K)]
            r = [math.exp(S[i, j]) for i in members]
            denom = nu + sum(r)
            eta = ([nu / denom] if nu > 0 else []) + [ri / denom for ri in r]
            if j in members:
                z = members.index(j) + (1 if nu > 0 else 0)
                pos.append(_rule_value(rule, eta, z, alpha))
            elif nu > 0:
                anc.append(_rule_value(rule, eta, 0, alpha))
    total = K / (K + nu) * np.mean(pos)
    if nu > 0:
        total += nu / (K + nu) * np.mean(anc)
    return total


RULES = [("log", None), ("brier", None), ("spherical", None), ("pseudo-spherical", 1.5), ("pseudo-spherical", 3.0)]


@pytest.mark.parametrize("rule,alpha", RULES)
@pytest.mark.parametrize("K,nu", [(1, 1.0), (3, 0.5), (B - 1, 1.0), (B - 1, 8.0), (4, 0.0), (B, 0.0)])
def test_scoring_rules_match_naive_loop(rule, alpha, K, nu):
    S = _logits(seed=K)
    ours = anchor.scoring.anchor_loss(S, K=K, nu=nu, rule=rule, alpha=alpha).item()
    assert ours == pytest.approx(_naive_anchor_loss(S, K, nu, rule, alpha), abs=1e-6)


@pytest.mark.parametrize("rule,alpha", RULES)
def test_one_window_matches_spec_tuples(rule, alpha):
    """windows="one", K = B - 1: anchor tuple {x_i : i != j}, positive tuple drops x_{(j+1) mod B}."""
    S = _logits(seed=3)
    nu, n = 1.0, B
    pos, anc = [], []
    for j in range(n):
        anchor_set = [i for i in range(n) if i != j]
        positive_set = [j] + [i for i in anchor_set if i != (j + 1) % n]
        for members, label_is_anchor, store in ((anchor_set, True, anc), (positive_set, False, pos)):
            r = [math.exp(S[i, j].item()) for i in members]
            eta = [nu / (nu + sum(r))] + [ri / (nu + sum(r)) for ri in r]
            store.append(_rule_value(rule, eta, 0 if label_is_anchor else 1, alpha))
    K = n - 1
    expected = K / (K + nu) * np.mean(pos) + nu / (K + nu) * np.mean(anc)
    ours = anchor.scoring.anchor_loss(S, nu=nu, rule=rule, alpha=alpha, windows="one").item()
    assert ours == pytest.approx(expected, abs=1e-6)


def test_spherical_is_pseudo_spherical_two():
    S = _logits(seed=4)
    a = anchor.scoring.anchor_loss(S, rule="spherical")
    b = anchor.scoring.anchor_loss(S, rule="pseudo-spherical", alpha=2.0)
    assert a.item() == pytest.approx(b.item(), abs=1e-12)


# ------------------------------------------------------------------ identities between objectives


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_infonce_at_most_log_b(seed, scale):
    S = _logits(seed, scale, B=16)
    assert anchor.objectives.infonce(S).item() <= math.log(16) + 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_nwj_is_tuba_shifted(seed):
    S = _logits(seed)
    assert anchor.objectives.nwj(S).item() == pytest.approx(anchor.objectives.tuba(S - 1.0).item(), abs=1e-12)
    off = ~torch.eye(B, dtype=torch.bool)
    direct = S.diagonal().mean() - math.exp(-1) * S.exp()[off].mean()
    assert anchor.objectives.nwj(S).item() == pytest.approx(direct.item(), abs=1e-10)


@pytest.mark.parametrize("windows", ["one", "all"])
@pytest.mark.parametrize("seed", range(3))
def test_anchor_nu_zero_is_infonce(seed, windows):
    """nu = 0, K = B: the anchor loss is the InfoNCE cross-entropy, i.e. log B - InfoNCE."""
    S = _logits(seed)
    loss = anchor.scoring.anchor_loss(S, nu=0.0, windows=windows)
    assert loss.item() == pytest.approx(math.log(B) - anchor.objectives.infonce(S).item(), abs=1e-10)
    obj = anchor.get_objective("infonce")
    assert obj.loss(S).item() == pytest.approx(loss.item(), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_anchor_k1_nu1_is_binary_nce(seed):
    """K = 1, nu = 1: logistic regression of joint (label 1) vs off-diagonal pairs, classes weighted equally."""
    S = _logits(seed)
    off = ~torch.eye(B, dtype=torch.bool)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    nce = 0.5 * bce(S.diagonal(), torch.ones(B, dtype=S.dtype)) + 0.5 * bce(
        S[off], torch.zeros(B * (B - 1), dtype=S.dtype)
    )
    assert anchor.scoring.anchor_loss(S, K=1, nu=1.0).item() == pytest.approx(nce.item(), abs=1e-12)
    assert anchor.get_objective("nce").loss(S).item() == pytest.approx(nce.item(), abs=1e-12)
    assert nce.item() == pytest.approx(-0.5 * anchor.objectives.js_fgan(S).item(), abs=1e-12)


def test_dv_and_smile():
    S = _logits(1)
    off = ~torch.eye(B, dtype=torch.bool)
    assert anchor.objectives.dv(S).item() == pytest.approx(
        (S.diagonal().mean() - S.exp()[off].mean().log()).item(), abs=1e-10
    )
    clipped = S.diagonal().mean() - S.clamp(-1, 1).exp()[off].mean().log()
    assert anchor.objectives.smile(S, tau=1.0).item() == pytest.approx(clipped.item(), abs=1e-10)
    assert anchor.objectives.smile(S, tau=math.inf).item() == pytest.approx(anchor.objectives.dv(S).item(), abs=1e-12)


def test_js_reports_nwj_at_shifted_critic():
    S = _logits(2)
    assert anchor.get_objective("js").estimate(S).item() == pytest.approx(
        anchor.objectives.nwj(S + 1.0).item(), abs=1e-12
    )


def test_chi2_loss_formula():
    S = _logits(5, scale=0.5)
    off = ~torch.eye(B, dtype=torch.bool)
    r = S.exp()
    expected = 0.5 * (r[off] ** 2).mean() - r.diagonal().mean()
    assert anchor.objectives.chi2_loss(S).item() == pytest.approx(expected.item(), abs=1e-10)


def test_log_mean_exp_is_stable():
    S = torch.full((4, 4), 1000.0, dtype=torch.float64)
    assert log_mean_exp_off_diagonal(S).item() == pytest.approx(1000.0)
    assert math.isfinite(anchor.objectives.dv(S).item()) and math.isfinite(anchor.scoring.anchor_loss(S).item())


def test_mine_gradient_uses_moving_average():
    """The first step's gradient equals DV's; later steps divide by the EMA, not the batch mean."""
    obj = anchor.get_objective("mine")
    S1 = _logits(1).requires_grad_(True)
    obj.loss(S1).backward()
    S1b = _logits(1).requires_grad_(True)
    (-anchor.objectives.dv(S1b)).backward()
    torch.testing.assert_close(S1.grad, S1b.grad)
    S2 = (_logits(2) + 1.0).requires_grad_(True)
    obj.loss(S2).backward()
    S2b = (_logits(2) + 1.0).requires_grad_(True)
    (-anchor.objectives.dv(S2b)).backward()
    assert not torch.allclose(S2.grad, S2b.grad)
    obj.reset()
    S3 = _logits(1).requires_grad_(True)
    obj.loss(S3).backward()
    torch.testing.assert_close(S3.grad, S1.grad)


@pytest.mark.parametrize("name", list(anchor.OBJECTIVES))
def test_every_objective_gives_finite_loss_and_gradient_without_mutating_input(name):
    obj = anchor.get_objective(name)
    S = _logits(0).requires_grad_(True)
    before = S.detach().clone()
    loss = obj.loss(S)
    loss.backward()
    assert loss.ndim == 0 and math.isfinite(loss.item())
    assert torch.isfinite(S.grad).all()
    assert math.isfinite(obj.estimate(S.detach()).item())
    torch.testing.assert_close(S.detach(), before)
    assert obj.kind in ("bound", "plug-in")


def test_registry_names_match_objective_names():
    for name in anchor.OBJECTIVES:
        if name != "anchor-pseudo-spherical":
            assert anchor.get_objective(name).name == name


def test_constructor_for_any_rule_k_nu():
    obj = anchor.objectives.anchor_objective("pseudo-spherical", alpha=3.0, K=4, nu=2.0)
    S = _logits(6)
    assert obj.loss(S).item() == pytest.approx(_naive_anchor_loss(S, 4, 2.0, "pseudo-spherical", 3.0), abs=1e-6)
    assert obj.kind == "plug-in" and obj.params["nu"] == 2.0
    via_registry = anchor.get_objective("anchor", rule="brier", K=3, nu=0.5)
    assert via_registry.loss(S).item() == pytest.approx(_naive_anchor_loss(S, 3, 0.5, "brier"), abs=1e-6)


@pytest.mark.parametrize("K", [1, 2, 3, 5, 6, 7])
def test_window_logsumexp_matches_direct_sum(K):
    S = _logits(K)
    expected = torch.stack(
        [torch.stack([torch.logsumexp(S[[(a + k) % B for k in range(K)], j], 0) for j in range(B)]) for a in range(B)]
    )
    torch.testing.assert_close(anchor.scoring.window_logsumexp(S, K), expected)


def test_the_anchor_family_is_exactly_the_objectives_that_take_nu():
    takes_nu = {name for name, factory in anchor.OBJECTIVES.items() if "nu" in inspect.signature(factory).parameters}
    assert set(anchor.objectives.ANCHOR_FAMILY) == takes_nu


def test_estimate_mi_has_defaults_for_every_critic_and_each_is_accepted():
    from anchor.estimate import DEFAULT_CRITIC_PARAMS

    assert set(DEFAULT_CRITIC_PARAMS) == set(anchor.CRITICS)
    for name, params in DEFAULT_CRITIC_PARAMS.items():
        anchor.critics.get_critic(name, 2, 3, **params)  # refuses a parameter the critic does not take
