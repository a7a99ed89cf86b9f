"""The experiment-tracking lesson's recipe: the mnist-mlp lesson's MLP, trained by its own
``train_mlp``, with every record going to all three logs — ``metrics.jsonl`` (always),
TensorBoard and W&B (offline unless a key and a network are there).

``train_tracked(data, name, recipe, run_dir=...)`` is ``train_mlp`` plus the loggers: TensorBoard
with a histogram of every weight at each record and the sample predictions as an image at the
end, W&B with the same records, the final checkpoint as an artifact and the samples as a table.
The two ``RECIPES`` differ in optimiser and schedule, so their curves differ where the logs can
show it. ``logging_cost`` times each logger's ``log`` call, the price of logging once per step.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from e2edl.data.batch_transforms import BatchNormalize
from e2edl.data.mnist import MNIST
from e2edl.nn.mlp import MLP
from e2edl.recipes.mnist_mlp import RECIPE as MLP_RECIPE
from e2edl.recipes.mnist_mlp import MLPRecipe, train_mlp
from e2edl.train.history import History
from e2edl.train.loggers import PredictionSamples, RunInfo, TensorBoardLogger, WandbLogger
from e2edl.train.metrics_log import MetricsLog

PROJECT = "e2edl-experiment-tracking"  # the W&B project both runs belong to
# Two recipes of the mnist-mlp lesson's MLP: its own (AdamW, one-cycle), and plain SGD with
# momentum at a constant rate and no weight decay.
RECIPES = {
    "adamw-one-cycle": replace(MLP_RECIPE, epochs=3),
    "momentum-constant": replace(
        MLP_RECIPE, epochs=3, optimizer="momentum", lr=0.03, schedule="constant", weight_decay=0.0
    ),
}
QUICK_RECIPES = {name: replace(recipe, epochs=2) for name, recipe in RECIPES.items()}
TRAIN_IMAGES = {"quick": 20_000, "full": 55_000}  # the training split used, of MNIST's 55,000


def prediction_samples(data: MNIST, n: int = 16) -> PredictionSamples:
    """The first ``n`` validation digits: normalised as the model takes them, and the pictures."""
    images, labels = data.x_val[:n], data.y_val[:n]
    inputs, _ = BatchNormalize(*data.mean_std)((images, labels))  # (n, 1, 28, 28)
    return PredictionSamples(inputs, labels, [str(d) for d in range(10)], images=images)


def tracking_loggers(name: str, samples: PredictionSamples) -> list:
    """TensorBoard (scalars, weight histograms, samples image, hparams) and W&B (scalars, config,
    the checkpoint as an artifact, the samples as a table) for the run ``name``."""
    return [
        TensorBoardLogger(histograms=True, samples=samples),
        WandbLogger(project=PROJECT, name=name, samples=samples),
    ]


def train_tracked(
    data: MNIST, name: str, recipe: MLPRecipe, *, run_dir: str | Path, seed: int = 0, **fit_options
) -> tuple[MLP, History]:
    """``train_mlp`` with every record logged to ``run_dir/metrics.jsonl``, ``run_dir/tensorboard``
    and ``run_dir/wandb``. A finished run in ``run_dir`` (same recipe) is reused as it is: nothing
    is trained or logged again."""
    loggers = tracking_loggers(name, prediction_samples(data))
    return train_mlp(data, recipe, run_dir=run_dir, seed=seed, loggers=loggers, **fit_options)


def logging_cost(model: torch.nn.Module, folder: str | Path, records: int = 50) -> dict[str, float]:
    """Milliseconds per ``log`` call of each sink, on ``records`` records shaped like ``fit``'s:
    ``metrics.jsonl`` alone, TensorBoard scalars, TensorBoard scalars + a histogram of every
    weight of ``model``, and W&B scalars — and, to compare, one training step of a copy of
    ``model`` on a batch of 256. Each sink writes into its own folder under ``folder``."""
    folder = Path(folder)
    sinks = {
        "metrics.jsonl": [],
        "tensorboard scalars": [TensorBoardLogger(folder / "tb-scalars", hparams=False)],
        "tensorboard + histograms": [
            TensorBoardLogger(folder / "tb-histograms", histograms=True, hparams=False)
        ],
        "wandb scalars": [WandbLogger(project=PROJECT, name="logging-cost", log_checkpoint=False)],
    }
    cost = {"one training step": _step_ms(model)}
    for label, loggers in sinks.items():
        run_dir = folder / label.replace(" ", "-").replace("+", "and")
        log = MetricsLog(run_dir, loggers=loggers)
        log.restart([])
        log.start(RunInfo(run_dir, {"records": records}, model, start_step=0, resumed=False))
        try:
            started = time.perf_counter()
            for step in range(1, records + 1):
                log.log(
                    {
                        "epoch": step / 10,
                        "step": step,
                        "train_loss": 1 / step,
                        "lr": 1e-3,
                        "val_accuracy": 0.9,
                    }
                )
            cost[label] = (time.perf_counter() - started) / records * 1000
            log.finish(None)
        finally:
            log.close()
    return cost


def _step_ms(model: torch.nn.Module, batch_size: int = 256, steps: int = 10) -> float:
    """Milliseconds per AdamW step of a copy of ``model`` on random MNIST-shaped batches (median)."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(model.parameters())
    inputs, targets = torch.randn(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))
    times = []
    for _ in range(steps + 1):  # the first one warms up
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])
