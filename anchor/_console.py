"""What the package prints to a person: progress bars that suit the output, and Ctrl-C as one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

TERMINAL_INTERVAL = 0.5
"""Seconds between bar updates on a terminal."""
LOG_INTERVAL = 10.0
"""Seconds between bar updates when the output is a pipe or a log file (each update is a line there)."""


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(*args: Any, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar that redraws every ``TERMINAL_INTERVAL`` seconds on a terminal and every
    ``LOG_INTERVAL`` seconds elsewhere (a pipe, a log file, a notebook's stored output), so a
    long run writes a few lines to a log, not hundreds. ``enabled=False`` shows nothing."""
    stream = kwargs.get("file") or sys.stderr
    kwargs.setdefault("mininterval", TERMINAL_INTERVAL if _is_terminal(stream) else LOG_INTERVAL)
    kwargs.setdefault("leave", False)
    return tqdm(*args, disable=not enabled, **kwargs)


def run_command(main: Callable[[Sequence[str] | None], int | None], prog: str) -> int:
    """Run a command's ``main``; Ctrl-C ends it with one line on stderr and exit status 130."""
    try:
        return int(main(None) or 0)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
