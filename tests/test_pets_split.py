"""Dogs vs Cats in memory (``e2edl.data.pets_split``): subsets, loaders with separate transforms, colour figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from e2edl.data.pets_images import eval_transform, train_transform  # noqa: E402
from e2edl.data.pets_split import Pets  # noqa: E402
from e2edl.data.splits import balanced_subset  # noqa: E402
from e2edl.figures import image_grid, mistakes_figure  # noqa: E402


def fake_pets(n_per_class: int = 20, size: int = 16) -> Pets:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2 * n_per_class, 3, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.tensor([0] * n_per_class + [1] * n_per_class)
    val_idx = torch.tensor([0, 1, 2, 3, 20, 21, 22, 23])
    train_idx = torch.tensor([i for i in range(2 * n_per_class) if i not in set(val_idx.tolist())])
    return Pets(images, labels, ["cat", "dog"], 0, train_idx, val_idx, 0.0)


def test_balanced_subset_takes_the_same_number_from_each_class() -> None:
    labels = torch.tensor([0] * 10 + [1] * 30)
    idx = torch.arange(40)
    subset = balanced_subset(idx, labels, 8)
    assert torch.bincount(labels[subset]).tolist() == [4, 4]
    assert torch.equal(subset, subset.sort().values)


def test_train_loader_augments_and_val_loader_does_not() -> None:
    data = fake_pets()
    torch.manual_seed(0)
    first = next(iter(data.train_loader(8, size=12, seed=0)))[0]
    torch.manual_seed(1)
    second = next(iter(data.train_loader(8, size=12, seed=0)))[0]
    assert first.shape == (8, 3, 12, 12) and not torch.equal(first, second)  # same images, other crops
    val_a = torch.cat([x for x, _ in data.val_loader(12)])
    val_b = torch.cat([x for x, _ in data.val_loader(12)])
    assert torch.equal(val_a, val_b) and val_a.shape == (8, 3, 12, 12)
    assert val_a.is_contiguous(memory_format=torch.channels_last)


def test_transforms_take_the_normalisation_the_network_expects() -> None:
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    half = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert torch.allclose(eval_transform(8, mean=half[0], std=half[1])(images), torch.ones(2, 3, 8, 8))
    out = train_transform(8, mean=half[0], std=half[1])(images)
    assert torch.allclose(out, torch.ones_like(out), atol=1e-5)  # a constant image stays constant
    imagenet = eval_transform(8)(images)
    assert torch.allclose(imagenet[:, 0], torch.full((2, 8, 8), (1 - 0.485) / 0.229))


def test_mistakes_figure_shows_the_confident_errors_in_colour() -> None:
    data = fake_pets()
    logits = torch.zeros(8, 2)
    logits[:, 0] = 5.0  # predicts "cat" for all: the 4 dogs are the mistakes
    fig = mistakes_figure(data.images[data.val_idx], data.y_val, logits, data.class_names, n=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 3 and all(t.startswith("dog→cat") for t in titles)
    assert "4 of 8" in fig._suptitle.get_text()
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (16, 16, 3)  # (3, H, W) tensors are drawn as RGB images
    image_grid(torch.zeros(2, 1, 5, 5))  # gray images still work
