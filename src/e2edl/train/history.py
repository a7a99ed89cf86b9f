"""What training leaves behind: one record per evaluation, and the questions asked of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class History:
    """What ``fit`` returns: one record per evaluation — at the end of each epoch, and every
    ``eval_every`` steps if asked — the lines of ``metrics.jsonl``."""

    records: list[dict] = field(default_factory=list)
    run_dir: Path | None = None

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    def series(self, key: str) -> list[float]:
        """``history.series("val_accuracy")`` → that value for every record that has it."""
        return [r[key] for r in self.records if key in r]

    def seconds_to(self, target: float, key: str = "val_accuracy", offset: float = 0.0) -> float | None:
        """Training seconds (``elapsed`` + ``offset``) at the first record whose ``key`` reached
        ``target``; ``None`` if none did. ``offset`` adds time spent outside ``fit`` (loading data)."""
        for record in self.records:
            if record.get(key, float("-inf")) >= target:
                return record["elapsed"] + offset
        return None
