"""The transfer-learning lesson's experiment: a network pretrained on ImageNet, reused for Dogs vs
Cats, with the recipes of ``e2edl.recipes.transfer_learning``.

1. **Head only**, on cached features of the frozen EfficientNet-Lite0 (``LITE0_HEAD``). The
   notebook extracts the features and trains this head in the open into the same folders; with
   ``resume`` the run reads both back. Timed from reading the images to the last validation
   score, feature extraction included, for the ≤ 5 minute claim.
2. The same with torchvision's ImageNet ResNet-18 (``RESNET18_HEAD``) when its weights can be had
   (torch's cache, the course mirror or a download, checksum checked); offline the table says
   why it was skipped.
3. **Fine-tuning** every layer from the pretrained weights and the head of (1)
   (``LITE0_FINE_TUNE``).

The from-scratch comparison is the resnet-from-scratch lesson's run on the same split, which
the notebook shows from the reference machine's full run: training from random weights for as
long as that lesson does is not repeated here.
"""

from __future__ import annotations

from dataclasses import replace

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.pets_split import Pets
from e2edl.figures import Table, mistakes_figure, plot_history
from e2edl.nn.pretrained import WeightsUnavailable
from e2edl.recipes.transfer_learning import (
    LITE0_FINE_TUNE,
    LITE0_HEAD,
    RESNET18_HEAD,
    extract_pets_features,
    fine_tune,
    load_photos,
    train_head,
)


def head_only(data: Pets, recipe, cfg: RunConfig, name: str) -> dict:
    """Features once (or read back), then the head; seconds counted from the start of loading."""
    options = cfg.fit_options(name)
    features = extract_pets_features(
        data, recipe, run_dir=options["run_dir"], resume=cfg.resume, device=cfg.device, progress=cfg.progress
    )
    head, history = train_head(features, recipe, **options)
    return {
        "head": head,
        "history": history,
        "val_logits": head.cpu()(features.val).detach(),
        "val_accuracy": history.last["val_accuracy"],
        "seconds": data.load_seconds + features.seconds + history.last["elapsed"],
        "parameters": sum(p.numel() for p in head.parameters()),
    }


def run(cfg: RunConfig) -> dict:
    data = load_photos(cfg.quick, progress=cfg.progress)
    feature_input = f"{LITE0_HEAD.image_size} px + mirror"
    rows = []

    frozen = head_only(data, LITE0_HEAD, cfg, "lite0-head")
    rows.append({"approach": "head only (frozen backbone, cached features)", "backbone": "EfficientNet-Lite0",
                 "trained parameters": frozen["parameters"], "input": feature_input, "epochs": LITE0_HEAD.epochs,
                 "val_accuracy": frozen["val_accuracy"], "seconds": frozen["seconds"]})  # fmt: skip
    try:
        resnet = head_only(data, RESNET18_HEAD, cfg, "resnet18-head")
        rows.append({"approach": "head only (frozen backbone, cached features)", "backbone": "ResNet-18 (torchvision)",
                     "trained parameters": resnet["parameters"], "input": feature_input,
                     "epochs": RESNET18_HEAD.epochs, "val_accuracy": resnet["val_accuracy"],
                     "seconds": resnet["seconds"]})  # fmt: skip
        skipped = None
    except WeightsUnavailable as error:
        skipped = str(error)
        rows.append({"approach": "head only", "backbone": "ResNet-18 (torchvision)",
                     "val_accuracy": "skipped: no ImageNet weights here (the run's details say why)"})  # fmt: skip

    recipe = replace(LITE0_FINE_TUNE, epochs=cfg.epochs) if cfg.epochs else LITE0_FINE_TUNE
    model, tuned = fine_tune(data, recipe, head=frozen["head"], **cfg.fit_options("lite0-finetune"))
    rows.append({"approach": "fine-tune every layer (backbone lr × 0.1)", "backbone": "EfficientNet-Lite0",
                 "trained parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                 "input": f"{recipe.image_size} px, augmented", "epochs": recipe.epochs,
                 "val_accuracy": tuned.last["val_accuracy"], "seconds": tuned.last["elapsed"]})  # fmt: skip

    metrics = {
        "head_only_val_accuracy": frozen["val_accuracy"],
        "head_only_seconds": frozen["seconds"],
        "finetune_val_accuracy": tuned.last["val_accuracy"],
        "head_only_minus_finetune": frozen["val_accuracy"] - tuned.last["val_accuracy"],
        "load_seconds": data.load_seconds,
        "train_images": len(data.train_idx),
        "val_images": len(data.val_idx),
    }
    figures = {
        "head_curves": plot_history(
            frozen["history"].records, ["train_loss", "val_loss"], "loss", "Head only, on cached features"
        ),
        "mistakes": mistakes_figure(
            data.images[data.val_idx], data.y_val, frozen["val_logits"], data.class_names
        ),
    }
    comparison = Table(rows, title="Dogs vs Cats from an ImageNet backbone: validation accuracy",
                       formats={"val_accuracy": ".4f", "seconds": ".0f", "trained parameters": ","})  # fmt: skip
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": {"comparison": comparison},
        "resnet18_skipped": skipped,
    }


LESSON = Lesson(
    name="transfer-learning",
    title="Transfer learning: a pretrained backbone, its head, fine-tuning",
    datasets=("pets",),
    claims=(
        Claim("head_only_val_accuracy", ">=", 0.97, 0.98, "frozen pretrained backbone, head only"),
        Claim("head_only_seconds", "<=", None, 300, "head only: wall time incl. loading and feature extraction",
              kind="timing"),
        Claim("finetune_val_accuracy", ">=", 0.88, 0.90, "every layer fine-tuned for one epoch at 128 px"),
        Claim("head_only_minus_finetune", ">", 0.0, 0.0, "on this task the frozen head beats a short fine-tuning"),
    ),
    run=run,
)  # fmt: skip
