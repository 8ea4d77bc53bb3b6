"""Monte Carlo checks of the theory with the true critic: no training, exact up to sampling error.

- ``oracle_infonce``: InfoNCE with the true log ratio as critic and K candidates per tuple. Its
  expectation is the K-way Jensen-Shannon divergence D_KJS(K) (Ryu et al. 2025), strictly below I
  for every finite K and at most log K on every tuple; it approaches I only as K grows.
- ``anchor_interpolation``: the InfoNCE-anchor objective with nu = beta * K turned into a value
  in nats, for critics c = scale * log r + offset, beside the DV and NWJ values of the same
  critic. As K -> infinity it tends to E_p[c] - (1 + beta) log((beta + E_q[e^c]) / (1 + beta)),
  which runs from DV (beta -> 0) to NWJ (beta -> infinity) (Ryu et al. 2025, Theorem 10).

Samplers must provide ``sample`` and ``log_ratio`` (``anchor.GaussianSampler``,
``anchor.CubicSampler``). Everything runs in float64 and in chunks of tuples, so K can be in the
thousands.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
import torch

from ._checks import check_float, check_int, check_seed

CHUNK_VALUES = 1 << 22  # log ratios held at once (32 MiB in float64)


def _check_sampler(sampler: Any) -> None:
    if not (callable(getattr(sampler, "sample", None)) and callable(getattr(sampler, "log_ratio", None))):
        raise ValueError(f"sampler must provide sample(n, ...) and log_ratio(x, y), got {sampler!r}")


def tuple_log_ratios(
    sampler: Any, K: int, n_tuples: int, *, seed: int = 0, chunk: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Log ratios of contrastive tuples, in chunks: yields (positive (m,), negatives (m, K)).

    For each tuple a context y and its partner x ~ p(x | y) give ``positive`` = log r(x, y);
    ``negatives[:, k]`` = log r(x_k, y) for K candidates x_k ~ p(x) drawn independently of y. A
    tuple of InfoNCE with K candidates is the positive plus the first K - 1 negatives; the anchor
    class's tuple is all K negatives. float64; reproducible for a seed.
    """
    _check_sampler(sampler)
    K = check_int("K", K, low=1)
    n_tuples = check_int("n_tuples", n_tuples, low=2)
    chunk = max(1, CHUNK_VALUES // K) if chunk is None else check_int("chunk", chunk, low=1)
    generator = torch.Generator().manual_seed(check_seed(seed))
    for start in range(0, n_tuples, chunk):
        m = min(chunk, n_tuples - start)
        x, y = sampler.sample(m, generator=generator, dtype=torch.float64)
        x_neg, _ = sampler.sample(m * K, generator=generator, dtype=torch.float64)
        negatives = sampler.log_ratio(x_neg.reshape(m, K, -1), y[:, None, :])
        yield sampler.log_ratio(x, y), negatives


def oracle_infonce(sampler: Any, K: int, *, n_tuples: int = 20000, seed: int = 0) -> dict[str, float]:
    """InfoNCE with the true critic and K candidates (positive included), by Monte Carlo.

    Per tuple the value is v = log K + log r_1 - log sum_k r_k <= log K; its mean estimates
    D_KJS(K). Two quantities with known means serve as control variates (coefficients fitted by
    least squares on the same tuples): log r_1 - I (E_p[log r] = I) and the negatives' mean ratio
    minus 1 (E_q[r] = 1). At large K, where v is close to log r_1 - log of the negatives' mean,
    they remove almost all of the sampling noise, so the small gap I - D_KJS(K) stays resolvable.
    Returns K, mi (I), value, stderr (nats), plain (the mean of v without control variates) and
    max_tuple (the largest per-tuple v, which can never exceed log K).
    """
    K = check_int("K", K, low=2)
    values, controls = [], []
    for positive, negatives in tuple_log_ratios(sampler, K - 1, n_tuples, seed=seed):
        scores = torch.cat([positive[:, None], negatives], dim=1)
        values.append(math.log(K) + positive - torch.logsumexp(scores, dim=1))
        controls.append(torch.stack([positive - sampler.mi, negatives.exp().mean(dim=1) - 1.0], dim=1))
    v, c = torch.cat(values), torch.cat(controls)
    coef = torch.linalg.lstsq(c - c.mean(0), (v - v.mean())[:, None]).solution[:, 0]
    adjusted = v - c @ coef
    n = v.numel()
    return {
        "K": K,
        "mi": float(sampler.mi),
        "value": float(adjusted.mean()),
        "stderr": float(adjusted.std() / math.sqrt(n)),
        "plain": float(v.mean()),
        "max_tuple": float(v.max()),
    }


def anchor_interpolation(
    sampler: Any,
    *,
    K: int,
    betas: Sequence[float],
    critics: Sequence[tuple[float, float]] = ((1.0, 0.0),),
    n_tuples: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """The anchor objective with nu = beta * K as a value in nats, for critics c = scale * log r + offset.

    For each critic (scale, offset) and beta > 0, the InfoNCE-anchor log loss L of tuples of K
    candidates with nu = beta * K is estimated by Monte Carlo (positive tuples: the partner plus
    K - 1 candidates from p(x); anchor tuples: K candidates from p(x); both for the same context)
    and reported as ``value`` = -(1 + beta) L + log K + (1 + beta) log(1 + beta) - beta log beta,
    the normalisation under which its K -> infinity limit is

        ``limit`` = E_p[c] - (1 + beta) log((beta + E_q[e^c]) / (1 + beta)),

    which runs from ``dv`` = E_p[c] - log E_q[e^c] (beta -> 0) down to ``nwj`` =
    E_p[c] - E_q[e^c] + 1 (beta -> infinity; NWJ in the log-ratio form, ``anchor.objectives.tuba``). The
    moments are estimated on the same samples, so dv >= limit >= nwj holds exactly for them; at
    the true critic (scale 1, offset 0) all three equal I. Returns one row per critic and beta
    with columns scale, offset, beta, K, value, stderr, limit, dv, nwj, mi.
    """
    K = check_int("K", K, low=1)
    betas = [check_float("betas", b, low=0.0, low_open=True) for b in betas]
    if not betas:
        raise ValueError("betas must hold at least one beta > 0")
    critics = [(check_float("critic scale", s), check_float("critic offset", a)) for s, a in critics]
    if not critics:
        raise ValueError("critics must hold at least one (scale, offset) pair")
    chunks = list(tuple_log_ratios(sampler, K, n_tuples, seed=seed))
    rows = []
    for scale, offset in critics:
        pos_c, pos_lse, anc_lse, neg_lse, neg_count = [], [], [], [], 0
        for positive, negatives in chunks:
            c_pos = scale * positive + offset
            c_neg = scale * negatives + offset
            pos_c.append(c_pos)
            pos_lse.append(torch.logaddexp(c_pos, torch.logsumexp(c_neg[:, : K - 1], dim=1)) if K > 1 else c_pos)
            anc_lse.append(torch.logsumexp(c_neg, dim=1))
            neg_lse.append(torch.logsumexp(c_neg.flatten(), dim=0))
            neg_count += c_neg.numel()
        c_pos, pos_lse, anc_lse = torch.cat(pos_c), torch.cat(pos_lse), torch.cat(anc_lse)
        mean_c = float(c_pos.mean())
        mean_exp = float(torch.logsumexp(torch.stack(neg_lse), dim=0).exp() / neg_count)
        dv_value = mean_c - math.log(mean_exp)
        nwj_value = mean_c - mean_exp + 1.0
        for beta in betas:
            nu = beta * K
            log_nu = torch.tensor(math.log(nu), dtype=torch.float64)
            positive_loss = -c_pos + torch.logaddexp(pos_lse, log_nu)  # -log eta_partner
            anchor_loss = torch.logaddexp(anc_lse, log_nu) - log_nu  # -log eta_0
            per_tuple = K / (K + nu) * positive_loss + nu / (K + nu) * anchor_loss
            constant = math.log(K) + (1 + beta) * math.log1p(beta) - beta * math.log(beta)
            values = -(1 + beta) * per_tuple + constant
            rows.append(
                {
                    "scale": scale,
                    "offset": offset,
                    "beta": beta,
                    "K": K,
                    "value": float(values.mean()),
                    "stderr": float(values.std() / math.sqrt(values.numel())),
                    "limit": mean_c - (1 + beta) * math.log((beta + mean_exp) / (1 + beta)),
                    "dv": dv_value,
                    "nwj": nwj_value,
                    "mi": float(sampler.mi),
                }
            )
    return pd.DataFrame(rows)
