"""The anchor family: proper scoring rules on the (K+1)-class tuple problem built from logits.

For a context y_j the candidates are x_1..x_B, with q1 = p(x | y_j) and q0 = p(x). A tuple is K
candidates; its classes are

- 0, the anchor: all K candidates drawn from q0, prior nu / (K + nu);
- z in 1..K: candidate z drawn from q1, the rest from q0, prior 1 / (K + nu);

and the critic's posterior is eta = softmax([log nu, c(x_1), ..., c(x_K)]) (Ryu et al. 2025).
With nu = 0 the anchor class is dropped and the problem is InfoNCE's K-way classification.

Tuples come from the B x B logits as cyclic windows of K consecutive candidate indices: the window
starting at a holds {a, a+1, ..., a+K-1} (mod B). For context j, a window that contains j is a
positive tuple (its label is x_j's class); one that does not is an anchor tuple (label 0), which
needs K <= B - 1. Positive and anchor tuples therefore always have the same K.

``windows="one"`` uses, per context j, the positive window ending at j and the anchor window
ending at j - 1: for K = B - 1 this is the anchor tuple {x_i : i != j} and the positive tuple that
drops x_{(j+1) mod B}. ``windows="all"`` (default) averages over all B windows per context, i.e.
over every positive and anchor tuple of that shape in the batch: the same expected loss with less
variance, and for K = 1 exactly binary NCE on all B(B-1) off-diagonal pairs.

Every rule here is a function of log eta_z (the label's log-probability) and the power sums
log sum_c eta_c^alpha, and a window's power sum only needs the window's log-sum-exp of alpha * c.
Those are computed for all B^2 windows at once by doubling (log-sum-exp over blocks of 1, 2, 4, ...
rows), so a loss costs O(B^2 log K) and never builds the B^2 x (K+1) tuple tensor. (For K = B - 1
prefix and suffix log-cumulative sums would be O(B^2), but torch's logcumsumexp and its gradient
made a training step three times slower on CPU.) A stack of logits (..., B, B), e.g. one matrix
per critic of an ensemble, gives one loss per matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch

from ._checks import check_choice, check_float, check_int
from .critics import Logits

PowerSum = Callable[[float], torch.Tensor]
"""log_power_sum(alpha) -> log sum_c eta_c^alpha for every tuple, shape (T,)."""

ScoringRule = Callable[[torch.Tensor, PowerSum], torch.Tensor]
"""rule(log_eta_z (T,), log_power_sum) -> loss per tuple (T,); lower is better, strictly proper."""


def log_score(log_eta_z: torch.Tensor, log_power_sum: PowerSum) -> torch.Tensor:
    """-log eta_z."""
    return -log_eta_z


def brier_score(log_eta_z: torch.Tensor, log_power_sum: PowerSum) -> torch.Tensor:
    """||e_z - eta||^2 = 1 - 2 eta_z + sum_c eta_c^2."""
    return 1.0 - 2.0 * log_eta_z.exp() + log_power_sum(2.0).exp()


def pseudo_spherical_score(log_eta_z: torch.Tensor, log_power_sum: PowerSum, alpha: float) -> torch.Tensor:
    """-(eta_z / ||eta||_alpha)^(alpha - 1), in log space."""
    return -torch.exp((alpha - 1.0) * (log_eta_z - log_power_sum(alpha) / alpha))


def spherical_score(log_eta_z: torch.Tensor, log_power_sum: PowerSum) -> torch.Tensor:
    """-eta_z / ||eta||_2 (pseudo-spherical with alpha = 2)."""
    return pseudo_spherical_score(log_eta_z, log_power_sum, 2.0)


SCORING_RULES: dict[str, ScoringRule] = {
    "log": log_score,
    "brier": brier_score,
    "spherical": spherical_score,
    "pseudo-spherical": pseudo_spherical_score,
}


def get_scoring_rule(name: str, alpha: float | None = None) -> ScoringRule:
    """Look up a scoring rule; "pseudo-spherical" needs ``alpha`` > 1, the others take none."""
    check_choice("scoring rule", name, SCORING_RULES)
    if name == "pseudo-spherical":
        if alpha is None:
            raise ValueError("the pseudo-spherical scoring rule needs alpha > 1, got alpha=None")
        return partial(pseudo_spherical_score, alpha=check_float("alpha", alpha, low=1.0, low_open=True))
    if alpha is not None:
        raise ValueError(f"alpha is only used by the pseudo-spherical rule, not by {name!r}")
    return SCORING_RULES[name]


def resolve_k(K: int | None, nu: float, batch_size: int) -> int:
    """The tuple size for a batch: default B - 1 (B when nu = 0); checks 1 <= K <= B - 1 (B if nu = 0)."""
    high = batch_size if nu == 0 else batch_size - 1
    if high < 1:
        raise ValueError(f"the anchor family needs a batch of at least 2 pairs when nu > 0, got B={batch_size}")
    if K is None:
        return high
    return check_int("K" if nu == 0 else "K (with nu > 0, at most B - 1)", K, low=1, high=high)


def window_logsumexp(logits: Logits, K: int) -> torch.Tensor:
    """(..., B, B) -> (..., B, B): out[a, j] = logsumexp_{k < K} logits[(a + k) mod B, j], stable,
    O(B^2 log K) by doubling (log-sum-exp over blocks of 1, 2, 4, ... rows)."""
    result = None
    block, size, shift = logits, 1, 0  # block[a] = lse of rows a .. a + size - 1
    remaining = K
    while remaining:
        if remaining & 1:  # add the block that starts where the covered part ends
            part = torch.roll(block, -shift, dims=-2)
            result = part if result is None else torch.logaddexp(result, part)
            shift += size
        remaining >>= 1
        if remaining:
            block = torch.logaddexp(block, torch.roll(block, -size, dims=-2))
            size *= 2
    return result


def anchor_loss(
    logits: Logits,
    *,
    K: int | None = None,
    nu: float = 1.0,
    rule: str = "log",
    alpha: float | None = None,
    windows: str = "all",
) -> torch.Tensor:
    """Expected scoring-rule loss of the anchor (K+1)-class problem; a scalar to minimise (one per
    matrix for a stack of logits (..., B, B)).

    K/(K+nu) times the mean loss over positive tuples plus nu/(K+nu) times the mean over anchor
    tuples. With the log score, nu = 1 and K = B - 1 this is InfoNCE-anchor; nu = 0 (K = B) is
    the InfoNCE cross-entropy; K = 1, nu = 1 is binary NCE.

    Args:
        logits: (B, B), ``logits[i, j] = c(x_i, y_j)``, or a stack (..., B, B) of such matrices.
        K: tuple size; None means B - 1 (B when nu = 0).
        nu: anchor weight >= 0.
        rule: a name in ``SCORING_RULES``; ``alpha`` for "pseudo-spherical".
        windows: "all" (every cyclic window, default) or "one" (one positive and one anchor tuple
            per context, the literal construction of the paper).
    """
    if logits.ndim < 2 or logits.shape[-2] != logits.shape[-1]:
        raise ValueError(f"logits must be a square (B, B) matrix or a stack of them, got shape {tuple(logits.shape)}")
    nu = check_float("nu", nu, low=0.0)
    check_choice("windows", windows, ("all", "one"))
    score = get_scoring_rule(rule, alpha)
    B = logits.shape[-1]
    K = resolve_k(K, nu, B)
    log_nu = math.log(nu) if nu > 0 else -math.inf

    cache: dict[float, torch.Tensor] = {}

    def log_total(scale: float) -> torch.Tensor:
        """(B, B): log(nu^scale + sum over window (a, j) of r^scale)."""
        if scale not in cache:
            lse = window_logsumexp(scale * logits, K)
            cache[scale] = lse if nu == 0 else torch.logaddexp(lse, torch.full_like(lse, scale * log_nu))
        return cache[scale]

    def log_power_sum(scale: float) -> torch.Tensor:
        return log_total(scale) - scale * log_total(1.0)

    # loss of every window (a, j) as a positive tuple (label x_j) and as an anchor tuple (label 0)
    positive_loss = score(logits.diagonal(dim1=-2, dim2=-1)[..., None, :] - log_total(1.0), log_power_sum)
    anchor_loss_ = score(log_nu - log_total(1.0), log_power_sum) if nu > 0 else None

    idx = torch.arange(B, device=logits.device)
    if windows == "one":  # positive window ends at j, anchor window at j - 1
        pos_mean = positive_loss[..., (idx - K + 1) % B, idx].mean(-1)
        anc_mean = anchor_loss_[..., (idx - K) % B, idx].mean(-1) if nu > 0 else 0.0
    else:
        contains = (idx[None, :] - idx[:, None]) % B < K  # [a, j]: window a holds candidate j
        pos_mean = positive_loss[..., contains].mean(-1)
        anc_mean = anchor_loss_[..., ~contains].mean(-1) if nu > 0 else 0.0
    return K / (K + nu) * pos_mean + nu / (K + nu) * anc_mean
