"""The transfer-learning lesson's recipes: a new head on a frozen ImageNet backbone, trained on
features computed once; and fine-tuning the whole network from there.

**Head only.** The backbone turns every photo (and its mirror image: the two feature vectors are
averaged) into one feature vector, once (``extract_pets_features``); a linear head — the only
trained part — learns on those vectors with AdamW and a cosine schedule (``train_head``).

**Fine-tuning.** The whole network, starting from the pretrained weights and the trained head,
on augmented photos (``fine_tune``). The backbone's learning rate is ``backbone_lr_factor`` times
the head's: its weights are already good, and large steps would wreck them before the head's
gradients make sense. Photos are smaller here (128 px against 180): a CPU budget.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.pets_images import eval_transform
from e2edl.data.pets_split import Pets
from e2edl.data.tensor_loader import TensorLoader
from e2edl.nn.pretrained import (
    IMAGENET_NORMALIZE,
    LITE0_NORMALIZE,
    Lite0Features,
    ResNet18Features,
    TransferNet,
    imagenet_resnet18_state_dict,
)
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.features import FeatureSet, extract_features
from e2edl.train.fit import fit
from e2edl.train.history import History
from e2edl.train.seeding import seed_everything

FEATURES_FILE = "features.pt"
STORED_SIZE = 180  # the mirror's photos are 180×180: decode them at full size
QUICK_PHOTOS = (600, 400)  # quick mode: a class-balanced part of the training and validation photos


@dataclass(frozen=True)
class HeadOnlyRecipe:
    """A linear head on a frozen backbone's cached features."""

    backbone: str = "efficientnet-lite0"  # or "resnet18" (torchvision's ImageNet weights)
    image_size: int = 180  # the photos go through the backbone at this size
    mirror_average: bool = True  # average each photo's features with its mirror image's
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-2


@dataclass(frozen=True)
class FineTuneRecipe:
    """Every layer of a pretrained TransferNet, trained on augmented photos."""

    backbone: str = "efficientnet-lite0"
    image_size: int = 128
    epochs: int = 1
    batch_size: int = 64
    lr: float = 1e-3  # the head's peak learning rate
    backbone_lr_factor: float = 0.1  # the backbone's peak rate = lr × this
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.15  # one-cycle: rise for this share of the steps, then anneal


LITE0_HEAD = HeadOnlyRecipe()
RESNET18_HEAD = HeadOnlyRecipe(backbone="resnet18")
LITE0_FINE_TUNE = FineTuneRecipe()


def load_photos(quick: bool, progress: bool = True) -> Pets:
    """The photos this lesson trains on: the shared split (all of it, or in quick mode a class-balanced
    600 for training and 400 for validation), decoded at 180×180."""
    train_subset, val_subset = QUICK_PHOTOS if quick else (None, None)
    return Pets.load(STORED_SIZE, train_subset=train_subset, val_subset=val_subset, progress=progress)


def pretrained_backbone(name: str) -> tuple[nn.Module, tuple]:
    """``(backbone, (mean, std))``: the ImageNet-pretrained network without its classifier, and
    the normalisation its inputs were trained with. ``WeightsUnavailable`` says why it cannot."""
    if name == "efficientnet-lite0":
        return Lite0Features(pretrained=True), LITE0_NORMALIZE
    if name == "resnet18":
        return ResNet18Features(imagenet_resnet18_state_dict()), IMAGENET_NORMALIZE
    raise ValueError(f"backbone must be 'efficientnet-lite0' or 'resnet18', got {name!r}")


def _fingerprint(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.numpy().tobytes()).hexdigest()[:16]


def extract_pets_features(
    data: Pets,
    recipe: HeadOnlyRecipe,
    *,
    run_dir=None,
    resume: bool = False,
    device=None,
    progress: bool = True,
) -> FeatureSet:
    """The frozen backbone's features of ``data``'s training and validation photos, extracted once.

    With a ``run_dir`` they are saved there; with ``resume=True`` a saved set made with the same
    settings and photos is read back instead of extracted again.
    """
    settings = {
        key: value
        for key, value in asdict(recipe).items()
        if key in ("backbone", "image_size", "mirror_average")
    }
    config = settings | {"stored_size": data.images.shape[-1], "train_photos": _fingerprint(data.train_idx),
                         "val_photos": _fingerprint(data.val_idx)}  # fmt: skip
    path = Path(run_dir) / FEATURES_FILE if run_dir is not None else None
    if resume and path is not None and path.is_file():
        return FeatureSet.load(path, config)
    start = time.perf_counter()
    backbone, (mean, std) = pretrained_backbone(recipe.backbone)
    transform = eval_transform(recipe.image_size, mean=mean, std=std)
    amp = cpu_bf16_pays(device)  # bf16 where the CPU has it: about twice as fast

    def features_of(indices: torch.Tensor) -> torch.Tensor:  # (N, D)
        images = data.images[indices]
        return extract_features(backbone, images, transform, amp=amp, mirror_average=recipe.mirror_average,
                                progress=progress)  # fmt: skip

    features = FeatureSet(
        features_of(data.train_idx), data.labels[data.train_idx], features_of(data.val_idx), data.y_val, 0.0
    )
    features.seconds = time.perf_counter() - start
    if path is not None:
        features.save(path, config)
    return features


def train_head(
    features: FeatureSet, recipe: HeadOnlyRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[nn.Linear, History]:
    """A linear head (D → 2) on the cached features: AdamW, cosine decay, cross-entropy."""
    seed_everything(seed)
    head = nn.Linear(features.dim, 2)  # (B, D) → (B, 2): the only trained numbers
    loader = TensorLoader(
        features.train, features.train_labels, batch_size=recipe.batch_size, shuffle=True, seed=seed
    )
    optimizer = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs * len(loader))
    history = fit(
        head, loader, epochs=recipe.epochs, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
        scheduler=scheduler, scheduler_interval="step",
        val_loader=TensorLoader(features.val, features.val_labels, batch_size=1000),
        metrics={"accuracy": MulticlassAccuracy(num_classes=2, average="micro")},
        run_dir=run_dir, seed=seed, config=asdict(recipe), **fit_options,
    )  # fmt: skip
    return head, history


def fine_tune(
    data: Pets,
    recipe: FineTuneRecipe,
    *,
    head: nn.Linear | None = None,
    run_dir=None,
    seed: int = 0,
    **fit_options,
) -> tuple[TransferNet, History]:
    """Train backbone and head together, the backbone at a smaller rate; ``head`` (e.g. the one
    ``train_head`` trained) starts the head, so its first gradients already make sense."""
    seed_everything(seed)
    backbone, normalize = pretrained_backbone(recipe.backbone)
    model = TransferNet(backbone, num_classes=2).to(memory_format=torch.channels_last)
    if head is not None:
        model.head.load_state_dict(head.state_dict())
    loader = data.train_loader(recipe.batch_size, recipe.image_size, seed=seed, normalize=normalize)
    backbone_lr = recipe.lr * recipe.backbone_lr_factor
    optimizer = torch.optim.AdamW(
        [{"params": model.backbone.parameters(), "lr": backbone_lr}, {"params": model.head.parameters()}],
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[backbone_lr, recipe.lr], total_steps=recipe.epochs * len(loader),
        pct_start=recipe.warmup_fraction,
    )  # fmt: skip
    history = fit(
        model, loader, epochs=recipe.epochs,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        optimizer=optimizer, scheduler=scheduler, scheduler_interval="step",
        val_loader=data.val_loader(recipe.image_size, normalize=normalize),
        metrics={"accuracy": MulticlassAccuracy(num_classes=2, average="micro")},
        amp=cpu_bf16_pays(fit_options.get("device")), run_dir=run_dir, seed=seed, config=asdict(recipe),
        **fit_options,
    )  # fmt: skip
    return model, history
