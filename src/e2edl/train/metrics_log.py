"""Where metrics go: always ``metrics.jsonl`` in the run folder, TensorBoard when asked."""

from __future__ import annotations

import json
from pathlib import Path

from e2edl.atomic import write_text


class MetricsLog:
    """Append one JSON object per line to ``run_dir/metrics.jsonl`` (and TensorBoard scalars).

    ``restart(records)`` rewrites the file with exactly ``records``: a resumed run drops what an
    interrupted run logged after its last checkpoint, so the file matches the weights. ``fit``
    calls ``log`` once per record; another tracker (W&B) is one more sink beside TensorBoard's.
    """

    def __init__(self, run_dir: str | Path | None, tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / "metrics.jsonl" if run_dir is not None else None
        self.writer = None
        if tensorboard:
            if run_dir is None:
                raise ValueError("tensorboard=True needs a run folder (run_dir)")
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ImportError(
                    "TensorBoard logging needs the tensorboard package: pip install 'e2edl[tracking]'"
                ) from None
            self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def restart(self, records: list[dict]) -> None:
        if self.path is not None:
            write_text(self.path, "".join(json.dumps(r) + "\n" for r in records))

    def log(self, record: dict) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            step = record.get("step", record.get("epoch", 0))
            for key, value in record.items():
                if key not in ("epoch", "step") and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
