"""The autoencoders lesson's recipe: an autoencoder trained to reproduce its input (MSE on pixels in [0, 1]).

``train_autoencoder(data, CONV_32)`` trains the convolutional autoencoder with a 32-number code,
``FC_2`` the fully connected one with two numbers; ``QUICK_CONV_32`` and ``QUICK_FC_2`` are the
quick-mode versions (a fifth of the training images, smaller batches so the few epochs still make
enough steps). The loss is watched on the validation split (the last 5,000 training images).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from e2edl.data.batch_transforms import input_as_target
from e2edl.data.mnist import MNIST
from e2edl.data.tensor_loader import TensorLoader
from e2edl.nn.autoencoder import Autoencoder, ConvAutoencoder, FCAutoencoder
from e2edl.train import fit, seed_everything
from e2edl.train.history import History

KINDS = {"conv": ConvAutoencoder, "fc": FCAutoencoder}


@dataclass(frozen=True)
class AutoencoderRecipe:
    """The settings of one autoencoder's training (see ``train_autoencoder``)."""

    kind: str = "conv"  # "conv" (ConvAutoencoder) or "fc" (FCAutoencoder)
    bottleneck: int = 32  # k, the numbers in the code
    epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3  # Adam's peak learning rate, under a one-cycle schedule
    train_images: int | None = None  # the first n training images; None: all of them

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {self.kind!r}")

    @property
    def name(self) -> str:
        """``conv_ae_32``: the run folder's name, and the metrics' prefix."""
        return f"{self.kind}_ae_{self.bottleneck}"


CONV_32 = AutoencoderRecipe("conv", 32, epochs=3, batch_size=128, lr=2e-3)
FC_2 = AutoencoderRecipe("fc", 2, epochs=25, batch_size=256, lr=3e-3)
QUICK_CONV_32 = replace(CONV_32, epochs=5, batch_size=64, train_images=12_000)
QUICK_FC_2 = replace(FC_2, epochs=8, batch_size=128, train_images=12_000)


def train_autoencoder(
    data: MNIST, recipe: AutoencoderRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[Autoencoder, History]:
    """Train an autoencoder with ``recipe``; return (model on the CPU in eval mode, history).

    The loader turns each batch of uint8 images into the pair ``(x, x)``: the target is the input.
    ``fit_options`` go to ``fit`` as they are (``device``, ``resume``, ``progress``...); the recipe's
    settings are stored in the checkpoint, so ``resume=True`` in the same ``run_dir`` reuses a
    finished training of the same recipe.
    """
    seed_everything(seed)  # the same seed gives the same initial weights
    model = KINDS[recipe.kind](recipe.bottleneck)
    images = data.x_train[: recipe.train_images]  # uint8 (N, 28, 28)
    loader = TensorLoader(
        images, batch_size=recipe.batch_size, shuffle=True, seed=seed, transform=input_as_target
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * len(loader)
    )
    history = fit(
        model,
        loader,
        epochs=recipe.epochs,
        loss_fn=nn.MSELoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=TensorLoader(data.x_val, batch_size=1000, transform=input_as_target),
        seed=seed,
        run_dir=run_dir,
        config=asdict(recipe),
        **fit_options,
    )
    return model.cpu().eval(), history
