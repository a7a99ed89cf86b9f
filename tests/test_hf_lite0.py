"""EfficientNet-Lite0 as a Hugging Face model: Auto classes, save/load round trip, Trainer step."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import AutoConfig, AutoModelForImageClassification  # noqa: E402

from e2edl.nn.hf_lite0 import Lite0Config, Lite0ForImageClassification  # noqa: E402
from e2edl.nn.pretrained import Lite0Features  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def config() -> Lite0Config:
    return Lite0Config(image_size=64, id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})


def test_save_pretrained_and_auto_from_pretrained_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = Lite0ForImageClassification.with_imagenet_backbone(config()).eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    assert AutoConfig.from_pretrained(tmp_path).model_type == "e2edl-efficientnet-lite0"
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is Lite0ForImageClassification
    assert loaded.config.id2label == {0: "cat", 1: "dog"} and loaded.config.image_mean == [0.5, 0.5, 0.5]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, atol=0, rtol=0)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_imagenet_backbone_is_loaded_and_a_plain_constructor_is_random() -> None:
    reference = Lite0Features(pretrained=True).state_dict()
    pretrained = Lite0ForImageClassification.with_imagenet_backbone(config()).backbone.state_dict()
    random_init = Lite0ForImageClassification(config()).backbone.state_dict()
    stem = "net._conv_stem.weight"
    assert torch.equal(pretrained[stem], reference[stem])
    assert not torch.equal(random_init[stem], reference[stem])


def test_forward_returns_the_loss_trainer_needs() -> None:
    model = Lite0ForImageClassification(config()).eval()
    x, labels = torch.randn(3, 3, 64, 64), torch.tensor([0, 1, 1])
    output = model(pixel_values=x, labels=labels)
    assert output.logits.shape == (3, 2)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
    assert model(pixel_values=x).loss is None


def test_one_trainer_epoch_runs_and_changes_only_what_it_should(tmp_path) -> None:
    from transformers import Trainer, TrainingArguments

    torch.manual_seed(0)
    model = Lite0ForImageClassification.with_imagenet_backbone(config())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    examples = [{"pixel_values": torch.randn(3, 32, 32), "labels": i % 2} for i in range(8)]
    args = TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=1, per_device_train_batch_size=4, learning_rate=1e-3,
        report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True, logging_steps=1,
    )  # fmt: skip
    collate = lambda batch: {
        "pixel_values": torch.stack([e["pixel_values"] for e in batch]),
        "labels": torch.tensor([e["labels"] for e in batch]),
    }
    Trainer(model=model, args=args, train_dataset=examples, data_collator=collate).train()
    after = model.state_dict()
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    assert not torch.equal(after["backbone.net._conv_stem.weight"], before["backbone.net._conv_stem.weight"])


def test_frozen_backbone_trains_only_the_classifier() -> None:
    model = Lite0ForImageClassification.with_imagenet_backbone(
        Lite0Config(freeze_backbone=True, id2label={0: "cat", 1: "dog"})
    ).train()
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "classifier.weight",
        "classifier.bias",
    ]
    assert model.classifier.training and not model.backbone.training
    running_mean = model.backbone.net._bn0.running_mean.clone()
    loss = model(pixel_values=torch.randn(4, 3, 64, 64), labels=torch.tensor([0, 1, 0, 1])).loss
    loss.backward()
    assert torch.equal(model.backbone.net._bn0.running_mean, running_mean)
    assert model.backbone.net._conv_stem.weight.grad is None
