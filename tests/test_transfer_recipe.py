"""The transfer-learning recipes: features extracted once and kept with their settings, a head
trained on them, and a run folder a notebook hands to the lesson's run."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import e2edl.recipes.transfer_learning as recipe_module
from e2edl.data.pets_split import Pets
from e2edl.recipes.transfer_learning import LITE0_HEAD, extract_pets_features, train_head
from e2edl.train.checkpoint import CheckpointError
from e2edl.train.features import FeatureSet

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dataclasses.replace(LITE0_HEAD, image_size=32, epochs=2, batch_size=4)


def tiny_pets(n: int = 12) -> Pets:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 40, 40), dtype=torch.uint8, generator=g)
    labels = torch.tensor([0, 1] * (n // 2))
    return Pets(images, labels, ["cat", "dog"], 0, torch.arange(8), torch.arange(8, n), 0.0)


def test_features_are_extracted_once_and_read_back_with_the_same_settings(tmp_path, monkeypatch) -> None:
    data = tiny_pets()
    features = extract_pets_features(data, SMALL, run_dir=tmp_path, progress=False)
    assert features.train.shape == (8, 1280) and features.val.shape == (4, 1280)
    assert torch.equal(features.val_labels, data.y_val) and features.seconds > 0

    def no_backbone(name):
        raise AssertionError("the features should have been read back, not extracted again")

    monkeypatch.setattr(recipe_module, "pretrained_backbone", no_backbone)
    again = extract_pets_features(data, SMALL, run_dir=tmp_path, resume=True, progress=False)
    assert torch.equal(again.train, features.train) and again.seconds == features.seconds
    with pytest.raises(CheckpointError, match="image_size"):
        extract_pets_features(data, dataclasses.replace(SMALL, image_size=64), run_dir=tmp_path, resume=True)
    other_photos = dataclasses.replace(data, val_idx=torch.arange(9, 12))
    with pytest.raises(CheckpointError, match="val_photos"):
        extract_pets_features(other_photos, SMALL, run_dir=tmp_path, resume=True)


def test_the_head_trains_on_features_and_a_finished_run_is_reused(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1] * 10)
    train = torch.randn(20, 6, generator=g) + labels[:, None] * 3  # two separable clouds
    features = FeatureSet(train, labels, train[:8].clone(), labels[:8].clone(), seconds=1.0)
    recipe = dataclasses.replace(SMALL, epochs=10, lr=0.1)
    head, history = train_head(features, recipe, run_dir=tmp_path / "head", progress=False)
    assert head.weight.shape == (2, 6) and history.last["val_accuracy"] == 1.0
    again, reused = train_head(features, recipe, run_dir=tmp_path / "head", resume=True, progress=False)
    assert reused.records == history.records and torch.equal(again.weight, head.weight)


def test_feature_sets_refuse_another_configuration(tmp_path) -> None:
    features = FeatureSet(torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(1, 3), torch.tensor([1]), 0.5)
    features.save(tmp_path / "features.pt", {"backbone": "a"})
    assert FeatureSet.load(tmp_path / "features.pt", {"backbone": "a"}).dim == 3
    with pytest.raises(CheckpointError, match="backbone: 'a' in the checkpoint, 'b' now"):
        FeatureSet.load(tmp_path / "features.pt", {"backbone": "b"})
