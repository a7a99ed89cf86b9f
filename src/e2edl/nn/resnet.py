"""ResNet-18 written out by hand, state_dict-compatible with ``torchvision.models.resnet18``.

He et al., *Deep Residual Learning for Image Recognition* (2015). The idea in one line: a block
learns a *correction* ``F(x)`` to its input and outputs ``relu(x + F(x))``, so a deep stack starts
out close to the identity and gradients reach the early layers through the ``+ x`` shortcuts.

The layout, for a (B, 3, H, W) image (224×224 in the paper; any size ≥ 32 works here)::

    stem     conv 7×7 stride 2 → BN → ReLU → maxpool 3×3 stride 2     (B, 64, H/4, W/4)
    layer1   2 × BasicBlock(64)                                       (B, 64, H/4, W/4)
    layer2   2 × BasicBlock(128), the first with stride 2             (B, 128, H/8, W/8)
    layer3   2 × BasicBlock(256), the first with stride 2             (B, 256, H/16, W/16)
    layer4   2 × BasicBlock(512), the first with stride 2             (B, 512, H/32, W/32)
    head     global average pool → flatten → Linear(512, num_classes) (B, num_classes)

Every module name (``conv1``, ``bn1``, ``layer2.0.downsample.0``, ``fc``, ...) matches
torchvision's, so ``ResNet.load_state_dict(torchvision_model.state_dict())`` works both ways and
ImageNet weights can be loaded into this file's model unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: ``relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))``.

    (B, in_channels, H, W) → (B, channels, H/stride, W/stride). When the block changes the shape
    (``stride`` 2, or more channels), ``x`` cannot be added as it is: ``downsample``, a 1×1
    convolution with the same stride followed by BatchNorm, projects it to the new shape
    (option B of the paper). Otherwise the shortcut is the identity and has no parameters.
    Convolutions have no bias because the BatchNorm right after each has its own shift.
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, C, H/s, W/s)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C, H/s, W/s)
        out = self.bn2(self.conv2(out))  # (B, C, H/s, W/s): no ReLU before the sum
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """A ResNet of ``BasicBlock`` stages: ``blocks_per_stage=(2, 2, 2, 2)`` is ResNet-18.

    Input (B, 3, H, W), ideally normalised with the ImageNet mean and std; output logits
    (B, num_classes). ``(3, 4, 6, 3)`` gives ResNet-34; deeper ResNets use a different block
    (the 1×1-3×3-1×1 "bottleneck") that this file does not write out.
    """

    widths = (64, 128, 256, 512)

    def __init__(self, blocks_per_stage: Sequence[int] = (2, 2, 2, 2), num_classes: int = 1000) -> None:
        super().__init__()
        # Stem: shrink the image 4× cheaply before the expensive 3×3 stages.
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        # Stages: each after the first halves the resolution and doubles the width.
        in_channels = 64
        for i, (blocks, channels) in enumerate(zip(blocks_per_stage, self.widths, strict=True)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(in_channels, channels, stride)]
            stage += [BasicBlock(channels, channels) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_channels = channels
        # Head: average each of the 512 feature maps to one number, whatever the input size.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torchvision's initialisation: He-normal (fan-out) convolutions, BatchNorm γ=1 and β=0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, H, W)
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, H/2, W/2)
        x = self.maxpool(x)  # (B, 64, H/4, W/4)
        x = self.layer1(x)  # (B, 64, H/4, W/4)
        x = self.layer2(x)  # (B, 128, H/8, W/8)
        x = self.layer3(x)  # (B, 256, H/16, W/16)
        x = self.layer4(x)  # (B, 512, H/32, W/32)
        x = self.avgpool(x).flatten(1)  # (B, 512)
        return self.fc(x)  # (B, num_classes)


class ResNet18(ResNet):
    """ResNet-18: 4 stages of 2 BasicBlocks; 11.7 M parameters with the 1000-class ImageNet head."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__((2, 2, 2, 2), num_classes=num_classes)


def resnet18(num_classes: int = 1000) -> ResNet18:
    """``ResNet18(num_classes)``, under torchvision's name."""
    return ResNet18(num_classes)
