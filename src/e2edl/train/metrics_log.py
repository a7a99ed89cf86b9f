"""Where metrics go: always ``metrics.jsonl`` in the run folder, and every logger asked for
(TensorBoard, W&B: ``e2edl.train.loggers``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from e2edl.atomic import write_text
from e2edl.train.loggers.protocol import Logger, RunInfo


class MetricsLog:
    """Append one JSON object per line to ``run_dir/metrics.jsonl``, and hand each record to the
    ``loggers``. ``tensorboard=True`` adds a :class:`~e2edl.train.loggers.TensorBoardLogger`.

    ``restart(records)`` rewrites the file with exactly ``records``: a resumed run drops what an
    interrupted run logged after its last checkpoint, so the file matches the weights. ``fit``
    calls ``start`` when there is training to do, ``log`` once per record, ``finish`` when the
    training ended normally and ``close`` always (see ``e2edl.train.loggers.protocol``).
    """

    def __init__(
        self, run_dir: str | Path | None, tensorboard: bool = False, loggers: Sequence[Logger] = ()
    ) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.path = self.run_dir / "metrics.jsonl" if self.run_dir is not None else None
        if isinstance(loggers, (str, Logger)):
            raise TypeError("loggers takes a list of loggers, e.g. loggers=[TensorBoardLogger()]")
        self.loggers = list(loggers)
        if tensorboard:
            if run_dir is None:
                raise ValueError("tensorboard=True needs a run folder (run_dir)")
            from e2edl.train.loggers.tensorboard import TensorBoardLogger

            self.loggers.append(TensorBoardLogger())
        for logger in self.loggers:
            if not isinstance(logger, Logger):
                raise TypeError(
                    f"{type(logger).__name__} is not a logger: it needs start, log, finish and close "
                    "(see e2edl.train.loggers.protocol)"
                )
        self.started = False

    def restart(self, records: list[dict]) -> None:
        if self.path is not None:
            write_text(self.path, "".join(json.dumps(r) + "\n" for r in records))

    def start(self, run: RunInfo) -> None:
        """Start every logger (before the first record; ``log`` does it if nobody did)."""
        self.started = True
        for logger in self.loggers:
            logger.start(run)

    def log(self, record: dict) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        if self.loggers and not self.started:
            self.start(RunInfo(self.run_dir, None, None, start_step=0, resumed=False))
        for logger in self.loggers:
            logger.log(record)

    def finish(self, checkpoint: Path | None) -> None:
        """Training ended normally: each logger's last word (artifacts, tables, hparams)."""
        if self.started:
            for logger in self.loggers:
                logger.finish(checkpoint)

    def close(self) -> None:
        """Close every logger, even when one of them fails to (the first error is raised after)."""
        if not self.started:
            return
        self.started = False
        error = None
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as failure:  # noqa: BLE001 — the others must still close
                error = error or failure
        if error is not None:
            raise error
