"""Backbone features computed once and kept: the trick that makes head-only training cheap.

With a frozen backbone, every epoch would push the same images through the same network and get
the same numbers. So push them through once, store the (N, D) feature matrix, and train the head
on that: an epoch becomes a few matrix products. ``FeatureSet`` is such a pair of matrices
(training and validation) with their labels; it saves itself with the settings that made it, so a
later run with the same settings reads it back instead of extracting it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from e2edl.atomic import atomic_write
from e2edl.progress import progress_enabled
from e2edl.train.checkpoint import check_same_config, load_checkpoint


@torch.no_grad()  # not inference_mode: the features go on to train a head
def extract_features(
    backbone: nn.Module,
    images: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 100,
    amp: bool = False,
    mirror_average: bool = False,
    progress: bool = True,
) -> torch.Tensor:
    """Features (N, D) float32 of uint8 ``images`` (N, 3, H, W), in order, on the CPU.

    ``transform`` turns a uint8 batch into the backbone's normalised float input; ``amp`` runs
    the backbone in bf16 autocast (fast on CPUs with bf16 instructions); ``mirror_average``
    averages each image's features with those of its left-right mirror image (a test-time
    augmentation that costs a second pass).
    """
    backbone = backbone.eval()
    outputs = []
    batches = range(0, len(images), batch_size)
    for start in tqdm(batches, desc="features", unit="batch", disable=not progress_enabled(progress)):
        x = transform(images[start : start + batch_size]).contiguous(memory_format=torch.channels_last)
        views = (x, x.flip(3)) if mirror_average else (x,)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            features = sum(backbone(view).float() for view in views) / len(views)
        outputs.append(features)
    return torch.cat(outputs)


@dataclass
class FeatureSet:
    """A frozen backbone's features of a training and a validation part, with their labels."""

    train: torch.Tensor  # (N_train, D) float32
    train_labels: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val, D) float32
    val_labels: torch.Tensor  # (N_val,) int64
    seconds: float  # how long extracting them took

    @property
    def dim(self) -> int:
        return self.train.shape[1]

    def save(self, path: str | os.PathLike, config: dict) -> Path:
        """Write the features with ``config`` (the plain-value settings that produced them)."""
        path = Path(path)
        with atomic_write(path) as f:
            torch.save({"features": self.__dict__, "config": dict(config)}, f)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, config: dict) -> FeatureSet:
        """Read features saved by :meth:`save`; a ``CheckpointError`` names every setting that
        differs from ``config`` (they would be another backbone's or another image size's)."""
        stored = load_checkpoint(path)
        check_same_config(Path(path), stored.get("config"), config)
        return cls(**stored["features"])
