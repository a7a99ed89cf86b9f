"""The vit lesson's recipe: frozen configs, one training function for MNIST and photos, and a run
folder that a notebook's training hands to the lesson's run without training again."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from e2edl.data.mnist import MNIST
from e2edl.data.pets_split import Pets
from e2edl.nn.vit import ViTConfig
from e2edl.recipes.vit import (
    MNIST_QUICK_RECIPE,
    MNIST_VIT,
    MNIST_VIT_4_BLOCKS,
    PETS_QUICK_RECIPE,
    PETS_VIT,
    PETS_VIT_32PX,
    train_vit,
)
from e2edl.train.checkpoint import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_VIT = ViTConfig(image_size=28, patch_size=7, in_channels=1, num_classes=10, dim=16, depth=1, n_heads=2)
TINY_RECIPE = dataclasses.replace(MNIST_QUICK_RECIPE, model=TINY_VIT, batch_size=32)


def tiny_mnist(n_train: int = 96, n_val: int = 40) -> MNIST:
    g = torch.Generator().manual_seed(0)

    def images(n):
        return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)

    def labels(n):
        return torch.randint(0, 10, (n,), generator=g)

    return MNIST(images(n_train), labels(n_train), images(n_val), labels(n_val), images(20), labels(20), 0.0)


def test_configs_are_frozen_and_variants_are_named_replacements() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        MNIST_VIT.depth = 2
    assert MNIST_VIT_4_BLOCKS == dataclasses.replace(MNIST_VIT, depth=4)
    assert (PETS_VIT_32PX.image_size, PETS_VIT_32PX.grid, PETS_VIT_32PX.stem) == (32, 4, "conv")
    assert PETS_VIT.grid == 8 and MNIST_VIT.grid == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        MNIST_QUICK_RECIPE.lr = 1.0


def test_a_finished_run_is_reused_not_trained_again_and_another_recipe_is_refused(tmp_path) -> None:
    data = tiny_mnist()
    model, history = train_vit(data, TINY_RECIPE, run_dir=tmp_path / "mnist", progress=False)
    assert len(history.records) == TINY_RECIPE.epochs and 0 <= history.last["val_accuracy"] <= 1
    again, reused = train_vit(data, TINY_RECIPE, run_dir=tmp_path / "mnist", resume=True, progress=False)
    assert reused.records == history.records  # the same records: no step was trained again
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    changed = dataclasses.replace(TINY_RECIPE, lr=1e-4)
    with pytest.raises(CheckpointError, match="lr"):
        train_vit(data, changed, run_dir=tmp_path / "mnist", resume=True, progress=False)


def test_photos_train_with_crops_not_shifts() -> None:
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1] * 4)
    pets = Pets(images, labels, ["cat", "dog"], 0, torch.arange(6), torch.arange(6, 8), 0.0)
    with pytest.raises(ValueError, match="shift=0"):
        train_vit(pets, dataclasses.replace(PETS_QUICK_RECIPE, shift=1), progress=False)
    with pytest.raises(TypeError, match="MNIST or Pets"):
        train_vit((images, labels), PETS_QUICK_RECIPE)
