"""Batched transforms agree with their one-image-at-a-time definitions."""

import torch
import torch.nn.functional as F

from e2edl.data.batch_transforms import MNIST_MEAN, MNIST_STD, BatchCompose, BatchNormalize, RandomShift
from e2edl.nn.mlp import MLP


def test_normalize_matches_torchvision_formula() -> None:
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    out, labels = BatchNormalize()((images, torch.arange(4)))
    assert out.shape == (4, 1, 28, 28) and out.dtype == torch.float32
    expected = (images.float().unsqueeze(1) / 255 - MNIST_MEAN) / MNIST_STD
    assert torch.allclose(out, expected)
    assert torch.equal(labels, torch.arange(4))


def test_random_shift_equals_pad_then_crop_per_image() -> None:
    images = torch.rand(6, 2, 28, 28)
    shifted, _ = RandomShift(3, fill=-1.0, generator=torch.Generator().manual_seed(5))((images, None))
    dy, dx = torch.randint(0, 7, (2, 6, 1, 1), generator=torch.Generator().manual_seed(5))
    padded = F.pad(images, (3, 3, 3, 3), value=-1.0)
    for i in range(6):
        r, c = dy[i].item(), dx[i].item()
        assert torch.equal(shifted[i], padded[i, :, r : r + 28, c : c + 28])
    assert not torch.equal(shifted, images)  # with 6 images, some shift is non-zero


def test_compose_and_mlp_shapes() -> None:
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    x, _ = BatchCompose(BatchNormalize(), RandomShift(2))((images, None))
    assert MLP(784, [32, 16], 10, dropout=0.1)(x).shape == (3, 10)
