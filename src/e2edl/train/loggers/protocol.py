"""What a logger is to ``fit``: four calls, and what it is told when the run starts.

``fit`` always writes ``metrics.jsonl``; every other sink (TensorBoard, W&B, one of your own) is a
:class:`Logger` passed as ``fit(..., loggers=[...])``. A logger imports its tracker in ``start``,
never at import time, so a run that asks for none imports none.

The calls, in order: ``start`` once there is training to do (a fresh run, or a resumed one that is
not finished); ``log`` once per record, with the same dict that goes to ``metrics.jsonl``;
``finish`` when training ended normally (the final checkpoint is written); ``close`` always, last,
also after an error or an interrupted run — a tracker must then mark its run as failed, and a
resumed ``fit`` will continue it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from torch import nn


@dataclass(frozen=True)
class RunInfo:
    """What ``fit`` tells each logger when training starts."""

    run_dir: Path | None  # the run folder (metrics.jsonl, checkpoint.pt); None: nothing on disk
    config: dict | None  # the recipe's settings, as stored in the checkpoint
    model: nn.Module | None  # as given to fit (not wrapped by DDP/FSDP); None outside fit
    start_step: int  # 0 for a fresh run; the checkpoint's step for a resumed one
    resumed: bool  # True when fit continued from a checkpoint


@runtime_checkable
class Logger(Protocol):
    """A sink for ``fit``'s records. See the module docstring for when each call comes."""

    def start(self, run: RunInfo) -> None: ...

    def log(self, record: dict) -> None: ...

    def finish(self, checkpoint: Path | None) -> None: ...

    def close(self) -> None: ...


def numeric(record: dict, skip: tuple[str, ...] = ()) -> dict[str, float]:
    """The record's numbers (bools and text left out), without the keys in ``skip``."""
    return {
        key: value
        for key, value in record.items()
        if key not in skip and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def flat_config(config: dict | None, prefix: str = "") -> dict[str, int | float | str | bool]:
    """A nested config as one level of plain values (``{"optim": {"lr": 1}}`` → ``{"optim.lr": 1}``);
    lists and tuples become their text, ``None`` the text ``"None"`` — what hparams views accept."""
    flat: dict[str, int | float | str | bool] = {}
    for key, value in (config or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, prefix=f"{name}."))
        elif isinstance(value, (int, float, str, bool)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat
