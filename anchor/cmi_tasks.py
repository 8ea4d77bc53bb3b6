"""Tasks with closed-form conditional MI I(X; Y | Z): the suite's "conditional" family.

A ``CmiTask`` draws triples (x, y, z) (``task.sample(n, seed=...)``, float64 numpy arrays of
shape (n, d)) and knows ``cmi`` = I(X; Y | Z) and, where it has a closed form, ``mi`` = I(X; Y)
(NaN otherwise), in nats. The kinds (``CMI_KINDS``):

* gaussian: (X, Y, Z) jointly normal with a given covariance. By the chain rule
  I(X; Y | Z) = I(X; (Y, Z)) - I(X; Z), each term the normal MI of ``anchor.tasks.gaussian_mi``,
  i.e. 1/2 (log det S_xz + log det S_yz - log det S_z - log det S_xyz);
* transformed: the same behind invertible maps of X, of Y and of Z, each applied to one variable
  (``anchor.tasks.TRANSFORMS``). A bijection of X or of Y leaves I(X; Y | Z) unchanged, and so
  does a bijection of Z (it conditions on the same information);
* discrete-z: Z uniform on a few classes; given Z = c, (X, Y) is normal with class means and
  correlation rho_c, so I(X; Y | Z) = sum_c P(c) (-1/2 log(1 - rho_c^2)), the mixture of the
  per-class MIs. Z is the integer class, one column;
* explaining-away: X and Y independent normals and Z = X + Y + noise: I(X; Y) = 0 but, once Z
  is known, X tells about Y, I(X; Y | Z) > 0 (normal closed form);
* common-cause: X and Y are noisy functions of a shared Z, so I(X; Y) > 0 but
  I(X; Y | Z) = 0. Linear functions (normal, closed form I(X; Y)) and non-linear ones
  (I(X; Y) has no closed form; a partial correlation reads a dependence that is not there).

``CMI_SUITE`` lists the tasks by name; ``get_cmi_task(name)`` builds one. ``log_ratio(x, y, z)``
is the pointwise conditional MI log p(x, y | z) / (p(x | z) p(y | z)), whose mean over the
task's samples is ``cmi`` (the tests check each closed form by this Monte Carlo average).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

from ._checks import check_choice, check_int, check_seed
from .tasks import TRANSFORMS, gaussian_mi

__all__ = [
    "CMI_KINDS",
    "CMI_SUITE",
    "ClassConditionalTask",
    "CmiTask",
    "GaussianCmiTask",
    "NonlinearCommonCause",
    "gaussian_cmi",
    "get_cmi_task",
]

CMI_KINDS = ("gaussian", "transformed", "discrete-z", "explaining-away", "common-cause")


def gaussian_cmi(cov: np.ndarray, dims: tuple[int, int, int]) -> float:
    """I(X; Y | Z) in nats of a normal (X, Y, Z) with covariance ``cov``, the blocks in that
    order with widths ``dims``: I(X; (Y, Z)) - I(X; Z)."""
    dx, dy, _ = dims
    cov = np.asarray(cov, dtype=np.float64)
    xz = np.r_[0:dx, dx + dy : cov.shape[0]]
    return gaussian_mi(cov, dx) - gaussian_mi(cov[np.ix_(xz, xz)], dx)


class CmiTask:
    """Triples (x, y, z) with a known I(X; Y | Z) (``cmi``) and, where known, I(X; Y) (``mi``;
    NaN otherwise), both in nats; ``dims`` = (dx, dy, dz). Subclasses implement ``draw``."""

    name: str
    kind: str
    family = "conditional"
    dims: tuple[int, int, int]
    cmi: float
    mi: float = math.nan

    def sample(self, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n triples x (n, dx), y (n, dy), z (n, dz) as float64 arrays. Same seed, same samples."""
        n = check_int("n", n, low=1)
        generator = torch.Generator().manual_seed(check_seed(seed))
        x, y, z = self.draw(n, generator)
        return x.numpy(), y.numpy(), z.numpy()

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # pragma: no cover - abstract

    def log_ratio(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """log p(x, y | z) / (p(x | z) p(y | z)) at each triple (float64, shape (n,))."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        dx, dy, dz = self.dims
        return f"{type(self).__name__}({self.name!r}: {self.kind} {dx}x{dy}|{dz})  # cmi={self.cmi:.4f} nats"


class GaussianCmiTask(CmiTask):
    """(X, Y, Z) normal with covariance ``cov`` (blocks X, Y, Z of widths ``dims``), optionally
    behind an invertible map (a name in ``anchor.tasks.TRANSFORMS``) applied to each of X, Y and
    Z separately (``transforms``: one name or None per variable)."""

    def __init__(
        self,
        name: str,
        kind: str,
        cov: np.ndarray,
        dims: tuple[int, int, int],
        *,
        transforms: tuple[str | None, str | None, str | None] = (None, None, None),
    ) -> None:
        check_choice("kind", kind, CMI_KINDS)
        cov = np.asarray(cov, dtype=np.float64)
        if cov.shape != (sum(dims), sum(dims)) or not np.allclose(cov, cov.T):
            raise ValueError(f"cov must be a symmetric {sum(dims)}x{sum(dims)} matrix, got shape {cov.shape}")
        for t in transforms:
            if t is not None:
                check_choice("transforms", t, TRANSFORMS)
        self.name, self.kind, self.cov, self.dims, self.transforms = name, kind, cov, tuple(dims), tuple(transforms)
        self._chol = torch.from_numpy(np.linalg.cholesky(cov))  # raises if cov is not positive definite
        self.cmi = gaussian_cmi(cov, self.dims)
        self.mi = gaussian_mi(cov[: dims[0] + dims[1], : dims[0] + dims[1]], dims[0])

    def _split(self, v: np.ndarray | torch.Tensor) -> tuple:
        dx, dy, _ = self.dims
        return v[:, :dx], v[:, dx : dx + dy], v[:, dx + dy :]

    def draw(self, n, generator):
        v = torch.randn(n, self.cov.shape[0], generator=generator, dtype=torch.float64) @ self._chol.T
        parts = self._split(v)
        return tuple(p if t is None else TRANSFORMS[t][0](p) for p, t in zip(parts, self.transforms, strict=True))

    def log_ratio(self, x, y, z):
        parts = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (x, y, z)]
        x, y, z = (
            (p if t is None else TRANSFORMS[t][1](p)).numpy() for p, t in zip(parts, self.transforms, strict=True)
        )
        dx, dy, _ = self.dims
        d = self.cov.shape[0]

        def logpdf(idx: np.ndarray, values: np.ndarray) -> np.ndarray:
            return stats.multivariate_normal(cov=self.cov[np.ix_(idx, idx)]).logpdf(values)

        ix, iy, iz = np.r_[0:dx], np.r_[dx : dx + dy], np.r_[dx + dy : d]
        joint = logpdf(np.r_[ix, iy, iz], np.concatenate([x, y, z], 1))
        xz = logpdf(np.r_[ix, iz], np.concatenate([x, z], 1))
        yz = logpdf(np.r_[iy, iz], np.concatenate([y, z], 1))
        return joint + logpdf(iz, z) - xz - yz


class ClassConditionalTask(CmiTask):
    """Z uniform on len(``rhos``) classes; given Z = c, X ~ N(means[c], 1) and Y ~ N(-means[c], 1)
    with correlation rhos[c]. I(X; Y | Z) = mean_c -1/2 log(1 - rhos[c]^2); I(X; Y) has no
    closed form (NaN). Z is the integer class."""

    kind = "discrete-z"

    def __init__(self, name: str, rhos: tuple[float, ...], means: tuple[float, ...]) -> None:
        if len(rhos) != len(means) or len(rhos) < 2:
            raise ValueError(f"rhos and means need one entry per class (at least 2), got {rhos!r} and {means!r}")
        if not all(-1 < r < 1 for r in rhos):
            raise ValueError(f"every rho must lie in (-1, 1), got {rhos!r}")
        self.name, self.dims = name, (1, 1, 1)
        self.rhos, self.means = np.asarray(rhos, dtype=np.float64), np.asarray(means, dtype=np.float64)
        self.cmi = float(np.mean(-0.5 * np.log1p(-(self.rhos**2))))

    def draw(self, n, generator):
        c = torch.randint(len(self.rhos), (n,), generator=generator)
        e = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        rho, mean = torch.as_tensor(self.rhos)[c], torch.as_tensor(self.means)[c]
        x = mean + e[:, 0]
        y = -mean + rho * e[:, 0] + (1 - rho**2).sqrt() * e[:, 1]
        return x[:, None], y[:, None], c[:, None].double()

    def log_ratio(self, x, y, z):
        c = np.asarray(z, dtype=np.int64)[:, 0]
        rho, mean = self.rhos[c], self.means[c]
        u, v = np.asarray(x)[:, 0] - mean, np.asarray(y)[:, 0] + mean
        return -0.5 * np.log1p(-(rho**2)) - (rho**2 * (u**2 + v**2) - 2 * rho * u * v) / (2 * (1 - rho**2))


class NonlinearCommonCause(CmiTask):
    """Z ~ N(0, 1), X = Z^2 / 2 + ``noise`` e1, Y = sin(2 Z) + Z^2 / 2 + ``noise`` e2: X and Y depend on
    each other only through Z, so I(X; Y | Z) = 0 exactly; I(X; Y) > 0 has no closed form (NaN).
    X and Y are not linear in Z, so conditioning on Z linearly (a partial correlation) leaves a
    spurious dependence."""

    kind = "common-cause"

    def __init__(self, name: str = "common-cause-nonlinear", noise: float = 0.3) -> None:
        self.name, self.dims, self.noise, self.cmi = name, (1, 1, 1), float(noise), 0.0

    def draw(self, n, generator):
        z = torch.randn(n, 1, generator=generator, dtype=torch.float64)
        e = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return z**2 / 2 + self.noise * e[:, :1], torch.sin(2 * z) + z**2 / 2 + self.noise * e[:, 1:], z

    def log_ratio(self, x, y, z):
        return np.zeros(np.asarray(x).shape[0])


def _cov(dims: tuple[int, int, int], corr: dict[tuple[str, str], float]) -> np.ndarray:
    """Unit variances; every coordinate of block a correlated with every coordinate of block b
    by corr[(a, b)] (blocks "x", "y", "z"; within a block by corr[(a, a)], default 0)."""
    names = [name for name, d in zip("xyz", dims, strict=True) for _ in range(d)]
    cov = np.eye(len(names))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                cov[i, j] = corr.get((a, b), corr.get((b, a), 0.0))
    return cov


def _explaining_away(noise: float) -> np.ndarray:
    """X, Y ~ N(0, 1) independent, Z = X + Y + noise e."""
    return np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0 + noise**2]])


def _common_cause(loading: float) -> np.ndarray:
    """Z ~ N(0, 1), X = loading Z + e1, Y = loading Z + e2 (unit variances): X and Y independent given Z."""
    a = loading
    return np.array([[1.0, a * a, a], [a * a, 1.0, a], [a, a, 1.0]])


def _suite() -> dict[str, Callable[[], CmiTask]]:
    tasks: dict[str, Callable[[], CmiTask]] = {}

    def gaussian(name: str, kind: str, cov: Callable[[], np.ndarray], dims, transforms=(None, None, None)) -> None:
        tasks[name] = lambda: GaussianCmiTask(name, kind, cov(), dims, transforms=transforms)

    small = {("x", "y"): 0.6, ("x", "z"): 0.5, ("y", "z"): 0.5}
    confounded = {("x", "y"): 0.5, ("x", "z"): 0.3, ("y", "z"): 0.3, ("z", "z"): 0.2, ("x", "x"): 0.2}
    gaussian("gaussian-1x1x1", "gaussian", lambda: _cov((1, 1, 1), small), (1, 1, 1))
    gaussian("gaussian-2x2x2", "gaussian", lambda: _cov((2, 2, 2), confounded), (2, 2, 2))
    gaussian("gaussian-2x2x5", "gaussian", lambda: _cov((2, 2, 5), confounded), (2, 2, 5))
    gaussian("halfcube-2x2x2", "transformed", lambda: _cov((2, 2, 2), confounded), (2, 2, 2), ("half-cube",) * 3)
    gaussian("wiggly-1x1x1", "transformed", lambda: _cov((1, 1, 1), small), (1, 1, 1), ("wiggly", "wiggly", "asinh"))
    tasks["discrete-z-3class"] = lambda: ClassConditionalTask("discrete-z-3class", (0.0, 0.6, 0.9), (-1.5, 0.0, 1.5))
    gaussian("explaining-away", "explaining-away", lambda: _explaining_away(0.5), (1, 1, 1))
    gaussian(
        "explaining-away-wiggly",
        "explaining-away",
        lambda: _explaining_away(0.5),
        (1, 1, 1),
        ("wiggly", "half-cube", "asinh"),
    )
    gaussian("common-cause-linear", "common-cause", lambda: _common_cause(0.8), (1, 1, 1))
    tasks["common-cause-nonlinear"] = lambda: NonlinearCommonCause("common-cause-nonlinear")
    return tasks


CMI_SUITE: dict[str, Callable[[], CmiTask]] = _suite()
"""Every task of the conditional family by name (builders: ``CMI_SUITE[name]()`` is the task)."""


def get_cmi_task(name: str) -> CmiTask:
    """The conditional task called ``name`` (see ``CMI_SUITE``)."""
    check_choice("task", name, CMI_SUITE)
    return CMI_SUITE[name]()
