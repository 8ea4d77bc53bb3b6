"""Argument checks that fail with one clear sentence: the argument, its value, what is allowed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def check_choice(name: str, value: Any, allowed: Any) -> None:
    """Raise KeyError if ``value`` is not one of ``allowed`` (listed in the message)."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in sorted(allowed))
        raise KeyError(f"unknown {name} {value!r}; valid {name}s are: {options}")


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in [low, high], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float if it is finite and inside the interval, else raise ValueError."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be a finite number in {left}{lo}, {hi}{right}, got {value!r}")
    return value


def as_matrix(name: str, array: Any) -> torch.Tensor:
    """Convert a numpy array or torch tensor of shape (n, d) to a float tensor; reject others.

    Integer input is converted to float32; floating input keeps its dtype. NaN or infinite
    entries are rejected because every estimator silently propagates them.
    """
    if isinstance(array, torch.Tensor):
        tensor = array.detach()
    elif isinstance(array, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        raise ValueError(f"{name} must be a numpy array or torch tensor of shape (n, d), got {type(array).__name__}")
    if tensor.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n, d), got {tensor.ndim}-D shape {tuple(tensor.shape)}; "
            "reshape 1-D data with x.reshape(-1, 1)"
        )
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        rows = torch.nonzero(bad.any(dim=1)).flatten()
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values (first in row {int(rows[0])}); "
            "drop or impute those rows first"
        )
    return tensor


def check_pairs(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate paired samples x (n, dx) and y (n, dy): 2-D, finite, same n."""
    xt, yt = as_matrix("x", x), as_matrix("y", y)
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples (rows), got x: {xt.shape[0]} and y: {yt.shape[0]}"
        )
    return xt, yt
