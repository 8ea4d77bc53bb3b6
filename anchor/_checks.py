"""Argument checks that fail with one clear sentence: the argument, its value, what is allowed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

SEED_MAX = 2**63 - 1  # torch's generators take up to 2**64 - 1; the margin covers per-fold offsets


def _plural(word: str) -> str:
    return word if word.endswith("s") else f"{word}s"


def check_choice(name: str, value: Any, allowed: Any, *, what: str | None = None) -> None:
    """Raise KeyError if ``value`` is not one of ``allowed`` (listed in the message).

    ``what`` names one item when ``name`` is a collection argument, e.g.
    ``check_choice("estimators", "nwjj", OBJECTIVES, what="objective")`` says
    "unknown objective 'nwjj' in estimators; valid objectives are: ...".
    """
    try:
        known = value in allowed
    except TypeError:  # unhashable, e.g. a list where a name belongs
        known = False
    if not known:
        options = ", ".join(repr(a) for a in sorted(allowed))
        where = f" in {name}" if what else ""
        raise KeyError(f"unknown {what or name} {value!r}{where}; valid {_plural(what or name)} are: {options}")


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


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**63 - 1]."""
    return check_int(name, value, low=0, high=SEED_MAX)


def check_device(value: Any, name: str = "device") -> torch.device:
    """A torch device that exists here: "cpu", "cuda", "cuda:1", "mps" or a torch.device."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda', got {value!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ValueError(
                f"{name}={value!r} asks for CUDA, which is not available here (torch {torch.__version__}, {built}); "
                "use device='cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={value!r} asks for Apple's MPS, which is not available here; use device='cpu'")
    return device


def as_matrix(name: str, array: Any) -> torch.Tensor:
    """Convert a numpy array or torch tensor of shape (n, d) to a float tensor; reject others.

    Integer input is converted to float32; floating input keeps its dtype. NaN or infinite
    entries are rejected because every estimator silently propagates them.
    """
    if isinstance(array, torch.Tensor):
        tensor = array.detach()
    elif isinstance(array, np.ndarray):
        if array.dtype.kind not in "biufc":
            raise ValueError(
                f"{name} must hold numbers, got a numpy array of dtype {array.dtype} (strings, dates or Python "
                f"objects); convert it first, e.g. {name}.astype(float)"
            )
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
    if tensor.shape[1] == 0:
        raise ValueError(f"{name} has no columns (shape {tuple(tensor.shape)}); it needs at least one feature")
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
