"""Claims: the numbers a lesson's text promises, checked against what a run measured."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Claim:
    """``metric op threshold``, with one threshold for quick mode and one for full mode.

    Example: ``Claim("test_accuracy", ">=", quick=0.90, full=0.98, text="test accuracy")``.
    ``quick=None`` claims nothing in quick mode — for wall-clock claims, which belong to a full run
    on a known machine, not to CI's quick runs on a shared one.
    """

    metric: str
    op: str
    quick: float | None
    full: float
    text: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"claim op must be one of {sorted(_OPS)}, got {self.op!r}")

    def threshold(self, quick: bool) -> float | None:
        return self.quick if quick else self.full

    def applies(self, quick: bool) -> bool:
        return self.threshold(quick) is not None

    def check(self, metrics: dict, quick: bool) -> dict:
        """One row of ``result.json``'s ``claims`` list. A missing or NaN metric fails the claim."""
        threshold = self.threshold(quick)
        value = metrics.get(self.metric)
        ok = (
            isinstance(value, (int, float))
            and not (isinstance(value, float) and math.isnan(value))
            and bool(_OPS[self.op](value, threshold))
        )
        return {"metric": self.metric, "op": self.op, "threshold": threshold, "value": value, "ok": ok}
