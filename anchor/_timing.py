"""How long sweeps took, in the words a person reads: one line per sweep of runs trained now and read
from the cache, each with its training time."""

from __future__ import annotations

from collections.abc import Mapping


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "42 s", "27.4 min", "4.1 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def sweep_time_line(total: int, trained: Mapping[int, float], earlier: Mapping[int, float | None]) -> str:
    """One line on how a sweep's ``total`` runs came about: those trained now and those read from
    the cache, each group with its training time summed over its runs (with parallel workers the
    wall time is shorter)."""
    parts = []
    if trained:
        parts.append(f"{len(trained)} trained now ({duration(sum(trained.values()))})")
    if earlier:
        known = [v for v in earlier.values() if v is not None]
        missing = len(earlier) - len(known)
        if not known:
            when = "no training time recorded"
        else:
            when = f"trained earlier in {duration(sum(known))}"
            if missing:
                when += f"; {missing} of them with no time recorded"
        parts.append(f"{len(earlier)} read from the cache ({when})")
    done = len(trained) + len(earlier)
    line = (
        f"sweep: {total} run{'' if total == 1 else 's'}"
        if done == total
        else f"sweep stopped after {done} of {total} runs"
    )
    if parts:
        line += ": " + ", ".join(parts)
    if trained or any(v is not None for v in earlier.values()):
        line += "; times are summed over runs"
    return line
