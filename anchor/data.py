"""Samplers with known mutual information, and the MI staircase schedule.

A sampler draws paired samples ``x, y = sampler.sample(n, seed=...)`` of shapes (n, dim_x) and
(n, dim_y) and knows its true MI in nats (``sampler.mi``). Samplers with a closed-form density
ratio also expose ``log_ratio(x, y) = log p(x, y) / (p(x) p(y))``, broadcasting over leading
dimensions, which the oracle critic uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ._checks import check_device, check_float, check_int, check_seed

LN2 = math.log(2.0)


def bits_to_nats(bits: float) -> float:
    """Convert an information quantity from bits to nats."""
    return bits * LN2


def nats_to_bits(nats: float) -> float:
    """Convert an information quantity from nats to bits."""
    return nats / LN2


def mi_to_rho(*, dim: int, mi: float) -> float:
    """Correlation rho of the Gaussian sampler whose MI is ``mi`` nats over ``dim`` coordinates.

    Inverts I = -(dim / 2) log(1 - rho^2). In float64 rho reaches 1 (and the MI infinity) at
    about 18 nats per coordinate; a larger ``mi`` is refused.
    """
    dim = check_int("dim", dim, low=1)
    mi = check_float("mi", mi, low=0.0)
    rho = math.sqrt(-math.expm1(-2.0 * mi / dim))
    if rho >= 1.0 or 1.0 - rho * rho <= 0.0:
        largest = -0.5 * dim * math.log1p(-(math.nextafter(1.0, 0.0) ** 2))
        raise ValueError(
            f"mi = {mi:g} nats is too large for {dim} coordinate pair(s): the correlation rounds to 1 in float64; "
            f"mi must be below about {largest:.0f} nats here (about 18 per coordinate)"
        )
    return rho


def rho_to_mi(*, dim: int, rho: float) -> float:
    """MI in nats of ``dim`` independent coordinate pairs with correlation ``rho``."""
    dim = check_int("dim", dim, low=1)
    rho = check_float("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)
    return -0.5 * dim * math.log1p(-rho * rho)


def _generator(seed: int | None, generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    if generator is not None:
        if seed is not None:
            raise ValueError("pass either seed or generator, not both")
        return generator
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()  # fresh entropy for this generator alone; the caller's global state is untouched
    else:
        gen.manual_seed(check_seed(seed))
    return gen


class Sampler:
    """Paired samples with a known MI (``mi``, nats) and widths ``dim_x``, ``dim_y``.

    Subclasses implement ``draw(n, generator, device, dtype)``; ``sample`` checks the arguments
    and makes the generator, so every sampler is reproducible the same way.
    """

    mi: float
    dim_x: int
    dim_y: int

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw n joint pairs x (n, dim_x), y (n, dim_y). Same seed, same samples."""
        n = check_int("n", n, low=1)
        device = check_device(device)
        return self.draw(n, _generator(seed, generator, device), device, dtype)

    def draw(
        self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # pragma: no cover - abstract


class GaussianSampler(Sampler):
    """x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) e with e ~ N(0, I_d): I = -(d/2) log(1 - rho^2).

    Give exactly one of ``mi`` (nats) or ``rho``. This is the Lee & Rhee (2024) Gaussian task.
    """

    name = "gaussian"

    def __init__(self, dim: int = 10, *, mi: float | None = None, rho: float | None = None) -> None:
        self.dim = check_int("dim", dim, low=1)
        if (mi is None) == (rho is None):
            raise ValueError(f"give exactly one of mi (nats) or rho, got mi={mi!r} and rho={rho!r}")
        if rho is None:
            rho = mi_to_rho(dim=self.dim, mi=mi)
        self.rho = check_float("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)
        self.mi = rho_to_mi(dim=self.dim, rho=self.rho)
        self.dim_x = self.dim_y = self.dim

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, rho={self.rho:.6g})  # mi={self.mi:.4f} nats"

    def draw(
        self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, self.dim, generator=generator, device=device, dtype=dtype)
        e = torch.randn(n, self.dim, generator=generator, device=device, dtype=dtype)
        y = self.rho * x + math.sqrt(1.0 - self.rho**2) * e
        return x, self.transform(y)

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        """The invertible map applied to y (identity here); it leaves the MI unchanged."""
        return y

    def inverse_transform(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def log_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(x, y) / (p(x) p(y)) for x (..., dim), y (..., dim), broadcast; returns (...).

        Per coordinate: -1/2 log(1 - rho^2) - (y - rho x)^2 / (2 (1 - rho^2)) + y^2 / 2. An
        invertible map of y changes p(x, y) and p(y) by the same Jacobian, so the ratio is taken
        at the untransformed y.
        """
        y = self.inverse_transform(y)
        one_minus = 1.0 - self.rho**2
        per_coord = -0.5 * math.log(one_minus) - (y - self.rho * x) ** 2 / (2.0 * one_minus) + 0.5 * y**2
        return per_coord.sum(dim=-1)


class CubicSampler(GaussianSampler):
    """The Gaussian sampler with y replaced by y^3 (Lee & Rhee's cubic task; same MI)."""

    name = "cubic"

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        return y**3

    def inverse_transform(self, y: torch.Tensor) -> torch.Tensor:
        return torch.sign(y) * y.abs() ** (1.0 / 3.0)


SAMPLERS: dict[str, type[GaussianSampler]] = {"gaussian": GaussianSampler, "cubic": CubicSampler}

STAIRCASE_BITS: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0)


@dataclass
class Staircase:
    """A piecewise-constant MI schedule: level k holds for ``steps_per_level`` training steps.

    ``make(mi_nats)`` builds the sampler of one level, e.g. ``lambda mi: GaussianSampler(10, mi=mi)``.
    The paper's protocol is 2, 4, 6, 8, 10 bits with 4,000 steps each.
    """

    make: Callable[[float], Sampler]
    bits: Sequence[float] = STAIRCASE_BITS
    steps_per_level: int = 4000
    samplers: list = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.steps_per_level = check_int("steps_per_level", self.steps_per_level, low=1)
        if len(self.bits) == 0:
            raise ValueError("bits must list at least one MI level")
        self.bits = tuple(check_float("bits", b, low=0.0) for b in self.bits)
        self.samplers = [self.make(bits_to_nats(b)) for b in self.bits]

    @property
    def steps(self) -> int:
        """Total number of steps over all levels."""
        return self.steps_per_level * len(self.bits)

    def level(self, step: int) -> int:
        """Index of the level that ``step`` (0-based) belongs to."""
        step = check_int("step", step, low=0, high=self.steps - 1)
        return step // self.steps_per_level

    def sampler_at(self, step: int) -> Sampler:
        return self.samplers[self.level(step)]

    def mi_at(self, step: int) -> float:
        """True MI in nats at ``step``."""
        return self.sampler_at(step).mi


def gaussian_staircase(
    dim: int = 10, *, bits: Sequence[float] = STAIRCASE_BITS, steps_per_level: int = 4000, cubic: bool = False
) -> Staircase:
    """The Lee & Rhee Gaussian (or cubic) staircase."""
    cls = CubicSampler if cubic else GaussianSampler
    return Staircase(make=lambda mi: cls(dim, mi=mi), bits=bits, steps_per_level=steps_per_level)
