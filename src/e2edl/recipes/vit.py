"""The vit lesson's recipe: a Vision Transformer trained from scratch with AdamW, a warm-up then a
cosine decay of the learning rate, and label smoothing.

Transformers need each of the three more than the CNNs of the mnist-cnn lesson do:

- **AdamW with decoupled weight decay**, applied to weight matrices only
  (``weight_decay_groups``): shrinking a LayerNorm gain, a bias, the CLS token or the position
  vectors towards zero is not a simpler model, only a different one;
- a **linear warm-up** (the first ``warmup_fraction`` of the steps): Adam's first steps, taken
  with poor estimates of the gradient scale, are large, and at full rate they wreck the fresh
  attention layers; then a **cosine decay** to zero;
- **label smoothing**: a ViT has no built-in assumptions to hold it back, and fits the training
  labels' exact one-hot targets too eagerly.

``train_vit(data, recipe)`` trains on ``MNIST`` (the 55,000 training digits, validated on the
5,000 held out) or on Dogs vs Cats (``Pets``: the shared stratified split); ``fit_classifier``
is the optimiser-schedule-loss core, which the lesson's comparison also gives a CNN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from torch import nn
from torch.optim import AdamW
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.mnist import MNIST
from e2edl.data.pets_split import Pets
from e2edl.nn.vit import ViT, ViTConfig
from e2edl.train.fit import fit
from e2edl.train.history import History
from e2edl.train.param_groups import weight_decay_groups
from e2edl.train.schedules import warmup_cosine
from e2edl.train.seeding import seed_everything

# MNIST: 7×7 patches → 16 tokens + CLS. The smaller one (4 blocks instead of 6) is what quick
# mode trains, and what the lesson's comparisons train several times.
MNIST_VIT = ViTConfig(image_size=28, patch_size=7, in_channels=1, num_classes=10, dim=64, depth=6,
                      n_heads=4, mlp_ratio=2.0)  # fmt: skip
MNIST_VIT_4_BLOCKS = replace(MNIST_VIT, depth=4)
# Dogs vs Cats: an 8×8 grid of tokens built by a small convolutional stem (a plain patch ViT
# learns too slowly on a few thousand photos). Quick mode: 32-px photos, a 4×4 grid, 4 blocks.
PETS_VIT = ViTConfig(image_size=64, patch_size=8, in_channels=3, num_classes=2, dim=96, depth=6,
                     n_heads=4, mlp_ratio=2.0, stem="conv")  # fmt: skip
PETS_VIT_32PX = replace(PETS_VIT, image_size=32, dim=64, depth=4)


@dataclass(frozen=True)
class ViTRecipe:
    """Everything that decides a training run, the model's shape included."""

    model: ViTConfig
    epochs: int
    batch_size: int
    lr: float  # the peak learning rate, reached at the end of the warm-up
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.1  # of all steps
    shift: int = 0  # MNIST: random shifts of up to this many pixels (photos get crops and flips)


MNIST_RECIPE = ViTRecipe(MNIST_VIT, epochs=16, batch_size=256, lr=2e-3, shift=1)
MNIST_QUICK_RECIPE = ViTRecipe(MNIST_VIT_4_BLOCKS, epochs=1, batch_size=128, lr=2e-3, shift=1)
PETS_RECIPE = ViTRecipe(PETS_VIT, epochs=16, batch_size=128, lr=1e-3)
PETS_QUICK_RECIPE = ViTRecipe(PETS_VIT_32PX, epochs=3, batch_size=128, lr=1e-3)


def train_vit(
    data: MNIST | Pets, recipe: ViTRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[ViT, History]:
    """Build ``recipe.model`` and train it on ``data``'s training part, validating on its
    validation part after every epoch; returns ``(model, history)``.

    ``fit_options`` go to ``fit`` as they are (``device``, ``resume``, ``progress``, ...).
    """
    size = recipe.model.image_size
    if isinstance(data, MNIST):
        train_loader = data.train_loader(recipe.batch_size, seed=seed, shift=recipe.shift)
        val_loader = data.val_loader()
    elif isinstance(data, Pets):
        if recipe.shift:
            raise ValueError("shift is MNIST's augmentation; photos get random crops and flips: use shift=0")
        train_loader = data.train_loader(recipe.batch_size, size, seed=seed, channels_last=False)
        val_loader = data.val_loader(size, channels_last=False)
    else:
        raise TypeError(f"train_vit trains on MNIST or Pets data, got {type(data).__name__}")
    seed_everything(seed)  # the same initial weights for the same seed
    model = ViT(recipe.model)
    history = fit_classifier(
        model, train_loader, val_loader, recipe, run_dir=run_dir, seed=seed, **fit_options
    )
    return model, history


def fit_classifier(
    model: nn.Module,
    train_loader,
    val_loader,
    recipe: ViTRecipe,
    *,
    run_dir=None,
    seed: int = 0,
    **fit_options,
) -> History:
    """AdamW (no decay on biases, norms, CLS and positions) + warm-up/cosine + label smoothing."""
    optimizer = AdamW(weight_decay_groups(model, recipe.weight_decay), lr=recipe.lr)
    total_steps = recipe.epochs * len(train_loader)
    warmup_steps = max(1, int(recipe.warmup_fraction * total_steps))
    return fit(
        model,
        train_loader,
        epochs=recipe.epochs,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        optimizer=optimizer,
        scheduler=warmup_cosine(optimizer, warmup_steps, total_steps),
        scheduler_interval="step",
        val_loader=val_loader,
        metrics={"accuracy": MulticlassAccuracy(num_classes=recipe.model.num_classes, average="micro")},
        run_dir=run_dir,
        seed=seed,
        config=asdict(recipe),
        **fit_options,
    )
