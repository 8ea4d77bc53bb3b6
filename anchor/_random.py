"""Seeding inside library calls without touching the caller's random state."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])


def keeps_global_rng(func: F) -> F:
    """Run ``func`` on a fork of torch's global random state (CPU and every CUDA device): it may
    call ``torch.manual_seed`` for its own reproducibility, and the caller's state is restored when
    it returns or raises."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
