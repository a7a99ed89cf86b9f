"""Claims: the numbers a lesson's text promises, checked against what a run measured.

Two kinds:

- ``kind="value"`` (accuracy, loss, an equality): a property of the code and the data. It holds on
  any machine, so a miss fails ``e2edl run`` and the notebook.
- ``kind="timing"`` (seconds to 98%, a speed ratio): a fact about the *reference machine*, the one
  whose full run wrote the README's table. A run elsewhere reports it next to the reference's
  number and never fails because of it — unless asked to (``e2edl run --strict-timing``), which
  is what the README's full run does.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
KINDS = ("value", "timing")


@dataclass(frozen=True)
class Claim:
    """``metric op threshold``, with one threshold for quick mode and one for full mode.

    Example: ``Claim("test_accuracy", ">=", quick=0.90, full=0.98, text="test accuracy")``.
    ``quick=None`` claims nothing in quick mode. Timing claims are full-mode only: quick runs are
    short, and CI's machines are shared.
    """

    metric: str
    op: str
    quick: float | None
    full: float
    text: str = ""
    kind: str = "value"

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"claim op must be one of {sorted(_OPS)}, got {self.op!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "timing" and self.quick is not None:
            raise ValueError(f"timing claim {self.metric!r} is full-mode only: give quick=None")

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
        return {
            "metric": self.metric,
            "op": self.op,
            "threshold": threshold,
            "value": value,
            "ok": ok,
            "kind": self.kind,
        }


def counts(row: dict, strict_timing: bool = False) -> bool:
    """Whether a claim row decides the verdict: value claims always, timing claims when strict."""
    return row.get("kind", "value") != "timing" or strict_timing
