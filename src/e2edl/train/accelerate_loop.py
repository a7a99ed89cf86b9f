"""A plain PyTorch training loop written with 🤗 Accelerate: the same code in one process or many.

``Accelerator`` takes over the three things that change between one process and a process group:
where tensors live (``accelerator.device``), how the model and the data loader are wrapped
(``accelerator.prepare``: DistributedDataParallel, and a loader that gives each process its share of
every batch), and the backward pass (``accelerator.backward(loss)``: mixed precision, gradient
synchronisation). The loop below is otherwise the ten lines every lesson writes.

The model is a small classifier head (an MLP) on fixed features — in the huggingface-nlp lesson,
the frozen all-MiniLM-L6-v2 embeddings of IMDb reviews — so that running it twice (one process,
then two) costs seconds. ``split_batches=True`` makes the two runs the same computation: each
global batch of ``batch_size`` examples is cut in halves, one per process; each process's loss is
the mean over its half, DDP averages the two halves' gradients (= the gradient of the mean over
the whole batch), and the loss we log is the mean of the halves' losses (``accelerator.gather``).
So one process and two must log the same losses up to the order of float additions.

Run on two CPU processes (gloo) with the same code::

    OMP_NUM_THREADS=1 torchrun --standalone --nproc-per-node 2 -m e2edl.train.accelerate_loop \\
        --features features.pt --out losses.json

(``accelerate launch`` starts only one process on a machine without GPUs unless MPI is set up;
``torchrun`` starts two, and ``Accelerator`` reads the process group from its environment.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from e2edl.train.loggers.protocol import Logger, RunInfo
from e2edl.train.metrics_log import MetricsLog


@dataclass(frozen=True)
class HeadRecipe:
    """A two-layer classifier head on fixed features, trained with AdamW on a fixed data order."""

    hidden: int = 64
    epochs: int = 2
    batch_size: int = 64  # the global batch: split between the processes
    lr: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0
    max_examples: int = 2048  # the first ones of the features given: a short run
    float64: bool = True  # so that float32 rounding (which Adam amplifies step by step) does not blur
    # the comparison of one process with many: in float64 they agree to ~1e-12, in float32 to ~1e-5


def make_accelerator(cpu: bool | None = None):
    """An ``Accelerator`` that splits each global batch between the processes (``split_batches``),
    on the CPU unless a GPU is there (or ``cpu`` says otherwise)."""
    from accelerate import Accelerator, DataLoaderConfiguration

    cpu = not torch.cuda.is_available() if cpu is None else cpu
    return Accelerator(cpu=cpu, dataloader_config=DataLoaderConfiguration(split_batches=True))


def head_model(in_features: int, classes: int, recipe: HeadRecipe) -> nn.Module:
    torch.manual_seed(recipe.seed)  # the same initial weights in every process
    return nn.Sequential(nn.Linear(in_features, recipe.hidden), nn.GELU(), nn.Linear(recipe.hidden, classes))


def example_order(n: int, recipe: HeadRecipe) -> torch.Tensor:
    """Every epoch's shuffled order, one after the other: (epochs · n,) indices, fixed by the seed,
    so that one process and a group read the examples in the same order."""
    generator = torch.Generator().manual_seed(recipe.seed)
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(recipe.epochs)])


def train_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    recipe: HeadRecipe,
    accelerator=None,
    loggers: Sequence[Logger] = (),
) -> list[float]:
    """Train ``head_model`` on ``features`` (N, D) and ``labels`` (N,) with an ``Accelerator``;
    return the loss of every step (the mean over the whole global batch, the same on every process).
    ``loggers`` (``e2edl.train.loggers``, as ``fit`` takes them) get ``{"step", "train_loss"}``
    after every step, from the main process only."""
    accelerator = accelerator or make_accelerator()
    features, labels = features[: recipe.max_examples], labels[: recipe.max_examples]
    dtype = torch.float64 if recipe.float64 else torch.float32
    order = example_order(len(features), recipe)
    dataset = torch.utils.data.TensorDataset(features[order].to(dtype), labels[order])
    loader = torch.utils.data.DataLoader(dataset, batch_size=recipe.batch_size, shuffle=False, drop_last=True)
    model = head_model(features.size(1), int(labels.max()) + 1, recipe).to(dtype)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    log = MetricsLog(None, loggers=loggers if accelerator.is_main_process else ())
    losses = []
    model.train()
    try:
        log.start(RunInfo(None, asdict(recipe), accelerator.unwrap_model(model), start_step=0, resumed=False))
        for x, y in loader:  # each process gets its half of every global batch, already on its device
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            accelerator.backward(loss)  # (in a group: the gradients are averaged across processes)
            optimizer.step()
            losses.append(accelerator.gather(loss.detach()[None]).mean().item())  # the global batch's loss
            log.log({"step": len(losses), "train_loss": losses[-1]})
        log.finish(None)
    finally:
        log.close()
    return losses


def run_in_processes(features_path: Path, out_path: Path, recipe: HeadRecipe, nproc: int = 2,
                     timeout: float = 300) -> list[float]:  # fmt: skip
    """Run ``train_head`` on the saved features in ``nproc`` CPU processes under ``torchrun``
    (one thread each), and return the losses rank 0 wrote."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
        "-m", "e2edl.train.accelerate_loop", "--features", str(features_path), "--out", str(out_path),
        "--recipe", json.dumps(asdict(recipe)),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="true", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"torchrun with {nproc} processes failed (exit {done.returncode}): {last}")
    return json.loads(Path(out_path).read_text())["losses"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a classifier head on saved features with Accelerate.")
    parser.add_argument(
        "--features", required=True, help="a .pt file with 'features' (N, D) and 'labels' (N,)"
    )
    parser.add_argument("--out", required=True, help="where rank 0 writes the losses (JSON)")
    parser.add_argument("--recipe", default="{}", help="HeadRecipe fields as JSON")
    args = parser.parse_args(argv)

    saved = torch.load(args.features, weights_only=True)
    recipe = HeadRecipe(**json.loads(args.recipe))
    accelerator = make_accelerator(cpu=True)
    losses = train_head(saved["features"], saved["labels"], recipe, accelerator)
    if accelerator.is_main_process:
        Path(args.out).write_text(
            json.dumps({"processes": accelerator.num_processes, "recipe": asdict(recipe), "losses": losses})
        )
    accelerator.end_training()  # leaves the process group


if __name__ == "__main__":
    main()
