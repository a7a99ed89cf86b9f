"""Transforms applied to a whole batch of in-memory images at once (no per-sample PIL).

They take and return ``(images, labels)`` so they plug into ``TensorLoader(transform=...)``.
"""

from __future__ import annotations

import torch

# Per-pixel mean and standard deviation over the 60,000 training images, pixels scaled to [0, 1].
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530  # Fashion-MNIST


class BatchNormalize:
    """uint8 (B, H, W) or (B, 1, H, W) → float32 (B, 1, H, W) with ``(x/255 − mean) / std``.

    Unlike torchvision's ``Normalize`` (float image in, one image at a time), this takes a uint8
    *batch* with its labels and scales to [0, 1] first. ``BatchNormalize(mean=0, std=1)`` gives
    plain pixels in [0, 1].
    """

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        self.mean, self.std = mean, std

    def __call__(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        if images.dim() == 3:
            images = images.unsqueeze(1)  # (B, H, W) → (B, 1, H, W)
        return (images.float() / 255 - self.mean) / self.std, labels


class RandomShift:
    """Shift each image of a batch by up to ``max_shift`` pixels in x and y, filling with ``fill``.

    Pads the batch once, then takes one random crop per image with a single gather — the batched
    version of ``RandomCrop(28, padding=max_shift)``. ``generator`` makes the shifts repeatable.
    Works on float (B, C, H, W) batches: apply it after ``BatchNormalize``, with ``fill`` the value of
    a background pixel.
    """

    def __init__(self, max_shift: int = 2, fill: float = -MNIST_MEAN / MNIST_STD, generator=None) -> None:
        self.max_shift, self.fill, self.generator = max_shift, fill, generator

    def __call__(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        s = self.max_shift
        if s == 0:
            return images, labels
        b, c, h, w = images.shape
        padded = torch.nn.functional.pad(images, (s, s, s, s), value=self.fill)  # (B, C, H+2s, W+2s)
        dy, dx = torch.randint(0, 2 * s + 1, (2, b, 1, 1), generator=self.generator)
        rows = (torch.arange(h).view(1, h, 1) + dy).expand(b, h, w)  # (B, H, W) source row of each pixel
        cols = (torch.arange(w).view(1, 1, w) + dx).expand(b, h, w)
        flat = (rows * (w + 2 * s) + cols).view(b, 1, h * w).expand(b, c, h * w)
        shifted = padded.reshape(b, c, -1).gather(2, flat).view(b, c, h, w)
        return shifted, labels


def to_channels_last(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """NHWC memory layout for the images of an ``(images, labels)`` batch: the CPU convolution
    kernels run faster on it."""
    images, labels = batch
    return images.contiguous(memory_format=torch.channels_last), labels


class BatchCompose:
    """Apply batch transforms, each taking and returning ``(images, labels)``, in order.

    (torchvision's ``Compose`` chains transforms of one image; these work on whole batches.)"""

    def __init__(self, *transforms) -> None:
        self.transforms = transforms

    def __call__(self, batch):
        for transform in self.transforms:
            batch = transform(batch)
        return batch


def input_as_target(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(uint8 (B, H, W),)`` → ``(x, x)`` with x float (B, 1, H, W) in [0, 1]: an autoencoder's
    target is its input. A ``TensorLoader`` transform for a loader made of images alone."""
    x = batch[0].unsqueeze(1).float().div(255)
    return x, x
