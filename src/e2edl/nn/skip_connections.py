"""Two ways to let a layer's input skip past it: add it (ResNet) or concatenate it (DenseNet, U-Net).

- ``AddSkip(f)``: ``x + f(x)``. ``f`` must keep the shape; channels stay ``C``. The block learns a
  correction to its input, and the gradient reaches ``x`` unchanged through the ``+``.
- ``ConcatSkip(f)``: ``cat([x, f(x)], dim=1)``. ``f`` only has to keep the spatial size; channels
  grow from ``C`` to ``C + C_f``. Nothing is mixed: later layers see the earlier features as they
  were. DenseNet stacks these (each layer sees every earlier layer's output, channels grow by the
  "growth rate" per layer); U-Net concatenates an encoder's feature map onto the decoder's map of
  the same resolution.
"""

from __future__ import annotations

import torch
from torch import nn


class AddSkip(nn.Module):
    """``x + f(x)``: (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, f: nn.Module) -> None:
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class ConcatSkip(nn.Module):
    """``cat([x, f(x)], dim=1)``: (B, C, H, W) → (B, C + C_f, H, W)."""

    def __init__(self, f: nn.Module) -> None:
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.f(x)], dim=1)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 convolution (size-preserving) → BatchNorm → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


def dense_block(in_channels: int, growth: int, layers: int) -> nn.Sequential:
    """``layers`` ``ConcatSkip(conv_bn_relu)`` in a row: (B, C, H, W) → (B, C + layers·growth, H, W)."""
    return nn.Sequential(*[ConcatSkip(conv_bn_relu(in_channels + i * growth, growth)) for i in range(layers)])


def residual_stack(channels: int, layers: int) -> nn.Sequential:
    """``layers`` ``AddSkip(conv_bn_relu)`` in a row: (B, C, H, W) → (B, C, H, W)."""
    return nn.Sequential(*[AddSkip(conv_bn_relu(channels, channels)) for _ in range(layers)])
