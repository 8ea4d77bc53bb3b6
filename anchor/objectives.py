"""Objectives: what a critic trains with and what MI value it reports, as functions of logits.

An ``Objective`` is data: a name, ``loss(logits)`` (a scalar to minimise), ``estimate(logits)``
(MI in nats: a variational bound, or the plug-in mean of the diagonal), its ``kind`` ("bound" or
"plug-in") and its hyperparameters. ``get_objective(name, **params)`` builds one from the
registry ``OBJECTIVES``; every call returns a fresh object (MINE carries training state).

Formulas follow Ryu et al. (2025) and the estimators they compare (Poole et al. 2019; Song &
Ermon 2020); ``logits[i, j] = c(x_i, y_j)`` with the joint pairs on the diagonal. Every function
here returns new tensors and never modifies its input.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from ._checks import check_choice, check_float
from .critics import Logits
from .scoring import anchor_loss, get_scoring_rule

# ----------------------------------------------------------------------------- pure bounds


def _off_diagonal_mask(logits: Logits) -> torch.Tensor:
    return ~torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)


def log_mean_exp_off_diagonal(logits: Logits) -> torch.Tensor:
    """log of the mean of exp(s_ij) over the B(B-1) pairs i != j (stable)."""
    B = logits.shape[0]
    masked = logits.masked_fill(~_off_diagonal_mask(logits), -math.inf)
    return torch.logsumexp(masked.flatten(), dim=0) - math.log(B * (B - 1))


def plug_in(logits: Logits) -> torch.Tensor:
    """Mean critic value over the joint pairs: E_p[c], which is I when c = log r (one value per
    matrix for a stack (..., B, B))."""
    return logits.diagonal(dim1=-2, dim2=-1).mean(-1)


def infonce(logits: Logits) -> torch.Tensor:
    """InfoNCE: (1/B) sum_j [s_jj - logsumexp_i s_ij] + log B; at most log B on every batch."""
    B = logits.shape[0]
    return (logits.diagonal() - torch.logsumexp(logits, dim=0)).mean() + math.log(B)


def tuba(logits: Logits) -> torch.Tensor:
    """TUBA with baseline a(y) = 1: mean_j s_jj - mean_{i != j} e^{s_ij} + 1."""
    return logits.diagonal().mean() - log_mean_exp_off_diagonal(logits).exp() + 1.0


def nwj(logits: Logits) -> torch.Tensor:
    """NWJ = TUBA(s - 1) = mean_j s_jj - e^-1 mean_{i != j} e^{s_ij}; tight at s = 1 + log r."""
    return tuba(logits - 1.0)


def dv(logits: Logits, clip: float | None = None) -> torch.Tensor:
    """Donsker-Varadhan: mean_j s_jj - log mean_{i != j} e^{s_ij}, off-diagonal optionally clipped to
    [-clip, clip] (SMILE)."""
    negatives = logits if clip is None else logits.clamp(-clip, clip)
    return logits.diagonal().mean() - log_mean_exp_off_diagonal(negatives)


def smile(logits: Logits, tau: float = 5.0) -> torch.Tensor:
    """SMILE(tau): DV with exp(s_ij) clipped to [e^-tau, e^tau]; tau = inf is plain DV."""
    return dv(logits, clip=None if math.isinf(tau) else tau)


def js_fgan(logits: Logits) -> torch.Tensor:
    """f-GAN Jensen-Shannon objective: mean_j -softplus(-s_jj) - mean_{i != j} softplus(s_ij)."""
    off = F.softplus(logits)[_off_diagonal_mask(logits)]
    return -F.softplus(-logits.diagonal()).mean() - off.mean()


def chi2_loss(logits: Logits) -> torch.Tensor:
    """chi^2 / density-ratio fitting loss: 1/2 mean_{i != j} r_ij^2 - mean_j r_jj, r = e^s."""
    return 0.5 * log_mean_exp_off_diagonal(2.0 * logits).exp() - logits.diagonal().exp().mean()


# ----------------------------------------------------------------------------- objectives


def _neg(fn: Callable[[Logits], torch.Tensor]) -> Callable[[Logits], torch.Tensor]:
    return lambda logits: -fn(logits)


@dataclass
class Objective:
    """A training rule and a reported value; see the module docstring."""

    name: str
    loss: Callable[[Logits], torch.Tensor]
    estimate: Callable[[Logits], torch.Tensor]
    kind: str  # "plug-in": reports mean diag(logits) (E_p[c]); "bound": reports a variational bound
    params: dict[str, Any] = field(default_factory=dict)
    reset: Callable[[], None] = field(default=lambda: None, repr=False)
    select: Callable[[Logits], torch.Tensor] | None = field(default=None, repr=False)
    """Held-out model selection criterion (lower is better), e.g. for early stopping. Defaults to
    ``loss``; objectives whose loss keeps training state (MINE) name a stateless one."""
    batched: bool = False
    """True when ``loss``, ``select`` and ``estimate`` also take a stack of logits (..., B, B) and
    return one value per matrix (the anchor family), which lets fold ensembles train in one call."""

    def __post_init__(self) -> None:
        check_choice("objective kind", self.kind, ("bound", "plug-in"))
        if self.select is None:
            self.select = self.loss


class _MineLoss:
    """DV loss whose log-partition gradient divides by an EMA of mean_{i != j} e^{s_ij}.

    The gradient of log E[e^s] is E[grad e^s] / E[e^s]; MINE replaces the denominator by an
    exponential moving average to reduce the bias of the minibatch estimate. The EMA is kept in
    log space and starts at the first batch's value.
    """

    def __init__(self, momentum: float = 0.9) -> None:
        self.momentum = check_float("momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.log_ema: torch.Tensor | None = None

    def reset(self) -> None:
        self.log_ema = None

    def __call__(self, logits: Logits) -> torch.Tensor:
        log_mean = log_mean_exp_off_diagonal(logits)
        current = log_mean.detach()
        if self.log_ema is None:
            self.log_ema = current
        else:
            self.log_ema = torch.logaddexp(math.log(self.momentum) + self.log_ema, math.log1p(-self.momentum) + current)
        return -(logits.diagonal().mean() - torch.exp(log_mean - self.log_ema))


def nwj_objective() -> Objective:
    """NWJ (f-divergence / KL dual bound), trained and reported."""
    return Objective("nwj", _neg(nwj), nwj, "bound")


def dv_objective() -> Objective:
    """Donsker-Varadhan, trained with the (biased) minibatch gradient and reported."""
    return Objective("dv", _neg(dv), dv, "bound")


def js_objective() -> Objective:
    """Trained with the f-GAN JS objective; reports NWJ at s + 1 (= TUBA(s)), which is I at the
    JS optimum s = log r. (Public reference code reports NWJ at s, which sits 1/e nats low.)"""
    return Objective("js", _neg(js_fgan), tuba, "bound")


def nce_objective(windows: str = "all") -> Objective:
    """Binary NCE / logistic regression of joint vs product pairs: the anchor family with K = 1,
    nu = 1 and the log score (the JS plug-in); reports the plug-in."""
    return anchor_objective("log", K=1, nu=1.0, windows=windows, name="nce")


def chi2_objective() -> Objective:
    """chi^2 density-ratio fitting (DRF); reports the plug-in."""
    return Objective("chi2", chi2_loss, plug_in, "plug-in")


def infonce_objective() -> Objective:
    """InfoNCE: trained as the anchor family with nu = 0 and K = B (one tuple per context)."""
    loss = partial(anchor_loss, K=None, nu=0.0, rule="log", windows="one")
    return Objective("infonce", loss, infonce, "bound")


def mine_objective(momentum: float = 0.9) -> Objective:
    """MINE: DV with a moving-average denominator in its gradient (``momentum`` 0.9); reports DV."""
    loss = _MineLoss(momentum)
    return Objective("mine", loss, dv, "bound", {"momentum": momentum}, reset=loss.reset, select=_neg(dv))


def smile_objective(tau: float = 5.0) -> Objective:
    """Trained with the JS f-GAN objective, reports SMILE(tau)."""
    if tau != math.inf:
        tau = check_float("tau", tau, low=0.0, low_open=True)
    name = "smile-inf" if math.isinf(tau) else f"smile-{tau:g}"
    return Objective(name, _neg(js_fgan), partial(smile, tau=tau), "bound", {"tau": tau})


def anchor_objective(
    rule: str = "log",
    *,
    K: int | None = None,
    nu: float = 1.0,
    alpha: float | None = None,
    windows: str = "all",
    name: str | None = None,
) -> Objective:
    """The anchor family: scoring rule ``rule`` on the (K+1)-class problem; reports the plug-in.

    K = None means B - 1 for the batch at hand (B when nu = 0). nu = 0 is InfoNCE's training
    loss, whose plug-in is only identified up to an additive constant; nu > 0 is consistent.
    """
    nu = check_float("nu", nu, low=0.0)
    if K is not None and (isinstance(K, bool) or not isinstance(K, int) or K < 1):
        raise ValueError(f"K must be None (B - 1) or an integer >= 1, got {K!r}")
    get_scoring_rule(rule, alpha)  # validate now, not at the first batch
    check_choice("windows", windows, ("all", "one"))
    if name is None:
        name = "anchor" if rule == "log" else f"anchor-{rule}"
    loss = partial(anchor_loss, K=K, nu=nu, rule=rule, alpha=alpha, windows=windows)
    params = {"rule": rule, "K": K, "nu": nu, "alpha": alpha, "windows": windows}
    return Objective(name, loss, plug_in, "plug-in", params, batched=True)


OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "infonce": infonce_objective,
    "nwj": nwj_objective,
    "dv": dv_objective,
    "mine": mine_objective,
    "js": js_objective,
    "smile-1": partial(smile_objective, tau=1.0),
    "smile-5": partial(smile_objective, tau=5.0),
    "smile-inf": partial(smile_objective, tau=math.inf),
    "nce": nce_objective,
    "chi2": chi2_objective,
    "anchor": anchor_objective,
    "anchor-brier": partial(anchor_objective, "brier"),
    "anchor-spherical": partial(anchor_objective, "spherical"),
    "anchor-pseudo-spherical": partial(anchor_objective, "pseudo-spherical", alpha=1.5),
}
"""Name -> factory. The paper's estimators plus the anchor scoring-rule family."""

ANCHOR_FAMILY: tuple[str, ...] = ("anchor", "anchor-brier", "anchor-spherical", "anchor-pseudo-spherical")
"""The objectives with the anchor weight ``nu`` as a parameter (the rest fix it or have none)."""

STAIRCASE_OBJECTIVES: tuple[str, ...] = (
    "infonce",
    "nwj",
    "dv",
    "mine",
    "js",
    "smile-1",
    "smile-5",
    "smile-inf",
    "nce",
    "chi2",
    "anchor",
)
"""The eleven objectives the paper compares on the MI staircase (Ryu et al. 2025; Lee & Rhee 2024).
SMILE at another clip: ``get_objective("smile-5", tau=2.0)``."""


def get_objective(name: str, **params: Any) -> Objective:
    """Build an objective by name, e.g. ``get_objective("anchor", nu=2.0, K=16)``.

    Raises KeyError listing the valid names for an unknown name, and ValueError naming the
    accepted parameters for a parameter the objective does not take.
    """
    check_choice("objective", name, OBJECTIVES)
    factory = OBJECTIVES[name]
    accepted = [
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "name"
    ]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) or "none"
        raise ValueError(f"objective {name!r} does not take parameter(s) {', '.join(unknown)}; it accepts: {allowed}")
    return factory(**params)
