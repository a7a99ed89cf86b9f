"""Deep CNNs of a chosen depth, with or without identity skip connections (the residual lesson).

The CIFAR networks of He et al. (2015, section 4.2), made for 28×28 grey images. A network of
``depth = 6n + 2`` weighted layers is::

    stem     conv 3×3 (1 → w) → BN → ReLU                       (B, w, 28, 28)     1 layer
    stage 1  n blocks of two 3×3 convs, w channels              (B, w, 28, 28)    2n layers
    stage 2  n blocks, 2w channels, the first with stride 2     (B, 2w, 14, 14)   2n layers
    stage 3  n blocks, 4w channels, the first with stride 2     (B, 4w, 7, 7)     2n layers
    head     global average pool → Linear(4w, classes)          (B, classes)       1 layer

so depth 8, 20, 32, 44, 56 are n = 1, 3, 5, 7, 9. A *plain* block is
``relu(bn2(conv2(relu(bn1(conv1(x))))))``; a *residual* block adds its input before the last
ReLU. Where a block halves the resolution and doubles the channels, the shortcut takes every
second pixel and pads the new channels with zeros (option A of the paper): it has no parameters,
so a plain and a residual network of the same depth have exactly the same weights to learn —
the only difference between them is the ``+ x``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def blocks_per_stage(depth: int) -> int:
    """``n`` for a network of ``depth = 6n + 2`` weighted layers; raises for other depths."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, ...), got {depth}")
    return (depth - 2) // 6


class Block(nn.Module):
    """Two 3×3 convolutions with BatchNorm; ``residual=True`` adds the (identity) shortcut.

    (B, in_channels, H, W) → (B, channels, H/stride, W/stride).
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.stride, self.extra_channels = stride, channels - in_channels

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The input reshaped to the block's output, with no weights: subsample, zero-pad channels."""
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, H/s, W/s)
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # (B, C_out, H/s, W/s), new channels 0
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))  # no ReLU before the sum
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class DeepCNN(nn.Module):
    """A plain or residual CNN with ``depth`` weighted layers; (B, in_channels, H, W) → (B, num_classes).

    ``zero_init_residual=True`` starts every residual block's last BatchNorm scale at 0, so each
    block begins as exactly the identity (Goyal et al., 2017) — shown in the residual lesson, off by default
    so that plain and residual networks start from the same weights.
    """

    def __init__(
        self,
        depth: int,
        residual: bool = True,
        width: int = 16,
        num_classes: int = 10,
        in_channels: int = 1,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        n = blocks_per_stage(depth)
        self.depth, self.residual = depth, residual
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks, channels = [], width
        for stage, stage_width in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(channels, stage_width, stride, residual))
                channels = stage_width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual and residual:
            for block in self.blocks:
                nn.init.zeros_(block.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))  # (B, 4w, H/4, W/4)
        return self.head(x.mean(dim=(2, 3)))  # global average pool → (B, 4w) → (B, classes)


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every convolution and linear layer, in the order the input meets them."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
