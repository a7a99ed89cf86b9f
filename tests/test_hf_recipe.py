"""The huggingface-transfer recipe: a hub model frozen so that Trainer cannot move its BatchNorm
statistics, and a trained classifier that a later run loads instead of training again."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    AutoImageProcessor,
    AutoModelForImageClassification,
    ResNetConfig,
    ResNetForImageClassification,
    Trainer,
    TrainingArguments,
    ViTImageProcessor,
)

import e2edl.recipes.huggingface_transfer as recipe_module  # noqa: E402
from e2edl.data import pets_hf  # noqa: E402
from e2edl.recipes.huggingface_transfer import (  # noqa: E402
    RECIPE,
    collate,
    load_hub_classifier,
    pretrained_part,
    train_classifier,
)
from e2edl.train.checkpoint import CheckpointError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_resnet(num_labels: int = 2, **kwargs) -> ResNetForImageClassification:
    torch.manual_seed(0)
    return ResNetForImageClassification(
        ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=num_labels)
    )


def one_trainer_epoch(model, tmp_path) -> None:
    examples = [{"pixel_values": torch.randn(3, 32, 32) * 2 + 1, "labels": i % 2} for i in range(16)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"), num_train_epochs=1, per_device_train_batch_size=4,
        learning_rate=1e-2, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=examples, data_collator=collate).train()


def test_the_hub_path_keeps_batchnorm_statistics_under_trainer(tmp_path, monkeypatch) -> None:
    """The bug: ``requires_grad_(False)`` alone, and Trainer's ``model.train()`` lets BatchNorm drift.
    The recipe's hub path freezes with ``e2edl.nn.pretrained.freeze``: nothing of the base moves."""
    naive = tiny_resnet()
    naive.base_model.requires_grad_(False)
    before = {k: v.clone() for k, v in naive.base_model.state_dict().items()}
    one_trainer_epoch(naive, tmp_path / "naive")
    assert any(
        not torch.equal(v, before[k]) for k, v in naive.base_model.state_dict().items() if "running" in k
    )

    monkeypatch.setattr(AutoModelForImageClassification, "from_pretrained", lambda *a, **k: tiny_resnet())
    monkeypatch.setattr(AutoImageProcessor, "from_pretrained", lambda *a, **k: ViTImageProcessor())
    model, processor = load_hub_classifier(RECIPE)
    before = {k: v.clone() for k, v in pretrained_part(model).state_dict().items()}
    classifier_before = model.classifier[-1].weight.clone()
    one_trainer_epoch(model, tmp_path / "frozen")
    after = pretrained_part(model).state_dict()
    assert all(torch.equal(v, before[k]) for k, v in after.items())  # weights and statistics
    assert not torch.equal(model.classifier[-1].weight, classifier_before)  # the new classifier learned


@pytest.fixture
def tiny_photos(tmp_path, monkeypatch):
    """A 24-photo image folder read the ``datasets`` way: 19 training and 5 validation examples."""
    root = tmp_path / "PetImages"
    rng = np.random.default_rng(0)
    for label, folder in enumerate(("Cat", "Dog")):
        (root / folder).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) // (2 - label)  # dogs brighter
            Image.fromarray(pixels.astype(np.uint8)).save(root / folder / f"{i}.jpg", format="JPEG")
    monkeypatch.setattr(pets_hf, "pets_image_folder", lambda: root)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Lite0 path, whatever the network
    splits, unreadable = pets_hf.load_pets_splits(progress=False)
    assert unreadable == 0
    return splits


def test_a_trained_classifier_is_reused_and_another_recipe_refused(
    tiny_photos, tmp_path, monkeypatch
) -> None:
    recipe = dataclasses.replace(RECIPE, image_size=32, epochs=1, batch_size=8)
    model, history = train_classifier(
        tiny_photos, recipe, run_dir=tmp_path / "run", progress=False, device="cpu"
    )
    evaluations = [r for r in history.records if "val_accuracy" in r]
    assert len(evaluations) == 1 and 0 <= evaluations[0]["val_accuracy"] <= 1
    assert (tmp_path / "run" / "model" / "preprocessor_config.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run folder must be reused, not trained again")

    monkeypatch.setattr(recipe_module, "pretrained_classifier", no_training)
    again, reused = train_classifier(tiny_photos, recipe, run_dir=tmp_path / "run", resume=True, device="cpu")
    assert reused.records == history.records
    trained = model.state_dict()
    assert all(torch.equal(value, trained[name]) for name, value in again.state_dict().items())
    with pytest.raises(CheckpointError, match="lr"):
        train_classifier(
            tiny_photos, dataclasses.replace(recipe, lr=1e-4), run_dir=tmp_path / "run", resume=True
        )
