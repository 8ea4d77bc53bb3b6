"""The Gaussian-copula start of ``estimate_mi``: a closed-form critic that a network refines.

After the per-column normal scores (``anchor.marginals``) many dependences are Gaussian copulas,
whose log density ratio is a quadratic form, known in closed form from the canonical correlations.
With r_i the canonical correlations and u_i = a_i^T x, v_i = b_i^T y the canonical variates (unit
variance)::

    c(x, y) = sum_i [ -1/2 log(1 - r_i^2) - (r_i^2 (u_i^2 + v_i^2) - 2 r_i u_i v_i) / (2 (1 - r_i^2)) ]

which is the log ratio of the Gaussian with those canonical pairs (Anderson 2003, ch. 12); its
mean over joint pairs is -1/2 sum log(1 - r_i^2), the Gaussian MI.

Fitted on a few hundred rows the sample canonical correlations read high (spurious correlations
between unrelated directions), so the copula critic keeps only the leading ``k`` components,
with a ridge ``gamma`` on the within-variable covariances; (k, gamma) is chosen on the
validation pairs by the objective's own held-out criterion (for the anchor a strictly proper
scoring rule), never by the truth. k = 0 is the constant critic c = 0 (independence).

``CopulaCritic`` adds a trainable network to that fixed quadratic, scaled by a learnt ``gate``
that starts at 0: before training it is exactly the copula critic, which is therefore the first
candidate every checkpoint of the network must beat on the validation pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .critics import Critic, Logits, quadratic_logits, quadratic_pairs

RIDGES = (0.0, 0.1, 0.3)
"""Ridge weights gamma tried on the within-variable covariances: S -> (1 - gamma) S + gamma I."""
MAX_R = 0.9999
"""Canonical correlations are capped here so that 1 - r^2 stays positive."""


@dataclass(frozen=True)
class CopulaFit:
    """A Gaussian log-ratio critic as quadratic-form parameters (float32 tensors):
    c(x, y) = x^T weight y + x^T quad_x x + y^T quad_y y + offset, with the ``components`` and
    ``ridge`` it was built from and its validation ``loss``."""

    weight: torch.Tensor
    quad_x: torch.Tensor
    quad_y: torch.Tensor
    offset: torch.Tensor
    components: int
    ridge: float
    loss: float


def canonical_pairs(
    x: torch.Tensor, y: torch.Tensor, *, ridge: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Canonical directions and correlations of centred rows x (n, dx), y (n, dy).

    Returns A (dx, m), B (dy, m) and r (m,), m = min(dx, dy), r descending, such that the
    columns of x A and y B have unit variance under the ridged covariances and correlation r_i
    pairwise (float64)."""
    x, y = x.double(), y.double()
    n = x.shape[0]

    def inv_sqrt(s: torch.Tensor) -> torch.Tensor:
        s = (1.0 - ridge) * s + ridge * torch.eye(s.shape[0], dtype=s.dtype)
        vals, vecs = torch.linalg.eigh(s)
        return vecs @ torch.diag(vals.clamp(min=1e-9).rsqrt()) @ vecs.T

    wx, wy = inv_sqrt(x.T @ x / n), inv_sqrt(y.T @ y / n)
    u, r, vh = torch.linalg.svd(wx @ (x.T @ y / n) @ wy, full_matrices=False)
    return wx @ u, wy @ vh.T, r.clamp(max=MAX_R)


def quadratic_form(
    a: torch.Tensor, b: torch.Tensor, r: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weight, quad_x, quad_y, offset) of the Gaussian log ratio with canonical directions a, b
    and correlations r (see the module docstring); empty r gives c = 0."""
    one_minus = 1.0 - r * r
    weight = a @ torch.diag(r / one_minus) @ b.T
    quad_x = -a @ torch.diag(r * r / (2 * one_minus)) @ a.T
    quad_y = -b @ torch.diag(r * r / (2 * one_minus)) @ b.T
    offset = -0.5 * torch.log(one_minus).sum()
    return weight, quad_x, quad_y, offset


def component_grid(m: int) -> list[int]:
    """Numbers of canonical components tried: 0, 1, 2, 3, 4, then about 1.5 times larger, up to m."""
    grid, k = [], 0
    while k < m:
        grid.append(k)
        k = k + 1 if k < 4 else int(k * 1.5)
    return [*grid, m]


def fit_copula(
    x: torch.Tensor, y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor, select: Callable[[Logits], float]
) -> CopulaFit:
    """The Gaussian-copula critic of training rows x (n, dx), y (n, dy) (normal scores) whose
    (components, ridge) gives the lowest ``select`` on the validation blocks val_x (nb, vb, dx),
    val_y (nb, vb, dy). ``select`` maps a (nb, vb, vb) stack of logits to a float (lower is better)."""
    x, y = x.double().cpu(), y.double().cpu()
    x, y = x - x.mean(0), y - y.mean(0)
    vx, vy = val_x.double().cpu(), val_y.double().cpu()
    best: CopulaFit | None = None
    for ridge in RIDGES:
        a, b, r = canonical_pairs(x, y, ridge=ridge)
        for k in component_grid(r.numel()):
            if k == 0 and ridge != RIDGES[0]:
                continue  # c = 0 whatever the ridge
            form = quadratic_form(a[:, :k], b[:, :k], r[:k])
            loss = select(quadratic_logits(*form, vx, vy).float())
            if best is None or loss < best.loss:
                best = CopulaFit(*(t.float() for t in form), components=k, ridge=ridge, loss=loss)
    assert best is not None
    return best


class CopulaCritic(Critic):
    """c(x, y) = q(x, y) + gate * inner(x, y): a fixed Gaussian-copula quadratic ``q`` (buffers)
    and a trainable critic ``inner`` whose share ``gate`` starts at 0, so the untrained critic is
    exactly the copula critic."""

    def __init__(self, inner: Critic, fit: CopulaFit) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("weight", fit.weight.clone())
        self.register_buffer("quad_x", fit.quad_x.clone())
        self.register_buffer("quad_y", fit.quad_y.clone())
        self.register_buffer("offset", fit.offset.clone().reshape(()))
        self.gate = nn.Parameter(torch.zeros(()))
        self.components, self.ridge = fit.components, fit.ridge

    @property
    def separable(self) -> bool:  # the quadratic adds per-sample terms to a bilinear form: cheap too
        return self.inner.separable

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        base = quadratic_logits(self.weight, self.quad_x, self.quad_y, self.offset, x, y)
        return base + self.gate * self.inner(x, y)

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        base = quadratic_pairs(self.weight, self.quad_x, self.quad_y, self.offset, x, y)
        return base + self.gate * self.inner.pairs(x, y)
