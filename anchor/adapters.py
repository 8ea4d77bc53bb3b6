"""``estimate_mi`` behind the interface of other benchmark code.

``BeyondNormalEstimator`` has the methods of the point estimators of the Beyond Normal benchmark
package (``bmi``; Czyż et al., NeurIPS 2023): ``estimate(x, y) -> float`` (nats),
``estimate_with_info(x, y)`` and ``parameters()``, so ``estimate_mi`` drops into code written for
those estimators::

    estimator = anchor.adapters.BeyondNormalEstimator(seed=1)
    mi = estimator.estimate(x, y)
"""

from __future__ import annotations

from typing import Any

from .estimate import Estimate, estimate_mi


class BeyondNormalEstimator:
    """``estimate_mi`` with fixed keyword arguments (``objective``, ``critic``, ``seed``, ...);
    always in nats, without progress bars or warnings (they stay in ``estimate_with_info``)."""

    def __init__(self, **estimate_params: Any) -> None:
        for fixed in ("unit", "progress", "warn"):
            if fixed in estimate_params:
                raise ValueError(f"BeyondNormalEstimator fixes {fixed!r}; pass the other estimate_mi arguments")
        self._params = dict(estimate_params)

    def parameters(self) -> dict[str, Any]:
        """The ``estimate_mi`` arguments this estimator uses (beyond its defaults)."""
        return dict(self._params)

    def estimate_with_info(self, x: Any, y: Any) -> Estimate:
        """The full ``Estimate`` (interval, self-checks, history)."""
        return estimate_mi(x, y, unit="nats", progress=False, warn=False, **self._params)

    def estimate(self, x: Any, y: Any) -> float:
        """The MI estimate in nats."""
        return float(self.estimate_with_info(x, y).mi)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"BeyondNormalEstimator({args})"
