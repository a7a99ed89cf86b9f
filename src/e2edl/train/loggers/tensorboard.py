"""TensorBoard: scalars for every record, and — when asked — histograms of the weights, the
sample predictions as an image, and the run's settings in the hparams view.

Everything goes to one folder (``run_dir/tensorboard`` unless told otherwise), which is what
``tensorboard --logdir`` reads; several runs side by side: ``tensorboard --logdir runs/``.
TensorBoard stores scalars as float32: a value read back equals ``float32(value)`` of the
record, not the float64 in ``metrics.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

from e2edl.train.loggers.protocol import RunInfo, flat_config, numeric
from e2edl.train.loggers.samples import PredictionSamples

AXES = ("epoch", "step")  # the x-axis of a record, not a value to plot


class TensorBoardLogger:
    """``fit(..., loggers=[TensorBoardLogger()])``; ``fit(..., tensorboard=True)`` is the same.

    ``histograms``: a histogram of every parameter at each record (costly for big models: the
    experiment-tracking lesson measures it). ``samples``: at the end, the sample images titled
    true→predicted (or the texts as a table). ``hparams``: at the end, the run's config and its
    last scores in the HPARAMS tab, where runs compare as rows.
    """

    def __init__(
        self,
        log_dir: str | Path | None = None,
        *,
        histograms: bool = False,
        samples: PredictionSamples | None = None,
        hparams: bool = True,
    ) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.histograms = histograms
        self.samples = samples
        self.hparams = hparams
        self.writer = None
        self.last: dict = {}

    def start(self, run: RunInfo) -> None:
        if self.log_dir is None:
            if run.run_dir is None:
                raise ValueError("TensorBoard logging needs a run folder (run_dir) or a log_dir")
            self.log_dir = run.run_dir / "tensorboard"
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: pip install 'e2edl[tracking]'"
            ) from None
        # A resumed run drops what the interrupted one wrote after its checkpoint (purge_step), as
        # metrics.jsonl is rewound; a fresh run in a used folder drops everything (purge from step
        # 0), as metrics.jsonl is rewritten: the curves then show each step once, of this run.
        purge_step = run.start_step + 1 if run.resumed else 0
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)
        self.model, self.config = run.model, run.config

    def log(self, record: dict) -> None:
        if self.writer is None:
            raise RuntimeError("TensorBoardLogger.log before start: pass it to fit(loggers=[...])")
        step = record.get("step", record.get("epoch", 0))
        for key, value in numeric(record, skip=AXES).items():
            self.writer.add_scalar(key, value, step)
        if self.histograms and self.model is not None:
            for name, parameter in self.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", parameter.detach().float().cpu(), step)
        self.writer.flush()
        self.last = record

    def finish(self, checkpoint: Path | None) -> None:
        step = self.last.get("step", 0)
        if self.samples is not None and self.model is not None:
            rows = self.samples.rows(self.model)
            if self.samples.texts is None:
                from e2edl.figures import image_grid

                titles = [f"{r['true']}→{r['predicted']}" for r in rows]
                figure = image_grid(
                    [r["shown"] for r in rows], titles, ncols=8, title="samples: true→predicted"
                )
                self.writer.add_figure("predictions", figure, step)  # closes the figure
            else:
                lines = ["| text | true | predicted | confidence |", "|---|---|---|---|"]
                lines += [
                    f"| {r['shown'][:200]} | {r['true']} | {r['predicted']} | {r['confidence']} |"
                    for r in rows
                ]
                self.writer.add_text("predictions", "\n".join(lines), step)
        if self.hparams and self.config:
            self._write_hparams()
        self.writer.flush()

    def _write_hparams(self) -> None:
        """The HPARAMS tab: this run's settings against its scores. The scores are the scalar tags
        already written (their last values), so nothing is written twice."""
        from torch.utils.tensorboard.summary import hparams

        scores = numeric(self.last, skip=AXES + ("seconds", "elapsed"))
        experiment, start, end = hparams(flat_config(self.config), {key: None for key in scores})
        writer = self.writer._get_file_writer()
        for summary in (experiment, start, end):
            writer.add_summary(summary)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a TensorBoard folder, read with TensorBoard's own reader:
    ``{tag: [(step, value), ...]}`` (values as TensorBoard stored them: float32)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_tags(log_dir: str | Path) -> dict[str, list[str]]:
    """What a TensorBoard folder holds, by kind: ``{"scalars": [...], "histograms": [...],
    "images": [...], ...}`` — TensorBoard's own reader again."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {kind: sorted(tags) for kind, tags in events.Tags().items() if isinstance(tags, list)}
