"""Critics: networks that score every (x_i, y_j) pair of a batch.

The one tensor convention of the package::

    logits = critic(x, y)          # x (B, dx), y (B, dy) -> logits (B, B)
    logits[i, j] == c(x_i, y_j)    # diagonal: joint pairs; off-diagonal: product of marginals

and ``critic.pairs(x, y)`` returns only the aligned scores c(x_i, y_i), shape (n,), which is what
a plug-in estimate on held-out data needs (O(n) instead of O(n^2)). A critic knows nothing about
objectives. The density-ratio model is r = exp(c).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ._checks import check_choice, check_float, check_int

Logits = torch.Tensor
"""(B, B) score matrix with ``logits[i, j] = c(x_i, y_j)``; the diagonal holds the joint pairs."""

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def mlp(in_dim: int, out_dim: int, *, width: int = 256, depth: int = 3, activation: str = "relu") -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units: in -> width, (depth - 1) x (width -> width), -> out.

    The default (width 256, depth 3, ReLU) is the Lee & Rhee / SMILE critic network.
    """
    in_dim = check_int("in_dim", in_dim, low=1)
    out_dim = check_int("out_dim", out_dim, low=1)
    width = check_int("width", width, low=1)
    depth = check_int("depth", depth, low=1)
    check_choice("activation", activation, ACTIVATIONS)
    layers: list[nn.Module] = []
    for k in range(depth):
        layers += [nn.Linear(in_dim if k == 0 else width, width), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class Critic(nn.Module):
    """Base class: subclasses implement ``forward`` (all B^2 pairs) and ``pairs`` (aligned pairs).

    ``separable`` is True for critics whose B^2 scores are dot products of per-sample embeddings,
    so scoring many product pairs costs little (``estimate_mi``'s normalisation check uses more)."""

    separable: bool = False

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:  # pragma: no cover - abstract
        raise NotImplementedError

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores c(x_i, y_i) of aligned pairs, x (n, dx), y (n, dy) -> (n,)."""
        raise NotImplementedError  # pragma: no cover - abstract


class JointCritic(Critic):
    """c(x, y) = MLP([x; y]): one network on the concatenated pair, evaluated on all B^2 pairs.

    The first layer is linear, so W [x; y] + b = W_x x + (W_y y + b): each sample is projected
    once, O(B d H), and the B^2 pre-activations are a broadcast sum; only the later layers run on
    B^2 rows. The weights are those of the plain concatenated MLP ``self.net``.
    """

    def __init__(self, dim_x: int, dim_y: int, *, width: int = 256, depth: int = 3, activation: str = "relu") -> None:
        super().__init__()
        self.dim_x = check_int("dim_x", dim_x, low=1)
        self.dim_y = check_int("dim_y", dim_y, low=1)
        self.net = mlp(self.dim_x + self.dim_y, 1, width=width, depth=depth, activation=activation)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        first: nn.Linear = self.net[0]
        w_x, w_y = first.weight[:, : self.dim_x], first.weight[:, self.dim_x :]
        px = x @ w_x.T  # (B, H)
        py = torch.addmm(first.bias, y, w_y.T)  # (B, H)
        pre = px[:, None, :] + py[None, :, :]  # (B, B, H); [i, j] = first layer of (x_i, y_j)
        return self.net[1:](pre).squeeze(-1)  # (B, B)

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)

    def tiled(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        """The reference evaluation, same weights: all B^2 concatenated pairs [x_i; y_j] through the MLP.

        This is how the public SMILE / Lee & Rhee code evaluates a concat critic: it materialises a
        (B^2, dim_x + dim_y) input and runs every layer, the first included, on B^2 rows, which
        costs O(B^2 (dim_x + dim_y) H) in the first layer. ``forward`` computes the same logits;
        this one exists to test that and to benchmark against it (``benchmarks/joint_critic.py``).
        """
        B_x, B_y = x.shape[0], y.shape[0]
        pairs = torch.cat([x[:, None, :].expand(B_x, B_y, -1), y[None, :, :].expand(B_x, B_y, -1)], dim=-1)
        return self.net(pairs.reshape(B_x * B_y, -1)).reshape(B_x, B_y)


class SeparableCritic(Critic):
    """c(x, y) = <g(x), h(y)> / temperature with two MLP encoders to ``embed_dim`` dimensions.

    ``cosine=True`` normalises both embeddings to unit length first (the SimCLR critic); then a
    temperature around 0.1-0.5 is usual. Costs O(B) network evaluations instead of O(B^2).
    """

    separable = True

    def __init__(
        self,
        dim_x: int,
        dim_y: int,
        *,
        embed_dim: int = 32,
        width: int = 256,
        depth: int = 3,
        activation: str = "relu",
        temperature: float = 1.0,
        cosine: bool = False,
    ) -> None:
        super().__init__()
        embed_dim = check_int("embed_dim", embed_dim, low=1)
        self.g = mlp(dim_x, embed_dim, width=width, depth=depth, activation=activation)
        self.h = mlp(dim_y, embed_dim, width=width, depth=depth, activation=activation)
        self.temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        self.cosine = bool(cosine)

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gx, hy = self.g(x), self.h(y)
        if self.cosine:
            gx, hy = nn.functional.normalize(gx, dim=-1), nn.functional.normalize(hy, dim=-1)
        return gx, hy

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        gx, hy = self.embed(x, y)
        return gx @ hy.T / self.temperature

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gx, hy = self.embed(x, y)
        return (gx * hy).sum(dim=-1) / self.temperature


class BilinearCritic(Critic):
    """c(x, y) = x^T W y, W (dx, dy) learned, initialised at zero (c = 0: independence)."""

    def __init__(self, dim_x: int, dim_y: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(check_int("dim_x", dim_x, low=1), check_int("dim_y", dim_y, low=1)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        return x @ self.weight @ y.T

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((x @ self.weight) * y).sum(dim=-1)


class InnerProductCritic(Critic):
    """c(x, y) = <x, y> / temperature, with no parameters; x and y must have the same width."""

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_float("temperature", temperature, low=0.0, low_open=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        return x @ y.T / self.temperature

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x * y).sum(dim=-1) / self.temperature


def quadratic_logits(
    weight: torch.Tensor,
    quad_x: torch.Tensor,
    quad_y: torch.Tensor,
    offset: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
) -> Logits:
    """x^T W y + x^T P x + y^T Q y + b on all pairs: (..., B, dx), (..., B, dy) -> (..., B, B)."""
    qx = ((x @ quad_x) * x).sum(-1)
    qy = ((y @ quad_y) * y).sum(-1)
    return (x @ weight) @ y.transpose(-1, -2) + qx[..., :, None] + qy[..., None, :] + offset


def quadratic_pairs(
    weight: torch.Tensor,
    quad_x: torch.Tensor,
    quad_y: torch.Tensor,
    offset: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """The same form on aligned pairs: (n, dx), (n, dy) -> (n,)."""
    return ((x @ weight) * y).sum(-1) + ((x @ quad_x) * x).sum(-1) + ((y @ quad_y) * y).sum(-1) + offset


class QuadraticCritic(Critic):
    """c(x, y) = x^T W y + x^T P x + y^T Q y + b: contains the Gaussian sampler's exact log ratio.

    All parameters start at zero except the offset ``b``, which starts at ``offset`` (default 0).
    Used to check identifiability: a consistent objective must move ``b`` to the true offset
    wherever it starts, while InfoNCE leaves it (and ``Q``) exactly where they started.
    """

    def __init__(self, dim_x: int, dim_y: int, *, offset: float = 0.0) -> None:
        super().__init__()
        dim_x, dim_y = check_int("dim_x", dim_x, low=1), check_int("dim_y", dim_y, low=1)
        self.weight = nn.Parameter(torch.zeros(dim_x, dim_y))
        self.quad_x = nn.Parameter(torch.zeros(dim_x, dim_x))
        self.quad_y = nn.Parameter(torch.zeros(dim_y, dim_y))
        self.offset = nn.Parameter(torch.tensor(check_float("offset", offset)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        return quadratic_logits(self.weight, self.quad_x, self.quad_y, self.offset, x, y)

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return quadratic_pairs(self.weight, self.quad_x, self.quad_y, self.offset, x, y)


class OracleCritic(Critic):
    """The true log density ratio of a sampler: c(x, y) = log p(x, y) / (p(x) p(y)).

    ``sampler`` must have ``log_ratio(x, y)`` that broadcasts over leading dimensions. No
    parameters; for tests and theory figures.
    """

    def __init__(self, sampler: Any) -> None:
        super().__init__()
        if not callable(getattr(sampler, "log_ratio", None)):
            raise ValueError(f"sampler must provide log_ratio(x, y) for an oracle critic, got {sampler!r}")
        self.sampler = sampler

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        return self.sampler.log_ratio(x[:, None, :], y[None, :, :])

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.sampler.log_ratio(x, y)


CRITICS: dict[str, type[Critic]] = {
    "joint": JointCritic,
    "separable": SeparableCritic,
    "bilinear": BilinearCritic,
    "quadratic": QuadraticCritic,
}


def get_critic(name: str, dim_x: int, dim_y: int, **params: Any) -> Critic:
    """Build a trainable critic by name ("joint", "separable", "bilinear", "quadratic").

    ``params`` go to the critic's constructor (e.g. width, depth, activation, embed_dim); one it
    does not take is refused with the list of those it does.
    """
    check_choice("critic", name, CRITICS)
    accepted = [p for p in inspect.signature(CRITICS[name]).parameters if p not in ("dim_x", "dim_y")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"critic {name!r} does not take parameter(s) {', '.join(unknown)} (critic_params); "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    return CRITICS[name](dim_x, dim_y, **params)
