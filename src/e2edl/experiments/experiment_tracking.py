"""The experiment-tracking lesson's experiment: two recipes of the mnist-mlp lesson's MLP, logged
to ``metrics.jsonl``, TensorBoard and W&B (offline), then compared *from the logs*.

- **Two runs** (``e2edl.recipes.experiment_tracking.RECIPES``: AdamW with one-cycle, SGD with
  momentum at a constant rate) on the first 10,000 (quick) or all 55,000 training images, checked
  on the validation split twice per epoch; the notebook trains them in the open into
  ``out/adamw-one-cycle`` and ``out/momentum-constant`` and this run reuses them.
- **Read back**: every value of each ``metrics.jsonl`` is looked up in TensorBoard's event files
  (TensorBoard's reader; equal after a float32 cast) and in the offline W&B run (W&B's reader,
  ``wandb leet inspect``; equal as logged). The curves, the run table, a weight histogram and the
  sample predictions come from those logs.
- **Cost of logging**: milliseconds per record for each sink, against a training step's.

The better recipe by validation accuracy meets the test set once, at the end.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.mnist import MNIST
from e2edl.figures import Table
from e2edl.recipes.experiment_tracking import (
    QUICK_RECIPES,
    RECIPES,
    TRAIN_IMAGES,
    logging_cost,
    train_tracked,
)
from e2edl.train.loggers import read_runs, read_scalars
from e2edl.train.predict import predict_logits

AXES = ("epoch", "step")


def _jsonl(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _compare_with_logs(run_dir: Path) -> dict:
    """Look every value of ``metrics.jsonl`` up in TensorBoard and in W&B; count what differs."""
    records = _jsonl(run_dir)
    scalars = {tag: dict(points) for tag, points in read_scalars(run_dir / "tensorboard").items()}
    runs = read_runs(run_dir)
    history = {row["_step"]: row for run in runs for row in run.history}
    compared = tensorboard_wrong = wandb_wrong = 0
    for record in records:
        for key, value in record.items():
            if key in AXES:
                continue
            compared += 1
            tensorboard_wrong += scalars.get(key, {}).get(record["step"]) != float(np.float32(value))
            wandb_wrong += history.get(record["step"], {}).get(key) != value
    return {
        "records": records,
        "compared": compared,
        "tensorboard_mismatches": tensorboard_wrong,
        "wandb_mismatches": wandb_wrong,
        "wandb_runs": runs,
    }


def _curves(logs: dict[str, dict]) -> plt.Figure:
    """Validation accuracy and training loss of both runs against the optimiser step, from their
    ``metrics.jsonl``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, log in logs.items():
        steps = [r["step"] for r in log["records"]]
        left.plot(steps, [r["val_accuracy"] for r in log["records"]], marker="o", ms=3, label=name)
        right.plot(steps, [r["train_loss"] for r in log["records"]], marker="o", ms=3, label=name)
    left.set(xlabel="optimiser step", ylabel="validation accuracy", title="Read back from metrics.jsonl")
    right.set(
        xlabel="optimiser step", ylabel="training loss (log scale)", yscale="log", title="Training loss"
    )
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _run_table(logs: dict[str, dict]) -> Table:
    """One row per run: its settings (from the W&B run's config) and its scores (from metrics.jsonl)."""
    rows = []
    for name, log in logs.items():
        config = log["wandb_runs"][0].config
        best = max(log["records"], key=lambda r: r["val_accuracy"])
        rows.append(
            {
                "run": name,
                "optimizer": config["optimizer"],
                "lr": config["lr"],
                "schedule": config["schedule"],
                "weight decay": config["weight_decay"],
                "epochs": config["epochs"],
                "best val accuracy": best["val_accuracy"],
                "at step": best["step"],
                "last val loss": log["records"][-1]["val_loss"],
                "train seconds": log["records"][-1]["elapsed"],
            }
        )
    formats = {"best val accuracy": ".4f", "last val loss": ".4f", "train seconds": ".1f", "lr": "g"}
    return Table(
        rows,
        title="The runs, read back from their logs (settings: W&B; scores: metrics.jsonl)",
        formats=formats,
    )


def _tensorboard_pictures(run_dir: Path) -> tuple[plt.Figure, plt.Figure]:
    """The first layer's weight histogram at the first and the last record, and the sample
    predictions image, both as TensorBoard stored them."""
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"histograms": 0, "images": 0})
    events.Reload()
    tag = sorted(t for t in events.Tags()["histograms"] if t.endswith("weight"))[0]
    histograms = events.Histograms(tag)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    shown = ((histograms[0], "first record"), (histograms[-1], "last record"))
    low = min(event.histogram_value.min for event, _ in shown)
    high = max(event.histogram_value.max for event, _ in shown)
    edges = np.linspace(low, high, 61)  # the same 60 equal bins for both
    for event, label in shown:
        h = event.histogram_value
        # TensorBoard's buckets are exponentially spaced (narrow near zero, wide far from it):
        # re-bin them into equal widths, reading the cumulative count at the new edges.
        limits = np.clip([h.min, *h.bucket_limit], h.min, h.max)
        cumulative = np.concatenate([[0.0], np.cumsum(h.bucket)])
        counts = np.diff(np.interp(edges, limits, cumulative))
        ax.stairs(counts / h.num, edges, label=f"{label} (step {event.step})")
    ax.set(
        xlabel="weight value",
        ylabel="share of the weights (60 equal bins)",
        title=f"TensorBoard's histogram of {tag}",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()

    image = events.Images("predictions")[-1]
    samples = plt.figure(figsize=(8, 3.0))
    plt.imshow(Image.open(io.BytesIO(image.encoded_image_string)))
    plt.axis("off")
    samples.suptitle(f"TensorBoard's 'predictions' image, step {image.step}, read back", fontsize=9)
    samples.subplots_adjust(top=0.88, bottom=0.0)
    return fig, samples


def run(cfg: RunConfig) -> dict:
    data = MNIST.load(train_subset=TRAIN_IMAGES[cfg.mode])
    recipes = QUICK_RECIPES if cfg.quick else RECIPES
    fit_options = {**cfg.fit_options("unused"), "tensorboard": False}
    fit_options.pop("run_dir")
    models, logs = {}, {}
    for name, recipe in recipes.items():
        models[name], _ = train_tracked(data, name, recipe, run_dir=cfg.out / name, **fit_options)
        logs[name] = _compare_with_logs(cfg.out / name)

    best = max(logs, key=lambda name: max(r["val_accuracy"] for r in logs[name]["records"]))
    histogram, samples = _tensorboard_pictures(cfg.out / best)

    cost = logging_cost(models[best], cfg.out / "logging-cost")
    step_ms = cost.pop("one training step")
    cost_rows = [
        {"logged per record": sink, "ms per record": ms, "× a training step": ms / step_ms}
        for sink, ms in cost.items()
    ]
    cost_table = Table(
        cost_rows,
        title=f"What one record costs each sink ({best}'s MLP; one training step, batch 256: {step_ms:.1f} ms)",
        formats={"ms per record": ".3f", "× a training step": ".3f"},
    )
    records = logs[best]["records"]

    # Every decision is made (the recipe, on the validation split): the test set, once.
    logits = predict_logits(models[best], data.test_loader())
    metrics = {
        "values_compared": sum(log["compared"] for log in logs.values()),
        "tensorboard_mismatches": sum(log["tensorboard_mismatches"] for log in logs.values()),
        "wandb_mismatches": sum(log["wandb_mismatches"] for log in logs.values()),
        "wandb_runs_finished": sum(run.exit_code == 0 for log in logs.values() for run in log["wandb_runs"]),
        "best_val_accuracy": max(r["val_accuracy"] for r in records),
        "test_accuracy": (logits.argmax(1) == data.y_test).float().mean().item(),
        "step_ms": step_ms,
        "scalars_ms_per_record": cost["tensorboard scalars"],
        "histograms_ms_per_record": cost["tensorboard + histograms"],
        "wandb_ms_per_record": cost["wandb scalars"],
        "histograms_vs_scalars": cost["tensorboard + histograms"] / cost["tensorboard scalars"],
        "scalars_vs_step": cost["tensorboard scalars"] / step_ms,
    }
    return {
        "metrics": metrics,
        "figures": {"curves": _curves(logs), "histogram": histogram, "samples": samples},
        "tables": {"runs": _run_table(logs), "logging_cost": cost_table},
        "best_recipe": best,
    }


LESSON = Lesson(
    name="experiment-tracking",
    title="Experiment tracking: metrics.jsonl, TensorBoard and W&B (offline)",
    datasets=("mnist",),
    claims=(
        Claim(
            "tensorboard_mismatches",
            "==",
            0,
            0,
            "every value of metrics.jsonl is in TensorBoard's files, equal after a float32 cast",
        ),
        Claim(
            "wandb_mismatches", "==", 0, 0, "every value of metrics.jsonl is in the offline W&B run, equal"
        ),
        Claim("values_compared", ">=", 40, 60, "values looked up in both trackers (two runs)"),
        Claim("wandb_runs_finished", "==", 2, 2, "both W&B runs ended cleanly (exit code 0)"),
        Claim("best_val_accuracy", ">=", 0.95, 0.975, "validation accuracy of the better recipe"),
        Claim("test_accuracy", ">=", 0.94, 0.97, "test accuracy of the better recipe, scored once"),
        Claim(
            "scalars_vs_step",
            "<=",
            None,
            0.25,
            "logging a record's scalars to TensorBoard costs under a quarter of a training step",
            kind="timing",
        ),
        Claim(
            "histograms_vs_scalars",
            ">=",
            None,
            10,
            "a histogram of every weight costs a record at least 10× what its scalars cost",
            kind="timing",
        ),
    ),
    run=run,
)
