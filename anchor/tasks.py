"""Benchmark tasks with closed-form MI: Gaussian and Student-t bases behind invertible maps.

A task is a ``Sampler`` (``task.mi`` in nats, ``task.sample(n, seed=...)``) with a ``name`` and a
``family``. Its base distribution is a joint multivariate normal or Student-t of (X, Y) with a
given covariance (scale) matrix, whose MI has a closed form; an invertible map applied to X and
to Y separately leaves the MI unchanged (I(f(X); g(Y)) = I(X; Y) for bijections f, g), so the
transformed tasks keep the base's MI while their densities become non-Gaussian. The suite
follows the design of the "Beyond Normal" benchmark (Czyż, Grabowski, Vogt, Beerenwinkel,
Marx, NeurIPS 2023), with our own parameters.

Closed forms (nats), with Sigma the joint covariance (or scale) matrix of (X, Y):

* normal: I = 1/2 (log det Sigma_XX + log det Sigma_YY - log det Sigma);
* Student-t with nu degrees of freedom (Arellano-Valle, Contreras-Reyes, Genton 2013): the normal
  value of the same Sigma plus c(nu, dx, dy) = g(dx) + g(dy) - g(dx + dy) + log Gamma(nu / 2),
  where g(d) = -log Gamma((nu + d) / 2) + (nu + d) / 2 * (psi((nu + d) / 2) - psi(nu / 2)). The
  correction is positive: a shared chi-square scale ties X and Y even when Sigma is diagonal.

``SUITE`` lists the tasks by name; ``get_task(name)`` builds one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from scipy import special, stats

from ._checks import check_choice, check_float, check_int
from .data import Sampler, mi_to_rho

__all__ = [
    "FAMILIES",
    "SUITE",
    "TRANSFORMS",
    "ClassMixture",
    "SymmetricChannel",
    "Task",
    "dense_covariance",
    "gaussian_mi",
    "get_task",
    "known_mi_table",
    "pairs_covariance",
    "student_t_correction",
    "student_t_mi",
]


def gaussian_mi(cov: np.ndarray, dim_x: int) -> float:
    """MI in nats between the first ``dim_x`` coordinates and the rest of a normal vector with
    covariance ``cov``: 1/2 (log det S_xx + log det S_yy - log det S)."""
    cov = np.asarray(cov, dtype=np.float64)
    logdet = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return 0.5 * (logdet(cov[:dim_x, :dim_x]) + logdet(cov[dim_x:, dim_x:]) - logdet(cov))


def student_t_correction(dof: float, dim_x: int, dim_y: int) -> float:
    """The part of a multivariate Student-t's MI that its shared scale adds to the normal MI."""

    def g(d: int) -> float:
        half = (dof + d) / 2.0
        return -special.gammaln(half) + half * (special.digamma(half) - special.digamma(dof / 2.0))

    return float(g(dim_x) + g(dim_y) - g(dim_x + dim_y) + special.gammaln(dof / 2.0))


def student_t_mi(cov: np.ndarray, dim_x: int, dof: float) -> float:
    """MI in nats of a multivariate Student-t with scale matrix ``cov`` and ``dof`` degrees of freedom."""
    cov = np.asarray(cov, dtype=np.float64)
    return gaussian_mi(cov, dim_x) + student_t_correction(dof, dim_x, cov.shape[0] - dim_x)


def pairs_covariance(dim_x: int, dim_y: int, *, rho: float | list[float], pairs: int | None = None) -> np.ndarray:
    """Covariance of (X, Y) with unit variances where x_i and y_i are correlated with ``rho`` (one
    value, or one per pair) for the first ``pairs`` coordinates (default: all min(dx, dy)); every
    other pair of coordinates is independent. MI = -1/2 sum_i log(1 - rho_i^2)."""
    pairs = min(dim_x, dim_y) if pairs is None else check_int("pairs", pairs, low=0, high=min(dim_x, dim_y))
    rhos = np.broadcast_to(np.asarray(rho, dtype=np.float64), (pairs,))
    cov = np.eye(dim_x + dim_y)
    for i, r in enumerate(rhos):
        cov[i, dim_x + i] = cov[dim_x + i, i] = check_float(
            "rho", float(r), low=-1.0, high=1.0, low_open=True, high_open=True
        )
    return cov


def dense_covariance(dim_x: int, dim_y: int, *, corr: float = 0.5) -> np.ndarray:
    """Equicorrelated (X, Y): unit variances and every pair of the dx + dy coordinates correlated
    with ``corr`` (positive definite for -1 / (dx + dy - 1) < corr < 1)."""
    d = dim_x + dim_y
    corr = check_float("corr", corr, low=-1.0 / (d - 1), high=1.0, low_open=True, high_open=True)
    return (1.0 - corr) * np.eye(d) + corr * np.ones((d, d))


# ---- invertible maps, applied to x and to y separately (float64, shape (n, d)) -------------------


def _half_cube(t: torch.Tensor) -> torch.Tensor:
    return t * t.abs().sqrt()


def _half_cube_inv(t: torch.Tensor) -> torch.Tensor:
    return t.sign() * t.abs() ** (2.0 / 3.0)


def _normal_cdf(t: torch.Tensor) -> torch.Tensor:
    return torch.special.ndtr(t)


def _normal_cdf_inv(t: torch.Tensor) -> torch.Tensor:
    return torch.special.ndtri(t)


WIGGLE = (0.4, 2.0)  # t + a sin(b t) is increasing when a b < 1


def _wiggly(t: torch.Tensor) -> torch.Tensor:
    a, b = WIGGLE
    return t + a * torch.sin(b * t)


def _wiggly_inv(t: torch.Tensor) -> torch.Tensor:
    a, b = WIGGLE
    s = t.clone()
    for _ in range(60):  # Newton on s + a sin(b s) = t; the derivative is at least 1 - a b = 0.2
        s = s - (s + a * torch.sin(b * s) - t) / (1.0 + a * b * torch.cos(b * s))
    return s


SPIRAL_SPEED = 0.5


def _spiral(t: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """Rotate the plane of the first two coordinates by SPIRAL_SPEED * |t|^2 radians. The rotation
    keeps |t|, so rotating back by the same angle inverts it."""
    if t.shape[1] < 2:
        raise ValueError("the spiral needs at least 2 coordinates")
    angle = sign * SPIRAL_SPEED * (t * t).sum(1)
    c, s = torch.cos(angle), torch.sin(angle)
    out = t.clone()
    out[:, 0] = c * t[:, 0] - s * t[:, 1]
    out[:, 1] = s * t[:, 0] + c * t[:, 1]
    return out


def _coupling_weights(d: int) -> list[tuple[torch.Tensor, ...]]:
    """Two affine coupling layers with fixed random weights (seed 0), as in a normalising flow."""
    gen = torch.Generator().manual_seed(0)
    half = d // 2
    layers = []
    for k in range(2):
        n_in, n_out = (half, d - half) if k == 0 else (d - half, half)
        w = torch.randn(n_in, n_out, generator=gen, dtype=torch.float64) / math.sqrt(n_in)
        v = torch.randn(n_in, n_out, generator=gen, dtype=torch.float64) / math.sqrt(n_in)
        b = torch.randn(n_out, generator=gen, dtype=torch.float64)
        layers.append((w, v, b))
    return layers


def _split(t: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    half = t.shape[1] // 2
    return (t[:, :half], t[:, half:]) if k == 0 else (t[:, half:], t[:, :half])


def _join(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    return torch.cat([a, b], 1) if k == 0 else torch.cat([b, a], 1)


def _flow(t: torch.Tensor) -> torch.Tensor:
    """b <- b * exp(0.5 tanh(a W)) + tanh(a V + c), alternating halves a, b: invertible by design."""
    if t.shape[1] < 2:
        raise ValueError("the flow needs at least 2 coordinates")
    for k, (w, v, c) in enumerate(_coupling_weights(t.shape[1])):
        a, b = _split(t, k)
        t = _join(a, b * torch.exp(0.5 * torch.tanh(a @ w)) + torch.tanh(a @ v + c), k)
    return t


def _flow_inv(t: torch.Tensor) -> torch.Tensor:
    for k, (w, v, c) in reversed(list(enumerate(_coupling_weights(t.shape[1])))):
        a, b = _split(t, k)
        t = _join(a, (b - torch.tanh(a @ v + c)) * torch.exp(-0.5 * torch.tanh(a @ w)), k)
    return t


TRANSFORMS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "half-cube": (_half_cube, _half_cube_inv),
    "asinh": (torch.asinh, torch.sinh),
    "normal-cdf": (_normal_cdf, _normal_cdf_inv),
    "wiggly": (_wiggly, _wiggly_inv),
    "spiral": (_spiral, lambda t: _spiral(t, -1.0)),
    "flow": (_flow, _flow_inv),
}
"""Invertible maps of one variable's samples: name -> (map, inverse), on float64 (n, d) tensors."""


class Task(Sampler):
    """A joint normal (``dof=None``) or Student-t distribution of (X, Y) with covariance or scale
    ``cov`` ((dx + dy) square), X the first ``dim_x`` coordinates, optionally behind an invertible
    ``transform`` (a name in ``TRANSFORMS``) applied to X and to Y. ``mi`` is in nats."""

    def __init__(
        self,
        name: str,
        family: str,
        cov: np.ndarray,
        dim_x: int,
        *,
        dof: int | None = None,
        transform: str | None = None,
    ) -> None:
        cov = np.asarray(cov, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or not np.allclose(cov, cov.T):
            raise ValueError(f"cov must be a symmetric square matrix, got shape {cov.shape}")
        self.dim_x = check_int("dim_x", dim_x, low=1, high=cov.shape[0] - 1)
        self.dim_y = cov.shape[0] - self.dim_x
        self.cov = cov
        self._chol = torch.from_numpy(np.linalg.cholesky(cov))  # raises if cov is not positive definite
        if dof is not None:
            dof = check_int("dof", dof, low=1)
        if transform is not None:
            check_choice("transform", transform, TRANSFORMS)
        self.name, self.family, self.dof, self.transform = name, family, dof, transform
        self.mi = gaussian_mi(cov, self.dim_x) if dof is None else student_t_mi(cov, self.dim_x, dof)

    def __repr__(self) -> str:
        base = "normal" if self.dof is None else f"student-t(dof={self.dof})"
        behind = f", behind {self.transform}" if self.transform else ""
        return f"Task({self.name!r}: {base} {self.dim_x}x{self.dim_y}{behind})  # mi={self.mi:.4f} nats"

    def base_sample(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """n draws (float64, (n, dx + dy)) of the base distribution, before the transform."""
        z = torch.randn(n, self.cov.shape[0], generator=generator, device=device, dtype=torch.float64)
        z = z @ self._chol.to(device).T
        if self.dof is not None:  # divide by sqrt(chi2(dof) / dof); chi2 as a sum of dof squared normals
            chi2 = torch.randn(n, self.dof, generator=generator, device=device, dtype=torch.float64).pow(2).sum(1)
            z = z / (chi2 / self.dof).sqrt().unsqueeze(1)
        return z

    def draw(
        self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.base_sample(n, generator, device)
        x, y = z[:, : self.dim_x], z[:, self.dim_x :]
        if self.transform is not None:
            forward = TRANSFORMS[self.transform][0]
            x, y = forward(x), forward(y)
        return x.to(dtype), y.to(dtype)

    def log_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The pointwise MI log p(x, y) / (p(x) p(y)) at observed points (float64), broadcasting
        over leading dimensions: the base distribution's at the untransformed points (the
        Jacobians of the invertible maps cancel between the joint and the marginals)."""
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        lead = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        x = x.expand(*lead, x.shape[-1]).reshape(-1, x.shape[-1]).double().cpu()
        y = y.expand(*lead, y.shape[-1]).reshape(-1, y.shape[-1]).double().cpu()
        if self.transform is not None:
            inverse = TRANSFORMS[self.transform][1]
            x, y = inverse(x), inverse(y)
        values = self.base_log_ratio(x.numpy(), y.numpy())
        return torch.from_numpy(np.asarray(values, dtype=np.float64).reshape(lead))

    def base_log_ratio(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log p(x, y) / (p(x) p(y)) of the base distribution at untransformed points (scipy)."""
        dx = self.dim_x
        if self.dof is None:
            dist = lambda cov: stats.multivariate_normal(cov=cov)  # noqa: E731
        else:
            dist = lambda cov: stats.multivariate_t(shape=cov, df=self.dof)  # noqa: E731
        joint = dist(self.cov).logpdf(np.concatenate([x, y], 1))
        return joint - dist(self.cov[:dx, :dx]).logpdf(x) - dist(self.cov[dx:, dx:]).logpdf(y)


FAMILIES = ("normal", "student-t", "transformed", "high-mi")


def _suite() -> dict[str, Callable[[], Task]]:
    """The task list: name -> builder. Families: normal (dense and sparse covariances),
    student-t (heavy tails), transformed (normal or Student-t behind an invertible map), high-mi
    (k independent correlated pairs, 1 to 8 nats, also behind the spiral)."""
    tasks: dict[str, Callable[[], Task]] = {}

    def add(name: str, family: str, cov: Callable[[], np.ndarray], dim_x: int, **kw) -> None:
        tasks[name] = lambda: Task(name, family, cov(), dim_x, **kw)

    add("normal-1x1", "normal", lambda: pairs_covariance(1, 1, rho=0.75), 1)
    for d in (2, 3, 5, 10, 25):
        add(f"dense-{d}x{d}", "normal", lambda d=d: dense_covariance(d, d, corr=0.5), d)
    for d in (3, 5, 10, 25):
        add(f"sparse-{d}x{d}", "normal", lambda d=d: pairs_covariance(d, d, rho=0.8, pairs=2), d)
    for dof in (1, 2, 3, 5):
        add(f"student-dof{dof}-2x2", "student-t", lambda: pairs_covariance(2, 2, rho=0.5), 2, dof=dof)
    add("student-identity-dof1-2x2", "student-t", lambda: np.eye(4), 2, dof=1)
    add("student-dof3-5x5", "student-t", lambda: pairs_covariance(5, 5, rho=0.5, pairs=2), 5, dof=3)
    add(
        "halfcube-sparse-5x5", "transformed", lambda: pairs_covariance(5, 5, rho=0.8, pairs=2), 5, transform="half-cube"
    )
    add("asinh-student-dof1-2x2", "transformed", lambda: pairs_covariance(2, 2, rho=0.5), 2, dof=1, transform="asinh")
    add("uniform-dense-3x3", "transformed", lambda: dense_covariance(3, 3, corr=0.5), 3, transform="normal-cdf")
    add("wiggly-sparse-5x5", "transformed", lambda: pairs_covariance(5, 5, rho=0.8, pairs=2), 5, transform="wiggly")
    add("spiral-sparse-3x3", "transformed", lambda: pairs_covariance(3, 3, rho=0.8), 3, transform="spiral")
    add("spiral-sparse-5x5", "transformed", lambda: pairs_covariance(5, 5, rho=0.8, pairs=2), 5, transform="spiral")
    add("flow-dense-5x5", "transformed", lambda: dense_covariance(5, 5, corr=0.5), 5, transform="flow")
    add(
        "halfcube-sparse-25x25",
        "transformed",
        lambda: pairs_covariance(25, 25, rho=0.8, pairs=2),
        25,
        transform="half-cube",
    )
    for mi in (1, 2, 4, 6, 8):
        rho = mi_to_rho(dim=5, mi=mi)  # 5 pairs with equal correlation
        add(f"highmi-5pairs-{mi}nat", "high-mi", lambda rho=rho: pairs_covariance(5, 5, rho=rho), 5)
    for mi in (4, 8):
        rho = mi_to_rho(dim=5, mi=mi)
        add(
            f"spiral-highmi-5pairs-{mi}nat",
            "high-mi",
            lambda rho=rho: pairs_covariance(5, 5, rho=rho),
            5,
            transform="spiral",
        )
    return tasks


SUITE: dict[str, Callable[[], Task]] = _suite()
"""Every task of the benchmark suite by name (builders: ``SUITE[name]()`` is the ``Task``)."""


def get_task(name: str) -> Task:
    """The suite's task called ``name`` (see ``SUITE``)."""
    check_choice("task", name, SUITE)
    return SUITE[name]()


class SymmetricChannel(Sampler):
    """Discrete pairs: X uniform on ``symbols`` symbols (0, 1, ...), Y = X with probability
    1 - ``error``, else one of the other symbols uniformly. Exact MI (nats):
    log m - h(error) - error log(m - 1), h the binary entropy. The default (4 symbols, error
    0.15) has 0.799 nats. Values are the integer symbols, as float columns of width 1."""

    family = "discrete"

    def __init__(self, symbols: int = 4, *, error: float = 0.15) -> None:
        self.symbols = check_int("symbols", symbols, low=2)
        self.error = check_float("error", error, low=0.0, high=1.0, high_open=True)
        self.name, self.dim_x, self.dim_y = f"channel-{self.symbols}sym", 1, 1
        e, m = self.error, self.symbols
        entropy = 0.0 if e in (0.0, 1.0) else -(e * math.log(e) + (1 - e) * math.log(1 - e))
        self.mi = math.log(m) - entropy - e * math.log(m - 1)

    def draw(self, n, generator, device, dtype):
        x = torch.randint(self.symbols, (n,), generator=generator, device=device)
        flip = torch.rand(n, generator=generator, device=device) < self.error
        shift = torch.randint(1, self.symbols, (n,), generator=generator, device=device)
        y = torch.where(flip, (x + shift) % self.symbols, x)
        return x[:, None].to(dtype), y[:, None].to(dtype)


class ClassMixture(Sampler):
    """Mixed pairs: a class C uniform on len(``means``) classes (y, the integer class) and a
    continuous x ~ N(means[C], ``sd``^2). I(X; C) = H(C) - E_x[H(C | x)], computed by quadrature
    on a fine grid (error below 1e-8 nats)."""

    family = "mixed"

    def __init__(self, means: tuple[float, ...] = (-2.0, 0.0, 2.0), *, sd: float = 1.0) -> None:
        self.means = np.asarray(means, dtype=np.float64)
        if self.means.ndim != 1 or self.means.size < 2:
            raise ValueError(f"means must list at least 2 class means, got {means!r}")
        self.sd = check_float("sd", sd, low=0.0, low_open=True)
        self.name, self.dim_x, self.dim_y = f"mixture-{self.means.size}class", 1, 1
        grid = np.linspace(self.means.min() - 12 * self.sd, self.means.max() + 12 * self.sd, 200_001)
        log_parts = stats.norm.logpdf(grid[:, None], self.means[None, :], self.sd) - math.log(self.means.size)
        log_mix = special.logsumexp(log_parts, axis=1)
        posterior = np.exp(log_parts - log_mix[:, None])
        conditional = -(posterior * np.log(np.clip(posterior, 1e-300, None))).sum(1)
        density = np.exp(log_mix)
        self.mi = math.log(self.means.size) - float(np.trapezoid(density * conditional, grid))

    def draw(self, n, generator, device, dtype):
        c = torch.randint(self.means.size, (n,), generator=generator, device=device)
        noise = torch.randn(n, generator=generator, device=device, dtype=torch.float64)
        x = torch.as_tensor(self.means, device=device)[c] + self.sd * noise
        return x[:, None].to(dtype), c[:, None].to(dtype)


TABLE_LOADINGS = (0.9, 0.8, 0.6, 0.4, 0.0)
"""Group loadings of ``known_mi_table``: column i of group g is 0.3 G + l_g F_g + noise."""
TABLE_MAPS = ("none", "exp", "cube", "normal-cdf", "wiggly")
"""The monotone map of each column of a group of ``known_mi_table``, in column order (cycled)."""


def known_mi_table(n: int, *, columns: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table with known pairwise MI, and that MI (nats) as a square DataFrame (NaN diagonal).

    Column i belongs to group g = i mod 5 and is 0.3 G + l_g F_g + c_i e_i (G a factor shared by
    all columns, F_g one per group, l_g from ``TABLE_LOADINGS``, unit variance), then goes through
    a strictly increasing map (``TABLE_MAPS``: identity, exp, cube, normal CDF, x + 0.4 sin 2x). The
    columns are jointly normal before the maps, which leave every MI unchanged, so the MI of
    columns i and j is -1/2 log(1 - r_ij^2), r_ij = 0.09 + l_g^2 within a group and 0.09 across
    (0.83 nats down to 0.004 nats); their marginals are far from normal.
    """
    n = check_int("n", n, low=2)
    columns = check_int("columns", columns, low=2)
    groups = np.arange(columns) % len(TABLE_LOADINGS)
    load = np.asarray(TABLE_LOADINGS)[groups]
    corr = np.full((columns, columns), 0.09) + np.where(groups[:, None] == groups[None, :], np.outer(load, load), 0.0)
    np.fill_diagonal(corr, 1.0)
    gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
    z = torch.randn(n, columns, generator=gen, dtype=torch.float64) @ torch.from_numpy(np.linalg.cholesky(corr)).T
    maps = {
        "none": lambda t: t,
        "exp": torch.exp,
        "cube": lambda t: t**3,
        "normal-cdf": _normal_cdf,
        "wiggly": _wiggly,
    }
    names = [f"c{i:02d}" for i in range(columns)]
    frame = pd.DataFrame(
        {
            name: maps[TABLE_MAPS[(i // len(TABLE_LOADINGS)) % len(TABLE_MAPS)]](z[:, i]).numpy()
            for i, name in enumerate(names)
        }
    )
    off = corr - np.eye(columns)  # the diagonal (a column with itself) is not a pair
    truth = -0.5 * np.log1p(-(off**2))
    np.fill_diagonal(truth, np.nan)
    return frame, pd.DataFrame(truth, index=names, columns=names)


STUDENT_T_PAIRS = ((1, 0.0), (2, 0.0), (3, 0.5), (1, 0.5), (5, 0.0), (2, 0.8))
"""(degrees of freedom, correlation) of each column pair of ``student_t_pairs_table``."""


def student_t_pairs_table(n: int, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table of heavy-tailed pairs with known MI, and that MI (nats) as a square DataFrame.

    Columns 2k and 2k + 1 are a bivariate Student-t pair (``STUDENT_T_PAIRS``: dof, correlation),
    the pairs independent of each other. Their dependence is not a Gaussian copula: with
    correlation 0 the MI is still positive (shared tails), so the normal-score correlation finds
    nothing and only a learned critic does. MI from ``student_t_mi``: 0.017 to 0.59 nats within a
    pair, 0 across pairs.
    """
    n = check_int("n", n, low=2)
    gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
    data, names = {}, []
    columns = 2 * len(STUDENT_T_PAIRS)
    truth = np.zeros((columns, columns))
    for k, (dof, r) in enumerate(STUDENT_T_PAIRS):
        task = Task(f"student-dof{dof}-1x1", "student-t", np.array([[1.0, r], [r, 1.0]]), 1, dof=dof)
        pair = task.base_sample(n, gen, torch.device("cpu"))
        a, b = f"t{k}a", f"t{k}b"
        data[a], data[b] = pair[:, 0].numpy(), pair[:, 1].numpy()
        names += [a, b]
        truth[2 * k, 2 * k + 1] = truth[2 * k + 1, 2 * k] = task.mi
    np.fill_diagonal(truth, np.nan)
    return pd.DataFrame(data), pd.DataFrame(truth, index=names, columns=names)
