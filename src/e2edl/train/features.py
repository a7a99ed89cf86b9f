"""Backbone features computed once and kept: the trick that makes head-only training cheap.

With a frozen backbone, every epoch would push the same images through the same network and get
the same numbers. So push them through once, store the (N, D) feature matrix, and train the head
on that: an epoch becomes a few matrix products.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from e2edl.train.fit import progress_enabled


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
